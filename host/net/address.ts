import { createServer } from 'node:net';

/**
 * uWebSockets.js binds with SO_REUSEPORT, so a second process on the same address would
 * silently share it (each answering part of the traffic). A plain bind without that flag fails
 * while any socket holds the address, so listeners try one first.
 */
export function assertAddressFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code === 'EADDRINUSE' ? 'address in use' : error.message)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
