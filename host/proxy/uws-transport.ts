// Plain HTTP on the uWebSockets.js app beneath a hyper-express Server: one catch-all route, and
// the hot path talks to uWS directly (cork, writeStatus, writeHeader, tryEnd): hyper-express's
// request/response wrappers cost ~12% per request on this path.

import HyperExpress from 'hyper-express';
import type { HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js';
import { assertAddressFree } from '../net/address.js';
import type { ProxyListener, Transport } from './listener.js';

/** Request headers are collected by one module-level function, not a closure per request. */
let collecting: string[] = [];
let collectingHasBody = false;
let collectingBytes = 0;
let collectingHost = false;

function collectHeader(name: string, value: string): void {
  collectingBytes += name.length + value.length + 4; // ": " and CRLF, as on the wire
  if (name === 'host' && !collectingHost) {
    collecting[5] = value; // the :authority slot; a second Host stays an entry, for the intake to refuse
    collectingHost = true;
    return;
  }
  if (name === 'content-length') collectingHasBody = value !== '0';
  else if (name === 'transfer-encoding') collectingHasBody = true;
  collecting.push(name, value);
}

export class UwsTransport implements Transport {
  private readonly server = new HyperExpress.Server({ auto_close: false });
  private listenSocket: us_listen_socket | undefined;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly listener: ProxyListener,
  ) {
    this.server.uws_instance.any('/*', (res, req) => this.handle(res, req));
  }

  async listen(): Promise<void> {
    await assertAddressFree(this.host, this.port);
    this.listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      // Listen on the uWS app itself: hyper-express's listen() would add its own catch-all
      // not-found route, which uWS refuses beside ours (it aborts the process).
      this.server.uws_instance.listen(this.host, this.port, (socket) => (socket ? resolve(socket) : reject(new Error('uWebSockets.js refused the address'))));
    });
  }

  stopAccepting(): void {
    if (this.listenSocket !== undefined) this.server.close(this.listenSocket);
  }

  closeAll(): void {
    // close() exists on the app (closes every socket) but is missing from uWS's type declarations.
    (this.server.uws_instance as unknown as { close(): void }).close();
  }

  private handle(res: HttpResponse, req: HttpRequest): void {
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const query = req.getQuery(); // undefined, not "", without a query
    const flat = [':method', method, ':path', query ? `${url}?${query}` : url, ':authority', '', ':scheme', 'http'];
    collecting = flat;
    collectingHasBody = false;
    collectingHost = false;
    collectingBytes = method.length + url.length + (query === undefined ? 0 : query.length) + 12;
    req.forEach(collectHeader);
    const hasBody = collectingHasBody;
    collecting = [];
    if (collectingBytes > this.listener.limits.maxRequestHeaderBytes) {
      res.cork(() => {
        res.writeStatus('431 Request Header Fields Too Large').writeHeader('content-type', 'text/plain').end('request headers too large\n');
      });
      return;
    }
    const exchange = this.listener.accept(res, {
      method,
      flat,
      hasBody,
      info: {
        remoteAddress: this.decoder.decode(res.getRemoteAddressAsText()),
        localAddress: this.host,
        localPort: this.port,
        scheme: 'http',
        startTimeMs: Date.now(),
      },
    });
    res.onAborted(() => exchange.onClientAborted());
    // uWS reuses a chunk's memory once the callback returns: the exchange gets a copy.
    if (hasBody) res.onData((chunk, isLast) => exchange.onClientData(new Uint8Array(chunk.slice(0)), isLast));
    exchange.start();
  }
}
