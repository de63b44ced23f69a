#!/usr/bin/env node
// Compiles every AssemblyScript filter in the repo to wasm, in-process, with the
// AssemblyScript compiler's API.
//
// A target is a folder directly under filters/, examples/ or test/filters/ that has an
// asconfig.json (which extends the top-level asconfig.json). Its output is
// <folder>/build/<folder-name>.wasm, an optimized release build. A target whose output is
// newer than every source it depends on (.ts and asconfig files in the folder and under
// sdk/, plus the top-level asconfig.json) is skipped, so a repeat build is instant.
//
// Usage: node scripts/build-wasm.js [--force] [folder ...]
//   folder   only these targets (e.g. test/filters/tagger)
//   --force  rebuild even when up to date

import asc from 'assemblyscript/asc';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const targetParents = ['filters', 'examples', join('test', 'filters')];
const sharedSources = [join(repoRoot, 'sdk'), join(repoRoot, 'asconfig.json')];

/** Folders with an asconfig.json directly under the target parents. */
function findTargets() {
  const targets = [];
  for (const parent of targetParents) {
    const parentDir = join(repoRoot, parent);
    if (!existsSync(parentDir)) continue;
    for (const entry of readdirSync(parentDir, { withFileTypes: true })) {
      const folder = join(parentDir, entry.name);
      if (entry.isDirectory() && existsSync(join(folder, 'asconfig.json'))) targets.push(folder);
    }
  }
  return targets.sort();
}

/** Newest modification time of the build inputs under `path` (a file or a folder). */
function newestSourceTime(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return isBuildInput(path) ? stat.mtimeMs : 0;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'build' || entry.name === 'node_modules') continue;
    newest = Math.max(newest, newestSourceTime(join(path, entry.name)));
  }
  return newest;
}

function isBuildInput(path) {
  return path.endsWith('.ts') || basename(path) === 'asconfig.json' || basename(path) === 'package.json';
}

function outputFor(folder) {
  return join(folder, 'build', `${basename(folder)}.wasm`);
}

function isUpToDate(folder, sharedTime) {
  const output = outputFor(folder);
  if (!existsSync(output)) return false;
  const outputTime = statSync(output).mtimeMs;
  return outputTime > sharedTime && outputTime > newestSourceTime(folder);
}

async function compile(folder) {
  const stdout = asc.createMemoryStream();
  const stderr = asc.createMemoryStream();
  const output = outputFor(folder);
  // baseDir is the repo root so that `--use abort=sdk/assembly/abort/weftAbort` (in the
  // top-level asconfig.json) names the SDK's abort handler for every target.
  const { error } = await asc.main(
    ['--config', join(folder, 'asconfig.json'), '--target', 'release', '--outFile', output, '--baseDir', repoRoot, '--noColors'],
    { stdout, stderr },
  );
  return { error, messages: stderr.toString().trim(), output };
}

function formatSize(bytes) {
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;
}

async function main() {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const only = args.filter((arg) => arg !== '--force').map((arg) => resolve(arg));
  const unknown = only.filter((folder) => !existsSync(join(folder, 'asconfig.json')));
  if (unknown.length > 0) {
    console.error(`build-wasm: no asconfig.json in ${unknown.map((f) => relative(repoRoot, f)).join(', ')}`);
    process.exit(2);
  }
  const targets = only.length > 0 ? only : findTargets();
  const sharedTime = Math.max(...sharedSources.map(newestSourceTime));
  const started = performance.now();
  let failures = 0;

  for (const folder of targets) {
    const name = relative(repoRoot, folder);
    if (!force && isUpToDate(folder, sharedTime)) {
      console.log(`up to date  ${name}`);
      continue;
    }
    const compileStarted = performance.now();
    const { error, messages, output } = await compile(folder);
    const seconds = ((performance.now() - compileStarted) / 1000).toFixed(1);
    if (error) {
      failures++;
      console.error(`FAILED      ${name}: ${error.message}`);
      if (messages) console.error(messages);
      if (messages.includes("'sdk/assembly/abort/weftAbort' not found")) {
        console.error('  hint: the shared asconfig.json routes aborts to the SDK; re-export it in the entry file:');
        console.error('        export * from "<path to>/sdk/assembly/exports";');
      }
      continue;
    }
    console.log(`built       ${name} -> ${relative(repoRoot, output)} (${formatSize(statSync(output).size)}, ${seconds} s)`);
    if (messages) console.log(messages);
  }

  const total = ((performance.now() - started) / 1000).toFixed(1);
  if (failures > 0) {
    console.error(`build-wasm: ${failures} of ${targets.length} targets failed (${total} s)`);
    process.exit(1);
  }
  console.log(`build-wasm: ${targets.length} targets ok (${total} s)`);
}

await main();
