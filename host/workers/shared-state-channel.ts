// Shared queues, process-wide: the one store lives on the main thread (the same in-memory
// implementation a single thread uses, host/chain/shared-state.ts, with its vm_id namespaces and
// quotas), and each worker reaches it with a synchronous call. (Shared data, read on every
// request by some filters, lives in a table every thread maps instead: shared-data-table.ts.)
//
// A host call from wasm must answer before it returns, and postMessage alone is asynchronous.
// So the worker posts the call on a MessagePort of its own, blocks in Atomics.wait on a word of
// a SharedArrayBuffer, and the main thread, after answering on the port, sets the word and
// wakes it; the worker then takes the answer with receiveMessageOnPort. Every call runs on the
// main thread one at a time, so a compare-and-swap is atomic across workers.

import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { WasmResult } from '../abi/enums.js';
import type { SharedQueues } from '../abi/host-api.js';

/** What a worker needs to reach the main thread's store: its end of the port and the wake-up word. */
export interface SharedStateLink {
  port: MessagePort;
  /** Int32Array over a SharedArrayBuffer of 4 bytes: 0 while a call is pending, 1 once answered. */
  signal: SharedArrayBuffer;
}

type Call =
  | { method: 'resolve' | 'enqueue' | 'dequeue'; args: unknown[] }
  | { method: 'register'; args: [vmId: string, name: string, maxDepth: number] };

type Answer = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Main thread: answers one worker's calls on `port` from `queues`. `queueReady` tells the worker
 * that registered a queue that it has items (proxy_on_queue_ready runs there).
 */
export function serveSharedState(port: MessagePort, signal: SharedArrayBuffer, queues: SharedQueues, queueReady: (queueId: number) => void): void {
  const word = new Int32Array(signal);
  port.on('message', (call: Call) => {
    let answer: Answer;
    try {
      answer = { ok: true, value: perform(call, queues, queueReady) };
    } catch (error) {
      answer = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    // The answer is on the port before the worker wakes to read it.
    port.postMessage(answer);
    Atomics.store(word, 0, 1);
    Atomics.notify(word, 0);
  });
}

function perform(call: Call, queues: SharedQueues, queueReady: (queueId: number) => void): unknown {
  switch (call.method) {
    case 'register':
      return queues.register(call.args[0], call.args[1], queueReady, call.args[2]);
    case 'resolve':
      return queues.resolve(...(call.args as Parameters<SharedQueues['resolve']>));
    case 'enqueue':
      return queues.enqueue(...(call.args as Parameters<SharedQueues['enqueue']>));
    case 'dequeue':
      return queues.dequeue(...(call.args as Parameters<SharedQueues['dequeue']>));
  }
}

/** Worker thread: the blocking call. */
class SharedStateClient {
  private readonly word: Int32Array;

  constructor(private readonly link: SharedStateLink) {
    this.word = new Int32Array(link.signal);
  }

  call(call: Call): unknown {
    Atomics.store(this.word, 0, 0);
    this.link.port.postMessage(call);
    // A loop, not one wait: the main thread sets the word before it notifies, so a call that saw
    // the word set returns at once and the next call can then be woken by that late notify
    // while its own answer is not yet there.
    while (Atomics.load(this.word, 0) === 0) Atomics.wait(this.word, 0, 0);
    const received = receiveMessageOnPort(this.link.port);
    if (received === undefined) throw new Error('shared state: the main thread woke this worker without an answer');
    const answer = received.message as Answer;
    if (!answer.ok) throw new Error(`shared state: ${answer.error}`);
    return answer.value;
  }
}

/**
 * Worker thread: shared queues in the main thread's store. The owner's onReady stays here; the
 * main thread says which queue is ready (queueReady) and this worker calls it.
 */
export class RemoteSharedQueues implements SharedQueues {
  private readonly onReady = new Map<number, (queueId: number) => void>();

  constructor(private readonly client: SharedStateClient) {}

  register(vmId: string, name: string, onReady: (queueId: number) => void, maxDepth: number): number {
    const queueId = this.client.call({ method: 'register', args: [vmId, name, maxDepth] }) as number;
    this.onReady.set(queueId, onReady);
    return queueId;
  }

  resolve(...args: Parameters<SharedQueues['resolve']>): number | undefined {
    return this.client.call({ method: 'resolve', args }) as number | undefined;
  }

  enqueue(...args: Parameters<SharedQueues['enqueue']>): WasmResult {
    return this.client.call({ method: 'enqueue', args }) as WasmResult;
  }

  dequeue(...args: Parameters<SharedQueues['dequeue']>): Uint8Array | null | undefined {
    return this.client.call({ method: 'dequeue', args }) as Uint8Array | null | undefined;
  }

  /** The main thread says a queue this worker registered has items. */
  ready(queueId: number): void {
    this.onReady.get(queueId)?.(queueId);
  }
}

export function remoteSharedQueues(link: SharedStateLink): RemoteSharedQueues {
  return new RemoteSharedQueues(new SharedStateClient(link));
}
