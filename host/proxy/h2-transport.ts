// HTTP/2 without TLS (h2c, prior knowledge) on node:http2, for `listen.protocols` with h2 on a
// plain listener; uWebSockets.js has no HTTP/2. node:http2's compatibility API hands over
// request/response pairs shaped like node:http's, so NodeTransport feeds them to the same
// Exchange. Node 20's plain HTTP/2 server cannot fall back to HTTP/1 (allowHTTP1 is TLS-only),
// so a listener speaking both reads each connection's first bytes: the HTTP/2 preface starts
// "PRI * HTTP/2.0", which no HTTP/1 request line does. (TLS listeners choose by ALPN instead:
// tls-transport.ts.)

import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { ListenerProtocol } from '../config/schema.js';
import type { ProxyListener } from './listener.js';
import { NODE_SERVER_OPTIONS, NodeTransport } from './node-transport.js';
import { HEADER_BYTES_CEILING } from './proxy-context.js';

const PREFACE_START = 'PRI ';

/** HTTP/2 settings both h2 listeners share: header blocks up to the ceiling Weft measures against. */
export const H2_SERVER_SETTINGS = { maxHeaderListSize: HEADER_BYTES_CEILING } as const;

/** The plain listener for protocols that include h2: h2c alone, or h2c and HTTP/1.1 on one port. */
export function h2cTransport(host: string, port: number, listener: ProxyListener, protocols: readonly ListenerProtocol[]): NodeTransport {
  const h2 = createHttp2Server({ settings: H2_SERVER_SETTINGS });
  if (!protocols.includes('http1')) return new NodeTransport(host, port, listener, h2, 'http');
  const h1 = createHttpServer(NODE_SERVER_OPTIONS);
  const front = createNetServer((socket) => handOver(socket, h1, h2));
  return new NodeTransport(host, port, listener, front, 'http', [h1, h2]);
}

/** How long a connection may stay silent before its first bytes say which protocol it speaks. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/**
 * Gives the connection to the server its first bytes ask for, those bytes put back unread. The
 * socket is read without ever flowing: node:http2 then takes the put-back bytes with the socket
 * (a 'data' listener would switch it to flowing mode and the session would miss them).
 */
function handOver(socket: Socket, h1: Server, h2: Http2Server): void {
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
  const sniff = (): void => {
    const first = socket.read(PREFACE_START.length) as Buffer | null;
    if (first === null) {
      socket.once('readable', sniff); // fewer bytes than the preface's start so far
      return;
    }
    socket.setTimeout(0);
    socket.unshift(first);
    (first.toString('latin1') === PREFACE_START ? h2 : h1).emit('connection', socket);
  };
  socket.once('readable', sniff);
}
