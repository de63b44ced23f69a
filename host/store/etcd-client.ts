// The etcd3 client for `store: {kind: etcd}`: endpoints, TLS, user, call deadlines.
//
// Fault handling is the store's own (etcd-store.ts, etcd-watch.ts): the client neither retries
// nor opens circuit breakers, so a call to an unreachable etcd fails within `timeout_ms` with its
// reason (an admin write answers 503 at once), and the watch's reconnect is never held back by
// a breaker that is still open after etcd came back.

import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { noop } from 'cockatiel';
import { castGrpcError, Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdStoreSpec } from '../config/schema.js';
import { StoreError } from './store.js';

export async function etcdClient(spec: EtcdStoreSpec): Promise<Etcd3> {
  const options: IOptions = {
    hosts: spec.endpoints,
    dialTimeout: spec.timeout_ms,
    // Streams (the watch, keep-alives) live on; single calls get the deadline.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + spec.timeout_ms }),
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: {
      // A list of many keys may pass gRPC's 4 MiB default; etcd sends any size.
      'grpc.max_receive_message_length': -1,
      // Notice a connection to a host that vanished without closing it within seconds, not minutes
      // (etcd accepts pings every 5 s or slower while a stream is open; the watch always is).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
  };
  if (spec.tls !== undefined) {
    const { ca, cert, key } = spec.tls;
    options.credentials = {
      rootCertificate: ca === undefined ? Buffer.from(rootCertificates.join('\n')) : await readTlsFile('ca', ca),
      ...(cert === undefined ? {} : { certChain: await readTlsFile('cert', cert) }),
      ...(key === undefined ? {} : { privateKey: await readTlsFile('key', key) }),
    };
  }
  if (spec.auth !== undefined) options.auth = { username: spec.auth.username, password: spec.auth.password };
  return new Etcd3(options);
}

async function readTlsFile(field: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new StoreError(`store.tls.${field}: cannot read ${file} (${(error as Error).message})`, { cause: error });
  }
}

/** True for errors that say etcd cannot be reached or did not answer in time (as opposed to a refusal). */
export function isConnectionError(error: unknown): boolean {
  // Errors of streams (the watch, keep-alives) arrive as gRPC's plain errors: typed here.
  return error instanceof Error && isRecoverableError(castGrpcError(error));
}
