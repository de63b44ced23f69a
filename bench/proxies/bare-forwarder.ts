// The floor of Weft's own fast path: uWebSockets.js in (the build Weft's loader picks), undici
// `Pool.request` out, the response body streamed back with back-pressure. Nothing else: no
// filters, no logging, no metrics. Written the straightforward way, plus what a naive version
// gets wrong: HEAD (and other body-less answers) must not wait for a body, uWS reuses a request
// chunk's memory once its callback returns (so chunks are copied), and a response must not be
// touched after the client went away.
// usage: node dist/bench/proxies/bare-forwarder.js PORT UPSTREAM_HOST:PORT
import { STATUS_CODES } from 'node:http';
import { PassThrough } from 'node:stream';
import { Pool } from 'undici';
import type { HttpResponse } from 'uws-20.57';
import { loadUws } from '../../host/proxy/uws-loader.js';
import { parseProxyArgs, announceListening } from './proxy-args.js';

const { port, upstream } = parseProxyArgs('bare-forwarder');
const load = loadUws();
if (!load.ok) {
  console.error(`bare-forwarder: no uWebSockets.js build loads here (${load.reason})`);
  process.exit(1);
}
const pool = new Pool(`http://${upstream}`, { connections: 128, pipelining: 1 });

/** Headers that describe one hop, not the message; undici refuses some of them outright. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

/** Resolves when uWS can take more; `retry` gets the write offset and says whether it fit. */
function writable(res: HttpResponse, retry: (offset: number) => boolean): Promise<void> {
  return new Promise((resolve) => {
    res.onWritable((offset) => {
      const ok = retry(offset);
      if (ok) resolve();
      return ok;
    });
  });
}

async function streamBody(res: HttpResponse, body: AsyncIterable<Buffer>, total: number | undefined, gone: () => boolean): Promise<void> {
  for await (const chunk of body) {
    if (gone()) return;
    if (total === undefined) {
      let ok = false;
      res.cork(() => (ok = res.write(chunk)));
      if (!ok) await writable(res, () => true);
      continue;
    }
    const start = res.getWriteOffset();
    let ok = false;
    res.cork(() => ([ok] = res.tryEnd(chunk, total)));
    if (!ok) await writable(res, (offset) => !gone() && res.tryEnd(chunk.subarray(offset - start), total)[0]);
  }
  if (total === undefined && !gone()) res.cork(() => res.end());
}

load.uws
  .App()
  .any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    const query = req.getQuery();
    const path = query ? `${req.getUrl()}?${query}` : req.getUrl();
    const headers: Record<string, string> = {};
    req.forEach((name, value) => {
      if (!hopByHop.has(name)) headers[name] = value;
    });
    let aborted = false;
    res.onAborted(() => (aborted = true));
    let body: PassThrough | null = null;
    if ((headers['content-length'] !== undefined && headers['content-length'] !== '0') || req.getHeader('transfer-encoding') !== '') {
      const sink = (body = new PassThrough());
      res.onData((chunk, isLast) => {
        sink.write(Buffer.from(chunk.slice(0)));
        if (isLast) sink.end();
      });
    }
    pool.request({ method: method as 'GET', path, headers, body }).then(
      async (answer) => {
        // A body cut short (the client went away, or the upstream did) ends the exchange, not the process.
        answer.body.on('error', () => {});
        if (aborted) return answer.body.destroy();
        const length = answer.headers['content-length'];
        const bodyless = method === 'HEAD' || answer.statusCode === 204 || answer.statusCode === 304;
        res.cork(() => {
          res.writeStatus(`${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}`);
          for (const name in answer.headers) {
            if (name === 'content-length' || hopByHop.has(name)) continue;
            const value = answer.headers[name];
            for (const one of Array.isArray(value) ? value : [value]) if (one !== undefined) res.writeHeader(name, one);
          }
          if (bodyless) res.endWithoutBody(typeof length === 'string' ? Number(length) : undefined);
        });
        if (bodyless) return answer.body.dump();
        await streamBody(res, answer.body, typeof length === 'string' ? Number(length) : undefined, () => aborted);
        if (aborted) answer.body.destroy();
      },
      (error: Error) => {
        if (!aborted) res.cork(() => res.writeStatus('502 Bad Gateway').end(`bad gateway: ${error.message}\n`));
      },
    ).catch(() => {
      if (!aborted) res.close(); // the upstream body failed after the head went out
    });
  })
  .listen('127.0.0.1', port, (socket) => {
    if (!socket) {
      console.error(`bare-forwarder: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    announceListening(port);
  });
