// The shape of an admin route. Route modules (routes/*.ts) only describe requests and
// replies; server.ts owns HTTP, auth, body limits and error formatting, so a new route
// is a new entry in routes/index.ts and nothing else.

import type { Access, Role } from './auth.js';

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  /** Path parameters of the route pattern (`/services/:service` -> {service}). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Name of the credential that was accepted; undefined when the API has no auth (admin.auth: none). */
  readonly caller: string | undefined;
  /** Its role; undefined without auth (everything is allowed then). */
  readonly role: Role | undefined;
  /** The request body, bounded by the route's maxBodyBytes. */
  body(): Promise<Buffer>;
}

export type AdminReply =
  | { status?: number; headers?: Record<string, string>; json: unknown }
  | { status?: number; headers?: Record<string, string>; text: string; contentType: string };

export interface AdminRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path pattern, e.g. `/filters/:name` (`:param` segments, a final `*`: path-pattern.ts). */
  path: string;
  access: Access;
  /** Bodies above this get 413 (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** The Content-Type a body must have (default application/json); see server.ts on why POSTs always need one. */
  bodyType?: string;
  /** Routine changes (heartbeats) are logged at debug rather than info, so they do not flood the log. */
  routine?: boolean;
  handle(request: AdminRequest): AdminReply | Promise<AdminReply>;
}

/** Thrown by a handler to answer `status` with `{error: message}`. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
