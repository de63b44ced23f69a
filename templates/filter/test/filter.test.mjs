// Tests of {{name}} with Weft's test kit: the built .wasm runs in-process, no proxy needed.
// npm test builds first; node --test test/*.test.mjs runs these alone.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { FilterStartError, loadFilter } from 'weft/testkit';

const wasm = fileURLToPath(new URL('../build/{{name}}.wasm', import.meta.url));
const config = { deny_paths: ['/admin'], tenant_param: 'tenant' };

let filter;
before(async () => {
  filter = await loadFilter(wasm, { config });
});
after(() => filter.close());

/** A GET of `path` through the filter's request phase; the stream, to read back what it did. */
function get(path) {
  const stream = filter.stream();
  const action = stream.sendRequestHeaders({ ':method': 'GET', ':path': path, ':authority': 'example.test' });
  return { stream, action };
}

test('answers 403 for a path in deny_paths', () => {
  const { stream, action } = get('/admin/users');
  assert.equal(action, 'pause');
  assert.equal(stream.localResponse?.status, 403);
  assert.equal(stream.localResponse?.body, 'forbidden\n');
});

test('copies the tenant query parameter into x-tenant and counts requests per tenant', () => {
  const { stream, action } = get('/orders?tenant=acme&page=2');
  assert.equal(action, 'continue');
  assert.equal(stream.requestHeader('x-tenant'), 'acme');
  get('/orders?tenant=acme');
  get('/orders');
  assert.equal(filter.metric('{{name}}_requests_total{tenant="acme"}'), 2);
  assert.equal(filter.metric('{{name}}_requests_total{tenant="other"}'), 1);
});

test('says how long the request spent behind it, in microseconds', () => {
  const { stream } = get('/');
  assert.equal(stream.sendResponseHeaders({ ':status': '200' }), 'continue');
  assert.match(stream.responseHeader('x-{{name}}-us') ?? '', /^\d+$/);
});

test('refuses a configuration with a single string where a list belongs', async () => {
  await assert.rejects(loadFilter(wasm, { config: { deny_paths: '/admin' } }), (error) => {
    assert.ok(error instanceof FilterStartError);
    assert.match(error.message, /deny_paths must be a list of strings, not "\/admin"/);
    return true;
  });
});

test('logs no warnings or errors along the way', () => {
  assert.deepEqual(filter.messages('warn'), []);
  assert.deepEqual(filter.messages('error'), []);
});
