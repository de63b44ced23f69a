// Shared data's compare-and-swap values (host/chain/shared-state.ts). Spec (v0.2.1,
// proxy_get_shared_data / proxy_set_shared_data): get returns the value and its cas; a set with
// cas 0 is unconditional, any other cas must match the current one or the set fails with
// CasMismatch. The guest reads the cas through a u32 out-pointer, so the host's cas must fit one
// and must never be 0.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import { InMemorySharedData, nextCas } from '../host/chain/shared-state.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('shared data cas', () => {
  it('is kept per key: writes to one key do not move another key\'s cas', () => {
    const data = new InMemorySharedData();
    assert.equal(data.set('', 'a', bytes('1'), 0, Infinity), WasmResult.Ok);
    for (let i = 0; i < 5; i++) data.set('', 'a', bytes(String(i)), 0, Infinity);
    assert.equal(data.set('', 'b', bytes('1'), 0, Infinity), WasmResult.Ok);
    assert.equal(data.get('', 'b')!.cas, 1);
    assert.equal(data.get('', 'a')!.cas, 6);
  });

  it('moves on every write, so a stale cas is refused and the current one accepted', () => {
    const data = new InMemorySharedData();
    data.set('', 'k', bytes('v1'), 0, Infinity);
    const first = data.get('', 'k')!.cas;
    assert.equal(data.set('', 'k', bytes('v2'), first, Infinity), WasmResult.Ok);
    assert.equal(data.set('', 'k', bytes('v3'), first, Infinity), WasmResult.CasMismatch);
    assert.equal(new TextDecoder().decode(data.get('', 'k')!.value), 'v2');
  });

  it('is a u32 that never becomes 0 (0 is the unconditional write): it wraps from 2^32-1 to 1', () => {
    assert.equal(nextCas(0), 1);
    assert.equal(nextCas(41), 42);
    assert.equal(nextCas(0xffff_fffe), 0xffff_ffff);
    assert.equal(nextCas(0xffff_ffff), 1);
  });
});
