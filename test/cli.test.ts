// The `weft` command as a user runs it: `node bin/weft.js ...` in a child process, asserting
// exit codes and the exact problem lines on stderr. Ports 19250-19259.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { wat } from './abi-harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'weft.js');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function weft(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'weft-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function manifestFile(text: string): Promise<string> {
  const file = path.join(dir, `manifest-${fileCount++}.yaml`);
  await writeFile(file, text);
  return file;
}

const MINIMAL = `listen: 127.0.0.1:19250
clusters:
  - name: web
    endpoints: [127.0.0.1:19251]
`;

const BAD_MANIFESTS: Array<{ what: string; text: string; problems: string[] }> = [
  {
    what: 'a YAML syntax error',
    text: 'listen: 127.0.0.1:19250\nclusters: [{ name: web, endpoints: [127.0.0.1:19251] }\n',
    problems: ['syntax error at 3:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  {
    what: 'an unknown key',
    text: `${MINIMAL}listen2: 127.0.0.1:19252\n`,
    problems: ['listen2: unknown key'],
  },
  {
    what: 'an endpoint that is not host:port',
    text: `${MINIMAL}  - name: api\n    endpoints: [abc]\ndefault_cluster: web\n`,
    problems: ['clusters[1].endpoints[0]: "abc" is not host:port'],
  },
  {
    what: 'a default_cluster that is not a cluster',
    text: `${MINIMAL}default_cluster: nope\n`,
    problems: ['default_cluster: "nope" is not a cluster (clusters: web)'],
  },
  {
    what: 'an unset environment variable',
    text: `${MINIMAL}admin: { listen: 127.0.0.1:19253, token: \${WEFT_TEST_UNSET_VARIABLE} }\n`,
    problems: ['admin.token: environment variable WEFT_TEST_UNSET_VARIABLE is not set (write ${WEFT_TEST_UNSET_VARIABLE:-default} to give a default)'],
  },
  {
    what: 'a bad on_error',
    text: `${MINIMAL}filters:\n  - { name: hello, module: ./hello.wasm, on_error: maybe }\n`,
    problems: ['filters[0].on_error: must be fail_closed or fail_open'],
  },
  {
    what: 'duplicate cluster and filter names',
    text: `${MINIMAL}  - name: web\n    endpoints: [127.0.0.1:19252]\ndefault_cluster: web\nfilters:\n  - { name: f, module: a.wasm }\n  - { name: f, module: b.wasm }\n`,
    problems: ['clusters[1].name: "web" is already used by clusters[0]', 'filters[1].name: "f" is already used by filters[0]'],
  },
  {
    what: 'a port out of range',
    text: MINIMAL.replace('127.0.0.1:19250', '127.0.0.1:70000'),
    problems: ['listen: port 70000 is out of range (1-65535)'],
  },
];

describe('weft validate', () => {
  for (const bad of BAD_MANIFESTS) {
    test(`refuses ${bad.what}, one line per problem, exit 1`, async () => {
      const env = { ...process.env };
      delete env['WEFT_TEST_UNSET_VARIABLE'];
      const outcome = await weft(['validate', '-c', await manifestFile(bad.text)], env);
      assert.deepEqual(outcome, { code: 1, stdout: '', stderr: bad.problems.map((problem) => `${problem}\n`).join('') });
    });
  }

  test('a missing file is one problem', async () => {
    const file = path.join(dir, 'absent.yaml');
    assert.deepEqual(await weft(['validate', '--config', file]), { code: 1, stdout: '', stderr: `${file}: no such file\n` });
  });

  test('accepts a sound manifest: "ok: FILE", exit 0', async () => {
    const file = await manifestFile(MINIMAL);
    assert.deepEqual(await weft(['validate', '-c', file]), { code: 0, stdout: `ok: ${file}\n`, stderr: '' });
  });
});

describe('weft validate on filter modules', () => {
  /** A filter module (WAT) with `imports`, exporting the callbacks unless `callbacks` is false. */
  async function moduleFile(name: string, imports: string, callbacks = true): Promise<string> {
    const file = path.join(dir, `${name}.wasm`);
    await writeFile(file, await wat(`(module ${imports}
      (memory (export "memory") 1)
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
      ${callbacks ? '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))' : ''})`));
    return file;
  }

  const manifest = (module: string) => `${MINIMAL}default_cluster: web\nfilters:\n  - { name: f, module: ${module}, config: "{}" }\n`;

  test('an import Weft does not implement is an error; one SDKs probe for is a warning', async () => {
    const module = await moduleFile('date-now', `
      (import "env" "Date.now" (func (result f64)))
      (import "env" "proxy_unheard_of" (func (result i32)))
      (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
      (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))`);
    const outcome = await weft(['validate', '-c', await manifestFile(manifest(module))]);
    assert.equal(outcome.code, 1);
    assert.equal(outcome.stdout, '');
    assert.deepEqual(outcome.stderr.trim().split('\n'), [
      'filters[0] (f): imports env.Date.now, which Weft does not implement: a call answers 0 and logs a warning, at request time (AssemblyScript: Date.now, Math.random and console need host imports; use the SDK\'s clock and Random)',
      'warning: filters[0] (f): imports env.proxy_unheard_of, which Weft does not implement (a call answers Unimplemented)',
      'warning: filters[0] (f): imports wasi_snapshot_preview1.sock_accept, which Weft does not implement (a call answers ENOSYS)',
    ]);
  });

  test('warnings alone: ok, with their count', async () => {
    const module = await moduleFile('probing', '(import "env" "proxy_unheard_of" (func (result i32)))');
    const file = await manifestFile(manifest(module));
    const outcome = await weft(['validate', '-c', file]);
    assert.deepEqual(outcome, {
      code: 0,
      stdout: `ok: ${file} (1 warning)\n`,
      stderr: 'warning: filters[0] (f): imports env.proxy_unheard_of, which Weft does not implement (a call answers Unimplemented)\n',
    });
  });

  test('a module without proxy-wasm callbacks says how to export them', async () => {
    const module = await moduleFile('no-callbacks', '', false);
    const outcome = await weft(['validate', '-c', await manifestFile(manifest(module))]);
    assert.equal(outcome.code, 1);
    assert.match(outcome.stderr, /filters\[0\] \(f\): exports no proxy-wasm callbacks \(proxy_on_\*\): add `export \* from 'weft-sdk\/assembly\/exports'`/);
  });
});

describe('weft run', () => {
  test('with a bad manifest exits 1 before starting anything', async () => {
    const outcome = await weft(['run', '-c', await manifestFile(`${MINIMAL}listen2: x\n`)]);
    // No log line at all: the logger is created only once the manifest is sound.
    assert.deepEqual(outcome, { code: 1, stdout: '', stderr: 'listen2: unknown key\n' });
  });
});

describe('usage', () => {
  test('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(await weft(['--version']), { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  test('--help prints the commands', async () => {
    const outcome = await weft(['--help']);
    assert.equal(outcome.code, 0);
    assert.match(outcome.stdout, /^Usage: weft <command>/);
    assert.match(outcome.stdout, /run -c FILE/);
    assert.match(outcome.stdout, /validate -c FILE/);
  });

  for (const [args, message] of [
    [[], 'weft: no command given'],
    [['serve'], 'weft: unknown command "serve"'],
    [['validate'], 'weft: validate needs -c FILE'],
    [['validate', '-c', 'a.yaml', 'extra'], 'weft: unexpected argument "extra"'],
    [['run', '--bogus'], "weft: Unknown option '--bogus'"],
  ] as const) {
    test(`\`weft ${args.join(' ')}\` is a usage error (exit 2)`, async () => {
      const outcome = await weft([...args]);
      assert.equal(outcome.code, 2);
      assert.equal(outcome.stdout, '');
      assert.ok(outcome.stderr.startsWith(`${message}\n\nUsage: weft`), outcome.stderr);
    });
  }
});
