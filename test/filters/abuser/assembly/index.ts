// abuser: misbehaves without ever trapping on its own, for the host's containment. The plugin
// configuration (plain text) picks the abuse:
//   requeue  a queue "loop" whose every delivery enqueues again: proxy_on_queue_ready forever
//   tick     a 1 ms tick (the host raises it to 10 ms) that spins ~5 M loop iterations each time
//   fill     request header x-fill: memory.fill of 32 MiB, over and over, until something stops it
//   shared   each request writes a new 64 KiB shared-data key; response header x-shared-result
//            is proxy_set_shared_data's status (0 Ok, 10 InternalFailure past the quota)
//   log      each request logs 1,000 info lines
// Requests otherwise pass through; response header x-abuser-deliveries counts queue deliveries.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, dequeueSharedQueue, enqueueSharedQueueString, logInfo, registerSharedQueue,
  registerRootContext, requestHeaders, responseHeaders, setSharedData,
} from "../../../../sdk/assembly";

const FILL_BYTES: i32 = 32 << 20;
const SHARED_VALUE_BYTES: i32 = 64 << 10;

let mode = "";
let queueId: u32 = 0;
let deliveries: i32 = 0;
let sharedKeys: i32 = 0;
/** Kept by a module global so the spin loop's work is not optimized away. */
let spinSink: i32 = 0;

class AbuserRoot extends RootContext {
  onConfigure(configurationSize: u32): bool {
    mode = this.getPluginConfiguration().trim();
    if (mode == "requeue") {
      queueId = registerSharedQueue("loop");
      enqueueSharedQueueString(queueId, "again");
    } else if (mode == "tick") {
      this.setTickPeriod(1);
    }
    return true;
  }

  onQueueReady(id: u32): void {
    dequeueSharedQueue(id);
    deliveries++;
    enqueueSharedQueueString(id, "again");
  }

  onTick(): void {
    let sink: i32 = spinSink;
    for (let i: i32 = 0; i < 5_000_000; i++) sink = sink * 31 + i;
    spinSink = sink;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Abuser(contextId, this);
  }
}

class Abuser extends HttpContext {
  private sharedResult: i32 = -1;

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (mode == "fill" && requestHeaders.get("x-fill") !== null) {
      const block = new ArrayBuffer(FILL_BYTES);
      while (true) memory.fill(changetype<usize>(block), 1, FILL_BYTES);
    }
    if (mode == "shared") {
      const key = "abuser." + (sharedKeys++).toString();
      this.sharedResult = <i32>setSharedData(key, new ArrayBuffer(SHARED_VALUE_BYTES));
    }
    if (mode == "log") {
      for (let i = 0; i < 1000; i++) logInfo("abuser line " + i.toString());
    }
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    responseHeaders.replace("x-abuser-deliveries", deliveries.toString());
    if (this.sharedResult >= 0) responseHeaders.replace("x-shared-result", this.sharedResult.toString());
    return FilterHeadersStatus.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new AbuserRoot(contextId), "abuser");
