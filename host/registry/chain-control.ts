// The chain spec's life: seeding it from the manifest, changing it through the admin API,
// rolling it back, and serving whatever the store says.
//
// Every change runs alone (one at a time) and in this order:
//   1. check the spec and the If-Match revision;
//   2. resolve versions and build the whole next generation (every VM started and configured)
//      while the current one keeps serving; any failure answers 422 and changes nothing;
//   3. commit spec and history entry to the store, conditional on the revision read in 1;
//   4. make the new generation current; only then does the caller hear the new revision.
//
// The store is the source of truth: a change committed by someone else (another proxy sharing
// etcd) arrives through the store's watch and is built and served the same way. Revisions are
// the store's, so they grow but are not consecutive.

import type { ChainPlan, PlannedFilter } from '../chain/manager.js';
import { ChainBuildError } from '../chain/chain.js';
import { containmentOf, type FilterSpec, type RouteSpec } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import { StoreError } from '../store/store.js';
import { CHAIN_KEY, ChainRecords, HISTORY_LIMIT, type ChangeRecord, type HistoryEntry } from './chain-records.js';
import {
  chainsOf,
  chainsUsing,
  compactSpec,
  configFromText,
  describeChanges,
  entryLocation,
  parseChainSpec,
  slotSpec,
  type ChainEntry,
  type ChainEntryInput,
  type ChainSpec,
  type ChainSpecInput,
} from './chain-spec.js';
import { ControlError } from './errors.js';
import { manifestDigest } from './manifest-digest.js';
import type { FilterRegistry } from './filter-registry.js';

export type SwapFailure = 'invalid' | 'conflict' | 'build' | 'store';

export interface SwapMetrics {
  /** The first revision serves (at startup). */
  serving(revision: number): void;
  /** A new revision serves in place of another. */
  swapped(revision: number): void;
  /** A change that was asked for (or arrived from the store) and does not serve. */
  failed(reason: SwapFailure): void;
  /** Seconds from a checked spec to a built generation (module lookups, compiles, VM starts). */
  built(seconds: number): void;
}

/**
 * The manifest's part in the chain: it seeds the first revision of an empty store, and when it
 * differs from the manifest that last did (manifest-digest.ts), a restart applies it as a new revision.
 */
export interface ManifestChains {
  filters: readonly FilterSpec[];
  chains: Readonly<Record<string, readonly FilterSpec[]>>;
  routes: readonly RouteSpec[];
}

/** A change refused for a reason the swap metrics count. */
class SwapRefused extends ControlError {
  constructor(
    readonly reason: SwapFailure,
    status: number,
    message: string,
  ) {
    super(status, message);
  }
}

export interface ChainState {
  revision: number;
  spec: ChainSpec;
}

/**
 * Where generations are built and served: a ChainManager on this thread, or every worker
 * thread's (host/workers/worker-pool.ts). `activate` resolves once the generation serves
 * everywhere; a `build` that fails anywhere leaves nothing behind anywhere.
 */
export interface GenerationHost<G = unknown> {
  build(plan: ChainPlan): G | Promise<G>;
  activate(generation: G, revision: number): void | Promise<void>;
  discard(generation: G): void;
}

export interface ChainControlDeps {
  records: ChainRecords;
  registry: FilterRegistry;
  manager: GenerationHost;
  metrics: SwapMetrics;
  logger: Logger;
}

export class ChainControl {
  /** What serves now. */
  private state: ChainState = { revision: 0, spec: { filters: [] } };
  private queue: Promise<unknown> = Promise.resolve();
  private watching: { close(): void } | undefined;

  constructor(private readonly deps: ChainControlDeps) {}

  /**
   * Serves the store's chain, or the manifest's when the store has none yet (the first
   * revision) or when the manifest changed since it last seeded or applied the chain (a new
   * revision, so admin changes made since are replaced). Throws ChainBuildError when that chain
   * cannot be built.
   */
  async start(manifest: ManifestChains): Promise<ChainState> {
    const { records, manager, logger } = this.deps;
    // Watch first, so a change another proxy makes while this one starts is not missed; the
    // changes it reports wait for start to finish (exclusive) and are skipped when already served.
    this.watching = records.watch((revision) => this.converge(revision));
    try {
      return await this.exclusive(async () => {
        const stored = await records.current();
        const digest = await manifestDigest(manifest);
        if (stored !== undefined) {
          const seeded = await records.manifestDigest();
          if (seeded === digest || seeded === undefined) {
            // The store's chain may hold admin changes since: it serves, as long as the manifest is the one that seeded it.
            if (seeded === undefined) await records.recordManifest(digest);
            await this.serveStored();
            logger.info({ revision: this.state.revision }, 'chain from the store (the manifest is unchanged since it seeded the store)');
            return this.state;
          }
        }
        const spec = await this.importManifest(manifest);
        const generation = await this.build(spec);
        const changes = describeChanges(stored?.spec, spec);
        const action = stored === undefined ? 'seed' : 'apply';
        const result = await records.commit(spec, stored?.revision ?? 0, { by: 'manifest', action, changes }, digest);
        if (result.ok) {
          await this.serve(generation, { revision: result.revision, spec });
          if (stored === undefined) logger.info({ revision: result.revision }, 'chain seeded from the manifest');
          else logger.info({ revision: result.revision, replaced: stored.revision, changes }, 'the manifest changed since it last seeded the store: applied as a new revision');
        } else {
          // Another proxy sharing the store changed it first: serve theirs.
          manager.discard(generation);
          await this.serveStored();
        }
        return this.state;
      });
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  stop(): void {
    this.watching?.close();
  }

  /** The chain that serves, as GET /chain shows it. */
  current(): ChainState {
    return this.state;
  }

  /** The chains of the serving spec that use this filter version. */
  usedBy(name: string, version: number): string[] {
    return chainsUsing(this.state.spec, name, version);
  }

  /** PUT /chain. */
  apply(input: unknown, options: { ifMatch?: number; by: string }): Promise<{ revision: number; changes: string[] }> {
    return this.swapping(async () => {
      const parsed = parseChainSpec(input);
      if (!parsed.ok) this.refuse('invalid', 400, parsed.problems.join('\n'));
      const base = await this.storedBase(options.ifMatch);
      const started = performance.now();
      const spec = await this.resolve(parsed.spec);
      return this.change(base, spec, started, { by: options.by, action: 'apply', changes: describeChanges(base?.spec, spec) });
    });
  }

  /** POST /chain/rollback: back to the revision the current one replaced, or to `to`. */
  rollback(options: { to?: number; ifMatch?: number; by: string }): Promise<{ revision: number; restored: number; changes: string[] }> {
    return this.swapping(async () => {
      const base = await this.storedBase(options.ifMatch);
      if (base === undefined) this.refuse('invalid', 409, 'there is no chain yet');
      const target = options.to ?? (await this.deps.records.entry(base.revision))?.replaced;
      if (target === undefined) this.refuse('invalid', 409, `revision ${base.revision} is not in the history, so its predecessor is unknown; name one with {"revision": N}`);
      if (target === 0) this.refuse('invalid', 409, `revision ${base.revision} is the first one; there is nothing to roll back to`);
      if (target === base.revision) this.refuse('invalid', 409, `the chain is already at revision ${target}`);
      const entry = await this.deps.records.entry(target);
      if (entry === undefined) this.refuse('invalid', 404, `revision ${target} is not in the history (the last ${HISTORY_LIMIT} changes are kept)`);
      const started = performance.now();
      const changes = describeChanges(base.spec, entry.spec);
      const { revision } = await this.change(base, entry.spec, started, { by: options.by, action: 'rollback', restored: target, changes });
      return { revision, restored: target, changes };
    });
  }

  /** GET /chain/history: newest first. */
  history(): Promise<HistoryEntry[]> {
    return this.deps.records.history();
  }

  /** DELETE /filters/{name}/versions/{v}: refused while the chain uses the version. */
  deleteFilterVersion(name: string, version: number, by: string): Promise<void> {
    return this.exclusive(async () => {
      const stored = await this.withStore(() => this.deps.records.current());
      const users = [...new Set([...(stored === undefined ? [] : chainsUsing(stored.spec, name, version)), ...this.usedBy(name, version)])];
      if (users.length > 0) throw new ControlError(409, `filter ${name} version ${version} is in use (chains: ${users.join(', ')}); take it out of the chain first`);
      const outcome = await this.withStore(() => this.deps.registry.deleteVersion(name, version, { key: CHAIN_KEY, revision: stored?.revision ?? 0 }));
      if (outcome === 'missing') throw new ControlError(404, `filter ${name} has no version ${version}`);
      if (outcome === 'conflict') throw new ControlError(409, 'the chain or the registry changed meanwhile; try again');
      this.deps.logger.info({ filter: name, version, by }, 'filter version deleted');
    });
  }

  // ---- the steps -------------------------------------------------------------------------------

  /** The store's chain, checked against If-Match. */
  private async storedBase(ifMatch: number | undefined): Promise<ChainState | undefined> {
    const base = await this.withStore(() => this.deps.records.current());
    const revision = base?.revision ?? 0;
    if (ifMatch !== undefined && ifMatch !== revision) this.refuse('conflict', 412, `the chain is at revision ${revision}, not ${ifMatch}`);
    return base;
  }

  /** Steps 2-4 for a resolved spec. */
  private async change(base: ChainState | undefined, spec: ChainSpec, started: number, record: ChangeRecord): Promise<{ revision: number; changes: string[] }> {
    let generation: unknown;
    try {
      generation = await this.build(spec);
    } catch (error) {
      if (error instanceof ChainBuildError) this.refuse('build', 422, error.message);
      throw error;
    }
    this.deps.metrics.built((performance.now() - started) / 1000);
    let result;
    try {
      result = await this.withStore(() => this.deps.records.commit(spec, base?.revision ?? 0, record));
    } catch (error) {
      this.deps.manager.discard(generation);
      throw error;
    }
    if (!result.ok) {
      this.deps.manager.discard(generation);
      this.refuse('conflict', 412, 'the chain changed meanwhile (another admin or proxy); read it again and retry');
    }
    await this.serve(generation, { revision: result.revision, spec });
    this.deps.logger.info({ revision: result.revision, by: record.by, action: record.action, changes: record.changes }, 'chain updated');
    return { revision: result.revision, changes: record.changes };
  }

  /** Fills in versions; every unknown filter or version is named. */
  private async resolve(input: ChainSpecInput): Promise<ChainSpec> {
    const problems: string[] = [];
    const resolveChain = async (chain: string, entries: ChainEntryInput[]): Promise<ChainEntry[]> => {
      const resolved: ChainEntry[] = [];
      for (const [index, item] of entries.entries()) {
        const found = await this.withStore(() => this.deps.registry.version(item.name, item.version));
        if (found === undefined) {
          const known = (await this.deps.registry.versions(item.name)).map((v) => v.version);
          const what = known.length === 0 ? 'is not in the registry (POST /filters/<name> first)' : `has no version ${item.version} (versions: ${known.join(', ')})`;
          problems.push(`${entryLocation(chain, index, item.name)}: filter ${item.name} ${what}`);
          continue;
        }
        resolved.push({ ...item, version: found.version });
      }
      return resolved.map(orderKeys);
    };
    const filters = await resolveChain('default', input.filters);
    const chains: Record<string, ChainEntry[]> = {};
    for (const [chain, entries] of Object.entries(input.chains)) chains[chain] = await resolveChain(chain, entries);
    if (problems.length > 0) this.refuse('invalid', 422, problems.join('\n'));
    return compactSpec(filters, chains, input.routes);
  }

  /** Looks up every module and builds the generation (not yet serving). Throws ChainBuildError. */
  private async build(spec: ChainSpec): Promise<unknown> {
    const problems: string[] = [];
    const chains = new Map<string, PlannedFilter[]>();
    for (const [chain, entries] of chainsOf(spec)) {
      const planned: PlannedFilter[] = [];
      for (const [index, item] of entries.entries()) {
        const location = entryLocation(chain, index, item.name);
        try {
          const version = await this.deps.registry.version(item.name, item.version);
          if (version === undefined) throw new Error(`filter ${item.name} version ${item.version} is not in the registry (deleted?)`);
          planned.push({ spec: slotSpec(item), module: await this.deps.registry.trustedModule(version), location });
        } catch (error) {
          problems.push(`${location}: ${(error as Error).message}`);
        }
      }
      chains.set(chain, planned);
    }
    if (problems.length > 0) throw new ChainBuildError(problems);
    const plan: ChainPlan = {
      chains,
      routes: (spec.routes ?? []).map((route) => ({ ...(route.host === undefined ? {} : { host: route.host }), pathPrefix: route.path_prefix, chain: route.chain })),
    };
    return this.deps.manager.build(plan);
  }

  private async serve(generation: unknown, state: ChainState): Promise<void> {
    const first = this.state.revision === 0;
    await this.deps.manager.activate(generation, state.revision);
    this.state = state;
    // The chain a proxy starts with is not a swap.
    if (first) this.deps.metrics.serving(state.revision);
    else this.deps.metrics.swapped(state.revision);
  }

  private async serveStored(): Promise<void> {
    const stored = await this.deps.records.current();
    if (stored === undefined) throw new Error('the store lost its chain while starting');
    await this.serve(await this.build(stored.spec), stored);
  }

  /** The manifest's filters registered and written as a chain spec. Throws ChainBuildError. */
  private async importManifest(manifest: ManifestChains): Promise<ChainSpec> {
    const problems: string[] = [];
    const importChain = async (chain: string, filters: readonly FilterSpec[]): Promise<ChainEntry[]> => {
      const entries: ChainEntry[] = [];
      for (const [index, filter] of filters.entries()) {
        try {
          const version = await this.deps.registry.importFile(filter.name, filter.module, filter.sha256);
          entries.push(
            orderKeys({
              name: filter.name,
              version: version.version,
              config: configFromText(filter.config),
              on_error: filter.on_error,
              ...(filter.root_id === filter.name ? {} : { root_id: filter.root_id }),
              ...(filter.vm_config === '' ? {} : { vm_config: configFromText(filter.vm_config) }),
              ...containmentOf(filter),
            }),
          );
        } catch (error) {
          problems.push(`${entryLocation(chain, index, filter.name)}: ${(error as Error).message}`);
        }
      }
      return entries;
    };
    const filters = await importChain('default', manifest.filters);
    const chains: Record<string, ChainEntry[]> = {};
    for (const [chain, list] of Object.entries(manifest.chains)) chains[chain] = await importChain(chain, list);
    if (problems.length > 0) throw new ChainBuildError(problems);
    return compactSpec(filters, chains, [...manifest.routes]);
  }

  /** A change in the store's chain: serve it unless it is what serves already. */
  private converge(revision: number): void {
    if (revision <= this.state.revision) return;
    this.exclusive(async () => {
      const stored = await this.deps.records.current();
      if (stored === undefined || stored.revision <= this.state.revision) return;
      const started = performance.now();
      try {
        const generation = await this.build(stored.spec);
        this.deps.metrics.built((performance.now() - started) / 1000);
        await this.serve(generation, stored);
        this.deps.logger.info({ revision: stored.revision }, 'chain updated from the store');
      } catch (error) {
        this.deps.metrics.failed('build');
        this.deps.logger.error({ revision: stored.revision, serving: this.state.revision, err: error }, 'cannot serve the chain the store holds; keeping the current one');
      }
    }).catch((error: unknown) => this.deps.logger.error({ err: error }, 'reading the chain from the store failed'));
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** exclusive(), counting every refusal as a failed swap attempt. */
  private swapping<T>(task: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      try {
        return await task();
      } catch (error) {
        if (error instanceof SwapRefused) this.deps.metrics.failed(error.reason);
        else if (error instanceof ControlError && error.status === 503) this.deps.metrics.failed('store');
        throw error;
      }
    });
  }

  private refuse(reason: SwapFailure, status: number, message: string): never {
    throw new SwapRefused(reason, status, message);
  }

  /** A store that cannot be read or written answers 503 with its reason. */
  private async withStore<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      if (error instanceof StoreError) throw new ControlError(503, error.message);
      throw error;
    }
  }
}

/** Entries always list their keys in one order, so stored specs and diffs read the same. */
function orderKeys(item: ChainEntry): ChainEntry {
  const out: ChainEntry = { name: item.name, version: item.version, config: item.config, on_error: item.on_error };
  if (item.root_id !== undefined) out.root_id = item.root_id;
  if (item.vm_config !== undefined) out.vm_config = item.vm_config;
  return Object.assign(out, containmentOf(item));
}
