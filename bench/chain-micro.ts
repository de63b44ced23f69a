// What a filter chain costs a request, in-process: each configuration's ns per request through
// HttpStream and FilterSlot as the proxy drives them (context create, request headers, response
// headers, bodies, log, done, delete), filters instrumented for fuel as `weft run` loads them.
// The empty chain costs nothing here (the proxy builds no HttpStream for it), so every figure
// is what that chain adds to a request over the empty chain:
//   - 1 and 5 no-op filters (test/filters/noop), GET, and 1 no-op filter on a 64 KiB POST whose
//     body comes back as the response (16 KiB chunks, as the post-64k scenario's echo);
//   - 5 no-op filters with 50 requests in flight, interleaved phase by phase as a loaded proxy
//     runs them, so tables keyed by request hold as many entries as under wrk;
//   - each built-in filter alone, and the six in the quickstart order;
//   - a foreign filter: test/filters/foreign-raw, raw-ABI WAT shaped like a Rust/Go SDK build
//     (every callback exported, one header added), so the host's cost for such filters shows.
// Samples of all configurations are interleaved so that each sees the same (shared) machine.
// usage: node dist/bench/chain-micro.js [REQUESTS_PER_SAMPLE]   (default 2000; prints a table,
// then one CHAIN_MICRO_RESULT line of JSON)

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabtInit from 'wabt';
import { FilterModule } from '../host/abi/vm.js';
import { Chain } from '../host/chain/chain.js';
import { FilterSlot } from '../host/chain/filter-slot.js';
import type { ChainServices } from '../host/chain/services.js';
import { benchClusters, benchServices, builtInModuleBytes, FILTERS, repoRoot, serve, serveInFlight, slotSpec } from './chain-fixture.js';
import { chainMicroResultPrefix } from './micro-runner.js';
import { spread } from './stats.js';
import { noopFilterWasm } from './weft.js';

const SAMPLES = 7;

interface Configuration {
  name: string;
  chain: Chain;
  body?: Uint8Array[];
  /** Requests interleaved (serveInFlight); one at a time when absent. */
  inFlight?: number;
}

/** How many requests wrk keeps in flight in the loaded scenarios (bench/scenarios.ts, 50 connections). */
const IN_FLIGHT = 50;

async function foreignRawWasm(): Promise<Uint8Array> {
  const source = readFileSync(join(repoRoot, 'test', 'filters', 'foreign-raw', 'foreign-raw.wat'), 'utf8');
  const wabt = await wabtInit();
  const module = wabt.parseWat('foreign-raw.wat', source);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 2000);
  if (!(requests >= 1)) throw new Error('usage: node dist/bench/chain-micro.js [REQUESTS_PER_SAMPLE]');
  const clusters = benchClusters();
  const svc: ChainServices = benchServices(clusters);
  const slot = async (name: string, bytes: Uint8Array, config: unknown): Promise<FilterSlot> =>
    FilterSlot.create(slotSpec(name, config), await FilterModule.compile(bytes), svc);
  const chain = (name: string, slots: FilterSlot[]): Chain => new Chain(name, slots);

  const noop = readFileSync(noopFilterWasm);
  const noops = await Promise.all([1, 2, 3, 4, 5].map((i) => slot(`noop${i}`, noop, '')));
  const builtIns = await Promise.all(FILTERS.map(({ name, config }) => slot(name, builtInModuleBytes(name), config)));
  const post = Array.from({ length: 4 }, () => new Uint8Array(16 * 1024).fill(0x61));
  const configurations: Configuration[] = [
    { name: '1 no-op filter', chain: chain('noop1', noops.slice(0, 1)) },
    { name: '5 no-op filters', chain: chain('noop5', noops) },
    { name: `5 no-op filters, ${IN_FLIGHT} requests in flight`, chain: chain('noop5-in-flight', noops), inFlight: IN_FLIGHT },
    { name: '1 no-op filter, POST 64 KiB echoed', chain: chain('noop1-post', noops.slice(0, 1)), body: post },
    { name: 'foreign raw-ABI filter (every callback, one header added)', chain: chain('foreign', [await slot('foreign-raw', await foreignRawWasm(), '')]) },
    ...builtIns.map((s) => ({ name: s.pluginName, chain: chain(s.pluginName, [s]) })),
    { name: 'quickstart six (router → auth → ratelimit → breaker → lb → telemetry)', chain: chain('six', builtIns) },
  ];
  /** `count` requests of a configuration; the first failure's reason. */
  const run = ({ chain, body, inFlight }: Configuration, count: number): string | undefined => {
    let failed: string | undefined;
    if (inFlight === undefined) for (let i = 0; i < count; i++) failed ??= serve(chain, body);
    else for (let i = 0; i < count; i += inFlight) failed ??= serveInFlight(chain, inFlight);
    return failed;
  };
  for (const configuration of configurations) {
    const { name } = configuration;
    const failure = run(configuration, configuration.inFlight ?? 1);
    if (failure !== undefined) throw new Error(`${name}: the bench request did not pass (${failure})`);
  }

  const samples: number[][] = configurations.map(() => []);
  for (const configuration of configurations) run(configuration, requests); // warm-up, tier-up
  for (let s = 0; s < SAMPLES; s++) {
    configurations.forEach((configuration, c) => {
      const batch = configuration.inFlight ?? 1;
      const count = Math.ceil(requests / batch) * batch;
      const start = process.hrtime.bigint();
      const failed = run(configuration, count);
      samples[c]!.push(Number(process.hrtime.bigint() - start) / count);
      const { name } = configuration;
      // A sample in which the filter stopped passing requests measured something else.
      if (failed !== undefined) throw new Error(`${name}: a bench request did not pass during sampling (${failed})`);
    });
  }
  const results = configurations.map(({ name }, c) => ({ name, nsPerRequest: spread(samples[c]!)! }));
  console.log(`${requests} requests per sample, median (min–max) of ${SAMPLES} samples; the empty chain adds nothing in-process`);
  console.log('');
  console.log('| chain | µs/request added over the empty chain |');
  console.log('| --- | --- |');
  for (const { name, nsPerRequest: ns } of results) {
    console.log(`| ${name} | ${(ns.median / 1000).toFixed(2)} (${(ns.min / 1000).toFixed(2)}–${(ns.max / 1000).toFixed(2)}) |`);
  }
  console.log(chainMicroResultPrefix + JSON.stringify({ requests, samples: SAMPLES, results }));
  for (const { chain } of configurations) chain.retire();
  await clusters.close();
}

await main();
