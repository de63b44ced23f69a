// proxy_grpc_call and proxy_grpc_stream for filters: the method /<service>/<method> on one
// endpoint of a named cluster, through @grpc/grpc-js with messages passed through as bytes (the
// filter encodes and decodes them, as with Envoy). Unary calls are a stream with one message and
// an end, so both report the same events: initial metadata, messages, trailing metadata, close.
// A response message larger than the filter's http_call_response_bytes quota fails the call
// (RESOURCE_EXHAUSTED), as an oversized http_call response does.

import { Client, credentials, Metadata, status as GrpcStatus, type ChannelCredentials, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { WasmResult } from '../abi/enums.js';
import type { GrpcCall, GrpcCallEvents, GrpcCallRequest } from '../abi/host-api.js';
import type { Clusters, Endpoint } from './clusters.js';
import type { UpstreamTlsOptions } from './upstream-tls.js';

/** Channels kept open at once (one per cluster endpoint); the least recently used one closes past it. */
const MAX_CHANNELS = 64;
/** An idle channel drops its connection after this long (and so keeps no timer or socket alive). */
const CHANNEL_IDLE_MS = 30_000;

const passThrough = (bytes: Buffer): Buffer => bytes;

export function makeGrpcCall(clusters: Clusters) {
  const channels = new ChannelCache();
  return function grpcCall(request: GrpcCallRequest, events: GrpcCallEvents): GrpcCall | WasmResult {
    const cluster = clusters.get(request.cluster);
    // Envoy answers ParseFailure for an upstream that is neither a GrpcService nor a cluster's
    // name (its source/extensions/common/wasm/context.cc, grpcCall and grpcStream: kept for
    // callers written against ABI 0.1.x, with a TODO to move to BadArgument).
    if (cluster === undefined) return WasmResult.ParseFailure;
    const endpoint = cluster.pick();
    if (endpoint === undefined) {
      setImmediate(() => events.close(GrpcStatus.UNAVAILABLE, `no healthy endpoint in cluster ${request.cluster}`));
      return { send: () => WasmResult.BadArgument, closeSend: () => {}, cancel: () => {} };
    }
    const client = channels.get(request.cluster, endpoint, cluster.tlsOptions);
    const metadata = new Metadata();
    for (const [name, value] of request.initialMetadata) metadata.add(name, value);
    const limit = request.maxResponseBytes;
    let tooLarge = false;
    const deserialize = (bytes: Buffer): Buffer => {
      if (bytes.length > limit) {
        tooLarge = true;
        throw new Error(`response message larger than ${limit} bytes (the filter's http_call_response_bytes quota)`);
      }
      return bytes;
    };
    const options = request.timeoutMs > 0 ? { deadline: Date.now() + request.timeoutMs } : {};
    const stream: ClientDuplexStream<Buffer, Buffer> = client.makeBidiStreamRequest(`/${request.service}/${request.method}`, passThrough, deserialize, metadata, options);
    let ended = false;
    stream.on('metadata', (received: Metadata) => events.initialMetadata(metadataPairs(received)));
    stream.on('data', (message: Buffer) => events.message(message));
    // A non-OK status also arrives as 'error'; 'status' reports both, once.
    stream.on('error', (_error: ServiceError) => {});
    stream.on('status', (status: StatusObject) => {
      ended = true;
      events.trailingMetadata(metadataPairs(status.metadata));
      if (tooLarge) events.close(GrpcStatus.RESOURCE_EXHAUSTED, `response message larger than ${limit} bytes`);
      else events.close(status.code, status.details);
    });
    let sendClosed = false;
    const closeSend = (): void => {
      if (sendClosed) return;
      sendClosed = true;
      stream.end();
    };
    if (request.message !== null) {
      stream.write(Buffer.from(request.message.buffer, request.message.byteOffset, request.message.byteLength));
      closeSend();
    }
    const unary = request.message !== null;
    return {
      send(message, endStream) {
        if (unary || sendClosed || ended) return WasmResult.BadArgument;
        stream.write(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
        if (endStream) closeSend();
        return WasmResult.Ok;
      },
      closeSend,
      cancel: () => stream.cancel(),
    };
  };
}

/** Metadata as header pairs; binary (-bin) values base64 as on the wire. */
function metadataPairs(metadata: Metadata): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) pairs.push([name, typeof value === 'string' ? value : value.toString('base64')]);
  }
  return pairs;
}

/** One grpc-js channel per cluster endpoint, remade when the cluster's TLS settings change. */
class ChannelCache {
  private readonly clients = new Map<string, { client: Client; tls: UpstreamTlsOptions | undefined }>();

  get(cluster: string, endpoint: Endpoint, tls: UpstreamTlsOptions | undefined): Client {
    const key = `${cluster}\n${endpoint.address}`;
    const cached = this.clients.get(key);
    if (cached !== undefined) {
      this.clients.delete(key); // re-set below: the Map's order is recency
      if (cached.tls === tls) {
        this.clients.set(key, cached);
        return cached.client;
      }
      cached.client.close(); // certificates reloaded: calls already made finish on the old channel
    }
    const target = endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
    const options: Record<string, string | number> = { 'grpc.client_idle_timeout_ms': CHANNEL_IDLE_MS, 'grpc.max_receive_message_length': -1 };
    if (tls?.servername !== undefined) options['grpc.ssl_target_name_override'] = tls.servername;
    const client = new Client(target, channelCredentials(tls), options);
    this.clients.set(key, { client, tls });
    if (this.clients.size > MAX_CHANNELS) {
      const [oldestKey, oldest] = this.clients.entries().next().value!;
      this.clients.delete(oldestKey);
      oldest.client.close();
    }
    return client;
  }
}

function channelCredentials(tls: UpstreamTlsOptions | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}
