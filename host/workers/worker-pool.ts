// The main thread's side of the worker threads: starts them, builds and serves every chain
// generation in all of them (a GenerationHost for ChainControl), feeds them endpoints, collects
// their metrics and finished requests, replaces a worker that dies, drains them.
//
// A generation is built in every worker; if any fails, the others discard theirs and the build
// fails as one ChainBuildError, so a change either serves everywhere or nowhere. activate()
// resolves once every worker has made it current: PUT /chain answers after that.

import { createInFlightTable } from '../proxy/in-flight.js';
import { connectionIdMemory } from '../net/connection-facts.js';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { SharedQueues } from '../abi/host-api.js';
import { ChainBuildError } from '../chain/chain.js';
import type { ChainPlan } from '../chain/manager.js';
import type { Manifest } from '../config/schema.js';
import type { EndpointSpec } from '../proxy/clusters.js';
import type { GenerationHost } from '../registry/chain-control.js';
import type { Logger } from '../telemetry/logger.js';
import type { MetricsJson } from '../telemetry/metrics.js';
import type { Command, Report, WorkerStart } from './messages.js';
import { serveSharedState } from './shared-state-channel.js';

const WORKER_FILE = new URL('./worker-main.js', import.meta.url);

type Reply = Extract<Report, { op: 'reply' }>;

/** A command that gets a reply, before its id is assigned. */
type Request = Command extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

class WorkerFailed extends Error {
  constructor(
    message: string,
    readonly problems?: string[],
  ) {
    super(message);
  }
}

/** One worker thread and the calls waiting for its replies. */
class WorkerThread {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  exited = false;

  constructor(
    readonly index: number,
    readonly thread: Worker,
  ) {}

  request(command: Request): Promise<unknown> {
    if (this.exited) return Promise.reject(new WorkerFailed(`worker ${this.index} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread.postMessage({ ...command, id });
    });
  }

  tell(command: Exclude<Command, { id: number }>): void {
    if (!this.exited) this.thread.postMessage(command);
  }

  replied(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.ok) waiting?.resolve(reply.value);
    else waiting?.reject(new WorkerFailed(`worker ${this.index}: ${reply.error}`, reply.problems));
  }

  /** The thread ended: nothing it was asked will be answered. */
  ended(reason: string): void {
    this.exited = true;
    for (const waiting of this.pending.values()) waiting.reject(new WorkerFailed(`worker ${this.index} ${reason}`));
    this.pending.clear();
  }
}

export interface WorkerPoolOptions {
  count: number;
  manifest: Manifest;
  /** The memory of the process-wide shared-data table (every thread maps it), and the shared queues the main thread keeps. */
  sharedData: SharedArrayBuffer;
  queues: SharedQueues;
  logger: Logger;
  /** One finished request of any worker, for /stats. */
  finished(cluster: string, status: number, durationMs: number): void;
}

export class WorkerPool implements GenerationHost<number> {
  private readonly workers: WorkerThread[] = [];
  private nextGeneration = 1;
  /** Plans built and not yet activated or discarded, by generation. */
  private readonly built = new Map<number, ChainPlan>();
  /** What serves, for a replacement worker. */
  private serving: { plan: ChainPlan; revision: number } | undefined;
  private readonly endpoints = new Map<string, EndpointSpec[]>();
  /** Requests in flight per endpoint, one table every worker (and every replacement) counts in. */
  private readonly inFlight = createInFlightTable();
  private stopping = false;

  constructor(private readonly options: WorkerPoolOptions) {
    for (let index = 1; index <= options.count; index++) this.workers.push(this.spawn(index, undefined));
  }

  get count(): number {
    return this.options.count;
  }

  async build(plan: ChainPlan): Promise<number> {
    const generation = this.nextGeneration++;
    const outcomes = await Promise.allSettled(this.workers.map((worker) => worker.request({ op: 'build', generation, plan })));
    const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as WorkerFailed] : []));
    if (failures.length > 0) {
      for (const worker of this.workers) worker.tell({ op: 'discard', generation });
      // Every worker builds the same plan the same way: one worker's problems name them all.
      throw new ChainBuildError([...new Set(failures.flatMap((failure) => failure.problems ?? [failure.message]))]);
    }
    this.built.set(generation, plan);
    return generation;
  }

  async activate(generation: number, revision: number): Promise<void> {
    const plan = this.built.get(generation);
    this.built.delete(generation);
    if (plan !== undefined) this.serving = { plan, revision };
    // A worker that dies meanwhile is replaced with `serving`, so it serves this revision too.
    await Promise.allSettled(this.workers.map((worker) => worker.request({ op: 'activate', generation, revision })));
  }

  discard(generation: number): void {
    this.built.delete(generation);
    for (const worker of this.workers) worker.tell({ op: 'discard', generation });
  }

  /** Nothing to release: drain() ends the workers. */
  stop(): void {}

  /** Every worker listens (after the first generation serves). */
  async listen(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.request({ op: 'listen' })));
  }

  /** A registry-backed cluster's endpoints, for every worker (and any replacement). */
  updateEndpoints(cluster: string, endpoints: readonly EndpointSpec[]): void {
    this.endpoints.set(cluster, [...endpoints]);
    for (const worker of this.workers) worker.tell({ op: 'endpoints', cluster, endpoints: [...endpoints] });
  }

  /** Each worker's registry as JSON, for one scrape summed over all (a worker that does not answer is left out). */
  async metrics(): Promise<MetricsJson[]> {
    const outcomes = await Promise.allSettled(this.workers.map((worker) => worker.request({ op: 'metrics' }) as Promise<MetricsJson>));
    return outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  }

  /** Resolves once every worker has reported the requests it finished so far. */
  async flushFinished(): Promise<void> {
    await Promise.allSettled(this.workers.map((worker) => worker.request({ op: 'flush' })));
  }

  /** Every worker stops accepting, finishes its requests (bounded by `timeoutMs`) and exits. */
  async drain(timeoutMs: number): Promise<{ unfinished: number }> {
    this.stopping = true;
    const outcomes = await Promise.allSettled(this.workers.map((worker) => worker.request({ op: 'drain', timeoutMs }) as Promise<number>));
    // Only once every worker has drained: ending a thread that ran uWS while another still
    // serves has cut that other's connections (uWS 20.30).
    await Promise.allSettled(this.workers.map((worker) => worker.thread.terminate()));
    return { unfinished: outcomes.reduce((sum, outcome) => sum + (outcome.status === 'fulfilled' ? outcome.value : 0), 0) };
  }

  /**
   * Every worker closes its connections at once and ends. A worker thread must close its uWS
   * sockets before it ends (Node aborts the process otherwise), so the process exits after this.
   */
  async halt(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(
      this.workers.map(async (worker) => {
        await worker.request({ op: 'halt' });
        await worker.thread.terminate();
      }),
    );
  }

  private spawn(index: number, serving: WorkerStart['serving']): WorkerThread {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    const start: WorkerStart = {
      index,
      manifest: this.options.manifest,
      shared: { port: port2, signal },
      endpoints: [...this.endpoints],
      inFlight: this.inFlight,
      sharedData: this.options.sharedData,
      connectionIds: connectionIdMemory(),
      ...(serving === undefined ? {} : { serving }),
    };
    const thread = new Worker(WORKER_FILE, { workerData: start, transferList: [port2] });
    const worker = new WorkerThread(index, thread);
    serveSharedState(port1, signal, this.options.queues, (queueId) => this.workers[index - 1]?.tell({ op: 'queue-ready', queueId }));
    // The port must not keep the process alive once the workers are gone.
    port1.unref();
    thread.on('message', (report: Report) => this.reported(worker, report));
    thread.on('error', (error) => this.options.logger.error({ worker: index, err: error }, 'worker failed'));
    thread.on('exit', (code) => {
      worker.ended(`exited (code ${code})`);
      port1.close();
      if (this.stopping) return;
      this.options.logger.error({ worker: index, code }, 'worker exited; starting a replacement (its requests in flight failed)');
      this.workers[index - 1] = this.spawn(index, this.serving);
    });
    return worker;
  }

  private reported(worker: WorkerThread, report: Report): void {
    switch (report.op) {
      case 'reply':
        worker.replied(report);
        return;
      case 'finished': {
        const { requests } = report;
        for (let i = 0; i + 2 < requests.length; i += 3) this.options.finished(requests[i] as string, requests[i + 1] as number, requests[i + 2] as number);
        return;
      }
      case 'serving':
        this.options.logger.info({ worker: worker.index, revision: this.serving?.revision }, 'replacement worker serving');
        return;
    }
  }
}
