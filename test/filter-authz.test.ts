// The authz filter through a real `weft run` with a real upstream: every rule kind allowing and
// denying, first match wins, the default action both ways, dry run, metrics and access-log
// flags. The authz-identity fixture stands before authz and sets the properties the auth filter
// and an mTLS listener would set (source.principal, weft.auth.principal, weft.auth.claims.*)
// from request headers, so each rule kind is tested on its own.
// The forms of source.address and of raw paths a client cannot easily send are driven through
// the ABI layer (real wasm, the host's ABI code, a test stream) at the end.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { LogLevel } from '../host/abi/enums.js';
import { HeaderMap } from '../host/abi/header-map.js';
import { encodeString } from '../host/abi/properties.js';
import { FilterModule, WasmVm } from '../host/abi/vm.js';
import { TestStream, TestVmHost } from './abi-harness.js';
import { AdminClient } from './helpers/admin.js';
import { request, type HttpResponse } from './helpers/http.js';
import { TestCa, type Issued } from './helpers/pki.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const authzModule = builtModule(join(repoRoot, 'filters', 'authz'));

/** One rule set with a path namespace per rule kind; requests that no rule matches get the default (deny). */
const RULES = [
  // Deny rules that apply to any path, each on one kind of fact.
  { name: 'deny-bad-workloads', action: 'deny', principals: ['spiffe://test/ns/bad/*'] },
  { name: 'deny-debug-header', action: 'deny', headers: [{ name: 'X-Debug', present: true }] },
  { name: 'deny-suspended', action: 'deny', claims: [{ name: 'status', equals: 'suspended' }] },
  { name: 'deny-evil-hosts', action: 'deny', hosts: ['evil.test', '*.evil.test'] },
  { name: 'deny-delete', action: 'deny', methods: ['delete'] },
  // first match: the allow before the broader deny wins for GET, the deny before it wins for POST.
  { name: 'order-deny-post', action: 'deny', paths: [{ prefix: '/order/' }], methods: ['POST'] },
  { name: 'order-allow', action: 'allow', paths: [{ prefix: '/order/' }] },
  { name: 'order-deny-late', action: 'deny', paths: [{ prefix: '/order/' }] },
  // One allow rule per kind, each on its own path.
  { name: 'allow-web-workload', action: 'allow', paths: [{ prefix: '/p/' }], principals: ['spiffe://test/ns/good/sa/web'] },
  { name: 'allow-alice', action: 'allow', paths: [{ prefix: '/rp/' }], request_principals: ['alice', 'svc-*'] },
  { name: 'deny-loopback-here', action: 'deny', paths: [{ prefix: '/ip/deny' }], source_ips: ['127.0.0.0/8', '::1'] },
  { name: 'allow-ten', action: 'allow', paths: [{ prefix: '/ip/' }, { prefix: '/ip10/' }], source_ips: ['10.0.0.0/8', '2001:db8::/32'] },
  { name: 'allow-loopback', action: 'allow', paths: [{ prefix: '/ip/' }], source_ips: ['127.0.0.1/32', '::1/128'] },
  { name: 'allow-reads', action: 'allow', paths: [{ prefix: '/m/' }], methods: ['GET', 'HEAD'] },
  { name: 'allow-exact', action: 'allow', paths: [{ exact: '/exact' }] },
  { name: 'deny-secret-files', action: 'deny', paths: [{ glob: '/static/**/*.secret' }] },
  { name: 'deny-panel-any-case', action: 'deny', paths: [{ prefix: '/Panel/', ignore_case: true }] },
  { name: 'allow-globs', action: 'allow', paths: [{ glob: '/users/*/profile' }, { glob: '/static/**' }] },
  { name: 'allow-api-host', action: 'allow', paths: [{ prefix: '/h/' }], hosts: ['api.test', '*.api.test'] },
  { name: 'allow-prod-probes', action: 'allow', paths: [{ prefix: '/hd/' }], headers: [{ name: 'x-env', exact: 'prod' }, { name: 'user-agent', prefix: 'probe/' }] },
  { name: 'allow-tenant-admins', action: 'allow', paths: [{ prefix: '/c/' }], claims: [{ name: 'roles', contains: 'admin' }, { name: 'tenant', in: ['acme', 'globex'] }] },
];

function chain(config: Record<string, unknown>) {
  return [
    { name: 'identity', module: fixtureModule('authz-identity') },
    { name: 'authz', module: authzModule, config },
  ];
}

/** A GET (or `method`) through the proxy; `headers` may set host and the identity fixture's x-test-* headers. */
function call(weft: WeftProcess, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpResponse> {
  return request(`${weft.url}${path}`, { method, headers });
}

/** Sends `path` exactly as given (a URL would be normalised by the client before it is sent). */
function callRaw(weft: WeftProcess, path: string): Promise<HttpResponse> {
  return new Promise((resolveResponse, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: weft.port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** A GET over TLS, presenting `identity`'s client certificate when given. */
function callTls(weft: WeftProcess, path: string, caFile: string, identity?: Issued): Promise<HttpResponse> {
  return new Promise((resolveResponse, reject) => {
    const options = { host: '127.0.0.1', port: weft.port, path, agent: false as const, ca: readFileSync(caFile), ...(identity === undefined ? {} : { cert: readFileSync(identity.cert), key: readFileSync(identity.key) }) };
    const req = httpsRequest(options, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertAllowed(response: HttpResponse, what: string) {
  assert.equal(response.status, 200, `${what}: ${response.status} ${response.body}`);
}

function assertDenied(response: HttpResponse, by: string, what: string) {
  assert.equal(response.status, 403, `${what}: ${response.status} ${response.body}`);
  assert.equal(response.body, `denied by ${by}\n`, what);
}

const byRule = (name: string) => `rule "${name}"`;
const BY_DEFAULT = 'the default action';

describe('authz through weft run', () => {
  let upstream: EchoUpstream;
  let weft: WeftProcess;
  let allowByDefault: WeftProcess;
  let dryRun: WeftProcess;

  before(async () => {
    upstream = await EchoUpstream.start();
    const clusters = [{ name: 'web', endpoints: [upstream.address] }];
    const blockAdmin = [{ name: 'block-admin', action: 'deny', paths: [{ prefix: '/admin/' }] }];
    [weft, allowByDefault, dryRun] = await Promise.all([
      startWeft({ clusters, filters: chain({ rules: RULES }) }),
      startWeft({ clusters, filters: chain({ rules: blockAdmin, default_action: 'allow' }) }),
      startWeft({ clusters, filters: chain({ rules: blockAdmin, dry_run: true }) }),
    ]);
  });
  after(async () => {
    await Promise.all([weft?.stop(), allowByDefault?.stop(), dryRun?.stop()]);
    await upstream?.stop();
  });

  test('source principal (the mTLS identity of a real client certificate): exact and prefix patterns; no principal never matches', async () => {
    const ca = TestCa.create();
    const server = ca.server('authz-listener');
    const tlsWeft = await startWeft({
      listenTls: { cert: server.cert, key: server.key, ca: ca.cert },
      clusters: [{ name: 'web', endpoints: [upstream.address] }],
      filters: chain({ rules: RULES }),
    });
    const as = (uri: string | undefined) => {
      const identity = uri === undefined ? undefined : ca.client(uri.slice(uri.lastIndexOf('/') + 1), uri);
      return callTls(tlsWeft, '/p/x', ca.cert, identity);
    };
    try {
      assertDenied(await as('spiffe://test/ns/bad/sa/job'), byRule('deny-bad-workloads'), 'a bad workload');
      assertAllowed(await as('spiffe://test/ns/good/sa/web'), 'the web workload');
      assertDenied(await as('spiffe://test/ns/good/sa/webx'), BY_DEFAULT, 'a near miss');
      assertDenied(await as(undefined), BY_DEFAULT, 'no client certificate, no principal');
      assertDenied(await call(weft, '/p/x', { 'x-test-source-principal': 'spiffe://test/ns/good/sa/web' }), BY_DEFAULT, 'a header cannot claim an identity');
    } finally {
      await tlsWeft.stop();
    }
  });

  test('request principal (from the auth filter): exact and prefix patterns', async () => {
    assertAllowed(await call(weft, '/rp/x', { 'x-test-auth-principal': 'alice' }), 'alice');
    assertAllowed(await call(weft, '/rp/x', { 'x-test-auth-principal': 'svc-billing' }), 'svc-billing');
    assertDenied(await call(weft, '/rp/x', { 'x-test-auth-principal': 'bob' }), BY_DEFAULT, 'bob');
    assertDenied(await call(weft, '/rp/x', { 'x-test-auth-principal': '' }), BY_DEFAULT, 'an empty principal');
  });

  test('source address: CIDR blocks, IPv4 and IPv6 in one list', async () => {
    assertDenied(await call(weft, '/ip/deny/x'), byRule('deny-loopback-here'), '127.0.0.1 in 127.0.0.0/8');
    assertAllowed(await call(weft, '/ip/x'), '127.0.0.1 in 127.0.0.1/32, after a rule for 10/8 that does not match');
    assertDenied(await call(weft, '/ip10/x'), BY_DEFAULT, '127.0.0.1 is not in 10.0.0.0/8');
  });

  test('method: listed methods only, case-insensitive in the config', async () => {
    assertAllowed(await call(weft, '/m/x'), 'GET');
    assertAllowed(await call(weft, '/m/x', {}, 'HEAD'), 'HEAD');
    assertDenied(await call(weft, '/m/x', {}, 'POST'), BY_DEFAULT, 'POST');
    assertDenied(await call(weft, '/m/x', {}, 'DELETE'), byRule('deny-delete'), 'DELETE');
  });

  test('path: exact, prefix and glob (* within a segment, ** across), on the normalised path', async () => {
    assertAllowed(await call(weft, '/exact'), 'exact');
    assertAllowed(await call(weft, '/exact?with=query'), 'exact, query ignored');
    assertDenied(await call(weft, '/exact/more'), BY_DEFAULT, 'exact does not match longer paths');
    assertAllowed(await call(weft, '/users/42/profile'), '* matches one segment');
    assertDenied(await call(weft, '/users/4/2/profile'), BY_DEFAULT, '* does not cross "/"');
    assertAllowed(await call(weft, '/static/css/site/a.css'), '** crosses segments');
    assertDenied(await call(weft, '/static/keys/prod/db.secret'), byRule('deny-secret-files'), 'an earlier deny glob');
    // Spellings of the same path cannot get around a rule.
    assertDenied(await callRaw(weft, '/static/css/../keys/db.secret'), byRule('deny-secret-files'), 'dot segments');
    assertDenied(await callRaw(weft, '/static//keys/db%2Esecret'), byRule('deny-secret-files'), 'double slash and an escaped dot');
    assertDenied(await callRaw(weft, '/%75sers/42/../../exact/more'), BY_DEFAULT, 'escaped letters and ..');
    assertDenied(await callRaw(weft, '/static/css/..;/keys/db.secret'), byRule('deny-secret-files'), 'a matrix parameter on ..');
    assertDenied(await call(weft, '/PANEL/x'), byRule('deny-panel-any-case'), 'ignore_case');
    assertDenied(await call(weft, '/panel/x'), byRule('deny-panel-any-case'), 'ignore_case, the other way');
    assertAllowed(await callRaw(weft, '/users/42/./profile'), 'a "." segment');
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.path, '/users/42/profile', 'the upstream gets the path the filters saw (the host normalized it)');
  });

  test('host: exact and *.subdomain, without the port', async () => {
    assertAllowed(await call(weft, '/h/x', { host: 'api.test:8080' }), 'api.test with a port');
    assertAllowed(await call(weft, '/h/x', { host: 'EU.API.test' }), 'a subdomain, any case');
    assertDenied(await call(weft, '/h/x', { host: 'other.test' }), BY_DEFAULT, 'another host');
    assertDenied(await call(weft, '/h/x', { host: 'x.evil.test' }), byRule('deny-evil-hosts'), 'an evil subdomain');
    assertDenied(await call(weft, '/anything', { host: 'evil.test' }), byRule('deny-evil-hosts'), 'the evil host itself');
  });

  test('headers: present, exact and prefix; every listed header must match', async () => {
    const probe = { 'x-env': 'prod', 'user-agent': 'probe/1.2' };
    assertAllowed(await call(weft, '/hd/x', probe), 'both headers');
    assertDenied(await call(weft, '/hd/x', { ...probe, 'x-env': 'staging' }), BY_DEFAULT, 'exact value differs');
    assertDenied(await call(weft, '/hd/x', { ...probe, 'user-agent': 'curl/8' }), BY_DEFAULT, 'prefix differs');
    assertDenied(await call(weft, '/hd/x', { 'user-agent': 'probe/1.2' }), BY_DEFAULT, 'one header missing');
    assertDenied(await call(weft, '/hd/x', { ...probe, 'x-debug': '' }), byRule('deny-debug-header'), 'present, even empty');
  });

  test('JWT claims (weft.auth.claims.*): equals, in, contains', async () => {
    const admin = { 'x-test-claim-roles': 'dev,admin', 'x-test-claim-tenant': 'acme' };
    assertAllowed(await call(weft, '/c/x', admin), 'admin of acme');
    assertAllowed(await call(weft, '/c/x', { ...admin, 'x-test-claim-tenant': 'globex' }), 'admin of globex');
    assertDenied(await call(weft, '/c/x', { ...admin, 'x-test-claim-tenant': 'initech' }), BY_DEFAULT, 'tenant not in the list');
    assertDenied(await call(weft, '/c/x', { ...admin, 'x-test-claim-roles': 'dev,administrator' }), BY_DEFAULT, 'contains is per item');
    assertDenied(await call(weft, '/c/x', { 'x-test-claim-tenant': 'acme' }), BY_DEFAULT, 'no roles claim');
    assertDenied(await call(weft, '/c/x', { ...admin, 'x-test-claim-status': 'suspended' }), byRule('deny-suspended'), 'suspended');
  });

  test('first match wins', async () => {
    assertAllowed(await call(weft, '/order/1'), 'GET: order-allow comes before order-deny-late');
    assertDenied(await call(weft, '/order/1', {}, 'POST'), byRule('order-deny-post'), 'POST: order-deny-post comes first');
  });

  test('a denial never reaches the upstream, and the access log flags it AZ', async () => {
    const before = upstream.requests.length;
    assertDenied(await call(weft, '/nowhere/flagged'), BY_DEFAULT, 'default deny');
    assert.equal(upstream.requests.length, before);
    await weft.waitForOutput((text) => text.includes('"path":"/nowhere/flagged"'), 'the access-log line');
    const line = weft.accessLog().find((entry) => entry.path === '/nowhere/flagged')!;
    assert.equal(line.status, 403);
    assert.equal(line.flags, 'AZ');
    const allowed = weft.accessLog().find((entry) => entry.path === '/exact')!;
    assert.equal(allowed.flags, '');
  });

  test('decisions are counted per rule and outcome', async () => {
    const admin = new AdminClient(weft.adminUrl);
    const allowed = await admin.metric('authz_requests_total{filter="authz",rule="allow-exact",outcome="allowed"}');
    await call(weft, '/exact');
    assert.equal(await admin.metric('authz_requests_total{filter="authz",rule="allow-exact",outcome="allowed"}'), allowed! + 1);
    const denied = await admin.metric('authz_requests_total{filter="authz",rule="(default)",outcome="denied"}');
    await call(weft, '/nowhere');
    assert.equal(await admin.metric('authz_requests_total{filter="authz",rule="(default)",outcome="denied"}'), denied! + 1);
  });

  test('default action allow: only the deny rules refuse', async () => {
    assertDenied(await call(allowByDefault, '/admin/users'), byRule('block-admin'), 'the blocked prefix');
    assertAllowed(await call(allowByDefault, '/anything/else'), 'everything else');
  });

  test('dry run lets what it would deny through, logs a warning and counts it', async () => {
    const before = upstream.requests.length;
    assertAllowed(await call(dryRun, '/admin/users'), 'would be denied by block-admin');
    assertAllowed(await call(dryRun, '/elsewhere'), 'would be denied by the default');
    assert.equal(upstream.requests.length, before + 2);
    await dryRun.waitForOutput((text) => text.includes('would deny GET /elsewhere'), 'the dry-run line for /elsewhere');
    const warnings = dryRun.logLines().filter((line) => line.filter === 'authz' && line.level === 40).map((line) => line.msg);
    assert.ok(warnings.includes('authz dry run: would deny GET /admin/users (rule "block-admin")'), JSON.stringify(warnings));
    assert.ok(warnings.includes('authz dry run: would deny GET /elsewhere (the default action)'), JSON.stringify(warnings));
    const admin = new AdminClient(dryRun.adminUrl);
    assert.equal(await admin.metric('authz_requests_total{filter="authz",rule="block-admin",outcome="dry_run_denied"}'), 1);
    assert.equal(dryRun.accessLog().find((entry) => entry.path === '/admin/users')?.flags, '');
  });
});

describe('authz configuration', () => {
  test('a configuration with mistakes stops weft run, naming each place', async () => {
    const upstreamless = [{ name: 'web', endpoints: ['127.0.0.1:9'] }];
    const result = await runWeftExpectingExit({
      clusters: upstreamless,
      filters: chain({
        default_action: 'maybe',
        rules: [
          { name: 'a', action: 'allow', paths: [{ prefix: '/x', glob: '/y' }], source_ips: ['10.0.0.0/33'] },
          { name: 'a', action: 'allow', methods: [], hosts: ['api.test:80'] },
          { name: 'has space', actoin: 'deny' },
          { name: 'c', action: 'deny', claims: [{ name: 'roles', equals: 1 }], headers: [{ name: 'x', exact: 'a', prefix: 'b' }], principals: ['spiffe://*/x'] },
        ],
      }),
    });
    assert.equal(result.code, 1);
    const output = result.stdout + result.stderr;
    for (const expected of [
      'default_action must be one of allow, deny, not "maybe"',
      'rules[0].paths[0] give exactly one of exact, prefix, glob',
      'rules[0].source_ips[0] "10.0.0.0/33" is not an IP address or CIDR block',
      'rules[1].name "a" is used by an earlier rule',
      'rules[1].methods must not be empty',
      'rules[1].hosts[0] "api.test:80" must not have a port',
      'rules[2].actoin is not a known field',
      'rules[2].name "has space" may only use letters, digits and _ - . : /',
      'rules[2].action is required (allow or deny)',
      'rules[3].claims[0].equals must be a string, not 1',
      'rules[3].headers[0] give exactly one of exact, prefix, present',
      'rules[3].principals[0] may have "*" only at its end',
    ]) {
      assert.ok(output.includes(expected), `missing "${expected}" in:\n${output}`);
    }
  });
});

describe('authz on address and path forms a host may give (ABI layer)', () => {
  let module: FilterModule;
  let host: TestVmHost;
  let vm: WasmVm;
  let nextContext = 2;

  before(async () => {
    module = await FilterModule.compile(readFileSync(authzModule));
    host = new TestVmHost();
    host.pluginName = 'authz';
    const config = {
      rules: [
        { name: 'v6-doc', action: 'allow', source_ips: ['2001:db8::/32'] },
        { name: 'v4-ten', action: 'allow', source_ips: ['10.0.0.0/8'] },
        { name: 'v4-mapped-block', action: 'allow', source_ips: ['::ffff:192.168.0.0/112'] },
        { name: 'admin-folder', action: 'deny', paths: [{ prefix: '/admin/' }, { exact: '/admin' }] },
        { name: 'dot-segments', action: 'deny', paths: [{ glob: '**/.**' }] },
        { name: 'many-wildcards', action: 'deny', paths: [{ glob: '/**a**a**a**a**a**a**b' }] },
        { name: 'rest', action: 'allow', paths: [{ glob: '/**' }] },
      ],
    };
    vm = await WasmVm.create(module, host, { vmConfig: new Uint8Array(), pluginConfig: Buffer.from(JSON.stringify(config)) });
  });
  after(() => vm?.destroy());

  /** Runs one request through the VM: the name of the rule that denied it, or "allowed". */
  function decide(path: string, sourceAddress: string | undefined): string {
    const stream = new TestStream();
    stream.maps[0] = new HeaderMap([':method', 'GET', ':path', path, ':authority', 'x.test']);
    if (sourceAddress !== undefined) stream.properties.set('source.address', encodeString(sourceAddress));
    const id = nextContext++;
    vm.createHttpContext(id, stream);
    vm.onRequestHeaders(id, 3, true);
    vm.onDone(id);
    vm.onDelete(id);
    const response = stream.localResponses[0];
    return response === undefined ? 'allowed' : Buffer.from(response.body).toString('utf8').trim();
  }

  test('IPv6 in every spelling, IPv4-mapped addresses, and addresses with a port', () => {
    const cases: Array<[string, string]> = [
      ['2001:db8::1', 'allowed'],
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', 'allowed'],
      ['[2001:db8::5]:443', 'allowed'],
      ['2001:db9::1', 'denied by rule "admin-folder"'],
      ['10.1.2.3', 'allowed'],
      ['10.1.2.3:5000', 'allowed'],
      ['0000:0000:0000:0000:0000:ffff:0a01:0203', 'allowed'], // 10.1.2.3 as a dual-stack listener reports it
      ['::ffff:10.9.9.9', 'allowed'],
      ['192.168.4.4', 'allowed'], // an IPv4 address in an IPv4-mapped IPv6 block
      ['11.0.0.1', 'denied by rule "admin-folder"'],
      ['fe80::1%eth0', 'denied by rule "admin-folder"'],
      ['not an address', 'denied by rule "admin-folder"'],
    ];
    for (const [address, expected] of cases) assert.equal(decide('/admin/x', address), expected, address);
    assert.equal(decide('/admin/x', undefined), 'denied by rule "admin-folder"', 'no source.address');
  });

  test('paths are normalised before matching', () => {
    const cases: Array<[string, string]> = [
      ['/admin', 'denied by rule "admin-folder"'],
      ['/admin?x=1', 'denied by rule "admin-folder"'],
      ['/public/../admin/x', 'denied by rule "admin-folder"'],
      ['//admin//x', 'denied by rule "admin-folder"'],
      ['/%61dmin/x', 'denied by rule "admin-folder"'],
      ['/%2e%2e/admin/', 'denied by rule "admin-folder"'],
      ['/./admin/.', 'denied by rule "admin-folder"'],
      ['/admin%2Fx', 'allowed'], // an encoded slash stays encoded: one segment "admin%2Fx"
      ['/administrator', 'allowed'],
      ['/a/b/../../../..', 'allowed'],
      ['/.env', 'denied by rule "dot-segments"'],
      ['/repo/.git/config', 'denied by rule "dot-segments"'],
      ['/repo/a.git/config', 'allowed'],
    ];
    for (const [path, expected] of cases) assert.equal(decide(path, '11.0.0.1'), expected, path);
  });

  test('a glob with many wildcards takes time in proportion to the path, not exponential time', () => {
    const path = `/${'a'.repeat(8000)}`;
    const started = performance.now();
    assert.equal(decide(path, '11.0.0.1'), 'allowed');
    assert.equal(decide(`${path}b`, '11.0.0.1'), 'denied by rule "many-wildcards"');
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `two decisions took ${elapsed.toFixed(0)} ms`);
  });

  test('no warnings or errors were logged along the way', () => {
    assert.deepEqual(host.messages(LogLevel.Warn), []);
    assert.deepEqual(host.messages(LogLevel.Error), []);
  });
});
