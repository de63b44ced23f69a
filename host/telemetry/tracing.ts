// Host tracing with OpenTelemetry: a SERVER span per request and a CLIENT span per upstream
// attempt, with the HTTP semantic-convention attributes, exported over OTLP/HTTP (JSON) or
// written to the log (`tracing.exporter: console`).
//
// The SERVER span is parented on the request's `traceparent` as the filters left it, so when
// the telemetry filter continued or started the trace, the span hangs below the hop span id the
// filter made. Each CLIENT span is a child of the SERVER span, and the upstream receives its
// span id in `traceparent` (the value of `tracestate` is left as the filters left it), so the
// upstream's own spans hang below the attempt that reached it. With `exporter: off` this module
// is not even loaded (weft.ts imports it on demand) and the proxy skips every hook.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, diag, trace, type Context, type DiagLogger, type Span, type TextMapGetter } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, hrTimeToMilliseconds, setGlobalErrorHandler, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { HeaderMap } from '../abi/header-map.js';
import type { RequestInfo } from '../chain/http-stream.js';
import type { TracingSpec } from '../config/schema.js';
import type { AttemptTrace, FinishedRequest, RequestTrace, RequestTracer } from '../proxy/proxy-context.js';
import type { Logger } from './logger.js';

/** Spans leave in batches: at most a second after they end, or sooner when 512 are waiting. */
const EXPORT_DELAY_MS = 1000;
/** A collector that does not answer holds a batch (and shutdown) this long at most. */
const EXPORT_TIMEOUT_MS = 5000;
/** Export problems are logged at most this often, so a collector that is down does not flood the log. */
const WARN_INTERVAL_MS = 60_000;

/** Methods the semantic conventions know; any other is reported as `_OTHER` with the original. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export interface Tracing {
  readonly tracer: RequestTracer;
  /** Exports what is still waiting, then stops. */
  shutdown(): Promise<void>;
}

/** The tracer the manifest asks for (exporter otlp or console; with off the proxy has none). */
export function createTracing(spec: TracingSpec, logger: Logger): Tracing {
  routeDiagnostics(logger);
  const exporter: SpanExporter =
    spec.exporter === 'otlp' ? new OTLPTraceExporter({ url: spec.endpoint, timeoutMillis: EXPORT_TIMEOUT_MS }) : new LogSpanExporter(logger);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: spec.service_name }),
    // A request that comes with a trace keeps its sampled flag; sample_ratio decides for new traces.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(spec.sample_ratio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: EXPORT_DELAY_MS, exportTimeoutMillis: EXPORT_TIMEOUT_MS })],
  });
  const tracer = new OtelRequestTracer(provider.getTracer('weft'));
  logger.info({ exporter: spec.exporter, ...(spec.exporter === 'otlp' ? { endpoint: spec.endpoint } : {}), sample_ratio: spec.sample_ratio }, 'tracing on');
  return { tracer, shutdown: () => provider.shutdown() };
}

type OtelTracer = ReturnType<BasicTracerProvider['getTracer']>;

const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<HeaderMap> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: () => [],
};

class OtelRequestTracer implements RequestTracer {
  constructor(private readonly tracer: OtelTracer) {}

  startRequest(headers: HeaderMap, info: RequestInfo): RequestTrace {
    return new OtelRequestTrace(this.tracer, headers, info);
  }
}

/**
 * The SERVER span starts (back-dated to the request's arrival) only once its parent is known:
 * at the first upstream attempt, after the request-headers phase, or at the end for requests
 * the proxy or a filter answered itself. The request line is taken on arrival, before a filter
 * rewrites the path.
 *
 * Every time stamp of the request's spans comes from one clock: the arrival's wall-clock time
 * plus the monotonic time since, so spans nest exactly and durations keep sub-millisecond
 * precision, whatever the wall clock does meanwhile.
 *
 * Attributes are set only on spans that record: a request the sampler leaves out costs the
 * span ids and little else.
 */
class OtelRequestTrace implements RequestTrace {
  private span: Span | undefined;
  private readonly arrivedAt = performance.now();
  private readonly method: string;
  private readonly target: string;
  private readonly authority: string;
  private readonly userAgent: string | undefined;
  private readonly requestId: string | undefined;

  constructor(
    private readonly tracer: OtelTracer,
    private readonly headers: HeaderMap,
    private readonly info: RequestInfo,
  ) {
    this.method = headers.get(':method') ?? '';
    this.target = headers.get(':path') ?? '/';
    this.authority = headers.get(':authority') ?? '';
    this.userAgent = headers.get('user-agent');
    this.requestId = headers.get('x-request-id');
  }

  startAttempt(endpoint: string, attempt: number, upstreamHeaders: string[]): AttemptTrace {
    const parent = trace.setSpan(ROOT_CONTEXT, this.serverSpan());
    const method = this.headers.get(':method') ?? this.method;
    const span = this.tracer.startSpan(method, { kind: SpanKind.CLIENT, startTime: this.now() }, parent);
    if (span.isRecording()) {
      const { host, port } = splitHostPort(endpoint);
      setMethod(span, method);
      span.setAttribute(ATTR_SERVER_ADDRESS, host);
      span.setAttribute(ATTR_SERVER_PORT, port!);
      span.setAttribute(ATTR_NETWORK_PEER_ADDRESS, host);
      span.setAttribute(ATTR_NETWORK_PEER_PORT, port!);
      span.setAttribute(ATTR_URL_FULL, `http://${endpoint}${this.headers.get(':path') ?? '/'}`);
      if (attempt > 1) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, attempt - 1);
    }
    setTraceParent(upstreamHeaders, span);
    return new OtelAttemptTrace(span, this);
  }

  /** Milliseconds since the epoch, on this request's clock. */
  now(): number {
    return this.info.startTimeMs + (performance.now() - this.arrivedAt);
  }

  end(request: FinishedRequest, route: string | undefined): void {
    const span = this.serverSpan();
    if (!span.isRecording()) return;
    if (route !== undefined) {
      span.setAttribute(ATTR_HTTP_ROUTE, route);
      span.updateName(`${this.method} ${route}`);
    }
    span.setAttribute('weft.cluster', request.cluster);
    if (request.flags !== '-') span.setAttribute('weft.response.flags', request.flags);
    if (request.status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, request.status);
    // A server span is an error when the answer is 5xx, or when there was no answer at all.
    if (request.status >= 500 || request.status === 0) {
      const errorType = request.status === 0 ? (request.flags === '-' ? '_OTHER' : request.flags) : String(request.status);
      span.setAttribute(ATTR_ERROR_TYPE, errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(this.now());
  }

  private serverSpan(): Span {
    if (this.span !== undefined) return this.span;
    const parent: Context = propagator.extract(ROOT_CONTEXT, this.headers, headerGetter);
    const span = (this.span = this.tracer.startSpan(this.method, { kind: SpanKind.SERVER, startTime: this.info.startTimeMs }, parent));
    if (!span.isRecording()) return span;
    const query = this.target.indexOf('?');
    const { host, port } = splitHostPort(this.authority);
    setMethod(span, this.method);
    span.setAttribute(ATTR_URL_PATH, query < 0 ? this.target : this.target.slice(0, query));
    if (query >= 0) span.setAttribute(ATTR_URL_QUERY, this.target.slice(query + 1));
    span.setAttribute(ATTR_URL_SCHEME, this.info.scheme);
    span.setAttribute(ATTR_SERVER_ADDRESS, host);
    span.setAttribute(ATTR_SERVER_PORT, port ?? this.info.localPort);
    span.setAttribute(ATTR_CLIENT_ADDRESS, this.info.remoteAddress);
    span.setAttribute(ATTR_NETWORK_PEER_ADDRESS, this.info.remoteAddress);
    if (this.userAgent !== undefined) span.setAttribute(ATTR_USER_AGENT_ORIGINAL, this.userAgent);
    if (this.requestId !== undefined) span.setAttribute('weft.request_id', this.requestId);
    return span;
  }
}

class OtelAttemptTrace implements AttemptTrace {
  private status = 0;

  constructor(
    private readonly span: Span,
    private readonly clock: OtelRequestTrace,
  ) {}

  responded(status: number): void {
    this.status = status;
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  }

  end(failure?: string): void {
    // A client span is an error on a 4xx or 5xx answer, or when no whole answer came back.
    if (this.status >= 400 || failure !== undefined) {
      this.span.setAttribute(ATTR_ERROR_TYPE, this.status >= 400 ? String(this.status) : failure!);
      this.span.setStatus({ code: SpanStatusCode.ERROR, ...(failure === undefined ? {} : { message: failure }) });
    }
    this.span.end(this.clock.now());
  }
}

function setMethod(span: Span, method: string): void {
  if (KNOWN_METHODS.has(method)) {
    span.setAttribute(ATTR_HTTP_REQUEST_METHOD, method);
  } else {
    span.setAttribute(ATTR_HTTP_REQUEST_METHOD, '_OTHER');
    span.setAttribute(ATTR_HTTP_REQUEST_METHOD_ORIGINAL, method);
  }
}

/** "host:port" / "[::1]:port" / "host" -> parts; port undefined when absent. */
function splitHostPort(address: string): { host: string; port: number | undefined } {
  const colon = address.lastIndexOf(':');
  if (colon < 0 || address.endsWith(']')) return { host: address, port: undefined };
  const host = address.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(address.slice(colon + 1)) || undefined };
}

/** Sets (or replaces) `traceparent` in undici's flat header array to the span's context. */
function setTraceParent(flat: string[], span: Span): void {
  const context = span.spanContext();
  const value = `00-${context.traceId}-${context.spanId}-0${context.traceFlags & 1}`;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === 'traceparent') {
      flat[i + 1] = value;
      return;
    }
  }
  flat.push('traceparent', value);
}

/** `exporter: console`: one JSON log line per span, on the process log. */
class LogSpanExporter implements SpanExporter {
  constructor(private readonly logger: Logger) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) {
      const context = span.spanContext();
      this.logger.info(
        {
          span: {
            name: span.name,
            kind: SpanKind[span.kind],
            trace_id: context.traceId,
            span_id: context.spanId,
            parent_span_id: span.parentSpanContext?.spanId,
            start_ms: hrTimeToMilliseconds(span.startTime),
            duration_ms: Math.round(hrTimeToMilliseconds(span.duration) * 1000) / 1000,
            status: SpanStatusCode[span.status.code],
            attributes: span.attributes,
          },
        },
        'span',
      );
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}

/**
 * OpenTelemetry reports failed exports to its global error handler and other trouble to its
 * global diagnostics: both go to the log as warnings, at most one a minute, so a collector that
 * is down does not flood it.
 */
function routeDiagnostics(logger: Logger): void {
  let lastWarnMs = 0;
  const warn = (message: string) => {
    const now = Date.now();
    if (now - lastWarnMs < WARN_INTERVAL_MS) return;
    lastWarnMs = now;
    logger.warn(`tracing: ${message}`);
  };
  setGlobalErrorHandler((error) => warn(`spans could not be exported, and were dropped (${error instanceof Error ? error.message : String(error)})`));
  const ignore = () => {};
  const diagLogger: DiagLogger = { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
  diag.setLogger(diagLogger, { suppressOverrideMessage: true });
}
