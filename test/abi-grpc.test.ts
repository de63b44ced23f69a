// gRPC calls from filters (proxy_grpc_call / proxy_grpc_stream and their callbacks) through a
// real `weft run`: the grpc-caller fixture talks to a real @grpc/grpc-js server on loopback.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import { Clusters } from '../host/proxy/clusters.js';
import { makeGrpcCall } from '../host/proxy/grpc-call.js';
import { OUT_X, Probe, ProbeBuilder, TestVmHost } from './abi-harness.js';
import { eventually } from './helpers/eventually.js';
import { Metadata, Server, ServerCredentials, status as GrpcStatus, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { request } from './helpers/http.js';
import { freePort } from './helpers/ports.js';
import { fixtureModule } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const bytes = (value: Buffer): Buffer => value;

/** test.Echo: Say answers "ok:<message>" (or per the message: deny, slow, big, fail); Chat echoes each message. */
class EchoService {
  readonly callerMetadata: string[] = [];
  /** Chat streams that got a message, and those the client cancelled. */
  chatMessages = 0;
  cancelledChats = 0;
  private readonly server = new Server();
  port = 0;

  async start(): Promise<void> {
    const method = (path: string, stream: boolean) => ({
      path, requestStream: stream, responseStream: stream,
      requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
    });
    this.server.addService(
      { Say: method('/test.Echo/Say', false), Chat: method('/test.Echo/Chat', true) },
      {
        Say: (call: ServerUnaryCall<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => {
          this.callerMetadata.push(String(call.metadata.get('x-caller')[0] ?? ''));
          const text = call.request.toString();
          if (text.startsWith('/deny')) answer(null, Buffer.from('deny'));
          else if (text.startsWith('/fail')) answer({ code: GrpcStatus.PERMISSION_DENIED, details: 'nope' });
          else if (text.startsWith('/big')) answer(null, Buffer.alloc(4096, 0x61));
          else if (text.startsWith('/slow')) setTimeout(() => answer(null, Buffer.from('late')), 3000).unref();
          else answer(null, Buffer.from(`ok:${text}`));
        },
        Chat: (call: ServerDuplexStream<Buffer, Buffer>) => {
          const initial = new Metadata();
          initial.set('x-served-by', 'grpc-test');
          call.sendMetadata(initial);
          call.on('data', (message: Buffer) => {
            this.chatMessages++;
            call.write(Buffer.from(`echo-${message.toString()}`));
          });
          call.on('cancelled', () => this.cancelledChats++);
          call.on('end', () => {
            const trailers = new Metadata();
            trailers.set('x-trailer', 'done');
            call.end(trailers);
          });
        },
      },
    );
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

describe('gRPC calls from a filter, through weft run', () => {
  let web: EchoUpstream;
  let grpc: EchoService;
  let weft: WeftProcess;

  before(async () => {
    web = await EchoUpstream.start();
    grpc = new EchoService();
    await grpc.start();
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [web.address] },
        { name: 'echo', endpoints: [`127.0.0.1:${grpc.port}`] },
        { name: 'dead', endpoints: [`127.0.0.1:${await freePort()}`] },
      ],
      default_cluster: 'web',
      // A 1 KiB cap on what a call may hand the filter, so the 4 KiB answer is refused.
      limits: { max_http_call_response_bytes: 1024 },
      filters: [{ name: 'grpc-caller', module: fixtureModule('grpc-caller'), config: { cluster: 'echo', service: 'test.Echo', method: 'Say', timeout_ms: 500 } }],
    });
  });
  after(async () => {
    await weft?.stop();
    await web?.stop();
    grpc?.stop();
  });

  it('resumes the request with the unary answer, sending the filter metadata', async () => {
    const response = await request(`${weft.url}/hello?x=1`);
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.headers['x-grpc-answer'], 'ok:/hello?x=1');
    assert.equal(grpc.callerMetadata.at(-1), 'grpc-caller');
  });

  it('denies the request when the answer says so', async () => {
    const before = web.requests.length;
    const response = await request(`${weft.url}/deny`);
    assert.equal(response.status, 403);
    assert.equal(response.body, 'denied by grpc');
    assert.equal(web.requests.length, before);
  });

  it('hands the server status and message of a failed call to proxy_on_grpc_close', async () => {
    const response = await request(`${weft.url}/fail`);
    assert.equal(response.status, 503);
    assert.equal(response.body, 'grpc status 7: nope');
  });

  it('fails a call past its deadline with DEADLINE_EXCEEDED', async () => {
    const started = Date.now();
    const response = await request(`${weft.url}/slow`);
    assert.equal(response.status, 503);
    assert.match(response.body, /^grpc status 4: /);
    assert.ok(Date.now() - started < 2500, 'the 500 ms deadline, not the server, ended the call');
  });

  it('fails a call whose answer is larger than the response cap with RESOURCE_EXHAUSTED', async () => {
    const response = await request(`${weft.url}/big`);
    assert.equal(response.status, 503);
    assert.match(response.body, /^grpc status 8: response message larger than 1024 bytes/);
  });

  it('reports UNAVAILABLE for an upstream nobody listens on', async () => {
    const response = await request(`${weft.url}/x`, { headers: { 'x-grpc-cluster': 'dead' } });
    assert.equal(response.status, 503);
    assert.match(response.body, /^grpc status 14: /);
  });

  it('refuses a call to an unknown cluster with ParseFailure (as Envoy), and keeps serving', async () => {
    const response = await request(`${weft.url}/x`, { headers: { 'x-grpc-cluster': 'nope' } });
    assert.equal(response.status, 500);
    assert.equal(response.body, 'grpc refused: ParseFailure');
    assert.equal((await request(`${weft.url}/again`)).status, 200);
  });

  it('streams: sends several messages, receives metadata, each echo, trailers and the close', async () => {
    const response = await request(`${weft.url}/s`, { headers: { 'x-grpc-mode': 'stream', 'x-grpc-count': '4' } });
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.headers['x-grpc-stream'], 'grpc-test|echo-m1,echo-m2,echo-m3,echo-m4|done|0');
  });

  it('cancels a stream: Ok, and the call no longer counts against the http_calls quota (64)', async () => {
    for (let i = 0; i < 70; i++) {
      const response = await request(`${weft.url}/c${i}`, { headers: { 'x-grpc-mode': 'cancel' } });
      assert.equal(response.status, 200);
      assert.equal(JSON.parse(response.body).headers['x-grpc-cancel'], 'Ok');
    }
    const response = await request(`${weft.url}/after-cancels`);
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).headers['x-grpc-answer'], 'ok:/after-cancels');
  });
});

describe('the gRPC host calls, in process (a probe module, the real grpc-call.ts)', () => {
  let grpc: EchoService;
  let clusters: Clusters;

  before(async () => {
    grpc = new EchoService();
    await grpc.start();
    clusters = new Clusters([{ name: 'echo', endpoints: [{ host: '127.0.0.1', port: grpc.port, weight: 1 }], connect_timeout_ms: 1000, timeout_ms: 5000 }]);
  });
  after(async () => {
    await clusters?.close();
    grpc?.stop();
  });

  async function probe(): Promise<Probe> {
    const w = new ProbeBuilder();
    const up = w.str('echo');
    const service = w.str('test.Echo');
    const chat = w.str('Chat');
    const say = w.str('Say');
    const message = w.str('hi');
    const host = new TestVmHost();
    host.grpcCall = makeGrpcCall(clusters);
    return Probe.start(w, {
      imports: `
        (import "env" "proxy_grpc_stream" (func $proxy_grpc_stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
        (import "env" "proxy_grpc_send" (func $proxy_grpc_send (param i32 i32 i32 i32) (result i32)))
        (import "env" "proxy_grpc_cancel" (func $proxy_grpc_cancel (param i32) (result i32)))
        (import "env" "proxy_grpc_close" (func $proxy_grpc_close (param i32) (result i32)))`,
      cases: {
        stream: `(call $proxy_grpc_stream ${up} ${service} ${chat} (i32.const 0) (i32.const 0) (i32.const ${OUT_X}))`,
        unary: `(call $proxy_grpc_call ${up} ${service} ${say} (i32.const 0) (i32.const 0) ${message} (i32.const 1000) (i32.const ${OUT_X}))`,
        unknown_cluster: `(call $proxy_grpc_call ${w.str('nope')} ${service} ${say} (i32.const 0) (i32.const 0) ${message} (i32.const 1000) (i32.const ${OUT_X}))`,
        send: `(call $proxy_grpc_send (global.get $a) ${message} (i32.const 0))`,
        cancel: '(call $proxy_grpc_cancel (global.get $a))',
        close: '(call $proxy_grpc_close (global.get $a))',
        token: `(i32.load (i32.const ${OUT_X}))`,
      },
    }, { host });
  }

  it('answers NotFound for a token it does not know, ParseFailure for an unknown cluster, BadArgument for a send on a unary call', async () => {
    const p = await probe();
    assert.equal(p.run('send', 12345), WasmResult.NotFound);
    assert.equal(p.run('cancel', 12345), WasmResult.NotFound);
    assert.equal(p.run('close', 12345), WasmResult.NotFound);
    assert.equal(p.run('unknown_cluster'), WasmResult.ParseFailure);
    assert.equal(p.run('unary'), WasmResult.Ok);
    const unary = p.run('token');
    assert.equal(p.run('send', unary), WasmResult.BadArgument);
    assert.equal(p.run('close', unary), WasmResult.Ok, 'close cancels a unary call (Envoy)');
    assert.equal(p.run('cancel', unary), WasmResult.NotFound, 'and forgets it');
    p.vm.destroy();
  });

  it('cancels the streams of a VM that is destroyed (replaced, or its chain swapped out)', async () => {
    const p = await probe();
    const sent = grpc.chatMessages;
    const cancelled = grpc.cancelledChats;
    assert.equal(p.run('stream'), WasmResult.Ok);
    const token = p.run('token');
    assert.equal(p.run('send', token), WasmResult.Ok);
    await eventually(async () => grpc.chatMessages, (count) => count === sent + 1, 'the server to get the message');
    p.vm.destroy();
    await eventually(async () => grpc.cancelledChats, (count) => count === cancelled + 1, 'the server to see the stream cancelled');
  });
});
