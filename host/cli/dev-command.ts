// `weft dev`: the inner loop of a filter project. Builds the filter (filter-build.ts), serves
// weft.yaml in this process on a store in memory (so nothing stale survives from an earlier
// run), and on every save under assembly/ (or of asconfig.json) rebuilds and hot-swaps the new
// module into the running proxy through its registry and chain, as `weft filter push` and
// `weft chain apply` would. Build errors and the proxy's log (filter lines first of all) are
// printed readably; a failed build or swap keeps the last good module serving.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadManifest } from '../config/load.js';
import type { Manifest } from '../config/schema.js';
import type { ChainEntry, ChainSpec } from '../registry/chain-spec.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Logger } from '../telemetry/logger.js';
import { WeftMetrics } from '../telemetry/metrics.js';
import { startWeft, type Weft } from '../weft.js';
import { buildFilter } from './filter-build.js';

export const DEV_USAGE = `weft dev [-c FILE] [--dir DIR]
  Builds the filter project in DIR (default .), serves FILE (default DIR/weft.yaml) with its
  state in memory, and rebuilds and hot-swaps the filter on every save. Ctrl-C stops.
`;

const REBUILD_DELAY_MS = 100;

export async function runDevCommand(argv: readonly string[]): Promise<number | 'running'> {
  const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string', short: 'c' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(DEV_USAGE);
    return 0;
  }
  const dir = resolve(values.dir ?? '.');
  const manifestFile = resolve(dir, values.config ?? 'weft.yaml');
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let output: string | undefined;
  while (output === undefined) {
    output = await build(dir, say);
    if (output === undefined) {
      say('waiting for a change to build again...');
      await nextChange(dir);
    }
  }
  const loaded = await loadManifest(manifestFile);
  if (!loaded.ok) {
    process.stderr.write(loaded.errors.map((error) => `${error}\n`).join(''));
    return 1;
  }
  const manifest = loaded.manifest;
  const names = manifest.filters.filter((filter) => filter.module === output).map((filter) => filter.name);
  if (names.length === 0) say(`note: no filter in ${relative(dir, manifestFile)} loads ${relative(dir, output)}; rebuilds will not be swapped in`);

  let weft: Weft;
  try {
    weft = await startWeft(manifest, { logger: readableLogger(manifest), metrics: new WeftMetrics({ processMetrics: false }), store: MemoryStore.inMemory() });
  } catch (error) {
    const problems = (error as { problems?: string[] }).problems ?? [(error as Error).message];
    process.stderr.write(problems.map((problem) => `${problem}\n`).join(''));
    return 1;
  }
  say(`serving http://${manifest.listen.host}:${manifest.listen.port} (${names.join(', ') || 'no filter of this project'}); watching ${relative(process.cwd(), dir) || '.'} for changes, Ctrl-C stops`);

  let queued: Promise<void> = Promise.resolve();
  const watcher = watchSources(dir, () => {
    queued = queued.then(async () => {
      const built = await build(dir, say);
      if (built !== undefined) await swap(weft, manifest, built, names, say);
    });
  });
  const stop = () => {
    watcher.close();
    void weft.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return 'running';
}

/** Builds; prints what went wrong; the module's path when it built. */
async function build(dir: string, say: (line: string) => void): Promise<string | undefined> {
  const started = performance.now();
  const result = await buildFilter(dir);
  for (const line of result.messages) say(line);
  for (const line of result.warnings) say(`warning: ${line}`);
  if (!result.ok || result.output === undefined) return undefined;
  say(`built ${relative(dir, result.output)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result.output;
}

/** Registers the module under each filter name that loads it and applies the chain with those versions. */
async function swap(weft: Weft, manifest: Manifest, output: string, names: readonly string[], say: (line: string) => void): Promise<void> {
  if (names.length === 0) return;
  try {
    const bytes = await readFile(output);
    const versions = new Map<string, number>();
    for (const name of names) {
      const rootId = manifest.filters.find((filter) => filter.name === name)?.root_id;
      versions.set(name, (await weft.registry.upload(name, bytes, { by: 'weft dev', rootId })).version.version);
    }
    const { spec } = weft.chains.current();
    const next = withVersions(spec, versions);
    if (JSON.stringify(next) === JSON.stringify(spec)) {
      say('unchanged module: nothing to swap');
      return;
    }
    const { revision } = await weft.chains.apply(next, { by: 'weft dev' });
    say(`swapped in ${[...versions].map(([name, version]) => `${name} version ${version}`).join(', ')} (revision ${revision})`);
  } catch (error) {
    say(`swap refused, the previous module keeps serving: ${(error as Error).message}`);
  }
}

function withVersions(spec: ChainSpec, versions: ReadonlyMap<string, number>): ChainSpec {
  const update = (entries: ChainEntry[]) => entries.map((entry) => (versions.has(entry.name) ? { ...entry, version: versions.get(entry.name)! } : entry));
  const chains = spec.chains === undefined ? undefined : Object.fromEntries(Object.entries(spec.chains).map(([name, entries]) => [name, update(entries)]));
  return { ...spec, filters: update(spec.filters), ...(chains === undefined ? {} : { chains }) };
}

/** Calls `changed` (debounced) when a source under assembly/ or asconfig.json changes. */
function watchSources(dir: string, changed: () => void): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  return watch(dir, { recursive: true }, (_event, file) => {
    if (file === null || !isSource(file)) return;
    clearTimeout(timer);
    timer = setTimeout(changed, REBUILD_DELAY_MS);
  });
}

function nextChange(dir: string): Promise<void> {
  return new Promise((resolveChange) => {
    const watcher = watchSources(dir, () => {
      watcher.close();
      resolveChange();
    });
  });
}

/** asconfig.json or anything under assembly/ (an editor's atomic save may report only its temporary file). */
function isSource(file: string): boolean {
  return file === 'asconfig.json' || file.split(/[\\/]/)[0] === 'assembly';
}

/** The proxy's log as lines a person reads: `12:00:01 info [my-filter] message`, access lines as `GET /x 200 1.2 ms`. */
function readableLogger(manifest: Manifest): Logger {
  const destination = {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stdout.write(line);
        return;
      }
      const time = new Date(record.time as number).toTimeString().slice(0, 8);
      if (record.msg === 'access') {
        process.stdout.write(`${time} ${record.method} ${record.path} ${record.status} ${record.duration_ms} ms${record.flags ? ` ${record.flags}` : ''}\n`);
        return;
      }
      // The registry's check of each upload runs the filter with an empty configuration; what it
      // says about that is noise here, where the chain's real configuration follows at once.
      if (record.upload_check === true) return;
      const { level, time: _time, msg, pid: _pid, filter, ...rest } = record;
      const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      process.stdout.write(`${time} ${pino.levels.labels[level as number] ?? level} ${filter === undefined ? '' : `[${filter}] `}${msg}${extra}\n`);
    },
  };
  return pino({ level: manifest.log_level, base: { pid: process.pid } }, destination);
}

