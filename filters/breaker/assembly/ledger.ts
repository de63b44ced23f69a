// The ejection ledger of one cluster, in shared data under `breaker.ejections.<cluster>`: every
// endpoint that is ejected, or back after its ejection time but not yet proven healthy by a
// probe. One key per cluster, so the max-ejection-percent check and the probe claim are single
// compare-and-swap updates, atomic across VMs and workers.
//
// Layout (little-endian): u32 count, then per entry
//   u32 address_len, address (UTF-8 "host:port"), i64 until (ns since the epoch), u32 flags
// `until`: end of the ejection, or of the probe while one is in flight.
// flags: PROBING (a request was sent to it as the half-open probe), OPEN (the probe could not
// be pinned, so the next answer from it, whichever request it is, decides).

import { SharedUpdate } from "../../../sdk/assembly/shared-update";

export const PROBING: u32 = 1;
export const OPEN: u32 = 2;

export function ledgerKey(cluster: string): string {
  return "breaker.ejections." + cluster;
}

export class LedgerEntry {
  constructor(public address: string, public until: i64, public flags: u32) {}
}

export function decodeLedger(bytes: ArrayBuffer | null): Array<LedgerEntry> {
  const entries = new Array<LedgerEntry>();
  if (bytes === null || bytes.byteLength < 4) return entries;
  const base = changetype<usize>(bytes);
  const end = <usize>bytes.byteLength;
  const count = load<u32>(base);
  let offset: usize = 4;
  for (let i: u32 = 0; i < count; i++) {
    if (end - offset < 4) break;
    const length = <usize>load<u32>(base + offset);
    offset += 4;
    if (end - offset < length + 12) break;
    const address = String.UTF8.decodeUnsafe(base + offset, length);
    offset += length;
    entries.push(new LedgerEntry(address, load<i64>(base + offset), load<u32>(base + offset, 8)));
    offset += 12;
  }
  return entries;
}

export function encodeLedger(entries: Array<LedgerEntry>): ArrayBuffer {
  const addresses = new Array<ArrayBuffer>(entries.length);
  let size = 4;
  for (let i = 0; i < entries.length; i++) {
    addresses[i] = String.UTF8.encode(entries[i].address);
    size += 4 + addresses[i].byteLength + 12;
  }
  const bytes = new ArrayBuffer(size);
  const base = changetype<usize>(bytes);
  store<u32>(base, entries.length);
  let offset: usize = 4;
  for (let i = 0; i < entries.length; i++) {
    const length = <usize>addresses[i].byteLength;
    store<u32>(base + offset, <u32>length);
    memory.copy(base + offset + 4, changetype<usize>(addresses[i]), length);
    offset += 4 + length;
    store<i64>(base + offset, entries[i].until);
    store<u32>(base + offset, entries[i].flags, 8);
    offset += 12;
  }
  return bytes;
}

export function findEntry(entries: Array<LedgerEntry>, address: string): i32 {
  for (let i = 0; i < entries.length; i++) if (entries[i].address == address) return i;
  return -1;
}

/**
 * Adds `address` to the ledger if that keeps the cluster within its ejection budget. Entries of
 * endpoints the cluster no longer has are dropped first, so they do not use up the budget.
 */
export class Eject extends SharedUpdate {
  ejected: bool = false;
  /** Entries in the ledger when the budget was checked (for the log line). */
  alreadyEjected: i32 = 0;

  constructor(readonly address: string, readonly until: i64, readonly budget: i32, readonly liveAddresses: Array<string>) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const entries = decodeLedger(current);
    const kept = new Array<LedgerEntry>();
    // No endpoint list (the host did not publish one) is no reason to forget every ejection.
    const prune = this.liveAddresses.length > 0;
    for (let i = 0; i < entries.length; i++) {
      if (!prune || this.liveAddresses.includes(entries[i].address)) kept.push(entries[i]);
    }
    this.alreadyEjected = kept.length;
    const index = findEntry(kept, this.address);
    this.ejected = index >= 0 || kept.length + 1 <= this.budget;
    if (!this.ejected) return kept.length == entries.length ? null : encodeLedger(kept);
    if (index >= 0) {
      kept[index].until = this.until;
      kept[index].flags = 0;
    } else {
      kept.push(new LedgerEntry(this.address, this.until, 0));
    }
    return encodeLedger(kept);
  }
}

/** Claims the half-open probe of the first endpoint whose ejection (or last probe) has run out. */
export class ClaimProbe extends SharedUpdate {
  /** The endpoint to probe, or "" when none is due. */
  address: string = "";

  constructor(readonly now: i64, readonly probeUntil: i64) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    this.address = "";
    const entries = decodeLedger(current);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if ((entry.flags & OPEN) != 0 || entry.until > this.now) continue;
      entry.until = this.probeUntil;
      entry.flags = PROBING;
      this.address = entry.address;
      return encodeLedger(entries);
    }
    return null;
  }
}

/** Sets one entry's deadline and flags (no-op when the endpoint is not in the ledger). */
export class SetEntry extends SharedUpdate {
  found: bool = false;

  constructor(readonly address: string, readonly until: i64, readonly flags: u32) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const entries = decodeLedger(current);
    const index = findEntry(entries, this.address);
    this.found = index >= 0;
    if (!this.found) return null;
    entries[index].until = this.until;
    entries[index].flags = this.flags;
    return encodeLedger(entries);
  }
}

/** Takes an endpoint off the ledger: it proved healthy. */
export class RemoveEntry extends SharedUpdate {
  constructor(readonly address: string) {
    super();
  }

  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const entries = decodeLedger(current);
    const index = findEntry(entries, this.address);
    if (index < 0) return null;
    entries.splice(index, 1);
    return encodeLedger(entries);
  }
}
