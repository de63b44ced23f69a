// The shared-data keys of one cluster, built once: every request reads or updates its cluster's
// in-flight count and ejection ledger and, in on_log, its endpoint's state. Keys built afresh
// per request are new strings each time, which the SDK then encodes again and the host decodes
// again; the same string objects are encoded once.

import { inFlightKey } from "./circuit";
import { stateKey } from "./endpoint-state";
import { ledgerKey } from "./ledger";

/** Endpoint state keys kept per cluster; past this (endpoints churning) the table starts over. */
const MAX_STATE_KEYS = 256;

export class ClusterKeys {
  readonly inFlight: string;
  readonly ledger: string;
  private readonly stateKeys: Map<string, string> = new Map<string, string>();

  constructor(readonly cluster: string) {
    this.inFlight = inFlightKey(cluster);
    this.ledger = ledgerKey(cluster);
  }

  /** `breaker.state.<cluster>.<address>`. */
  state(address: string): string {
    const keys = this.stateKeys;
    if (keys.has(address)) return keys.get(address);
    if (keys.size >= MAX_STATE_KEYS) keys.clear();
    const key = stateKey(this.cluster, address);
    keys.set(address, key);
    return key;
  }
}
