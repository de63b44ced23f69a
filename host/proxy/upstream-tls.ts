// TLS to a cluster's endpoints: the options its files make, and the connector its pools use.
//
// The connector does two things undici does not:
// - The name the upstream's certificate is checked against (and sent as SNI) is the cluster's
//   `servername`, else the endpoint's host. undici's own pools would take it from the request's
//   Host header, a value the client controls.
// - A failed handshake says what failed. undici reports a client certificate the upstream
//   refused as "other side closed" (TLS 1.3 servers refuse it after the client's side of the
//   handshake is done: with an alert that undici then overwrites, or, as Node servers do, by just
//   closing). The connector turns that into an UpstreamTlsError naming the side and the alert or
//   verify error, which the exchange answers (502 UF) and the cluster counts and logs.

import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';
import type { UpstreamTlsSpec } from '../config/schema.js';

export type UpstreamTlsOptions = { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string };

/** Reads a cluster's TLS files (a missing file fails the start, named). */
export function upstreamTlsOptions(spec: UpstreamTlsSpec): UpstreamTlsOptions {
  const options: UpstreamTlsOptions = {};
  if (spec.ca !== undefined) options.ca = readFileSync(spec.ca);
  if (spec.cert !== undefined) options.cert = readFileSync(spec.cert);
  if (spec.key !== undefined) options.key = readFileSync(spec.key);
  if (spec.servername !== undefined) options.servername = spec.servername;
  return options;
}

/**
 * A TLS handshake with an upstream that failed. `side` says who refused: `upstream` (it sent an
 * alert, or closed the connection after the handshake without accepting it, which is how a
 * TLS 1.3 server refuses a client certificate), or `weft` (the upstream's certificate did not verify).
 */
export class UpstreamTlsError extends Error {
  readonly code = 'WEFT_UPSTREAM_TLS';

  constructor(
    readonly side: 'upstream' | 'weft',
    /** What failed, e.g. `tlsv13 alert certificate required` or `SELF_SIGNED_CERT_IN_CHAIN: ...`. */
    readonly detail: string,
  ) {
    super(
      side === 'upstream'
        ? `upstream TLS handshake failed, refused by the upstream: ${detail}`
        : `upstream TLS handshake failed, refused by weft (the upstream's certificate does not verify): ${detail}`,
    );
  }
}

/** OpenSSL's codes for an alert the peer sent, e.g. ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED. */
const PEER_ALERT = /^ERR_SSL_.*ALERT/;

/** The alert as OpenSSL names it ("tlsv13 alert certificate required"), from its error message. */
function alertText(error: Error & { reason?: string }): string {
  return error.reason ?? error.message;
}

/** Why Weft refuses an upstream's certificate: OpenSSL's X509 verify errors (Node's tls docs list them) and Node's name check. */
const VERIFY_ERRORS = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE', 'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD', 'ERROR_IN_CRL_LAST_UPDATE_FIELD', 'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
]);

/** What a connection error before or during the handshake says about TLS; undefined when it is not about TLS. */
function handshakeFailure(error: Error & { code?: string }): UpstreamTlsError | undefined {
  const code = error.code ?? '';
  if (PEER_ALERT.test(code)) return new UpstreamTlsError('upstream', alertText(error));
  if (VERIFY_ERRORS.has(code)) return new UpstreamTlsError('weft', `${code}: ${error.message}`);
  return undefined;
}

export interface TlsConnectorOptions {
  connectTimeoutMs: number;
  tls: UpstreamTlsOptions;
  /** Offer HTTP/2 in ALPN (cluster protocol h2); the upstream's choice decides. */
  allowH2?: boolean;
  /** Called once per connection whose handshake failed (metrics, log). */
  onFailure(error: UpstreamTlsError): void;
}

export function tlsConnector(options: TlsConnectorOptions): buildConnector.connector {
  const { servername, ...tls } = options.tls;
  const connect = buildConnector({ timeout: options.connectTimeoutMs, allowH2: options.allowH2 === true, ...tls });
  const presentsCertificate = tls.cert !== undefined;
  return (request, callback) => {
    // Without a servername undici falls back to the endpoint's host (`request.host`), never to Host.
    connect({ ...request, servername }, (error, socket) => {
      if (error !== null) {
        const failure = handshakeFailure(error);
        if (failure !== undefined) options.onFailure(failure);
        callback(failure ?? error, null);
        return;
      }
      watchFirstAnswer(socket as TLSSocket, presentsCertificate, options.onFailure);
      callback(null, socket);
    });
  };
}

/**
 * A connection that gets an alert, or (when Weft presents a client certificate) ends before the
 * upstream accepted it, had its handshake refused: destroy it with an UpstreamTlsError, which
 * undici then hands to the request. "Accepted": a TLS 1.3 server sends its session tickets once
 * it has checked the client's certificate, before any response; bytesRead (decrypted bytes)
 * covers servers that send none. On the wire, a server that refuses the certificate by closing
 * (Node's do) looks like one that closes at once for another reason, hence "most likely".
 * These listeners run before undici's (attached after the callback), and do nothing once the
 * upstream has accepted or answered.
 */
function watchFirstAnswer(socket: TLSSocket, presentsCertificate: boolean, onFailure: (error: UpstreamTlsError) => void): void {
  let refusedAlready = false;
  const refused = (failure: UpstreamTlsError): void => {
    if (refusedAlready) return;
    refusedAlready = true;
    onFailure(failure);
    refusals.set(socket, failure);
    socket.destroy(failure);
  };
  let ticket = false;
  socket.once('session', () => (ticket = true));
  const unanswered = (): boolean => presentsCertificate && !ticket && socket.bytesRead === 0;
  socket.on('error', (error: Error & { code?: string }) => {
    if (PEER_ALERT.test(error.code ?? '')) refused(new UpstreamTlsError('upstream', alertText(error)));
    else if ((error.code === 'ECONNRESET' || error.code === 'EPIPE') && unanswered()) refused(closedAfterHandshake());
  });
  socket.on('end', () => {
    if (unanswered()) refused(closedAfterHandshake());
  });
}

/**
 * Why the upstream refused this connection's handshake, once watchFirstAnswer has seen it.
 * destroy(failure) reports it as the socket's error only when the socket is still open: a
 * reset that already destroyed it (ECONNRESET) is the last error its listeners see.
 */
const refusals = new WeakMap<Socket, UpstreamTlsError>();

export function handshakeRefusal(socket: Socket): UpstreamTlsError | undefined {
  return refusals.get(socket);
}

function closedAfterHandshake(): UpstreamTlsError {
  return new UpstreamTlsError('upstream', 'it closed the connection after the handshake without accepting it (no session ticket, no response); most likely it does not trust the client certificate');
}
