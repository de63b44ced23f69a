// The upstream HTTP/1.1 response parser (host/proxy/h1-response-parser.ts), fed real response
// bytes whole and split at every byte: the same head, body and end either way, and the
// malformed responses refused rather than read one way or another.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseParseError, ResponseParser, type RawFields } from '../host/proxy/h1-response-parser.js';

interface Parsed {
  status: number;
  headers: string[];
  body: string;
  trailers: string[];
  completed: number;
  keepAlive: boolean;
  keepAliveHintMs: number;
}

const text = (fields: RawFields) => fields.map((f) => f.toString('latin1'));

/** Parses `wire` fed in pieces cut at `cuts`; `method` is the request's. */
function parse(wire: string | Buffer, cuts: number[] = [], method = 'GET', maxHead = 16 * 1024): Parsed {
  const bytes = typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire;
  const out: Parsed = { status: 0, headers: [], body: '', trailers: [], completed: 0, keepAlive: true, keepAliveHintMs: 0 };
  const parser = new ResponseParser(
    {
      onHead: (status, raw) => {
        out.status = status;
        out.headers = text(raw);
      },
      onBody: (chunk) => {
        out.body += chunk.toString('latin1');
        return true;
      },
      onComplete: (trailers) => {
        out.completed++;
        out.trailers = text(trailers);
      },
    },
    maxHead,
  );
  parser.expect(method);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.execute(bytes.subarray(from, cut));
    from = cut;
  }
  out.keepAlive = parser.keepAlive;
  out.keepAliveHintMs = parser.keepAliveHintMs;
  return out;
}

/** Parses `wire` whole, then split in two at every byte, then byte by byte: all must agree. */
function parseEverySplit(wire: string, method = 'GET'): Parsed {
  const whole = parse(wire, [], method);
  for (let cut = 1; cut < wire.length; cut++) assert.deepEqual(parse(wire, [cut], method), whole, `split at ${cut}`);
  assert.deepEqual(
    parse(wire, Array.from({ length: wire.length - 1 }, (_, i) => i + 1), method),
    whole,
    'byte by byte',
  );
  return whole;
}

describe('upstream response parser', () => {
  it('reads a Content-Length response the same however the bytes arrive', () => {
    const parsed = parseEverySplit('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nX-Tab:\t a b \t\r\n\r\nhello world');
    assert.deepEqual(parsed, {
      status: 200,
      headers: ['Content-Type', 'text/plain', 'Content-Length', '11', 'X-Tab', 'a b'],
      body: 'hello world',
      trailers: [],
      completed: 1,
      keepAlive: true,
      keepAliveHintMs: 0,
    });
  });

  it('reads a chunked body with extensions and trailers the same however the bytes arrive', () => {
    const parsed = parseEverySplit('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA \r\nworld12345\r\n0\r\nGrpc-Status: 0\r\nX-Sum: abc\r\n\r\n');
    assert.equal(parsed.body, 'hello world12345');
    assert.deepEqual(parsed.trailers, ['Grpc-Status', '0', 'X-Sum', 'abc']);
    assert.equal(parsed.completed, 1);
    assert.equal(parsed.keepAlive, true);
  });

  it('ends a chunked body without trailers at its last chunk', () => {
    const parsed = parseEverySplit('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.equal(parsed.body, 'abc');
    assert.deepEqual(parsed.trailers, []);
    assert.equal(parsed.completed, 1);
  });

  it('skips 1xx heads and reads the final response', () => {
    const parsed = parseEverySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    assert.equal(parsed.status, 201);
    assert.deepEqual(parsed.headers, ['Content-Length', '2']);
    assert.equal(parsed.body, 'ok');
  });

  it('gives no body to HEAD, 204 and 304, whatever their headers say', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n', [], 'HEAD').completed, 1);
    assert.deepEqual(parse('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n').completed, 1);
    assert.deepEqual(parse('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n').completed, 1);
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').completed, 1);
  });

  it('reads a body without framing until the connection closes, and does not reuse it', () => {
    const events: string[] = [];
    const parser = new ResponseParser(
      { onHead: (status) => events.push(`head ${status}`), onBody: (chunk) => (events.push(`body ${chunk}`), true), onComplete: () => events.push('complete') },
      16384,
    );
    parser.expect('GET');
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nsome'));
    parser.execute(Buffer.from(' more'));
    assert.equal(parser.keepAlive, false);
    assert.equal(parser.close(), true);
    assert.deepEqual(events, ['head 200', 'body some', 'body  more', 'complete']);
    // A Content-Length body cut short by the close is not complete.
    parser.expect('GET');
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    assert.equal(parser.close(), false);
  });

  it('reads the connection headers: close, HTTP/1.0, and the Keep-Alive timeout hint', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').keepAlive, true);
    const hinted = parse('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n');
    assert.equal(hinted.keepAlive, true);
    assert.equal(hinted.keepAliveHintMs, 5000);
  });

  it('reads a message with both Content-Length and Transfer-Encoding by the chunks, and drops the connection after', () => {
    const parsed = parse('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.equal(parsed.body, 'hello');
    assert.equal(parsed.keepAlive, false);
  });

  it('keeps the bytes of header values over 0x7f as bytes, for the reader to decode', () => {
    const wire = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nX-Name: '), Buffer.from('Zoë', 'utf8'), Buffer.from('\r\nContent-Length: 0\r\n\r\n')]);
    let raw: RawFields = [];
    const parser = new ResponseParser({ onHead: (_, fields) => (raw = fields), onBody: () => true, onComplete: () => {} }, 16384);
    parser.expect('GET');
    parser.execute(wire);
    assert.ok(Buffer.isBuffer(raw[1]));
    assert.equal(raw[1]!.toString('utf8'), 'Zoë');
    // The whole section's values are bytes then; names stay strings.
    assert.equal(raw[2], 'Content-Length');
    assert.equal(raw[3]!.toString('latin1'), '0');
  });

  it('holds everything after a paused body chunk, the end included, until resume', () => {
    const events: string[] = [];
    let more = false;
    const parser = new ResponseParser(
      { onHead: () => events.push('head'), onBody: (chunk) => (events.push(`body ${chunk}`), more), onComplete: () => events.push('complete') },
      16384,
    );
    parser.expect('GET');
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n'));
    assert.deepEqual(events, ['head', 'body ab']);
    assert.equal(parser.isPaused, true);
    more = true;
    parser.resume();
    assert.deepEqual(events, ['head', 'body ab', 'body cd', 'complete']);

    // The last byte of a Content-Length body to a paused reader: the end waits for resume too.
    events.length = 0;
    more = false;
    parser.expect('GET');
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nef'));
    assert.deepEqual(events, ['head', 'body ef']);
    assert.equal(parser.close(), true, 'the body was all there: the close does not cut it');
    parser.resume();
    assert.deepEqual(events, ['head', 'body ef', 'complete']);
  });

  it('refuses what could be read more than one way', () => {
    const refused: Array<[string, RegExp]> = [
      ['HTTP/1.1 20 OK\r\n\r\n', /bad status line/],
      ['HTTP/2 200 OK\r\n\r\n', /bad status line/],
      ['HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n', /obsolete line folding/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /without a name/],
      ['HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', /bad header name/],
      ['HTTP/1.1 200 OK\r\nX-A: a\u0001b\r\n\r\n', /bad value of header X-A/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', /bad content-length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad content-length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n', /bad content-length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n', /bad chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY', /not followed by CRLF/],
      ['HTTP/1.1 101 Switching Protocols\r\n\r\n', /101/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab', /after the end of the response/],
    ];
    for (const [wire, message] of refused) {
      assert.throws(() => parse(wire), (error: unknown) => error instanceof ResponseParseError && message.test(error.message), wire);
    }
  });

  it('refuses a head larger than its limit, even before it ends', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`;
    assert.throws(() => parse(big, [], 'GET', 1024), /response head over 1024 bytes/);
    assert.throws(() => parse(big.slice(0, 1500), [], 'GET', 1024), /response head over 1024 bytes/);
    assert.equal(parse(big, [], 'GET', 4096).status, 200);
  });
});
