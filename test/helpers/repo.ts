// Paths into the repository, found the same way from test/ sources and from dist/test/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(from: string): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'weft') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no weft package.json above ${from}`);
    dir = parent;
  }
}

export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** The built .wasm of a fixture filter under test/filters/ (npm run build:wasm builds it). */
export function fixtureModule(name: string): string {
  return builtModule(join(repoRoot, 'test', 'filters', name));
}

/** `<folder>/build/<folder-name>.wasm`, failing clearly when the build has not run. */
export function builtModule(folder: string): string {
  const name = folder.split(/[\\/]/).pop()!;
  const file = resolve(folder, 'build', `${name}.wasm`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build:wasm`);
  return file;
}
