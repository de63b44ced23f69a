// HTTPS (and mutual TLS) on node:https. This uWebSockets.js build exposes no peer certificate to
// JavaScript, and a mesh proxy must know who is calling, so TLS listeners run on node's server;
// the plain listener keeps uWS's speed. Certificates reload when their files change: a bad new
// one is refused with a log line and the old one keeps serving.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { PeerIdentity, TlsConnectionInfo } from '../chain/http-stream.js';
import type { ListenerTlsSpec } from '../config/schema.js';
import { assertAddressFree } from '../net/address.js';
import { connectionFacts } from '../net/connection-facts.js';
import { watchFiles } from '../net/watch-files.js';
import type { Logger } from '../telemetry/logger.js';
import { NodeClientResponse } from './client-response.js';
import type { ProxyListener, Transport } from './listener.js';

const EMPTY = new Uint8Array(0);

interface Credentials {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export class TlsTransport implements Transport {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** A connection's TLS facts, worked out once per connection rather than per request. */
  private readonly connectionInfo = new WeakMap<TLSSocket, TlsConnectionInfo>();
  private readonly files: string[];
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly spec: ListenerTlsSpec,
    private readonly listener: ProxyListener,
    private readonly logger: Logger,
  ) {
    this.files = [spec.cert, spec.key, ...(spec.ca === undefined ? [] : [spec.ca])];
    this.server = createServer(
      {
        ...readCredentials(spec),
        // With a CA, clients are asked for a certificate; require_client_cert refuses those without a valid one.
        requestCert: spec.ca !== undefined,
        rejectUnauthorized: spec.require_client_cert,
        maxHeaderSize: listener.limits.maxRequestHeaderBytes,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.on('secureConnection', (socket: TLSSocket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('tlsClientError', (error) => this.logger.debug({ err: error.message }, 'tls handshake failed'));
  }

  async listen(): Promise<void> {
    await assertAddressFree(this.host, this.port);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.unwatch = watchFiles(this.files, () => this.reload());
  }

  stopAccepting(): void {
    this.unwatch?.();
    this.server.close();
  }

  closeAll(): void {
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
  }

  /** New certificate files: take them if they make a valid context, else keep serving the old ones. */
  private reload(): void {
    try {
      const credentials = readCredentials(this.spec);
      createSecureContext(credentials); // throws on a bad certificate, a bad key, or a key that does not match
      this.server.setSecureContext(credentials);
      this.logger.info({ cert: this.spec.cert }, 'tls certificate reloaded');
    } catch (error) {
      this.logger.error({ cert: this.spec.cert, err: (error as Error).message }, 'tls certificate refused; the previous one keeps serving');
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    const raw = req.rawHeaders;
    const flat = [':method', req.method ?? 'GET', ':path', req.url ?? '/', ':authority', '', ':scheme', 'https'];
    let hasBody = false;
    let hasHost = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      if (name === 'host' && !hasHost) {
        flat[5] = value; // a second Host stays an entry, for the intake to refuse
        hasHost = true;
        continue;
      }
      if (name === 'content-length') hasBody = value !== '0';
      else if (name === 'transfer-encoding') hasBody = true;
      flat.push(name, value);
    }
    const exchange = this.listener.accept(new NodeClientResponse(req, res), {
      method: flat[1]!,
      flat,
      hasBody,
      info: {
        ...connectionFacts(socket),
        scheme: 'https',
        startTimeMs: Date.now(),
        tls: this.tlsInfo(socket),
      },
    });
    res.once('close', () => {
      if (!res.writableFinished) exchange.onClientAborted();
    });
    if (hasBody) {
      req.on('data', (chunk: Buffer) => exchange.onClientData(chunk, false));
      req.once('end', () => exchange.onClientData(EMPTY, true, req.rawTrailers));
    }
    exchange.start();
  }

  private tlsInfo(socket: TLSSocket): TlsConnectionInfo {
    let info = this.connectionInfo.get(socket);
    if (info === undefined) {
      // Only a certificate that chains to our CA says who is calling; an unverified one says nothing.
      const certificate = socket.authorized ? socket.getPeerX509Certificate() : undefined;
      const peer = certificate === undefined ? undefined : peerIdentity(certificate);
      info = { version: socket.getProtocol() ?? '', mtls: peer !== undefined, ...(peer === undefined ? {} : { peer }) };
      this.connectionInfo.set(socket, info);
    }
    return info;
  }
}

function readCredentials(spec: ListenerTlsSpec): Credentials {
  const credentials: Credentials = { cert: readFileSync(spec.cert), key: readFileSync(spec.key) };
  if (spec.ca !== undefined) credentials.ca = readFileSync(spec.ca);
  return credentials;
}

export function peerIdentity(certificate: X509Certificate): PeerIdentity {
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  for (const entry of (certificate.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('URI:')) uriSans.push(entry.slice(4));
    else if (entry.startsWith('DNS:')) dnsSans.push(entry.slice(4));
  }
  return {
    uriSans,
    dnsSans,
    // node prints the subject one attribute a line; Envoy's form is comma-separated, most specific first.
    subject: certificate.subject.split('\n').reverse().join(','),
    sha256: certificate.fingerprint256.replaceAll(':', '').toLowerCase(),
  };
}
