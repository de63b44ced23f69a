// The admin HTTP server: its own node:http server on the admin address (loopback by default),
// apart from the proxy listener so admin traffic never shares the data path. Admin traffic
// needs no speed, and node's server runs wherever Node does, whatever engine the proxy
// listener got.
//
// Every route goes through the same wrapper: auth by the route's declared access, then the
// handler, then a reply; a thrown AdminError becomes `{error}` with its status, anything else
// a logged 500. Bodies are bounded per route (request-body.ts: a JSON 413 once the declared or
// received length passes the route's limit), so no handler ever sees an unbounded body.
//
// The permission model is the HTTP method: GET routes are `public` or `read`, every other
// method changes state and must be `write` or `register` (checked when the routes are
// registered), and every change is logged here, with the name of the token that made it.
//
// A web page the operator has open must not reach the API through the operator's browser:
// - DNS rebinding: a Host that is not an IP literal, `localhost` or one of admin.allowed_hosts
//   gets 421 (a rebinding page's requests carry its own domain name);
// - cross-site requests: a request whose Origin is not the admin page's own gets 403, and a
//   request with a body must say it is the route's type (application/json, application/wasm),
//   415 otherwise. A POST always needs it, body or not: POST with no Content-Type, text/plain
//   or a form type is what a page may send to any site without a CORS preflight.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertAddressFree } from '../net/address.js';
import { isIP } from 'node:net';
import type { Logger } from '../telemetry/logger.js';
import type { AdminSpec } from '../config/schema.js';
import { AdminAuth, type Role } from './auth.js';
import { loadOrCreateAdminToken } from './token-file.js';
import type { AdminDeps } from './deps.js';
import { PathPattern } from './path-pattern.js';
import { checkDeclaredLength, dropBody, readBody } from './request-body.js';
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
  const auth = await adminAuth(spec, deps.logger);
  const routes = register(adminRoutes(deps, auth));
  const allowedHosts = new Set(['localhost', ...spec.allowed_hosts]);

  const server = createServer((request, response) => {
    serve(routes, auth, allowedHosts, deps, request, response).catch((error: unknown) => {
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
  return { host: spec.host, port: (server.address() as AddressInfo).port, close: () => void server.close() };
}

/**
 * The credentials: the manifest's tokens, else the state folder's generated token (made on the
 * first start), else none when the manifest says `admin.auth: none`.
 */
async function adminAuth(spec: AdminSpec, logger: Logger): Promise<AdminAuth> {
  if (spec.auth === 'none') {
    logger.warn({ address: `${spec.host}:${spec.port}` }, 'admin API without auth (admin.auth: none): any local process or web page that reaches this address may change the proxy');
    return AdminAuth.fromSpec({});
  }
  if (spec.token !== undefined || (spec.tokens ?? []).length > 0) return AdminAuth.fromSpec(spec);
  let file;
  try {
    file = await loadOrCreateAdminToken(spec.token_file);
  } catch (error) {
    throw new Error(`admin: cannot keep the admin token in ${spec.token_file} (${(error as Error).message}); set admin.token_file, admin.token or admin.tokens`);
  }
  logger.info({ token_file: spec.token_file }, file.created ? 'admin token created (the weft CLI reads it from this file)' : 'admin token read from its file');
  if (file.exposed) logger.warn({ token_file: spec.token_file }, 'the admin token file is readable by other users: chmod 600 it');
  return AdminAuth.fromSpec(spec, file.token);
}

/** Checks every route's access against its method and orders them most specific first. */
function register(routes: AdminRoute[]): Registered[] {
  for (const route of routes) {
    if (route.method !== 'GET' && route.access !== 'write' && route.access !== 'register') {
      throw new Error(`admin route ${route.method} ${route.path} changes state, so its access must be 'write' or 'register', not '${route.access}'`);
    }
    if (route.access === 'register' && !route.path.includes(':service')) {
      throw new Error(`admin route ${route.method} ${route.path} has access 'register' but no :service in its path`);
    }
  }
  return routes.map((route) => ({ route, pattern: new PathPattern(route.path) })).sort((a, b) => a.pattern.compare(b.pattern));
}

async function serve(routes: Registered[], auth: AdminAuth, allowedHosts: ReadonlySet<string>, deps: AdminDeps, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const target = readTarget(request);
  const method = request.method ?? 'GET';
  const host = target.headers['host'] ?? '';
  if (!hostAllowed(host, allowedHosts)) {
    deps.logger.warn({ method, path: target.path, host }, 'admin request for another host refused (DNS rebinding?)');
    sendError(response, 421, `this is the Weft admin API, not ${host === '' ? 'a host without a name' : host}; add the name to admin.allowed_hosts to reach it by that name`);
    return;
  }
  const origin = target.headers['origin'];
  // https too: the page may be served through a TLS-terminating proxy under an allowed name.
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
    deps.logger.warn({ method, path: target.path, origin }, 'cross-origin admin request refused');
    sendError(response, 403, `cross-origin request from ${origin} refused: the admin API answers only its own page`);
    return;
  }
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
    await dropBody(request);
    if (!outcome.ok) sendAuthFailure(response, outcome.status, outcome.error);
    else sendError(response, 404, `no route ${method} ${target.path}`);
    return;
  }

  const { route, params } = found;
  const changes = route.method !== 'GET';
  const outcome = auth.check(target.headers['authorization'], route.access, params.service);
  if (!outcome.ok) {
    if (changes) deps.logger.warn({ method, path: target.path, status: outcome.status, reason: outcome.error }, 'admin change refused');
    await dropBody(request);
    sendAuthFailure(response, outcome.status, outcome.error);
    return;
  }
  const maxBodyBytes = route.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let status: number;
  try {
    checkContentType(request, route);
    await checkDeclaredLength(request, maxBodyBytes);
    const reply = await route.handle(adminRequest(request, target, params, outcome, maxBodyBytes));
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

/** An IP literal, localhost or an allowed name, with or without a port: what a rebinding page cannot send. */
function hostAllowed(host: string, allowedHosts: ReadonlySet<string>): boolean {
  const name = (/^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '')).toLowerCase();
  return isIP(name) !== 0 || allowedHosts.has(name);
}

/** 415 unless a request that carries a body, and every POST, says it is the route's type. */
function checkContentType(request: IncomingMessage, route: AdminRoute): void {
  if (route.method === 'GET') return;
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (!hasBody && route.method !== 'POST') return;
  const expected = route.bodyType ?? 'application/json';
  const type = request.headers['content-type'];
  const essence = type?.split(';')[0]!.trim().toLowerCase();
  if (essence !== expected) throw new AdminError(415, `send Content-Type: ${expected} (not ${type === undefined ? 'nothing' : type})`);
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

function adminRequest(request: IncomingMessage, target: Target, params: Record<string, string>, who: { caller: string | undefined; role: Role | undefined }, maxBodyBytes: number): AdminRequest {
  let body: Promise<Buffer> | undefined;
  return {
    method: request.method ?? 'GET',
    path: target.path,
    params,
    query: target.query,
    headers: target.headers,
    caller: who.caller,
    role: who.role,
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
