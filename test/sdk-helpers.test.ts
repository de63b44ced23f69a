// The SDK's helpers for filter authors, from a real filter (test/filters/sdk-helpers) run by the
// test kit: ConfigReader's string lists, numbers and nested objects (a wrong kind is an error, not
// an empty value), the checked JSON accessors, query parameters, and the precise clock with its
// fallback when the host is not Weft.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import { FilterStartError, loadFilter, type FilterOptions } from '../host/testkit/index.js';
import { fixtureModule } from './helpers/repo.js';

type Json = Record<string, any>;

async function answer(testCase: string, path = '/', options: FilterOptions = { config: {} }): Promise<Json> {
  const filter = await loadFilter(fixtureModule('sdk-helpers'), options);
  const stream = filter.stream();
  stream.sendRequestHeaders({ ':method': 'GET', ':path': path, 'x-case': testCase });
  filter.close();
  assert.equal(stream.localResponse?.status, 200);
  return JSON.parse(stream.localResponse.body) as Json;
}

async function refusal(config: unknown): Promise<string> {
  let message = '';
  await assert.rejects(loadFilter(fixtureModule('sdk-helpers'), { config }), (error: unknown) => {
    assert.ok(error instanceof FilterStartError, String(error));
    message = error.message;
    return true;
  });
  return message;
}

describe('ConfigReader', () => {
  it('reads string lists, numbers and nested objects', async () => {
    const config = await answer('config', '/', { config: { deny_paths: ['/admin', '/debug'], ratio: 0.25, limits: { per_second: 3 }, tags: [1, 'a'] } });
    assert.deepEqual(config, { deny_paths: ['/admin', '/debug'], ratio: 0.25, per_second: 3, tags: ['1', '"a"'] });
  });

  it('refuses a single string where a list belongs, instead of reading an empty list', async () => {
    assert.match(await refusal({ deny_paths: '/admin' }), /sdk-helpers: deny_paths must be a list of strings, not "\/admin"/);
  });

  it('names each wrong member, nested ones by their path, all at once', async () => {
    const message = await refusal({ deny_paths: ['/ok', 7], ratio: 2, limits: { per_second: 'many', burst: 1 }, tags: 'x' });
    for (const expected of [
      'deny_paths[1] must be a string, not 7',
      'ratio must be a number between 0 and 1, not 2',
      'limits.burst is not a known field (known: per_second)',
      'limits.per_second must be a number >= 0, not "many"',
      'tags must be a list, not "x"',
    ]) assert.ok(message.includes(expected), `missing "${expected}" in:\n${message}`);
    assert.match(await refusal({ limits: [] }), /limits must be an object, not \[\]/);
  });
});

describe('text values handed to the host', () => {
  it('arrive as written: non-ASCII, longer than the reused buffer, several in a row', async () => {
    const filter = await loadFilter(fixtureModule('sdk-helpers'), { config: {} });
    const stream = filter.stream();
    stream.sendRequestHeaders({ ':method': 'GET', ':path': '/', 'x-case': 'text' });
    filter.close();
    assert.deepEqual(JSON.parse(stream.localResponse!.body), { a: 'café ☕ 😀', b_is_long: true, c: '', note: 'naïve' });
    assert.ok(filter.messages('info').includes('sdk-helpers: ünïcode log line'), filter.messages().join('\n'));
  });
});

describe('checked JSON accessors', () => {
  it('tell a member of another kind (null) from an empty one', async () => {
    assert.deepEqual(await answer('checked'), {
      s_as_array_is_null: true, a_as_array_is_empty: true, a_as_string_is_null: true, o_is_object: true, missing_is_null: true, s: 'x',
    });
  });
});

describe('query parameters', () => {
  it('decode + and %XX (UTF-8), keep malformed escapes, give every value of a repeated name', async () => {
    const result = await answer('query', '/search?tag=a&q=caf%C3%A9+au+lait&tag=b%2Fc&empty&bad=%zz&tag=');
    assert.deepEqual(result, { q: 'café au lait', tags: ['a', 'b/c', ''], empty: '', none: null });
    assert.deepEqual(await answer('query', '/search'), { q: null, tags: [], empty: null, none: null });
    assert.deepEqual((await answer('query', '/s?q=100%')).q, '100%');
  });
});

describe('monotonicNanoseconds', () => {
  it('is precise under Weft: microseconds of work read as more than 0 ns and less than a millisecond', async () => {
    const result = await answer('clock');
    assert.equal(result.precise, true);
    assert.ok(result.elapsed_ns > 0 && result.elapsed_ns < 1_000_000, `elapsed ${result.elapsed_ns} ns`);
  });

  it('falls back to the millisecond wall clock on a host without weft.clock.monotonic_ns', async () => {
    const result = await answer('clock', '/', { config: {}, foreignFunctions: { 'weft.clock.monotonic_ns': () => WasmResult.NotFound } });
    assert.equal(result.precise, false);
    assert.equal(result.elapsed_ns % 1_000_000, 0, 'whole milliseconds');
  });
});
