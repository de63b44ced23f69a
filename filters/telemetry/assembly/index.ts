// telemetry: W3C trace context and request metrics. Continues the request's `traceparent` (same
// trace id and sampled flag, a new span id for this hop) or starts a trace, sends it to the
// upstream, leaves `tracestate` as it came, and exposes the ids as properties (and the trace id
// as a response header when configured). In on_log it counts the request by route, cluster and
// status class and records its latency. Configuration and behaviour: ../README.md.

export * from "../../../sdk/assembly/exports";

import {
  FilterHeadersStatus, HttpContext, Phases, RootContext, getPropertyInt, getPropertyString, logError, registerRootContext,
  requestHeaders, responseHeaders, setPropertyString,
} from "../../../sdk/assembly";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { TelemetryConfig, parseConfig } from "./config";
import { newSpanId, newTraceId } from "./ids";
import { RequestMetrics } from "./request-metrics";
import { formatTraceParent, parseTraceParent } from "./traceparent";

const TRACE_ID = ["weft", "trace", "trace_id"];
const SPAN_ID = ["weft", "trace", "span_id"];
const ROUTE_NAME = ["weft", "route", "name"];
const UPSTREAM_CLUSTER = ["weft", "upstream", "cluster"];
const RESPONSE_CODE = ["response", "code"];
const REQUEST_DURATION = ["request", "duration"];
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
    setPropertyString(TRACE_ID, traceId);
    setPropertyString(SPAN_ID, spanId);
    return FilterHeadersStatus.Continue;
  }

  onResponseHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const header = this.telemetry.config.responseHeader;
    if (header.length == 0) return FilterHeadersStatus.Continue;
    // Read back from the property: absent when the request never reached this filter (answered earlier).
    const traceId = getPropertyString(TRACE_ID);
    if (traceId !== null) responseHeaders.replace(header, traceId);
    return FilterHeadersStatus.Continue;
  }

  onLog(): void {
    const metrics = this.telemetry.metrics;
    if (metrics === null) return;
    const route = getPropertyString(ROUTE_NAME);
    const cluster = getPropertyString(UPSTREAM_CLUSTER);
    const durationNs = getPropertyInt(REQUEST_DURATION, 0);
    metrics.record(
      route === null ? "-" : route,
      cluster === null ? "-" : cluster,
      getPropertyInt(RESPONSE_CODE, 0),
      <u64>(durationNs > 0 ? durationNs / NS_PER_MS : 0),
    );
  }
}

registerRootContext((contextId: u32): RootContext => new TelemetryRoot(contextId), "telemetry");
