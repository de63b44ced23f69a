// The HTTP/1.1 upstream client (host/proxy/h1-upstream.ts) against real TCP servers on
// loopback that answer with exact bytes: connection reuse and its limits, what goes on the
// wire, and every way a connection or a request can fail.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { buildConnector, type Dispatcher } from 'undici';
import { Http1Upstream } from '../host/proxy/h1-upstream.js';

interface Answer {
  status: number;
  headers: string[];
  body: string;
  trailers: string[];
}

/** A server that hands every request's bytes to `respond`, and counts its connections. */
async function rawServer(respond: (socket: Socket, request: string) => void): Promise<{ server: Server; port: number; connections: () => number; requests: string[] }> {
  let connections = 0;
  const requests: string[] = [];
  const server = createServer((socket) => {
    connections++;
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      // One request per head, plus its body when it says how long it is (or is chunked).
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.slice(0, end + 4);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        let total = end + 4 + length;
        if (/transfer-encoding: chunked/i.test(head)) {
          const last = pending.indexOf('0\r\n\r\n', end + 4);
          if (last < 0) return;
          total = last + 5;
        }
        if (pending.length < total) return;
        const request = pending.slice(0, total);
        pending = pending.slice(total);
        requests.push(request);
        respond(socket, request);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, connections: () => connections, requests };
}

function upstream(port: number, options: Partial<ConstructorParameters<typeof Http1Upstream>[0]> = {}): Http1Upstream {
  return new Http1Upstream({
    connector: buildConnector({ timeout: 2000 }),
    host: '127.0.0.1',
    port,
    tls: false,
    maxConnections: 8,
    idleTimeoutMs: 30_000,
    headersTimeoutMs: 0,
    bodyTimeoutMs: 0,
    maxHeadBytes: 16 * 1024,
    ...options,
  });
}

/** Sends one request through `pool`; resolves with the answer or rejects with the error the handler got. */
function send(pool: Http1Upstream, options: Partial<Dispatcher.DispatchOptions> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const answer: Answer = { status: 0, headers: [], body: '', trailers: [] };
    pool.dispatch({ method: 'GET', path: '/', headers: ['host', 'test'], ...options } as Dispatcher.DispatchOptions, {
      onConnect: () => {},
      onHeaders: (status, raw) => {
        answer.status = status;
        answer.headers = raw.map((f) => f.toString('latin1'));
        return true;
      },
      onData: (chunk) => {
        answer.body += chunk.toString('latin1');
        return true;
      },
      onComplete: (trailers) => {
        answer.trailers = (trailers ?? []).map((f) => f.toString());
        resolve(answer);
      },
      onError: reject,
    });
  });
}

/** Sends a request that `onConnect` aborts; resolves with the error the handler got. */
function aborted(pool: Http1Upstream, path: string, onConnect: (abort: (reason?: Error) => void) => void): Promise<Error> {
  return new Promise((resolve) => {
    pool.dispatch({ method: 'GET', path, headers: ['host', 't'] }, {
      onConnect,
      onHeaders: () => true,
      onData: () => true,
      onComplete: () => resolve(new Error('completed')),
      onError: resolve,
    });
  });
}

const ok = (body = 'ok', extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe('HTTP/1.1 upstream client', () => {
  const closers: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });
  async function serve(respond: (socket: Socket, request: string) => void) {
    const made = await rawServer(respond);
    closers.push(() => new Promise((resolve) => made.server.close(resolve)));
    return made;
  }
  function pool(port: number, options?: Parameters<typeof upstream>[1]) {
    const made = upstream(port, options);
    closers.push(() => made.destroy());
    return made;
  }

  it('writes the request as it is asked, and reuses one connection for requests in turn', async () => {
    const server = await serve((socket) => socket.write(ok('hi', 'X-Reply: 1\r\n')));
    const client = pool(server.port);
    for (let i = 0; i < 3; i++) {
      const answer = await send(client, { path: `/a?i=${i}`, headers: ['host', 'up.example', 'x-one', 'A b'] });
      assert.deepEqual(answer, { status: 200, headers: ['Content-Length', '2', 'X-Reply', '1'], body: 'hi', trailers: [] });
    }
    assert.equal(server.connections(), 1);
    assert.equal(server.requests[0], 'GET /a?i=0 HTTP/1.1\r\nhost: up.example\r\nx-one: A b\r\nconnection: keep-alive\r\n\r\n');
  });

  it('says content-length: 0 for a POST without a body, and frames a streamed body by its length or in chunks', async () => {
    const server = await serve((socket) => socket.write(ok()));
    const client = pool(server.port);
    await send(client, { method: 'POST' });
    assert.match(server.requests[0]!, /^POST \/ HTTP\/1\.1\r\n[^]*content-length: 0\r\n\r\n$/);
    // One the request already has is not said twice (an upstream would refuse the request).
    await send(client, { method: 'POST', headers: ['host', 't', 'content-length', '0'] });
    assert.equal(server.requests[1]!.match(/content-length/g)!.length, 1);
    server.requests.splice(1, 1);
    await send(client, { method: 'PUT', headers: ['host', 't', 'content-length', '6'], body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) });
    assert.match(server.requests[1]!, /content-length: 6\r\n[^]*\r\n\r\nabcdef$/);
    await send(client, { method: 'POST', body: Readable.from([Buffer.from('hello'), Buffer.from(' world!')]) });
    assert.match(server.requests[2]!, /transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n$/);
    await send(client, { method: 'POST', body: Buffer.from('bytes') });
    assert.match(server.requests[3]!, /content-length: 5\r\n\r\nbytes$/);
    assert.equal(server.connections(), 1);
  });

  it('passes a chunked response and its trailers on', async () => {
    const server = await serve((socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: 9\r\n\r\n'));
    const answer = await send(pool(server.port));
    assert.equal(answer.body, 'abc');
    assert.deepEqual(answer.trailers, ['x-checksum', '9']);
  });

  it('opens no more connections than allowed; the requests past them wait (stats.pending)', async () => {
    const sockets: Socket[] = [];
    const server = await serve((socket) => sockets.push(socket));
    const client = pool(server.port, { maxConnections: 2 });
    const answers = Array.from({ length: 5 }, () => send(client));
    while (server.requests.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(server.connections(), 2);
    assert.equal(client.stats.pending, 3);
    // Each answer frees its connection for the next waiting request.
    while (server.requests.length < 5 || sockets.length > 0) {
      sockets.shift()?.write(ok());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal((await Promise.all(answers)).length, 5);
    assert.equal(server.connections(), 2);
    assert.equal(client.stats.pending, 0);
  });

  it('takes a connection the upstream closed while idle out of use, and sends on a new one', async () => {
    // Answers, then closes the connection without saying so in the response.
    const server = await serve((socket) => socket.end(ok()));
    const client = pool(server.port);
    await send(client);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await send(client)).status, 200);
    assert.equal(server.connections(), 2);
  });

  it('does not reuse a connection the upstream will close soon (Keep-Alive: timeout=2), nor one it asked to close', async () => {
    const hinted = await serve((socket) => socket.write(ok('ok', 'Keep-Alive: timeout=2\r\n')));
    const client = pool(hinted.port);
    await send(client);
    await send(client);
    assert.equal(hinted.connections(), 2);
    const closing = await serve((socket) => socket.write(ok('ok', 'Connection: close\r\n')));
    const other = pool(closing.port);
    await send(other);
    await send(other);
    assert.equal(closing.connections(), 2);
    // A hint of 5 s leaves 3 s of reuse.
    const longer = await serve((socket) => socket.write(ok('ok', 'Keep-Alive: timeout=5\r\n')));
    const third = pool(longer.port);
    await send(third);
    await send(third);
    assert.equal(longer.connections(), 1);
  });

  it('closes an idle connection after idleTimeoutMs', async () => {
    const server = await serve((socket) => socket.write(ok()));
    const client = pool(server.port, { idleTimeoutMs: 100 });
    await send(client);
    await new Promise((resolve) => setTimeout(resolve, 1300)); // past the sweep (every second)
    await send(client);
    assert.equal(server.connections(), 2);
  });

  it('reports a refused connect, a reset mid-body and a malformed answer as errors with undici codes', async () => {
    const closed = await serve(() => {});
    const port = closed.port;
    await new Promise((resolve) => closed.server.close(resolve));
    await assert.rejects(send(pool(port)), { code: 'ECONNREFUSED' });

    const cut = await serve((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      setTimeout(() => socket.destroy(), 20);
    });
    await assert.rejects(send(pool(cut.port)), { code: 'UND_ERR_SOCKET', message: 'other side closed' });

    const garbled = await serve((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'));
    await assert.rejects(send(pool(garbled.port)), { code: 'WEFT_UPSTREAM_BAD_RESPONSE', message: /bad content-length/ });
  });

  it('refuses a header it cannot send without writing anything, and keeps the connection for the next request', async () => {
    const server = await serve((socket) => socket.write(ok()));
    const client = pool(server.port);
    await send(client);
    await assert.rejects(send(client, { headers: ['host', 't', 'x-evil', 'a\r\nx-injected: 1'] }), { code: 'UND_ERR_INVALID_ARG' });
    await assert.rejects(send(client, { path: '/a b' }), { code: 'UND_ERR_INVALID_ARG' });
    await assert.rejects(send(client, { method: 'G T' }), { code: 'UND_ERR_INVALID_ARG' });
    assert.equal((await send(client)).status, 200);
    assert.equal(server.requests.length, 2);
    assert.equal(server.connections(), 1);
  });

  it('answers abort() at once with onError, and the next request gets a fresh connection', async () => {
    const server = await serve((socket, request) => {
      if (request.startsWith('GET /slow')) return; // never answers
      socket.write(ok());
    });
    const client = pool(server.port);
    const error = await aborted(client, '/slow', (abort) => setTimeout(() => abort(new Error('gave up')), 20));
    assert.equal(error.message, 'gave up');
    assert.equal((await send(client)).status, 200);
    assert.equal(server.connections(), 2);
  });

  it('keeps the connection when a request is aborted before anything of it was written', async () => {
    const server = await serve((socket) => socket.write(ok()));
    const client = pool(server.port);
    await send(client);
    const error = await aborted(client, '/', (abort) => abort(new Error('abandoned')));
    assert.equal(error.message, 'abandoned');
    assert.equal((await send(client)).status, 200);
    assert.equal(server.requests.length, 2);
    assert.equal(server.connections(), 1);

    // A new connection whose first request was abandoned is idle from its start, not from the
    // process's (performance.now() counts from there): it is reused well within its idle time.
    while (performance.now() < 1000) await new Promise((resolve) => setTimeout(resolve, 50));
    const fresh = pool(server.port, { idleTimeoutMs: 500 });
    await aborted(fresh, '/', (abort) => abort(new Error('abandoned')));
    assert.equal((await send(fresh)).status, 200);
    assert.equal(server.connections(), 2);
  });

  it('stops reading while the handler is paused, ends the response only on resume, and reads the next response after', async () => {
    const server = await serve((socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n'));
    const client = pool(server.port);
    const events: string[] = [];
    let resume: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      client.dispatch({ method: 'GET', path: '/', headers: ['host', 't'] }, {
        onConnect: () => {},
        onHeaders: (_status, _raw, resumeReading) => {
          resume = resumeReading;
          return true;
        },
        onData: (chunk) => {
          events.push(chunk.toString());
          return false;
        },
        onComplete: () => {
          events.push('complete');
          resolve();
        },
        onError: (error) => events.push(`error ${error.message}`),
      });
    });
    while (events.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(events, ['ab']);
    resume();
    assert.deepEqual(events, ['ab', 'cd']);
    resume();
    await done;
    assert.deepEqual(events, ['ab', 'cd', 'complete']);
    assert.equal((await send(client)).body, 'abcd');
    assert.equal(server.connections(), 1);
  });

  it('ends a connection whose answer came before the request body was all sent', async () => {
    const server = await serve(() => {});
    // Answers at the first bytes of the request, before its body ends.
    server.server.removeAllListeners('connection');
    let connections = 0;
    server.server.on('connection', (socket: Socket) => {
      connections++;
      socket.once('data', () => socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n'));
      socket.on('error', () => {});
    });
    const client = pool(server.port);
    const body = new Readable({ read() {} });
    body.push('first part');
    assert.equal((await send(client, { method: 'POST', body })).status, 413);
    body.push('late part');
    body.push(null);
    // The next request must not go behind the unfinished upload: it gets a connection of its own.
    assert.equal((await send(client)).status, 413);
    assert.equal(connections, 2);
  });

  it('bounds http_call-style requests by headersTimeoutMs', async () => {
    const server = await serve(() => {});
    await assert.rejects(send(pool(server.port, { headersTimeoutMs: 50 })), { code: 'UND_ERR_HEADERS_TIMEOUT' });
  });

  it('close() lets the requests in flight finish, then resolves; later requests are refused', async () => {
    const sockets: Socket[] = [];
    const server = await serve((socket) => sockets.push(socket));
    const client = pool(server.port);
    const answer = send(client);
    while (sockets.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    let closed = false;
    const closing = client.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(closed, false);
    sockets[0]!.write(ok());
    assert.equal((await answer).status, 200);
    await closing;
    await assert.rejects(send(client), { code: 'UND_ERR_CLOSED' });
  });
});
