// queue-relay: a shared queue filled by requests and drained by its owner. The root context
// registers queue "relay" in on_configure (with several worker threads, each worker's VM does,
// and the last to register owns it). Request header `x-enqueue: <text>` enqueues the text and
// answers 200 {"status": <WasmResult>}. on_queue_ready, in the owner's VM, dequeues every item,
// logs `relay: got <text>` and counts it in shared data; request header `x-received` answers
// 200 {"received": <count>}. Other requests pass untouched.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HttpContext, JsonValue, RootContext, SharedUpdate, dequeueSharedQueue, enqueueSharedQueueString,
  getSharedData, logInfo, registerRootContext, registerSharedQueue, requestHeaders, sendLocalResponse, updateSharedData,
} from "../../../../sdk/assembly";

const QUEUE = "relay";
const RECEIVED = "queue-relay.received";

class AddOne extends SharedUpdate {
  apply(current: ArrayBuffer | null): ArrayBuffer | null {
    const next = new ArrayBuffer(8);
    store<i64>(changetype<usize>(next), (current === null ? 0 : load<i64>(changetype<usize>(current))) + 1);
    return next;
  }
}

class RelayRoot extends RootContext {
  queueId: u32 = 0;

  onConfigure(configurationSize: u32): bool {
    this.queueId = registerSharedQueue(QUEUE);
    logInfo("relay: registered queue " + this.queueId.toString());
    return true;
  }

  onQueueReady(queueId: u32): void {
    while (true) {
      const item = dequeueSharedQueue(queueId);
      if (item === null) break;
      logInfo("relay: got " + String.UTF8.decode(item));
      updateSharedData(RECEIVED, new AddOne());
    }
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Relay(contextId, this);
  }
}

function answer(out: JsonValue): FilterHeadersStatus {
  sendLocalResponse(200, out.stringify(), [new Header("content-type", "application/json")]);
  return FilterHeadersStatus.StopIteration;
}

class Relay extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const text = requestHeaders.get("x-enqueue");
    const root = changetype<RelayRoot>(this.root);
    if (text !== null) return answer(JsonValue.newObject().setInteger("status", enqueueSharedQueueString(root.queueId, text)));
    if (requestHeaders.get("x-received") === null) return FilterHeadersStatus.Continue;
    const value = getSharedData(RECEIVED);
    return answer(JsonValue.newObject().setInteger("received", value === null ? 0 : load<i64>(changetype<usize>(value.bytes))));
  }
}

registerRootContext((contextId: u32): RootContext => new RelayRoot(contextId), "queue-relay");
