// The chain spec: which filter versions run, in which order, with which configuration, and
// which extra chains routes attach. What GET /chain shows and PUT /chain takes:
//
//   filters: [{name, version, config, on_error, root_id?, vm_config?}]   the default chain
//   chains:  {<name>: [same entries]}                                    extra chains (optional)
//   routes:  [{host?, path_prefix, chain}]                               first match wins (optional)
//
// `name` is the filter's name in the registry (and its plugin name); `version` may be left out
// of a PUT to mean the latest version, and is stored resolved.

import { z } from 'zod';
import type { SlotSpec } from '../chain/filter-slot.js';
import { DEFAULT_CHAIN } from '../chain/manager.js';
import { formatIssues, manifestErrorMap } from '../config/errors.js';
import { checkRouteChains, checkUniqueNames, containmentKeys, containmentOf, name, route, type ContainmentLimits, type OnError, type RouteSpec } from '../config/schema.js';

/** A filter's configuration as written: text, or a mapping / list the filter receives as JSON text. */
export type ConfigValue = string | Record<string, unknown> | unknown[];

/** Containment limits (fuel, max_memory_mb, trap_cooldown) are omitted when the host's defaults apply. */
export interface ChainEntry extends ContainmentLimits {
  name: string;
  version: number;
  config: ConfigValue;
  on_error: OnError;
  /** Omitted when it is the name. */
  root_id?: string;
  /** Omitted when empty. */
  vm_config?: ConfigValue;
}

export interface ChainSpec {
  filters: ChainEntry[];
  /** Omitted when there are none. */
  chains?: Record<string, ChainEntry[]>;
  routes?: RouteSpec[];
}

/** An entry as PUT may write it: without a version it means the latest. */
export type ChainEntryInput = Omit<ChainEntry, 'version'> & { version?: number };

export interface ChainSpecInput {
  filters: ChainEntryInput[];
  chains: Record<string, ChainEntryInput[]>;
  routes: RouteSpec[];
}

const configValue = z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())], {
  error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string, a mapping or a list'),
});

const entry = z
  .strictObject({
    name,
    version: z.number().int().min(1, { error: 'must be an integer >= 1' }).optional(),
    config: configValue.default(''),
    on_error: z.enum(['fail_closed', 'fail_open']).default('fail_closed'),
    root_id: z.string().min(1).optional(),
    vm_config: configValue.optional(),
    ...containmentKeys,
  })
  .transform((item): ChainEntryInput => {
    const out: ChainEntryInput = { name: item.name, config: item.config, on_error: item.on_error, ...containmentOf(item) };
    if (item.version !== undefined) out.version = item.version;
    if (item.root_id !== undefined && item.root_id !== item.name) out.root_id = item.root_id;
    if (item.vm_config !== undefined && item.vm_config !== '') out.vm_config = item.vm_config;
    return out;
  });

const specSchema = z
  .strictObject({
    filters: z.array(entry).default([]),
    chains: z.record(name, z.array(entry)).default({}),
    routes: z.array(route).default([]),
  })
  .superRefine((spec, ctx) => {
    checkUniqueNames(spec.filters, 'filters', ctx);
    for (const [chain, filters] of Object.entries(spec.chains)) checkUniqueNames(filters, `chains.${chain}`, ctx);
    checkRouteChains(spec.routes, Object.keys(spec.chains), ctx);
  });

/** Checks a chain spec from a request body; the problems are one line each, like the manifest's. */
export function parseChainSpec(input: unknown): { ok: true; spec: ChainSpecInput } | { ok: false; problems: string[] } {
  if (input !== null && typeof input === 'object' && 'revision' in input) {
    return { ok: false, problems: ['revision: not part of a chain spec (send If-Match: <revision> to make the change conditional)'] };
  }
  const parsed = specSchema.safeParse(input, { error: manifestErrorMap });
  if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues) };
  return { ok: true, spec: parsed.data };
}

/** Every chain of a spec, the default one first, as [chain name, entries]. */
export function chainsOf<T>(spec: { filters: T[]; chains?: Record<string, T[]> }): Array<[string, T[]]> {
  return [[DEFAULT_CHAIN, spec.filters], ...Object.entries(spec.chains ?? {})];
}

/** Where an entry is, for messages: `filters[1] (auth)` or `chains.api[0] (auth)`. */
export function entryLocation(chain: string, index: number, filter: string): string {
  return `${chain === DEFAULT_CHAIN ? 'filters' : `chains.${chain}`}[${index}] (${filter})`;
}

/** The chains (by name) whose entries use `name` at `version`. */
export function chainsUsing(spec: ChainSpec, filter: string, version: number): string[] {
  return chainsOf(spec)
    .filter(([, entries]) => entries.some((e) => e.name === filter && e.version === version))
    .map(([chain]) => chain);
}

export function configText(value: ConfigValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The manifest keeps configuration as text; a mapping written as YAML comes back as the mapping. */
export function configFromText(text: string): ConfigValue {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && JSON.stringify(value) === text) return value as ConfigValue;
  } catch {
    // plain text
  }
  return text;
}

export function slotSpec(item: ChainEntry): SlotSpec {
  return {
    name: item.name,
    config: configText(item.config),
    root_id: item.root_id ?? item.name,
    vm_config: configText(item.vm_config ?? ''),
    on_error: item.on_error,
    ...containmentOf(item),
  };
}

/** A spec with empty optional parts left out, as it is stored and shown. */
export function compactSpec(filters: ChainEntry[], chains: Record<string, ChainEntry[]>, routes: RouteSpec[]): ChainSpec {
  const spec: ChainSpec = { filters };
  if (Object.keys(chains).length > 0) spec.chains = chains;
  if (routes.length > 0) spec.routes = routes;
  return spec;
}

/** What changed from `before` to `after`, one short line per change, for the history. */
export function describeChanges(before: ChainSpec | undefined, after: ChainSpec): string[] {
  if (before === undefined) return chainsOf(after).map(([chain, entries]) => `${chainLabel(chain)}${entries.map(label).join(', ') || '(no filters)'}`);
  const changes: string[] = [];
  const previous = new Map(chainsOf(before));
  const next = new Map(chainsOf(after));
  for (const [chain, entries] of next) {
    const old = previous.get(chain);
    if (old === undefined) {
      changes.push(`${chainLabel(chain)}added (${entries.map(label).join(', ') || 'no filters'})`);
      continue;
    }
    changes.push(...entryChanges(chainLabel(chain), old, entries));
  }
  for (const chain of previous.keys()) if (!next.has(chain)) changes.push(`${chainLabel(chain)}removed`);
  if (JSON.stringify(before.routes ?? []) !== JSON.stringify(after.routes ?? [])) changes.push(`routes: ${(after.routes ?? []).length} route(s) now`);
  return changes.length > 0 ? changes : ['no change'];
}

function entryChanges(prefix: string, before: ChainEntry[], after: ChainEntry[]): string[] {
  const changes: string[] = [];
  const old = new Map(before.map((e) => [e.name, e]));
  for (const item of after) {
    const was = old.get(item.name);
    if (was === undefined) {
      changes.push(`${prefix}${label(item)} added`);
      continue;
    }
    if (was.version !== item.version) changes.push(`${prefix}${item.name} version ${was.version} -> ${item.version}`);
    if (JSON.stringify(was.config) !== JSON.stringify(item.config)) changes.push(`${prefix}${item.name} config changed`);
    if (was.on_error !== item.on_error) changes.push(`${prefix}${item.name} on_error ${was.on_error} -> ${item.on_error}`);
    if ((was.root_id ?? '') !== (item.root_id ?? '') || JSON.stringify(was.vm_config ?? '') !== JSON.stringify(item.vm_config ?? '')) {
      changes.push(`${prefix}${item.name} root_id/vm_config changed`);
    }
    if (JSON.stringify(containmentOf(was)) !== JSON.stringify(containmentOf(item))) changes.push(`${prefix}${item.name} limits changed`);
  }
  const kept = new Set(after.map((e) => e.name));
  for (const item of before) if (!kept.has(item.name)) changes.push(`${prefix}${item.name} removed`);
  const oldOrder = before.map((e) => e.name).filter((n) => kept.has(n));
  const newOrder = after.map((e) => e.name).filter((n) => old.has(n));
  if (oldOrder.join() !== newOrder.join()) changes.push(`${prefix}order now ${after.map((e) => e.name).join(', ')}`);
  return changes;
}

function chainLabel(chain: string): string {
  return chain === DEFAULT_CHAIN ? '' : `chains.${chain}: `;
}

function label(item: ChainEntry): string {
  return `${item.name}@${item.version}`;
}
