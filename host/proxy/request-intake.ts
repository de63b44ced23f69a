// The boundary between a transport and the filters: every listener engine hands its request
// here (through ProxyListener.accept), so whatever the engine, a filter sees a request whose
// framing was checked, whose target is one normalized origin-form path, whose forwarding
// headers say only what the proxy can vouch for, and which carries no identity header a
// client wrote. What cannot be made sound is refused here, before any filter runs.

import type { HttpSpec } from '../config/schema.js';
import { removeRequestHeaders } from './headers.js';
import { settleForwardedFor } from './forwarded.js';
import { FIRST_HEADER, framingProblem } from './request-framing.js';
import { normalizeTarget, originForm, PathRefusal, type PathRules } from './request-path.js';

/** A request answered by the host itself, before any filter: status and a reason naming the problem. */
export interface Refusal {
  status: number;
  reason: string;
}

/** What the intake settled about a request. */
export interface Admitted {
  /** The normalized path without its query (what routes and chains are chosen by). */
  path: string;
  /** The client address: the peer, or what trusted proxies say (http.xff_trusted_hops). */
  clientAddress: string;
}

export class RequestIntake {
  private readonly pathRules: PathRules;
  private readonly trustedHops: number;
  private readonly isIdentityHeader: (name: string) => boolean;

  constructor(spec: HttpSpec) {
    this.pathRules = { normalize: spec.normalize_path, mergeSlashes: spec.merge_slashes, escapedSlashes: spec.escaped_slashes };
    this.trustedHops = spec.xff_trusted_hops;
    this.isIdentityHeader = identityMatcher(spec.identity_headers);
  }

  /**
   * Checks and rewrites `flat` in place (the layout of AcceptedRequest.flat). Returns the
   * refusal when the request cannot go on.
   */
  admit(flat: string[], peer: string): Admitted | Refusal {
    const problem = framingProblem(flat);
    if (problem !== undefined) return { status: 400, reason: problem };
    const form = originForm(flat[3]!);
    if (form instanceof PathRefusal) return { status: 400, reason: form.reason };
    if (form.authority !== undefined) flat[5] = form.authority;
    const target = normalizeTarget(form.target, this.pathRules);
    if (target instanceof PathRefusal) return { status: 400, reason: target.reason };
    flat[3] = target;
    const expectation = expectProblem(flat);
    if (expectation !== undefined) return { status: 417, reason: expectation };
    removeRequestHeaders(flat, this.isIdentityHeader);
    const clientAddress = settleForwardedFor(flat, peer, this.trustedHops);
    const query = target.indexOf('?');
    return { path: query < 0 ? target : target.slice(0, query), clientAddress };
  }
}

/**
 * `Expect: 100-continue` has been answered by the transport (uWS and node send `100 Continue`
 * themselves), so it is removed: the upstream would wait for a body already on its way. Any
 * other expectation cannot be met (RFC 9110 §10.1.1: 417).
 */
function expectProblem(flat: string[]): string | undefined {
  let found = false;
  for (let i = FIRST_HEADER; i < flat.length; i += 2) {
    if (flat[i] !== 'expect') continue;
    if (flat[i + 1]!.toLowerCase() !== '100-continue') return `unsupported Expect header: ${flat[i + 1]!}`;
    found = true;
  }
  if (found) removeRequestHeaders(flat, (name) => name === 'expect');
  return undefined;
}

/** Names (lowercase) matched exactly, or by prefix when they end with `*` (`x-weft-*`). */
function identityMatcher(names: readonly string[]): (name: string) => boolean {
  const exact = new Set(names.filter((name) => !name.endsWith('*')));
  const prefixes = names.filter((name) => name.endsWith('*')).map((name) => name.slice(0, -1));
  return (name) => {
    if (exact.has(name)) return true;
    for (const prefix of prefixes) if (name.startsWith(prefix)) return true;
    return false;
  };
}
