// Numeric values of the proxy-wasm ABI 0.2.1 (spec, checked against the Rust SDK's types.rs).

/** Result of every `env.proxy_*` host call. */
export enum WasmResult {
  Ok = 0,
  NotFound = 1,
  BadArgument = 2,
  SerializationFailure = 3,
  ParseFailure = 4,
  BadExpression = 5,
  InvalidMemoryAccess = 6,
  Empty = 7,
  CasMismatch = 8,
  ResultMismatch = 9,
  InternalFailure = 10,
  BrokenConnection = 11,
  Unimplemented = 12,
}

export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

/** What a header callback returns. Anything but Continue / ContinueAndEndStream holds the stream. */
export enum FilterHeadersStatus {
  Continue = 0,
  StopIteration = 1,
  ContinueAndEndStream = 2,
  StopAllIterationAndBuffer = 3,
  StopAllIterationAndWatermark = 4,
}

/** What a body callback returns. StopIterationAndBuffer asks the host to buffer and call again. */
export enum FilterDataStatus {
  Continue = 0,
  StopIterationAndBuffer = 1,
  StopIterationAndWatermark = 2,
  StopIterationNoBuffer = 3,
}

/** What a trailer callback returns. */
export enum FilterTrailersStatus {
  Continue = 0,
  StopIteration = 1,
}

export enum MapType {
  RequestHeaders = 0,
  RequestTrailers = 1,
  ResponseHeaders = 2,
  ResponseTrailers = 3,
  GrpcReceiveInitialMetadata = 4,
  GrpcReceiveTrailingMetadata = 5,
  HttpCallResponseHeaders = 6,
  HttpCallResponseTrailers = 7,
}

export enum BufferType {
  RequestBody = 0,
  ResponseBody = 1,
  DownstreamData = 2,
  UpstreamData = 3,
  HttpCallResponseBody = 4,
  GrpcReceiveBuffer = 5,
  VmConfiguration = 6,
  PluginConfiguration = 7,
  CallData = 8,
}

export enum StreamType {
  Request = 0,
  Response = 1,
  Downstream = 2,
  Upstream = 3,
}

export enum MetricType {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** gRPC status passed to send_local_response; None means "not a gRPC reply". */
export enum GrpcStatus {
  None = -1,
  Ok = 0,
}

/** One header (or trailer, or property-map) entry. Names are lowercase on the wire. */
export class Header {
  key: string;
  value: string;
  constructor(key: string, value: string) {
    this.key = key;
    this.value = value;
  }
}

/** Readable name of a WasmResult, for log lines and error messages. */
export function wasmResultName(result: WasmResult): string {
  switch (result) {
    case WasmResult.Ok: return "Ok";
    case WasmResult.NotFound: return "NotFound";
    case WasmResult.BadArgument: return "BadArgument";
    case WasmResult.SerializationFailure: return "SerializationFailure";
    case WasmResult.ParseFailure: return "ParseFailure";
    case WasmResult.BadExpression: return "BadExpression";
    case WasmResult.InvalidMemoryAccess: return "InvalidMemoryAccess";
    case WasmResult.Empty: return "Empty";
    case WasmResult.CasMismatch: return "CasMismatch";
    case WasmResult.ResultMismatch: return "ResultMismatch";
    case WasmResult.InternalFailure: return "InternalFailure";
    case WasmResult.BrokenConnection: return "BrokenConnection";
    case WasmResult.Unimplemented: return "Unimplemented";
    default: return "WasmResult(" + result.toString() + ")";
  }
}

/**
 * The HttpContext callbacks a filter implements, or-ed together, as RootContext.phases()
 * answers them. The host calls only these (and always context create and delete): a filter
 * that reads no bodies is not called for every body chunk. Phases.All is the default.
 */
export namespace Phases {
  export const RequestHeaders: u32 = 1;
  export const RequestBody: u32 = 2;
  export const RequestTrailers: u32 = 4;
  export const ResponseHeaders: u32 = 8;
  export const ResponseBody: u32 = 16;
  export const ResponseTrailers: u32 = 32;
  /** onLog. */
  export const Log: u32 = 64;
  /** onDone of an HttpContext (the root's onDone is always called). */
  export const Done: u32 = 128;
  export const All: u32 = 255;
}
