// The route policy is made once per set of weft.route.* texts: what the proxy asks of it per
// request must be the same object, and different texts must never share one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routePolicy } from '../host/proxy/route-policy.js';

const route = (properties: Record<string, string>) => ({ propertyText: (key: string) => properties[key] });

test('a request no router spoke for gets the cluster timeout, one policy per timeout', () => {
  const a = routePolicy(undefined, 15_000);
  assert.equal(a.timeoutMs, 15_000);
  assert.equal(a.retries, 0);
  assert.equal(routePolicy(undefined, 15_000), a);
  assert.equal(routePolicy(route({}), 15_000), a);
  assert.equal(routePolicy(undefined, 2_000).timeoutMs, 2_000);
});

test('the same route texts give the same frozen policy; other texts another', () => {
  const texts = { 'weft.route.timeout_ms': '5000', 'weft.route.retry.attempts': '2', 'weft.route.retry.on': '5xx, unavailable' };
  const first = routePolicy(route(texts), 15_000);
  assert.deepEqual(
    { ...first },
    { timeoutMs: 5000, retries: 2, perTryTimeoutMs: 0, retryOn5xx: true, retryOnGatewayError: false, retryOnConnectFailure: false, retryOnReset: false, retryOn409: false, retryGrpcStatuses: 1 << 14 },
  );
  assert.equal(routePolicy(route({ ...texts }), 15_000), first);
  assert.ok(Object.isFrozen(first));
  const other = routePolicy(route({ ...texts, 'weft.route.retry.per_try_timeout_ms': '100' }), 15_000);
  assert.equal(other.perTryTimeoutMs, 100);
  assert.notEqual(other, first);
  // Without retry.on, attempts retry the gateway's own failures.
  const defaults = routePolicy(route({ 'weft.route.retry.attempts': '1' }), 15_000);
  assert.equal(defaults.retryOnGatewayError && defaults.retryOnConnectFailure && defaults.retryOnReset, true);
  assert.equal(defaults.retryOn5xx, false);
});

test('texts that would read alike when joined still give their own policies', () => {
  const joined = routePolicy(route({ 'weft.route.timeout_ms': 'a|3' }), 15_000);
  const apart = routePolicy(route({ 'weft.route.timeout_ms': 'a', 'weft.route.retry.attempts': '3', 'weft.route.retry.on': '|' }), 15_000);
  assert.equal(joined.retries, 0);
  assert.equal(apart.retries, 3);
});

test('past its bound the cache starts over and still answers right', () => {
  for (let i = 0; i < 600; i++) assert.equal(routePolicy(route({ 'weft.route.timeout_ms': String(i) }), 1).timeoutMs, i);
});
