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
