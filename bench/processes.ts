// Starting the processes of a benchmark pinned to a core, knowing when they listen, and
// making sure none outlives the harness.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { sleep } from './proc-stats.js';

export interface Pinned {
  pid: number;
  name: string;
  logFile: string;
  child: ChildProcess;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

const running = new Set<Pinned>();

/**
 * Runs `command args` on one core (taskset execs it, so the pid is the command's own).
 * Output goes to a log file, never a pipe: a pipe nobody drains would stall a chatty process.
 * Each process leads its own process group, so stopping it also stops its children
 * (nginx's worker).
 */
export function spawnPinned(name: string, core: number, command: string, args: string[], logFile: string, cwd?: string): Pinned {
  const fd = openSync(logFile, 'a');
  const child = spawn('taskset', ['-c', String(core), command, ...args], {
    cwd,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const proc: Pinned = { pid: child.pid, name, logFile, child, exit: undefined };
  running.add(proc);
  child.on('exit', (code, signal) => {
    proc.exit = { code, signal };
    running.delete(proc);
  });
  return proc;
}

/** The last meaningful lines a process wrote (stack frames left out), for error messages. */
export function logTail(proc: Pinned, lines = 8): string {
  let text: string;
  try {
    text = readFileSync(proc.logFile, 'utf8');
  } catch {
    return '(no log)';
  }
  const meaningful = text.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l) && !/^Node\.js v\d/.test(l));
  return meaningful.slice(-lines).join('\n') || '(empty log)';
}

/** Why a process is gone, with the end of its log. */
export function exitReport(proc: Pinned): string {
  const how = proc.exit?.signal ? `signal ${proc.exit.signal}` : `code ${proc.exit?.code}`;
  return `${proc.name} exited (${how}); its log ends:\n${logTail(proc)}`;
}

/** Resolves once the port accepts connections; fails if the process exits first or the time runs out. */
export async function waitForPort(proc: Pinned, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exit) throw new Error(`before listening on ${port}, ${exitReport(proc)}`);
    if (await accepts(port)) return;
    if (Date.now() > deadline) {
      throw new Error(`${proc.name} did not listen on ${port} within ${timeoutMs / 1000} s:\n${logTail(proc)}`);
    }
    await sleep(50);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM to the process group, SIGKILL if it is still there after the grace period. */
export async function stop(proc: Pinned, graceMs = 5_000): Promise<void> {
  if (proc.exit) return;
  const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
  signalGroup(proc, 'SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) {
    signalGroup(proc, 'SIGKILL');
    await exited;
  }
}

function signalGroup(proc: Pinned, signal: NodeJS.Signals): void {
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // the group is already gone
  }
}

/** Kills whatever this harness started and is still running; for exits on errors and signals. */
export function killAllStarted(): void {
  for (const proc of running) signalGroup(proc, 'SIGKILL');
  running.clear();
}

/**
 * Runs a command to completion and returns its stdout; a failure is reported under `label`
 * with what the command printed.
 */
export function runToCompletion(label: string, command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${label}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${label} failed (${signal ?? `exit ${code}`}): ${(stderr || stdout).trim()}`));
    });
  });
}
