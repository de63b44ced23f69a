// A real upstream on loopback that echoes each request back as JSON
// ({method, path, headers, body}) and records it (204, 304 and HEAD answers have no body). Request headers steer one reply:
//   x-upstream-status: N      answer with status N
//   x-upstream-delay-ms: N    answer after N ms
//   x-upstream-reset: 1       destroy the connection instead of answering
// `status` and `delayMs` set the default for every request that does not say otherwise.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface EchoedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export class EchoUpstream {
  readonly requests: EchoedRequest[] = [];
  status = 200;
  delayMs = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<EchoUpstream> {
    const upstream = new EchoUpstream(createServer());
    upstream.server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const echoed: EchoedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        upstream.requests.push(echoed);
        if (req.headers['x-upstream-reset'] === '1') {
          req.socket.destroy();
          return;
        }
        const status = Number(req.headers['x-upstream-status'] ?? upstream.status);
        const delayMs = Number(req.headers['x-upstream-delay-ms'] ?? upstream.delayMs);
        const reply = () => {
          // 204, 304 and HEAD answers carry no body, so they must not announce one either.
          if (status === 204 || status === 304 || req.method === 'HEAD') {
            res.writeHead(status);
            res.end();
            return;
          }
          const body = JSON.stringify(echoed);
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        };
        if (delayMs > 0) setTimeout(reply, delayMs);
        else reply();
      });
    });
    await new Promise<void>((resolveListen, reject) => {
      upstream.server.once('error', reject);
      upstream.server.listen(0, '127.0.0.1', () => resolveListen());
    });
    return upstream;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** "127.0.0.1:port", as a manifest endpoint. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The requests received since `from` (an index into `requests`). */
  since(from: number): EchoedRequest[] {
    return this.requests.slice(from);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolveClose) => this.server.close(() => resolveClose()));
  }
}
