// A service instance: what a registration says (the admin API's body), checked, and the record
// kept in the store. Health and heartbeats are not part of the record: they are the registry's
// live view (service-registry.ts).

import { isIP, isIPv4 } from 'node:net';
import { z } from 'zod';
import { describeValue, formatIssues, manifestErrorMap } from '../config/errors.js';

/** An instance as stored under `services/<service>/instances/<id>` (JSON). */
export interface InstanceRecord {
  id: string;
  service: string;
  /** IPv4 address or DNS name, without the port. */
  address: string;
  port: number;
  version?: string;
  weight: number;
  /** Free-form labels a cluster can select on (`zone: a`). */
  metadata: Record<string, string>;
  ttl_s: number;
  /** ISO time of the (last) registration. */
  registered_at: string;
}

/** What a registration may set; the registry adds id, service and registered_at. */
export type Registration = Omit<InstanceRecord, 'id' | 'service' | 'registered_at'>;

/** Longest TTL a registration may ask for: a day (etcd leases, issue 8, take whole seconds too). */
const MAX_TTL_S = 86_400;
/** Endpoint weights are u32 in the endpoints property; a bound keeps round-robin sums exact. */
const MAX_WEIGHT = 1_000_000;

/** Service names appear in store keys and admin paths: no `/`, no spaces. */
export const serviceName = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/, {
    error: (issue) => `${describeValue(issue.input)} is not a valid service name (letters, digits, ".", "_" and "-", at most 128)`,
  });

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `address` cannot be an instance's address, or undefined when it can. */
export function addressProblem(address: string): string | undefined {
  if (isIPv4(address)) return undefined;
  // The upstream pools build `http://host:port` URLs, which IPv6 would need in brackets.
  if (isIP(address.replace(/^\[(.*)\]$/, '$1')) === 6) return `${describeValue(address)}: IPv6 addresses are not supported for instances yet`;
  if (address.includes(':')) return `${describeValue(address)} is not an address (give the port in "port", not in the address)`;
  const labels = address.split('.');
  const dnsName = address.length <= 253 && labels.every((label) => DNS_LABEL.test(label));
  // All-numeric names that are not IPv4 (999.1.1.1, 10.0.0) are typos, not host names.
  if (!dnsName || labels.every((label) => /^[0-9]+$/.test(label))) return `${describeValue(address)} is not an IPv4 address or host name`;
  return undefined;
}

function integerIn(min: number, max: number, unit = '') {
  const error = (issue: { input?: unknown }) =>
    issue.input === undefined ? 'is required' : `must be an integer from ${min} to ${max}${unit}, not ${describeValue(issue.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function registrationSchema(defaultTtlS: number) {
  return z.strictObject({
    address: z.string().superRefine((address, ctx) => {
      const problem = addressProblem(address);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: address });
    }),
    port: integerIn(1, 65535),
    version: z.string().min(1, { error: 'must not be empty' }).max(128).optional(),
    weight: integerIn(1, MAX_WEIGHT).default(1),
    metadata: z.record(z.string().min(1, { error: 'keys must not be empty' }), z.string()).default({}),
    ttl_s: integerIn(1, MAX_TTL_S, ' (seconds)').default(defaultTtlS),
  });
}

/** Checks a registration body; problems are one line each (`port: must be an integer from 1 to 65535, not 70000`). */
export function parseRegistration(input: unknown, defaultTtlS: number): { ok: true; registration: Registration } | { ok: false; problems: string[] } {
  const parsed = registrationSchema(defaultTtlS).safeParse(input, { error: manifestErrorMap });
  if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues).map((line) => line.replace(/^manifest: /, 'body: ')) };
  const { version, ...rest } = parsed.data;
  return { ok: true, registration: version === undefined ? rest : { ...rest, version } };
}
