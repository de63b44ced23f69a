// Runs the real `weft run` command (node bin/weft.js) on a manifest written to a temp
// folder, waits until it listens, and keeps everything it prints for assertions.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { requestedEngine } from './engine.js';
import { freePort } from './ports.js';
import { repoRoot } from './repo.js';

/** A manifest as a plain object (written as YAML); listen and admin are filled in when absent. */
export type ManifestInput = Record<string, unknown>;

/** One access-log line (`"msg":"access"`). */
export interface AccessLine {
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  upstream: string | null;
  flags: string;
  bytes_sent: number;
  /** The text of an error the host answered itself; null otherwise. */
  reason: string | null;
  details: string | null;
  /** A gRPC call's grpc-status; null for other requests. */
  grpc_status: number | null;
}

const weftBin = join(repoRoot, 'bin', 'weft.js');
const LISTENING = '"msg":"listening"';
const ADMIN_LISTENING = '"msg":"admin listening"';
const running = new Set<ChildProcess>();

// A test that crashes must not leave proxies behind.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Output of a weft process, as it arrives. */
class Output {
  stdout = '';
  stderr = '';
  private waiters: Array<() => void> = [];

  append(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this[stream] += chunk.toString('utf8');
    this.wake();
  }

  /** Wakes everyone waiting in changed() (new output, or the process ended). */
  wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves on the next chunk (or after `ms`, whichever comes first). */
  changed(ms: number): Promise<void> {
    return new Promise((resolveChange) => {
      const timer = setTimeout(resolveChange, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolveChange();
      });
    });
  }

  get all(): string {
    return `${this.stdout}${this.stderr}`;
  }
}

export class WeftProcess {
  private exitCode: number | null = null;
  private readonly exited: Promise<number | null>;

  constructor(
    private readonly child: ChildProcess,
    private readonly output: Output,
    private readonly dir: string,
    readonly port: number,
    readonly adminPort: number,
    readonly manifestFile: string,
  ) {
    this.exited = new Promise((resolveExit) => {
      // 'close' rather than 'exit': by then stdout and stderr have been read to the end.
      child.once('close', (code, signal) => {
        running.delete(child);
        this.exitCode = code ?? (signal ? 128 : null);
        output.wake();
        resolveExit(this.exitCode);
      });
    });
  }

  /** Base URL of the proxy listener, e.g. http://127.0.0.1:40123 */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  get stdout(): string {
    return this.output.stdout;
  }

  get stderr(): string {
    return this.output.stderr;
  }

  /** stdout and stderr together. */
  get text(): string {
    return this.output.all;
  }

  get hasExited(): boolean {
    return this.exitCode !== null;
  }

  /** The weft process id (e.g. to read its memory use from /proc). */
  get pid(): number {
    return this.child.pid!;
  }

  /** Sends a signal without waiting (see waitForExit, stop). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Every stdout line that is JSON (pino), parsed. */
  logLines(): Array<Record<string, unknown>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const line of this.output.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line still being written
      }
    }
    return lines;
  }

  /** How many worker threads serve, as the `listening` line says (1 when it names none). */
  get workers(): number {
    const listening = this.logLines().find((line) => line.msg === 'listening');
    return typeof listening?.workers === 'number' ? listening.workers : 1;
  }

  accessLog(): AccessLine[] {
    return this.logLines().filter((line) => line.msg === 'access') as unknown as AccessLine[];
  }

  /** Waits until the output satisfies `predicate`; fails with the output so far on timeout or exit. */
  async waitForOutput(predicate: (text: string) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.output.all)) {
      if (this.exitCode !== null) {
        throw new Error(`weft exited with code ${this.exitCode} before ${what}; output:\n${this.output.all}`);
      }
      if (Date.now() > deadline) throw new Error(`weft: timed out waiting for ${what}; output:\n${this.output.all}`);
      await this.output.changed(Math.min(100, deadline - Date.now()));
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves to the exit code. */
  async stop(graceMs = 5000): Promise<number | null> {
    if (this.exitCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return this.exitCode;
  }

  /** Resolves when the process exits by itself. */
  waitForExit(): Promise<number | null> {
    return this.exited;
  }
}

/** Writes the manifest (YAML) into a fresh temp folder; returns the folder and file. */
export function writeManifest(manifest: ManifestInput): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-test-'));
  const file = join(dir, 'weft.yaml');
  writeFileSync(file, stringify(manifest));
  return { dir, file };
}

/** How the weft process is started: node options before bin/weft.js (e.g. `--import` a fault to inject), extra environment. */
export interface SpawnOptions {
  nodeArgs?: string[];
  env?: Record<string, string>;
}

function spawnWeft(args: string[], options: SpawnOptions = {}): { child: ChildProcess; output: Output } {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), weftBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  running.add(child);
  const output = new Output();
  child.stdout!.on('data', (chunk: Buffer) => output.append('stdout', chunk));
  child.stderr!.on('data', (chunk: Buffer) => output.append('stderr', chunk));
  return { child, output };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('error', () => resolveConnect(false));
  });
}

/**
 * The admin section tests run with: as given when it says anything about auth (token, tokens,
 * auth), else `auth: none`, so the many tests that are not about the admin API's auth can call it
 * without a token. test/admin-security.test.ts covers the default (a generated token).
 */
function openUnlessAuthGiven(admin: Record<string, unknown> | undefined): Record<string, unknown> {
  const given = admin !== undefined && ('token' in admin || 'tokens' in admin || 'auth' in admin);
  return given ? admin : { auth: 'none', ...admin };
}

/**
 * Starts `weft run -c <manifest>` and resolves once it has logged `"msg":"listening"` and
 * `"msg":"admin listening"` and its port accepts connections. Rejects with the process output if it exits or takes longer
 * than `timeoutMs`. `listen` and `admin` are set to free loopback ports unless given.
 */
export async function startWeft(manifest: ManifestInput, timeoutMs = 15_000, spawnOptions: SpawnOptions = {}): Promise<WeftProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  // `listenTls: {...}` asks for an HTTPS listener on the free port; a plain one runs on the
  // engine `listenEngine` names, else WEFT_TEST_ENGINE (helpers/engine.ts), else the default.
  // `listenProtocols: [...]` sets listen.protocols (h2 runs on node:http2, whatever the engine).
  // `admin: {...}` without `listen` keeps the free admin port.
  const { listenTls, listenEngine, listenProtocols, admin, ...rest } = manifest;
  const engine = listenProtocols === undefined ? (listenEngine ?? requestedEngine()) : undefined;
  const protocols = listenProtocols === undefined ? {} : { protocols: listenProtocols };
  const full: ManifestInput = {
    listen:
      listenTls !== undefined
        ? { address: `127.0.0.1:${port}`, tls: listenTls, ...protocols }
        : engine === undefined && listenProtocols === undefined
          ? `127.0.0.1:${port}`
          : { address: `127.0.0.1:${port}`, ...(engine === undefined ? {} : { engine }), ...protocols },
    admin: { listen: `127.0.0.1:${adminPort}`, ...openUnlessAuthGiven(admin as Record<string, unknown> | undefined) },
    ...rest,
  };
  const { dir, file } = writeManifest(full);
  const { child, output } = spawnWeft(['run', '-c', file], spawnOptions);
  const weft = new WeftProcess(child, output, dir, port, adminPort, file);
  try {
    // The admin API starts right after the listener: a test may call it at once.
    await weft.waitForOutput((text) => text.includes(LISTENING) && text.includes(ADMIN_LISTENING), 'the "listening" and "admin listening" log lines', timeoutMs);
    while (!(await canConnect(port))) {
      if (weft.hasExited) throw new Error(`weft run exited; output:\n${output.all}`);
      await new Promise((wait) => setTimeout(wait, 20));
    }
  } catch (error) {
    await weft.stop();
    throw error;
  }
  return weft;
}

/**
 * Runs `weft run` on a manifest that should be refused: resolves with the exit code and
 * output once it exits, or kills it and reports the output if it starts listening instead.
 */
export async function runWeftExpectingExit(
  manifest: ManifestInput,
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const port = await freePort();
  const adminPort = await freePort();
  const { admin, ...rest } = manifest;
  const { dir, file } = writeManifest({ listen: `127.0.0.1:${port}`, admin: { listen: `127.0.0.1:${adminPort}`, ...(admin as Record<string, unknown> | undefined) }, ...rest });
  const { child, output } = spawnWeft(['run', '-c', file]);
  const weft = new WeftProcess(child, output, dir, port, adminPort, file);
  let listened = false;
  try {
    await weft.waitForOutput((text) => text.includes(LISTENING), 'exit', timeoutMs);
    listened = true;
  } catch {
    // exited (what we expect) or hung: told apart below
  }
  const exited = weft.hasExited;
  const code = await weft.stop();
  if (!exited) throw new Error(`weft run did not exit (${listened ? 'it listened' : 'it hung'}); output:\n${output.all}`);
  return { code, stdout: output.stdout, stderr: output.stderr };
}
