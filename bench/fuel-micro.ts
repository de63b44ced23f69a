// What containment costs (host/abi/fuel.ts), measured in-process on the real chain code:
//   1. the fuel rate: units per ns of the looper fixture's endless loop, in V8's baseline tier
//      (a module's first call: wasm code has no on-stack replacement, so a call that starts in
//      baseline code stays there) and once optimized; and the time DEFAULT_FUEL lasts in each;
//   2. per built-in filter (router, lb, breaker, ratelimit, auth, telemetry) and for the six in
//      one chain: ns per request (context create, request headers, response headers, log, done,
//      delete, through HttpStream and FilterSlot as the proxy drives them), the module compiled
//      as it is and instrumented, interleaved; module size and load time both ways; and the
//      fuel the filter's largest call needs (smallest budget that serves a request), against
//      the default budget.
// usage: node dist/bench/fuel-micro.js [REQUESTS_PER_SAMPLE]   (default 2000; a few seconds in all)

import { FilterQuotas } from '../host/chain/filter-quotas.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, WasmResult } from '../host/abi/enums.js';
import { DEFAULT_FUEL, instrumentModule } from '../host/abi/fuel.js';
import { HeaderMap } from '../host/abi/header-map.js';
import { concatBytes, encodeName, encodeSection } from '../host/abi/wasm-binary.js';
import { FilterModule, WasmVm } from '../host/abi/vm.js';
import { Chain } from '../host/chain/chain.js';
import { FilterSlot } from '../host/chain/filter-slot.js';
import type { ChainServices } from '../host/chain/services.js';
import { InMemorySharedData, InMemorySharedQueues } from '../host/chain/shared-state.js';
import { WeftMetrics } from '../host/telemetry/metrics.js';
import { benchClusters, benchServices, builtInModuleBytes, FILTERS, repoRoot, serve, slotSpec } from './chain-fixture.js';
import { spread } from './stats.js';

const SAMPLES = 7;
/** ns per request of each chain, samples interleaved so both see the same machine. */
function timeChains(chains: readonly Chain[], requests: number): number[] {
  const samples: number[][] = chains.map(() => []);
  for (const chain of chains) for (let i = 0; i < requests; i++) serve(chain); // warm-up, tier-up
  for (let s = 0; s < SAMPLES; s++) {
    chains.forEach((chain, c) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < requests; i++) serve(chain);
      samples[c]!.push(Number(process.hrtime.bigint() - start) / requests);
    });
  }
  return samples.map((values) => spread(values)!.median);
}

/** The smallest per-call budget with which the filter starts and serves a request (binary search). */
function fuelNeeded(module: FilterModule, name: string, config: unknown, svc: ChainServices): number {
  const passes = (fuel: number): boolean => {
    let slot: FilterSlot;
    try {
      slot = FilterSlot.create(slotSpec(name, config, fuel), module, svc);
    } catch {
      return false; // ran out while starting
    }
    const chain = new Chain('probe', [slot]);
    const ok = serve(chain) === undefined && serve(chain) === undefined;
    chain.retire();
    return ok;
  };
  let low = 1;
  let high = DEFAULT_FUEL;
  if (!passes(high)) throw new Error(`${name} does not serve a request within the default fuel`);
  while (high - low > Math.max(1, low / 100)) {
    const middle = Math.floor((low + high) / 2);
    if (passes(middle)) high = middle;
    else low = middle;
  }
  return high;
}

async function loadTime(bytes: Uint8Array, contain: boolean): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    await FilterModule.compile(bytes, { contain });
    times.push(performance.now() - start);
  }
  return spread(times)!.median;
}

/** Units per ns of the looper's endless loop: a fresh module's first call, then optimized code. */
async function fuelRate(): Promise<{ baseline: number; optimized: number }> {
  const bytes = readFileSync(join(repoRoot, 'test', 'filters', 'looper', 'build', 'looper.wasm'));
  const budget = 50_000_000;
  const rate = async (module: FilterModule): Promise<number> => {
    const host = {
      pluginName: 'looper', rootId: 'looper', vmId: '', logLevel: LogLevel.Warn, log: () => {}, reportTrap: () => {}, liveStream: () => undefined,
      sharedData: new InMemorySharedData(), queues: new InMemorySharedQueues(), metrics: new WeftMetrics({ processMetrics: false }).filterMetrics,
      getProperty: () => undefined, httpCall: () => WasmResult.Unimplemented, setTickPeriod: () => {}, foreignFunction: () => undefined,
      quotas: new FilterQuotas(undefined, () => {}),
    };
    const vm = await WasmVm.create(module, host, { vmConfig: new Uint8Array(), pluginConfig: new Uint8Array(), fuel: budget });
    const stream = {
      id: 2, hasContextIn: () => true,
      headerMap: (map: number) => (map === 0 ? new HeaderMap([':method', 'GET', ':path', '/', 'x-loop', '1']) : undefined),
      body: () => undefined, getProperty: () => undefined, setProperty: () => WasmResult.Ok, sendLocalResponse: () => WasmResult.Ok,
      continueStream: () => WasmResult.Ok, closeStream: () => WasmResult.Ok,
    };
    vm.createHttpContext(stream);
    const start = process.hrtime.bigint();
    try {
      vm.onRequestHeaders(stream, 3, true);
    } catch {
      return budget / Number(process.hrtime.bigint() - start);
    }
    throw new Error('the looper returned');
  };
  const baseline: number[] = [];
  const optimized: number[] = [];
  for (let i = 0; i < 3; i++) {
    // Other bytes (a custom section), so V8 compiles new code instead of reusing the cached, tiered-up one.
    const module = await FilterModule.compile(concatBytes([bytes, encodeSection(0, encodeName(`fuel-micro-${i}`))]));
    baseline.push(await rate(module));
    for (let warm = 0; warm < 3; warm++) await rate(module);
    optimized.push(await rate(module));
  }
  return { baseline: spread(baseline)!.median, optimized: spread(optimized)!.median };
}

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 2000);
  if (!(requests >= 1)) throw new Error('usage: node dist/bench/fuel-micro.js [REQUESTS_PER_SAMPLE]');
  const clusters = benchClusters();

  const rate = await fuelRate();
  console.log(`fuel rate, looper's endless loop: ${rate.baseline.toFixed(2)} units/ns in the baseline tier, ${rate.optimized.toFixed(2)} optimized`);
  console.log(`DEFAULT_FUEL (${DEFAULT_FUEL}) lasts ${(DEFAULT_FUEL / rate.baseline / 1e6).toFixed(0)} ms baseline, ${(DEFAULT_FUEL / rate.optimized / 1e6).toFixed(0)} ms optimized`);
  console.log('');
  console.log('| filter | ns/request plain | ns/request instrumented | overhead | module bytes plain → instrumented | load ms plain → instrumented | fuel of its largest call |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');

  // Every slot first, and the chain of all six before the one-filter chains: a chain retains its
  // slots, and a slot whose last chain retires is destroyed.
  const loaded: Array<{ name: string; config: unknown; bytes: Uint8Array; contained: FilterModule; slots: [FilterSlot, FilterSlot] }> = [];
  for (const { name, config } of FILTERS) {
    const bytes = builtInModuleBytes(name);
    const plain = await FilterModule.compile(bytes, { contain: false });
    const contained = await FilterModule.compile(bytes);
    loaded.push({ name, config, bytes, contained, slots: [FilterSlot.create(slotSpec(name, config), plain, benchServices(clusters)), FilterSlot.create(slotSpec(name, config), contained, benchServices(clusters))] });
  }
  const all = [new Chain('plain', loaded.map((l) => l.slots[0])), new Chain('contained', loaded.map((l) => l.slots[1]))];

  for (const { name, config, bytes, contained, slots } of loaded) {
    const one = slots.map((slot) => new Chain(name, [slot]));
    for (const chain of one) {
      const failure = serve(chain);
      if (failure !== undefined) throw new Error(`${name}: the bench request did not pass (${failure})`);
    }
    const [plainNs, containedNs] = timeChains(one, requests);
    const fuel = fuelNeeded(contained, name, config, benchServices(clusters));
    console.log(
      `| ${name} | ${plainNs!.toFixed(0)} | ${containedNs!.toFixed(0)} | ${percent(plainNs!, containedNs!)} | ${bytes.length} → ${instrumentModule(bytes).bytes.length} | ` +
        `${(await loadTime(bytes, false)).toFixed(1)} → ${(await loadTime(bytes, true)).toFixed(1)} | ${fuel} |`,
    );
    for (const chain of one) chain.retire();
  }
  const [plainNs, containedNs] = timeChains(all, requests);
  console.log(`| all six, one chain | ${plainNs!.toFixed(0)} | ${containedNs!.toFixed(0)} | ${percent(plainNs!, containedNs!)} | | | |`);
  for (const chain of all) chain.retire();
  await clusters.close();
}

function percent(base: number, value: number): string {
  const change = ((value - base) / base) * 100;
  return `${change >= 0 ? '+' : ''}${change.toFixed(1)} %`;
}

await main();
