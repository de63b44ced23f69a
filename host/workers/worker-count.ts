// How many worker threads serve the listener. Several threads share one address through
// SO_REUSEPORT: uWebSockets.js sets it on Linux by default (uSockets), node:http and node:https
// only when asked, which Node supports from 22.12 (23.1 on the 23 line). Where the engine
// cannot share the address, one thread serves and the reason is logged.

import { availableParallelism } from 'node:os';
import type { Manifest } from '../config/schema.js';
import { chooseEngine } from '../proxy/listener-engine.js';

export interface WorkerCount {
  count: number;
  /** Why fewer threads serve than the manifest asks for; undefined when they all do. */
  reduced?: string;
}

export function workerCount(manifest: Pick<Manifest, 'workers' | 'listen'>, nodeVersion = process.versions.node): WorkerCount {
  const asked = manifest.workers === 'auto' ? availableParallelism() : manifest.workers;
  if (asked <= 1) return { count: 1 };
  const { tls, protocols, engine: askedEngine } = manifest.listen;
  const engine = tls !== undefined ? 'node:https' : protocols?.includes('h2') ? 'node:http2' : chooseEngine(askedEngine).engine === 'uws' ? 'uws' : 'node:http';
  if (engine !== 'uws' && !nodeReusesPorts(nodeVersion)) {
    return { count: 1, reduced: `workers: ${manifest.workers} asks for ${asked} threads, but ${engine} on Node ${nodeVersion} cannot share a port between threads (server.listen reusePort needs Node 22.12+), so one thread serves` };
  }
  return { count: asked };
}

/** server.listen({reusePort}) exists from Node 22.12 and 23.1. */
function nodeReusesPorts(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
