// Bearer-token auth for the admin API. Tokens are kept only as SHA-256 digests and a
// presented token is compared digest to digest with timingSafeEqual, so neither the
// comparison time nor the digest length says anything about the secret.
//
// Each route declares the access it needs; a credential grants a role. `admin.token` is one
// read-write credential named "admin"; each of `admin.tokens` is a named credential with its
// own role, given as the token's digest so the manifest holds no secret. With neither, the
// token generated in the state folder (token-file.ts) is the "admin" credential; only
// `admin.auth: none` leaves the API open.
//
// Roles: `write` may do everything; `read` may read (secret-looking config values redacted);
// `register` may register, heartbeat and deregister instances of its own services, nothing else.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminSpec } from '../config/schema.js';

/**
 * What a route needs: nothing (e.g. /healthz), to read, to change state, or to change the
 * instances of the service named in its path (`:service`).
 */
export type Access = 'public' | 'read' | 'write' | 'register';

export type Role = 'read' | 'write' | 'register';

export interface AdminCredential {
  /** Shown in logs as who made a change. */
  name: string;
  sha256: Buffer;
  role: Role;
  /** For `register`: the services it may register instances of. */
  services?: readonly string[];
}

export type AuthOutcome =
  /** `role` undefined: the API has no auth (admin.auth: none), everything is allowed. */
  | { ok: true; caller: string | undefined; role: Role | undefined }
  | { ok: false; status: 401 | 403; error: string };

const BEARER = /^Bearer[ \t]+(.+?)[ \t]*$/i;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class AdminAuth {
  constructor(private readonly credentials: readonly AdminCredential[]) {}

  /** `generatedToken`: the state folder's token, used when the manifest names none. */
  static fromSpec(spec: Pick<AdminSpec, 'token' | 'tokens'>, generatedToken?: string): AdminAuth {
    const adminToken = spec.token ?? generatedToken;
    const credentials: AdminCredential[] = adminToken === undefined ? [] : [{ name: 'admin', sha256: sha256(adminToken), role: 'write' }];
    for (const token of spec.tokens ?? []) {
      credentials.push({ name: token.name, sha256: Buffer.from(token.sha256, 'hex'), role: token.role, ...(token.services === undefined ? {} : { services: token.services }) });
    }
    return new AdminAuth(credentials);
  }

  /** False when no token is configured (admin.auth: none): every route is open. */
  get required(): boolean {
    return this.credentials.length > 0;
  }

  /** `service`: the service a `register` route acts on (its `:service` path parameter). */
  check(authorization: string | undefined, access: Access, service?: string): AuthOutcome {
    if (access === 'public' || !this.required) return { ok: true, caller: undefined, role: undefined };
    const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (token === undefined) return { ok: false, status: 401, error: 'missing bearer token' };

    const presented = sha256(token);
    let match: AdminCredential | undefined;
    // No early exit: every credential is compared, whichever one matches.
    for (const credential of this.credentials) {
      if (timingSafeEqual(presented, credential.sha256) && match === undefined) match = credential;
    }
    if (match === undefined) return { ok: false, status: 401, error: 'invalid bearer token' };
    const refusal = refused(match, access, service);
    if (refusal !== undefined) return { ok: false, status: 403, error: refusal };
    return { ok: true, caller: match.name, role: match.role };
  }
}

/** Why `credential` may not have `access`, or undefined when it may. */
function refused(credential: AdminCredential, access: Access, service: string | undefined): string | undefined {
  const { name, role } = credential;
  if (role === 'write') return undefined;
  if (role === 'read') return access === 'read' ? undefined : `token "${name}" is read-only`;
  // register
  const services = credential.services ?? [];
  if (access === 'register' && service !== undefined && services.includes(service)) return undefined;
  return `token "${name}" may only register instances of ${services.join(', ')}`;
}
