// set-props: lets a test play the router or the lb, and read properties. Each request header
// `x-set-prop: <key>=<value>` (repeatable, or comma-separated) sets property <key> to <value>,
// e.g. `x-set-prop: weft.route.retry.attempts=2`. `x-get-prop: <key>,<key>` answers each
// property as response header `x-prop-<key>`: its text when printable ASCII, else `hex:<bytes>`,
// `missing` when NotFound. On response headers it copies what the host says about the request
// into response headers: x-upstream-address (upstream.address).
// In on_log it records response.code and response.flags into shared data key
// `set-props.last` as "<code> <flags>", readable by the next request through header
// `x-read-last: 1` (answered as response header x-last).
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, HttpContext, RootContext, registerRootContext, requestHeaders, responseHeaders,
  getProperty, getPropertyString, getPropertyInt, setPropertyString, getSharedData, setSharedData,
} from "../../../../sdk/assembly";

class SetPropsRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new SetProps(contextId, this);
  }
}

class SetProps extends HttpContext {
  private readLast: bool = false;
  private readProps: Array<string> = [];

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const pairs = requestHeaders.pairs();
    for (let i = 0; i < pairs.length; i++) {
      if (pairs[i].key != "x-set-prop") continue;
      const items = pairs[i].value.split(",");
      for (let j = 0; j < items.length; j++) {
        const item = items[j].trim();
        const eq = item.indexOf("=");
        if (eq <= 0) continue;
        setPropertyString(item.slice(0, eq).split("."), item.slice(eq + 1));
      }
    }
    this.readLast = requestHeaders.get("x-read-last") == "1";
    const wanted = requestHeaders.get("x-get-prop");
    if (wanted !== null) this.readProps = wanted.split(",");
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const upstream = getPropertyString(["upstream", "address"]);
    if (upstream !== null) responseHeaders.replace("x-upstream-address", upstream);
    for (let i = 0; i < this.readProps.length; i++) {
      const key = this.readProps[i].trim();
      responseHeaders.replace("x-prop-" + key, describe(getProperty(key.split("."))));
    }
    if (this.readLast) {
      const last = getSharedData("set-props.last");
      if (last !== null) responseHeaders.replace("x-last", String.UTF8.decode(last.bytes));
    }
    return FilterHeadersStatus.Continue;
  }

  onLog(): void {
    const code = getPropertyInt(["response", "code"], -1);
    const flags = getPropertyString(["response", "flags"]);
    setSharedData("set-props.last", String.UTF8.encode(code.toString() + " " + (flags === null ? "" : flags)));
  }
}

/** A property value as header text: printable ASCII as is, anything else as hex. */
function describe(value: ArrayBuffer | null): string {
  if (value === null) return "missing";
  const bytes = Uint8Array.wrap(value);
  let printable = true;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] < 0x20 || bytes[i] > 0x7e) printable = false;
  if (printable) return String.UTF8.decode(value);
  let hex = "hex:";
  for (let i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return hex;
}

registerRootContext((contextId: u32): RootContext => new SetPropsRoot(contextId), "set-props");
