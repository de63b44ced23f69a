// What the in-process chain benchmarks (fuel-micro.ts, chain-micro.ts) share: the built-in
// filters with configurations every bench request passes, a StreamOwner that only records
// failures, chain services without a proxy around them, and one request driven through an
// HttpStream the way the proxy's exchange drives it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, WasmResult } from '../host/abi/enums.js';
import { HeaderMap } from '../host/abi/header-map.js';
import type { Chain } from '../host/chain/chain.js';
import type { SlotSpec } from '../host/chain/filter-slot.js';
import { HttpStream, type StreamOwner } from '../host/chain/http-stream.js';
import type { ChainServices } from '../host/chain/services.js';
import { InMemorySharedData, InMemorySharedQueues } from '../host/chain/shared-state.js';
import { weftForeignFunctions } from '../host/extensions/index.js';
import { clusterProperties } from '../host/proxy/cluster-properties.js';
import { Clusters } from '../host/proxy/clusters.js';
import { WeftMetrics } from '../host/telemetry/metrics.js';

export const repoRoot = join(import.meta.dirname, '..', '..');
const API_KEY = 'bench-key';

/** The built-in filters, in the quickstart chain's order, configured so that a bench request passes every one. */
export const FILTERS: ReadonlyArray<{ name: string; config: unknown }> = [
  { name: 'router', config: { routes: [{ name: 'health', match: { path: '/healthz' }, direct_response: { status: 200 } }, { name: 'api', match: { prefix: '/api/' }, cluster: 'web' }] } },
  { name: 'auth', config: { api_key: { header: 'x-api-key', keys: [{ key: API_KEY, name: 'bench' }] } } },
  { name: 'ratelimit', config: { rules: [{ name: 'all', key: 'source_address', rate: 1_000_000_000, per: 'second' }] } },
  { name: 'breaker', config: { default_cluster: 'web', max_ejection_percent: 50 } },
  { name: 'lb', config: { default_cluster: 'web', default_policy: 'least_request' } },
  { name: 'telemetry', config: { response_header: 'x-trace-id' } },
];

const REQUEST_HEADERS = [
  ':method', 'GET', ':path', '/api/orders/12345?page=2', ':authority', 'shop.example.com', ':scheme', 'http',
  'user-agent', 'bench/1.0', 'accept', 'application/json', 'x-api-key', API_KEY, 'x-request-id', 'bench-1',
];
const RESPONSE_HEADERS = [':status', '200', 'content-type', 'application/json', 'content-length', '2'];

class BenchOwner implements StreamOwner {
  failed: string | undefined;
  readonly info = { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', localPort: 8080, scheme: 'http', startTimeMs: Date.now() };
  readonly bytesReceived = 0;
  readonly bytesSent = 0;
  requestHeadersReady(): void {}
  requestBodyReady(): void {}
  responseHeadersReady(): void {}
  responseBodyReady(): void {}
  requestTrailersReady(): void {}
  responseTrailersReady(): void {}
  answeredLocally(): void {
    this.failed ??= 'answered locally';
  }
  chainFailed(status: number, flag: string, reason: string): void {
    this.failed ??= `${status} ${flag} ${reason}`;
  }
  resetByFilter(): void {
    this.failed ??= 'reset';
  }
}

/** The one cluster bench requests are routed to (two endpoints nothing listens on: nothing connects). */
export function benchClusters(): Clusters {
  return new Clusters([{ name: 'web', endpoints: [{ host: '127.0.0.1', port: 9, weight: 1 }, { host: '127.0.0.1', port: 10, weight: 1 }], connect_timeout_ms: 1000, timeout_ms: 1000 }]);
}

export function benchServices(clusters: Clusters): ChainServices {
  const metrics = new WeftMetrics({ processMetrics: false });
  return {
    logLevel: LogLevel.Warn,
    sharedData: new InMemorySharedData(),
    queues: new InMemorySharedQueues(),
    filterMetrics: metrics.filterMetrics,
    telemetry: metrics,
    foreignFunctions: weftForeignFunctions,
    filterLog: () => {},
    hostProperty: clusterProperties(clusters),
    httpCall: () => WasmResult.Unimplemented,
  };
}

/** A built-in filter's wasm, as `npm run build` leaves it. */
export function builtInModuleBytes(name: string): Uint8Array {
  return readFileSync(join(repoRoot, 'filters', name, 'build', `${name}.wasm`));
}

/**
 * A benchmark's slot. Its CPU budget is lifted: the budget's one-second window is reset by a
 * timer, which cannot fire while a benchmark serves requests in one synchronous loop, so with
 * the default budget a filter was retired after some 44,000 requests (telemetry; ~90,000 for
 * router and breaker) and every later request measured a refusal instead of the filter. The
 * fuel is still counted after every call, as in the proxy.
 */
export function slotSpec(name: string, config: unknown, fuel?: number): SlotSpec {
  return {
    name,
    config: typeof config === 'string' ? config : JSON.stringify(config),
    root_id: name,
    vm_config: '',
    on_error: 'fail_closed',
    cpu_budget_ms_per_s: UNBOUNDED_CPU_BUDGET_MS,
    ...(fuel === undefined ? {} : { fuel }),
  };
}

/** A CPU budget no synchronous benchmark loop reaches (fuel per second, as a safe integer, ~10^15). */
const UNBOUNDED_CPU_BUDGET_MS = 250_000_000;

/**
 * `count` requests through the chain at once, as a loaded proxy interleaves them: every request's
 * headers phase, then every response's, then every end; the first reason one did not pass.
 * Tables keyed by request (in the host or in a filter) hold `count` entries here, as under wrk.
 */
export function serveInFlight(chain: Chain, count: number): string | undefined {
  const requests = Array.from({ length: count }, () => {
    const owner = new BenchOwner();
    return { owner, stream: new HttpStream(chain, new HeaderMap([...REQUEST_HEADERS]), owner, 1 << 20) };
  });
  for (const { stream } of requests) stream.start(true);
  for (const { owner, stream } of requests) if (owner.failed === undefined) stream.pushResponseHeaders(new HeaderMap([...RESPONSE_HEADERS]), true);
  for (const { owner, stream } of requests) stream.finish(owner.failed === undefined ? 200 : 500, owner.failed === undefined ? '-' : 'WF');
  return requests.find(({ owner }) => owner.failed !== undefined)?.owner.failed;
}

/**
 * One request through the chain as the proxy drives it; the reason when it did not pass.
 * `body` (a POST): its chunks go up and come back as the response body, as the echo upstream of
 * the post-64k scenario does; request chunks reach the chain only when a filter reads request
 * bodies (else the exchange sends them past it).
 */
export function serve(chain: Chain, body?: readonly Uint8Array[]): string | undefined {
  const owner = new BenchOwner();
  const stream = new HttpStream(chain, new HeaderMap([...REQUEST_HEADERS]), owner, 1 << 20);
  const hasBody = body !== undefined && body.length > 0;
  stream.start(!hasBody);
  if (hasBody && chain.inspectsRequestBody) body.forEach((chunk, i) => stream.pushRequestData(chunk, i === body.length - 1));
  if (owner.failed === undefined) stream.pushResponseHeaders(new HeaderMap([...RESPONSE_HEADERS]), !hasBody);
  if (hasBody && owner.failed === undefined) body.forEach((chunk, i) => stream.pushResponseData(chunk, i === body.length - 1));
  stream.finish(owner.failed === undefined ? 200 : 500, owner.failed === undefined ? '-' : 'WF');
  return owner.failed;
}
