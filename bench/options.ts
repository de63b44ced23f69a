// Command-line options of the benchmark harness, with the full and --quick presets.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  /** Configuration ids to run (all when empty). */
  only: string[];
  /** Scenario ids to run (all when empty). */
  scenarios: string[];
  /** Below this fraction of idle CPU (both cores) the machine is not quiet. */
  quietIdle: number;
  /** Longest wait for a quiet machine before a run; the run then goes ahead, marked not quiet. */
  quietMaxWaitS: number;
  microIterations: number;
  /** First of the ~30 ports the run uses (upstream, one per configuration, Weft admin ports). */
  portBase: number;
  /** Folder that receives results/<stamp>.json and RESULTS.md. */
  outDir: string;
}

/** The repository root: this file runs as dist/bench/options.js. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const usage = `usage: node dist/bench/run.js [--quick] [options]
  --quick                 a ~2 minute version: 2 rounds, 1 s runs, 1 s warm-up, at most 5 s quiet wait
  --rounds N              rounds, each running every configuration once (default 5)
  --duration S            seconds per measured wrk run (default 10)
  --warmup S              seconds of wrk load before a configuration's measured runs (default 2)
  --connections N         connections of the loaded scenarios (default 50; the latency floor uses 1)
  --only a,b              run only these configuration ids
  --scenarios a,b         run only these scenario ids
  --quiet-idle F          idle fraction that counts as a quiet machine (default 0.9)
  --quiet-max-wait S      longest wait for a quiet machine before each run (default 60)
  --micro-iterations N    iterations of each ABI micro-benchmark (default 1000000)
  --port-base P           first port used (default 19300; the run uses P..P+39)
  --out DIR               where results/<stamp>.json and RESULTS.md go (default bench/)`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      scenarios: { type: 'string' },
      'quiet-idle': { type: 'string' },
      'quiet-max-wait': { type: 'string' },
      'micro-iterations': { type: 'string' },
      'port-base': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const quick = values.quick === true;
  return {
    quick,
    rounds: positiveInt('rounds', values.rounds, quick ? 2 : 5),
    durationS: positiveInt('duration', values.duration, quick ? 1 : 10),
    warmupS: nonNegativeInt('warmup', values.warmup, quick ? 1 : 2),
    connections: positiveInt('connections', values.connections, 50),
    only: list(values.only),
    scenarios: list(values.scenarios),
    quietIdle: fraction('quiet-idle', values['quiet-idle'], 0.9),
    quietMaxWaitS: nonNegativeInt('quiet-max-wait', values['quiet-max-wait'], quick ? 5 : 60),
    microIterations: positiveInt('micro-iterations', values['micro-iterations'], 1_000_000),
    portBase: positiveInt('port-base', values['port-base'], 19300),
    outDir: path.resolve(values.out ?? path.join(repoRoot, 'bench')),
  };
}

function list(value: string | undefined): string[] {
  return value ? value.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  const n = nonNegativeInt(name, value, fallback);
  if (n === 0) throw new Error(`--${name}: must be at least 1`);
  return n;
}

function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`--${name}: "${value}" is not a whole number`);
  return Number(value);
}

function fraction(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new Error(`--${name}: "${value}" is not a number between 0 and 1`);
  return n;
}
