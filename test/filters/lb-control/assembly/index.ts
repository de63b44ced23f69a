// lb-control: lets a test steer what the lb filter sees, through request headers.
//   x-eject: <cluster> <host:port> <ms>   writes the breaker's ejection deadline (now + ms; ms <= 0
//                                         lifts it) to shared data, answers 200 `ejected` itself
//   x-endpoints-set: <cluster>            with x-endpoints: <JSON list>: encodes the list in the
//                                         host's binary format and sets weft.cluster.<cluster>.endpoints
//                                         on this request (filters after this one read it)
//   x-endpoints-raw: <cluster> <hex>      sets that property to these exact bytes
//   x-endpoints-dump: <cluster>           answers 200 with getClusterEndpoints(cluster) as JSON
// A request without these headers passes untouched. Entries of x-endpoints / the dump:
// {address, weight, healthy, in_flight, latency_ewma_ms, consecutive_failures, recent_failures,
//  requests_total}.
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HttpContext, JsonValue, RootContext, getCurrentTimeNanoseconds, parseJson,
  registerRootContext, requestHeaders, sendLocalResponse, setProperty,
} from "../../../../sdk/assembly";
import {
  ClusterEndpoint, ENDPOINT_HEALTHY, ejectionKey, getClusterEndpoints, setEjectionDeadline,
} from "../../../../sdk/assembly/cluster";

const TEXT = [new Header("content-type", "text/plain")];
const JSON_TYPE = [new Header("content-type", "application/json")];

class ControlRoot extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Control(contextId, this);
  }
}

class Control extends HttpContext {
  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const eject = requestHeaders.get("x-eject");
    if (eject !== null) return answer(200, ejectCommand(eject), TEXT);

    const setCluster = requestHeaders.get("x-endpoints-set");
    if (setCluster !== null) {
      const list = requestHeaders.get("x-endpoints");
      const json: JsonValue | null = list !== null ? parseJson(list) : null;
      if (json === null) return answer(400, "x-endpoints is not JSON\n", TEXT);
      setProperty(endpointsPath(setCluster), encodeEndpoints(json.asArray()));
    }
    const raw = requestHeaders.get("x-endpoints-raw");
    if (raw !== null) {
      const space = raw.indexOf(" ");
      setProperty(endpointsPath(raw.substring(0, space)), fromHex(raw.substring(space + 1)));
    }
    const dump = requestHeaders.get("x-endpoints-dump");
    if (dump !== null) return answer(200, dumpEndpoints(getClusterEndpoints(dump)), JSON_TYPE);
    return FilterHeadersStatus.Continue;
  }
}

function answer(status: u32, body: string, headers: Array<Header>): FilterHeadersStatus {
  sendLocalResponse(status, body, headers);
  return FilterHeadersStatus.StopIteration;
}

function endpointsPath(cluster: string): Array<string> {
  return ["weft", "cluster", cluster, "endpoints"];
}

/** "<cluster> <host:port> <ms>" */
function ejectCommand(command: string): string {
  const parts = command.split(" ");
  const key = ejectionKey(parts[0], parts[1]);
  const ms = I64.parseInt(parts[2]);
  const deadline: i64 = ms > 0 ? <i64>getCurrentTimeNanoseconds() + ms * 1000000 : 0;
  setEjectionDeadline(key, deadline);
  return "ejected " + key + " until " + deadline.toString() + "\n";
}

/** The binary layout of notes/FILTER-CONTRACT.md, written independently of the SDK's parser. */
function encodeEndpoints(list: Array<JsonValue>): ArrayBuffer {
  const addresses = new Array<ArrayBuffer>(list.length);
  let size = 4;
  for (let i = 0; i < list.length; i++) {
    addresses[i] = String.UTF8.encode(list[i].getString("address"));
    size += 4 + addresses[i].byteLength + 36;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, list.length);
  let at: usize = base + 4;
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    const address = addresses[i];
    store<u32>(at, address.byteLength);
    memory.copy(at + 4, changetype<usize>(address), address.byteLength);
    at += 4 + address.byteLength;
    store<u32>(at, <u32>entry.getInteger("weight", 1));
    store<u32>(at, entry.getBool("healthy", true) ? ENDPOINT_HEALTHY : 0, 4);
    store<u32>(at, <u32>entry.getInteger("in_flight"), 8);
    store<f64>(at, entry.getFloat("latency_ewma_ms"), 12);
    store<u32>(at, <u32>entry.getInteger("consecutive_failures"), 20);
    store<u32>(at, <u32>entry.getInteger("recent_failures"), 24);
    store<u64>(at, <u64>entry.getInteger("requests_total"), 28);
    at += 36;
  }
  return out;
}

function dumpEndpoints(endpoints: Array<ClusterEndpoint>): string {
  const list = JsonValue.newArray();
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i];
    list.push(
      JsonValue.newObject()
        .setString("address", e.address)
        .setInteger("weight", e.weight)
        .setBool("healthy", e.healthy)
        .setInteger("flags", e.flags)
        .setInteger("in_flight", e.inFlight)
        .set("latency_ewma_ms", JsonValue.fromFloat(e.latencyEwmaMs))
        .setInteger("consecutive_failures", e.consecutiveFailures)
        .setInteger("recent_failures", e.recentFailures)
        .setInteger("requests_total", <i64>e.requestsTotal),
    );
  }
  return list.stringify();
}

function fromHex(hex: string): ArrayBuffer {
  const out = new ArrayBuffer(hex.length / 2);
  for (let i = 0; i < out.byteLength; i++) {
    store<u8>(changetype<usize>(out) + i, <u8>I32.parseInt(hex.substring(2 * i, 2 * i + 2), 16));
  }
  return out;
}

registerRootContext((contextId: u32): RootContext => new ControlRoot(contextId), "lb-control");
