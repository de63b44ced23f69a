// A service of the mesh demo (examples/mesh/run.sh):
//
//   node dist/examples/mesh/service.js NAME VERSION PORT [CALLS OUTBOUND_PORT]
//
// It answers every request with JSON: its name and version, the `traceparent` it received, and,
// when it CALLS another service, that service's answer. It calls by name through its own
// sidecar's outbound listener (Host: <name>; the sidecars find the instances), and passes the
// trace context on, as any traced service does.

import { createServer, request, type IncomingMessage } from 'node:http';

const [name, version, port, calls, outboundPort] = process.argv.slice(2);
if (name === undefined || version === undefined || port === undefined || (calls !== undefined && outboundPort === undefined)) {
  console.error('usage: service.js NAME VERSION PORT [CALLS OUTBOUND_PORT]');
  process.exit(2);
}

/** GET `path` from service `service` through the local sidecar; its JSON answer, or what went wrong. */
function callThroughSidecar(service: string, path: string, traceparent: string | undefined): Promise<unknown> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { host: service };
    if (traceparent !== undefined) headers.traceparent = traceparent;
    const req = request({ host: '127.0.0.1', port: Number(outboundPort), path, headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve({ status: res.statusCode, body });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ error: error.message }));
    req.end();
  });
}

const server = createServer((req: IncomingMessage, res) => {
  req.resume();
  req.on('end', async () => {
    const traceparent = req.headers.traceparent as string | undefined;
    const answer: Record<string, unknown> = { service: name, version, traceparent: traceparent ?? null };
    if (calls !== undefined) answer.called = await callThroughSidecar(calls, req.url ?? '/', traceparent);
    const body = `${JSON.stringify(answer, null, 2)}\n`;
    res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': `${name}-${version}` });
    res.end(body);
  });
});
server.listen(Number(port), '127.0.0.1', () => console.log(`${name} ${version} listening on 127.0.0.1:${port}${calls === undefined ? '' : `, calling ${calls} through 127.0.0.1:${outboundPort}`}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
