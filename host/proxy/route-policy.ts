// What the router asked for one request, read from the weft.route.* properties
// (notes/FILTER-CONTRACT.md): a timeout and a retry policy. Requests without a router pay
// nothing: with no chain, or no property set, the cluster's own timeout applies.

export interface RoutePolicy {
  /** Whole-request timeout in ms (0 = none). */
  timeoutMs: number;
  /** Extra attempts after the first. */
  retries: number;
  /** Timeout of each attempt (0 = the request timeout). */
  perTryTimeoutMs: number;
  retryOn5xx: boolean;
  retryOnGatewayError: boolean;
  retryOnConnectFailure: boolean;
  retryOnReset: boolean;
  retryOn409: boolean;
  /** gRPC statuses retried (bit n = status n) when a gRPC call is answered trailers-only with one. */
  retryGrpcStatuses: number;
}

/** Envoy's retry_on names for gRPC statuses (x-envoy-retry-grpc-on). */
const GRPC_RETRY_CONDITIONS: ReadonlyArray<[string, number]> = [
  ['cancelled', 1],
  ['deadline-exceeded', 4],
  ['resource-exhausted', 8],
  ['internal', 13],
  ['unavailable', 14],
];

/** Where the weft.route.* properties come from: the request's stream (none without a chain). */
interface RouteProperties {
  propertyText(key: string): string | undefined;
}

/**
 * Policies already made, by what they were made from: a route's properties are the same on every
 * request it serves, so the Set, the splits and the object are made once per route, not per
 * request. Keyed by the parsed numbers and the retry conditions (last, so no text can make two
 * routes' keys meet). Bounded, as a filter may set any text: past MAX_MADE_POLICIES it starts over.
 */
const madePolicies = new Map<string, RoutePolicy>();
const MAX_MADE_POLICIES = 256;
/** Policies with a timeout and nothing else (every request no router spoke for), by that timeout. */
const timeoutOnlyPolicies = new Map<number, RoutePolicy>();

export function routePolicy(route: RouteProperties | undefined, clusterTimeoutMs: number): Readonly<RoutePolicy> {
  const attempts = route?.propertyText('weft.route.retry.attempts');
  const timeoutMs = nonNegative(route?.propertyText('weft.route.timeout_ms'), clusterTimeoutMs);
  const retries = nonNegative(attempts, 0);
  const perTryTimeoutMs = nonNegative(route?.propertyText('weft.route.retry.per_try_timeout_ms'), 0);
  const on = attempts === undefined ? '' : (route!.propertyText('weft.route.retry.on') ?? 'connect-failure,reset,gateway-error');
  if (retries === 0 && perTryTimeoutMs === 0 && on === '') {
    let policy = timeoutOnlyPolicies.get(timeoutMs);
    if (policy === undefined) timeoutOnlyPolicies.set(timeoutMs, (policy = makePolicy(timeoutMs, 0, 0, '')));
    return policy;
  }
  const key = `${timeoutMs}|${retries}|${perTryTimeoutMs}|${on}`;
  let policy = madePolicies.get(key);
  if (policy === undefined) {
    if (madePolicies.size >= MAX_MADE_POLICIES) madePolicies.clear();
    madePolicies.set(key, (policy = makePolicy(timeoutMs, retries, perTryTimeoutMs, on)));
  }
  return policy;
}

function makePolicy(timeoutMs: number, retries: number, perTryTimeoutMs: number, on: string): RoutePolicy {
  const tokens = new Set(on.split(',').map((t) => t.trim()));
  return Object.freeze({
    timeoutMs,
    retries,
    perTryTimeoutMs,
    retryOn5xx: tokens.has('5xx'),
    retryOnGatewayError: tokens.has('gateway-error'),
    retryOnConnectFailure: tokens.has('connect-failure'),
    retryOnReset: tokens.has('reset'),
    retryOn409: tokens.has('retriable-4xx'),
    retryGrpcStatuses: GRPC_RETRY_CONDITIONS.reduce((bits, [name, status]) => (tokens.has(name) ? bits | (1 << status) : bits), 0),
  });
}

/** Whether an upstream status is one the policy retries. */
export function retriesStatus(policy: RoutePolicy, status: number): boolean {
  if (status >= 500 && policy.retryOn5xx) return true;
  if ((status === 502 || status === 503 || status === 504) && policy.retryOnGatewayError) return true;
  return status === 409 && policy.retryOn409;
}

/** Whether a gRPC status (from a trailers-only answer) is one the policy retries. */
export function retriesGrpcStatus(policy: RoutePolicy, grpcStatus: number): boolean {
  return grpcStatus >= 0 && grpcStatus < 31 && (policy.retryGrpcStatuses & (1 << grpcStatus)) !== 0;
}

/** Whether a failure flag (from classifyUpstreamError) is one the policy retries. */
export function retriesFailure(policy: RoutePolicy, flag: string): boolean {
  if (flag === 'UF') return policy.retryOnConnectFailure;
  if (flag === 'UR') return policy.retryOnReset;
  // A per-try timeout counts as a 504 from the endpoint, as in Envoy.
  if (flag === 'UT') return policy.retryOn5xx || policy.retryOnGatewayError;
  return false;
}

function nonNegative(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  return Number.isInteger(value) && value >= 0 ? value : fallback;
}
