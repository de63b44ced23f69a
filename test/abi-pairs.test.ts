import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePairs, encodePairs, pairsSize } from '../host/abi/pairs.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

// The fact sheet's example (the spec's, with its 0x49/0x50 erratum corrected to "1" and "22").
const EXAMPLE_HEX = '02000000 01000000 01000000 01000000 02000000 6100 3100 6200 323200';

describe('pairs encoding', () => {
  it('encodes {a:"1", b:"22"} byte for byte', () => {
    const encoded = encodePairs(['a', '1', 'b', '22']);
    assert.equal(hex(encoded), EXAMPLE_HEX.replace(/\s+/g, ''));
    assert.equal(encoded.length, 4 + 8 * 2 + (1 + 1 + 2) + (1 + 2 + 2));
  });

  it('computes the size as 4 + 8n + sum(k + v + 2), in UTF-8 bytes', () => {
    const flat = [':path', '/é', 'x-empty', '', 'ключ', 'значение'];
    const expected = 4 + 8 * 3 + [':path', '/é', 'x-empty', '', 'ключ', 'значение'].reduce((n, s) => n + Buffer.byteLength(s), 0) + 2 * 3;
    assert.equal(pairsSize(flat), expected);
    assert.equal(encodePairs(flat).length, expected);
  });

  it('encodes an empty map as 0 bytes (host to guest: p = len = 0)', () => {
    assert.equal(encodePairs([]).length, 0);
    assert.equal(pairsSize([]), 0);
  });

  it('round-trips repeated names, empty values and multi-byte text', () => {
    const flat = ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-empty', '', '', 'empty-name', 'x-utf8', 'ünïcødé ✓'];
    assert.deepEqual(decodePairs(encodePairs(flat)), flat);
  });

  it('decodes the example', () => {
    assert.deepEqual(decodePairs(fromHex(EXAMPLE_HEX)), ['a', '1', 'b', '22']);
  });

  it('accepts the three spellings of an empty map from a guest', () => {
    assert.deepEqual(decodePairs(new Uint8Array(0)), []);
    assert.deepEqual(decodePairs(fromHex('00000000')), []);
    assert.deepEqual(decodePairs(fromHex('00')), []);
  });

  it('decodes from a view into a larger buffer (as it does from guest memory)', () => {
    const encoded = encodePairs(['k', 'v']);
    const big = new Uint8Array(encoded.length + 20);
    big.set(encoded, 7);
    assert.deepEqual(decodePairs(big.subarray(7, 7 + encoded.length)), ['k', 'v']);
  });

  it('rejects malformed input with null', () => {
    const good = fromHex(EXAMPLE_HEX);
    const cases: Record<string, Uint8Array> = {
      'lone non-zero byte': fromHex('01'),
      'short count': fromHex('020000'),
      'count with trailing bytes': fromHex('0000000000'),
      truncated: good.subarray(0, good.length - 1),
      'trailing garbage': Buffer.concat([good, fromHex('00')]),
      'count larger than the data': fromHex('05000000 01000000 01000000 6100 3100'),
      'huge count': fromHex('ffffffff 00000000'),
      'huge key length': fromHex('01000000 ffffffff 01000000 6100 3100'),
      'missing key terminator': fromHex('01000000 01000000 01000000 6101 3100'),
      'missing value terminator': fromHex('01000000 01000000 01000000 6100 3101'),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      assert.equal(decodePairs(bytes), null, name);
    }
  });
});
