// The Weft filter SDK: everything a filter author imports.
//   import { RootContext, HttpContext, registerRootContext, ... } from "<path to>/sdk/assembly";
// The entry file must also re-export the ABI functions:
//   export * from "<path to>/sdk/assembly/exports";

export {
  BufferType, FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, GrpcStatus, Header, LogLevel,
  MapType, MetricType, Phases, StreamType, WasmResult, wasmResultName,
} from "./types";
export { Context, HttpCallCallback, HttpContext, RootContext } from "./context";
export { RootContextFactory, registerRootContext } from "./dispatcher";
export { HttpCallResponse } from "./httpcall";
export { HeaderMap, requestHeaders, requestTrailers, responseHeaders, responseTrailers } from "./headers";
export { Body, requestBody, responseBody } from "./body";
export {
  PropertyPath, getProperty, getPropertyInt, getPropertyString, getSourceIp, setProperty, setPropertyString,
} from "./properties";
export {
  closeRequest, closeResponse, continueRequest, continueResponse, sendLocalResponse, sendLocalResponseBytes,
} from "./stream";
export {
  SharedValue, dequeueSharedQueue, enqueueSharedQueue, enqueueSharedQueueString, getSharedData,
  registerSharedQueue, setSharedData, setSharedDataString,
} from "./shared";
export { Counter, Gauge, Histogram } from "./metrics";
export {
  getCurrentTimeNanoseconds, getLogLevel, log, logCritical, logDebug, logError, logInfo, logTrace, logWarn,
} from "./log";
export { JsonKind, JsonParser, JsonValue, parseJson, quoteJsonString } from "./json";
export { Result, SharedDataResult, StatusResult, getStatus } from "./hostcalls";
export {
  ClusterEndpoint, ENDPOINT_HEALTHY, Random, cookieValue, ejectionDeadline, ejectionKey, getClusterEndpoints,
  getClusterNames, hash64, mix64, parseClusterEndpoints, setEjectionDeadline,
} from "./cluster";
export { SharedUpdate, UpdateOutcome, createSharedData, updateSharedData } from "./shared-update";
export { ConfigReader, describe, join } from "./config-reader";
export { decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url, isBase64UrlText } from "./base64";
export { sha256, sha256Hex, toHex } from "./sha256";
export { matchingPath } from "./path";
export { decodeQueryComponent, queryParam, queryParams, requestQueryParam } from "./query";
export { hasPreciseClock, monotonicNanoseconds } from "./clock";
