// One HTTP stream of a filter under test: the test sends each phase (headers, body chunks,
// trailers, both directions) and reads back what the filter made of it. Each send runs exactly
// one callback and returns the filter's answer ('continue' or 'pause'); nothing else runs
// between sends, so a test sees the filter step by step, as the proxy-wasm Go SDK's proxytest does.
// Request properties (request.path, source.address, ...) are the proxy's own
// (host/chain/stream-properties.ts), computed from the headers sent and the connection facts given.

import { FilterDataStatus, FilterHeadersStatus, StreamType, WasmResult } from '../abi/enums.js';
import { HeaderMap } from '../abi/header-map.js';
import type { BodyBuffer, HttpContextHost } from '../abi/host-api.js';
import type { WasmVm } from '../abi/vm.js';
import type { RequestInfo } from '../chain/http-stream.js';
import { isHostFact, streamProperty, type StreamFacts } from '../chain/stream-properties.js';
import { MemoryBody } from './memory-services.js';
import { bytesOf, headerPairs, type Bytes, type HeaderInput } from './values.js';

/** What a callback answered: go on, or hold the stream (any Stop* status). */
export type Action = 'continue' | 'pause';

export interface StreamOptions extends Partial<RequestInfo> {
  /** Properties of this stream, answered before the proxy's own (e.g. set by an earlier filter). */
  properties?: Record<string, Bytes>;
}

/** A response the filter sent with proxy_send_local_response. */
export interface LocalResponse {
  status: number;
  /** The body as text (UTF-8); bodyBytes for binary. */
  body: string;
  bodyBytes: Buffer;
  headers: Array<[string, string]>;
  details: string;
  grpcStatus: number;
  /** The first value of a header it set; undefined when absent. */
  header(name: string): string | undefined;
}

const enum Direction {
  Request = 0,
  Response = 1,
}

export class StreamUnderTest implements HttpContextHost, StreamFacts {
  readonly requestHeaders = new HeaderMap();
  responseHeaders: HeaderMap | undefined;
  readonly requestInfo: RequestInfo;
  readonly finalStatus = 0;
  readonly finalFlags = undefined;
  readonly upstreamAddress = undefined;
  /** The local response the filter sent (a second call is refused, as in the proxy): at most one. */
  readonly localResponses: LocalResponse[] = [];
  /** Directions the filter resumed with proxy_continue_stream, in order. */
  readonly resumed: Array<'request' | 'response'> = [];
  /** True once the filter reset the stream (proxy_close_stream). */
  closed = false;

  private readonly trailers: Array<HeaderMap | undefined> = [undefined, undefined];
  /** Per direction: bytes the filter let through, and bytes it holds (it paused on them). */
  private readonly passed: Uint8Array[][] = [[], []];
  private readonly held: MemoryBody[] = [new MemoryBody(), new MemoryBody()];
  /** The body of the callback running now, or undefined outside body callbacks. */
  private current: BodyBuffer | undefined;
  private readonly properties: Map<string, Uint8Array>;
  private completed = false;
  /** The filter ended its context after its last headers callback (WasmVm.has.endsAfter*): nothing more reaches it. */
  private contextEnded = false;

  /** `open` holds the streams not yet complete, by id (FilterUnderTest.liveStream). */
  constructor(
    private readonly vm: WasmVm,
    readonly id: number,
    options: StreamOptions,
    private readonly open: Map<number, StreamUnderTest>,
  ) {
    const { properties, ...info } = options;
    this.requestInfo = { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', localPort: 8080, scheme: 'http', startTimeMs: Date.now(), ...info };
    this.properties = new Map(Object.entries(properties ?? {}).map(([key, value]) => [key, bytesOf(value)]));
    open.set(id, this);
    try {
      vm.createHttpContext(this);
    } catch (error) {
      open.delete(id);
      throw error;
    }
  }

  hasContextIn(vm: WasmVm): boolean {
    return vm === this.vm && !this.contextEnded && this.open.get(this.id) === this;
  }

  // ---- sending the phases ----------------------------------------------------------------------

  /** proxy_on_request_headers. `endOfStream` defaults to true (a request without a body). */
  sendRequestHeaders(headers: HeaderInput, options: { endOfStream?: boolean } = {}): Action {
    this.requestHeaders.setPairs(headerPairs(headers).flat());
    const status = this.vm.onRequestHeaders(this, this.requestHeaders.size, options.endOfStream ?? true);
    if (this.vm.endedContext(true, status)) this.contextEnded = true;
    return headersAction(status);
  }

  /** proxy_on_request_body with this chunk after whatever the filter holds. `endOfStream` defaults to true. */
  sendRequestBody(chunk: Bytes, options: { endOfStream?: boolean } = {}): Action {
    return this.runBody(Direction.Request, bytesOf(chunk), options.endOfStream ?? true);
  }

  sendRequestTrailers(trailers: HeaderInput): Action {
    const map = (this.trailers[Direction.Request] = HeaderMap.fromEntries(headerPairs(trailers)));
    return headersAction(this.vm.onRequestTrailers(this, map.size));
  }

  /** proxy_on_response_headers. `endOfStream` defaults to true (a response without a body). */
  sendResponseHeaders(headers: HeaderInput, options: { endOfStream?: boolean } = {}): Action {
    this.responseHeaders = HeaderMap.fromEntries(headerPairs(headers));
    const status = this.vm.onResponseHeaders(this, this.responseHeaders.size, options.endOfStream ?? true);
    if (this.vm.endedContext(false, status)) this.contextEnded = true;
    return headersAction(status);
  }

  sendResponseBody(chunk: Bytes, options: { endOfStream?: boolean } = {}): Action {
    return this.runBody(Direction.Response, bytesOf(chunk), options.endOfStream ?? true);
  }

  sendResponseTrailers(trailers: HeaderInput): Action {
    const map = (this.trailers[Direction.Response] = HeaderMap.fromEntries(headerPairs(trailers)));
    return headersAction(this.vm.onResponseTrailers(this, map.size));
  }

  /** The stream ends: proxy_on_log, proxy_on_done, proxy_on_delete, as the proxy calls them. */
  complete(): void {
    if (this.completed) return;
    this.completed = true;
    try {
      if (this.contextEnded) return;
      this.vm.onLog(this);
      this.vm.onDone(this);
      this.vm.onDelete(this);
    } finally {
      this.open.delete(this.id);
    }
  }

  // ---- what the filter made of it --------------------------------------------------------------

  /** A request header as the filter left it (first value); undefined when absent. */
  requestHeader(name: string): string | undefined {
    return this.requestHeaders.get(name.toLowerCase());
  }

  responseHeader(name: string): string | undefined {
    return this.responseHeaders?.get(name.toLowerCase());
  }

  /** Request headers as pairs, in order. */
  get requestHeaderPairs(): Array<[string, string]> {
    return pairsOf(this.requestHeaders);
  }

  get responseHeaderPairs(): Array<[string, string]> {
    return this.responseHeaders === undefined ? [] : pairsOf(this.responseHeaders);
  }

  get requestTrailers(): Array<[string, string]> {
    const map = this.trailers[Direction.Request];
    return map === undefined ? [] : pairsOf(map);
  }

  get responseTrailers(): Array<[string, string]> {
    const map = this.trailers[Direction.Response];
    return map === undefined ? [] : pairsOf(map);
  }

  /** The request body the filter let through plus what it holds, as rewritten by it. */
  get requestBody(): Buffer {
    return Buffer.concat([...this.passed[Direction.Request]!, this.held[Direction.Request]!.bytes()]);
  }

  get responseBody(): Buffer {
    return Buffer.concat([...this.passed[Direction.Response]!, this.held[Direction.Response]!.bytes()]);
  }

  /** The first local response the filter sent, or undefined. */
  get localResponse(): LocalResponse | undefined {
    return this.localResponses[0];
  }

  /** A property as the filter sees it (its own, this stream's, the proxy's), as text; undefined when not found. */
  property(key: string): string | undefined {
    const value = this.getProperty(key);
    return value === undefined ? undefined : Buffer.from(value).toString('utf8');
  }

  // ---- StreamFacts: what request and response properties are computed from ---------------------

  get codeDetails(): string | undefined {
    return this.localResponses[0]?.details;
  }

  get bytesReceived(): number {
    return this.bodyBytes(Direction.Request);
  }

  get bytesSent(): number {
    return this.bodyBytes(Direction.Response);
  }

  private bodyBytes(direction: Direction): number {
    let total = 0;
    for (const chunk of this.passed[direction]!) total += chunk.length;
    return total;
  }

  // ---- HttpContextHost: what the ABI layer calls -----------------------------------------------

  headerMap(map: number): HeaderMap | undefined {
    switch (map) {
      case 0:
        return this.requestHeaders;
      case 1:
        return this.trailers[Direction.Request];
      case 2:
        return this.responseHeaders;
      case 3:
        return this.trailers[Direction.Response];
    }
    return undefined;
  }

  body(buffer: number): BodyBuffer | undefined {
    return buffer === 0 || buffer === 1 ? this.current : undefined;
  }

  getProperty(key: string): Uint8Array | undefined {
    return this.properties.get(key) ?? streamProperty(this, key);
  }

  setProperty(key: string, value: Uint8Array): WasmResult {
    // As the proxy (and Envoy): a write to what the host knows answers Ok and changes nothing.
    if (isHostFact(key)) return WasmResult.Ok;
    this.properties.set(key, value.slice());
    return WasmResult.Ok;
  }

  sendLocalResponse(status: number, details: string, body: Uint8Array, headers: Array<[string, string]>, grpcStatus: number): WasmResult {
    // As the proxy: any three-digit status, and the first call wins.
    if (status < 100 || status > 999 || this.localResponses.length > 0) return WasmResult.BadArgument;
    const bodyBytes = Buffer.from(body);
    const pairs = headers.map(([name, value]): [string, string] => [name, value]);
    this.localResponses.push({
      status, details, grpcStatus, bodyBytes, body: bodyBytes.toString('utf8'), headers: pairs,
      header: (name) => pairs.find(([key]) => key === name.toLowerCase())?.[1],
    });
    return WasmResult.Ok;
  }

  continueStream(stream: StreamType): WasmResult {
    this.resumed.push(stream === StreamType.HttpResponse ? 'response' : 'request');
    return WasmResult.Ok;
  }

  closeStream(): WasmResult {
    this.closed = true;
    return WasmResult.Ok;
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Runs one body callback over held + chunk; on continue the bytes pass and nothing is held. */
  private runBody(direction: Direction, chunk: Uint8Array, endOfStream: boolean): Action {
    const held = this.held[direction]!;
    held.set(held.bytes().length, 0, chunk);
    this.current = held;
    let status: number;
    try {
      const size = held.bytes().length;
      status = direction === Direction.Request ? this.vm.onRequestBody(this, size, endOfStream) : this.vm.onResponseBody(this, size, endOfStream);
    } finally {
      this.current = undefined;
    }
    if (status !== FilterDataStatus.Continue) return 'pause';
    this.passed[direction]!.push(held.bytes());
    this.held[direction] = new MemoryBody();
    return 'continue';
  }
}

function headersAction(status: number): Action {
  return status === FilterHeadersStatus.Continue || status === FilterHeadersStatus.ContinueAndEndStream ? 'continue' : 'pause';
}

function pairsOf(map: HeaderMap): Array<[string, string]> {
  const flat = map.flat;
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return pairs;
}
