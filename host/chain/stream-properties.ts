// The request-scoped properties filters read with proxy_get_property, named as Envoy names them
// (request.*, source.*, destination.*, response.*, connection.*), computed on demand: most
// requests read none of them, so nothing is prepared up front.

import type { HeaderMap } from '../abi/header-map.js';
import { encodeBool, encodeInt64, encodeString, encodeTimestamp, encodeUint64 } from '../abi/properties.js';
import type { HttpStream } from './http-stream.js';

/** What the properties are computed from: a proxied stream, or the test kit's stand-in for one. */
export type StreamFacts = Pick<
  HttpStream,
  'requestHeaders' | 'requestInfo' | 'responseHeaders' | 'headerMap' | 'finalStatus' | 'finalFlags' | 'upstreamAddress' | 'codeDetails' | 'bytesReceived' | 'bytesSent'
>;

/** Property namespaces the host answers and filters cannot set (Envoy's attributes are read-only too). */
const HOST_FACTS = ['request.', 'response.', 'source.', 'destination.', 'connection.', 'upstream.', 'plugin_'];

/**
 * Answers of isHostFact by key. Keys come from the host calls' key cache, the same few strings
 * again and again, so this stays as small as the set of names filters use.
 */
const hostFacts = new Map<string, boolean>();

export function isHostFact(key: string): boolean {
  let known = hostFacts.get(key);
  if (known === undefined) {
    known = HOST_FACTS.some((prefix) => key.startsWith(prefix));
    if (hostFacts.size < 1024) hostFacts.set(key, known);
  }
  return known;
}

type Fact = (s: StreamFacts) => Uint8Array | undefined;

/** Every fixed property name and how to compute it: one lookup per read instead of a switch over them all. */
const FACTS = new Map<string, Fact>([
  ['request.path', (s) => text(s.requestHeaders.get(':path'))],
  ['request.url_path', (s) => {
    const path = s.requestHeaders.get(':path');
    if (path === undefined) return undefined;
    const q = path.indexOf('?');
    return encodeString(q < 0 ? path : path.slice(0, q));
  }],
  ['request.query', (s) => {
    const path = s.requestHeaders.get(':path') ?? '';
    const q = path.indexOf('?');
    return encodeString(q < 0 ? '' : path.slice(q + 1));
  }],
  ['request.host', (s) => text(s.requestHeaders.get(':authority'))],
  ['request.scheme', (s) => text(s.requestHeaders.get(':scheme'))],
  ['request.method', (s) => text(s.requestHeaders.get(':method'))],
  ['request.protocol', () => encodeString('HTTP/1.1')],
  ['request.id', (s) => text(s.requestHeaders.get('x-request-id'))],
  ['request.referer', (s) => text(s.requestHeaders.get('referer'))],
  ['request.useragent', (s) => text(s.requestHeaders.get('user-agent'))],
  ['request.time', (s) => encodeTimestamp(BigInt(Math.round(s.requestInfo.startTimeMs * 1e6)))],
  ['request.duration', (s) => encodeTimestamp(Math.round((Date.now() - s.requestInfo.startTimeMs) * 1e6))],
  ['request.headers', (s) => s.requestHeaders.serialized()],
  ['request.size', (s) => {
    // Envoy: the body's size, content-length when the request has one.
    const length = s.requestHeaders.get('content-length');
    return encodeInt64(length === undefined ? s.bytesReceived : Number(length));
  }],
  ['request.total_size', (s) => {
    const length = s.requestHeaders.get('content-length');
    return encodeInt64(headerBytes(s.requestHeaders) + (length === undefined ? s.bytesReceived : Number(length)));
  }],
  ['source.address', (s) => {
    // Envoy's form, ip:port; where the transport does not tell the port (uWS), the IP alone.
    const { remoteAddress, remotePort } = s.requestInfo;
    return encodeString(remotePort === undefined ? remoteAddress : hostPort(remoteAddress, remotePort));
  }],
  ['source.port', (s) => (s.requestInfo.remotePort === undefined ? undefined : encodeInt64(s.requestInfo.remotePort))],
  ['destination.address', (s) => encodeString(hostPort(s.requestInfo.localAddress, s.requestInfo.localPort))],
  ['destination.port', (s) => encodeInt64(s.requestInfo.localPort)],
  ['connection.id', (s) => (s.requestInfo.connectionId === undefined ? undefined : encodeUint64(s.requestInfo.connectionId))],
  ['connection.mtls', (s) => encodeBool(s.requestInfo.tls?.mtls ?? false)],
  ['connection.tls_version', (s) => text(s.requestInfo.tls?.version)],
  ['connection.uri_san_peer_certificate', (s) => text(s.requestInfo.tls?.peer?.uriSans[0])],
  ['connection.dns_san_peer_certificate', (s) => text(s.requestInfo.tls?.peer?.dnsSans[0])],
  ['connection.subject_peer_certificate', (s) => text(s.requestInfo.tls?.peer?.subject)],
  ['connection.sha256_peer_certificate_digest', (s) => text(s.requestInfo.tls?.peer?.sha256)],
  ['source.principal', (s) => {
    // Envoy's choice: the URI SAN (a SPIFFE id in a mesh), else a DNS SAN, else the subject.
    const peer = s.requestInfo.tls?.peer;
    return text(peer === undefined ? undefined : (peer.uriSans[0] ?? peer.dnsSans[0] ?? peer.subject));
  }],
  ['response.code', (s) => {
    const status = s.responseHeaders?.get(':status') ?? (s.finalStatus > 0 ? s.finalStatus : undefined);
    return status === undefined ? undefined : encodeInt64(Number(status));
  }],
  ['response.flags', (s) => text(s.finalFlags)],
  ['response.code_details', (s) => text(s.codeDetails)],
  ['response.headers', (s) => s.responseHeaders?.serialized()],
  ['response.trailers', (s) => s.headerMap(3)?.serialized()],
  ['response.size', (s) => encodeInt64(s.bytesSent)],
  ['response.total_size', (s) => {
    const response = s.responseHeaders;
    return encodeInt64((response === undefined ? 0 : headerBytes(response)) + s.bytesSent);
  }],
  ['response.grpc_status', (s) => {
    // A trailers-only gRPC reply carries it in the headers; otherwise the trailers do.
    const status = s.responseHeaders?.get('grpc-status') ?? s.headerMap(3)?.get('grpc-status');
    return status === undefined || !/^\d+$/.test(status) ? undefined : encodeInt64(Number(status));
  }],
  ['upstream.address', (s) => text(s.upstreamAddress)],
]);

export function streamProperty(stream: StreamFacts, key: string): Uint8Array | undefined {
  const fact = FACTS.get(key);
  if (fact !== undefined) return fact(stream);
  if (key.startsWith('request.headers.')) return text(stream.requestHeaders.get(key.slice(16)));
  if (key.startsWith('response.headers.')) return text(stream.responseHeaders?.get(key.slice(17)));
  return undefined;
}

/** Envoy's approximate header size (HeaderMap::byteSize): names and values, pseudo-headers included. */
function headerBytes(map: HeaderMap): number {
  let total = 0;
  for (const item of map.flat) total += item.length;
  return total;
}

/** ip:port, the IPv6 form bracketed as Envoy prints it. */
function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function text(value: string | undefined): Uint8Array | undefined {
  return value === undefined ? undefined : encodeString(value);
}
