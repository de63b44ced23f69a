// A chain: the ordered filter slots one generation of requests runs through.
// Requests hold a reference for their whole life; a retired chain is torn down when its
// last request ends (hot swap builds the next chain completely before retiring this one).

import { readFile } from 'node:fs/promises';
import { FilterModule } from '../abi/vm.js';
import type { FilterSpec } from '../config/schema.js';
import { FilterSlot } from './filter-slot.js';
import type { ChainServices } from './services.js';

export class ChainBuildError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export class Chain {
  /** True when some filter reads request (or response) bodies; otherwise bodies stream untouched. */
  readonly inspectsRequestBody: boolean;
  readonly inspectsResponseBody: boolean;
  private activeRequests = 0;
  private retired = false;
  private destroyed = false;

  constructor(
    readonly revision: number,
    readonly slots: readonly FilterSlot[],
  ) {
    this.inspectsRequestBody = slots.some((s) => s.module.exports.requestBody);
    this.inspectsResponseBody = slots.some((s) => s.module.exports.responseBody);
  }

  acquire(): void {
    this.activeRequests++;
  }

  release(): void {
    if (--this.activeRequests === 0 && this.retired) this.destroy();
  }

  /** No new requests will take this chain; it is destroyed once the last one ends. */
  retire(): void {
    this.retired = true;
    if (this.activeRequests === 0) this.destroy();
  }

  get inFlight(): number {
    return this.activeRequests;
  }

  private destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const slot of this.slots) slot.destroy();
  }
}

/**
 * Loads, checks, instantiates and configures every filter. All problems are collected (one line
 * each, named by filter) so an operator sees every mistake at once; nothing is returned unless
 * every filter started.
 */
export async function buildChain(revision: number, specs: readonly FilterSpec[], services: ChainServices): Promise<Chain> {
  const problems: string[] = [];
  const slots: FilterSlot[] = [];
  for (const [index, spec] of specs.entries()) {
    const where = `filters[${index}] (${spec.name})`;
    try {
      const module = await loadModule(spec);
      slots.push(FilterSlot.create(spec, module, services));
    } catch (error) {
      problems.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) {
    for (const slot of slots) slot.destroy();
    throw new ChainBuildError(problems);
  }
  return new Chain(revision, slots);
}

async function loadModule(spec: FilterSpec): Promise<FilterModule> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(spec.module);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `module ${spec.module} not found` : `cannot read module ${spec.module}: ${(error as Error).message}`);
  }
  const module = await FilterModule.compile(bytes);
  if (spec.sha256 !== undefined && spec.sha256.toLowerCase() !== module.sha256) {
    throw new Error(`sha256 mismatch: the manifest pins ${spec.sha256}, module ${spec.module} is ${module.sha256}`);
  }
  return module;
}
