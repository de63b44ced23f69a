// What the overload scenario (bench/overload.ts) and its test (test/overload.test.ts) share: an
// upstream whose latency rises with its concurrency, and a closed-loop load on 127.0.0.1,
// bounded in time and in requests, that records every answer.

import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

/**
 * A service with `capacity` workers and `baseMs` of work per request, shared like a CPU shares
 * its time: up to `capacity` requests in flight each take `baseMs`; past it each takes
 * `baseMs × inFlight / capacity` (the inFlight counted on arrival). Latency rises smoothly with
 * queueing, as a real service's does.
 */
export class QueueingUpstream {
  inFlight = 0;
  maxInFlight = 0;
  served = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly capacity: number,
    readonly baseMs: number,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      req.resume();
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const delayMs = this.baseMs * Math.max(1, this.inFlight / this.capacity);
      setTimeout(() => {
        this.inFlight--;
        this.served++;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
        res.end('ok\n');
      }, delayMs);
    });
  }

  static async start(capacity: number, baseMs: number, port = 0): Promise<QueueingUpstream> {
    const upstream = new QueueingUpstream(createServer({ keepAliveTimeout: 30_000 }), capacity, baseMs);
    await new Promise<void>((resolve) => upstream.server.listen(port, '127.0.0.1', resolve));
    return upstream;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A QueueingUpstream in a process of its own, so that its timers do not wait behind the load
 * generator's work (in one process, the load's own event-loop lag became the upstream's latency).
 */
export async function spawnQueueingUpstream(capacity: number, baseMs: number): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', String(capacity), String(baseMs)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve(Number(message)));
    child.once('exit', (code) => reject(new Error(`queueing upstream exited (${code})`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

// `node overload-load.js --serve CAPACITY BASE_MS`: the child of spawnQueueingUpstream.
if (process.argv[2] === '--serve' && process.send !== undefined) {
  const upstream = await QueueingUpstream.start(Number(process.argv[3]), Number(process.argv[4]));
  process.send(upstream.port);
  process.once('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
  process.once('disconnect', () => process.exit(0));
}

export interface Answer {
  status: number;
  /** Client-side round trip, ms. */
  latencyMs: number;
  /** When it was sent, ms since the load started. */
  sentAtMs: number;
  retryAfter: string | undefined;
}

export interface LoadSpec {
  /** http://127.0.0.1:port */
  url: string;
  /** Workers, each one request at a time on its own keep-alive connection. */
  concurrency: number;
  durationMs: number;
  /** Stops earlier once this many requests were sent. */
  maxRequests: number;
  /** A worker whose request was refused (503) waits this long before its next one, as a client backing off. */
  backoffMs: number;
  path?: string;
  headers?: Record<string, string>;
}

/** Runs the load; every answer in the order it came. Loopback only: `url` must be 127.0.0.1. */
export async function runClosedLoop(spec: LoadSpec): Promise<Answer[]> {
  if (!spec.url.startsWith('http://127.0.0.1:')) throw new Error(`load goes to 127.0.0.1 only, not ${spec.url}`);
  const pool = new Pool(spec.url, { connections: spec.concurrency, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const answers: Answer[] = [];
  const started = performance.now();
  let sent = 0;
  const worker = async () => {
    while (sent < spec.maxRequests && performance.now() - started < spec.durationMs) {
      sent++;
      const sentAt = performance.now();
      let status = 0;
      let retryAfter: string | undefined;
      try {
        const response = await pool.request({ method: 'GET', path: spec.path ?? '/', headers: spec.headers ?? {} });
        await response.body.dump();
        status = response.statusCode;
        const header = response.headers['retry-after'];
        retryAfter = Array.isArray(header) ? header[0] : header;
      } catch {
        status = 0; // refused or reset: counted, not thrown
      }
      answers.push({ status, latencyMs: performance.now() - sentAt, sentAtMs: sentAt - started, retryAfter });
      if (status !== 200 && spec.backoffMs > 0) await sleep(spec.backoffMs);
    }
  };
  try {
    await Promise.all(Array.from({ length: spec.concurrency }, worker));
  } finally {
    await pool.close();
  }
  return answers;
}

/** The q-quantile (0..1) of `values`, nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}
