// Signing JWS / JWT the way an identity provider does (RFC 7515 compact serialization), with
// node:crypto, for tests of signature verification.

import { constants, createHmac, sign, type KeyObject } from 'node:crypto';

export type JwsAlgorithm =
  | 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

/** A private key, or the raw secret for HS*. */
export type SigningKey = KeyObject | Buffer;

export function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The base64url signature of `input` (the JWS signing input, `header.payload`). */
export function signJws(alg: JwsAlgorithm, key: SigningKey, input: string | Buffer): string {
  const data = Buffer.from(input);
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  if (alg.startsWith('HS')) return createHmac(hash!, key as Buffer).update(data).digest('base64url');
  const privateKey = key as KeyObject;
  if (alg.startsWith('RS')) return sign(hash, data, privateKey).toString('base64url');
  if (alg.startsWith('PS')) {
    return sign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
      .toString('base64url');
  }
  if (alg.startsWith('ES')) return sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return sign(null, data, privateKey).toString('base64url');
}

/** A compact JWT: header {alg, typ, ...header}, the claims as payload, signed with `key`. */
export function signJwt(alg: JwsAlgorithm, key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${base64url(JSON.stringify({ alg, typ: 'JWT', ...header }))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${signJws(alg, key, input)}`;
}

/** Seconds since the epoch, as JWT times are written. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
