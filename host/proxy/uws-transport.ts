// Plain HTTP on a uWebSockets.js app (the fast path, where a uWS binary loads: uws-loader.ts):
// one catch-all route, and the hot path talks to uWS directly (cork, writeStatus, writeHeader,
// tryEnd), with no wrapper objects per request.

import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uws-20.57';
import { assertAddressFree } from '../net/address.js';
import { answerHeadersTooLarge } from './client-response.js';
import type { ProxyListener, Transport } from './listener.js';
import type { UwsModule } from './uws-loader.js';

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
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly uws: UwsModule,
    private readonly host: string,
    private readonly port: number,
    private readonly listener: ProxyListener,
  ) {
    this.app = uws.App().any('/*', (res, req) => this.handle(res, req));
  }

  async listen(): Promise<void> {
    // uSockets sets SO_REUSEPORT on Linux, so uWS alone would share a taken port with whoever holds it; worker threads
    // share it on purpose (the main thread checked it is free before starting them).
    if (!this.listener.reusePort) await assertAddressFree(this.host, this.port);
    this.listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      this.app.listen(this.host, this.port, (socket) => (socket ? resolve(socket) : reject(new Error('uWebSockets.js refused the address'))));
    });
  }

  stopAccepting(): void {
    if (this.listenSocket !== undefined) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  closeAll(): void {
    this.app.close();
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
      answerHeadersTooLarge(res);
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
