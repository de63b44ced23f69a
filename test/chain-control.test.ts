// Two proxies sharing one store, in one process: what the etcd store (issue 8) will rely on.
// A change one of them commits reaches the other through the store's watch and is served
// there; two conditional changes racing on one revision: exactly one wins.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { ControlError } from '../host/registry/errors.js';
import { ChainRecords } from '../host/registry/chain-records.js';
import type { ChainManager } from '../host/chain/manager.js';
import { MemoryStore } from '../host/store/memory-store.js';
import { startControlPlane, type ControlPlane } from './helpers/control-plane.js';
import { fixtureModule } from './helpers/repo.js';

/** The configuration the default chain's first filter was built with. */
function servedConfig(manager: ChainManager): string | undefined {
  return manager.chainFor('example.test', '/').slots[0]?.spec.config;
}

async function eventuallyAsync(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const eventually = (check: () => boolean, what: string) => eventuallyAsync(async () => check(), what);

describe('proxies sharing a store', () => {
  let store: MemoryStore;
  let one: ControlPlane;
  let two: ControlPlane;

  before(async () => {
    store = MemoryStore.inMemory();
    one = await startControlPlane(store);
    two = await startControlPlane(store);
    assert.equal(one.chains.current().revision, two.chains.current().revision, 'the second proxy serves what the first seeded');
    await one.registry.upload('tag', await readFile(fixtureModule('tag-version')), { by: 'test' });
  });
  after(async () => {
    one?.stop();
    two?.stop();
    await store?.close();
  });

  test('a change made through one is served by the other', async () => {
    const { revision } = await one.chains.apply({ filters: [{ name: 'tag', config: { version: 'shared' } }] }, { by: 'test' });
    assert.equal(servedConfig(one.manager), '{"version":"shared"}');
    await eventually(() => two.chains.current().revision === revision, 'the second proxy took the new revision');
    assert.equal(servedConfig(two.manager), '{"version":"shared"}');
    assert.deepEqual(two.chains.current().spec, one.chains.current().spec);
  });

  test('a change the other cannot build is logged and counted there; it keeps serving what it had', async () => {
    const before = two.chains.current();
    // Written straight to the store, as a proxy with a different registry view might.
    const result = await new ChainRecords(store).commit({ filters: [{ name: 'ghost', version: 1, config: '', on_error: 'fail_closed' }] }, before.revision, {
      by: 'test',
      action: 'apply',
      changes: [],
    });
    assert.ok(result.ok);
    await eventuallyAsync(async () => (await two.metrics.text()).includes('weft_chain_swap_failures_total{reason="build"} 1'), 'the failed build counted');
    assert.deepEqual(two.chains.current(), before);
    assert.equal(servedConfig(two.manager), '{"version":"shared"}');
  });

  test('two conditional changes racing on one revision: exactly one wins, the other gets 412', async () => {
    const base = (await new ChainRecords(store).current())!.revision;
    const outcomes = await Promise.allSettled([
      one.chains.apply({ filters: [{ name: 'tag', config: { version: 'one' } }] }, { ifMatch: base, by: 'one' }),
      two.chains.apply({ filters: [{ name: 'tag', config: { version: 'two' } }] }, { ifMatch: base, by: 'two' }),
    ]);
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const lost = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    assert.equal(won.length, 1, JSON.stringify(outcomes));
    assert.ok(lost[0]!.reason instanceof ControlError && lost[0]!.reason.status === 412, String(lost[0]!.reason));
    const winner = won[0] === outcomes[0] ? 'one' : 'two';
    await eventually(() => servedConfig(one.manager) === `{"version":"${winner}"}` && servedConfig(two.manager) === `{"version":"${winner}"}`, 'both serve the winner');
  });
});
