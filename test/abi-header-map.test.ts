import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeaderMap } from '../host/abi/header-map.js';
import { decodePairs, encodePairs } from '../host/abi/pairs.js';

const sample = (): HeaderMap => new HeaderMap([':method', 'GET', ':path', '/a?b=1', 'accept', 'text/html', 'x-multi', '1', 'x-multi', '2']);

describe('HeaderMap', () => {
  it('reads the first value of a name, case-insensitively; pseudo-headers are ordinary entries', () => {
    const map = sample();
    assert.equal(map.get(':path'), '/a?b=1');
    assert.equal(map.get('Accept'), 'text/html');
    assert.equal(map.get('x-multi'), '1');
    assert.equal(map.get('missing'), undefined);
    assert.equal(map.size, 5);
  });

  it('add appends, lowercasing the name, and keeps repeated names', () => {
    const map = sample();
    map.add('X-Multi', '3');
    assert.deepEqual(map.flat.slice(-2), ['x-multi', '3']);
    assert.equal(map.size, 6);
    assert.equal(map.get('x-multi'), '1');
  });

  it('replace sets the first occurrence in place and removes later ones', () => {
    const map = sample();
    map.add('after', 'z');
    map.replace('X-MULTI', 'only');
    assert.deepEqual([...map.flat], [':method', 'GET', ':path', '/a?b=1', 'accept', 'text/html', 'x-multi', 'only', 'after', 'z']);
  });

  it('replace appends when the name is absent', () => {
    const map = sample();
    map.replace('New', 'v');
    assert.deepEqual(map.flat.slice(-2), ['new', 'v']);
  });

  it('remove drops every occurrence and keeps the order of the rest', () => {
    const map = sample();
    map.add('tail', 't');
    map.remove('x-multi');
    assert.deepEqual([...map.flat], [':method', 'GET', ':path', '/a?b=1', 'accept', 'text/html', 'tail', 't']);
  });

  it('setPairs replaces everything and lowercases names', () => {
    const map = sample();
    map.setPairs(['Content-Type', 'text/plain', ':status', '200']);
    assert.deepEqual([...map.flat], ['content-type', 'text/plain', ':status', '200']);
    assert.equal(map.size, 2);
  });

  it('fromEntries lowercases names', () => {
    const map = HeaderMap.fromEntries([[':status', '200'], ['Content-Length', '5']]);
    assert.deepEqual([...map.flat], [':status', '200', 'content-length', '5']);
  });

  it('serialises to the pairs encoding, and an empty map to 0 bytes', () => {
    const map = sample();
    assert.deepEqual(Buffer.from(map.serialized()), Buffer.from(encodePairs(map.flat)));
    assert.deepEqual(decodePairs(map.serialized()), [...map.flat]);
    assert.equal(map.serializedSize(), map.serialized().length);
    const empty = new HeaderMap();
    assert.equal(empty.serialized().length, 0);
    assert.equal(empty.serializedSize(), 0);
  });

  it('serialises at most once per change, however often it is read', () => {
    const map = sample();
    const first = map.serialized();
    assert.equal(map.serialized(), first, 'same bytes object while unchanged');
    assert.equal(map.serializedSize(), first.length);
    map.add('x-new', 'v');
    const second = map.serialized();
    assert.notEqual(second, first);
    assert.deepEqual(decodePairs(second)?.slice(-2), ['x-new', 'v']);
    assert.equal(map.serialized(), second);
  });

  it('invalidates the cache and bumps the version on every mutation', () => {
    const map = sample();
    const mutations: Array<[string, (m: HeaderMap) => void, (m: HeaderMap) => boolean]> = [
      ['add', (m) => m.add('a', '1'), (m) => m.get('a') === '1'],
      ['replace', (m) => m.replace('accept', '*/*'), (m) => m.get('accept') === '*/*'],
      ['remove', (m) => m.remove('x-multi'), (m) => m.get('x-multi') === undefined],
      ['setPairs', (m) => m.setPairs(['k', 'v']), (m) => m.size === 1 && m.get('k') === 'v'],
    ];
    for (const [name, mutate, applied] of mutations) {
      const before = map.serialized();
      const version = map.version;
      mutate(map);
      assert.ok(applied(map), `${name} applied`);
      assert.equal(map.version, version + 1, `${name} bumps the version`);
      const after = map.serialized();
      assert.notEqual(after, before, `${name} invalidates the bytes`);
      assert.deepEqual(decodePairs(after), [...map.flat], `${name}: bytes match contents`);
      assert.equal(map.serializedSize(), after.length, `${name}: size follows`);
    }
  });

  it('removing an absent name is not a change', () => {
    const map = sample();
    const bytes = map.serialized();
    const version = map.version;
    map.remove('absent');
    assert.equal(map.version, version);
    assert.equal(map.serialized(), bytes);
  });

  it('serializedSize is right before anything was serialised, and after a change', () => {
    const map = sample();
    assert.equal(map.serializedSize(), encodePairs(map.flat).length);
    map.replace(':path', '/a/much/longer/path');
    assert.equal(map.serializedSize(), encodePairs(map.flat).length);
  });
});
