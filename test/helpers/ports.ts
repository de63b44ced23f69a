// Free loopback ports for processes that must be told their port up front.

import { createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it, so clashes are unlikely). */
export function freePort(): Promise<number> {
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

