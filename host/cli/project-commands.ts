// `weft filter init NAME` and `weft filter build [DIR]`: a filter project from the templates in
// templates/filter/, and its build (filter-build.ts). They work on files, not on a running
// proxy, but live under `weft filter` with the other filter commands.

import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlUsageError, type CommandContext, type ControlCommand } from './command.js';
import { buildFilter } from './filter-build.js';

/** The weft package's root (dist/host/cli/ -> three folders up). */
const WEFT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEMPLATES = join(WEFT_ROOT, 'templates', 'filter');
/** Template files whose names change in the project (npm drops .gitignore files from packages, and a package.json template must not look like a package). */
const RENAMED: Record<string, string> = { 'package.json.template': 'package.json', gitignore: '.gitignore', 'test/filter.test.mjs': 'test/{{name}}.test.mjs' };
/** A filter, metric and npm package name at once. */
const PROJECT_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** Writes the project for filter `name` into `dir` (absent or empty); the files written, relative to it. */
export async function initFilterProject(name: string, dir: string): Promise<string[]> {
  if (!PROJECT_NAME.test(name)) throw new ControlUsageError(`"${name}" cannot name a filter project: use lower-case letters, digits and "-", starting with a letter`);
  if (existsSync(dir) && (await readdir(dir)).length > 0) throw new Error(`${dir} exists and is not empty`);
  const values: Record<string, string> = {
    name,
    port: String(await freePort()),
    adminPort: String(await freePort()),
    servicePort: String(await freePort()),
    ...(await dependencies()),
  };
  const written: string[] = [];
  for (const template of await listFiles(TEMPLATES)) {
    const target = fill(RENAMED[template] ?? template, values);
    const file = join(dir, target);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, fill(await readFile(join(TEMPLATES, template), 'utf8'), values));
    written.push(target);
  }
  return written.sort();
}

/**
 * How the project depends on weft and weft-sdk: this checkout by path (`file:`), or, when this
 * weft was itself installed from a registry (it sits in a node_modules), the same version by name.
 */
async function dependencies(): Promise<{ weftDependency: string; sdkDependency: string }> {
  if (!WEFT_ROOT.split(/[\\/]/).includes('node_modules')) {
    return { weftDependency: `file:${WEFT_ROOT.replace(/[\\/]$/, '')}`, sdkDependency: `file:${join(WEFT_ROOT, 'sdk')}` };
  }
  const version = (name: string) => readFile(join(WEFT_ROOT, name), 'utf8').then((text) => `^${(JSON.parse(text) as { version: string }).version}`);
  return { weftDependency: await version('package.json'), sdkDependency: await version(join('sdk', 'package.json')) };
}

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole);
}

async function listFiles(root: string, under = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(root, under), { withFileTypes: true })) {
    const path = under === '' ? entry.name : `${under}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)));
    else files.push(path);
  }
  return files;
}

/** A port free on 127.0.0.1 right now, for the project's weft.yaml. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export const projectCommands: Record<string, ControlCommand> = {
  init: {
    args: ['NAME'],
    options: { dir: { type: 'string' } },
    async run(context: CommandContext) {
      const name = context.args[0]!;
      const dir = resolve((context.options.dir as string | undefined) ?? name);
      const files = await initFilterProject(name, dir);
      const where = relative(process.cwd(), dir) || '.';
      context.out(`created ${where}/: ${files.join(', ')}\n\nnext:\n  cd ${where}\n  npm install\n  npm test          # build, then the tests in test/ (Weft's test kit, no proxy)\n  npx weft dev      # serve it on weft.yaml's listen address; every save rebuilds and hot-swaps\n`);
    },
  },
  build: {
    args: ['DIR'],
    optionalArgs: 1,
    options: {},
    async run(context: CommandContext) {
      const result = await buildFilter(context.args[0] ?? '.');
      for (const line of [...result.messages, ...result.warnings.map((w) => `warning: ${w}`)]) process.stderr.write(`${line}\n`);
      if (!result.ok) throw new Error('the filter did not build');
      context.out(`built ${relative(process.cwd(), result.output ?? '') || result.output}\n`);
    },
  },
};
