// trapper: traps in the phase named by request header x-trap-in (request_headers,
// request_body, response_headers, response_body, log). x-trap-kind: unreachable traps with
// the bare wasm instruction; anything else aborts with the message
// "trapper: trapping in <phase>" (logged at critical level before the trap).
// Without x-trap-in it passes through and adds response header x-trapper-vm: <n>, n being the
// number of requests this VM instance has seen (1 for the first request of a fresh VM).
export * from "../../../../sdk/assembly/exports";
import {
  FilterDataStatus, FilterHeadersStatus, HttpContext, RootContext, registerRootContext, requestHeaders,
  responseHeaders,
} from "../../../../sdk/assembly";

// Module globals live as long as the VM instance: a fresh VM starts again from 0.
let requestsSeen: u32 = 0;

class TrapperRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Trapper(contextId, this);
  }
}

class Trapper extends HttpContext {
  private trapIn: string = "";
  private bareTrap: bool = false;
  private requestNumber: u32 = 0;

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.requestNumber = ++requestsSeen;
    const trapIn = requestHeaders.get("x-trap-in");
    const kind = requestHeaders.get("x-trap-kind");
    this.trapIn = trapIn === null ? "" : trapIn;
    this.bareTrap = kind !== null && kind == "unreachable";
    this.trapIfAsked("request_headers");
    return FilterHeadersStatus.Continue;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    this.trapIfAsked("request_body");
    return FilterDataStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    this.trapIfAsked("response_headers");
    responseHeaders.replace("x-trapper-vm", this.requestNumber.toString());
    return FilterHeadersStatus.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    this.trapIfAsked("response_body");
    return FilterDataStatus.Continue;
  }

  onLog(): void {
    this.trapIfAsked("log");
  }

  private trapIfAsked(phase: string): void {
    if (this.trapIn != phase) return;
    if (this.bareTrap) unreachable();
    throw new Error("trapper: trapping in " + phase);
  }
}

registerRootContext((contextId: u32): RootContext => new TrapperRoot(contextId), "trapper");
