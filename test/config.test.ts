// The manifest loader: normalisation, defaults, ${ENV} expansion, and the exact wording of
// problems (the CLI test checks the same messages end to end through `weft validate`).

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadManifest } from '../host/config/load.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'weft-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function load(text: string, env: NodeJS.ProcessEnv = {}, extension = 'yaml') {
  const file = path.join(dir, `manifest-${fileCount++}.${extension}`);
  await writeFile(file, text);
  return loadManifest(file, env);
}

async function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const result = await load(text, env);
  assert.equal(result.ok, false, 'expected the manifest to be refused');
  return result.ok ? [] : result.errors;
}

const MINIMAL = `listen: 127.0.0.1:8080
clusters:
  - name: web
    endpoints: [127.0.0.1:3001]
`;

describe('a valid manifest', () => {
  test('the documented example normalises to addresses, absolute paths and JSON config', async () => {
    const result = await load(
      `listen: 127.0.0.1:8080
admin: { listen: 127.0.0.1:9901, token: \${WEFT_ADMIN_TOKEN} }
clusters:
  - name: web
    endpoints: [127.0.0.1:3001, { address: 127.0.0.1:3002, weight: 3 }]
    connect_timeout_ms: 1000
    timeout_ms: 15000
default_cluster: web
filters:
  - name: hello
    module: ./examples/hello-filter/build/hello.wasm
    sha256: 3F9A${'0'.repeat(60)}
    config: { greeting: hi }
    root_id: hello
    vm_config: ""
    on_error: fail_closed
store: { kind: file, path: ./weft-state.json }
`,
      { WEFT_ADMIN_TOKEN: 's3cret: {not yaml}' },
    );
    assert.deepEqual(result, {
      ok: true,
      manifest: {
        listen: { host: '127.0.0.1', port: 8080 },
        admin: { host: '127.0.0.1', port: 9901, token: 's3cret: {not yaml}', auth: 'token', token_file: path.join(dir, 'admin.token'), allowed_hosts: [] },
        clusters: [
          {
            name: 'web',
            endpoints: [
              { host: '127.0.0.1', port: 3001, weight: 1 },
              { host: '127.0.0.1', port: 3002, weight: 3 },
            ],
            connect_timeout_ms: 1000,
            timeout_ms: 15000,
          },
        ],
        default_cluster: 'web',
        filters: [
          {
            name: 'hello',
            module: path.join(dir, 'examples/hello-filter/build/hello.wasm'),
            sha256: `3f9a${'0'.repeat(60)}`,
            config: '{"greeting":"hi"}',
            root_id: 'hello',
            vm_config: '',
            on_error: 'fail_closed',
          },
        ],
        chains: {},
        routes: [],
        registry: { max_module_bytes: 16 * 1024 * 1024, trusted_keys: [] },
        store: { kind: 'file', path: path.join(dir, 'weft-state.json') },
        discovery: { default_ttl_s: 15, grace_s: 60, allowed_networks: [], max_instances_per_service: 1000 },
        tracing: { exporter: 'off', endpoint: 'http://localhost:4318/v1/traces', service_name: 'weft', sample_ratio: 1 },
        access_log: 'stdout',
        log_level: 'info',
        limits: { max_request_headers_kb: 60, max_buffered_body_bytes: 1048576, max_http_call_response_bytes: 1048576, drain_timeout_ms: 10000 },
        http: { normalize_path: true, merge_slashes: true, escaped_slashes: 'reject', xff_trusted_hops: 0, identity_headers: ['x-consumer', 'x-weft-*'] },
        workers: 'auto',
      },
    });
  });

  test('a minimal manifest gets every default', async () => {
    const result = await load(`${MINIMAL}filters:\n  - { name: f1, module: /abs/f1.wasm }\n`);
    assert.ok(result.ok);
    const { manifest } = result;
    // No token in the manifest: `weft run` makes one, kept beside the store's file.
    assert.deepEqual(manifest.admin, { host: '127.0.0.1', port: 9901, auth: 'token', token_file: path.join(dir, 'admin.token'), allowed_hosts: [] });
    assert.equal(manifest.default_cluster, 'web', 'the only cluster is the default');
    assert.deepEqual(manifest.clusters[0], {
      name: 'web',
      endpoints: [{ host: '127.0.0.1', port: 3001, weight: 1 }],
      connect_timeout_ms: 1000,
      timeout_ms: 15000,
    });
    assert.deepEqual(manifest.filters, [
      { name: 'f1', module: '/abs/f1.wasm', config: '', root_id: 'f1', vm_config: '', on_error: 'fail_closed' },
    ]);
    assert.deepEqual(manifest.store, { kind: 'file', path: path.join(dir, 'weft-state.json') });
    assert.equal(manifest.access_log, 'stdout');
    assert.equal(manifest.log_level, 'info');
    assert.deepEqual(manifest.limits, { max_request_headers_kb: 60, max_buffered_body_bytes: 1048576, max_http_call_response_bytes: 1048576, drain_timeout_ms: 10000 });
  });

  test('JSON is accepted', async () => {
    const result = await load(
      JSON.stringify({ listen: '[::1]:8080', clusters: [{ name: 'a', endpoints: ['svc-a.internal:80'] }], access_log: 'off' }),
      {},
      'json',
    );
    assert.ok(result.ok);
    assert.deepEqual(result.manifest.listen, { host: '::1', port: 8080 });
    assert.deepEqual(result.manifest.clusters[0]!.endpoints, [{ host: 'svc-a.internal', port: 80, weight: 1 }]);
    assert.equal(result.manifest.access_log, 'off');
  });

  test('workers: auto by default, a count, or a digit string', async () => {
    const plain = await load(MINIMAL);
    assert.ok(plain.ok);
    assert.equal(plain.manifest.workers, 'auto');
    for (const [text, workers] of [['auto', 'auto'], ['1', 1], ['4', 4], ['"2"', 2]] as const) {
      const result = await load(`${MINIMAL}workers: ${text}\n`);
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.manifest.workers, workers);
    }
    for (const text of ['0', 'many', '1.5', '[2]']) assert.deepEqual(await errorsOf(`${MINIMAL}workers: ${text}\n`), [`workers: must be auto or an integer >= 1, not ${text === 'many' ? '"many"' : text === '[2]' ? 'a list' : text}`]);
  });

  test('listen.engine forces the plain listener engine; absent means auto', async () => {
    for (const engine of ['auto', 'uws', 'node'] as const) {
      const result = await load(MINIMAL.replace('listen: 127.0.0.1:8080', `listen: { address: 127.0.0.1:8080, engine: ${engine} }`));
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(result.manifest.listen, { host: '127.0.0.1', port: 8080, engine });
    }
    const plain = await load(MINIMAL);
    assert.ok(plain.ok);
    assert.equal(plain.manifest.listen.engine, undefined);
  });

  test('a list config is JSON text, a string config is kept as written', async () => {
    const result = await load(`${MINIMAL}filters:
  - { name: a, module: a.wasm, config: [1, "two"], vm_config: { x: 1 } }
  - { name: b, module: b.wasm, config: "plain text", root_id: other }
`);
    assert.ok(result.ok);
    assert.equal(result.manifest.filters[0]!.config, '[1,"two"]');
    assert.equal(result.manifest.filters[0]!.vm_config, '{"x":1}');
    assert.equal(result.manifest.filters[1]!.config, 'plain text');
    assert.equal(result.manifest.filters[1]!.root_id, 'other');
  });

  test('a token that is empty means no token', async () => {
    const result = await load(`${MINIMAL}admin: { token: "\${UNSET_TOKEN:-}" }\n`);
    assert.ok(result.ok);
    assert.deepEqual(result.manifest.admin, { host: '127.0.0.1', port: 9901, auth: 'token', token_file: path.join(dir, 'admin.token'), allowed_hosts: [] });
  });

  test('a store without kind is the file store', async () => {
    const result = await load(`${MINIMAL}store: { path: state/s.json }\n`);
    assert.ok(result.ok);
    assert.deepEqual(result.manifest.store, { kind: 'file', path: path.join(dir, 'state/s.json') });
  });
});

describe('${ENV} expansion', () => {
  test('variables expand inside strings, numbers come from digit strings, defaults apply when unset', async () => {
    const result = await load(
      `listen: \${HOST:-127.0.0.1}:\${PORT}
clusters:
  - name: web
    endpoints: ["\${UPSTREAM}"]
    timeout_ms: \${TIMEOUT_MS}
`,
      { PORT: '8081', UPSTREAM: '10.0.0.1:80', TIMEOUT_MS: '2500' },
    );
    assert.ok(result.ok);
    assert.deepEqual(result.manifest.listen, { host: '127.0.0.1', port: 8081 });
    assert.deepEqual(result.manifest.clusters[0]!.endpoints, [{ host: '10.0.0.1', port: 80, weight: 1 }]);
    assert.equal(result.manifest.clusters[0]!.timeout_ms, 2500);
  });

  test('a value cannot change the structure of the manifest', async () => {
    const result = await load(`${MINIMAL}admin: { token: \${T} }\n`, { T: 'a, listen: 0.0.0.0:1 }' });
    assert.ok(result.ok);
    assert.equal(result.manifest.admin.token, 'a, listen: 0.0.0.0:1 }');
    assert.equal(result.manifest.admin.port, 9901);
  });

  test('every unset variable is named with its field, and nothing else is said about that field', async () => {
    assert.deepEqual(
      await errorsOf(`listen: 127.0.0.1:\${NO_PORT}
admin: { token: \${NO_TOKEN} }
clusters: [{ name: web, endpoints: ["\${NO_UPSTREAM}"] }]
`),
      [
        'listen: environment variable NO_PORT is not set (write ${NO_PORT:-default} to give a default)',
        'admin.token: environment variable NO_TOKEN is not set (write ${NO_TOKEN:-default} to give a default)',
        'clusters[0].endpoints[0]: environment variable NO_UPSTREAM is not set (write ${NO_UPSTREAM:-default} to give a default)',
      ],
    );
  });

  test('a syntax error is placed in the text as written, not in the substituted text', async () => {
    // The reference before the error is replaced by a longer placeholder while parsing.
    assert.deepEqual(await errorsOf('listen: ${A_VERY_LONG_VARIABLE_NAME}\nclusters: [}\n'), [
      'syntax error at 2:12: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });
});

describe('problems, one line each, naming the field', () => {
  test('wrong types and missing keys', async () => {
    assert.deepEqual(await errorsOf('admin: 5\nclusters: x\nfilters: [{}]\n'), [
      'listen: is required',
      'admin: must be a mapping, not 5',
      'clusters: must be a list, not "x"',
      'filters[0].name: is required',
      'filters[0].module: is required',
    ]);
  });

  test('a manifest that is not a mapping', async () => {
    assert.deepEqual(await errorsOf(''), ['manifest: must be a mapping, not null']);
    assert.deepEqual(await errorsOf('- a\n- b\n'), ['manifest: must be a mapping, not a list']);
  });

  test('endpoints in either form', async () => {
    assert.deepEqual(
      await errorsOf(`listen: 127.0.0.1:8080
clusters:
  - name: web
    endpoints: [5, { address: nohost }, { address: "a:1", weight: 0, zone: x }, "[::1]:0"]
  - name: empty
    endpoints: []
`),
      [
        'clusters[0].endpoints[0]: 5 is not host:port or {address, weight}',
        'clusters[0].endpoints[1].address: "nohost" is not host:port',
        'clusters[0].endpoints[2].weight: must be an integer >= 1, not 0',
        'clusters[0].endpoints[2].zone: unknown key',
        'clusters[0].endpoints[3]: port 0 is out of range (1-65535)',
        'clusters[1].endpoints: must list at least one endpoint',
      ],
    );
  });

  test('names, enums, numbers, pins and store kinds', async () => {
    assert.deepEqual(
      await errorsOf(`listen: 127.0.0.1:8080
clusters: [{ name: "a.b", endpoints: [a:1], timeout_ms: -5 }]
filters:
  - { name: f, module: "", sha256: abc, config: 42 }
store: { kind: consul }
access_log: file
log_level: loud
limits: { drain_timeout_ms: 1.5 }
`),
      [
        'clusters[0].name: "a.b" is not a valid name (use letters, digits, "_" and "-")',
        'clusters[0].timeout_ms: must be an integer >= 1, not -5',
        'filters[0].module: must not be empty',
        'filters[0].sha256: must be 64 hex digits',
        'filters[0].config: must be a string, a mapping or a list, not 42',
        'store.kind: must be file or etcd',
        'access_log: must be stdout or off',
        'log_level: must be one of: fatal, error, warn, info, debug, trace, silent',
        'limits.drain_timeout_ms: must be an integer >= 0, not 1.5',
      ],
    );
  });

  test('listen.engine: an unknown engine, and uws on a TLS listener', async () => {
    const unknown = await errorsOf(MINIMAL.replace('listen: 127.0.0.1:8080', 'listen: { address: 127.0.0.1:8080, engine: fast }'));
    assert.equal(unknown.length, 1, unknown.join('\n'));
    assert.match(unknown[0]!, /^listen/);
    const tls = await errorsOf(MINIMAL.replace('listen: 127.0.0.1:8080', `listen: { address: 127.0.0.1:8443, engine: uws, tls: { cert: ${JSON.stringify(dir)}, key: ${JSON.stringify(dir)} } }`));
    assert.equal(tls.length, 1, tls.join('\n'));
    assert.match(tls[0]!, /engine: uws serves plain HTTP only; TLS listeners run on node:https/);
  });

  test('listen.protocols and a cluster protocol that does not fit its TLS', async () => {
    const listener = await errorsOf(MINIMAL.replace('listen: 127.0.0.1:8080', 'listen: { address: 127.0.0.1:8080, engine: uws, protocols: [h2, h2] }'));
    assert.equal(listener.length, 2, listener.join('\n'));
    assert.match(listener.join('\n'), /protocols lists each protocol once/);
    assert.match(listener.join('\n'), /engine: uws has no HTTP\/2; h2 listeners run on node:http2/);
    assert.deepEqual(
      await errorsOf(`listen: 127.0.0.1:8080
default_cluster: a
clusters:
  - { name: a, protocol: h2, endpoints: [a:1] }
  - { name: b, protocol: h2c, tls: {}, endpoints: [b:1] }
  - { name: c, protocol: h3, endpoints: [c:1] }
`),
      [
        'clusters[0].protocol: h2 is HTTP/2 over TLS and needs tls; h2c is HTTP/2 without TLS and takes none',
        'clusters[1].protocol: h2 is HTTP/2 over TLS and needs tls; h2c is HTTP/2 without TLS and takes none',
        'clusters[2].protocol: must be one of: http1, h2, h2c',
      ],
    );
  });

  test('several clusters need a default_cluster', async () => {
    assert.deepEqual(await errorsOf('listen: a:1\nclusters: [{ name: a, endpoints: [a:1] }, { name: b, endpoints: [b:1] }]\n'), [
      'default_cluster: is required when there are several clusters (clusters: a, b)',
    ]);
  });

  test('the file itself', async () => {
    const missing = path.join(dir, 'nope.yaml');
    assert.deepEqual(await loadManifest(missing, {}), { ok: false, errors: [`${missing}: no such file`] });
  });
});

describe('overload protection settings', () => {
  test('adaptive_concurrency: {} is Envoy\'s defaults; circuit breakers and overload as given', async () => {
    const result = await load(`${MINIMAL}    adaptive_concurrency: {}
    circuit_breakers: { max_requests: 100 }
overload:
  shed_requests: { event_loop_delay_ms: 200 }
`);
    assert.equal(result.ok, true, JSON.stringify(result));
    if (!result.ok) return;
    const cluster = result.manifest.clusters[0]!;
    assert.deepEqual(cluster.adaptive_concurrency, {
      buffer_percent: 25,
      min_concurrency: 3,
      max_concurrency: 1000,
      min_rtt_interval_ms: 60_000,
      min_rtt_request_count: 50,
      jitter_percent: 15,
      update_interval_ms: 100,
      sample_percentile: 50,
    });
    assert.deepEqual(cluster.circuit_breakers, { max_requests: 100 });
    assert.deepEqual(result.manifest.overload, { refresh_interval_ms: 250, shed_requests: { event_loop_delay_ms: 200, share_percent: 50, retry_after_s: 1 } });
    const plain = await load(MINIMAL);
    assert.ok(plain.ok && !('overload' in plain.manifest) && !('adaptive_concurrency' in plain.manifest.clusters[0]!), 'absent stays absent');
  });

  test('mistakes are named', async () => {
    assert.deepEqual(
      await errorsOf(`${MINIMAL}    adaptive_concurrency: { min_concurrency: 50, max_concurrency: 10, sample_percentile: 0, routes: [] }
    circuit_breakers: { max_requests: 0, max_conections: 5 }
overload:
  stop_keepalive: {}
  shed_requests: { heap_used_mb: 100, share_percent: 150 }
  drop_everything: { event_loop_delay_ms: 1 }
`),
      [
        'clusters[0].circuit_breakers.max_requests: must be an integer >= 1, not 0',
        'clusters[0].circuit_breakers.max_conections: unknown key',
        'clusters[0].adaptive_concurrency.sample_percentile: must be a number above 0 and up to 100, not 0',
        'clusters[0].adaptive_concurrency.routes: must name at least one route (leave routes out to limit every request)',
        'clusters[0].adaptive_concurrency.min_concurrency: must not be above max_concurrency',
        'overload.stop_keepalive: needs event_loop_delay_ms or heap_used_mb (or both): when to act',
        'overload.shed_requests.share_percent: must be a number above 0 and up to 100, not 150',
        'overload.drop_everything: unknown key',
      ],
    );
    assert.deepEqual(await errorsOf(`${MINIMAL}    adaptive_concurrency: { min_concurrency: 50, max_concurrency: 10 }\n`), [
      'clusters[0].adaptive_concurrency.min_concurrency: must not be above max_concurrency',
    ]);
  });
});
