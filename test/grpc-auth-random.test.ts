// The Rust SDK's grpc_auth_random example (a raw-ABI port: test/filters/grpc-auth-random) in
// front of an upstream, through `weft run`, against a grpc-js server implementing the
// grpcbin.GRPCBin/RandomError method it calls. What Envoy does with the example (its README and
// the SDK's dispatcher): an even gRPC status grants access, an odd one answers the gRPC client
// with grpc-status 10 (ABORTED) "Aborted by Proxy-Wasm!", non-gRPC clients get a 503, the
// reflection API passes without a call, and every response carries Powered-By: proxy-wasm.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { wat } from './abi-harness.js';
import { eventually } from './helpers/eventually.js';
import { request } from './helpers/http.js';
import { repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const bytes = (value: Buffer): Buffer => value;
const GRPC = { 'content-type': 'application/grpc' };

describe('grpc_auth_random (Rust SDK example) through weft run', () => {
  let web: EchoUpstream;
  let grpcbin: Server;
  let weft: WeftProcess;
  let dir: string;
  /** The status RandomError answers next (0 = OK with an empty message, as grpcbin's EmptyMessage). */
  let nextStatus = 0;
  let calls = 0;

  before(async () => {
    web = await EchoUpstream.start();
    grpcbin = new Server();
    grpcbin.addService(
      { RandomError: { path: '/grpcbin.GRPCBin/RandomError', requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes } },
      {
        RandomError: (_call: ServerUnaryCall<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => {
          calls++;
          if (nextStatus === 0) answer(null, Buffer.alloc(0));
          else answer({ code: nextStatus, details: 'random error' });
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      grpcbin.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    dir = await mkdtemp(path.join(tmpdir(), 'weft-grpc-auth-random-'));
    const module = path.join(dir, 'grpc-auth-random.wasm');
    await writeFile(module, await wat(await readFile(path.join(repoRoot, 'test', 'filters', 'grpc-auth-random', 'grpc-auth-random.wat'), 'utf8')));
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [web.address] },
        { name: 'grpcbin', endpoints: [`127.0.0.1:${port}`] },
      ],
      default_cluster: 'web',
      filters: [{ name: 'grpc_auth_random', module }],
    });
  });
  after(async () => {
    await weft?.stop();
    await web?.stop();
    grpcbin?.forceShutdown();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('grants access when RandomError answers OK, and marks the response', async () => {
    nextStatus = 0;
    const before = calls;
    const response = await request(`${weft.url}/grpcbin.GRPCBin/Index`, { method: 'POST', headers: GRPC, body: '' });
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).path, '/grpcbin.GRPCBin/Index');
    assert.equal(response.headers['powered-by'], 'proxy-wasm');
    assert.equal(calls, before + 1);
    await eventually(async () => weft.text, (text) => text.includes('Access granted.'), 'the filter to log "Access granted."');
  });

  it('grants access on an even error status (UNKNOWN = 2) too', async () => {
    nextStatus = 2;
    const response = await request(`${weft.url}/x`, { method: 'POST', headers: GRPC, body: '' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['powered-by'], 'proxy-wasm');
  });

  it('answers an odd status (INVALID_ARGUMENT = 3) with a gRPC ABORTED reply, not reaching the upstream', async () => {
    nextStatus = 3;
    const before = web.requests.length;
    const response = await request(`${weft.url}/x`, { method: 'POST', headers: GRPC, body: '' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['grpc-status'], '10');
    assert.equal(response.headers['grpc-message'], 'Aborted by Proxy-Wasm!');
    assert.equal(response.headers['powered-by'], 'proxy-wasm');
    assert.equal(web.requests.length, before);
    await eventually(async () => weft.text, (text) => text.includes('Access forbidden.'), 'the filter to log "Access forbidden."');
  });

  it('rejects non-gRPC clients with 503 and calls nothing', async () => {
    const before = calls;
    const response = await request(`${weft.url}/headers`);
    assert.equal(response.status, 503);
    assert.equal(response.body, 'Service accessible only to gRPC clients.\n');
    assert.equal(response.headers['powered-by'], 'proxy-wasm');
    assert.equal(calls, before);
  });

  it('lets the reflection API through without a call', async () => {
    nextStatus = 3;
    const before = calls;
    const response = await request(`${weft.url}/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo`, { method: 'POST', headers: GRPC, body: '' });
    assert.equal(response.status, 200);
    assert.equal(calls, before);
  });
});
