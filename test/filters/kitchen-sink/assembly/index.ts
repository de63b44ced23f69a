// kitchen-sink: exercises every host function family. Request header x-case selects one
// case; most answer with a local response 200 whose body is JSON of what each call
// returned (statuses as numbers, values as read), so a test asserts exact values.
// The exact contract of every case is in test/filters/README.md.
export * from "../../../../sdk/assembly/exports";
import * as hostcalls from "../../../../sdk/assembly/hostcalls";
import * as imports from "../../../../sdk/assembly/imports";
import {
  Context, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, Header, HttpCallResponse, HttpContext, JsonValue, LogLevel,
  MetricType, RootContext, WasmResult, getPropertyInt, getSharedData, registerRootContext, requestBody,
  requestHeaders, requestTrailers, responseBody, responseHeaders, responseTrailers, sendLocalResponse, setSharedDataString,
} from "../../../../sdk/assembly";
import { MapType } from "../../../../sdk/assembly/types";

const QUEUE_NAME = "kitchen-sink-queue";
const TICKS_KEY = "kitchen-sink.ticks";
const SHARED_KEY = "kitchen-sink.shared";

class KitchenSinkRoot extends RootContext {
  queueReadyCount: i64 = 0;
  lastReadyQueue: i64 = -1;

  createHttpContext(contextId: u32): HttpContext | null {
    return new KitchenSink(contextId, this);
  }

  onQueueReady(queueId: u32): void {
    this.queueReadyCount++;
    this.lastReadyQueue = queueId;
  }

  /** Counts ticks in shared data (read back by the tick-count case), retrying on a CAS race. */
  onTick(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = getSharedData(TICKS_KEY);
      const count = current === null ? 0 : I64.parseInt(current.toString(), 10);
      const cas = current === null ? 0 : current.cas;
      if (setSharedDataString(TICKS_KEY, (count + 1).toString(), cas) == WasmResult.Ok) return;
    }
  }
}

class KitchenSink extends HttpContext {
  private readonly sink: KitchenSinkRoot;
  private testCase: string = "";
  private requestTrailer: string = "";

  constructor(contextId: u32, root: KitchenSinkRoot) {
    super(contextId, root);
    this.sink = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const selected = requestHeaders.get("x-case");
    this.testCase = selected === null ? "" : selected;
    const c = this.testCase;
    // Cases that let the request through and act later.
    if (c == "body" || c == "resp-headers" || c == "resp-body" || c == "trailers" || c == "resp-end-stream") return FilterHeadersStatus.Continue;
    if (c == "end-stream") return FilterHeadersStatus.ContinueAndEndStream;
    if (c == "status") return this.startFailingCall();

    let result: JsonValue;
    if (c == "headers") result = headersCase();
    else if (c == "props") result = propsCase();
    else if (c == "time") result = timeCase();
    else if (c == "log") result = logCase();
    else if (c == "shared") result = sharedCase();
    else if (c == "queue") result = queueCase();
    else if (c == "queue-ready") result = queueReadyCase(this.sink);
    else if (c == "metric") result = metricCase();
    else if (c == "foreign") result = foreignCase();
    else if (c == "tick") result = tickCase(this.sink, 50);
    else if (c == "tick-stop") result = tickCase(this.sink, 0);
    else if (c == "tick-count") result = tickCountCase();
    else if (c == "bad-pointers") result = badPointersCase();
    else if (c == "local") {
      sendLocalResponse(418, "teapot", [new Header("x-local", "yes")], "kitchen_sink_teapot");
      return FilterHeadersStatus.StopIteration;
    } else {
      sendLocalResponse(400, "unknown x-case '" + c + "'\n");
      return FilterHeadersStatus.StopIteration;
    }
    respondJson(result);
    return FilterHeadersStatus.StopIteration;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (this.testCase != "body") return FilterDataStatus.Continue;
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    requestBody.replaceString(requestBody.getString().toUpperCase());
    return FilterDataStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    if (this.testCase == "resp-end-stream") return FilterHeadersStatus.ContinueAndEndStream;
    if (this.testCase != "resp-headers") return FilterHeadersStatus.Continue;
    const status = responseHeaders.get(":status");
    responseHeaders.add("x-ks-added", "yes");
    responseHeaders.replace("content-type", "text/x-kitchen-sink");
    responseHeaders.replace("x-ks-status", status === null ? "" : status);
    responseHeaders.replace("x-ks-response-code", getPropertyInt(["response", "code"], -1).toString());
    return FilterHeadersStatus.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): FilterDataStatus {
    if (this.testCase != "resp-body") return FilterDataStatus.Continue;
    if (!endOfStream) return FilterDataStatus.StopIterationAndBuffer;
    responseBody.replaceString(responseBody.getString().toUpperCase());
    return FilterDataStatus.Continue;
  }

  /** trailers case: the request trailer x-t comes back as response trailer x-ks-request-trailer. */
  onRequestTrailers(trailerCount: u32): FilterTrailersStatus {
    if (this.testCase != "trailers") return FilterTrailersStatus.Continue;
    const value = requestTrailers.get("x-t");
    this.requestTrailer = value === null ? "" : value;
    requestTrailers.add("x-ks-seen", trailerCount.toString());
    return FilterTrailersStatus.Continue;
  }

  onResponseTrailers(trailerCount: u32): FilterTrailersStatus {
    if (this.testCase != "trailers") return FilterTrailersStatus.Continue;
    responseTrailers.replace("x-ks-request-trailer", this.requestTrailer);
    return FilterTrailersStatus.Continue;
  }

  /** status case: an http_call to a cluster that refuses connections, answered in the callback. */
  private startFailingCall(): FilterHeadersStatus {
    const clusterHeader = requestHeaders.get("x-cluster");
    const cluster = clusterHeader === null ? "" : clusterHeader;
    const call = this.httpCall(cluster, callHeaders(cluster), null, 2000, onFailingCallResponse);
    if (call.status != WasmResult.Ok) {
      respondJson(JsonValue.newObject().setInteger("call", call.status));
      return FilterHeadersStatus.StopIteration;
    }
    return FilterHeadersStatus.StopIteration;
  }
}

function callHeaders(authority: string): Array<Header> {
  return [new Header(":method", "GET"), new Header(":path", "/"), new Header(":authority", authority)];
}

function onFailingCallResponse(origin: Context, response: HttpCallResponse): void {
  const status = hostcalls.getStatus();
  // Also check the two ways http_call refuses a request up front: an unknown cluster, and a
  // known cluster without the :method/:path/:authority pseudo-headers.
  const cluster = requestHeaders.get("x-cluster")!;
  const unknownCluster = hostcalls.httpCall("no-such-cluster", callHeaders("no-such-cluster"), null, [], 1000);
  const missingPseudo = hostcalls.httpCall(cluster, [new Header("x-only", "1")], null, [], 1000);
  respondJson(JsonValue.newObject()
    .setInteger("call", 0)
    .setBool("failed", response.failed)
    .setInteger("header_count", response.headerCount)
    .set("get_status", JsonValue.newObject()
      .setInteger("status", status.status)
      .setInteger("code", status.code)
      .setString("message", status.message))
    .setInteger("call_unknown_cluster", unknownCluster.status)
    .setInteger("call_missing_pseudo_headers", missingPseudo.status));
}

function respondJson(result: JsonValue): void {
  sendLocalResponse(200, result.stringify(), [new Header("content-type", "application/json")]);
}

/** {"status": s} plus "value" when the call succeeded. */
function stringOutcome(status: WasmResult, value: string): JsonValue {
  const outcome = JsonValue.newObject().setInteger("status", status);
  if (status == WasmResult.Ok) outcome.setString("value", value);
  return outcome;
}

function integerOutcome(status: WasmResult, value: i64): JsonValue {
  const outcome = JsonValue.newObject().setInteger("status", status);
  if (status == WasmResult.Ok) outcome.setInteger("value", value);
  return outcome;
}

function getHeader(name: string): JsonValue {
  const result = hostcalls.getHeaderMapValue(MapType.RequestHeaders, name);
  return stringOutcome(result.status, result.value);
}

function pairsJson(pairs: Array<Header>): JsonValue {
  const list = JsonValue.newArray();
  for (let i = 0; i < pairs.length; i++) {
    list.push(JsonValue.newArray().push(JsonValue.fromString(pairs[i].key)).push(JsonValue.fromString(pairs[i].value)));
  }
  return list;
}

/** The pairs encoding's size: 4 + 8n + sum(key + value + 2), in UTF-8 bytes. */
function serializedSize(pairs: Array<Header>): i64 {
  let size: i64 = 4 + 8 * pairs.length;
  for (let i = 0; i < pairs.length; i++) {
    size += String.UTF8.byteLength(pairs[i].key) + String.UTF8.byteLength(pairs[i].value) + 2;
  }
  return size;
}

function headersCase(): JsonValue {
  const map = MapType.RequestHeaders;
  const get = JsonValue.newObject();
  const names = [":method", ":path", ":authority", ":scheme", "x-one"];
  for (let i = 0; i < names.length; i++) get.set(names[i], getHeader(names[i]));
  const out = JsonValue.newObject().set("get", get).set("get_missing", getHeader("x-missing"));
  out.setInteger("add", hostcalls.addHeaderMapValue(map, "x-added", "v1")).set("after_add", getHeader("x-added"));
  out.setInteger("replace", hostcalls.replaceHeaderMapValue(map, "x-one", "one")).set("after_replace", getHeader("x-one"));
  out.setInteger("remove", hostcalls.removeHeaderMapValue(map, "x-one")).set("after_remove", getHeader("x-one"));
  out.setInteger("remove_missing", hostcalls.removeHeaderMapValue(map, "x-never-there"));
  const pairs = hostcalls.getHeaderMapPairs(map);
  const size = hostcalls.getHeaderMapSize(map);
  out.setInteger("pairs_status", pairs.status).set("pairs", pairsJson(pairs.value));
  out.set("size", integerOutcome(size.status, size.value));
  out.setBool("size_matches_pairs", <i64>size.value == serializedSize(pairs.value));
  const replaced = pairs.value.slice(0);
  replaced.push(new Header("x-set-pairs", "yes"));
  out.setInteger("set_pairs", hostcalls.setHeaderMapPairs(map, replaced)).set("after_set_pairs", getHeader("x-set-pairs"));
  out.set("method_after_set_pairs", getHeader(":method"));
  return out;
}

function propsCase(): JsonValue {
  const out = JsonValue.newObject();
  const strings = [
    "request.path", "request.method", "request.host", "request.scheme",
    "request.protocol", "request.id", "request.headers.x-case", "source.address", "destination.address",
    "plugin_name", "plugin_root_id",
  ];
  for (let i = 0; i < strings.length; i++) {
    const result = hostcalls.getProperty(strings[i].split("."));
    out.set(strings[i], stringOutcome(result.status, String.UTF8.decode(result.value)));
  }
  const integers = ["source.port", "destination.port", "request.time"];
  for (let i = 0; i < integers.length; i++) {
    const result = hostcalls.getProperty(integers[i].split("."));
    const eightBytes = result.status == WasmResult.Ok && result.value.byteLength == 8;
    const outcome = integerOutcome(result.status, eightBytes ? load<i64>(changetype<usize>(result.value)) : 0);
    if (result.status == WasmResult.Ok && !eightBytes) outcome.setInteger("byte_length", result.value.byteLength);
    out.set(integers[i], outcome);
  }
  const customPath = ["kitchen_sink", "custom"];
  out.setInteger("set_custom", hostcalls.setProperty(customPath, String.UTF8.encode("hello")));
  const custom = hostcalls.getProperty(customPath);
  out.set("get_custom", stringOutcome(custom.status, String.UTF8.decode(custom.value)));
  out.setInteger("unknown", hostcalls.getProperty(["no", "such", "property"]).status);
  return out;
}

function timeCase(): JsonValue {
  const time = hostcalls.getCurrentTimeNanoseconds();
  const level = hostcalls.getLogLevel();
  return JsonValue.newObject()
    .set("time", integerOutcome(time.status, <i64>time.value))
    .set("log_level", integerOutcome(level.status, <i64>level.value));
}

function logCase(): JsonValue {
  const levels = ["trace", "debug", "info", "warn", "error", "critical"];
  const statuses = JsonValue.newArray();
  for (let level = 0; level < levels.length; level++) {
    statuses.push(JsonValue.fromInteger(hostcalls.log(<LogLevel>level, "kitchen-sink log " + levels[level])));
  }
  const message = String.UTF8.encode("kitchen-sink log bad level");
  const badLevel = imports.proxy_log(6, changetype<usize>(message), message.byteLength);
  return JsonValue.newObject().set("levels", statuses).setInteger("bad_level", badLevel);
}

function sharedOutcome(key: string): JsonValue {
  const result = hostcalls.getSharedData(key);
  const outcome = JsonValue.newObject().setInteger("status", result.status);
  if (result.status == WasmResult.Ok) {
    outcome.setString("value", String.UTF8.decode(result.value)).setInteger("cas", result.cas);
  }
  return outcome;
}

function sharedCase(): JsonValue {
  const out = JsonValue.newObject();
  out.setInteger("set", hostcalls.setSharedData(SHARED_KEY, String.UTF8.encode("v1"), 0));
  const first = hostcalls.getSharedData(SHARED_KEY);
  out.set("get1", sharedOutcome(SHARED_KEY));
  out.setInteger("set_with_cas", hostcalls.setSharedData(SHARED_KEY, String.UTF8.encode("v2"), first.cas));
  const second = hostcalls.getSharedData(SHARED_KEY);
  out.set("get2", sharedOutcome(SHARED_KEY));
  out.setInteger("set_stale_cas", hostcalls.setSharedData(SHARED_KEY, String.UTF8.encode("v3"), first.cas));
  out.set("get3", sharedOutcome(SHARED_KEY));
  out.setBool("cas_changed", first.cas != second.cas);
  out.setInteger("get_missing", hostcalls.getSharedData("kitchen-sink.never-set").status);
  return out;
}

function queueCase(): JsonValue {
  const out = JsonValue.newObject();
  const registered = hostcalls.registerSharedQueue(QUEUE_NAME);
  out.set("register", integerOutcome(registered.status, registered.value));
  const resolved = hostcalls.resolveSharedQueue("", QUEUE_NAME);
  out.set("resolve", integerOutcome(resolved.status, resolved.value));
  out.setInteger("resolve_missing", hostcalls.resolveSharedQueue("", "kitchen-sink-no-such-queue").status);
  const id = registered.value;
  out.setInteger("enqueue1", hostcalls.enqueueSharedQueue(id, String.UTF8.encode("m1")));
  out.setInteger("enqueue2", hostcalls.enqueueSharedQueue(id, String.UTF8.encode("m2")));
  const first = hostcalls.dequeueSharedQueue(id);
  out.set("dequeue1", stringOutcome(first.status, String.UTF8.decode(first.value)));
  const second = hostcalls.dequeueSharedQueue(id);
  out.set("dequeue2", stringOutcome(second.status, String.UTF8.decode(second.value)));
  out.setInteger("dequeue_empty", hostcalls.dequeueSharedQueue(id).status);
  out.setInteger("enqueue_unknown", hostcalls.enqueueSharedQueue(0x7fff0000, String.UTF8.encode("x")));
  out.setInteger("dequeue_unknown", hostcalls.dequeueSharedQueue(0x7fff0000).status);
  return out;
}

function queueReadyCase(root: KitchenSinkRoot): JsonValue {
  return JsonValue.newObject()
    .setInteger("ready_count", root.queueReadyCount)
    .setInteger("last_queue_id", root.lastReadyQueue);
}

function metricCase(): JsonValue {
  const out = JsonValue.newObject();
  const counter = hostcalls.defineMetric(MetricType.Counter, "kitchen_sink_counter");
  const gauge = hostcalls.defineMetric(MetricType.Gauge, "kitchen_sink_gauge");
  const histogram = hostcalls.defineMetric(MetricType.Histogram, "kitchen_sink_histogram");
  out.set("define_counter", integerOutcome(counter.status, counter.value));
  out.set("define_gauge", integerOutcome(gauge.status, gauge.value));
  out.set("define_histogram", integerOutcome(histogram.status, histogram.value));
  const before = hostcalls.getMetric(counter.value);
  out.set("counter_before", integerOutcome(before.status, <i64>before.value));
  out.setInteger("counter_increment", hostcalls.incrementMetric(counter.value, 5));
  const after = hostcalls.getMetric(counter.value);
  out.set("counter_after", integerOutcome(after.status, <i64>after.value));
  out.setInteger("counter_increment_negative", hostcalls.incrementMetric(counter.value, -1));
  out.setInteger("gauge_record", hostcalls.recordMetric(gauge.value, 42));
  const gaugeRecorded = hostcalls.getMetric(gauge.value);
  out.set("gauge_after_record", integerOutcome(gaugeRecorded.status, <i64>gaugeRecorded.value));
  out.setInteger("gauge_increment", hostcalls.incrementMetric(gauge.value, -2));
  const gaugeIncremented = hostcalls.getMetric(gauge.value);
  out.set("gauge_after_increment", integerOutcome(gaugeIncremented.status, <i64>gaugeIncremented.value));
  out.setInteger("histogram_record", hostcalls.recordMetric(histogram.value, 7));
  out.setInteger("histogram_get", hostcalls.getMetric(histogram.value).status);
  return out;
}

function foreignCase(): JsonValue {
  const result = hostcalls.callForeignFunction("kitchen_sink_no_such_function", String.UTF8.encode("{}"));
  return JsonValue.newObject().setInteger("unknown_function", result.status);
}

function tickCase(root: KitchenSinkRoot, periodMs: u32): JsonValue {
  return JsonValue.newObject().setInteger("set_tick_period", root.setTickPeriod(periodMs));
}

function tickCountCase(): JsonValue {
  const ticks = getSharedData(TICKS_KEY);
  return JsonValue.newObject().setInteger("ticks", ticks === null ? 0 : I64.parseInt(ticks.toString(), 10));
}

// Addresses no module memory reaches (the last 16 bytes of the 4 GiB space), and one that
// starts inside memory but runs past its end.
const BAD: usize = 0xFFFFFFF0;
const SCRATCH: usize = memory.data(16, 4);

function badPointersCase(): JsonValue {
  const key = String.UTF8.encode("x-case");
  const keyPtr = changetype<usize>(key);
  const keyLen = <usize>key.byteLength;
  const memoryEnd = <usize>memory.size() << 16;
  const out = JsonValue.newObject();
  out.setInteger("log_message", imports.proxy_log(2, BAD, 16));
  out.setInteger("log_past_end", imports.proxy_log(2, memoryEnd - 8, 16));
  out.setInteger("log_length_wraps", imports.proxy_log(2, keyPtr, 0xFFFFFFF0));
  out.setInteger("get_header_key", imports.proxy_get_header_map_value(0, BAD, 8, SCRATCH, SCRATCH + 4));
  out.setInteger("get_header_out_pointers", imports.proxy_get_header_map_value(0, keyPtr, keyLen, BAD, BAD + 4));
  out.setInteger("add_header_value", imports.proxy_add_header_map_value(0, keyPtr, keyLen, BAD, 8));
  out.setInteger("replace_header_key", imports.proxy_replace_header_map_value(0, BAD, 8, keyPtr, keyLen));
  out.setInteger("remove_header_key", imports.proxy_remove_header_map_value(0, BAD, 8));
  out.setInteger("get_pairs_out_pointers", imports.proxy_get_header_map_pairs(0, BAD, BAD + 4));
  out.setInteger("set_pairs_data", imports.proxy_set_header_map_pairs(0, BAD, 64));
  out.setInteger("get_size_out_pointer", imports.proxy_get_header_map_size(0, BAD));
  out.setInteger("get_buffer_out_pointers", imports.proxy_get_buffer_bytes(7, 0, 16, BAD, BAD + 4));
  out.setInteger("set_buffer_data", imports.proxy_set_buffer_bytes(0, 0, 0, BAD, 16));
  out.setInteger("get_property_path", imports.proxy_get_property(BAD, 8, SCRATCH, SCRATCH + 4));
  out.setInteger("set_property_value", imports.proxy_set_property(keyPtr, keyLen, BAD, 16));
  out.setInteger("get_shared_key", imports.proxy_get_shared_data(BAD, 8, SCRATCH, SCRATCH + 4, SCRATCH + 8));
  out.setInteger("set_shared_value", imports.proxy_set_shared_data(keyPtr, keyLen, BAD, 16, 0));
  out.setInteger("time_out_pointer", imports.proxy_get_current_time_nanoseconds(BAD));
  out.setInteger("define_metric_name", imports.proxy_define_metric(0, BAD, 8, SCRATCH));
  out.setInteger("register_queue_name", imports.proxy_register_shared_queue(BAD, 8, SCRATCH));
  out.setInteger("http_call_upstream", imports.proxy_http_call(BAD, 8, 0, 0, 0, 0, 0, 0, 1000, SCRATCH));
  out.setInteger("local_response_body", imports.proxy_send_local_response(500, 0, 0, BAD, 16, 0, 0, -1));
  out.setInteger("foreign_function_name", imports.proxy_call_foreign_function(BAD, 8, 0, 0, SCRATCH, SCRATCH + 4));
  return out;
}

registerRootContext((contextId: u32): RootContext => new KitchenSinkRoot(contextId), "kitchen-sink");
