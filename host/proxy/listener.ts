// The data-plane listener: a hyper-express Server whose uWebSockets.js app takes every request
// on one catch-all route. The hot path talks to uWS directly (cork, writeStatus, writeHeader,
// tryEnd): hyper-express's request/response wrappers cost ~12% per request on this path.

import { randomUUID } from 'node:crypto';
import HyperExpress from 'hyper-express';
import type { HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js';
import type { Chain } from '../chain/chain.js';
import { assertAddressFree } from '../net/address.js';
import type { Clusters } from './clusters.js';
import { Exchange } from './exchange.js';
import type { FinishedRequest, ProxyContext, ProxyLimits } from './proxy-context.js';

export interface ListenerOptions {
  host: string;
  port: number;
  clusters: Clusters;
  defaultCluster: string | undefined;
  limits: ProxyLimits;
  /** The chain a request arriving now takes, by its host (`:authority`) and path (hot swap replaces it). */
  chainFor(authority: string, path: string): Chain;
  onFinished(request: FinishedRequest): void;
}

/** Request headers are collected by one module-level function, not a closure per request. */
let collecting: string[] = [];
let collectingHasBody = false;
let collectingBytes = 0;

function collectHeader(name: string, value: string): void {
  collectingBytes += name.length + value.length + 4; // ": " and CRLF, as on the wire
  if (name === 'host') {
    collecting[5] = value; // the :authority slot
    return;
  }
  if (name === 'content-length') collectingHasBody = value !== '0';
  else if (name === 'transfer-encoding') collectingHasBody = true;
  collecting.push(name, value);
}

export class ProxyListener implements ProxyContext {
  readonly clusters: Clusters;
  readonly defaultCluster: string | undefined;
  readonly limits: ProxyLimits;
  draining = false;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly server = new HyperExpress.Server({ auto_close: false });
  private listenSocket: us_listen_socket | undefined;
  private readonly decoder = new TextDecoder();

  constructor(private readonly options: ListenerOptions) {
    this.clusters = options.clusters;
    this.defaultCluster = options.defaultCluster;
    this.limits = options.limits;
    this.server.uws_instance.any('/*', (res, req) => this.handle(res, req));
  }

  /** Resolves once listening; rejects with a clear reason when the address cannot be bound. */
  async listen(): Promise<void> {
    const { host, port } = this.options;
    try {
      await assertAddressFree(host, port);
      this.listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
        // Listen on the uWS app itself: hyper-express's listen() would add its own catch-all
        // not-found route, which uWS refuses beside ours (it aborts the process).
        this.server.uws_instance.listen(host, port, (socket) => (socket ? resolve(socket) : reject(new Error('uWebSockets.js refused the address'))));
      });
    } catch (error) {
      throw new Error(`listen: cannot listen on ${host}:${port} (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(request: FinishedRequest): void {
    this.inFlight--;
    this.options.onFinished(request);
    if (this.inFlight === 0 && this.drained !== undefined) this.drained();
  }

  /**
   * Stops accepting connections, lets in-flight requests finish (at most `timeoutMs`), then closes
   * every connection. Responses written meanwhile carry `connection: close`.
   */
  async drain(timeoutMs: number): Promise<{ unfinished: number }> {
    this.draining = true;
    if (this.listenSocket !== undefined) this.server.close(this.listenSocket);
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const unfinished = this.inFlight;
    // close() exists on the app (closes every socket) but is missing from uWS's type declarations.
    (this.server.uws_instance as unknown as { close(): void }).close();
    return { unfinished };
  }

  private handle(res: HttpResponse, req: HttpRequest): void {
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const query = req.getQuery();
    const flat = [':method', method, ':path', query ? `${url}?${query}` : url, ':authority', '', ':scheme', 'http'];
    collecting = flat;
    collectingHasBody = false;
    collectingBytes = method.length + url.length + (query === undefined ? 0 : query.length) + 12; // uWS gives undefined, not "", without a query
    req.forEach(collectHeader);
    const hasBody = collectingHasBody;
    collecting = [];
    if (collectingBytes > this.limits.maxRequestHeaderBytes) {
      refuseOversizedHeaders(res);
      return;
    }
    if (!hasHeader(flat, 'x-request-id')) flat.push('x-request-id', randomUUID());
    const exchange = new Exchange(res, this, this.options.chainFor(flat[5]!, url), method, flat, hasBody, {
      remoteAddress: this.decoder.decode(res.getRemoteAddressAsText()),
      localAddress: this.options.host,
      localPort: this.options.port,
      scheme: 'http',
      startTimeMs: Date.now(),
    });
    res.onAborted(() => exchange.onClientAborted());
    if (hasBody) res.onData((chunk, isLast) => exchange.onClientData(chunk, isLast));
    exchange.start();
  }
}

/** 431 for a request whose headers are over the limit; the connection closes after it. */
function refuseOversizedHeaders(res: HttpResponse): void {
  res.cork(() => {
    res.writeStatus('431 Request Header Fields Too Large').writeHeader('content-type', 'text/plain').end('request headers too large\n', true);
  });
}

function hasHeader(flat: string[], name: string): boolean {
  for (let i = 8; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}
