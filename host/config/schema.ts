// The manifest: its shape, its defaults and its checks, in one place. Later features add
// their keys here (routes, discovery, tls, store kinds, admin tokens) so there is a single
// source of truth for what `weft run` accepts.
//
// The schema both checks and normalises: what comes out (`Manifest`) has every default
// filled in, addresses split into {host, port}, paths absolute, and filter configs as text.
// Objects are strict, so a misspelt key is an error instead of a silently ignored setting.

import type { FilterQuotaSpec } from '../chain/filter-quotas.js';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { serviceName } from '../discovery/instance.js';
import { isLoopback } from '../net/address.js';
import { parsePublicKey, rawPublicKey } from '../registry/signature.js';
import type { TrapCooldownSpec } from '../chain/trap-cooldown.js';
import { describeValue } from './errors.js';

/** An address. IPv6 hosts are kept without brackets (`::1`); add them back for URLs. */
export interface HostPort {
  host: string;
  port: number;
}

export interface Endpoint extends HostPort {
  weight: number;
}

/** The instances a registry-backed cluster sends to: one service, optionally one version and metadata subset. */
export interface ServiceSubset {
  service: string;
  version?: string;
  /** Every pair must be in an instance's metadata. */
  metadata: Record<string, string>;
}

/** TLS towards a cluster's endpoints (paths absolute). Without `ca`, the system's CAs verify them. */
export interface UpstreamTlsSpec {
  ca?: string;
  /** Client certificate and key, presented for mutual TLS. */
  cert?: string;
  key?: string;
  /** Name to verify the endpoints' certificates against (SNI); default: the endpoint's host. */
  servername?: string;
}

/** TLS on the proxy listener (paths absolute; the files are watched and reloaded). */
export interface ListenerTlsSpec {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to (mutual TLS). */
  ca?: string;
  /** Refuse clients without a certificate signed by `ca`. */
  require_client_cert: boolean;
}

/**
 * What serves a plain listener: uWebSockets.js where a binary loads, else node:http (`auto`,
 * also when absent), or one of them forced. TLS listeners always run on node:https.
 */
export type ListenerEngine = 'auto' | 'uws' | 'node';

/** What a listener speaks: HTTP/1.1, HTTP/2 (ALPN on TLS, prior knowledge `h2c` on plain), or both. */
export type ListenerProtocol = 'http1' | 'h2';

export interface ListenerSpec extends HostPort {
  tls?: ListenerTlsSpec;
  engine?: ListenerEngine;
  /** Absent: [http1]. */
  protocols?: ListenerProtocol[];
}

/** How Weft speaks to a cluster: HTTP/1.1, HTTP/2 over TLS (ALPN), or HTTP/2 without TLS (prior knowledge). */
export type UpstreamProtocol = 'http1' | 'h2' | 'h2c';

export interface ClusterSpec {
  name: string;
  tls?: UpstreamTlsSpec;
  /** Absent: http1. */
  protocol?: UpstreamProtocol;
  /** Static endpoints; empty for a registry-backed cluster, whose endpoints follow `discovery`. */
  endpoints: Endpoint[];
  /** Set for `discovery: registry`: the cluster's endpoints are these registry instances. */
  discovery?: ServiceSubset;
  connect_timeout_ms: number;
  timeout_ms: number;
  /** Envoy's circuit-breaker thresholds (host/overload/cluster-guard.ts); absent = none. */
  circuit_breakers?: CircuitBreakerSpec;
  /** Envoy's adaptive concurrency gradient controller (host/overload/gradient-controller.ts); absent = off. */
  adaptive_concurrency?: AdaptiveConcurrencySpec;
}

/** Per-cluster thresholds; an absent one is no limit. */
export interface CircuitBreakerSpec {
  /** Connections to each endpoint (each endpoint has its own pool); default 128. */
  max_connections?: number;
  /** Requests waiting for a connection, across the cluster's endpoints. */
  max_pending_requests?: number;
  /** Requests in flight to the cluster. */
  max_requests?: number;
}

export interface AdaptiveConcurrencySpec {
  buffer_percent: number;
  min_concurrency: number;
  max_concurrency: number;
  min_rtt_interval_ms: number;
  min_rtt_request_count: number;
  jitter_percent: number;
  update_interval_ms: number;
  sample_percentile: number;
  /** Only requests of these routes (`weft.route.name`) are limited; absent = every request to the cluster. */
  routes?: string[];
}

/** What the overload manager watches for one action; the action runs while either is reached. */
export interface OverloadTrigger {
  /** The longest event-loop delay of the last refresh interval. */
  event_loop_delay_ms?: number;
  /** V8 heap in use plus memory outside it (filter VMs' linear memory, buffers), MiB. */
  heap_used_mb?: number;
}

export interface ShedTrigger extends OverloadTrigger {
  /** Share of new requests answered 503 while the action runs. */
  share_percent: number;
  retry_after_s: number;
}

/** The overload manager (host/overload/overload-manager.ts); absent = not running. */
export interface OverloadSpec {
  refresh_interval_ms: number;
  stop_keepalive?: OverloadTrigger;
  shed_requests?: ShedTrigger;
  refuse_connections?: OverloadTrigger;
}

export type OnError = 'fail_closed' | 'fail_open';

export interface FilterSpec {
  name: string;
  /** Absolute path of the .wasm file. */
  module: string;
  /** Lower-case hex digest the module must match, when pinned. */
  sha256?: string;
  /** Plugin configuration handed to proxy_on_configure (a mapping or list arrives as JSON text). */
  config: string;
  root_id: string;
  /** VM configuration handed to proxy_on_vm_start. */
  vm_config: string;
  on_error: OnError;
  // Containment (host/abi/fuel.ts, host/chain/trap-cooldown.ts); absent = the host's default,
  // so chain specs only show what an operator chose.
  /** Fuel per call into the filter (units ≈ wasm instructions); a call that uses it up traps. */
  fuel?: number;
  /** Largest linear memory of the filter's VM, in MiB; growth past it fails inside the filter. */
  max_memory_mb?: number;
  /** CPU (ms, counted in fuel) the filter may spend per second across all its calls; past it, a cool-down. */
  cpu_budget_ms_per_s?: number;
  /** After `traps` traps within `window_ms`, the filter's on_error mode for `cooldown_ms`. */
  trap_cooldown?: Partial<TrapCooldownSpec>;
  /**
   * The namespace of the filter's shared data and queues; filters share them only when they
   * name the same vm_id. Absent: the filter's own name (a namespace of its own).
   */
  vm_id?: string;
  /** Host-side quotas over the defaults (host/chain/filter-quotas.ts). */
  quotas?: Partial<FilterQuotaSpec>;
}

/** Attaches an extra chain to the requests whose host and path match (the first matching route wins). */
export interface RouteSpec {
  /** Lower-case host without port; `*.example.com` matches every subdomain; absent = any host. */
  host?: string;
  /** Matches paths that start with it (`/api` matches `/api/x` and `/apix`, as in Envoy). */
  path_prefix: string;
  /** A name from `chains`. */
  chain: string;
}

export interface RegistrySpec {
  /** Largest module POST /filters accepts. */
  max_module_bytes: number;
  /** Ed25519 public keys, base64 of the raw key; when any is set, every uploaded module must be signed by one. */
  trusted_keys: string[];
}

export interface FileStoreSpec {
  kind: 'file';
  /** Absolute path of the snapshot file. */
  path: string;
}

/** The store a fleet of proxies shares: etcd v3 (host/store/etcd-store.ts). */
export interface EtcdStoreSpec {
  kind: 'etcd';
  /** Client URLs, `http://host:port` (or `https://` with tls); the client spreads calls over them. */
  endpoints: string[];
  /** Every key lives under `<prefix>/` (no trailing slash here); proxies with one prefix share one state. */
  prefix: string;
  /** How long one etcd call may take before it fails (an admin write then answers 503). */
  timeout_ms: number;
  /** Paths absolute. Without `ca`, the system's CAs verify etcd's certificate. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** etcd user (write the password as ${ENV_VAR}: the manifest loader expands it). */
  auth?: { username: string; password: string };
}

/** Store kinds: the embedded file store (the default) and etcd. */
export type StoreSpec = FileStoreSpec | EtcdStoreSpec;

/** A named admin token, kept only as its digest. */
export interface AdminTokenSpec {
  /** Shown in logs and change history as who made a change. */
  name: string;
  /** Lower-case hex SHA-256 of the token. */
  sha256: string;
  /**
   * `read`: GET routes only (secret-looking config values redacted); `write`: every route;
   * `register`: register, heartbeat and deregister instances of `services` only.
   */
  role: 'read' | 'write' | 'register';
  /** For `register`: the services the token may register instances of. */
  services?: string[];
}

/** With neither `token` nor `tokens` the admin API has no auth, and the schema keeps it on loopback. */
export interface AdminSpec extends HostPort {
  /** Shorthand for one write token named "admin"; absent (or empty) = none. */
  token?: string;
  /** Named tokens (admin.tokens); absent = none. */
  tokens?: AdminTokenSpec[];
  /**
   * `token` (the default): with neither token nor tokens, a generated token kept in
   * `token_file` guards every route. `none`: no auth at all (an explicit, logged opt-out).
   */
  auth: 'token' | 'none';
  /** Where the generated admin token is kept (absolute); default `admin.token` in the state folder. */
  token_file: string;
  /** Host names (besides IP literals and localhost) the admin API answers to; others get 421. */
  allowed_hosts: string[];
}

export type AccessLogMode = 'stdout' | 'off';

/** Host spans, a SERVER span per request and a CLIENT span per upstream attempt (host/telemetry/tracing.ts). */
export interface TracingSpec {
  exporter: 'otlp' | 'console' | 'off';
  /** OTLP/HTTP traces URL (spans are posted as JSON). */
  endpoint: string;
  /** The `service.name` of the spans. */
  service_name: string;
  /** Share of new traces recorded, 0..1; a request with a traceparent keeps its sampled flag. */
  sample_ratio: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export interface Limits {
  max_request_headers_kb: number;
  max_buffered_body_bytes: number;
  /** Largest response body an http_call hands a filter; a larger one fails the call. */
  max_http_call_response_bytes: number;
  drain_timeout_ms: number;
}

/** How the host reads a request before any filter runs (host/proxy/request-intake.ts). */
export interface HttpSpec {
  /** Decode escaped unreserved characters and resolve `.` / `..` segments in the path. */
  normalize_path: boolean;
  /** Runs of `/` in the path become one. */
  merge_slashes: boolean;
  /** `%2F`, `%5C` and `\` in the path: refuse with 400, forward as they are, or read as `/`. */
  escaped_slashes: 'reject' | 'keep' | 'decode';
  /** Proxies in front of Weft whose X-Forwarded-For entries are trusted (0: the peer is the client). */
  xff_trusted_hops: number;
  /** Headers removed from every incoming request (lowercase; `x-weft-*` is a prefix). */
  identity_headers: string[];
}

/** The service registry's timing (host/discovery). */
export interface DiscoverySpec {
  /** TTL of a registration that does not give `ttl_s`. */
  default_ttl_s: number;
  /** How long an instance that missed its TTL stays listed (unhealthy) before it is removed. */
  grace_s: number;
  /** CIDRs where instances may be registered even at link-local/metadata or the proxy's own addresses. */
  allowed_networks: string[];
  /** Most instances one service may have; a registration past it gets 409. */
  max_instances_per_service: number;
}

export interface Manifest {
  listen: ListenerSpec;
  admin: AdminSpec;
  clusters: ClusterSpec[];
  /** Always a name from `clusters`. */
  default_cluster: string;
  /** The chain every request takes unless a route attaches another (seeds the store's first revision). */
  filters: FilterSpec[];
  /** Extra chains by name, for routes. */
  chains: Record<string, FilterSpec[]>;
  routes: RouteSpec[];
  registry: RegistrySpec;
  store: StoreSpec;
  discovery: DiscoverySpec;
  access_log: AccessLogMode;
  tracing: TracingSpec;
  log_level: LogLevelName;
  limits: Limits;
  http: HttpSpec;
  overload?: OverloadSpec;
  /**
   * Worker threads serving the listener: a count, or `auto` (os.availableParallelism()). 1 serves
   * from the main thread alone, as before workers existed (host/workers/).
   */
  workers: WorkersSpec;
}

export type WorkersSpec = 'auto' | number;

/** What the schema needs to know about where the manifest came from. */
export interface ManifestContext {
  /** Folder of the manifest file: relative paths in it resolve against this. */
  baseDir: string;
}

type IssueInput = { input?: unknown };

/** A field's message, except that a missing value always reads "is required". */
function unlessMissing(message: (input: unknown) => string) {
  return (issue: IssueInput) => (issue.input === undefined ? 'is required' : message(issue.input));
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)):([0-9]+)$/;

/** `"host:port"` (IPv6 as `[::1]:80`) -> {host, port}. */
function hostPort() {
  const notHostPort = unlessMissing((input) => `${describeValue(input)} is not host:port`);
  return z.string({ error: notHostPort }).transform((text, ctx): HostPort => {
    const match = HOST_PORT.exec(text);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: notHostPort({ input: text }), input: text });
      return z.NEVER;
    }
    const port = Number(match[3]);
    if (port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `port ${port} is out of range (1-65535)`, input: text });
      return z.NEVER;
    }
    return { host: match[1] ?? match[2]!, port };
  });
}

/** An integer; digit strings count too, so `${TIMEOUT_MS}` works. */
function integer(min: number) {
  const error = unlessMissing((input) => `must be an integer >= ${min}, not ${describeValue(input)}`);
  const number = z.number({ error }).int({ error }).min(min, { error });
  return z.preprocess((value) => (typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value), number);
}

/** Cluster, filter and chain names; dots are excluded because names appear in dotted property paths. */
export const name = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, { error: (issue) => `${describeValue(issue.input)} is not a valid name (use letters, digits, "_" and "-")` });

/** Configuration handed to a filter: text as is, a mapping or list as JSON text. */
const configText = z
  .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())], {
    error: unlessMissing((input) => `must be a string, a mapping or a list, not ${describeValue(input)}`),
  })
  .transform((value) => (typeof value === 'string' ? value : JSON.stringify(value)));

const endpoint = z.union(
  [
    hostPort().transform((address): Endpoint => ({ ...address, weight: 1 })),
    z
      .strictObject({ address: hostPort(), weight: integer(1).default(1) })
      .transform(({ address, weight }): Endpoint => ({ ...address, weight })),
  ],
  { error: unlessMissing((input) => `${describeValue(input)} is not host:port or {address, weight}`) },
);

const clusterTimeouts = {
  connect_timeout_ms: integer(1).default(1000),
  timeout_ms: integer(1).default(15000),
};

/** A number from `min` to `max`; digit strings count too. */
function numberIn(min: number, max: number, options: { exclusiveMin?: boolean } = {}) {
  const range = `${options.exclusiveMin ? 'above' : 'from'} ${min}${options.exclusiveMin ? ' and up' : ''} to ${max}`;
  const error = unlessMissing((input) => `must be a number ${range}, not ${describeValue(input)}`);
  const number = z.number({ error }).max(max, { error });
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\d*\.?\d+$/.test(value) ? Number(value) : value),
    options.exclusiveMin ? number.gt(min, { error }) : number.min(min, { error }),
  );
}

const circuitBreakers = z.strictObject({
  max_connections: integer(1).optional(),
  max_pending_requests: integer(0).optional(),
  max_requests: integer(1).optional(),
});

// Defaults as Envoy's gradient controller.
const adaptiveConcurrency = z
  .strictObject({
    buffer_percent: numberIn(0, 1000).default(25),
    min_concurrency: integer(1).default(3),
    max_concurrency: integer(1).default(1000),
    min_rtt_interval_ms: integer(1).default(60_000),
    min_rtt_request_count: integer(1).default(50),
    jitter_percent: numberIn(0, 100).default(15),
    update_interval_ms: integer(1).default(100),
    sample_percentile: numberIn(0, 100, { exclusiveMin: true }).default(50),
    routes: z.array(z.string().min(1, { error: 'must not be empty' })).min(1, { error: 'must name at least one route (leave routes out to limit every request)' }).optional(),
  })
  .refine((spec) => spec.min_concurrency <= spec.max_concurrency, { error: 'must not be above max_concurrency', path: ['min_concurrency'] });

/** `protocol`, which must agree with `tls`: h2 is negotiated in the TLS handshake, h2c has none. */
const clusterProtocol = z.enum(['http1', 'h2', 'h2c']).optional();
const protocolFitsTls = [
  ({ protocol, tls }: { protocol?: UpstreamProtocol | undefined; tls?: unknown }) => (protocol === 'h2' ? tls !== undefined : protocol !== 'h2c' || tls === undefined),
  { error: 'h2 is HTTP/2 over TLS and needs tls; h2c is HTTP/2 without TLS and takes none', path: ['protocol'] },
] satisfies [unknown, { error: string; path: string[] }];

/** The overload settings of a cluster, the same for static and registry clusters. */
const clusterOverload = {
  circuit_breakers: circuitBreakers.optional(),
  adaptive_concurrency: adaptiveConcurrency.optional(),
};

const overloadThresholds = {
  event_loop_delay_ms: integer(1).optional(),
  heap_used_mb: integer(1).optional(),
};

const needsThreshold = { error: 'needs event_loop_delay_ms or heap_used_mb (or both): when to act' };
const hasThreshold = (trigger: OverloadTrigger) => trigger.event_loop_delay_ms !== undefined || trigger.heap_used_mb !== undefined;
const overloadTrigger = z.strictObject(overloadThresholds).refine(hasThreshold, needsThreshold);

const overload = z.strictObject({
  refresh_interval_ms: integer(10).default(250),
  stop_keepalive: overloadTrigger.optional(),
  shed_requests: z
    .strictObject({ ...overloadThresholds, share_percent: numberIn(0, 100, { exclusiveMin: true }).default(50), retry_after_s: integer(0).default(1) })
    .refine(hasThreshold, needsThreshold)
    .optional(),
  refuse_connections: overloadTrigger.optional(),
});

/** A file path from the manifest, resolved against the manifest's folder. */
function filePath(context: ManifestContext) {
  return z.string().min(1, { error: 'must not be empty' }).transform((file) => path.resolve(context.baseDir, file));
}

function upstreamTls(context: ManifestContext) {
  return z
    .strictObject({ ca: filePath(context).optional(), cert: filePath(context).optional(), key: filePath(context).optional(), servername: z.string().min(1).optional() })
    .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), { error: 'cert and key go together' });
}

function listenerTls(context: ManifestContext) {
  return z
    .strictObject({ cert: filePath(context), key: filePath(context), ca: filePath(context).optional(), require_client_cert: z.boolean().default(false) })
    .refine((tls) => !tls.require_client_cert || tls.ca !== undefined, { error: 'require_client_cert needs ca' });
}

/** `listen: host:port`, or `listen: {address: host:port, tls?: {...}, engine?}` (HTTPS, or a forced engine). */
function listener(context: ManifestContext) {
  return z.union(
    [
      hostPort(),
      z
        .strictObject({
          address: hostPort(),
          tls: listenerTls(context).optional(),
          engine: z.enum(['auto', 'uws', 'node']).optional(),
          protocols: z
            .array(z.enum(['http1', 'h2']))
            .min(1)
            .refine((list) => new Set(list).size === list.length, { error: 'protocols lists each protocol once' })
            .optional(),
        })
        .refine(({ tls, engine }) => tls === undefined || engine !== 'uws', { error: 'engine: uws serves plain HTTP only; TLS listeners run on node:https', path: ['engine'] })
        .refine(({ protocols, engine }) => engine !== 'uws' || !(protocols ?? []).includes('h2'), { error: 'engine: uws has no HTTP/2; h2 listeners run on node:http2', path: ['engine'] })
        .transform(
          ({ address, tls, engine, protocols }): ListenerSpec => ({
            ...address,
            ...(tls === undefined ? {} : { tls }),
            ...(engine === undefined ? {} : { engine }),
            ...(protocols === undefined ? {} : { protocols }),
          }),
        ),
    ],
    { error: unlessMissing((input) => `${describeValue(input)} is not host:port or {address, tls, engine, protocols}`) },
  );
}

const staticCluster = (context: ManifestContext) => z
  .strictObject({
    name,
    discovery: z.literal('static'),
    endpoints: z.array(endpoint).min(1, { error: 'must list at least one endpoint' }),
    tls: upstreamTls(context).optional(),
    protocol: clusterProtocol,
    ...clusterTimeouts,
    ...clusterOverload,
  })
  .refine(...protocolFitsTls)
  .transform(({ discovery: _static, tls, protocol, circuit_breakers, adaptive_concurrency, ...spec }): ClusterSpec => ({
    ...spec,
    ...(tls === undefined ? {} : { tls }),
    ...(protocol === undefined ? {} : { protocol }),
    ...(circuit_breakers === undefined ? {} : { circuit_breakers }),
    ...(adaptive_concurrency === undefined ? {} : { adaptive_concurrency }),
  }));

/** A cluster whose endpoints are the service registry's instances of a service (or a subset of them). */
const registryCluster = (context: ManifestContext) => z
  .strictObject({
    name,
    discovery: z.literal('registry'),
    service: serviceName,
    version: z.string().min(1, { error: 'must not be empty' }).optional(),
    metadata: z.record(z.string(), z.string()).default({}),
    tls: upstreamTls(context).optional(),
    protocol: clusterProtocol,
    ...clusterTimeouts,
    ...clusterOverload,
  })
  .refine(...protocolFitsTls)
  .transform(
    ({ name, service, version, metadata, tls, protocol, connect_timeout_ms, timeout_ms, circuit_breakers, adaptive_concurrency }): ClusterSpec => ({
      name,
      ...(tls === undefined ? {} : { tls }),
      ...(protocol === undefined ? {} : { protocol }),
      endpoints: [],
      discovery: version === undefined ? { service, metadata } : { service, version, metadata },
      connect_timeout_ms,
      timeout_ms,
      ...(circuit_breakers === undefined ? {} : { circuit_breakers }),
      ...(adaptive_concurrency === undefined ? {} : { adaptive_concurrency }),
    }),
  );

// `discovery` may be left out: a cluster with endpoints of its own is the default.
const cluster = (context: ManifestContext) => z.preprocess(
  (value) => (value !== null && typeof value === 'object' && !Array.isArray(value) && !('discovery' in value) ? { ...value, discovery: 'static' } : value),
  z.discriminatedUnion('discovery', [staticCluster(context), registryCluster(context)]),
);

/** `address/bits`, IPv4 or IPv6. */
const cidr = z.string().refine(
  (text) => {
    const [address, bits, extra] = text.split('/');
    const family = isIP(address ?? '');
    return extra === undefined && family !== 0 && bits !== undefined && /^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
  },
  { error: (issue) => `${describeValue(issue.input)} is not a network (address/bits, e.g. 169.254.169.254/32)` },
);

const discovery = z.strictObject({
  default_ttl_s: integer(1).default(15),
  grace_s: integer(0).default(60),
  allowed_networks: z.array(cidr).default([]),
  max_instances_per_service: integer(1).default(1000),
});

const adminDefaults: HostPort = { host: '127.0.0.1', port: 9901 };

const adminToken = z
  .strictObject({
    name,
    token_sha256: z
      .string({ error: unlessMissing((input) => `must be a string, not ${describeValue(input)}`) })
      .regex(/^[0-9A-Fa-f]{64}$/, { error: 'must be 64 hex digits: the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)' }),
    role: z.enum(['read', 'write', 'register'], { error: unlessMissing((input) => `must be read, write or register, not ${describeValue(input)}`) }),
    services: z.array(z.string().min(1, { error: 'must not be empty' })).min(1, { error: 'must name at least one service' }).optional(),
  })
  .superRefine((token, ctx) => {
    if (token.role === 'register' && token.services === undefined) ctx.addIssue({ code: 'custom', path: ['services'], message: 'is required for role register: the services this token may register' });
    if (token.role !== 'register' && token.services !== undefined) ctx.addIssue({ code: 'custom', path: ['services'], message: `is only for role register, not ${token.role}` });
  })
  .transform(({ name: tokenName, token_sha256, role, services }): AdminTokenSpec => ({
    name: tokenName,
    sha256: token_sha256.toLowerCase(),
    role,
    ...(services === undefined ? {} : { services }),
  }));


/** Token names are unique (admin.token is named "admin"), and no digest is given twice (its role would be ambiguous). */
function checkAdminTokens(token: string | undefined, tokens: readonly AdminTokenSpec[], ctx: z.core.$RefinementCtx) {
  const names = new Map<string, string>(token ? [['admin', 'admin.token']] : []);
  const digests = new Map<string, number>();
  tokens.forEach((item, index) => {
    const earlier = names.get(item.name);
    if (earlier !== undefined) ctx.addIssue({ code: 'custom', path: ['tokens', index, 'name'], message: `"${item.name}" is already used by ${earlier}` });
    else names.set(item.name, `admin.tokens[${index}]`);
    const same = digests.get(item.sha256);
    if (same !== undefined) ctx.addIssue({ code: 'custom', path: ['tokens', index, 'token_sha256'], message: `is the same token as admin.tokens[${same}]` });
    else digests.set(item.sha256, index);
  });
}

/** A host name the admin API answers to, as a browser sends it in Host (no port). */
const allowedHost = z
  .string({ error: (issue) => `must be a host name, not ${describeValue(issue.input)}` })
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, { error: (issue) => `${describeValue(issue.input)} is not a host name` })
  .transform((host) => host.toLowerCase());

/** The admin section as written; the token file's default needs the store, so the manifest completes it. */
const admin = (context: ManifestContext) => z
  .strictObject({
    listen: hostPort().default(adminDefaults),
    token: z.string().optional(),
    tokens: z.array(adminToken).optional(),
    auth: z.enum(['token', 'none'], { error: unlessMissing((input) => `must be token or none, not ${describeValue(input)}`) }).default('token'),
    token_file: z.string().min(1, { error: 'must not be empty' }).optional(),
    allowed_hosts: z.array(allowedHost).default([]),
    allow_remote: z.boolean({ error: unlessMissing((input) => `must be true or false, not ${describeValue(input)}`) }).default(false),
  })
  .superRefine(({ listen, token, tokens, auth, allow_remote }, ctx) => {
    checkAdminTokens(token, tokens ?? [], ctx);
    if (auth === 'none' && (token || (tokens ?? []).length > 0)) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'is none, but admin.token or admin.tokens is set: remove one or the other' });
    }
    // The admin API changes what the proxy runs: it stays on this machine unless the manifest says otherwise, and then only with auth.
    if (!allow_remote && !isLoopback(listen.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen'],
        message: `${listen.host} is not a loopback address; set admin.allow_remote: true to serve the admin API to other machines`,
      });
    }
    if (allow_remote && !token && (tokens ?? []).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['allow_remote'], message: 'needs admin.token or admin.tokens: an admin API without auth stays on loopback' });
    }
  })
  .transform(({ listen, token, tokens, auth, token_file, allowed_hosts }) => ({
    ...listen,
    ...(token ? { token } : {}),
    ...(tokens === undefined ? {} : { tokens }),
    auth,
    ...(token_file === undefined ? {} : { token_file: path.resolve(context.baseDir, token_file) }),
    allowed_hosts,
  }));

/**
 * The folder Weft keeps its own files in: the file store's folder, or `.weft` beside the
 * manifest when the state is in etcd.
 */
export function stateFolder(store: StoreSpec, baseDir: string): string {
  return store.kind === 'file' ? path.dirname(store.path) : path.join(baseDir, '.weft');
}

/** A number from 0 to 1; digit strings count too. */
const ratioError = unlessMissing((input) => `must be a number from 0 to 1, not ${describeValue(input)}`);
const ratio = z.preprocess(
  (value) => (typeof value === 'string' && /^\d*\.?\d+$/.test(value) ? Number(value) : value),
  z.number({ error: ratioError }).min(0, { error: ratioError }).max(1, { error: ratioError }),
);

const tracing = z.strictObject({
  exporter: z.enum(['otlp', 'console', 'off']).default('off'),
  endpoint: z.url({ protocol: /^https?$/, error: (issue) => `${describeValue(issue.input)} is not an http(s) URL` }).default('http://localhost:4318/v1/traces'),
  service_name: z.string().min(1, { error: 'must not be empty' }).default('weft'),
  sample_ratio: ratio.default(1),
});

const limits = z.strictObject({
  // At most what the listener engines parse (HEADER_BYTES_CEILING in host/proxy/proxy-context.ts, 256 KiB).
  max_request_headers_kb: z.preprocess(
    (value) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
    z.number({ error: unlessMissing((input) => `must be an integer from 1 to 256, not ${describeValue(input)}`) }).int().min(1).max(256, { error: (issue) => `must be an integer from 1 to 256, not ${describeValue(issue.input)}` }),
  ).default(60),
  max_buffered_body_bytes: integer(1).default(1024 * 1024),
  max_http_call_response_bytes: integer(1).default(1024 * 1024),
  drain_timeout_ms: integer(0).default(10_000),
});

const headerPattern = z
  .string({ error: (issue) => `must be a header name (or a prefix ending in *), not ${describeValue(issue.input)}` })
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { error: (issue) => `${describeValue(issue.input)} is not a header name (letters, digits and !#$%&'*+-.^_\`|~; a trailing * makes it a prefix)` })
  .transform((name) => name.toLowerCase());

const http = z.strictObject({
  normalize_path: z.boolean({ error: 'must be true or false' }).default(true),
  merge_slashes: z.boolean({ error: 'must be true or false' }).default(true),
  escaped_slashes: z
    .enum(['reject', 'keep', 'decode'], { error: (issue) => `must be reject, keep or decode, not ${describeValue(issue.input)}` })
    .default('reject'),
  xff_trusted_hops: integer(0).default(0),
  identity_headers: z.array(headerPattern, { error: 'must be a list of header names' }).default(['x-consumer', 'x-weft-*']),
});

/** A filter's containment limits; the manifest's filters and the chain spec's entries both carry them. */
export type ContainmentLimits = Pick<FilterSpec, 'fuel' | 'max_memory_mb' | 'cpu_budget_ms_per_s' | 'trap_cooldown' | 'vm_id' | 'quotas'>;

/** The limits `spec` sets, without keys for the absent ones (so stored specs show only what was chosen). */
export function containmentOf(spec: ContainmentLimits): ContainmentLimits {
  const out: ContainmentLimits = {};
  if (spec.fuel !== undefined) out.fuel = spec.fuel;
  if (spec.max_memory_mb !== undefined) out.max_memory_mb = spec.max_memory_mb;
  if (spec.cpu_budget_ms_per_s !== undefined) out.cpu_budget_ms_per_s = spec.cpu_budget_ms_per_s;
  if (spec.trap_cooldown !== undefined) out.trap_cooldown = spec.trap_cooldown;
  if (spec.vm_id !== undefined) out.vm_id = spec.vm_id;
  if (spec.quotas !== undefined) out.quotas = spec.quotas;
  return out;
}

/** A filter's containment limits, as the manifest and chain spec entries write them (all optional). */
export const containmentKeys = {
  fuel: integer(1).optional(),
  max_memory_mb: integer(1).optional(),
  cpu_budget_ms_per_s: integer(1).optional(),
  trap_cooldown: z
    .strictObject({ traps: integer(1).optional(), window_ms: integer(1).optional(), cooldown_ms: integer(1).optional() })
    .transform((spec): Partial<TrapCooldownSpec> => Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined)))
    .optional(),
  vm_id: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).optional(),
  quotas: z
    .strictObject({
      shared_data_bytes: integer(0).optional(),
      queue_depth: integer(0).optional(),
      metrics: integer(0).optional(),
      log_lines_per_s: integer(0).optional(),
      http_calls: integer(0).optional(),
      http_call_response_bytes: integer(0).optional(),
    })
    .transform((spec): Partial<FilterQuotaSpec> => Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined)))
    .optional(),
};

function filter(context: ManifestContext) {
  return z
    .strictObject({
      name,
      module: z.string().min(1, { error: 'must not be empty' }),
      sha256: z
        .string()
        .regex(/^[0-9A-Fa-f]{64}$/, { error: 'must be 64 hex digits' })
        .optional(),
      config: configText.default(''),
      root_id: z.string().optional(),
      vm_config: configText.default(''),
      on_error: z.enum(['fail_closed', 'fail_open']).default('fail_closed'),
      ...containmentKeys,
    })
    .transform(
      ({ fuel, max_memory_mb, cpu_budget_ms_per_s, trap_cooldown, vm_id, quotas, ...spec }): FilterSpec => ({
        name: spec.name,
        module: path.resolve(context.baseDir, spec.module),
        ...(spec.sha256 === undefined ? {} : { sha256: spec.sha256.toLowerCase() }),
        config: spec.config,
        root_id: spec.root_id ?? spec.name,
        vm_config: spec.vm_config,
        on_error: spec.on_error,
        ...containmentOf({ fuel, max_memory_mb, cpu_budget_ms_per_s, trap_cooldown, vm_id, quotas }),
      }),
    );
}

const HOST_PATTERN = /^(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** A route, as the manifest and the chain spec of the admin API write it. */
export const route = z
  .strictObject({
    host: z
      .string()
      .regex(HOST_PATTERN, { error: (issue) => `${describeValue(issue.input)} is not a host name (without port; "*.example.com" for subdomains)` })
      .optional(),
    path_prefix: z.string().startsWith('/', { error: 'must start with "/"' }).default('/'),
    chain: name,
  })
  .transform(({ host, path_prefix, chain }): RouteSpec => (host === undefined ? { path_prefix, chain } : { host: host.toLowerCase(), path_prefix, chain }));

/** Every route names a chain that exists. */
export function checkRouteChains(routes: readonly RouteSpec[], chains: readonly string[], ctx: z.core.$RefinementCtx, field: PropertyKey[] = ['routes']) {
  const known = chains.length === 0 ? '(no chains are defined)' : `(chains: ${chains.join(', ')})`;
  routes.forEach((item, index) => {
    if (!chains.includes(item.chain)) ctx.addIssue({ code: 'custom', path: [...field, index, 'chain'], message: `"${item.chain}" is not a chain ${known}` });
  });
}

const MIB = 1024 * 1024;

const registry = z
  .strictObject({
    max_module_bytes: integer(1).default(16 * MIB),
    trusted_keys: z
      .array(
        z.string().transform((text, ctx) => {
          try {
            return rawPublicKey(parsePublicKey(text).key);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message, input: text });
            return z.NEVER;
          }
        }),
      )
      .default([]),
  });

function store(context: ManifestContext) {
  const file = z
    .strictObject({ kind: z.literal('file'), path: z.string().min(1).optional() })
    .transform(({ path: file }): FileStoreSpec => ({ kind: 'file', path: path.resolve(context.baseDir, file ?? 'weft-state.json') }));
  // `kind` may be left out: the embedded file store is the default.
  return z.preprocess(
    (value) => (value !== null && typeof value === 'object' && !Array.isArray(value) && !('kind' in value) ? { ...value, kind: 'file' } : value),
    z.discriminatedUnion('kind', [file, etcdStore(context)]),
  );
}

/** `host:port` or an http(s) URL without a path; kept without a scheme when it had none (see etcdStore). */
const etcdEndpoint = z.string().transform((text, ctx) => {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  let url: URL | undefined;
  try {
    url = new URL(scheme === undefined ? `http://${text}` : text);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.port === '' || !['/', ''].includes(url.pathname) || url.search !== '') {
    ctx.addIssue({ code: 'custom', message: `${describeValue(text)} is not host:port or http(s)://host:port`, input: text });
    return z.NEVER;
  }
  return scheme === undefined ? url.host : `${url.protocol}//${url.host}`;
});

function etcdStore(context: ManifestContext) {
  return z
    .strictObject({
      kind: z.literal('etcd'),
      endpoints: z.array(etcdEndpoint).min(1, { error: 'must list at least one etcd endpoint' }),
      prefix: z
        .string()
        .regex(/^\/[A-Za-z0-9._-][A-Za-z0-9._\/-]*$/, { error: (issue) => `${describeValue(issue.input)} is not a key prefix like /weft (a "/", then letters, digits, ".", "_", "-", "/")` })
        .default('/weft')
        .transform((prefix) => prefix.replace(/\/+$/, '')),
      timeout_ms: integer(1).default(3000),
      tls: z
        .strictObject({ ca: filePath(context).optional(), cert: filePath(context).optional(), key: filePath(context).optional() })
        .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), { error: 'cert and key go together' })
        .optional(),
      auth: z.strictObject({ username: z.string().min(1, { error: 'must not be empty' }), password: z.string() }).optional(),
    })
    .superRefine((spec, ctx) => {
      spec.endpoints.forEach((endpoint, index) => {
        if (spec.tls !== undefined && endpoint.startsWith('http://')) {
          ctx.addIssue({ code: 'custom', path: ['endpoints', index], message: `${endpoint} is plain http, but tls is set (use https:// or host:port)` });
        }
      });
    }, whenClean('endpoints', 'tls'))
    .transform(({ tls, auth, ...spec }): EtcdStoreSpec => ({
      ...spec,
      // A bare host:port is https with tls, http without.
      endpoints: spec.endpoints.map((endpoint) => (endpoint.includes('://') ? endpoint : `${tls === undefined ? 'http' : 'https'}://${endpoint}`)),
      ...(tls === undefined ? {} : { tls }),
      ...(auth === undefined ? {} : { auth }),
    }));
}

/** Reports `items[j].name` values that repeat an earlier item's name. */
export function checkUniqueNames(list: ReadonlyArray<{ name: string }>, field: string, ctx: z.core.$RefinementCtx) {
  const firstIndex = new Map<string, number>();
  list.forEach((item, index) => {
    const earlier = firstIndex.get(item.name);
    if (earlier === undefined) firstIndex.set(item.name, index);
    else ctx.addIssue({ code: 'custom', path: [field, index, 'name'], message: `"${item.name}" is already used by ${field}[${earlier}]` });
  });
}

/** Run a cross-field check only when the fields it reads parsed cleanly (so their types hold). */
function whenClean(...fields: string[]) {
  return {
    when: (payload: z.core.ParsePayload) =>
      payload.value !== null &&
      typeof payload.value === 'object' &&
      !Array.isArray(payload.value) &&
      !payload.issues.some((issue) => fields.includes(String(issue.path?.[0]))),
  };
}

/** `auto` or a count of worker threads (digit strings too, so `${WORKERS}` works). */
const notWorkers = unlessMissing((input) => `must be auto or an integer >= 1, not ${describeValue(input)}`);
const workers = z.preprocess(
  (value) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
  z.union([z.literal('auto', { error: notWorkers }), z.number({ error: notWorkers }).int({ error: notWorkers }).min(1, { error: notWorkers })], { error: notWorkers }),
);

export function manifestSchema(context: ManifestContext): z.ZodType<Manifest, unknown> {
  return z
    .strictObject({
      listen: listener(context),
      admin: admin(context).prefault({}),
      clusters: z.array(cluster(context)).min(1, { error: 'must list at least one cluster' }),
      default_cluster: name.optional(),
      filters: z.array(filter(context)).default([]),
      chains: z.record(name, z.array(filter(context))).default({}),
      routes: z.array(route).default([]),
      registry: registry.prefault({}),
      store: store(context).prefault({}),
      discovery: discovery.prefault({}),
      access_log: z.enum(['stdout', 'off']).default('stdout'),
      tracing: tracing.prefault({}),
      log_level: z.enum(LOG_LEVELS).default('info'),
      limits: limits.prefault({}),
      http: http.prefault({}),
      overload: overload.optional(),
      workers: workers.default('auto'),
    })
    .superRefine((manifest, ctx) => {
      checkUniqueNames(manifest.clusters, 'clusters', ctx);
      const names = manifest.clusters.map((c) => c.name);
      const known = `(clusters: ${names.join(', ')})`;
      if (manifest.default_cluster === undefined) {
        if (names.length > 1) {
          ctx.addIssue({ code: 'custom', path: ['default_cluster'], message: `is required when there are several clusters ${known}` });
        }
      } else if (!names.includes(manifest.default_cluster)) {
        ctx.addIssue({ code: 'custom', path: ['default_cluster'], message: `"${manifest.default_cluster}" is not a cluster ${known}` });
      }
    }, whenClean('clusters', 'default_cluster'))
    .superRefine((manifest, ctx) => checkUniqueNames(manifest.filters, 'filters', ctx), whenClean('filters'))
    .superRefine((manifest, ctx) => {
      for (const [chain, filters] of Object.entries(manifest.chains)) checkUniqueNames(filters, `chains.${chain}`, ctx);
    }, whenClean('chains'))
    .superRefine((manifest, ctx) => checkRouteChains(manifest.routes, Object.keys(manifest.chains), ctx), whenClean('chains', 'routes'))
    .transform(({ overload: overloadSpec, admin: adminSpec, ...manifest }): Manifest => ({
      ...manifest,
      admin: { ...adminSpec, token_file: adminSpec.token_file ?? path.join(stateFolder(manifest.store, context.baseDir), 'admin.token') },
      default_cluster: manifest.default_cluster ?? manifest.clusters[0]!.name,
      ...(overloadSpec === undefined ? {} : { overload: overloadSpec }),
    }));
}
