// What the main thread and a worker thread say to each other (besides shared queues, which have
// their own synchronous channel: shared-state-channel.ts, and shared data, a table every thread
// maps: shared-data-table.ts).

import type { ChainPlan } from '../chain/manager.js';
import type { Manifest } from '../config/schema.js';
import type { EndpointSpec } from '../proxy/clusters.js';
import type { SharedStateLink } from './shared-state-channel.js';

/** workerData of a worker thread. */
export interface WorkerStart {
  /** 1-based; logged and written in access log lines as `worker`. */
  index: number;
  manifest: Manifest;
  shared: SharedStateLink;
  /** A replacement worker serves this at once; the first workers wait to be told (build, activate, listen). */
  serving?: { plan: ChainPlan; revision: number };
  /** Endpoints of registry-backed clusters as last fed. */
  endpoints: Array<[cluster: string, endpoints: EndpointSpec[]]>;
  /** The requests in flight per endpoint, counted by every worker (proxy/in-flight.ts). */
  inFlight: SharedArrayBuffer;
  /** The shared-data table's memory (shared-data-table.ts). */
  sharedData: SharedArrayBuffer;
  /** The process's connection id counter (net/connection-facts.ts). */
  connectionIds: SharedArrayBuffer;
}

/** Main -> worker. Those with an `id` get a Reply with the same id. */
export type Command =
  | { id: number; op: 'build'; generation: number; plan: ChainPlan }
  | { id: number; op: 'activate'; generation: number; revision: number }
  | { op: 'discard'; generation: number }
  | { id: number; op: 'listen' }
  | { id: number; op: 'metrics' }
  /** Report the finished requests not yet reported, then reply. */
  | { id: number; op: 'flush' }
  | { id: number; op: 'drain'; timeoutMs: number }
  /** Close every connection now (a second signal while draining). */
  | { id: number; op: 'halt' }
  | { op: 'endpoints'; cluster: string; endpoints: EndpointSpec[] }
  | { op: 'queue-ready'; queueId: number };

/** Worker -> main. */
export type Report =
  | { op: 'reply'; id: number; ok: true; value?: unknown }
  | { op: 'reply'; id: number; ok: false; error: string; problems?: string[] }
  /** Finished requests since the last report, three entries each: cluster, status, duration ms. */
  | { op: 'finished'; requests: Array<string | number> }
  /** A replacement worker serves. */
  | { op: 'serving' };
