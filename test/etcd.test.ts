// The etcd store on a real etcd (Debian's etcd-server, started here on loopback with a temp data
// dir): the store contract every store keeps (store-suite.ts), what is particular to etcd
// (values in chunks, leases, losing etcd and catching up through a compaction), and a fleet of
// three real `weft run` proxies on one etcd: convergence, instances under leases heartbeated
// through any proxy, etcd going away and coming back, and racing conditional changes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { parseManifest } from '../host/config/load.js';
import type { EtcdStoreSpec } from '../host/config/schema.js';
import { EtcdStore } from '../host/store/etcd-store.js';
import type { StoreEvent } from '../host/store/store.js';
import { AdminClient } from './helpers/admin.js';
import { EtcdServer } from './helpers/etcd.js';
import { eventually } from './helpers/eventually.js';
import { header, request } from './helpers/http.js';
import { TestCa } from './helpers/pki.js';
import { freePort } from './helpers/ports.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';
import { storeSuite } from './store-suite.js';

const text = (value: string) => new TextEncoder().encode(value);
const read = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

describe('store: {kind: etcd} in the manifest', () => {
  const parse = (store: string, env: NodeJS.ProcessEnv = {}) =>
    parseManifest(`listen: 127.0.0.1:8080\nclusters: [{ name: web, endpoints: [127.0.0.1:3001] }]\nstore: ${store}\n`, { baseDir: '/etc/weft', env });

  test('endpoints become URLs; prefix, timeout and the password (from the environment) are kept', () => {
    const result = parse('{ kind: etcd, endpoints: [127.0.0.1:2379, "https://etcd-2.internal:2379"], prefix: /mesh/, auth: { username: weft, password: "${ETCD_PASSWORD}" } }', {
      ETCD_PASSWORD: 's3cret',
    });
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.manifest.store, {
      kind: 'etcd',
      endpoints: ['http://127.0.0.1:2379', 'https://etcd-2.internal:2379'],
      prefix: '/mesh',
      timeout_ms: 3000,
      auth: { username: 'weft', password: 's3cret' },
    });
  });

  test('with tls, a bare host:port is https and paths resolve against the manifest', () => {
    const result = parse('{ kind: etcd, endpoints: [etcd:2379], tls: { ca: certs/ca.crt, cert: certs/weft.crt, key: certs/weft.key } }');
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.manifest.store, {
      kind: 'etcd',
      endpoints: ['https://etcd:2379'],
      prefix: '/weft',
      timeout_ms: 3000,
      tls: { ca: '/etc/weft/certs/ca.crt', cert: '/etc/weft/certs/weft.crt', key: '/etc/weft/certs/weft.key' },
    });
  });

  test('refusals, one line each', () => {
    const errors = (store: string) => {
      const result = parse(store);
      return result.ok ? [] : result.errors;
    };
    assert.deepEqual(errors('{ kind: etcd }'), ['store.endpoints: is required']);
    assert.deepEqual(errors('{ kind: etcd, endpoints: [] }'), ['store.endpoints: must list at least one etcd endpoint']);
    assert.deepEqual(errors('{ kind: etcd, endpoints: [localhost, "ftp://a:1", "http://a:1/v3"] }'), [
      'store.endpoints[0]: "localhost" is not host:port or http(s)://host:port',
      'store.endpoints[1]: "ftp://a:1" is not host:port or http(s)://host:port',
      'store.endpoints[2]: "http://a:1/v3" is not host:port or http(s)://host:port',
    ]);
    assert.deepEqual(errors('{ kind: etcd, endpoints: [a:1], prefix: weft }'), [
      'store.prefix: "weft" is not a key prefix like /weft (a "/", then letters, digits, ".", "_", "-", "/")',
    ]);
    assert.deepEqual(errors('{ kind: etcd, endpoints: ["http://a:1"], tls: { cert: c.pem } }'), ['store.tls: cert and key go together']);
    assert.deepEqual(errors('{ kind: etcd, endpoints: ["http://a:1"], tls: { ca: ca.pem } }'), [
      'store.endpoints[0]: http://a:1 is plain http, but tls is set (use https:// or host:port)',
    ]);
  });

  test('weft run refuses to start without etcd, saying which and why', async () => {
    const port = await freePort();
    const started = Date.now();
    const { code, stderr } = await runWeftExpectingExit({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:1'] }],
      store: { kind: 'etcd', endpoints: [`127.0.0.1:${port}`], timeout_ms: 500 },
    });
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`store: cannot connect: etcd \\(http://127\\.0\\.0\\.1:${port}\\) cannot be reached: .*ECONNREFUSED`));
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });
});

describe('the etcd store', () => {
  let etcd: EtcdServer;
  let direct: Etcd3;
  let count = 0;
  before(async () => {
    etcd = await EtcdServer.start();
    direct = etcd.client();
  });
  after(async () => {
    direct?.close();
    await etcd?.stop();
  });

  const specFor = (prefix: string): EtcdStoreSpec => ({ kind: 'etcd', endpoints: [etcd.endpoint], prefix, timeout_ms: 1500 });
  const removePrefix = async (prefix: string) => {
    await direct.delete().prefix(`${prefix}/`);
    await direct.delete().prefix(`${prefix}.chunks/`);
  };

  storeSuite('etcd', async () => {
    const prefix = `/suite-${count++}`;
    const subject = {
      store: (await EtcdStore.open(specFor(prefix))) as EtcdStore,
      async reopen() {
        await subject.store.close();
        return EtcdStore.open(specFor(prefix));
      },
      cleanup: () => removePrefix(prefix),
    };
    return subject;
  });

  test('a value larger than one etcd request is kept in chunks, read whole, and its chunks go with it', async () => {
    const prefix = `/big-${count++}`;
    const store = await EtcdStore.open(specFor(prefix));
    const chunkKeys = async () => (await direct.getAll().prefix(`${prefix}.chunks/`).keys()).length;
    try {
      // What etcd itself refuses (its default request limit is 1.5 MiB)...
      await assert.rejects(direct.put(`${prefix}/raw`).value(Buffer.alloc(1600 * 1024)).exec(), /request is too large/);
      // ...goes through the store.
      const big = randomBytes(5 * 1024 * 1024 + 17);
      const events: StoreEvent[] = [];
      const watch = store.watch('modules/', (batch) => events.push(...batch));
      const put = await store.put('modules/big', big);
      assert.ok(put.ok);
      assert.deepEqual(Buffer.from((await store.get('modules/big'))!.value), big);
      assert.equal(await chunkKeys(), 6, 'five whole MiB and a bit');
      const stored = await direct.get(`${prefix}/modules/big`).buffer();
      assert.ok(stored!.length < 200 && stored!.includes('weft-chunks'), 'the key holds a reference');

      const smaller = randomBytes(3 * 1024 * 1024);
      const replaced = await store.put('modules/big', smaller, { ifRevision: put.revision });
      assert.ok(replaced.ok);
      assert.equal(await chunkKeys(), 3, 'the replaced value took its chunks with it');
      assert.deepEqual(Buffer.from((await store.list('modules/'))[0]!.value), smaller);
      await eventually(async () => events.length, (n) => n === 2, 'watch events');
      assert.deepEqual(Buffer.from(events[0]!.value!), big, 'a watcher gets whole values');
      assert.deepEqual(Buffer.from(events[1]!.value!), smaller);

      assert.ok((await store.delete('modules/big')).ok);
      assert.equal(await chunkKeys(), 0);
      watch.close();
    } finally {
      await store.close();
      await removePrefix(prefix);
    }
  });

  test('a key under a lease goes when nobody keeps the lease alive, and every watcher sees it go', async () => {
    const prefix = `/lease-${count++}`;
    const store = await EtcdStore.open(specFor(prefix));
    const other = await EtcdStore.open(specFor(prefix));
    try {
      const seen: StoreEvent[] = [];
      const watch = other.watch('inst/', (batch) => seen.push(...batch));
      const kept = await store.leases.putWithLease('inst/kept', text('k'), 1);
      const dropped = await store.leases.putWithLease('inst/dropped', text('d'), 1);
      assert.equal((await other.get('inst/kept'))?.leaseId, kept.leaseId, 'the lease is part of the entry');
      const started = Date.now();
      while (Date.now() - started < 2500) {
        assert.equal(await other.leases.keepAlive(kept.leaseId), true, 'kept alive through another store');
        await sleep(300);
      }
      assert.ok(await store.get('inst/kept'));
      assert.equal(await store.get('inst/dropped'), undefined, 'expired after its TTL');
      assert.equal(await store.leases.keepAlive(dropped.leaseId), false);
      assert.deepEqual(
        seen.filter((event) => event.type === 'delete').map((event) => event.key),
        ['inst/dropped'],
      );
      await store.leases.revoke(kept.leaseId);
      await eventually(async () => seen.filter((event) => event.type === 'delete').length, (n) => n === 2, 'the revoked key deleted');
      await store.leases.revoke(kept.leaseId); // an ended lease is fine
      watch.close();
    } finally {
      await Promise.all([store.close(), other.close()]);
      await removePrefix(prefix);
    }
  });

  test('etcd gone: calls fail fast with the reason; back: the watch catches up, through a compaction', async () => {
    const prefix = `/outage-${count++}`;
    const store = await EtcdStore.open(specFor(prefix));
    try {
      const events: StoreEvent[] = [];
      const batches: number[] = [];
      store.watch('c/', (batch) => {
        events.push(...batch);
        batches.push(batch.length);
      });
      for (const key of ['keep', 'gone', 'change']) assert.ok((await store.put(`c/${key}`, text('old'))).ok);
      await eventually(async () => events.length, (n) => n === 3, 'the first events');
      assert.equal(store.unavailable(), undefined);

      await etcd.kill();
      const reason = await eventually(async () => store.unavailable(), (why) => why !== undefined, 'unavailable() after etcd went away');
      assert.match(reason!, /etcd \(http:\/\/127\.0\.0\.1:\d+\)/);
      const started = Date.now();
      await assert.rejects(store.put('c/while-down', text('x')), (error: Error) => {
        assert.equal(error.name, 'StoreError');
        assert.match(error.message, /cannot commit: etcd .* cannot be reached/);
        return true;
      });
      assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);

      // Changed where the store cannot see it, and compacted: the revisions it missed are gone.
      await etcd.startAside();
      const aside = etcd.client();
      try {
        await aside.put(`${prefix}/c/change`).value('new');
        await aside.delete().key(`${prefix}/c/gone`);
        const last = await aside.put(`${prefix}/c/added`).value('added');
        await aside.kv.compact({ revision: last.header.revision, physical: true });
      } finally {
        aside.close();
      }
      await etcd.kill();
      await etcd.restart();

      await eventually(async () => events.length, (n) => n === 6, 'caught up', 10_000);
      assert.deepEqual(
        events
          .slice(3)
          .map((event) => [event.type, event.key, read(event.value)])
          .sort((x, y) => (x[1]! < y[1]! ? -1 : 1)),
        [
          ['put', 'c/added', 'added'],
          ['put', 'c/change', 'new'],
          ['delete', 'c/gone', undefined],
        ],
      );
      assert.equal(batches.at(-1), 3, 'the differences of a reload come as one batch');
      await eventually(async () => store.unavailable(), (why) => why === undefined, 'available again');
      assert.equal(read((await store.get('c/change'))?.value), 'new');
    } finally {
      await store.close();
      await removePrefix(prefix).catch(() => undefined);
    }
  });
});

describe('the etcd store over mutual TLS, as an etcd user', () => {
  test('connects with the manifest\'s tls and auth; without the certificate, or with a wrong password, it cannot', async () => {
    const ca = TestCa.create('etcd-ca');
    const server = ca.server('etcd');
    const client = ca.client('weft');
    const etcd = await EtcdServer.start({ tls: { ca: ca.cert, cert: server.cert, key: server.key, client } });
    const password = randomBytes(8).toString('hex');
    try {
      const admin = etcd.client();
      await admin.user('root').create(password);
      await admin.user('root').addRole('root');
      await admin.auth.authEnable();
      admin.close();

      const spec: EtcdStoreSpec = {
        kind: 'etcd',
        endpoints: [etcd.endpoint],
        prefix: '/secure',
        timeout_ms: 1500,
        tls: { ca: ca.cert, cert: client.cert, key: client.key },
        auth: { username: 'root', password },
      };
      const store = await EtcdStore.open(spec);
      try {
        const events: StoreEvent[] = [];
        store.watch('k/', (batch) => events.push(...batch));
        const put = await store.put('k/1', text('over tls'));
        assert.ok(put.ok);
        assert.equal(read((await store.get('k/1'))?.value), 'over tls');
        await eventually(async () => events.length, (n) => n === 1, 'the watch, authenticated too');
      } finally {
        await store.close();
      }
      await assert.rejects(EtcdStore.open({ ...spec, tls: { ca: ca.cert } }), /store: cannot connect: etcd .* cannot be reached/);
      await assert.rejects(EtcdStore.open({ ...spec, auth: { username: 'root', password: 'wrong' } }), /store: cannot connect in etcd: .*authentication failed/);
    } finally {
      await etcd.stop();
      await rm(ca.dir, { recursive: true, force: true });
    }
  });
});

/** Heartbeats one instance through one proxy every 500 ms (TTL 2 s), like a service would. */
class HeartbeatPump {
  lastOkMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(admin: AdminClient, service: string, id: string) {
    this.timer = setInterval(() => {
      admin.call('PUT', `/services/${service}/instances/${id}/heartbeat`).then(
        (reply) => {
          if (reply.status === 200) this.lastOkMs = Date.now();
        },
        () => undefined,
      );
    }, 500);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

describe('a fleet of three proxies on one etcd', () => {
  const TTL_S = 2;
  let etcd: EtcdServer;
  let a: EchoUpstream;
  let b: EchoUpstream;
  let proxies: WeftProcess[] = [];
  let admins: AdminClient[] = [];
  const pumps: HeartbeatPump[] = [];
  const ids: { a?: string; b?: string } = {};
  let bPump: HeartbeatPump | undefined;

  before(async () => {
    etcd = await EtcdServer.start();
    [a, b] = await Promise.all([EchoUpstream.start(), EchoUpstream.start()]);
    const manifest = {
      clusters: [{ name: 'app', discovery: 'registry', service: 'app' }],
      filters: [{ name: 'tag', module: fixtureModule('tag-version'), config: { version: 'v1' } }],
      store: { kind: 'etcd', endpoints: [etcd.endpoint], prefix: '/fleet', timeout_ms: 1000 },
      access_log: 'off',
    };
    // All at once: one seeds the store with the manifest's chain, the others find it there.
    proxies = await Promise.all([startWeft(manifest), startWeft(manifest), startWeft(manifest)]);
    admins = proxies.map((proxy) => new AdminClient(proxy.adminUrl));
  });
  after(async () => {
    for (const pump of pumps) pump.stop();
    await Promise.all(proxies.map((proxy) => proxy.stop()));
    await Promise.all([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  /** Which upstream answered each of `count` requests through `proxy`, and the tags. */
  async function spread(proxy: WeftProcess, count: number): Promise<{ a: number; b: number; tags: string[]; statuses: number[] }> {
    const [beforeA, beforeB] = [a.requests.length, b.requests.length];
    const tags: string[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < count; i++) {
      const response = await request(`${proxy.url}/work/${i}`);
      statuses.push(response.status);
      tags.push(header(response, 'x-filter-version') ?? '-');
    }
    return { a: a.requests.length - beforeA, b: b.requests.length - beforeB, tags, statuses };
  }

  const instanceIds = async (admin: AdminClient) => {
    const reply = await admin.call('GET', '/services/app');
    return reply.status === 404 ? [] : (reply.json.instances as Array<{ id: string }>).map((item) => item.id).sort();
  };

  test('every proxy serves the one seeded chain', async () => {
    const revisions = await Promise.all(admins.map(async (admin) => (await admin.chain()).revision));
    assert.equal(new Set(revisions).size, 1, `revisions ${revisions}`);
    const versions = (await admins[0]!.call('GET', '/filters/tag')).json.versions as unknown[];
    assert.equal(versions.length, 1, 'three proxies seeding at once made one version');
  });

  test('instances registered through one proxy are balanced to by all, kept alive through another', async () => {
    const register = (admin: AdminClient, port: number) =>
      admin.call('POST', '/services/app/instances', { body: JSON.stringify({ address: '127.0.0.1', port, ttl_s: TTL_S }) });
    const first = await register(admins[0]!, a.port);
    const second = await register(admins[1]!, b.port);
    assert.equal(first.status, 201, first.text);
    assert.equal(second.status, 201, second.text);
    ids.a = first.json.id;
    ids.b = second.json.id;
    pumps.push(new HeartbeatPump(admins[0]!, 'app', ids.a!));
    // B registered through proxy 2 and heartbeats through proxy 3: the lease is the fleet's.
    bPump = new HeartbeatPump(admins[2]!, 'app', ids.b!);
    pumps.push(bPump);

    for (const proxy of proxies) {
      await eventually(() => spread(proxy, 4), (s) => s.a === 2 && s.b === 2, `round robin through ${proxy.url}`);
    }
    await sleep(TTL_S * 1000 + 500);
    for (const admin of admins) assert.deepEqual(await instanceIds(admin), [ids.a, ids.b].sort(), 'both alive past their TTL');
  });

  test('a chain change through proxy 1 is served by proxies 2 and 3 within 1 s', async (t) => {
    const reply = await admins[0]!.putChain({ filters: [{ name: 'tag', version: 1, config: { version: 'v2' } }] });
    assert.equal(reply.status, 200, reply.text);
    const changedAt = Date.now();
    for (const proxy of proxies.slice(1)) {
      await eventually(async () => header(await request(`${proxy.url}/x`), 'x-filter-version'), (tag) => tag === 'v2', `v2 through ${proxy.url}`, 1000);
    }
    const took = Date.now() - changedAt;
    t.diagnostic(`served by proxies 2 and 3 ${took} ms after proxy 1 answered`);
    assert.ok(took < 1000, `took ${took} ms`);
    for (const admin of admins) assert.equal((await admin.chain()).revision, reply.json.revision, 'one revision, fleet-wide');
  });

  test('an instance whose heartbeats stop is gone from every proxy within its TTL + 1 s', async (t) => {
    bPump!.stop();
    const lastHeartbeat = bPump!.lastOkMs;
    for (const admin of admins) await eventually(() => instanceIds(admin), (list) => !list.includes(ids.b!), 'B gone', TTL_S * 1000 + 2000);
    const took = Date.now() - lastHeartbeat;
    t.diagnostic(`gone from all three ${took} ms after its last heartbeat (TTL ${TTL_S} s)`);
    assert.ok(took <= TTL_S * 1000 + 1000, `gone ${took} ms after its last heartbeat`);
    for (const proxy of proxies) assert.deepEqual(await spread(proxy, 2), { a: 2, b: 0, tags: ['v2', 'v2'], statuses: [200, 200] });
  });

  test('of two conditional chain updates racing from two proxies exactly one wins', async () => {
    const { revision } = await admins[1]!.chain();
    const replies = await Promise.all([
      admins[1]!.putChain({ filters: [{ name: 'tag', version: 1, config: { version: 'from-2' } }] }, revision),
      admins[2]!.putChain({ filters: [{ name: 'tag', version: 1, config: { version: 'from-3' } }] }, revision),
    ]);
    assert.deepEqual(replies.map((reply) => reply.status).sort(), [200, 412], replies.map((reply) => reply.text).join(' | '));
    const winner = replies[0]!.status === 200 ? 'from-2' : 'from-3';
    for (const proxy of proxies) {
      await eventually(async () => header(await request(`${proxy.url}/x`), 'x-filter-version'), (tag) => tag === winner, `the winner through ${proxy.url}`, 2000);
    }
  });

  test('etcd gone: every proxy serves its last state, admin writes answer 503, /ready says degraded', async () => {
    const tag = header(await request(`${proxies[0]!.url}/x`), 'x-filter-version');
    await etcd.kill();
    for (const admin of admins) {
      const ready = await eventually(() => admin.call('GET', '/ready'), (reply) => reply.json?.degraded === true, '/ready degraded');
      assert.equal(ready.status, 200, 'still ready: it serves');
      assert.match(ready.json.reason, /etcd \(http:\/\/127\.0\.0\.1:\d+\)/);
    }
    for (const proxy of proxies) assert.deepEqual(await spread(proxy, 2), { a: 2, b: 0, tags: [tag, tag], statuses: [200, 200] });

    const admin = admins[1]!;
    const writes = [
      await admin.putChain({ filters: [{ name: 'tag', version: 1, config: { version: 'never' } }] }),
      await admin.call('POST', '/services/app/instances', { body: JSON.stringify({ address: '127.0.0.1', port: b.port }) }),
      await admin.upload('tag', await readFile(fixtureModule('tag-version'))),
      await admin.call('PUT', `/services/app/instances/${ids.a}/heartbeat`),
    ];
    for (const reply of writes) {
      assert.equal(reply.status, 503, reply.text);
      assert.match(reply.json.error ?? reply.text, /etcd .*cannot be reached/);
    }
  });

  test('etcd back: every proxy picks up a change made meanwhile, directly in etcd and compacted', async (t) => {
    await etcd.startAside();
    const aside = etcd.client();
    let revision: number;
    try {
      const spec = JSON.parse((await aside.get('/fleet/chain/current').string())!);
      spec.filters[0].config = { version: 'etcdctl' };
      const put = await aside.put('/fleet/chain/current').value(JSON.stringify(spec));
      revision = Number(put.header.revision);
      await aside.kv.compact({ revision: put.header.revision, physical: true });
    } finally {
      aside.close();
    }
    await etcd.kill();
    await etcd.restart();
    const back = Date.now();

    for (const [index, proxy] of proxies.entries()) {
      await eventually(async () => header(await request(`${proxy.url}/x`), 'x-filter-version'), (tag) => tag === 'etcdctl', `the change through ${proxy.url}`, 10_000);
      assert.equal((await admins[index]!.chain()).revision, revision);
      await eventually(() => admins[index]!.call('GET', '/ready'), (reply) => reply.status === 200 && reply.json.degraded === undefined, '/ready no longer degraded');
    }
    t.diagnostic(`all three caught up ${Date.now() - back} ms after etcd was back`);
    // A's heartbeats through proxy 1 resumed in time: etcd renews every lease when it comes back.
    for (const admin of admins) assert.deepEqual(await instanceIds(admin), [ids.a]);
    const change = await admins[2]!.putChain({ filters: [{ name: 'tag', version: 1, config: { version: 'after' } }] }, revision);
    assert.equal(change.status, 200, change.text);
  });
});
