// The manifest: its shape, its defaults and its checks, in one place. Later features add
// their keys here (routes, discovery, tls, store kinds, admin tokens) so there is a single
// source of truth for what `weft run` accepts.
//
// The schema both checks and normalises: what comes out (`Manifest`) has every default
// filled in, addresses split into {host, port}, paths absolute, and filter configs as text.
// Objects are strict, so a misspelt key is an error instead of a silently ignored setting.

import path from 'node:path';
import { z } from 'zod';
import { describeValue } from './errors.js';

/** An address. IPv6 hosts are kept without brackets (`::1`); add them back for URLs. */
export interface HostPort {
  host: string;
  port: number;
}

export interface Endpoint extends HostPort {
  weight: number;
}

export interface ClusterSpec {
  name: string;
  endpoints: Endpoint[];
  connect_timeout_ms: number;
  timeout_ms: number;
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
}

export interface FileStoreSpec {
  kind: 'file';
  /** Absolute path of the snapshot file. */
  path: string;
}

/** Store kinds; the etcd kind joins this union later. */
export type StoreSpec = FileStoreSpec;

export interface AdminSpec extends HostPort {
  /** Bearer token every admin route but /healthz requires; absent (or empty) = no auth. */
  token?: string;
}

export type AccessLogMode = 'stdout' | 'off';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export interface Limits {
  max_request_headers_kb: number;
  max_buffered_body_bytes: number;
  drain_timeout_ms: number;
}

export interface Manifest {
  listen: HostPort;
  admin: AdminSpec;
  clusters: ClusterSpec[];
  /** Always a name from `clusters`. */
  default_cluster: string;
  filters: FilterSpec[];
  store: StoreSpec;
  access_log: AccessLogMode;
  log_level: LogLevelName;
  limits: Limits;
}

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

/** Cluster and filter names; dots are excluded because names appear in dotted property paths. */
const name = z
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

const cluster = z.strictObject({
  name,
  endpoints: z.array(endpoint).min(1, { error: 'must list at least one endpoint' }),
  connect_timeout_ms: integer(1).default(1000),
  timeout_ms: integer(1).default(15000),
});

const adminDefaults: HostPort = { host: '127.0.0.1', port: 9901 };

const admin = z
  .strictObject({
    listen: hostPort().default(adminDefaults),
    token: z.string().optional(),
  })
  .transform(({ listen, token }): AdminSpec => (token ? { ...listen, token } : { ...listen }));

const limits = z.strictObject({
  max_request_headers_kb: integer(1).default(60),
  max_buffered_body_bytes: integer(1).default(1024 * 1024),
  drain_timeout_ms: integer(0).default(10_000),
});

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
    })
    .transform(
      (spec): FilterSpec => ({
        name: spec.name,
        module: path.resolve(context.baseDir, spec.module),
        ...(spec.sha256 === undefined ? {} : { sha256: spec.sha256.toLowerCase() }),
        config: spec.config,
        root_id: spec.root_id ?? spec.name,
        vm_config: spec.vm_config,
        on_error: spec.on_error,
      }),
    );
}

function store(context: ManifestContext) {
  const file = z
    .strictObject({ kind: z.literal('file'), path: z.string().min(1).optional() })
    .transform(({ path: file }): FileStoreSpec => ({ kind: 'file', path: path.resolve(context.baseDir, file ?? 'weft-state.json') }));
  // `kind` may be left out: the embedded file store is the default.
  return z.preprocess(
    (value) => (value !== null && typeof value === 'object' && !Array.isArray(value) && !('kind' in value) ? { ...value, kind: 'file' } : value),
    z.discriminatedUnion('kind', [file]),
  );
}

/** Reports `items[j].name` values that repeat an earlier item's name. */
function checkUniqueNames(list: ReadonlyArray<{ name: string }>, field: string, ctx: z.core.$RefinementCtx) {
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

export function manifestSchema(context: ManifestContext): z.ZodType<Manifest, unknown> {
  return z
    .strictObject({
      listen: hostPort(),
      admin: admin.prefault({}),
      clusters: z.array(cluster).min(1, { error: 'must list at least one cluster' }),
      default_cluster: name.optional(),
      filters: z.array(filter(context)).default([]),
      store: store(context).prefault({}),
      access_log: z.enum(['stdout', 'off']).default('stdout'),
      log_level: z.enum(LOG_LEVELS).default('info'),
      limits: limits.prefault({}),
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
    .transform((manifest): Manifest => ({ ...manifest, default_cluster: manifest.default_cluster ?? manifest.clusters[0]!.name }));
}
