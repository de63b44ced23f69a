// Free loopback ports for processes that must be told their port up front.

import { createServer } from 'node:net';

/**
 * Ports this process has handed out. The OS may give a port it just freed straight back to the
 * next caller, and two ports asked for in a row (a listener and its admin) must differ.
 */
const handedOut = new Set<number>();

/** A port that was free a moment ago on 127.0.0.1 and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await osPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function osPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port assigned'));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

/**
 * The first of `count` consecutive ports, all free a moment ago, for a process that numbers its
 * ports from a base (the bench harness). Searched below Linux's ephemeral range (32768+) so the
 * OS does not hand one of them to an outgoing connection meanwhile; the start is random so two
 * suites running at once on one machine do not pick the same range.
 */
export async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * (32768 - 20000 - count));
    if (await allFree(base, count)) return base;
  }
}

async function allFree(base: number, count: number): Promise<boolean> {
  for (let port = base; port < base + count; port++) {
    if (handedOut.has(port) || !(await canListen(port))) return false;
  }
  for (let port = base; port < base + count; port++) handedOut.add(port);
  return true;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
