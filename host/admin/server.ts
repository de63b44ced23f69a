// The admin HTTP server: its own node:http server on the admin address (loopback by default),
// apart from the proxy listener so admin traffic never shares the data path. Admin traffic
// needs no speed, and node's server runs wherever Node does, whatever engine the proxy
// listener got.
//
// Every request first has its Host and Origin checked (request-origin.ts: no DNS rebinding, no
// cross-site requests), then every route goes through the same wrapper: auth by the route's declared access, then the
// handler, then a reply; a thrown AdminError becomes `{error}` with its status, anything else
// a logged 500. Bodies are bounded per route (request-body.ts: a JSON 413 once the declared or
// received length passes the route's limit), so no handler ever sees an unbounded body.
//
// The permission model is the HTTP method: GET routes are `public` or `read`, every other
// method changes state and must be `write` (checked when the routes are registered), and every
// change is logged here, with the name of the token that made it, whatever the route.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertAddressFree } from '../net/address.js';
import type { AdminSpec } from '../config/schema.js';
import { AdminAuth } from './auth.js';
import type { AdminDeps } from './deps.js';
import { PathPattern } from './path-pattern.js';
import { checkDeclaredLength, readBody } from './request-body.js';
import { checkHostAndOrigin } from './request-origin.js';
import { AdminError, DEFAULT_MAX_BODY_BYTES, type AdminReply, type AdminRequest, type AdminRoute } from './route.js';
import { adminRoutes } from './routes/index.js';

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes idle keep-alive connections (busy ones end with the process). */
  close(): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';

interface Registered {
  route: AdminRoute;
  pattern: PathPattern;
}

/** What a request asks for: path without the query, the query, headers as single strings. */
interface Target {
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

export async function startAdminServer(spec: AdminSpec, deps: AdminDeps): Promise<AdminServer> {
  const auth = AdminAuth.fromSpec(spec);
  const routes = register(adminRoutes(deps, auth));

  // The port as bound (spec.port may be 0): what a Host header must name.
  let port = spec.port;
  const server = createServer((request, response) => {
    const refusal = checkHostAndOrigin(singleValues(request.headers), port, spec.allowed_hosts);
    if (refusal !== undefined) {
      if (request.method !== 'GET') deps.logger.warn({ method: request.method, path: request.url, status: refusal.status, reason: refusal.error }, 'admin change refused');
      sendError(response, refusal.status, refusal.error);
      return;
    }
    serve(routes, auth, deps, request, response).catch((error: unknown) => {
      deps.logger.error({ err: error, method: request.method, path: request.url }, 'admin request failed');
      if (!response.headersSent) sendError(response, 500, 'internal error');
      else response.destroy();
    });
  });

  try {
    await assertAddressFree(spec.host, spec.port);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(spec.port, spec.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new Error(`admin: cannot listen on ${spec.host}:${spec.port} (${error instanceof Error ? error.message : String(error)})`);
  }
  port = (server.address() as AddressInfo).port;
  return { host: spec.host, port, close: () => void server.close() };
}

/** Checks every route's access against its method and orders them most specific first. */
function register(routes: AdminRoute[]): Registered[] {
  for (const route of routes) {
    if (route.method !== 'GET' && route.access !== 'write') {
      throw new Error(`admin route ${route.method} ${route.path} changes state, so its access must be 'write', not '${route.access}'`);
    }
  }
  return routes.map((route) => ({ route, pattern: new PathPattern(route.path) })).sort((a, b) => a.pattern.compare(b.pattern));
}

async function serve(routes: Registered[], auth: AdminAuth, deps: AdminDeps, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const target = readTarget(request);
  const method = request.method ?? 'GET';
  let found: { route: AdminRoute; params: Record<string, string> } | undefined;
  for (const { route, pattern } of routes) {
    if (route.method !== method) continue;
    const params = pattern.match(target.path);
    if (params !== undefined) {
      found = { route, params };
      break;
    }
  }
  if (found === undefined) {
    // Unknown paths need a token too, so an anonymous caller learns nothing about the routes.
    const outcome = auth.check(target.headers['authorization'], 'read');
    if (!outcome.ok) sendAuthFailure(response, outcome.status, outcome.error);
    else sendError(response, 404, `no route ${method} ${target.path}`);
    return;
  }

  const { route, params } = found;
  const changes = route.method !== 'GET';
  const outcome = auth.check(target.headers['authorization'], route.access);
  if (!outcome.ok) {
    if (changes) deps.logger.warn({ method, path: target.path, status: outcome.status, reason: outcome.error }, 'admin change refused');
    sendAuthFailure(response, outcome.status, outcome.error);
    return;
  }
  const maxBodyBytes = route.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let status: number;
  try {
    checkDeclaredLength(request, maxBodyBytes);
    const reply = await route.handle(adminRequest(request, target, params, outcome.caller, maxBodyBytes));
    status = sendReply(response, reply);
  } catch (error) {
    if (error instanceof AdminError) {
      status = error.status;
      sendError(response, status, error.message);
    } else {
      status = 500;
      deps.logger.error({ err: error, method, path: target.path }, 'admin request failed');
      sendError(response, status, 'internal error');
    }
  }
  // Changes are logged with the token that made them; reads are not worth a line each.
  if (changes) deps.logger[route.routine === true && status < 400 ? 'debug' : 'info']({ method, path: target.path, status, token: outcome.caller ?? 'anonymous' }, 'admin change');
}

function readTarget(request: IncomingMessage): Target {
  const url = request.url ?? '/';
  const mark = url.indexOf('?');
  return {
    path: mark < 0 ? url : url.slice(0, mark),
    query: mark < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(mark + 1))),
    headers: singleValues(request.headers),
  };
}

/** Repeated headers as one value, the way HTTP folds them (node keeps set-cookie as a list). */
function singleValues(headers: IncomingHttpHeaders): Record<string, string> {
  const single: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) single[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return single;
}

function adminRequest(request: IncomingMessage, target: Target, params: Record<string, string>, caller: string | undefined, maxBodyBytes: number): AdminRequest {
  let body: Promise<Buffer> | undefined;
  return {
    method: request.method ?? 'GET',
    path: target.path,
    params,
    query: target.query,
    headers: target.headers,
    caller,
    body: () => (body ??= readBody(request, maxBodyBytes)),
  };
}

function sendReply(response: ServerResponse, reply: AdminReply): number {
  const status = reply.status ?? 200;
  const headers: Record<string, string> = { ...reply.headers };
  let body: string;
  if ('json' in reply) {
    headers['content-type'] = JSON_TYPE;
    body = JSON.stringify(reply.json);
  } else {
    headers['content-type'] = reply.contentType;
    body = reply.text;
  }
  send(response, status, headers, body);
  return status;
}

function sendError(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  send(response, status, { ...headers, 'content-type': JSON_TYPE }, JSON.stringify({ error: message }));
}

function sendAuthFailure(response: ServerResponse, status: 401 | 403, message: string): void {
  sendError(response, status, message, status === 401 ? { 'www-authenticate': 'Bearer' } : {});
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  response.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  response.end(body);
}
