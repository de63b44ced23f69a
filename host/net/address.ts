import { BlockList, createServer, isIP } from 'node:net';

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

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Literal loopback addresses and `localhost`; any other name might resolve anywhere, so it is not. */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, 'ipv4');
  return family === 6 && LOOPBACK.check(host, 'ipv6');
}
