// Which engine serves the plain listener: uWebSockets.js where one of its binaries loads (the
// fast path), node:http where none does, unless the manifest forces one (`listen.engine`).
// The choice and its reason are logged once at start, so a slower fallback never goes unseen.

import type { ListenerEngine } from '../config/schema.js';
import { loadUws, type UwsModule } from './uws-loader.js';

export type EngineChoice = { engine: 'uws'; uws: UwsModule; reason: string; splitHeadBytes: number | undefined } | { engine: 'node'; reason: string };

/** Throws when `uws` is forced and no build loads, saying why each one did not. */
export function chooseEngine(requested: ListenerEngine = 'auto'): EngineChoice {
  if (requested === 'node') return { engine: 'node', reason: 'listen.engine: node' };
  const load = loadUws();
  if (load.ok) return { engine: 'uws', uws: load.uws, reason: requested === 'uws' ? `listen.engine: uws, ${load.build}` : load.build, splitHeadBytes: load.splitHeadBytes };
  if (requested === 'uws') throw new Error(`listen.engine is uws, but no uWebSockets.js build loads here (${load.reason}); use auto or node`);
  return { engine: 'node', reason: load.reason };
}

/** The start-up line: `listener engine: node:http (uWS 20.57: GLIBC_2.38 not found; ...)`. */
export function describeEngine(choice: EngineChoice): string {
  return `listener engine: ${choice.engine === 'uws' ? 'uWebSockets.js' : 'node:http'} (${choice.reason})`;
}
