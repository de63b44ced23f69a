// The registry of running streams (host/chain/live-streams.ts): found by id while they run, gone
// once deleted, and still found when a later stream takes their ring slot (a long-running stream).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiveStreams } from '../host/chain/live-streams.js';

const stream = (id: number) => ({ id });

describe('LiveStreams', () => {
  it('finds a stream by id while it runs, and not after its delete', () => {
    const streams = new LiveStreams<{ id: number }>(8);
    const a = stream(2);
    const b = stream(3);
    streams.add(a);
    streams.add(b);
    assert.equal(streams.get(2), a);
    assert.equal(streams.get(3), b);
    assert.equal(streams.get(4), undefined);
    assert.equal(streams.get(10), undefined, 'an id sharing a running stream\'s slot is not that stream');
    streams.delete(a);
    assert.equal(streams.get(2), undefined);
    assert.equal(streams.get(3), b);
    assert.equal(streams.size, 1);
  });

  it('keeps a stream that outlives a ring\'s worth of later ones, and forgets it once deleted', () => {
    const streams = new LiveStreams<{ id: number }>(4);
    const long = stream(2);
    streams.add(long);
    const later: Array<{ id: number }> = [];
    for (let id = 3; id < 3 + 9; id++) {
      const s = stream(id);
      streams.add(s);
      later.push(s);
      if (later.length > 2) streams.delete(later.shift()!); // two at a time besides the long one
    }
    assert.equal(streams.get(2), long, 'its slot was taken twice over');
    assert.equal(streams.get(10), later[0]);
    assert.equal(streams.get(11), later[1]);
    assert.equal(streams.size, 3);
    streams.delete(long);
    assert.equal(streams.get(2), undefined);
    for (const s of later) streams.delete(s);
    assert.equal(streams.size, 0);
  });

  it('deletes a stream whose slot a running one took (the newer one stays)', () => {
    const streams = new LiveStreams<{ id: number }>(4);
    const old = stream(5);
    const newer = stream(9);
    streams.add(old);
    streams.add(newer); // same slot: the old one moves beside the ring
    streams.delete(newer);
    assert.equal(streams.get(5), old);
    assert.equal(streams.get(9), undefined);
    streams.delete(old);
    assert.equal(streams.size, 0);
  });

  it('refuses a ring size that is not a power of two', () => {
    assert.throws(() => new LiveStreams(6), /power of two/);
  });
});
