// gRPC through the chain: @grpc/grpc-js as client and as server, a real `weft run` between them
// speaking HTTP/2 on both sides: h2c by prior knowledge to an h2c cluster, and h2 by ALPN on the
// TLS listener to a cluster of protocol h2 over TLS.
// Unary and the three streaming kinds pass with their metadata, messages and trailers; a status
// the server sets reaches the client; the authz filter's denial reaches the client as
// PERMISSION_DENIED; an upstream that dies mid-stream gives UNAVAILABLE; 50 concurrent streams
// finish without an error.

import assert from 'node:assert/strict';
import { connect, constants as h2 } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  status as GrpcStatus,
  type Client,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { AdminClient } from './helpers/admin.js';
import { eventually } from './helpers/eventually.js';
import { freePort } from './helpers/ports.js';
import { builtModule, repoRoot } from './helpers/repo.js';
import { read, TestCa } from './helpers/pki.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';
import { join } from 'node:path';

const bytes = (value: Buffer): Buffer => value;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Calc/${name}`,
  requestStream,
  responseStream,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
});

/** test.Calc: Echo (unary), Count (server streaming), Sum (client streaming), Chat (bidirectional). */
const CALC = {
  Echo: method('Echo', false, false),
  Count: method('Count', false, true),
  Sum: method('Sum', true, false),
  Chat: method('Chat', true, true),
  Flood: method('Flood', false, true),
};

/** Flood: this many messages of FLOOD_BYTES each, written only as fast as the stream takes them. */
const FLOOD_MESSAGES = 1000;
const FLOOD_BYTES = 64 * 1024;

type CalcClient = Client & Record<keyof typeof CALC, (...args: unknown[]) => any>;
const CalcClient = makeGenericClientConstructor(CALC, 'Calc') as unknown as new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => CalcClient;

function withTrailer(name: string, value: string): Metadata {
  const metadata = new Metadata();
  metadata.set(name, value);
  return metadata;
}

/**
 * The upstream, plain or over TLS: Echo's "fail:<text>" answers NOT_FOUND with <text>; Count to 3
 * with x-die metadata destroys the connection after two messages.
 */
async function startCalc(tls?: { cert: string; key: string }): Promise<{ server: Server; port: number; served: () => number; flooded: () => number }> {
  const server = new Server();
  let served = 0;
  let flooded = 0;
  const flakySeen = new Set<string>();
  server.addService(CALC, {
    Echo: (call: ServerUnaryCall<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => {
      served++;
      const text = call.request.toString();
      if (text.startsWith('fail:')) return answer({ code: GrpcStatus.NOT_FOUND, details: text.slice(5) });
      // "flaky:<id>": UNAVAILABLE the first time an id is seen, then an answer.
      if (text.startsWith('flaky:') && !flakySeen.has(text)) {
        flakySeen.add(text);
        return answer({ code: GrpcStatus.UNAVAILABLE, details: 'try again' });
      }
      if (text === 'slow') return void setTimeout(() => answer(null, Buffer.from('late')), 2000).unref();
      call.sendMetadata(withTrailer('x-upstream', 'calc'));
      answer(null, Buffer.from(`echo:${text}:${String(call.metadata.get('x-caller')[0] ?? '')}`), withTrailer('x-trailer', 'echoed'));
    },
    Count: (call: ServerWritableStream<Buffer, Buffer>) => {
      served++;
      const upTo = Number(call.request.toString());
      let sent = 0;
      const next = (): void => {
        if (sent === upTo) return void call.end(withTrailer('x-counted', String(upTo)));
        call.write(Buffer.from(String(++sent)));
        if (call.request.toString() === '3' && sent === 2 && call.metadata.get('x-die').length > 0) {
          // The upstream dies after two messages: its connection goes.
          (call as unknown as { call: { stream: { session: { destroy(): void } } } }).call.stream.session.destroy();
          return;
        }
        setImmediate(next);
      };
      next();
    },
    Sum: (call: ServerReadableStream<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => {
      served++;
      let sum = 0;
      call.on('data', (message: Buffer) => (sum += Number(message.toString())));
      call.on('end', () => answer(null, Buffer.from(String(sum))));
    },
    Flood: (call: ServerWritableStream<Buffer, Buffer>) => {
      served++;
      flooded = 0;
      const message = Buffer.alloc(FLOOD_BYTES, 0x66);
      const next = (): void => {
        while (flooded < FLOOD_MESSAGES) {
          flooded++;
          if (!call.write(message)) return void call.once('drain', next);
        }
        call.end();
      };
      next();
    },
    Chat: (call: ServerDuplexStream<Buffer, Buffer>) => {
      served++;
      call.on('data', (message: Buffer) => call.write(Buffer.from(`re:${message.toString()}`)));
      call.on('end', () => call.end(withTrailer('x-chat', 'over')));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      tls === undefined ? ServerCredentials.createInsecure() : ServerCredentials.createSsl(null, [{ private_key: read(tls.key), cert_chain: read(tls.cert) }]),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  return { server, port, served: () => served, flooded: () => flooded };
}

interface Unary {
  error: ServiceError | null;
  value?: Buffer;
  headers?: Metadata;
  trailers?: Metadata;
}

function echo(client: CalcClient, text: string, metadata = new Metadata()): Promise<Unary> {
  return new Promise((resolve) => {
    let headers: Metadata | undefined;
    let trailers: Metadata | undefined;
    const call = client.Echo(Buffer.from(text), metadata, (error: ServiceError | null, value?: Buffer) =>
      // The status comes after the callback's data: wait a turn for it.
      setImmediate(() => resolve({ error, value, headers, trailers })),
    );
    call.on('metadata', (received: Metadata) => (headers = received));
    call.on('status', (status: { metadata: Metadata }) => (trailers = status.metadata));
  });
}

function count(client: CalcClient, upTo: number, metadata = new Metadata()): Promise<{ messages: string[]; code: number; details: string; trailers: Metadata }> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    const call = client.Count(Buffer.from(String(upTo)), metadata);
    call.on('data', (message: Buffer) => messages.push(message.toString()));
    call.on('error', () => {}); // the status says it
    call.on('status', (status: { code: number; details: string; metadata: Metadata }) => resolve({ messages, code: status.code, details: status.details, trailers: status.metadata }));
  });
}

function sum(client: CalcClient, numbers: number[]): Promise<{ error: ServiceError | null; value?: string }> {
  return new Promise((resolve) => {
    const call = client.Sum((error: ServiceError | null, value?: Buffer) => resolve({ error, value: value?.toString() }));
    for (const n of numbers) call.write(Buffer.from(String(n)));
    call.end();
  });
}

/** Sends each message only after the answer to the one before came back: a real back-and-forth. */
function chat(client: CalcClient, messages: string[]): Promise<{ answers: string[]; code: number; trailers: Metadata }> {
  return new Promise((resolve) => {
    const answers: string[] = [];
    const call = client.Chat();
    call.on('data', (message: Buffer) => {
      answers.push(message.toString());
      if (answers.length < messages.length) call.write(Buffer.from(messages[answers.length]!));
      else call.end();
    });
    call.on('error', () => {});
    call.on('status', (status: { code: number; metadata: Metadata }) => resolve({ answers, code: status.code, trailers: status.metadata }));
    call.write(Buffer.from(messages[0]!));
  });
}

describe('gRPC through the chain', () => {
  const ca = TestCa.create('grpc-ca');
  const cert = ca.server('weft-listener');
  let calc: Awaited<ReturnType<typeof startCalc>>;
  let calcTls: Awaited<ReturnType<typeof startCalc>>;
  let h2c: WeftProcess;
  let tls: WeftProcess;
  let dead: WeftProcess;
  let retrying: WeftProcess;
  let plainClient: CalcClient;
  let tlsClient: CalcClient;

  before(async () => {
    calc = await startCalc();
    calcTls = await startCalc(ca.server('calc'));
    const authz = builtModule(join(repoRoot, 'filters', 'authz'));
    const manifest = {
      clusters: [{ name: 'calc', protocol: 'h2c', endpoints: [`127.0.0.1:${calc.port}`] }],
      filters: [
        {
          name: 'authz',
          module: authz,
          config: { default_action: 'allow', rules: [{ name: 'no-forbidden-callers', action: 'deny', headers: [{ name: 'x-caller', exact: 'forbidden' }] }] },
        },
      ],
    };
    const tlsCluster = { name: 'calc', protocol: 'h2', tls: { ca: ca.cert }, endpoints: [`127.0.0.1:${calcTls.port}`] };
    [h2c, tls, dead, retrying] = await Promise.all([
      startWeft({ ...manifest, listenProtocols: ['h2'] }),
      startWeft({ ...manifest, clusters: [tlsCluster], listenTls: { cert: cert.cert, key: cert.key }, listenProtocols: ['http1', 'h2'] }),
      startWeft({ clusters: [{ name: 'calc', protocol: 'h2c', endpoints: [`127.0.0.1:${await freePort()}`] }], listenProtocols: ['h2'] }),
      startWeft({
        clusters: manifest.clusters,
        listenProtocols: ['h2'],
        filters: [
          {
            name: 'router',
            module: builtModule(join(repoRoot, 'filters', 'router')),
            config: { routes: [{ name: 'calc', match: { prefix: '/' }, cluster: 'calc', retry: { attempts: 1, on: ['unavailable'] } }] },
          },
        ],
      }),
    ]);
    plainClient = new CalcClient(`127.0.0.1:${h2c.port}`, credentials.createInsecure());
    tlsClient = new CalcClient(`127.0.0.1:${tls.port}`, credentials.createSsl(read(ca.cert)) as ReturnType<typeof credentials.createInsecure>);
  });
  after(async () => {
    plainClient?.close();
    tlsClient?.close();
    await Promise.all([h2c?.stop(), tls?.stop(), dead?.stop(), retrying?.stop()]);
    calc?.server.forceShutdown();
    calcTls?.server.forceShutdown();
  });

  for (const [over, client] of [
    ['h2c', () => plainClient],
    ['TLS h2 (to an h2 cluster over TLS)', () => tlsClient],
  ] as const) {
    test(`unary over ${over}: the answer, the server's metadata and trailers`, async () => {
      const answer = await echo(client(), 'hi', withTrailer('x-caller', 'tester'));
      assert.equal(answer.error, null);
      assert.equal(answer.value?.toString(), 'echo:hi:tester');
      assert.deepEqual(answer.headers?.get('x-upstream'), ['calc']);
      assert.deepEqual(answer.trailers?.get('x-trailer'), ['echoed']);
    });

    test(`server streaming, client streaming and bidirectional over ${over}`, async () => {
      const counted = await count(client(), 20);
      assert.equal(counted.code, GrpcStatus.OK, counted.details);
      assert.deepEqual(counted.messages, Array.from({ length: 20 }, (_, i) => String(i + 1)));
      assert.deepEqual(counted.trailers.get('x-counted'), ['20']);
      assert.deepEqual(await sum(client(), [1, 2, 3, 4, 5]), { error: null, value: '15' });
      const talk = await chat(client(), ['a', 'b', 'c']);
      assert.deepEqual(talk.answers, ['re:a', 're:b', 're:c']);
      assert.equal(talk.code, GrpcStatus.OK);
      assert.deepEqual(talk.trailers.get('x-chat'), ['over']);
    });
  }

  test("the server's status and message reach the client", async () => {
    const answer = await echo(plainClient, 'fail:no such thing');
    assert.equal(answer.error?.code, GrpcStatus.NOT_FOUND);
    assert.equal(answer.error?.details, 'no such thing');
  });

  test('a filter that denies a call: the client gets PERMISSION_DENIED with its message, and the upstream never sees it', async () => {
    const before = calc.served();
    const answer = await echo(plainClient, 'hi', withTrailer('x-caller', 'forbidden'));
    assert.equal(answer.error?.code, GrpcStatus.PERMISSION_DENIED);
    assert.match(answer.error?.details ?? '', /no-forbidden-callers/);
    assert.equal(calc.served(), before);
  });

  test('an upstream that dies mid-stream: the client gets UNAVAILABLE after the messages that came through', async () => {
    const counted = await count(plainClient, 3, withTrailer('x-die', 'yes'));
    assert.equal(counted.code, GrpcStatus.UNAVAILABLE, counted.details);
    assert.deepEqual(counted.messages.slice(0, 1), ['1']);
  });

  test('an upstream that is not there: the client gets UNAVAILABLE, from a trailers-only reply', async () => {
    const client = new CalcClient(`127.0.0.1:${dead.port}`, credentials.createInsecure());
    try {
      const answer = await echo(client, 'hi');
      assert.equal(answer.error?.code, GrpcStatus.UNAVAILABLE);
      assert.match(answer.error?.details ?? '', /upstream/);
    } finally {
      client.close();
    }
  });

  test('grpc-timeout bounds the call: past it the client gets DEADLINE_EXCEEDED from the proxy, trailers-only', async () => {
    // A raw HTTP/2 client, so that only the proxy can end the call (a gRPC client would end it itself at its deadline).
    const session = connect(h2c.url);
    try {
      const began = performance.now();
      const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/test.Calc/Echo', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m' });
        stream.on('response', (headers, flags) => resolve({ ...headers, endStream: (flags & h2.NGHTTP2_FLAG_END_STREAM) !== 0 }));
        stream.on('error', reject);
        const message = Buffer.from('slow');
        const frame = Buffer.alloc(5 + message.length);
        frame.writeUInt32BE(message.length, 1);
        message.copy(frame, 5);
        stream.end(frame);
      });
      const ms = performance.now() - began;
      assert.equal(answer['grpc-status'], '4');
      assert.equal(answer['grpc-message'], 'grpc-timeout passed');
      assert.equal(answer.endStream, true, 'one HEADERS frame that ends the stream');
      assert.ok(ms >= 190 && ms < 1500, `answered after ${ms.toFixed(0)} ms`);
    } finally {
      session.close();
    }
  });

  test('a route that retries on unavailable: a call answered UNAVAILABLE is tried again and succeeds', async () => {
    const client = new CalcClient(`127.0.0.1:${retrying.port}`, credentials.createInsecure());
    try {
      const before = calc.served();
      const answer = await echo(client, 'flaky:1');
      assert.equal(answer.error, null);
      assert.equal(answer.value?.toString(), 'echo:flaky:1:');
      assert.equal(calc.served() - before, 2);
    } finally {
      client.close();
    }
  });

  test('the access log and /metrics give the gRPC status beside the HTTP status', async () => {
    await echo(plainClient, 'fail:logged');
    await echo(plainClient, 'logged');
    const lines = await eventually(
      async () => h2c.accessLog().filter((line) => line.path === '/test.Calc/Echo'),
      (found) => found.some((line) => line.grpc_status === GrpcStatus.NOT_FOUND),
      'an access line with grpc_status 5',
    );
    const statuses = lines.map((line) => `${line.status}/${line.grpc_status}`);
    assert.ok(statuses.includes('200/5') && statuses.includes('200/0'), statuses.join(' '));
    const admin = new AdminClient(h2c.adminUrl);
    assert.ok(((await admin.metric('weft_grpc_calls_total{cluster="calc",grpc_status="5"}')) ?? 0) >= 1);
    assert.ok(((await admin.metric('weft_grpc_calls_total{cluster="calc",grpc_status="0"}')) ?? 0) >= 1);
  });

  test('the breaker counts gRPC statuses: an endpoint that answers UNAVAILABLE (HTTP 200) is ejected', async () => {
    const broken = new Server();
    broken.addService(CALC, {
      Echo: (_call: ServerUnaryCall<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => answer({ code: GrpcStatus.UNAVAILABLE, details: 'broken' }),
      Count: () => {}, Sum: () => {}, Chat: () => {},
    });
    const brokenPort = await new Promise<number>((resolve, reject) =>
      broken.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const mesh = await startWeft({
      workers: 1,
      listenProtocols: ['h2'],
      clusters: [{ name: 'calc', protocol: 'h2c', endpoints: [`127.0.0.1:${calc.port}`, `127.0.0.1:${brokenPort}`] }],
      filters: [
        { name: 'breaker', module: builtModule(join(repoRoot, 'filters', 'breaker')), vm_id: 'mesh', config: { default_cluster: 'calc', consecutive_5xx: 0, consecutive_gateway_failure: 3, max_ejection_percent: 50, base_ejection_time_ms: 30_000 } },
        { name: 'lb', module: builtModule(join(repoRoot, 'filters', 'lb')), vm_id: 'mesh', config: { default_cluster: 'calc' } },
      ],
    });
    const client = new CalcClient(`127.0.0.1:${mesh.port}`, credentials.createInsecure());
    try {
      const codes: number[] = [];
      for (let i = 0; i < 8; i++) codes.push((await echo(client, `call-${i}`)).error?.code ?? GrpcStatus.OK);
      assert.equal(codes.filter((code) => code === GrpcStatus.UNAVAILABLE).length, 3, `codes ${codes.join(' ')}`);
      await mesh.waitForOutput((text) => text.includes(`breaker: ejected 127.0.0.1:${brokenPort} of cluster calc`), 'the ejection log line');
      for (let i = 0; i < 6; i++) assert.equal((await echo(client, `after-${i}`)).error, null);
    } finally {
      client.close();
      await mesh.stop();
      broken.forceShutdown();
    }
  });

  test('back-pressure: a client that stops reading a server stream stops the upstream writing; it then gets every message', async (t) => {
    // A raw HTTP/2 client: it can stop reading, and it counts bytes (64 MiB in all, 5-byte gRPC frame heads included).
    const session = connect(h2c.url);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/test.Calc/Flood', 'content-type': 'application/grpc', te: 'trailers' });
      stream.end(Buffer.from([0, 0, 0, 0, 0])); // one empty message
      let received = 0;
      const trailers = new Promise<Record<string, unknown>>((resolve, reject) => {
        stream.on('trailers', resolve);
        stream.on('error', reject);
      });
      stream.on('data', (chunk: Buffer) => (received += chunk.length));
      await eventually(async () => received, (bytes) => bytes > 0, 'the first bytes');
      stream.pause();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const writtenWhilePaused = calc.flooded();
      t.diagnostic(`the upstream wrote ${writtenWhilePaused} of ${FLOOD_MESSAGES} messages of 64 KiB while the client read nothing`);
      const total = FLOOD_MESSAGES * (FLOOD_BYTES + 5);
      // What the windows and buffers between them hold (HTTP/2 windows of 64 KiB to 1 MiB, node's
      // and Weft's stream buffers) is a few MiB; without back-pressure the whole 64 MiB goes.
      assert.ok(writtenWhilePaused < FLOOD_MESSAGES / 4, `the upstream wrote ${writtenWhilePaused} of ${FLOOD_MESSAGES} messages while the client read nothing`);
      stream.resume();
      assert.equal((await trailers)['grpc-status'], '0');
      assert.equal(received, total);
      assert.equal(calc.flooded(), FLOOD_MESSAGES);
    } finally {
      session.close();
    }
  });

  test('50 concurrent streams, 20 messages each, finish without an error', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => count(plainClient, 20)));
    assert.deepEqual(
      results.map((result) => `${result.code} ${result.messages.length}`),
      results.map(() => `${GrpcStatus.OK} 20`),
    );
  });
});
