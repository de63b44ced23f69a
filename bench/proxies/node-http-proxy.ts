// What a Node user picks instead, take two: node's http server with http-proxy
// (node-http-proxy), its upstream connections kept alive by an http.Agent.
// usage: node dist/bench/proxies/node-http-proxy.js PORT UPSTREAM_HOST:PORT
import http from 'node:http';
import httpProxy from 'http-proxy';
import { parseProxyArgs, announceListening } from './proxy-args.js';

const { port, upstream } = parseProxyArgs('node-http-proxy');
const proxy = httpProxy.createProxyServer({
  target: `http://${upstream}`,
  agent: new http.Agent({ keepAlive: true, maxSockets: 128 }),
  xfwd: true,
});
proxy.on('error', (error, _req, res) => {
  // res is a ServerResponse for HTTP requests (a Socket only for WebSocket upgrades).
  if (res instanceof http.ServerResponse && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' }).end(`bad gateway: ${error.message}\n`);
  }
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 300_000;
server.listen(port, '127.0.0.1', () => announceListening(port));
