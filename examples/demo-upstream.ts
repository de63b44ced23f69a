// A demo service for the quickstart and examples: answers every request with a JSON echo of what
// it received (method, path, headers, body length), tagged with its own name.

import { createServer, type Server } from 'node:http';

export function startDemoUpstream(name: string, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({ service: name, method: req.method, path: req.url, headers: req.headers, body_bytes: bytes }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': name });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
