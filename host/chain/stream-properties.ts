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

export function isHostFact(key: string): boolean {
  for (const prefix of HOST_FACTS) if (key.startsWith(prefix)) return true;
  return false;
}

export function streamProperty(stream: StreamFacts, key: string): Uint8Array | undefined {
  const headers = stream.requestHeaders;
  const info = stream.requestInfo;
  switch (key) {
    case 'request.path':
      return text(headers.get(':path'));
    case 'request.url_path': {
      const path = headers.get(':path');
      if (path === undefined) return undefined;
      const q = path.indexOf('?');
      return encodeString(q < 0 ? path : path.slice(0, q));
    }
    case 'request.query': {
      const path = headers.get(':path') ?? '';
      const q = path.indexOf('?');
      return encodeString(q < 0 ? '' : path.slice(q + 1));
    }
    case 'request.host':
      return text(headers.get(':authority'));
    case 'request.scheme':
      return text(headers.get(':scheme'));
    case 'request.method':
      return text(headers.get(':method'));
    case 'request.protocol':
      return encodeString('HTTP/1.1');
    case 'request.id':
      return text(headers.get('x-request-id'));
    case 'request.referer':
      return text(headers.get('referer'));
    case 'request.useragent':
      return text(headers.get('user-agent'));
    case 'request.time':
      return encodeTimestamp(BigInt(Math.round(info.startTimeMs * 1e6)));
    case 'request.duration':
      return encodeTimestamp(BigInt(Math.round((Date.now() - info.startTimeMs) * 1e6)));
    case 'request.headers':
      return headers.serialized();
    case 'request.size': {
      // Envoy: the body's size, content-length when the request has one.
      const length = headers.get('content-length');
      return encodeInt64(length === undefined ? stream.bytesReceived : Number(length));
    }
    case 'request.total_size': {
      const length = headers.get('content-length');
      return encodeInt64(headerBytes(headers) + (length === undefined ? stream.bytesReceived : Number(length)));
    }
    case 'source.address':
      // Envoy's form, ip:port; where the transport does not tell the port (uWS), the IP alone.
      return encodeString(info.remotePort === undefined ? info.remoteAddress : hostPort(info.remoteAddress, info.remotePort));
    case 'source.port':
      return info.remotePort === undefined ? undefined : encodeInt64(info.remotePort);
    case 'destination.address':
      return encodeString(hostPort(info.localAddress, info.localPort));
    case 'destination.port':
      return encodeInt64(BigInt(info.localPort));
    case 'connection.id':
      return info.connectionId === undefined ? undefined : encodeUint64(info.connectionId);
    case 'connection.mtls':
      return encodeBool(info.tls?.mtls ?? false);
    case 'connection.tls_version':
      return text(info.tls?.version);
    case 'connection.uri_san_peer_certificate':
      return text(info.tls?.peer?.uriSans[0]);
    case 'connection.dns_san_peer_certificate':
      return text(info.tls?.peer?.dnsSans[0]);
    case 'connection.subject_peer_certificate':
      return text(info.tls?.peer?.subject);
    case 'connection.sha256_peer_certificate_digest':
      return text(info.tls?.peer?.sha256);
    case 'source.principal': {
      // Envoy's choice: the URI SAN (a SPIFFE id in a mesh), else a DNS SAN, else the subject.
      const peer = info.tls?.peer;
      return text(peer === undefined ? undefined : (peer.uriSans[0] ?? peer.dnsSans[0] ?? peer.subject));
    }
    case 'response.code': {
      const status = stream.responseHeaders?.get(':status') ?? (stream.finalStatus > 0 ? stream.finalStatus : undefined);
      return status === undefined ? undefined : encodeInt64(BigInt(status));
    }
    case 'response.flags':
      return text(stream.finalFlags);
    case 'response.code_details':
      return text(stream.codeDetails);
    case 'response.headers':
      return stream.responseHeaders?.serialized();
    case 'response.trailers':
      return stream.headerMap(3)?.serialized();
    case 'response.size':
      return encodeInt64(stream.bytesSent);
    case 'response.total_size': {
      const response = stream.responseHeaders;
      return encodeInt64((response === undefined ? 0 : headerBytes(response)) + stream.bytesSent);
    }
    case 'response.grpc_status': {
      // A trailers-only gRPC reply carries it in the headers; otherwise the trailers do.
      const status = stream.responseHeaders?.get('grpc-status') ?? stream.headerMap(3)?.get('grpc-status');
      return status === undefined || !/^\d+$/.test(status) ? undefined : encodeInt64(Number(status));
    }
    case 'upstream.address':
      return text(stream.upstreamAddress);
  }
  if (key.startsWith('request.headers.')) return text(headers.get(key.slice(16)));
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
