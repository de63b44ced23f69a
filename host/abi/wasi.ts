// The WASI preview1 functions a proxy-wasm guest may import, served identically under
// `wasi_snapshot_preview1` and `wasi_unstable`, as proxy-wasm hosts serve them: stdout and stderr
// go to the VM's log, clocks and randomness work, there are no files, arguments or environment.
// Functions not listed here get a stub answering ENOSYS (see imports.ts).

import { randomFillSync } from 'node:crypto';
import { monotonicNanoseconds, realtimeNanoseconds } from './clock.js';
import { LogLevel } from './enums.js';
import type { HostFunctions } from './imports.js';
import type { GuestMemory } from './memory.js';

/**
 * Random bytes come from one pool refilled 4 KiB at a time: a filter that asks for 16 bytes per
 * request (a trace id) would otherwise pay for a call into OpenSSL each time.
 */
const RANDOM_POOL_BYTES = 4096;
const randomPool = Buffer.alloc(RANDOM_POOL_BYTES);
let randomPoolUsed = RANDOM_POOL_BYTES;

function takeRandomBytes(target: Uint8Array): void {
  if (target.length > RANDOM_POOL_BYTES) {
    randomFillSync(target);
    return;
  }
  if (randomPoolUsed + target.length > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  // Each byte is handed out once: the cursor only moves forward until the next refill.
  target.set(randomPool.subarray(randomPoolUsed, randomPoolUsed + target.length));
  randomPoolUsed += target.length;
}

const enum Errno {
  Success = 0,
  BadF = 8,
  Fault = 21,
  Inval = 28,
  NoEnt = 44,
  NoSys = 52,
  NotSup = 58,
}

/** WASI's fd_write right: what fd_fdstat_get reports for stdout and stderr. */
const RIGHTS_FD_WRITE = 64n;
const MAX_RANDOM_BYTES = 65536;

/** Thrown by proc_exit: the guest asked to end. It unwinds the guest call like a trap. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = 'ProcExit';
  }
}

export function wasiFunctions(memory: GuestMemory, log: (level: LogLevel, message: string) => void): HostFunctions {
  const zero = (): number => Errno.Success;
  const badFile = (): number => Errno.BadF;
  const noSys = (): number => Errno.NoSys;

  /** Writes 0 to two u32 out-pointers: "nothing here" for args and environ. */
  const noEntries = (countPtr: number, sizePtr: number): number =>
    memory.writeU32(countPtr, 0) && memory.writeU32(sizePtr, 0) ? Errno.Success : Errno.Fault;

  return {
    fd_write(fd: number, iovs: number, count: number, writtenPtr: number): number {
      if (fd !== 1 && fd !== 2) return Errno.BadF;
      const level = fd === 1 ? LogLevel.Info : LogLevel.Error;
      const base = iovs >>> 0;
      const n = count >>> 0;
      if (base + n * 8 > memory.byteLength || !memory.inBounds(writtenPtr, 4)) return Errno.Fault;
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < n; i++) {
        const length = memory.readU32(base + i * 8 + 4);
        const chunk = memory.view(memory.readU32(base + i * 8), length);
        if (chunk === null) return Errno.Fault;
        chunks.push(chunk);
        total += length;
      }
      if (total > 0) {
        const text = Buffer.concat(chunks, total).toString('utf8');
        log(level, text.endsWith('\n') ? text.slice(0, -1) : text);
      }
      memory.writeU32(writtenPtr, total);
      return Errno.Success;
    },
    fd_read: noSys,
    fd_pread: noSys,
    fd_prestat_dir_name: noSys,
    fd_fdstat_set_flags: noSys,
    fd_seek(_fd: number, _offset: bigint, _whence: number, newOffsetPtr: number): number {
      memory.writeU64(newOffsetPtr, 0n);
      return Errno.Success;
    },
    fd_close: zero,
    fd_fdstat_get(fd: number, statPtr: number): number {
      if (fd !== 1 && fd !== 2) return Errno.BadF;
      // struct fdstat (24 bytes): filetype u8, flags u16, rights_base u64 @8, rights_inheriting u64 @16.
      const ok = memory.writeU64(statPtr, 0n) && memory.writeU64((statPtr >>> 0) + 8, RIGHTS_FD_WRITE) && memory.writeU64((statPtr >>> 0) + 16, 0n);
      return ok ? Errno.Success : Errno.Fault;
    },
    fd_prestat_get: badFile, // no preopened directories: ends the guest's preopen scan
    fd_filestat_get: badFile,
    path_open: () => Errno.NoEnt,
    environ_sizes_get: noEntries,
    environ_get: zero,
    args_sizes_get: noEntries,
    args_get: zero,
    clock_time_get(id: number, _precision: bigint, timePtr: number): number {
      const now = id === 0 ? realtimeNanoseconds() : id === 1 ? monotonicNanoseconds() : -1n;
      if (now < 0n) return Errno.NotSup;
      return memory.writeU64(timePtr, now) ? Errno.Success : Errno.Fault;
    },
    clock_res_get(_id: number, resolutionPtr: number): number {
      return memory.writeU64(resolutionPtr, 1n) ? Errno.Success : Errno.Fault;
    },
    random_get(ptr: number, len: number): number {
      if (len >>> 0 > MAX_RANDOM_BYTES) return Errno.Inval;
      const target = memory.view(ptr, len);
      if (target === null) return Errno.Fault;
      takeRandomBytes(target);
      return Errno.Success;
    },
    sched_yield: zero,
    poll_oneoff(_in: number, _out: number, _subscriptions: number, eventsPtr: number): number {
      // No events ever happen; Go's runtime only needs the call to succeed.
      return memory.writeU32(eventsPtr, 0) ? Errno.Success : Errno.Fault;
    },
    proc_exit(code: number): never {
      throw new ProcExit(code >>> 0);
    },
  };
}
