// The admin HTTP server: its own hyper-express Server on the admin address (loopback by
// default), apart from the proxy listener so admin traffic never shares the data path.
//
// Every route goes through the same wrapper: auth by the route's declared access, then the
// handler, then a reply; a thrown AdminError becomes `{error}` with its status, anything else
// a logged 500. Bodies are bounded per route (request-body.ts: a JSON 413 once the declared or
// received length passes the route's limit), so no handler ever sees an unbounded body.
//
// The permission model is the HTTP method: GET routes are `public` or `read`, every other
// method changes state and must be `write` (checked when the routes are registered), and every
// change is logged here, with the name of the token that made it, whatever the route.

import { Server, type Request, type Response } from 'hyper-express';
import { assertAddressFree } from '../net/address.js';
import type { AdminSpec } from '../config/schema.js';
import { AdminAuth } from './auth.js';
import type { AdminDeps } from './deps.js';
import { checkDeclaredLength, readBody, UNBOUNDED_BODY_BYTES } from './request-body.js';
import { AdminError, DEFAULT_MAX_BODY_BYTES, type AdminReply, type AdminRequest, type AdminRoute } from './route.js';
import { adminRoutes } from './routes/index.js';

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening (open keep-alive connections end with the process). */
  close(): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export async function startAdminServer(spec: AdminSpec, deps: AdminDeps): Promise<AdminServer> {
  const auth = AdminAuth.fromSpec(spec);
  // auto_close off: the CLI owns signals and the shutdown order.
  const server = new Server({ auto_close: false, max_body_length: UNBOUNDED_BODY_BYTES });

  for (const route of adminRoutes(deps, auth)) {
    if (route.method !== 'GET' && route.access !== 'write') {
      throw new Error(`admin route ${route.method} ${route.path} changes state, so its access must be 'write', not '${route.access}'`);
    }
    const handler = (request: Request, response: Response) => serve(route, auth, deps, request, response);
    switch (route.method) {
      case 'GET':
        server.get(route.path, handler);
        break;
      case 'POST':
        server.post(route.path, handler);
        break;
      case 'PUT':
        server.put(route.path, handler);
        break;
      case 'DELETE':
        server.delete(route.path, handler);
        break;
    }
  }

  server.set_not_found_handler((request, response) => {
    // Unknown paths need a token too, so an anonymous caller learns nothing about the routes.
    const outcome = auth.check(request.headers['authorization'], 'read');
    if (!outcome.ok) sendAuthFailure(response, outcome.status, outcome.error);
    else sendError(response, 404, `no route ${request.method} ${request.path}`);
  });
  server.set_error_handler((request, response, error) => {
    deps.logger.error({ err: error, method: request.method, path: request.path }, 'admin request failed');
    if (!response.completed) sendError(response, 500, 'internal error');
  });

  try {
    await assertAddressFree(spec.host, spec.port);
    await server.listen(spec.port, spec.host);
  } catch (error) {
    throw new Error(`admin: cannot listen on ${spec.host}:${spec.port} (${error instanceof Error ? error.message : String(error)})`);
  }
  return { host: spec.host, port: server.port, close: () => void server.close() };
}

async function serve(route: AdminRoute, auth: AdminAuth, deps: AdminDeps, request: Request, response: Response): Promise<void> {
  const changes = route.method !== 'GET';
  const outcome = auth.check(request.headers['authorization'], route.access);
  if (!outcome.ok) {
    if (changes) deps.logger.warn({ method: route.method, path: request.path, status: outcome.status, reason: outcome.error }, 'admin change refused');
    sendAuthFailure(response, outcome.status, outcome.error);
    return;
  }
  const maxBodyBytes = route.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let status: number;
  try {
    checkDeclaredLength(request, maxBodyBytes);
    const reply = await route.handle(adminRequest(request, outcome.caller, maxBodyBytes));
    status = sendReply(response, reply);
  } catch (error) {
    if (error instanceof AdminError) {
      status = error.status;
      sendError(response, status, error.message);
    } else {
      status = 500;
      deps.logger.error({ err: error, method: route.method, path: request.path }, 'admin request failed');
      sendError(response, status, 'internal error');
    }
  }
  // Changes are logged with the token that made them; reads are not worth a line each.
  if (changes) deps.logger[route.routine === true && status < 400 ? 'debug' : 'info']({ method: route.method, path: request.path, status, token: outcome.caller ?? 'anonymous' }, 'admin change');
}

function adminRequest(request: Request, caller: string | undefined, maxBodyBytes: number): AdminRequest {
  let body: Promise<Buffer> | undefined;
  return {
    method: request.method,
    path: request.path,
    params: request.path_parameters,
    query: request.query_parameters,
    headers: request.headers,
    caller,
    body: () => (body ??= readBody(request, maxBodyBytes)),
  };
}

function sendReply(response: Response, reply: AdminReply): number {
  const status = reply.status ?? 200;
  response.status(status);
  for (const [name, value] of Object.entries(reply.headers ?? {})) response.header(name, value);
  if ('json' in reply) response.header('content-type', JSON_TYPE).send(JSON.stringify(reply.json));
  else response.header('content-type', reply.contentType).send(reply.text);
  return status;
}

function sendError(response: Response, status: number, message: string): void {
  response.status(status).header('content-type', JSON_TYPE).send(JSON.stringify({ error: message }));
}

function sendAuthFailure(response: Response, status: 401 | 403, message: string): void {
  if (status === 401) response.header('www-authenticate', 'Bearer');
  sendError(response, status, message);
}
