// telemetry: W3C trace context and request metrics. Continues the request's `traceparent` (same
// trace id and sampled flag, a new span id for this hop) or starts a trace, sends it to the
// upstream, leaves `tracestate` as it came, and exposes the ids as properties (and the trace id
// as a response header when configured). In on_log it counts the request by route, cluster and
// status class and records its latency. Configuration and behaviour: ../README.md.

export * from "../../../sdk/assembly/exports";

import {
  FilterHeadersStatus, HttpContext, Phases, PropertyPath, RootContext, logError, registerRootContext, requestHeaders,
  responseHeaders,
} from "../../../sdk/assembly";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { TelemetryConfig, parseConfig } from "./config";
import { newSpanId, newTraceId } from "./ids";
import { RequestMetrics } from "./request-metrics";
import { formatTraceParent, parseTraceParent } from "./traceparent";

const TRACE_ID = new PropertyPath(["weft", "trace", "trace_id"]);
const SPAN_ID = new PropertyPath(["weft", "trace", "span_id"]);
const ROUTE_NAME = new PropertyPath(["weft", "route", "name"]);
const UPSTREAM_CLUSTER = new PropertyPath(["weft", "upstream", "cluster"]);
const RESPONSE_CODE = new PropertyPath(["response", "code"]);
const REQUEST_DURATION = new PropertyPath(["request", "duration"]);
const NS_PER_MS: i64 = 1_000_000;

class TelemetryRoot extends RootContext {
  config: TelemetryConfig = new TelemetryConfig();
  metrics: RequestMetrics | null = null;

  onConfigure(configurationSize: u32): bool {
    const text = this.getPluginConfiguration();
    let config = new TelemetryConfig();
    if (text.trim().length > 0) {
      const json = this.getPluginConfigurationJson();
      if (json === null) return false;
      const reader = new ConfigReader();
      const parsed = parseConfig(json, reader);
      if (parsed === null) {
        logError("telemetry: invalid configuration: " + reader.message());
        return false;
      }
      config = parsed;
    }
    this.config = config;
    this.metrics = config.metrics ? new RequestMetrics() : null;
    return true;
  }

  phases(): u32 {
    let phases = Phases.RequestHeaders;
    if (this.config.responseHeader.length > 0) phases |= Phases.ResponseHeaders;
    if (this.metrics !== null) phases |= Phases.Log;
    return phases;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Telemetry(contextId, this);
  }
}

class Telemetry extends HttpContext {
  /** This request's trace id; null until onRequestHeaders ran (an earlier filter may answer first). */
  private traceId: string | null = null;

  constructor(contextId: u32, readonly telemetry: TelemetryRoot) {
    super(contextId, telemetry);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const incoming = parseTraceParent(requestHeaders.get("traceparent"));
    const spanId = newSpanId();
    let traceId: string;
    let flags: u8;
    if (incoming !== null) {
      traceId = incoming.traceId;
      // Version 00 defines only the sampled bit; other bits are not ours to pass on.
      flags = incoming.flags & 1;
    } else {
      traceId = newTraceId();
      flags = this.telemetry.config.sampled ? 1 : 0;
    }
    requestHeaders.replace("traceparent", formatTraceParent(traceId, spanId, flags));
    TRACE_ID.setString(traceId);
    SPAN_ID.setString(spanId);
    this.traceId = traceId;
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const header = this.telemetry.config.responseHeader;
    if (header.length == 0) return FilterHeadersStatus.Continue;
    // Absent when the request never reached this filter (an earlier filter answered it).
    const traceId = this.traceId;
    if (traceId !== null) responseHeaders.replace(header, traceId);
    return FilterHeadersStatus.Continue;
  }

  onLog(): void {
    const metrics = this.telemetry.metrics;
    if (metrics === null) return;
    const route = ROUTE_NAME.getString();
    const cluster = UPSTREAM_CLUSTER.getString();
    const durationNs = REQUEST_DURATION.getInt(0);
    metrics.record(
      route === null ? "-" : route,
      cluster === null ? "-" : cluster,
      RESPONSE_CODE.getInt(0),
      <u64>(durationNs > 0 ? durationNs / NS_PER_MS : 0),
    );
  }
}

registerRootContext((contextId: u32): RootContext => new TelemetryRoot(contextId), "telemetry");
