// The service registry through a real `weft run` and real upstreams: registration over the admin
// API, traffic by the host's round robin to registered instances, a missed TTL taking an instance
// out of traffic and a heartbeat bringing it back, removal after the grace period, subset
// clusters by version and metadata, refusals, registrations surviving a restart, and
// examples/register.sh doing the same from a shell; and two registries sharing one store (as two
// proxies share etcd) converging through its watch.
//
// Fixture filters: lb-control (x-endpoints-dump shows weft.cluster.<name>.endpoints as filters
// see it) and set-props (x-set-prop: weft.upstream.cluster=... picks a subset cluster).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ServiceRegistry } from '../host/discovery/service-registry.js';
import { Cluster } from '../host/proxy/clusters.js';
import { MemoryStore } from '../host/store/memory-store.js';
import { AdminClient } from './helpers/admin.js';
import { request } from './helpers/http.js';
import { fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const TTL_S = 1;
const GRACE_S = 2;

interface EndpointDump {
  address: string;
  healthy: boolean;
}

/** Heartbeats the instances it is told about every 300 ms (well inside a 1 s TTL), like a service would. */
class HeartbeatPump {
  private readonly ids = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private admin: AdminClient) {
    this.timer = setInterval(() => {
      for (const id of this.ids) void this.admin.call('PUT', `/services/reviews/instances/${id}/heartbeat`).catch(() => undefined);
    }, 300);
  }

  keep(id: string): void {
    this.ids.add(id);
  }

  drop(id: string): void {
    this.ids.delete(id);
  }

  /** Heartbeats go to another proxy from now on (after a restart). */
  retarget(admin: AdminClient): void {
    this.admin = admin;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

describe('the service registry', () => {
  let v1: EchoUpstream;
  let v2: EchoUpstream;
  let stateDir: string;
  let manifest: Record<string, unknown>;
  let weft: WeftProcess;
  let admin: AdminClient;
  let pump: HeartbeatPump;
  const ids: { v1?: string; v2?: string } = {};

  before(async () => {
    v1 = await EchoUpstream.start();
    v2 = await EchoUpstream.start();
    stateDir = mkdtempSync(path.join(tmpdir(), 'weft-discovery-'));
    manifest = {
      clusters: [
        { name: 'reviews', discovery: 'registry', service: 'reviews' },
        { name: 'reviews-v2', discovery: 'registry', service: 'reviews', version: 'v2' },
        { name: 'reviews-zone-b', discovery: 'registry', service: 'reviews', metadata: { zone: 'b' } },
      ],
      default_cluster: 'reviews',
      filters: [
        { name: 'lb-control', module: fixtureModule('lb-control') },
        { name: 'set-props', module: fixtureModule('set-props') },
      ],
      discovery: { grace_s: GRACE_S },
      store: { path: path.join(stateDir, 'state.json') },
      access_log: 'off',
      // One thread: the host's round robin (like Envoy's) is per worker thread, and these tests count its exact alternation.
      workers: 1,
    };
    weft = await startWeft(manifest);
    admin = new AdminClient(weft.adminUrl);
    pump = new HeartbeatPump(admin);
  });
  after(async () => {
    pump?.stop();
    await weft?.stop();
    await Promise.all([v1?.stop(), v2?.stop()]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  const register = (body: unknown, service = 'reviews') => admin.call('POST', `/services/${service}/instances`, { body: JSON.stringify(body) });
  const heartbeat = (id: string) => admin.call('PUT', `/services/reviews/instances/${id}/heartbeat`);

  /** Sends `count` requests (to `cluster` through set-props when given); how many each upstream got, and the statuses. */
  async function spread(count: number, cluster?: string): Promise<{ v1: number; v2: number; statuses: number[] }> {
    const before1 = v1.requests.length;
    const before2 = v2.requests.length;
    const statuses: number[] = [];
    const headers: Record<string, string> = cluster === undefined ? {} : { 'x-set-prop': `weft.upstream.cluster=${cluster}` };
    for (let i = 0; i < count; i++) statuses.push((await request(`${weft.url}/reviews/${i}`, { headers })).status);
    return { v1: v1.requests.length - before1, v2: v2.requests.length - before2, statuses };
  }

  /** weft.cluster.<cluster>.endpoints as a filter reads it. */
  async function endpoints(cluster: string): Promise<EndpointDump[]> {
    const reply = await request(`${weft.url}/dump`, { headers: { 'x-endpoints-dump': cluster } });
    assert.equal(reply.status, 200, reply.body);
    return JSON.parse(reply.body) as EndpointDump[];
  }

  async function instance(id: string): Promise<{ health: string; last_heartbeat: string } | undefined> {
    const reply = await admin.call('GET', '/services/reviews');
    assert.equal(reply.status, 200, reply.text);
    return (reply.json.instances as Array<{ id: string; health: string; last_heartbeat: string }>).find((item) => item.id === id);
  }

  test('bad registrations are refused with the reason; unknown instances are 404', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ address: '127.0.0.1' }, /^port: is required$/],
      [{ address: '127.0.0.1', port: 70000 }, /^port: must be an integer from 1 to 65535, not 70000$/],
      [{ address: '127.0.0.1', port: 0 }, /^port: must be an integer from 1 to 65535, not 0$/],
      [{ address: 'not an address', port: 80 }, /^address: "not an address" is not an IPv4 address or host name$/],
      [{ address: '10.0.0.1:80', port: 80 }, /give the port in "port"/],
      [{ address: '999.1.1.1', port: 80 }, /is not an IPv4 address or host name/],
      [{ address: '127.0.0.1', port: 80, ttl_s: 0 }, /^ttl_s: must be an integer from 1 to 86400 \(seconds\), not 0$/],
      [{ address: '127.0.0.1', port: 80, ttl_s: -5 }, /^ttl_s: must be an integer from 1 to 86400 \(seconds\), not -5$/],
      [{ address: '127.0.0.1', port: 80, zone: 'a', id: 'x' }, /^zone: unknown key; id: unknown key$/],
      [{ address: '127.0.0.1', port: 80, metadata: { zone: 1 } }, /^metadata\.zone: must be a string, not 1$/],
      [[1, 2], /^body: must be a mapping, not a list$/],
    ];
    for (const [body, reason] of cases) {
      const reply = await register(body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.match(reply.json.error, reason, JSON.stringify(body));
    }
    const notJson = await admin.call('POST', '/services/reviews/instances', { body: '{"address":' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error, /the body is not JSON/);
    const badService = await register({ address: '127.0.0.1', port: 80 }, 'a..b%2Fc');
    assert.equal(badService.status, 400);
    assert.match(badService.json.error, /^service: .* is not a valid service name/);

    const unknownService = await admin.call('PUT', '/services/ratings/instances/abc/heartbeat');
    assert.equal(unknownService.status, 404);
    assert.equal(unknownService.json.error, 'no service named "ratings"');
    const unknownInstance = await heartbeat('abc');
    assert.equal(unknownInstance.status, 404);
    assert.equal(unknownInstance.json.error, 'service "reviews" has no instance "abc"');
    assert.equal((await admin.call('DELETE', '/services/reviews/instances/abc')).status, 404);
    assert.equal((await admin.call('GET', '/services/ratings')).status, 404);
    // Nothing was registered by any of that.
    assert.deepEqual((await admin.call('GET', '/services/reviews')).json.instances, []);
  });

  test('registered instances get traffic by the host round robin, and show in GET /services', async () => {
    assert.deepEqual(await spread(2), { v1: 0, v2: 0, statuses: [503, 503] }, 'no instances yet: no healthy upstream');

    const first = await register({ address: '127.0.0.1', port: v1.port, version: 'v1', metadata: { zone: 'a' }, ttl_s: TTL_S });
    assert.equal(first.status, 201, first.text);
    const second = await register({ address: '127.0.0.1', port: v2.port, version: 'v2', metadata: { zone: 'b' }, ttl_s: TTL_S, weight: 1 });
    assert.equal(second.status, 201, second.text);
    ids.v1 = first.json.id as string;
    ids.v2 = second.json.id as string;
    assert.match(ids.v1, /^[0-9a-f]{16}$/);
    assert.notEqual(ids.v1, ids.v2);
    pump.keep(ids.v1);
    pump.keep(ids.v2);

    // Equal weights: the smooth round robin alternates.
    assert.deepEqual(await spread(10), { v1: 5, v2: 5, statuses: Array(10).fill(200) });

    const listed = await admin.call('GET', '/services');
    assert.equal(listed.status, 200);
    const [reviews] = listed.json.services;
    assert.equal(reviews.service, 'reviews');
    assert.equal(reviews.healthy, 2);
    assert.deepEqual(reviews.clusters, ['reviews', 'reviews-v2', 'reviews-zone-b']);
    const shown = reviews.instances.find((item: { id: string }) => item.id === ids.v1);
    assert.deepEqual(
      { ...shown, registered_at: 'x', last_heartbeat: 'x', expires_at: 'x', removal_at: 'x' },
      { id: ids.v1, address: '127.0.0.1', port: v1.port, version: 'v1', weight: 1, metadata: { zone: 'a' }, ttl_s: TTL_S, health: 'healthy', registered_at: 'x', last_heartbeat: 'x', expires_at: 'x', removal_at: 'x' },
    );
    assert.ok(Date.now() - Date.parse(shown.last_heartbeat) < 1000, `last heartbeat ${shown.last_heartbeat} is recent`);

    const dump = await endpoints('reviews');
    assert.deepEqual(dump.map(({ address, healthy }) => ({ address, healthy })).sort((a, b) => a.address.localeCompare(b.address)), [
      { address: `127.0.0.1:${v1.port}`, healthy: true },
      { address: `127.0.0.1:${v2.port}`, healthy: true },
    ].sort((a, b) => a.address.localeCompare(b.address)));

    // The same address registering again replaces its registration and keeps its id.
    const again = await register({ address: '127.0.0.1', port: v1.port, version: 'v1', metadata: { zone: 'a' }, ttl_s: TTL_S });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.id, ids.v1);
    assert.equal((await admin.call('GET', '/services/reviews')).json.instances.length, 2);
  });

  test('subset clusters send only to their version or metadata', async () => {
    assert.deepEqual(await spread(6, 'reviews-v2'), { v1: 0, v2: 6, statuses: Array(6).fill(200) });
    assert.deepEqual(await spread(6, 'reviews-zone-b'), { v1: 0, v2: 6, statuses: Array(6).fill(200) });
    assert.deepEqual((await endpoints('reviews-v2')).map((e) => e.address), [`127.0.0.1:${v2.port}`]);
  });

  test('an instance that misses its TTL gets no traffic within TTL + 1 s; a heartbeat brings it back', async () => {
    pump.drop(ids.v1!);
    const last = await heartbeat(ids.v1!);
    assert.equal(last.status, 200, last.text);
    assert.equal(last.json.health, 'healthy');
    const lastHeartbeatAt = Date.parse(last.json.last_heartbeat);
    await sleep(lastHeartbeatAt + (TTL_S + 1) * 1000 - Date.now());

    assert.deepEqual(await spread(6), { v1: 0, v2: 6, statuses: Array(6).fill(200) });
    assert.equal((await instance(ids.v1!))?.health, 'unhealthy');
    const flagged = (await endpoints('reviews')).find((e) => e.address === `127.0.0.1:${v1.port}`);
    assert.equal(flagged?.healthy, false, 'flagged unhealthy in weft.cluster.reviews.endpoints');
    await weft.waitForOutput((text) => text.includes('instance missed its heartbeat'), 'the expiry log line');

    const back = await heartbeat(ids.v1!);
    assert.equal(back.status, 200);
    assert.equal(back.json.health, 'healthy');
    pump.keep(ids.v1!);
    assert.deepEqual(await spread(10), { v1: 5, v2: 5, statuses: Array(10).fill(200) });
    assert.equal((await instance(ids.v1!))?.health, 'healthy');
  });

  test('after the grace period an instance is removed; deregistering removes at once', async () => {
    pump.drop(ids.v1!);
    const last = await heartbeat(ids.v1!);
    const lastHeartbeatAt = Date.parse(last.json.last_heartbeat);
    while ((await instance(ids.v1!)) !== undefined) {
      assert.ok(Date.now() < lastHeartbeatAt + (TTL_S + GRACE_S + 1) * 1000, 'removed within TTL + grace (+1 s)');
      await sleep(100);
    }
    assert.ok(Date.now() >= lastHeartbeatAt + (TTL_S + GRACE_S) * 1000, 'not removed before TTL + grace');
    assert.equal((await heartbeat(ids.v1!)).status, 404);
    assert.deepEqual((await endpoints('reviews')).map((e) => e.address), [`127.0.0.1:${v2.port}`]);
    await weft.waitForOutput((text) => text.includes('instance removed: no heartbeat within its TTL and grace period'), 'the removal log line');

    const extra = await register({ address: 'localhost', port: 9, ttl_s: 60 });
    assert.equal(extra.status, 201);
    const deleted = await admin.call('DELETE', `/services/reviews/instances/${extra.json.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(await instance(extra.json.id), undefined);
    assert.equal((await admin.call('DELETE', `/services/reviews/instances/${extra.json.id}`)).status, 404);
    await weft.waitForOutput((text) => text.includes('"msg":"instance deregistered"'), 'the deregistration log line');
  });

  test('registrations survive a restart of the proxy', async () => {
    // A TTL longer than a restart takes (a restored instance's clock starts at the restore, before
    // the admin API listens again); registering the same address again keeps the id.
    const longer = await register({ address: '127.0.0.1', port: v2.port, version: 'v2', metadata: { zone: 'b' }, ttl_s: 10 });
    assert.equal(longer.json.id, ids.v2);
    await weft.stop();
    weft = await startWeft(manifest);
    admin = new AdminClient(weft.adminUrl);
    pump.retarget(admin);

    const restored = await instance(ids.v2!);
    assert.equal(restored?.health, 'healthy', 'restored, its TTL clock restarted');
    assert.deepEqual(await spread(4), { v1: 0, v2: 4, statuses: Array(4).fill(200) });
    await weft.waitForOutput((text) => text.includes('instances restored from the store'), 'the restore log line');
  });

  test('examples/register.sh registers, heartbeats every ttl/3 and deregisters on exit', async () => {
    const script = spawn('bash', [path.join(repoRoot, 'examples', 'register.sh'), 'reviews', '127.0.0.1', String(v1.port)], {
      env: { ...process.env, WEFT_ADMIN_URL: weft.adminUrl, TTL_S: String(TTL_S), INSTANCE_VERSION: 'v1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    script.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    script.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolveExit) => script.once('close', resolveExit));
    try {
      const deadline = Date.now() + 5000;
      while (!/registered reviews instance/.test(output)) {
        assert.ok(Date.now() < deadline, `register.sh did not register: ${output}`);
        await sleep(50);
      }
      const id = /instance ([0-9a-f]{16})/.exec(output)![1]!;
      await sleep((TTL_S * 2 + 0.5) * 1000);
      assert.equal((await instance(id))?.health, 'healthy', 'its heartbeats kept it healthy past two TTLs');
      const spreadWithScript = await spread(4);
      assert.equal(spreadWithScript.v1, 2, 'the instance it registered gets its share');

      script.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.match(output, /deregistered reviews instance/);
      assert.equal(await instance(id), undefined, 'deregistered on exit');
    } finally {
      script.kill('SIGKILL');
    }
  });
});

describe('registries sharing a store', () => {
  const subset = { service: 'reviews', metadata: {} };
  const spec = { default_ttl_s: 15, grace_s: 60, allowed_networks: [], max_instances_per_service: 1000 };
  const logger = pino({ enabled: false });
  const newCluster = () => new Cluster({ name: 'reviews', endpoints: [], discovery: subset, connect_timeout_ms: 1000, timeout_ms: 1000 });
  const addresses = (cluster: Cluster) => cluster.endpoints.map((e) => `${e.address} w${e.weight} ${e.healthy ? 'healthy' : 'unhealthy'}`);

  test('a registration through one is served by the other, and so is its removal', async () => {
    const store = MemoryStore.inMemory();
    const clusters = [newCluster(), newCluster(), newCluster()];
    const start = (cluster: Cluster) => ServiceRegistry.start({ store, feeds: [{ name: 'reviews', subset, cluster }], spec, logger });
    const [first, second] = [await start(clusters[0]!), await start(clusters[1]!)];
    let late: ServiceRegistry | undefined;
    try {
      const { id } = await first.register('reviews', { address: '127.0.0.1', port: 7001, weight: 3, metadata: {}, ttl_s: 15 }, 'test');
      await sleep(10);
      assert.deepEqual(addresses(clusters[1]!), ['127.0.0.1:7001 w3 healthy']);
      assert.equal(second.service('reviews')?.instances[0]?.id, id);

      // A registry that starts later finds it in the store.
      late = await start(clusters[2]!);
      assert.deepEqual(addresses(clusters[2]!), ['127.0.0.1:7001 w3 healthy']);

      assert.deepEqual(await second.deregister('reviews', id, 'test'), { found: true, value: undefined });
      await sleep(10);
      for (const cluster of clusters) assert.deepEqual(addresses(cluster), []);
      assert.deepEqual(first.service('reviews')?.instances, []);
    } finally {
      for (const registry of [first, second, late]) registry?.stop();
      await Promise.all(clusters.map((cluster) => cluster.close()));
      await store.close();
    }
  });
});
