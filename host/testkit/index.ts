// weft/testkit: run a proxy-wasm filter in-process from a node:test file, no proxy needed.
//
//   import { loadFilter } from 'weft/testkit';
//   const filter = await loadFilter('build/my-filter.wasm', { config: { deny_paths: ['/admin'] } });
//   const stream = filter.stream();
//   assert.equal(stream.sendRequestHeaders({ ':method': 'GET', ':path': '/admin' }), 'pause');
//   assert.equal(stream.localResponse?.status, 403);
//
// See sdk/README.md ("Testing a filter") for the whole surface.

import { FilterUnderTest, type FilterOptions } from './filter-under-test.js';

/** Compiles a filter (a .wasm path or its bytes) and starts it; see FilterOptions. */
export function loadFilter(wasm: string | Uint8Array, options: FilterOptions = {}): Promise<FilterUnderTest> {
  return FilterUnderTest.load(wasm, options);
}

export { FilterStartError, FilterUnderTest, HttpCallUnderTest } from './filter-under-test.js';
export type { EndpointInput, FilterOptions, LogLevelName, LogLine } from './filter-under-test.js';
export { StreamUnderTest } from './stream-under-test.js';
export type { Action, LocalResponse, StreamOptions } from './stream-under-test.js';
export type { MetricKind, MetricRecord } from './memory-services.js';
export type { Bytes, HeaderInput } from './values.js';
