// What a Node user picks instead, take one: fastify with @fastify/http-proxy (undici
// underneath, through @fastify/reply-from), configured as its README shows.
// usage: node dist/bench/proxies/fastify-http-proxy.js PORT UPSTREAM_HOST:PORT
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { parseProxyArgs, announceListening } from './proxy-args.js';

const { port, upstream } = parseProxyArgs('fastify-http-proxy');
const app = Fastify({ logger: false });
await app.register(httpProxy, { upstream: `http://${upstream}` });
await app.listen({ port, host: '127.0.0.1' });
announceListening(port);
