// What the kernel says about our processes and the machine, read from /proc.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ, normally 100). */
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

export interface CpuTime {
  userMs: number;
  sysMs: number;
}

interface ProcStat {
  pid: number;
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
}

/** Fields of /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone between listing and reading
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { pid, ppid: Number(fields[1]), utimeTicks: Number(fields[11]), stimeTicks: Number(fields[12]) };
}

/** The process and all its descendants (nginx's master and worker, for instance). */
function processTree(rootPid: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) all.push(stat);
  }
  const inTree = new Set([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
        inTree.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter((p) => inTree.has(p.pid));
}

/**
 * utime+stime of a process tree. /proc/<pid>/stat of a process already sums all its
 * threads (V8 and libuv threads included), so one line per process is enough.
 */
export function treeCpuTime(rootPid: number): CpuTime {
  let user = 0;
  let sys = 0;
  for (const p of processTree(rootPid)) {
    user += p.utimeTicks;
    sys += p.stimeTicks;
  }
  return { userMs: (user * 1000) / ticksPerSecond, sysMs: (sys * 1000) / ticksPerSecond };
}

/** Resident memory of a process tree, in MiB. */
export function treeRssMiB(rootPid: number): number {
  let kib = 0;
  for (const p of processTree(rootPid)) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
      if (match) kib += Number(match[1]);
    } catch {
      // exited meanwhile
    }
  }
  return kib / 1024;
}

/** Idle and total jiffies of all cores together, from the first line of /proc/stat. */
function machineJiffies(): { idle: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle: values[3]! + values[4]!, total };
}

export interface QuietWait {
  /** Idle fraction of the whole machine in the last sample before the run. */
  idle: number;
  waitedMs: number;
  quiet: boolean;
}

/**
 * Waits until the machine is quiet (idle fraction at least minIdle over a short sample),
 * at most maxWaitMs; other people's builds must not land inside a measurement.
 */
export async function waitForQuietMachine(minIdle: number, maxWaitMs: number): Promise<QuietWait> {
  const sampleMs = 250;
  const start = Date.now();
  for (;;) {
    const before = machineJiffies();
    await sleep(sampleMs);
    const after = machineJiffies();
    const total = after.total - before.total;
    const idle = total > 0 ? (after.idle - before.idle) / total : 1;
    const waitedMs = Date.now() - start;
    if (idle >= minIdle) return { idle, waitedMs, quiet: true };
    if (waitedMs >= maxWaitMs) return { idle, waitedMs, quiet: false };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
