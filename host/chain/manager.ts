// Generations of chains and the hot swap between them.
//
// A generation is what one revision of the chain spec runs: the default chain, the extra chains,
// and the routes that pick among them. build() makes a generation completely (every VM started
// and configured) without touching the one serving; activate() then makes it current in one
// assignment, so every request that arrives afterwards takes it, and retires the previous one,
// whose chains are torn down as their last requests end.
//
// Slots are shared by key: a filter whose name, module (sha256), configuration, root_id,
// vm_config and on_error are unchanged keeps its slot, so its VM and in-VM state carry over
// to the next generation. A slot lives while any chain, current or draining, holds it.

import type { FilterModule } from '../abi/vm.js';
import { Chain, ChainBuildError } from './chain.js';
import { FilterSlot, type SlotSpec } from './filter-slot.js';
import type { ChainServices } from './services.js';

export interface PlannedFilter {
  readonly spec: SlotSpec;
  readonly module: FilterModule;
  /** Names the filter in build problems, e.g. `filters[1] (auth)`. */
  readonly location: string;
}

export interface PlannedRoute {
  /** Lower-case host without port; `*.example.com` matches subdomains; undefined = any host. */
  readonly host?: string;
  readonly pathPrefix: string;
  readonly chain: string;
}

export interface ChainPlan {
  /** Every chain by name; `default` serves requests no route claims. */
  readonly chains: ReadonlyMap<string, readonly PlannedFilter[]>;
  readonly routes: readonly PlannedRoute[];
}

export const DEFAULT_CHAIN = 'default';

interface Route {
  readonly host: string | undefined;
  /** `*.example.com` is kept as `.example.com` and matched as a suffix. */
  readonly wildcard: boolean;
  readonly pathPrefix: string;
  readonly chain: Chain;
}

export class Generation {
  /** The chain spec revision it runs; set when it becomes current. */
  revision = 0;
  readonly defaultChain: Chain;
  private readonly routes: readonly Route[];
  private readonly routesUseHost: boolean;
  private remaining: number;

  constructor(
    readonly chains: ReadonlyMap<string, Chain>,
    routes: readonly PlannedRoute[],
    private readonly onTornDown: () => void,
  ) {
    this.defaultChain = chains.get(DEFAULT_CHAIN)!;
    this.routes = routes.map((route) => {
      const wildcard = route.host?.startsWith('*.') ?? false;
      return { host: wildcard ? route.host!.slice(1) : route.host, wildcard, pathPrefix: route.pathPrefix, chain: chains.get(route.chain)! };
    });
    this.routesUseHost = this.routes.some((route) => route.host !== undefined);
    this.remaining = chains.size;
  }

  /** The chain for a request: the first route whose host and path prefix match, else the default. */
  chainFor(authority: string, path: string): Chain {
    const routes = this.routes;
    if (routes.length === 0) return this.defaultChain;
    const host = this.routesUseHost ? hostOf(authority) : '';
    for (const route of routes) {
      if (!path.startsWith(route.pathPrefix)) continue;
      if (route.host !== undefined && !(route.wildcard ? host.endsWith(route.host) : host === route.host)) continue;
      return route.chain;
    }
    return this.defaultChain;
  }

  /** New requests no longer take it; each chain is torn down when its last request ends. */
  retire(): void {
    for (const chain of this.chains.values()) chain.retire();
  }

  /** Called by each chain as it is torn down. */
  chainTornDown(): void {
    if (--this.remaining === 0) this.onTornDown();
  }
}

/** `Example.COM:8080` -> `example.com`; `[::1]:80` -> `[::1]`. */
function hostOf(authority: string): string {
  const end = authority.startsWith('[') ? authority.indexOf(']') + 1 : authority.lastIndexOf(':');
  return (end > 0 ? authority.slice(0, end) : authority).toLowerCase();
}

export interface ManagerEvents {
  /** Generations alive (built and not yet torn down, the current one included) or VMs alive changed. */
  changed(generations: number, vms: number): void;
}

export class ChainManager {
  private readonly slots = new Map<string, FilterSlot>();
  private current: Generation;
  private live = 0;

  constructor(
    private readonly services: ChainServices,
    private readonly events: ManagerEvents = { changed: () => undefined },
  ) {
    // An empty generation until the first activate(), so chainFor always has an answer.
    this.current = this.build({ chains: new Map([[DEFAULT_CHAIN, []]]), routes: [] });
  }

  /** The chain a request arriving now takes (the listener's hot path). */
  chainFor(authority: string, path: string): Chain {
    return this.current.chainFor(authority, path);
  }

  /**
   * Builds every chain of the plan, reusing live slots with the same key and starting a VM for
   * every other filter. Throws ChainBuildError naming every filter that did not start; then
   * nothing is left behind. Nothing serves the result until activate().
   */
  build(plan: ChainPlan): Generation {
    const fresh = new Map<string, FilterSlot>();
    const problems: string[] = [];
    const chainSlots = new Map<string, FilterSlot[]>();
    for (const [name, filters] of plan.chains) {
      const slots: FilterSlot[] = [];
      for (const filter of filters) {
        const key = slotKey(filter);
        let slot = this.slots.get(key) ?? fresh.get(key);
        if (slot === undefined) {
          try {
            slot = this.createSlot(key, filter);
          } catch (error) {
            problems.push(`${filter.location}: ${error instanceof Error ? error.message : String(error)}`);
            continue;
          }
          fresh.set(key, slot);
        }
        slots.push(slot);
      }
      chainSlots.set(name, slots);
    }
    if (problems.length > 0) {
      for (const slot of fresh.values()) slot.destroy();
      throw new ChainBuildError(problems);
    }
    for (const [key, slot] of fresh) this.slots.set(key, slot);

    const chains = new Map<string, Chain>();
    // The generation is created before its chains exist; each chain reports its teardown to it.
    let generation: Generation | undefined;
    for (const [name, slots] of chainSlots) chains.set(name, new Chain(name, slots, () => generation!.chainTornDown()));
    generation = new Generation(chains, plan.routes, () => this.generationTornDown());
    this.live++;
    this.events.changed(this.live, this.slots.size);
    return generation;
  }

  /** Makes `next` serve every request that arrives from now on, and retires the one it replaces. */
  activate(next: Generation, revision: number): void {
    next.revision = revision;
    const previous = this.current;
    this.current = next;
    previous.retire();
  }

  /** Drops a generation that was built but will not serve (its VMs stop unless the current one shares them). */
  discard(generation: Generation): void {
    generation.retire();
  }

  /** Retires the current generation (at shutdown, after the listener drained). */
  stop(): void {
    this.current.retire();
  }

  private createSlot(key: string, filter: PlannedFilter): FilterSlot {
    const slot: FilterSlot = FilterSlot.create(filter.spec, filter.module, this.services, () => {
      if (this.slots.get(key) !== slot) return; // a slot of a build that failed was never pooled
      this.slots.delete(key);
      this.events.changed(this.live, this.slots.size);
    });
    return slot;
  }

  private generationTornDown(): void {
    this.live--;
    this.events.changed(this.live, this.slots.size);
  }
}

function slotKey(filter: PlannedFilter): string {
  const { spec, module } = filter;
  return JSON.stringify([spec.name, module.sha256, spec.root_id, spec.vm_config, spec.config, spec.on_error, spec.fuel, spec.max_memory_mb, spec.cpu_budget_ms_per_s, spec.trap_cooldown, spec.vm_id, spec.quotas]);
}
