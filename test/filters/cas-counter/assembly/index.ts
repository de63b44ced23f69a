// cas-counter: increments one shared-data counter with compare-and-swap, the way filters
// coordinate across VMs and worker threads. Request header `x-increments: <n>` adds 1 to the
// counter n times, each a get then a set with the cas read (a CasMismatch reads again and
// retries), and answers 200 application/json {"value": <counter after>, "mismatches": <retries>}.
// `x-increments: 0` answers the value without changing it; the first request creates the
// counter at 0 (an unconditional write, so create it before racing). Other requests pass untouched.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HttpContext, JsonValue, RootContext, WasmResult, getSharedData, registerRootContext,
  requestHeaders, sendLocalResponse, setSharedData,
} from "../../../../sdk/assembly";

const KEY = "cas-counter.value";

class CounterRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Counter(contextId, this);
  }
}

function encode(value: i64): ArrayBuffer {
  const bytes = new ArrayBuffer(8);
  store<i64>(changetype<usize>(bytes), value);
  return bytes;
}

class Counter extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const asked = requestHeaders.get("x-increments");
    if (asked === null) return FilterHeadersStatus.Continue;
    const increments = I32.parseInt(asked);
    let mismatches = 0;
    if (getSharedData(KEY) === null) setSharedData(KEY, encode(0), 0);
    for (let i = 0; i < increments; i++) {
      while (true) {
        const current = getSharedData(KEY)!;
        const next = load<i64>(changetype<usize>(current.bytes)) + 1;
        const written = setSharedData(KEY, encode(next), current.cas);
        if (written == WasmResult.Ok) break;
        mismatches++;
      }
    }
    const value = load<i64>(changetype<usize>(getSharedData(KEY)!.bytes));
    const out = JsonValue.newObject().setInteger("value", value).setInteger("mismatches", mismatches);
    sendLocalResponse(200, out.stringify(), [new Header("content-type", "application/json")]);
    return FilterHeadersStatus.StopIteration;
  }
}

registerRootContext((contextId: u32): RootContext => new CounterRoot(contextId), "cas-counter");
