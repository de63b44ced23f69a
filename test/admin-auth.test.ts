// Admin API hardening through a real `weft run`: named read-only and read-write tokens (and the
// `admin.token` shorthand), wrong and missing tokens on every write route, the digest compare
// with tokens of any length, bounded bodies answered with a JSON 413, every change logged with
// its token's name, and the admin listener kept on loopback unless the manifest allows more.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { AdminAuth } from '../host/admin/auth.js';
import { AdminClient } from './helpers/admin.js';
import { freePort } from './helpers/ports.js';
import { request } from './helpers/http.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const ADMIN_TOKEN = 'shorthand-admin-token';
const CI_TOKEN = 'ci-pipeline-token-0123456789';
const VIEWER_TOKEN = 'dashboard-viewer-token';
const sha256hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A chain-changing body that is valid: the empty chain. */
const EMPTY_CHAIN = JSON.stringify({ filters: [] });
const MAX_SPEC_BYTES = 1024 * 1024;

/** Every write route there is, with a body it accepts (or refuses on its merits, never on auth). */
const WRITE_ROUTES: Array<{ method: string; path: string; body?: string | Buffer; headers?: Record<string, string> }> = [
  { method: 'PUT', path: '/chain', body: EMPTY_CHAIN, headers: { 'content-type': 'application/json' } },
  { method: 'POST', path: '/chain/rollback', body: '{}', headers: { 'content-type': 'application/json' } },
  { method: 'POST', path: '/filters/authz-test', body: Buffer.from([0, 0x61, 0x73, 0x6d]), headers: { 'content-type': 'application/wasm' } },
  { method: 'DELETE', path: '/filters/authz-test/versions/1' },
];

/** A body sent with Transfer-Encoding: chunked (no Content-Length), `chunks` pieces of `chunkBytes`. */
function sendChunked(url: string, token: string, chunks: number, chunkBytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolveReply, reject) => {
    const req = httpRequest(url, { method: 'PUT', agent: false, timeout: 10_000, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolveReply({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`chunked PUT ${url}: no answer within 10 s`)));
    req.on('error', reject);
    const piece = Buffer.alloc(chunkBytes, 0x20);
    for (let i = 0; i < chunks; i++) req.write(piece);
    req.end();
  });
}

describe('admin tokens through weft run', () => {
  let weft: WeftProcess;
  let admin: AdminClient;

  before(async () => {
    const adminPort = await freePort();
    weft = await startWeft({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      admin: {
        listen: `127.0.0.1:${adminPort}`,
        token: ADMIN_TOKEN,
        tokens: [
          { name: 'ci', token_sha256: sha256hex(CI_TOKEN), role: 'write' },
          { name: 'viewer', token_sha256: sha256hex(VIEWER_TOKEN).toUpperCase(), role: 'read' },
        ],
      },
    });
    await waitForAdmin(weft);
    admin = new AdminClient(`http://127.0.0.1:${adminPort}`);
  });
  after(async () => {
    await weft?.stop();
  });

  test('read routes answer every configured token, read-only or not', async () => {
    for (const token of [VIEWER_TOKEN, CI_TOKEN, ADMIN_TOKEN]) {
      for (const path of ['/chain', '/filters', '/metrics', '/ready']) {
        const reply = await admin.call('GET', path, { token });
        assert.equal(reply.status, 200, `${path} with ${token}: ${reply.text}`);
      }
    }
  });

  test('a read-only token gets 403 naming the token on every write route, and changes nothing', async () => {
    const before = await admin.call('GET', '/chain', { token: VIEWER_TOKEN });
    for (const route of WRITE_ROUTES) {
      const reply = await admin.call(route.method, route.path, { token: VIEWER_TOKEN, ...optionsOf(route) });
      assert.equal(reply.status, 403, `${route.method} ${route.path}: ${reply.text}`);
      assert.deepEqual(reply.json, { error: 'token "viewer" is read-only' });
    }
    const after = await admin.call('GET', '/chain', { token: VIEWER_TOKEN });
    assert.equal(after.json.revision, before.json.revision);
  });

  test('a wrong or missing token gets 401 with a Bearer challenge on every write route', async () => {
    for (const route of WRITE_ROUTES) {
      for (const [token, error] of [
        [null, 'missing bearer token'],
        ['not-a-token', 'invalid bearer token'],
        [`${CI_TOKEN} `.repeat(2).trim(), 'invalid bearer token'],
      ] as const) {
        const reply = await admin.call(route.method, route.path, { token, ...optionsOf(route) });
        assert.equal(reply.status, 401, `${route.method} ${route.path} with ${token}`);
        assert.equal(reply.headers['www-authenticate'], 'Bearer');
        assert.deepEqual(reply.json, { error });
      }
    }
  });

  test('write tokens change the chain, and the change is logged and recorded with the token name', async () => {
    const before = (await admin.call('GET', '/chain', { token: CI_TOKEN })).json.revision as number;
    const byCi = await admin.call('PUT', '/chain', { token: CI_TOKEN, body: EMPTY_CHAIN, headers: { 'content-type': 'application/json' } });
    assert.equal(byCi.status, 200, byCi.text);
    assert.equal(byCi.json.revision, before + 1);
    const byShorthand = await admin.call('PUT', '/chain', { token: ADMIN_TOKEN, body: EMPTY_CHAIN, headers: { 'content-type': 'application/json' } });
    assert.equal(byShorthand.status, 200, byShorthand.text);

    await weft.waitForOutput((text) => text.includes('"token":"admin"'), 'the log line of the change by "admin"');
    const changes = weft.logLines().filter((line) => line.msg === 'admin change');
    assert.ok(changes.some((line) => line.method === 'PUT' && line.path === '/chain' && line.status === 200 && line.token === 'ci'), JSON.stringify(changes));
    assert.ok(changes.some((line) => line.token === 'admin' && line.status === 200), JSON.stringify(changes));
    const refused = weft.logLines().filter((line) => line.msg === 'admin change refused');
    assert.ok(refused.some((line) => line.status === 403 && line.reason === 'token "viewer" is read-only'), JSON.stringify(refused));
    assert.ok(refused.some((line) => line.status === 401 && line.reason === 'missing bearer token'), JSON.stringify(refused));

    const history = await admin.call('GET', '/chain/history', { token: VIEWER_TOKEN });
    const byRevision = new Map((history.json.history as Array<{ revision: number; by: string }>).map((entry) => [entry.revision, entry.by]));
    assert.equal(byRevision.get(before + 1), 'ci');
    assert.equal(byRevision.get(before + 2), 'admin');
  });

  test('presented tokens of any length or alphabet are compared as digests: 401, never a crash', async () => {
    const digestAsToken = sha256hex(CI_TOKEN); // the manifest's value is not itself a token
    for (const token of ['x', 'ü-ñ-ß', 'A'.repeat(4096), digestAsToken, CI_TOKEN.slice(0, -1)]) {
      const reply = await admin.call('PUT', '/chain', { token, body: EMPTY_CHAIN, headers: { 'content-type': 'application/json' } });
      assert.equal(reply.status, 401, `token of ${token.length} characters: ${reply.text}`);
    }
  });

  test('a body over the route limit is a JSON 413 with the reason, declared or chunked', async () => {
    const declared = await admin.call('PUT', '/chain', { token: CI_TOKEN, body: Buffer.alloc(MAX_SPEC_BYTES + 1, 0x20), headers: { 'content-type': 'application/json' } });
    assert.equal(declared.status, 413);
    assert.match(declared.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(declared.json, { error: `request body is over this route's limit of ${MAX_SPEC_BYTES} bytes (Content-Length: ${MAX_SPEC_BYTES + 1})` });

    const chunked = await sendChunked(`${admin.url}/chain`, CI_TOKEN, 5, 256 * 1024);
    assert.equal(chunked.status, 413, chunked.body);
    assert.deepEqual(JSON.parse(chunked.body), { error: `request body is over this route's limit of ${MAX_SPEC_BYTES} bytes` });

    // At the limit exactly, the body reaches the handler (which then judges it as a spec).
    const atLimit = await admin.call('PUT', '/chain', { token: CI_TOKEN, body: `${EMPTY_CHAIN}${' '.repeat(MAX_SPEC_BYTES - EMPTY_CHAIN.length)}`, headers: { 'content-type': 'application/json' } });
    assert.equal(atLimit.status, 200, atLimit.text);
    // A chunked body within the limit is read whole.
    const smallChunked = await sendChunked(`${admin.url}/chain`, CI_TOKEN, 3, 1024);
    assert.equal(smallChunked.status, 400, smallChunked.body); // three KiB of spaces: empty, so not a spec
    assert.match(JSON.parse(smallChunked.body).error, /the body is not JSON|send the chain spec/);
  });

  test('an oversized body without a valid token is refused for the token, not the size', async () => {
    const reply = await admin.call('PUT', '/chain', { token: 'wrong', body: Buffer.alloc(MAX_SPEC_BYTES + 1, 0x20) });
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.json, { error: 'invalid bearer token' });
  });

  test('the proxy keeps serving after all of it', async () => {
    assert.equal((await request(`${admin.url}/healthz`)).status, 200);
  });
});

describe('AdminAuth compares digests in constant time', () => {
  const auth = AdminAuth.fromSpec({
    token: ADMIN_TOKEN,
    tokens: [
      { name: 'ci', sha256: sha256hex(CI_TOKEN), role: 'write' },
      { name: 'viewer', sha256: sha256hex(VIEWER_TOKEN), role: 'read' },
      { name: 'reviews', sha256: sha256hex('reviews-token'), role: 'register', services: ['reviews'] },
    ],
  });

  test('each token gets its own name and role, whichever position it has', () => {
    assert.deepEqual(auth.check(`Bearer ${ADMIN_TOKEN}`, 'write'), { ok: true, caller: 'admin', role: 'write' });
    assert.deepEqual(auth.check(`Bearer ${CI_TOKEN}`, 'write'), { ok: true, caller: 'ci', role: 'write' });
    assert.deepEqual(auth.check(`Bearer ${VIEWER_TOKEN}`, 'read'), { ok: true, caller: 'viewer', role: 'read' });
    assert.deepEqual(auth.check(`Bearer ${VIEWER_TOKEN}`, 'write'), { ok: false, status: 403, error: 'token "viewer" is read-only' });
    assert.deepEqual(auth.check(`Bearer ${VIEWER_TOKEN}`, 'register', 'reviews'), { ok: false, status: 403, error: 'token "viewer" is read-only' });
    assert.deepEqual(auth.check(undefined, 'public'), { ok: true, caller: undefined, role: undefined });
  });

  test('a register token registers instances of its own services, and does nothing else', () => {
    const only = { ok: false, status: 403, error: 'token "reviews" may only register instances of reviews' };
    assert.deepEqual(auth.check('Bearer reviews-token', 'register', 'reviews'), { ok: true, caller: 'reviews', role: 'register' });
    assert.deepEqual(auth.check('Bearer reviews-token', 'register', 'payments'), only);
    assert.deepEqual(auth.check('Bearer reviews-token', 'read'), only);
    assert.deepEqual(auth.check('Bearer reviews-token', 'write'), only);
    assert.deepEqual(auth.check(`Bearer ${CI_TOKEN}`, 'register', 'payments'), { ok: true, caller: 'ci', role: 'write' });
  });

  test('tokens of every length go through the same digest compare (a plain timingSafeEqual would throw on them)', () => {
    for (const token of ['', 'a', CI_TOKEN.slice(0, -1), `${CI_TOKEN}x`, '東京', 'z'.repeat(100_000)]) {
      assert.deepEqual(auth.check(`Bearer ${token}`, 'read'), token === '' ? { ok: false, status: 401, error: 'missing bearer token' } : { ok: false, status: 401, error: 'invalid bearer token' });
    }
  });

  test('without any token (admin.auth: none), every route is open', () => {
    const open = AdminAuth.fromSpec({});
    assert.equal(open.required, false);
    assert.deepEqual(open.check(undefined, 'write'), { ok: true, caller: undefined, role: undefined });
  });

  test('without a token in the manifest, the generated one is the admin credential', () => {
    const generated = AdminAuth.fromSpec({}, 'generated-token');
    assert.deepEqual(generated.check(undefined, 'read'), { ok: false, status: 401, error: 'missing bearer token' });
    assert.deepEqual(generated.check('Bearer generated-token', 'write'), { ok: true, caller: 'admin', role: 'write' });
  });
});

describe('the admin listener stays on loopback unless allowed', () => {
  test('a non-loopback admin address is refused, naming admin.allow_remote', async () => {
    for (const host of ['0.0.0.0', '[::]']) {
      const result = await runWeftExpectingExit({
        clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
        admin: { listen: `${host}:${await freePort()}`, token: ADMIN_TOKEN },
      });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr + result.stdout, /admin\.listen: .* is not a loopback address; set admin\.allow_remote: true/);
    }
  });

  test('allow_remote without a token is refused: an open admin API stays on loopback', async () => {
    const result = await runWeftExpectingExit({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      admin: { listen: `0.0.0.0:${await freePort()}`, allow_remote: true },
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr + result.stdout, /admin\.allow_remote: needs admin\.token or admin\.tokens/);
  });

  test('allow_remote with a token binds every interface, and auth still applies', async () => {
    const port = await freePort();
    const weft = await startWeft({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      admin: { listen: `0.0.0.0:${port}`, allow_remote: true, tokens: [{ name: 'ops', token_sha256: sha256hex(CI_TOKEN), role: 'read' }] },
    });
    try {
      await waitForAdmin(weft);
      const remote = new AdminClient(`http://127.0.0.1:${port}`);
      assert.equal((await remote.call('GET', '/chain', { token: null })).status, 401);
      assert.equal((await remote.call('GET', '/chain', { token: CI_TOKEN })).status, 200);
      const listening = weft.logLines().find((line) => line.msg === 'admin listening');
      assert.equal(listening?.host, '0.0.0.0');
    } finally {
      await weft.stop();
    }
  });
});

function optionsOf(route: (typeof WRITE_ROUTES)[number]) {
  return { ...(route.body === undefined ? {} : { body: route.body }), ...(route.headers === undefined ? {} : { headers: route.headers }) };
}

/** startWeft returns once the proxy listens; the admin listener starts right after it. */
function waitForAdmin(weft: WeftProcess): Promise<void> {
  return weft.waitForOutput((text) => text.includes('"msg":"admin listening"'), 'the "admin listening" log line');
}
