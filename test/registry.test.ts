// The filter registry through a real `weft run`: uploads checked and stored by sha256, versions,
// listing, deletion, refusals of every kind leaving the chain as it was, Ed25519 signatures, and
// the `weft filter` commands.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateSigningKey, signModule } from '../host/registry/signature.js';
import { AdminClient, startTaggedProxy } from './helpers/admin.js';
import { runCli } from './helpers/cli.js';
import { header, request } from './helpers/http.js';
import { freePort } from './helpers/ports.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { EMPTY_WASM_MODULE, withCustomSection } from './helpers/wasm.js';
import type { WeftProcess } from './helpers/weft.js';

const TOKEN = 'registry-test-token';
const MAX_MODULE_BYTES = 200_000;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Keys of the snapshot file that hold modules (one per distinct module). */
async function storedModules(weft: WeftProcess): Promise<string[]> {
  const document = JSON.parse(await readFile(path.join(path.dirname(weft.manifestFile), 'weft-state.json'), 'utf8'));
  return (document.entries as Array<{ key: string }>).map((entry) => entry.key).filter((key) => key.startsWith('modules/'));
}

describe('the filter registry', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let admin: AdminClient;
  let adminUrl: string;
  let tagBytes: Uint8Array;

  before(async () => {
    upstream = await EchoUpstream.start();
    ({ weft, admin, adminUrl } = await startTaggedProxy(upstream, TOKEN, { registry: { max_module_bytes: MAX_MODULE_BYTES } }));
    tagBytes = await readFile(fixtureModule('tag-version'));
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  test('uploads are stored once by sha256 and versions count up per name', async () => {
    // The manifest seeded `tag` version 1 with these very bytes.
    const same = await admin.upload('tag', tagBytes);
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(same.json, { name: 'tag', version: 1, sha256: sha256(tagBytes) });

    const rebuilt = withCustomSection(tagBytes, 'build', 'two');
    const second = await admin.upload('tag', rebuilt);
    assert.equal(second.status, 201, second.text);
    assert.deepEqual(second.json, { name: 'tag', version: 2, sha256: sha256(rebuilt) });

    const third = await admin.upload('tag', withCustomSection(tagBytes, 'build', 'three'));
    assert.equal(third.status, 201);
    assert.equal(third.json.version, 3);

    const shared = await admin.upload('tag-copy', tagBytes);
    assert.equal(shared.status, 201);
    assert.deepEqual(shared.json, { name: 'tag-copy', version: 1, sha256: sha256(tagBytes) });

    assert.deepEqual((await storedModules(weft)).sort(), [sha256(tagBytes), sha256(rebuilt), third.json.sha256].map((s) => `modules/${s}`).sort());
  });

  test('GET /filters and GET /filters/{name} list versions with size, uploader and the chains using them', async () => {
    const one = await admin.call('GET', '/filters/tag');
    assert.equal(one.status, 200);
    assert.equal(one.json.name, 'tag');
    const [v1, v2] = one.json.versions;
    assert.equal(v1.version, 1);
    assert.equal(v1.size, tagBytes.length);
    assert.equal(v1.sha256, sha256(tagBytes));
    assert.equal(v1.uploaded_by, 'manifest');
    assert.equal(v1.abi_version, '0.2.1');
    assert.deepEqual(v1.used_by, ['default']);
    assert.ok(!Number.isNaN(Date.parse(v1.uploaded_at)));
    assert.equal(v2.uploaded_by, 'admin', 'the token name of the uploader');
    assert.deepEqual(v2.used_by, []);

    const all = await admin.call('GET', '/filters');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.json.filters.map((f: { name: string; versions: unknown[] }) => [f.name, f.versions.length]),
      [['tag', 3], ['tag-copy', 1]],
    );
    const missing = await admin.call('GET', '/filters/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { error: 'no filter named nope' });
  });

  test('a bad upload of each kind is refused with its reason and changes nothing', async () => {
    const before = await admin.chain();
    const cases: Array<{ what: string; call: () => ReturnType<AdminClient['call']>; status: number; error?: RegExp }> = [
      { what: 'not wasm', call: () => admin.upload('bad-1', new TextEncoder().encode('hello, not wasm')), status: 400, error: /not a WebAssembly module/ },
      { what: 'wrong ABI', call: () => admin.upload('bad-2', EMPTY_WASM_MODULE), status: 422, error: /declares no supported proxy-wasm ABI version/ },
      {
        what: 'a VM that does not start',
        call: async () => admin.upload('bad-3', await readFile(fixtureModule('vm-start-false'))),
        status: 422,
        error: /the module does not start: proxy_on_vm_start returned false/,
      },
      { what: 'too large', call: () => admin.upload('bad-4', withCustomSection(tagBytes, 'pad', 'x'.repeat(MAX_MODULE_BYTES))), status: 413 },
      { what: 'not application/wasm', call: () => admin.upload('bad-5', tagBytes, { 'content-type': 'application/octet-stream' }), status: 415, error: /application\/wasm/ },
      { what: 'a wrong token', call: () => admin.upload('bad-6', tagBytes, {}, { token: 'wrong' }), status: 401, error: /invalid bearer token/ },
      { what: 'no token', call: () => admin.upload('bad-7', tagBytes, {}, { token: null }), status: 401, error: /missing bearer token/ },
      { what: 'a bad name', call: () => admin.upload('bad.8', tagBytes), status: 400, error: /not a valid filter name/ },
    ];
    for (const { what, call, status, error } of cases) {
      const reply = await call();
      assert.equal(reply.status, status, `${what}: ${reply.text}`);
      if (error !== undefined) assert.match(reply.json?.error ?? '', error, what);
    }
    for (let i = 1; i <= 7; i++) assert.equal((await admin.call('GET', `/filters/bad-${i}`)).status, 404, `bad-${i} was not registered`);
    assert.deepEqual(await admin.chain(), before);
    const served = await request(`${weft.url}/after-bad-uploads`);
    assert.equal(served.status, 200);
    assert.equal(header(served, 'x-filter-version'), 'v1');
  });

  test('a chain change whose filter refuses its configuration answers 422 naming it; the chain stays', async () => {
    assert.equal((await admin.upload('cf', await readFile(fixtureModule('configure-false')))).status, 201);
    const before = await admin.chain();
    const reply = await admin.putChain({
      filters: [
        { name: 'tag', version: 2, config: { version: 'v2' } },
        { name: 'cf', config: 'reject' },
      ],
    });
    assert.equal(reply.status, 422, reply.text);
    assert.equal(reply.json.error, 'filters[1] (cf): proxy_on_configure returned false');
    assert.deepEqual(await admin.chain(), before);
    const served = await request(`${weft.url}/after-refused-config`);
    assert.equal(header(served, 'x-filter-version'), 'v1');
    assert.equal(await admin.metric('weft_chain_swap_failures_total{reason="build"}'), 1);
  });

  test('DELETE refuses a version the chain uses and deletes one it does not; numbers are never reused', async () => {
    const inUse = await admin.call('DELETE', '/filters/tag/versions/1');
    assert.equal(inUse.status, 409);
    assert.match(inUse.json.error, /filter tag version 1 is in use \(chains: default\)/);

    const third = (await admin.call('GET', '/filters/tag')).json.versions[2];
    const deleted = await admin.call('DELETE', '/filters/tag/versions/3');
    assert.equal(deleted.status, 200, deleted.text);
    assert.deepEqual(
      (await admin.call('GET', '/filters/tag')).json.versions.map((v: { version: number }) => v.version),
      [1, 2],
    );
    assert.ok(!(await storedModules(weft)).includes(`modules/${third.sha256}`), 'a module no version uses is removed');
    assert.equal((await admin.call('DELETE', '/filters/tag/versions/3')).status, 404);

    const again = await admin.upload('tag', withCustomSection(tagBytes, 'build', 'four'));
    assert.equal(again.json.version, 4);
  });

  test('weft filter push / ls / rm against the admin API, with readable output and exit codes', async () => {
    const env = { WEFT_ADMIN_URL: adminUrl, WEFT_ADMIN_TOKEN: TOKEN };
    const file = fixtureModule('tagger');
    const pushed = await runCli(['filter', 'push', file, '--name', 'cli-tagger'], env);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(pushed.stdout, `pushed cli-tagger version 1 (sha256 ${sha256(await readFile(file))})\n`);
    const repeated = await runCli(['filter', 'push', file, '--name', 'cli-tagger', '--admin', adminUrl, '--token', TOKEN]);
    assert.equal(repeated.code, 0, repeated.stderr);
    assert.match(repeated.stdout, /^cli-tagger version 1 already has these bytes/);

    const listed = await runCli(['filter', 'ls'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+VERSION\s+SHA256\s+SIZE\s+UPLOADED\s+BY\s+USED BY$/);
    assert.ok(lines.some((line) => /^cli-tagger\s+1\s+[0-9a-f]{12}\s+[\d.]+ KiB\s+\S+Z\s+admin\s+-$/.test(line)), listed.stdout);
    assert.ok(lines.some((line) => /^tag\s+1\s.*\smanifest\s+default$/.test(line)), listed.stdout);

    const refused = await runCli(['filter', 'push', fixtureModule('vm-start-false'), '--name', 'cli-bad'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'weft: POST /filters/cli-bad: 422 the module does not start: proxy_on_vm_start returned false\n');

    const wrongToken = await runCli(['filter', 'ls'], { ...env, WEFT_ADMIN_TOKEN: 'nope' });
    assert.equal(wrongToken.code, 1);
    assert.equal(wrongToken.stderr, 'weft: GET /filters: 401 invalid bearer token\n');

    const noName = await runCli(['filter', 'push', file], env);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /^weft: filter push needs --name\n/);

    const unreachable = await runCli(['filter', 'ls', '--admin', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^weft: cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/);

    const removed = await runCli(['filter', 'rm', 'cli-tagger', '1'], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'deleted cli-tagger version 1\n');
  });
});

describe('signed modules (registry.trusted_keys)', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let admin: AdminClient;
  let adminUrl: string;
  let dir: string;
  let keyFile: string;
  let publicKey: string;
  let tagBytes: Uint8Array;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-keys-'));
    keyFile = path.join(dir, 'signing.pem');
    const keygen = await runCli(['filter', 'keygen', '--out', keyFile]);
    assert.equal(keygen.code, 0, keygen.stderr);
    publicKey = /public key \(for registry\.trusted_keys\): (\S+)\n/.exec(keygen.stdout)![1]!;
    upstream = await EchoUpstream.start();
    // The manifest's own modules are trusted as the manifest is: seeding needs no signature.
    ({ weft, admin, adminUrl } = await startTaggedProxy(upstream, TOKEN, { registry: { trusted_keys: [publicKey] } }));
    tagBytes = withCustomSection(await readFile(fixtureModule('tag-version')), 'build', 'signed');
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('weft validate names a trusted key that is not an Ed25519 public key, and routes to unknown chains', async () => {
    const manifest = path.join(dir, 'bad.yaml');
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
    await writeFile(
      manifest,
      JSON.stringify({
        listen: '127.0.0.1:1',
        clusters: [{ name: 'web', endpoints: ['127.0.0.1:2'] }],
        registry: { trusted_keys: [publicKey, 'c2hvcnQ=', rsa] },
        chains: { api: [] },
        routes: [{ path_prefix: '/api', chain: 'api' }, { host: 'a.example', chain: 'nope' }],
      }),
    );
    const outcome = await runCli(['validate', '-c', manifest]);
    assert.equal(outcome.code, 1);
    assert.equal(
      outcome.stderr,
      [
        'registry.trusted_keys[1]: is neither base64 of a 32-byte Ed25519 public key nor a PEM public key',
        'registry.trusted_keys[2]: is a rsa key, not Ed25519',
        'routes[1].chain: "nope" is not a chain (chains: api)',
        '',
      ].join('\n'),
    );
  });

  test('keygen wrote a private key only its owner can read, and will not overwrite it', async () => {
    const { mode } = await import('node:fs/promises').then((fs) => fs.stat(keyFile));
    assert.equal(mode & 0o777, 0o600);
    const again = await runCli(['filter', 'keygen', '--out', keyFile]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists; choose another --out/);
  });

  test('an unsigned, wrongly signed or garbled upload is refused', async () => {
    const unsigned = await admin.upload('signed-tag', tagBytes);
    assert.equal(unsigned.status, 422);
    assert.match(unsigned.json.error, /the module is not signed: registry\.trusted_keys is set, so X-Weft-Signature is required/);

    const stranger = generateSigningKey();
    const wrongKey = await admin.upload('signed-tag', tagBytes, { 'x-weft-signature': signModule(tagBytes, 'signed-tag', stranger.privateKeyPem) });
    assert.equal(wrongKey.status, 422);
    assert.equal(wrongKey.json.error, 'the signature does not verify, as filter signed-tag, with any key in registry.trusted_keys (a signature holds for the name it was made for)');

    const otherBytes = await admin.upload('signed-tag', withCustomSection(tagBytes, 'x', 'y'), {
      'x-weft-signature': signModule(tagBytes, 'signed-tag', await readFile(keyFile, 'utf8')),
    });
    assert.equal(otherBytes.status, 422, 'a signature over other bytes does not verify');

    const otherName = await admin.upload('router', tagBytes, { 'x-weft-signature': signModule(tagBytes, 'signed-tag', await readFile(keyFile, 'utf8')) });
    assert.equal(otherName.status, 422, 'a module signed as signed-tag cannot be uploaded as router');
    assert.match(otherName.json.error, /does not verify, as filter router/);

    const garbled = await admin.upload('signed-tag', tagBytes, { 'x-weft-signature': 'bm90IGEgc2lnbmF0dXJl' });
    assert.equal(garbled.status, 422);
    assert.match(garbled.json.error, /not base64 of a 64-byte Ed25519 signature/);
    assert.equal((await admin.call('GET', '/filters/signed-tag')).status, 404);
  });

  test('weft filter sign makes a signature the proxy accepts; push --sign signs on the way', async () => {
    const moduleFile = path.join(dir, 'tag.wasm');
    await writeFile(moduleFile, tagBytes);
    const signed = await runCli(['filter', 'sign', moduleFile, '--key', keyFile, '--name', 'signed-tag']);
    assert.equal(signed.code, 0, signed.stderr);
    const accepted = await admin.upload('signed-tag', tagBytes, { 'x-weft-signature': signed.stdout.trim() });
    assert.equal(accepted.status, 201, accepted.text);

    const other = withCustomSection(tagBytes, 'build', 'pushed');
    await writeFile(moduleFile, other);
    const pushed = await runCli(['filter', 'push', moduleFile, '--name', 'signed-tag', '--sign', keyFile, '--admin', adminUrl, '--token', TOKEN]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /^pushed signed-tag version 2 /);

    const versions = (await admin.call('GET', '/filters/signed-tag')).json.versions;
    const keyId = createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);
    assert.deepEqual(
      versions.map((v: { signed_by?: string }) => v.signed_by),
      [keyId, keyId],
    );
  });
});
