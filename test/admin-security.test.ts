// The admin API as a web page or a stray process would try to reach it, against a real `weft run`:
// no anonymous writes by default (a generated token in the state folder, 0600, which the CLI
// finds), the explicit opt-out, DNS rebinding (a foreign Host), cross-site requests (a foreign
// Origin, a text/plain JSON body, a POST without Content-Type), registrations pointed at the
// proxy itself or at a metadata address, the register and read roles, and signed modules
// checked again after a restart.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey, signModule } from '../host/registry/signature.js';
import { AdminClient } from './helpers/admin.js';
import { runCli } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the admin API without a token in the manifest', () => {
  let upstream: EchoUpstream;
  let stateDir: string;
  let weft: WeftProcess | undefined;
  const tokenFile = () => path.join(stateDir, 'admin.token');
  const start = async () => {
    const started = await startWeft({
      admin: { auth: 'token' },
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      store: { path: path.join(stateDir, 'state.json') },
    });
    // The proxy listens first; the admin API (and its token) come right after.
    await started.waitForOutput((text) => text.includes('"msg":"admin listening"'), 'the admin API');
    return started;
  };

  before(async () => {
    upstream = await EchoUpstream.start();
    stateDir = await mkdtemp(path.join(tmpdir(), 'weft-admin-state-'));
    weft = await start();
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('makes a 256-bit token in the state folder, readable by its owner only, and logs where (never the token)', async () => {
    const token = (await readFile(tokenFile(), 'utf8')).trim();
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.equal((await stat(tokenFile())).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(stateDir, 'state.json'))).mode & 0o777, 0o600, 'the state file too');
    const line = weft!.logLines().find((entry) => String(entry.msg).startsWith('admin token created'));
    assert.equal(line?.token_file, tokenFile());
    assert.ok(!weft!.text.includes(token), 'the token is in the log');
  });

  it('refuses anonymous reads and writes; the token opens every route', async () => {
    const anonymous = new AdminClient(weft!.adminUrl);
    assert.equal((await anonymous.call('GET', '/chain')).status, 401);
    assert.equal((await anonymous.call('PUT', '/chain', { body: '{"filters": []}' })).status, 401);
    assert.equal((await anonymous.call('POST', '/services/web/instances', { body: '{"address": "127.0.0.1", "port": 3000}' })).status, 401);
    const owner = new AdminClient(weft!.adminUrl, (await readFile(tokenFile(), 'utf8')).trim());
    assert.equal((await owner.call('GET', '/chain')).status, 200);
    assert.equal((await request(`${weft!.adminUrl}/healthz`)).status, 200, 'health stays public');
  });

  it('lets the weft CLI find the token through the manifest (-c, or WEFT_CONFIG)', async () => {
    const viaFlag = await runCli(['chain', 'get', '-c', weft!.manifestFile]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    const viaEnv = await runCli(['stats', '--json'], { WEFT_CONFIG: weft!.manifestFile });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const without = await runCli(['chain', 'get', '--admin', weft!.adminUrl]);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /401 missing bearer token \(give --token, set WEFT_ADMIN_TOKEN, or -c the manifest/);
  });

  it('keeps the same token across a restart', async () => {
    const before = await readFile(tokenFile(), 'utf8');
    await weft!.stop();
    weft = await start();
    assert.equal(await readFile(tokenFile(), 'utf8'), before);
    assert.ok(weft.logLines().some((entry) => entry.msg === 'admin token read from its file'));
  });
});

describe('admin.auth: none', () => {
  it('leaves the API open, and says so at warn level', async () => {
    const upstream = await EchoUpstream.start();
    const weft = await startWeft({ admin: { auth: 'none' }, clusters: [{ name: 'web', endpoints: [upstream.address] }] });
    try {
      assert.equal((await new AdminClient(weft.adminUrl).call('GET', '/chain')).status, 200);
      const warning = weft.logLines().find((entry) => String(entry.msg).startsWith('admin API without auth'));
      assert.equal(warning?.level, 40);
    } finally {
      await weft.stop();
      await upstream.stop();
    }
  });

  it('is refused beside a token', async () => {
    const result = await runWeftExpectingExit({ admin: { auth: 'none', token: 'x' }, clusters: [{ name: 'web', endpoints: ['127.0.0.1:1'] }] });
    assert.equal(result.code, 1);
    assert.match(result.stderr + result.stdout, /admin\.auth: is none, but admin\.token or admin\.tokens is set/);
  });
});

describe('a web page reaching the admin API', () => {
  const TOKEN = 'page-test-token';
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let admin: AdminClient;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      admin: { token: TOKEN, allowed_hosts: ['weft-admin.internal'] },
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      discovery: { max_instances_per_service: 3 },
    });
    admin = new AdminClient(weft.adminUrl, TOKEN);
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('answers 421 to a Host that is not its address or an allowed name (DNS rebinding)', async () => {
    const rebound = await admin.call('GET', '/chain', { headers: { host: 'evil.example' } });
    assert.equal(rebound.status, 421);
    assert.match(rebound.json.error, /not evil\.example; add the name to admin\.allowed_hosts/);
    assert.equal((await admin.call('GET', '/chain', { headers: { host: `evil.example:${weft.adminPort}` } })).status, 421);
    assert.equal((await admin.call('GET', '/chain', { headers: { host: `localhost:${weft.adminPort}` } })).status, 200);
    assert.equal((await admin.call('GET', '/chain', { headers: { host: 'weft-admin.internal' } })).status, 200);
  });

  it('answers 403 to a foreign Origin, and serves its own page', async () => {
    const foreign = await admin.call('PUT', '/chain', { body: '{"filters": []}', headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.status, 403);
    assert.match(foreign.json.error, /cross-origin request from https:\/\/evil\.example refused/);
    const own = await admin.call('GET', '/chain', { headers: { origin: `http://127.0.0.1:${weft.adminPort}` } });
    assert.equal(own.status, 200);
  });

  it('refuses a JSON body that does not say it is JSON, and a POST without a Content-Type (415)', async () => {
    const plain = await admin.call('PUT', '/chain', { body: '{"filters": []}', headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 415);
    assert.equal(plain.json.error, 'send Content-Type: application/json (not text/plain)');
    const form = await admin.call('POST', '/services/web/instances', { body: 'address=127.0.0.1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 415);
    const bare = await request(`${weft.adminUrl}/chain/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bare.status, 415, 'a body-less POST is what any page may send without a preflight');
  });

  it('refuses to register an instance at its own admin or listener address, or at a metadata address', async () => {
    const register = (address: string, port: number) => admin.call('POST', '/services/web/instances', { body: JSON.stringify({ address, port }) });
    const ownAdmin = await register('127.0.0.1', weft.adminPort);
    assert.equal(ownAdmin.status, 403);
    assert.match(ownAdmin.json.error, new RegExp(`127\\.0\\.0\\.1:${weft.adminPort} is this proxy's own listener or admin API; list it in discovery\\.allowed_networks`));
    assert.equal((await register('localhost', weft.port)).status, 403, 'a name that resolves to the listener');
    const metadata = await register('169.254.169.254', 80);
    assert.equal(metadata.status, 403);
    assert.match(metadata.json.error, /169\.254\.169\.254 is a link-local or cloud metadata address/);
    assert.equal((await admin.call('GET', '/services/web')).json?.instances?.length ?? 0, 0, 'nothing was registered');
  });

  it('caps the instances of one service (max_instances_per_service), re-registrations aside', async () => {
    const register = (port: number) => admin.call('POST', '/services/capped/instances', { body: JSON.stringify({ address: '127.0.0.1', port }) });
    for (const port of [4001, 4002, 4003]) assert.equal((await register(port)).status, 201);
    const fourth = await register(4004);
    assert.equal(fourth.status, 409);
    assert.match(fourth.json.error, /already has 3 instances \(discovery\.max_instances_per_service\)/);
    assert.equal((await register(4002)).status, 200, 'an instance it has may register again');
  });
});

describe('roles: register and read', () => {
  const WRITE = 'write-token';
  const READ = 'read-token';
  const REVIEWS = 'reviews-token';
  let upstream: EchoUpstream;
  let weft: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    weft = await startWeft({
      admin: {
        tokens: [
          { name: 'ops', token_sha256: sha256hex(WRITE), role: 'write' },
          { name: 'dashboard', token_sha256: sha256hex(READ), role: 'read' },
          { name: 'reviews-service', token_sha256: sha256hex(REVIEWS), role: 'register', services: ['reviews'] },
        ],
      },
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: [
        // tagger reads only `name`: the rest stands for an auth filter's configuration.
        { name: 'auth', module: fixtureModule('tagger'), config: { name: 'a', api_key: { keys: [{ key: 'sk-live-123', name: 'alice' }] }, jwt: { secret: 'hs256-secret', max_age_s: 60 } } },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await upstream?.stop();
  });

  it('lets a register token register, heartbeat and deregister its own service only', async () => {
    const reviews = new AdminClient(weft.adminUrl, REVIEWS);
    const created = await reviews.call('POST', '/services/reviews/instances', { body: JSON.stringify({ address: '127.0.0.1', port: 5001 }) });
    assert.equal(created.status, 201, created.text);
    assert.equal((await reviews.call('PUT', `/services/reviews/instances/${created.json.id}/heartbeat`)).status, 200);
    const other = await reviews.call('POST', '/services/payments/instances', { body: JSON.stringify({ address: '127.0.0.1', port: 5002 }) });
    assert.equal(other.status, 403);
    assert.equal(other.json.error, 'token "reviews-service" may only register instances of reviews');
    assert.equal((await reviews.call('GET', '/chain')).status, 403, 'it reads nothing');
    assert.equal((await reviews.call('PUT', '/chain', { body: '{"filters": []}' })).status, 403);
    assert.equal((await reviews.call('DELETE', `/services/reviews/instances/${created.json.id}`)).status, 204);
  });

  it('shows a read token filter configs with secret values redacted; a write token sees them whole', async () => {
    const redacted = await new AdminClient(weft.adminUrl, READ).call('GET', '/chain');
    assert.equal(redacted.status, 200);
    assert.deepEqual(redacted.json.filters[0].config, { name: 'a', api_key: '[redacted]', jwt: { secret: '[redacted]', max_age_s: 60 } });
    const whole = await new AdminClient(weft.adminUrl, WRITE).call('GET', '/chain');
    assert.deepEqual(whole.json.filters[0].config.api_key.keys, [{ key: 'sk-live-123', name: 'alice' }]);
    const history = await new AdminClient(weft.adminUrl, READ).call('GET', `/chain/history/${whole.json.revision}`);
    assert.ok(!history.text.includes('sk-live-123') && !history.text.includes('hs256-secret'), history.text);
  });
});

describe('signed modules after the door', () => {
  const TOKEN = 'signer-token';
  let upstream: EchoUpstream;
  let stateDir: string;
  let keys: { privateKeyPem: string; publicKey: string };

  before(async () => {
    upstream = await EchoUpstream.start();
    stateDir = await mkdtemp(path.join(tmpdir(), 'weft-signed-state-'));
    keys = generateSigningKey();
  });
  after(async () => {
    await upstream?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('checks a module from the store again when it starts: a signature tampered with in the store stops the start', async () => {
    const manifest = {
      admin: { token: TOKEN },
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      registry: { trusted_keys: [keys.publicKey] },
      store: { path: path.join(stateDir, 'state.json') },
    };
    const bytes = await readFile(fixtureModule('tag-version'));
    const first = await startWeft(manifest);
    try {
      const admin = new AdminClient(first.adminUrl, TOKEN);
      const upload = await admin.upload('tagger', bytes, { 'x-weft-signature': signModule(bytes, 'tagger', keys.privateKeyPem) });
      assert.equal(upload.status, 201, upload.text);
      assert.equal((await admin.putChain({ filters: [{ name: 'tagger', config: { version: 'v1' } }] })).status, 200);
    } finally {
      await first.stop();
    }
    // A restart verifies the stored module again and serves it.
    const second = await startWeft(manifest);
    await second.stop();
    // Someone with write access to the store (not to a signing key) swaps the signature of another module in.
    const stateFile = path.join(stateDir, 'state.json');
    const state = await readFile(stateFile, 'utf8');
    const forged = signModule(bytes, 'someone-else', keys.privateKeyPem);
    await writeFile(stateFile, state.replace(/"signature\\":\\"[^"\\\\]+\\"/, `"signature\\":\\"${forged}\\"`));
    assert.notEqual(await readFile(stateFile, 'utf8'), state, 'the test did not find the signature in the state file');
    const refused = await runWeftExpectingExit(manifest);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr + refused.stdout, /filter tagger version 1 is not trusted: the signature does not verify, as filter tagger/);
  });
});
