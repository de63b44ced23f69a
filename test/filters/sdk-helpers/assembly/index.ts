// sdk-helpers: the SDK's helpers for filter authors (config-reader.ts, json.ts checked accessors,
// query.ts, clock.ts) answering what they computed. onConfigure reads the configuration with a
// ConfigReader and refuses it, logging every error, when anything is wrong. Request header
// x-case selects what the local response (200, JSON) shows:
//   config  the configuration as read: deny_paths, ratio, limits.per_second, tags
//   query   queryParam(:path, "q"), queryParams(:path, "tag"), requestQueryParam("none")
//   checked the checked JSON accessors on {"s": "x", "a": [], "o": {}}
//   clock   hasPreciseClock(), and two monotonicNanoseconds() readings around some work
//   text    text values handed to the host (header values, a property, a log line; the SDK
//           encodes them into one reused buffer) read back: non-ASCII, long, one after another
export * from "../../../../sdk/assembly/exports";
import {
  ConfigReader, FilterHeadersStatus, Header, HttpContext, JsonValue, PropertyPath, RootContext, hasPreciseClock, logError,
  logInfo, monotonicNanoseconds, parseJson, queryParam, queryParams, registerRootContext, requestHeaders,
  requestQueryParam, sendLocalResponse,
} from "../../../../sdk/assembly";

class HelpersRoot extends RootContext {
  denyPaths: Array<string> = new Array<string>();
  ratio: f64 = 0.5;
  perSecond: f64 = 10;
  tags: Array<string> = new Array<string>();

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    const reader = new ConfigReader();
    if (reader.expectObject(config, "", ["deny_paths", "ratio", "limits", "tags"])) {
      this.denyPaths = reader.stringList(config, "", "deny_paths");
      this.ratio = reader.number(config, "", "ratio", 0.5, 0, 1);
      const limits = reader.object(config, "", "limits", ["per_second"]);
      if (limits !== null) this.perSecond = reader.number(limits, "limits", "per_second", 10, 0);
      const tags = reader.list(config, "", "tags");
      if (tags !== null) for (let i = 0; i < tags.length; i++) this.tags.push(tags[i].stringify());
    }
    if (!reader.ok) {
      logError("sdk-helpers: " + reader.message());
      return false;
    }
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Helpers(contextId, this);
  }
}

class Helpers extends HttpContext {
  constructor(contextId: u32, readonly helpers: HelpersRoot) {
    super(contextId, helpers);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const c = requestHeaders.get("x-case");
    const out = JsonValue.newObject();
    if (c == "config") {
      out.set("deny_paths", strings(this.helpers.denyPaths));
      out.set("ratio", JsonValue.fromFloat(this.helpers.ratio));
      out.set("per_second", JsonValue.fromFloat(this.helpers.perSecond));
      out.set("tags", strings(this.helpers.tags));
    } else if (c == "query") {
      const path = requestHeaders.get(":path")!;
      out.set("q", orNull(queryParam(path, "q")));
      out.set("tags", strings(queryParams(path, "tag")));
      out.set("empty", orNull(queryParam(path, "empty")));
      out.set("none", orNull(requestQueryParam("none")));
    } else if (c == "checked") {
      const doc = parseJson("{\"s\": \"x\", \"a\": [], \"o\": {}}")!;
      out.setBool("s_as_array_is_null", doc.getArrayOrNull("s") === null);
      out.setBool("a_as_array_is_empty", doc.getArrayOrNull("a")!.length == 0);
      out.setBool("a_as_string_is_null", doc.getStringOrNull("a") === null);
      out.setBool("o_is_object", doc.getObjectOrNull("o") !== null);
      out.setBool("missing_is_null", doc.getStringOrNull("missing") === null);
      out.set("s", orNull(doc.getStringOrNull("s")));
    } else if (c == "clock") {
      const first = monotonicNanoseconds();
      let sum: u64 = 0;
      for (let i: u64 = 0; i < 1000; i++) sum += i * i;
      const second = monotonicNanoseconds();
      out.setBool("precise", hasPreciseClock());
      out.setInteger("elapsed_ns", <i64>(second - first));
      out.setBool("work_done", sum > 0);
    } else if (c == "text") {
      const long = "ü".repeat(700); // 1,400 bytes: more than the reused buffer starts with
      const note = new PropertyPath(["weft", "test", "note"]);
      requestHeaders.replace("x-a", "café ☕ 😀");
      requestHeaders.add("x-b", long);
      note.setString("naïve");
      logInfo("sdk-helpers: ünïcode log line");
      requestHeaders.replace("x-c", "");
      out.set("a", orNull(requestHeaders.get("x-a")));
      out.setBool("b_is_long", requestHeaders.get("x-b") == long);
      out.set("c", orNull(requestHeaders.get("x-c")));
      out.set("note", orNull(note.getString()));
    } else {
      return FilterHeadersStatus.Continue;
    }
    sendLocalResponse(200, out.stringify(), [new Header("content-type", "application/json")]);
    return FilterHeadersStatus.StopIteration;
  }
}

function strings(items: Array<string>): JsonValue {
  const list = JsonValue.newArray();
  for (let i = 0; i < items.length; i++) list.push(JsonValue.fromString(items[i]));
  return list;
}

function orNull(value: string | null): JsonValue {
  return value === null ? JsonValue.nullValue() : JsonValue.fromString(value);
}

registerRootContext((contextId: u32): RootContext => new HelpersRoot(contextId), "sdk-helpers");
