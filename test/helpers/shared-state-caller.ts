// A worker thread for test/shared-state-channel.test.ts: increments one shared-data counter
// `calls` times with compare-and-swap through the blocking channel, as a filter's host calls do,
// and reports how many calls failed (the channel threw) and how many CAS attempts lost a race.

import { parentPort, workerData } from 'node:worker_threads';
import { WasmResult } from '../../host/abi/enums.js';
import { remoteSharedState, type SharedStateLink } from '../../host/workers/shared-state-channel.js';

const { link, calls } = workerData as { link: SharedStateLink; calls: number };
const { sharedData } = remoteSharedState(link);
let failed = 0;
let lostRaces = 0;
for (let done = 0; done < calls; ) {
  try {
    const entry = sharedData.get('test', 'counter');
    const value = entry === undefined ? 0 : new DataView(entry.value.buffer, entry.value.byteOffset).getUint32(0, true);
    const next = new Uint8Array(4);
    new DataView(next.buffer).setUint32(0, value + 1, true);
    const result = sharedData.set('test', 'counter', next, entry?.cas ?? 0, 1 << 20);
    if (result === WasmResult.CasMismatch) lostRaces++;
    else done++;
  } catch {
    failed++;
    done++;
  }
}
parentPort!.postMessage({ failed, lostRaces });
