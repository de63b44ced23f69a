// The configurations compared in every round, in the order of the issue.
import path from 'node:path';
import { repoRoot } from './options.js';
import { proxyNginx } from './nginx.js';
import { spawnPinned, waitForPort, type Pinned } from './processes.js';
import { loadUws } from '../host/proxy/uws-loader.js';
import { startWeft } from './weft.js';

export interface StartContext {
  /** This configuration's own folder inside the run's temp folder. */
  folder: string;
  port: number;
  adminPort: number;
  upstreamPort: number;
  core: number;
}

export interface Configuration {
  id: string;
  description: string;
  /**
   * Starts the proxy under test; the returned process tree is what gets measured.
   * Absent for the upstream measured directly.
   */
  start?: (ctx: StartContext) => Promise<Pinned>;
  /** Set while the configuration cannot run yet: what it waits for. It is reported, not run. */
  pending?: string;
  /** Serves h2c only (prior knowledge): it runs the h2c scenarios, and only those. */
  h2c?: boolean;
}

function referenceProxy(script: string): (ctx: StartContext) => Promise<Pinned> {
  return async (ctx) => {
    const file = path.join(repoRoot, 'dist', 'bench', 'proxies', `${script}.js`);
    const proc = spawnPinned(script, ctx.core, process.execPath, [file, String(ctx.port), `127.0.0.1:${ctx.upstreamPort}`], path.join(ctx.folder, 'proxy.log'));
    await waitForPort(proc, ctx.port);
    return proc;
  };
}

function weft(id: string, filters: number | 'quickstart', options: { engine?: 'node'; workers?: number; h2c?: boolean } = {}): (ctx: StartContext) => Promise<Pinned> {
  return (ctx) => startWeft({ name: id, filters, ...options, ...ctx });
}

/** The uWS floor needs a uWS binary that loads here; without one it is reported, not run. */
const uws = loadUws();

export const configurations: Configuration[] = [
  { id: 'direct', description: 'wrk straight to the upstream: no proxy, so no proxy CPU; the reference for req/s and latency' },
  {
    id: 'nginx',
    description: 'nginx reverse proxy, 1 worker, upstream keep-alive (bench/templates/nginx-proxy.conf)',
    start: (ctx) => proxyNginx(ctx.folder, ctx.port, ctx.upstreamPort, ctx.core),
  },
  {
    id: 'bare-forwarder',
    description: 'uWebSockets.js + undici Pool.request, body streamed with back-pressure, nothing else (bench/proxies/bare-forwarder.ts)',
    start: referenceProxy('bare-forwarder'),
    ...(uws.ok ? {} : { pending: `a uWebSockets.js binary that loads here (${uws.reason})` }),
  },
  {
    id: 'nginx-h2c',
    description: 'nginx reverse proxy as above, its listener h2c (listen ... http2), HTTP/1.1 to the upstream',
    start: (ctx) => proxyNginx(ctx.folder, ctx.port, ctx.upstreamPort, ctx.core, { h2c: true }),
    h2c: true,
  },
  {
    id: 'fastify-http-proxy',
    description: 'fastify + @fastify/http-proxy, defaults (bench/proxies/fastify-http-proxy.ts)',
    start: referenceProxy('fastify-http-proxy'),
  },
  {
    id: 'node-http-proxy',
    description: 'node http server + http-proxy with a keep-alive agent (bench/proxies/node-http-proxy.ts)',
    start: referenceProxy('node-http-proxy'),
  },
  { id: 'weft-empty', description: `Weft, empty filter chain, listen.engine auto (here: ${uws.ok ? `uWebSockets.js, ${uws.build}` : 'node:http'})`, start: weft('weft-empty', 0) },
  { id: 'weft-empty-node', description: 'Weft, empty filter chain, listen.engine: node (the node:http fallback)', start: weft('weft-empty-node', 0, { engine: 'node' }) },
  {
    id: 'weft-workers-2',
    description: 'Weft, empty filter chain, workers: 2 (two worker threads sharing the port with SO_REUSEPORT), on the same one core as every proxy here',
    start: weft('weft-workers-2', 0, { workers: 2 }),
  },
  { id: 'weft-noop1', description: 'Weft, 1 no-op filter (test/filters/noop)', start: weft('weft-noop1', 1) },
  { id: 'weft-noop5', description: 'Weft, 5 no-op filters', start: weft('weft-noop5', 5) },
  {
    id: 'weft-quickstart',
    description: 'Weft, the quickstart chain: router → auth → ratelimit → breaker → lb → telemetry (bench/weft.ts)',
    start: weft('weft-quickstart', 'quickstart'),
  },
  {
    id: 'weft-empty-h2c',
    description: 'Weft, empty filter chain, listen.protocols [h2] (h2c on node:http2), HTTP/1.1 to the upstream',
    start: weft('weft-empty-h2c', 0, { h2c: true }),
    h2c: true,
  },
  {
    id: 'weft-quickstart-h2c',
    description: 'Weft, the quickstart chain, listen.protocols [h2] (h2c on node:http2), HTTP/1.1 to the upstream',
    start: weft('weft-quickstart-h2c', 'quickstart', { h2c: true }),
    h2c: true,
  },
  {
    id: 'weft-quickstart-workers-2',
    description: 'Weft, the quickstart chain with workers: 2 on the one proxy core: what the threads cost a chain whose filters share state (shared data)',
    start: weft('weft-quickstart-workers-2', 'quickstart', { workers: 2 }),
  },
];
