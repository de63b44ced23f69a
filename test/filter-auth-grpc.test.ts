// The auth filter's ext_authz asking a gRPC envoy.service.auth.v3.Authorization/Check service
// (a real grpc-js server) through `weft run`: allow with headers for the upstream, deny with
// the service's status, headers and body, and a service that is down (503, or through with
// fail_open). The messages are read and written here with Envoy's field numbers, independently
// of the filter's encoder (filters/auth/assembly/authz-proto.ts).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { request } from './helpers/http.js';
import { freePort } from './helpers/ports.js';
import { builtModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

// ---- protobuf, just enough -------------------------------------------------------------------

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}
function field(number: number, value: Buffer | string | number): Buffer {
  if (typeof value === 'number') return Buffer.from([...varint(number << 3), ...varint(value)]);
  const bytes = Buffer.from(value);
  return Buffer.concat([Buffer.from([...varint((number << 3) | 2), ...varint(bytes.length)]), bytes]);
}
/** Length-delimited and varint fields of a message, in order. */
function fields(message: Buffer): Array<[number, Buffer | number]> {
  const out: Array<[number, Buffer | number]> = [];
  let at = 0;
  const read = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = message[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < message.length) {
    const key = read();
    if ((key & 7) === 0) out.push([key >> 3, read()]);
    else {
      const length = read();
      out.push([key >> 3, message.subarray(at, at + length)]);
      at += length;
    }
  }
  return out;
}
const first = (message: Buffer, number: number): Buffer => fields(message).find(([n]) => n === number)![1] as Buffer;

/** CheckRequest.attributes(1).request(4).http(2): method 2, headers 3 (map entries key 1 / value 2), path 4, host 5. */
function readCheckRequest(message: Buffer): { method: string; path: string; host: string; headers: Record<string, string> } {
  const http = first(first(first(message, 1), 4), 2);
  const headers: Record<string, string> = {};
  for (const [n, entry] of fields(http)) if (n === 3) headers[first(entry as Buffer, 1).toString()] = first(entry as Buffer, 2).toString();
  return { method: first(http, 2).toString(), path: first(http, 4).toString(), host: first(http, 5).toString(), headers };
}
/** HeaderValueOption { header = 1: HeaderValue { key = 1, value = 2 } }. */
const headerOption = (key: string, value: string): Buffer => field(1, Buffer.concat([field(1, key), field(2, value)]));
/** CheckResponse { status = 1: Status { code = 1 }, ok_response = 3: { headers = 2 } }. */
const allow = (headers: Array<[string, string]>): Buffer =>
  Buffer.concat([field(1, field(1, 0)), field(3, Buffer.concat(headers.map(([k, v]) => field(2, headerOption(k, v)))))]);
/** CheckResponse { status = 1: { code = 7 }, denied_response = 2: { status = 1: { code = 1 }, headers = 2, body = 3 } }. */
const deny = (status: number, headers: Array<[string, string]>, body: string): Buffer =>
  Buffer.concat([
    field(1, field(1, 7)),
    field(2, Buffer.concat([field(1, field(1, status)), ...headers.map(([k, v]) => field(2, headerOption(k, v))), field(3, body)])),
  ]);

describe('auth ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check), through weft run', () => {
  let web: EchoUpstream;
  let authz: Server;
  let weft: WeftProcess;
  const checks: Array<ReturnType<typeof readCheckRequest>> = [];

  before(async () => {
    web = await EchoUpstream.start();
    authz = new Server();
    const bytes = (value: Buffer): Buffer => value;
    authz.addService(
      { Check: { path: '/envoy.service.auth.v3.Authorization/Check', requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes } },
      {
        Check: (call: ServerUnaryCall<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => {
          const check = readCheckRequest(call.request);
          checks.push(check);
          if (check.headers['authorization'] === 'Bearer good') answer(null, allow([['x-user', 'alice'], ['x-sneaky', 'no']]));
          else answer(null, deny(401, [['www-authenticate', 'Bearer realm="grpc"'], ['x-internal', 'hidden']], 'no entry'));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      authz.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const deadPort = await freePort();
    weft = await startWeft({
      clusters: [
        { name: 'web', endpoints: [web.address] },
        { name: 'authz', endpoints: [`127.0.0.1:${port}`] },
        { name: 'authz-dead', endpoints: [`127.0.0.1:${deadPort}`] },
      ],
      default_cluster: 'web',
      filters: [{
        name: 'auth',
        module: builtModule(join(repoRoot, 'filters', 'auth')),
        config: {
          methods: {
            checked: { type: 'ext_authz', grpc: { cluster: 'authz', timeout_ms: 2000 }, upstream_headers: ['x-user'], principal_header: 'x-user' },
            down: { type: 'ext_authz', grpc: { cluster: 'authz-dead', timeout_ms: 2000 } },
            open: { type: 'ext_authz', grpc: { cluster: 'authz-dead', timeout_ms: 2000 }, fail_open: true },
          },
          rules: [
            { prefix: '/down/', methods: ['down'] },
            { prefix: '/open/', methods: ['open'] },
          ],
          default: { methods: ['checked'] },
        },
      }],
    });
  });
  after(async () => {
    await weft?.stop();
    await web?.stop();
    authz?.forceShutdown();
  });

  it('describes the request in the CheckRequest and lets it through on OK, with the headers it is told to take', async () => {
    const response = await request(`${weft.url}/orders?id=3`, { headers: { authorization: 'Bearer good' } });
    assert.equal(response.status, 200);
    const echoed = JSON.parse(response.body);
    assert.equal(echoed.headers['x-user'], 'alice');
    assert.equal(echoed.headers['x-sneaky'], undefined, 'only upstream_headers are taken from ok_response');
    const check = checks.at(-1)!;
    assert.equal(check.method, 'GET');
    assert.equal(check.path, '/orders?id=3');
    assert.match(check.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(check.headers['authorization'], 'Bearer good');
  });

  it('answers a denial with denied_response status, client headers and body', async () => {
    const before = web.requests.length;
    const response = await request(`${weft.url}/orders`, { headers: { authorization: 'Bearer bad' } });
    assert.equal(response.status, 401);
    assert.equal(response.body, 'no entry');
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="grpc"');
    assert.equal(response.headers['x-internal'], undefined, 'only client_headers pass');
    assert.equal(web.requests.length, before);
  });

  it('fails closed with 503 when the service is down', async () => {
    const response = await request(`${weft.url}/down/x`);
    assert.equal(response.status, 503);
    assert.equal(response.body, 'authorization service unavailable\n');
  });

  it('lets the request through when the service is down and fail_open is set', async () => {
    const response = await request(`${weft.url}/open/x`);
    assert.equal(response.status, 200);
  });
});
