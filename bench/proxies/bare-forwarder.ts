// The floor of Weft's own stack: hyper-express in, undici `Pool.request` out, the response
// body streamed back with `res.stream`. Nothing else: no filters, no logging, no metrics.
// Written the straightforward way, plus the two things a naive version gets wrong:
// HEAD (and other body-less answers) must not wait on `res.stream`, and the request body
// goes to undici through a plain stream that the Request pipes into, not as the
// hyper-express Request object (which only looks like a Readable).
// usage: node dist/bench/proxies/bare-forwarder.js PORT UPSTREAM_HOST:PORT
import { Server, type Request, type Response } from 'hyper-express';
import { PassThrough } from 'node:stream';
import { Pool } from 'undici';
import { parseProxyArgs, announceListening } from './proxy-args.js';

const { port, upstream } = parseProxyArgs('bare-forwarder');
const pool = new Pool(`http://${upstream}`, { connections: 128, pipelining: 1 });

/** Headers that describe one hop, not the message; undici refuses some of them outright. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

const server = new Server({ max_body_length: 16 * 1024 * 1024 });

server.any('/*', async (req: Request, res: Response) => {
  const headers: Record<string, string> = {};
  for (const name in req.headers) {
    if (!hopByHop.has(name)) headers[name] = req.headers[name]!;
  }
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  let body: PassThrough | null = null;
  if (hasBody) {
    body = new PassThrough();
    req.pipe(body); // returns hyper-express's inner stream, not `body`: keep our own reference
  }
  try {
    const upstreamRes = await pool.request({
      method: req.method as 'GET',
      path: req.url,
      headers,
      body,
    });
    res.status(upstreamRes.statusCode);
    for (const name in upstreamRes.headers) {
      if (name === 'content-length' || hopByHop.has(name)) continue;
      const value = upstreamRes.headers[name];
      if (value !== undefined) res.header(name, value);
    }
    const length = upstreamRes.headers['content-length'];
    const bodyless = req.method === 'HEAD' || upstreamRes.statusCode === 204 || upstreamRes.statusCode === 304;
    if (bodyless) {
      await upstreamRes.body.dump();
      if (typeof length === 'string') res.header('content-length', length);
      res.send();
    } else if (typeof length === 'string') {
      await res.stream(upstreamRes.body, Number(length));
    } else {
      await res.stream(upstreamRes.body); // chunked
    }
  } catch (error) {
    if (!res.completed) res.status(502).send(`bad gateway: ${(error as Error).message}\n`);
  }
});

await server.listen(port, '127.0.0.1');
announceListening(port);
