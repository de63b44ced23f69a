// A filter project from an empty folder, as an author makes one: `weft filter init`, the
// project's own `npm test` (build through `weft filter build`, then its starter test on the test
// kit), `npx weft` inside it, and `weft dev` serving the filter and hot-swapping every rebuild,
// with a broken build leaving the last good module serving.
//
// `npm install` is replaced by the links it would make for the project's devDependencies (weft
// and weft-sdk are `file:` dependencies on this checkout; assemblyscript is the checkout's), so
// the test needs no registry.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from './helpers/cli.js';
import { eventually } from './helpers/eventually.js';
import { request } from './helpers/http.js';
import { repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';

const NAME = 'e2e-filter';
/** A build takes seconds, more on a loaded machine. */
const BUILD_TIMEOUT_MS = 90_000;

/** Runs `command` in `cwd` to its end, outside this test run (a nested node --test would otherwise report to it). */
function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

describe('a filter project: init, build, test, dev', () => {
  let dir: string;
  let upstream: EchoUpstream;
  let dev: ChildProcess | undefined;
  let devOutput = '';

  before(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'weft-project-')), NAME);
    upstream = await EchoUpstream.start();
  });
  after(async () => {
    dev?.kill('SIGKILL');
    await upstream?.stop();
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('weft filter init writes the project', async () => {
    const outcome = await runCli(['filter', 'init', NAME, '--dir', dir]);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.match(outcome.stdout, /asconfig\.json, assembly\/index\.ts, package\.json, test\/e2e-filter\.test\.mjs, tsconfig\.json, weft\.yaml/);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    assert.equal(pkg.name, NAME);
    assert.equal(pkg.devDependencies.weft, `file:${repoRoot}`);
    assert.match(await readFile(join(dir, 'asconfig.json'), 'utf8'), /\/\/ Proxies call _initialize/);
    assert.match(await readFile(join(dir, 'weft.yaml'), 'utf8'), /listen: 127\.0\.0\.1:\d+\n/);
    const again = await runCli(['filter', 'init', NAME, '--dir', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists and is not empty/);
  });

  it('npm test builds it with weft filter build and passes its starter tests; npx weft works inside', async () => {
    const modules = join(dir, 'node_modules');
    await mkdir(join(modules, '.bin'), { recursive: true });
    await symlink(repoRoot, join(modules, 'weft'));
    await symlink(join(repoRoot, 'sdk'), join(modules, 'weft-sdk'));
    await symlink(join(repoRoot, 'node_modules', 'assemblyscript'), join(modules, 'assemblyscript'));
    await symlink(join('..', 'weft', 'bin', 'weft.js'), join(modules, '.bin', 'weft'));

    const tested = await run('npm', ['test'], dir);
    assert.equal(tested.code, 0, tested.output);
    assert.match(tested.output, /built build\/e2e-filter\.wasm/);
    // node --test prints TAP (`# pass 5`) on Node 20 and its spec reporter (`ℹ pass 5`) from Node 22 on.
    assert.match(tested.output, /(?:# |ℹ )pass 5\n(?:# |ℹ )fail 0/);
    const version = await run('npx', ['--no-install', 'weft', '--version'], dir);
    assert.equal(version.output.trim(), JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')).version);
  });

  it('weft dev serves it, hot-swaps every rebuild, prints filter logs, and keeps serving through a broken build', async () => {
    const manifest = join(dir, 'weft.yaml');
    const yaml = (await readFile(manifest, 'utf8')).replace(/endpoints: \[127\.0\.0\.1:\d+\]/, `endpoints: [${upstream.address}]`);
    await writeFile(manifest, yaml);
    const url = `http://${/^listen: (\S+)$/m.exec(yaml)![1]}`;

    dev = spawn(join(dir, 'node_modules', '.bin', 'weft'), ['dev'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    dev.stdout!.setEncoding('utf8').on('data', (text: string) => (devOutput += text));
    dev.stderr!.setEncoding('utf8').on('data', (text: string) => (devOutput += text));
    const saw = (text: string, what: string) => eventually(async () => devOutput, (output) => output.includes(text), what, BUILD_TIMEOUT_MS, 100);

    await saw('serving http://', 'weft dev serving');
    const denied = await request(`${url}/admin/x`);
    assert.deepEqual([denied.status, denied.body], [403, 'forbidden\n']);
    const passed = await request(`${url}/orders?tenant=acme`);
    assert.equal(passed.status, 200);
    assert.match(String(passed.headers[`x-${NAME}-us`]), /^\d+$/);
    assert.equal(upstream.requests.at(-1)?.headers['x-tenant'], 'acme');

    // A change: a new answer and a log line.
    const source = join(dir, 'assembly', 'index.ts');
    const original = await readFile(source, 'utf8');
    await writeFile(source, original
      .replace('logError, monotonicNanoseconds,', 'logError, logWarn, monotonicNanoseconds,')
      .replace('sendLocalResponse(403, "forbidden\\n");', 'logWarn("denied " + path);\n          sendLocalResponse(403, "go away\\n");'));
    await saw('swapped in e2e-filter version 2', 'the rebuilt module swapped in');
    const changed = await request(`${url}/admin/y`);
    assert.deepEqual([changed.status, changed.body], [403, 'go away\n']);
    await saw(`warn [${NAME}] denied /admin/y`, 'the filter log line');

    // A broken build: the error is printed, the last good module keeps serving.
    await writeFile(source, `${original}\nthis is not AssemblyScript\n`);
    await saw('build failed', 'the build error');
    const still = await request(`${url}/admin/z`);
    assert.equal(still.body, 'go away\n');

    const exited = new Promise<number | null>((resolveExit) => dev!.once('exit', resolveExit));
    dev.kill('SIGTERM');
    assert.equal(await exited, 0);
    dev = undefined;
  });

  it('weft filter build says what to do when the SDK exports are missing, and refuses imports Weft lacks', async () => {
    const source = join(dir, 'assembly', 'index.ts');
    const original = (await readFile(source, 'utf8')).replace('\nthis is not AssemblyScript\n', ''); // the broken build above
    const weft = join(dir, 'node_modules', '.bin', 'weft');

    await writeFile(source, original.replace('export * from "weft-sdk/assembly/exports";', ''));
    const missing = await run(weft, ['filter', 'build'], dir);
    assert.equal(missing.code, 1, missing.output);
    assert.match(missing.output, /hint: the module would export no proxy-wasm callbacks \(proxy_on_\*\): add `export \* from 'weft-sdk\/assembly\/exports'`/);

    await writeFile(source, original.replace('this.started = monotonicNanoseconds();', 'this.started = <u64>Date.now();'));
    const dateNow = await run(weft, ['filter', 'build'], dir);
    assert.equal(dateNow.code, 1, dateNow.output);
    assert.match(dateNow.output, /e2e-filter\.wasm: imports env\.Date\.now, which Weft does not implement/);
  });
});
