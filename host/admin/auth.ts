// Bearer-token auth for the admin API. Tokens are kept only as SHA-256 digests and a
// presented token is compared digest to digest with timingSafeEqual, so neither the
// comparison time nor the digest length says anything about the secret.
//
// Each route declares the access it needs; a credential grants a role. `admin.token` is one
// read-write credential named "admin"; each of `admin.tokens` is a named credential with its
// own role, given as the token's digest so the manifest holds no secret.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminSpec } from '../config/schema.js';

/** What a route needs: nothing (e.g. /healthz), to read, or to change state. */
export type Access = 'public' | 'read' | 'write';

export interface AdminCredential {
  /** Shown in logs as who made a change. */
  name: string;
  sha256: Buffer;
  role: 'read' | 'write';
}

export type AuthOutcome =
  | { ok: true; caller: string | undefined }
  | { ok: false; status: 401 | 403; error: string };

const BEARER = /^Bearer[ \t]+(.+?)[ \t]*$/i;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class AdminAuth {
  constructor(private readonly credentials: readonly AdminCredential[]) {}

  static fromSpec(spec: Pick<AdminSpec, 'token' | 'tokens'>): AdminAuth {
    const credentials: AdminCredential[] = spec.token === undefined ? [] : [{ name: 'admin', sha256: sha256(spec.token), role: 'write' }];
    for (const token of spec.tokens ?? []) credentials.push({ name: token.name, sha256: Buffer.from(token.sha256, 'hex'), role: token.role });
    return new AdminAuth(credentials);
  }

  /** False when no token is configured: every route is open. */
  get required(): boolean {
    return this.credentials.length > 0;
  }

  check(authorization: string | undefined, access: Access): AuthOutcome {
    if (access === 'public' || !this.required) return { ok: true, caller: undefined };
    const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (token === undefined) return { ok: false, status: 401, error: 'missing bearer token' };

    const presented = sha256(token);
    let match: AdminCredential | undefined;
    // No early exit: every credential is compared, whichever one matches.
    for (const credential of this.credentials) {
      if (timingSafeEqual(presented, credential.sha256) && match === undefined) match = credential;
    }
    if (match === undefined) return { ok: false, status: 401, error: 'invalid bearer token' };
    if (access === 'write' && match.role !== 'write') return { ok: false, status: 403, error: `token "${match.name}" is read-only` };
    return { ok: true, caller: match.name };
  }
}
