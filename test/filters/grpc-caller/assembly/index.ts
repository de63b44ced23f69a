// grpc-caller: holds each request while it makes a gRPC call, then resumes or denies it.
// Config (JSON): {"cluster": "<name>", "service": "test.Echo", "method": "Say", "stream_method": "Chat",
//                 "timeout_ms": 5000}
// The request header x-grpc-mode picks what it does (messages are raw UTF-8, no protobuf):
// - "unary" (default): one call with the request's :path as message. Answer "deny" -> local 403
//   "denied by grpc"; any other answer -> request header x-grpc-answer = it, then continue.
//   Failure -> local 503 "grpc status <n>: <message>".
// - "stream": opens a stream to stream_method, sends x-grpc-count (default 3) messages "m1".."mN", the last with
//   end_stream; on close sets x-grpc-stream = "<initial md x-served-by>|<messages joined by ,>|
//   <trailing md x-trailer>|<status>" and continues.
// - "cancel": opens a stream, sends "m1", cancels it and continues with x-grpc-cancel = the result.
// x-grpc-cluster, when present, names the cluster instead of the config's.
// A call the host refuses (e.g. unknown cluster): local 500 "grpc refused: <WasmResult>".
export * from "../../../../sdk/assembly/exports";
import {
  FilterHeadersStatus, Header, HttpContext, RootContext, WasmResult, continueRequest, registerRootContext,
  requestHeaders, sendLocalResponse, wasmResultName,
} from "../../../../sdk/assembly";

class CallerRoot extends RootContext {
  cluster: string = "";
  service: string = "";
  method: string = "";
  streamMethod: string = "";
  timeoutMs: u32 = 5000;

  onConfigure(size: u32): bool {
    const config = this.getPluginConfigurationJson();
    if (config === null) return false;
    this.cluster = config.getString("cluster");
    this.service = config.getString("service", "test.Echo");
    this.method = config.getString("method", "Say");
    this.streamMethod = config.getString("stream_method", "Chat");
    this.timeoutMs = <u32>config.getInteger("timeout_ms", 5000);
    return true;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Caller(contextId, this);
  }
}

function metadataValue(metadata: Array<Header>, name: string): string {
  for (let i = 0; i < metadata.length; i++) if (metadata[i].key == name) return metadata[i].value;
  return "";
}

class Caller extends HttpContext {
  readonly config: CallerRoot;
  servedBy: string = "";
  trailer: string = "";
  received: Array<string> = [];

  constructor(contextId: u32, root: CallerRoot) {
    super(contextId, root);
    this.config = root;
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const mode = requestHeaders.get("x-grpc-mode");
    const config = this.config;
    const clusterHeader = requestHeaders.get("x-grpc-cluster");
    const cluster = clusterHeader === null ? config.cluster : clusterHeader;
    const metadata: Array<Header> = [new Header("x-caller", "grpc-caller")];
    if (mode == "stream" || mode == "cancel") {
      const opened = this.openGrpcStream(cluster, config.service, config.streamMethod, metadata);
      if (opened.status != WasmResult.Ok) return this.refused(opened.status);
      if (mode == "cancel") {
        this.sendGrpcStreamMessage(opened.value, String.UTF8.encode("m1"));
        requestHeaders.replace("x-grpc-cancel", wasmResultName(this.cancelGrpcCall(opened.value)));
        return FilterHeadersStatus.Continue;
      }
      const countText = requestHeaders.get("x-grpc-count");
      const count = countText === null ? 3 : I32.parseInt(countText, 10);
      for (let i = 1; i <= count; i++) {
        this.sendGrpcStreamMessage(opened.value, String.UTF8.encode("m" + i.toString()), i == count);
      }
      return FilterHeadersStatus.StopIteration;
    }
    const path = requestHeaders.get(":path");
    const call = this.dispatchGrpcCall(cluster, config.service, config.method, metadata, String.UTF8.encode(path === null ? "" : path), config.timeoutMs);
    if (call.status != WasmResult.Ok) return this.refused(call.status);
    return FilterHeadersStatus.StopIteration;
  }

  refused(status: WasmResult): FilterHeadersStatus {
    sendLocalResponse(500, "grpc refused: " + wasmResultName(status));
    return FilterHeadersStatus.StopIteration;
  }

  onGrpcCallResponse(token: u32, status: i32, message: ArrayBuffer, statusMessage: string): void {
    if (status != 0) {
      sendLocalResponse(503, "grpc status " + status.toString() + ": " + statusMessage);
      return;
    }
    const answer = String.UTF8.decode(message);
    if (answer == "deny") {
      sendLocalResponse(403, "denied by grpc");
      return;
    }
    requestHeaders.replace("x-grpc-answer", answer);
    continueRequest();
  }

  onGrpcStreamInitialMetadata(token: u32, metadata: Array<Header>): void {
    this.servedBy = metadataValue(metadata, "x-served-by");
  }

  onGrpcStreamMessage(token: u32, message: ArrayBuffer): void {
    this.received.push(String.UTF8.decode(message));
  }

  onGrpcStreamTrailingMetadata(token: u32, metadata: Array<Header>): void {
    this.trailer = metadataValue(metadata, "x-trailer");
  }

  onGrpcStreamClose(token: u32, status: i32, statusMessage: string): void {
    requestHeaders.replace("x-grpc-stream", this.servedBy + "|" + this.received.join(",") + "|" + this.trailer + "|" + status.toString());
    continueRequest();
  }
}

registerRootContext((contextId: u32) => new CallerRoot(contextId), "");
