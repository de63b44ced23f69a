// The admin API as a web page or a careless registration would attack it, through a real
// `weft run`: no anonymous writes by default (the token weft run makes, 0600, reused across
// restarts, found by the CLI), `admin.auth: none` as a logged opt-out, DNS rebinding (a foreign
// Host: 421), cross-site requests (a foreign Origin: 403), JSON without its Content-Type (415),
// registrations of the admin address, the listener and the metadata address (403), and the
// instance cap per service (409).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdminClient } from './helpers/admin.js';
import { runCli } from './helpers/cli.js';
import { request } from './helpers/http.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const JSON_TYPE = { 'content-type': 'application/json' };
const registration = (address: string, port: number) => JSON.stringify({ address, port, ttl_s: 60 });

describe('no anonymous writes by default', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'weft-admin-state-'));
  const manifest = { clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }], store: { path: path.join(stateDir, 'state.json') }, access_log: 'off' };
  const tokenFile = path.join(stateDir, 'admin.token');
  let weft: WeftProcess;

  before(async () => {
    weft = await startWeft(manifest);
  });
  after(async () => {
    await weft?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('the first start makes a 256-bit token in the state folder, mode 0600, and logs where it is, not what', () => {
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.match(weft.adminToken!, /^[0-9a-f]{64}$/);
    const line = weft.logLines().find((entry) => entry.token_file !== undefined);
    assert.equal(line?.token_file, tokenFile);
    assert.equal(line?.msg, 'admin token created (send it as Authorization: Bearer)');
    assert.ok(!weft.text.includes(weft.adminToken!), 'the token itself is never logged');
  });

  test('without the token every route but /healthz answers 401; with it, 200', async () => {
    const anonymous = await request(`${weft.adminUrl}/chain`, { method: 'PUT', headers: JSON_TYPE, body: JSON.stringify({ filters: [] }), adminToken: false });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(JSON.parse(anonymous.body), { error: 'missing bearer token' });
    assert.equal((await request(`${weft.adminUrl}/chain`, { adminToken: false })).status, 401);
    assert.equal((await request(`${weft.adminUrl}/healthz`, { adminToken: false })).status, 200);
    const withToken = await request(`${weft.adminUrl}/chain`, { method: 'PUT', headers: { ...JSON_TYPE, authorization: `Bearer ${weft.adminToken}` }, body: JSON.stringify({ filters: [] }) });
    assert.equal(withToken.status, 200, withToken.body);
  });

  test('the state file is written 0600', async () => {
    assert.equal(statSync(path.join(stateDir, 'state.json')).mode & 0o777, 0o600);
  });

  test('the weft CLI finds the admin address and the token from the manifest (-c, or ./weft.yaml)', async () => {
    const given = await runCli(['chain', 'get', '-c', weft.manifestFile]);
    assert.equal(given.code, 0, given.stderr);
    assert.match(given.stdout, /^# chain revision \d+/);
    const found = await runCli(['stats'], {}, 15_000, path.dirname(weft.manifestFile));
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, /^CLUSTER\s+WINDOW/);
  });

  test('a restart on the same state folder reuses the token', async () => {
    const before = weft.adminToken;
    await weft.stop();
    weft = await startWeft(manifest);
    assert.equal(weft.adminToken, before);
    assert.equal(weft.logLines().find((entry) => entry.token_file !== undefined)?.msg, 'admin token read from the state folder');
    assert.equal((await request(`${weft.adminUrl}/chain`, { headers: { authorization: `Bearer ${before}` } })).status, 200);
  });
});

describe('admin.auth: none', () => {
  test('leaves the admin API open, and says so at warn', async () => {
    const weft = await startWeft({ admin: { auth: 'none' }, clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }], access_log: 'off' });
    try {
      await weft.waitForOutput((text) => text.includes('"msg":"admin listening"'), 'the admin listener');
      const warning = weft.logLines().find((line) => String(line.msg).startsWith('admin API without auth'));
      assert.equal(warning?.level, 40, 'logged at warn');
      const put = await request(`${weft.adminUrl}/chain`, { method: 'PUT', headers: JSON_TYPE, body: JSON.stringify({ filters: [] }) });
      assert.equal(put.status, 200, put.body);
    } finally {
      await weft.stop();
    }
  });
});

describe('a web page cannot reach the admin API', () => {
  let weft: WeftProcess;
  let admin: AdminClient;

  before(async () => {
    weft = await startWeft({
      admin: { allowed_hosts: ['weft-admin.internal'] },
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      discovery: { max_instances_per_service: 2 },
      access_log: 'off',
    });
    admin = new AdminClient(weft.adminUrl);
  });
  after(() => weft?.stop());

  test('DNS rebinding: a Host that is not the admin address gets 421, before auth', async () => {
    for (const host of ['evil.example', `evil.example:${weft.adminPort}`, `127.0.0.1:${weft.adminPort + 1}`, '127.0.0.1']) {
      const reply = await admin.call('GET', '/chain', { headers: { host } });
      assert.equal(reply.status, 421, host);
      assert.match(reply.json.error, new RegExp(`^Host "${host.replace(/\./g, '\\.')}" is not this admin API's address`));
    }
    for (const host of [`localhost:${weft.adminPort}`, `127.0.0.1:${weft.adminPort}`, 'weft-admin.internal', 'WEFT-ADMIN.internal:8443']) {
      assert.equal((await admin.call('GET', '/chain', { headers: { host } })).status, 200, host);
    }
  });

  test('CSRF: a request with a foreign Origin gets 403; the admin page\'s own origin passes', async () => {
    const foreign = await admin.call('POST', '/services/app/instances', { body: registration('127.0.0.1', 7001), headers: { ...JSON_TYPE, origin: 'http://evil.example' } });
    assert.equal(foreign.status, 403);
    assert.deepEqual(foreign.json, { error: `Origin "http://evil.example" is not the admin page's own (http://127.0.0.1:${weft.adminPort}): cross-site requests are refused` });
    assert.equal((await admin.call('GET', '/chain', { headers: { origin: 'null' } })).status, 403);
    const own = await admin.call('POST', '/services/app/instances', { body: registration('127.0.0.1', 7001), headers: { ...JSON_TYPE, origin: weft.adminUrl } });
    assert.equal(own.status, 201, own.text);
  });

  test('a JSON body needs Content-Type: application/json (415), so no form or text/plain fetch can send one', async () => {
    const plain = await admin.call('POST', '/services/app/instances', { body: registration('127.0.0.1', 7002), headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 415);
    assert.deepEqual(plain.json, { error: 'send the body as Content-Type: application/json (not text/plain)' });
    const form = await admin.call('PUT', '/chain', { body: JSON.stringify({ filters: [] }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 415);
    assert.equal((await admin.call('POST', '/services/app/instances', { body: registration('127.0.0.1', 7002) })).status, 415);
  });

  test('a registration may not point at the admin API, the listener or the metadata address', async () => {
    const refused: Array<[string, number, RegExp]> = [
      ['127.0.0.1', weft.adminPort, /is this proxy's own admin API address/],
      ['localhost', weft.adminPort, /is this proxy's own admin API address/],
      ['127.0.0.1', weft.port, /is this proxy's own listener address/],
      ['169.254.169.254', 80, /is link-local or a cloud metadata address/],
      ['169.254.10.1', 8080, /is link-local or a cloud metadata address/],
    ];
    for (const [address, port, reason] of refused) {
      const reply = await admin.call('POST', '/services/evil/instances', { body: registration(address, port), headers: JSON_TYPE });
      assert.equal(reply.status, 403, `${address}:${port}`);
      assert.match(reply.json.error, reason);
      assert.match(reply.json.error, /list its network in discovery\.allowed_networks to allow it$/);
    }
    assert.equal((await admin.call('GET', '/services/evil')).status, 404, 'nothing was registered');
  });

  test('a service has at most discovery.max_instances_per_service instances (409); re-registering one is fine', async () => {
    assert.equal((await admin.call('POST', '/services/capped/instances', { body: registration('127.0.0.1', 7101), headers: JSON_TYPE })).status, 201);
    assert.equal((await admin.call('POST', '/services/capped/instances', { body: registration('127.0.0.1', 7102), headers: JSON_TYPE })).status, 201);
    const third = await admin.call('POST', '/services/capped/instances', { body: registration('127.0.0.1', 7103), headers: JSON_TYPE });
    assert.equal(third.status, 409);
    assert.match(third.json.error, /^service "capped" has 2 instances, the most discovery\.max_instances_per_service allows/);
    assert.equal((await admin.call('POST', '/services/capped/instances', { body: registration('127.0.0.1', 7102), headers: JSON_TYPE })).status, 200);
  });

  test('the proxy keeps serving after all of it', async () => {
    assert.equal((await request(`${weft.adminUrl}/healthz`)).status, 200);
  });
});

describe('discovery.allowed_networks', () => {
  test('lets a listed network in', async () => {
    const weft = await startWeft({ clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }], discovery: { allowed_networks: ['169.254.169.254/32'] }, access_log: 'off' });
    try {
      const admin = new AdminClient(weft.adminUrl);
      assert.equal((await admin.call('POST', '/services/meta/instances', { body: registration('169.254.169.254', 80), headers: JSON_TYPE })).status, 201);
      assert.equal((await admin.call('POST', '/services/meta/instances', { body: registration('169.254.169.253', 80), headers: JSON_TYPE })).status, 403);
    } finally {
      await weft.stop();
    }
  });

  test('a value that is not a CIDR is refused at start', async () => {
    const outcome = await runWeftExpectingExit({ clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }], discovery: { allowed_networks: ['10.0.0.0'] } });
    assert.equal(outcome.code, 1);
    assert.match(outcome.stderr + outcome.stdout, /discovery\.allowed_networks\[0\]: "10\.0\.0\.0" is not a CIDR/);
  });
});
