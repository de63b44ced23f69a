// HTTPS (and mutual TLS) on node:https. The uWebSockets.js builds expose no peer certificate to
// JavaScript, and a mesh proxy must know who is calling, so TLS listeners always run on node's
// server (node-transport.ts, shared with the node:http listener). Certificates reload when their
// files change: a bad new one is refused with a log line and the old one keeps serving.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer, type Server } from 'node:https';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { PeerIdentity, TlsConnectionInfo } from '../chain/http-stream.js';
import type { ListenerProtocol, ListenerTlsSpec } from '../config/schema.js';
import { watchFiles } from '../net/watch-files.js';
import type { Logger } from '../telemetry/logger.js';
import type { ProxyListener } from './listener.js';
import { NODE_SERVER_OPTIONS, NodeTransport } from './node-transport.js';

interface Credentials {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export class TlsTransport extends NodeTransport {
  /** A connection's TLS facts, worked out once per connection rather than per request. */
  private readonly connectionInfo = new WeakMap<TLSSocket, TlsConnectionInfo>();
  private readonly files: string[];
  private unwatch: (() => void) | undefined;

  constructor(
    host: string,
    port: number,
    private readonly spec: ListenerTlsSpec,
    protocols: readonly ListenerProtocol[],
    listener: ProxyListener,
    private readonly logger: Logger,
  ) {
    const options = {
      ...NODE_SERVER_OPTIONS,
      ...readCredentials(spec),
      // With a CA, clients are asked for a certificate; require_client_cert refuses those without a valid one.
      requestCert: spec.ca !== undefined,
      rejectUnauthorized: spec.require_client_cert,
    };
    // With h2, node:http2 answers ALPN (h2, and http/1.1 when http1 is listed too, on node's HTTP/1 parser).
    const server = protocols.includes('h2') ? createSecureServer({ ...options, allowHTTP1: protocols.includes('http1') }) : createServer(options);
    super(host, port, listener, server, 'https');
    this.files = [spec.cert, spec.key, ...(spec.ca === undefined ? [] : [spec.ca])];
    server.on('tlsClientError', (error) => this.logger.debug({ err: error.message }, 'tls handshake failed'));
  }

  override async listen(): Promise<void> {
    await super.listen();
    this.unwatch = watchFiles(this.files, () => this.reload());
  }

  override stopAccepting(): void {
    this.unwatch?.();
    super.stopAccepting();
  }

  protected override tlsInfo(req: IncomingMessage): TlsConnectionInfo {
    const socket = req.socket as TLSSocket;
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

  /** New certificate files: take them if they make a valid context, else keep serving the old ones. */
  private reload(): void {
    try {
      const credentials = readCredentials(this.spec);
      createSecureContext(credentials); // throws on a bad certificate, a bad key, or a key that does not match
      (this.server as Server).setSecureContext(credentials); // node:http2's secure server is a tls.Server too
      this.logger.info({ cert: this.spec.cert }, 'tls certificate reloaded');
    } catch (error) {
      this.logger.error({ cert: this.spec.cert, err: (error as Error).message }, 'tls certificate refused; the previous one keeps serving');
    }
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
