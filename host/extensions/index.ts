// Weft's host extensions: functions filters reach through proxy_call_foreign_function, by name.
// The composition root hands this map to every chain (ChainServices.foreignFunctions).

import type { WasmResult } from '../abi/enums.js';
import { monotonicClock } from './clock.js';
import { cryptoVerify } from './crypto.js';

/** A foreign function: its argument bytes in, result bytes (or a status) out. */
export type ForeignFunction = (args: Uint8Array) => Uint8Array | WasmResult;

export const weftForeignFunctions: ReadonlyMap<string, ForeignFunction> = new Map<string, ForeignFunction>([
  ['weft.crypto.verify', cryptoVerify],
  ['weft.clock.monotonic_ns', monotonicClock],
]);
