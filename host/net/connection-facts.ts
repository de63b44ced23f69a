// What a node:net socket tells about its connection, for the request properties (source.*,
// destination.*, connection.id): the peer's address and port, the local address and port the
// connection arrived on, and an id every request on that connection shares. The node-based
// listeners use it; uWebSockets.js exposes neither ports nor a connection (see README: Properties).

import type { Socket } from 'node:net';

export interface ConnectionFacts {
  readonly remoteAddress: string;
  readonly remotePort: number | undefined;
  readonly localAddress: string;
  readonly localPort: number;
  readonly connectionId: number;
}

const facts = new WeakMap<Socket, ConnectionFacts>();

// The last connection id handed out, in shared memory: worker threads (and a worker that replaces
// one that crashed) draw from one counter, so an id names one connection in the whole process, as
// Envoy's connection.id does. The main thread's counter is the one workers are given.
let lastConnectionId = new BigUint64Array(new SharedArrayBuffer(8));

/** The counter's memory, for worker threads to share (workers/messages.ts: WorkerStart). */
export function connectionIdMemory(): SharedArrayBuffer {
  return lastConnectionId.buffer as SharedArrayBuffer;
}

/** In a worker thread: draw connection ids from the main thread's counter. */
export function shareConnectionIds(memory: SharedArrayBuffer): void {
  lastConnectionId = new BigUint64Array(memory);
}

/** The socket's facts, worked out once per connection. */
export function connectionFacts(socket: Socket): ConnectionFacts {
  let known = facts.get(socket);
  if (known === undefined) {
    known = {
      remoteAddress: unmapIPv4(socket.remoteAddress ?? ''),
      remotePort: socket.remotePort,
      localAddress: unmapIPv4(socket.localAddress ?? ''),
      localPort: socket.localPort ?? 0,
      connectionId: Number(Atomics.add(lastConnectionId, 0, 1n) + 1n),
    };
    facts.set(socket, known);
  }
  return known;
}

/** An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; the properties use a.b.c.d. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
