// weft.crypto.verify: signature checks for filters (JWS / JWT), run on the host with
// node:crypto so a filter needs no bignum or curve code of its own.
//
// Arguments (JSON): {"alg": <JWS alg>, "key": <JWK object | PEM string | base64 secret>,
//                    "data": <base64url of the signed bytes>, "signature": <base64url>}
// Result: one byte, 1 = the signature is valid, 0 = it is not. BadArgument when the arguments
// are malformed: not JSON, an unknown alg, data that is not base64url, a key that cannot be
// imported or does not fit the alg (an RSA key for ES256, a PEM public key as an HMAC secret).

import {
  constants, createHmac, createPublicKey, createSecretKey, timingSafeEqual, verify, type JsonWebKey, type KeyObject,
} from 'node:crypto';
import { WasmResult } from '../abi/enums.js';

type Family = 'hmac' | 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa';

interface Algorithm {
  family: Family;
  /** Digest for node:crypto; null for EdDSA, which hashes internally. */
  hash: string | null;
  /** ECDSA: the only curve this alg may use (node's name). */
  curve?: string;
}

const ALGORITHMS: ReadonlyMap<string, Algorithm> = new Map<string, Algorithm>([
  ['HS256', { family: 'hmac', hash: 'sha256' }],
  ['HS384', { family: 'hmac', hash: 'sha384' }],
  ['HS512', { family: 'hmac', hash: 'sha512' }],
  ['RS256', { family: 'rsa', hash: 'sha256' }],
  ['RS384', { family: 'rsa', hash: 'sha384' }],
  ['RS512', { family: 'rsa', hash: 'sha512' }],
  ['PS256', { family: 'rsa-pss', hash: 'sha256' }],
  ['PS384', { family: 'rsa-pss', hash: 'sha384' }],
  ['PS512', { family: 'rsa-pss', hash: 'sha512' }],
  ['ES256', { family: 'ecdsa', hash: 'sha256', curve: 'prime256v1' }],
  ['ES384', { family: 'ecdsa', hash: 'sha384', curve: 'secp384r1' }],
  ['ES512', { family: 'ecdsa', hash: 'sha512', curve: 'secp521r1' }],
  ['EdDSA', { family: 'eddsa', hash: null }],
]);

/** RFC 7518 §3.3: RSA keys of 2048 bits or more. */
const MIN_RSA_BITS = 2048;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64_SECRET = /^[A-Za-z0-9+/_-]+={0,2}$/;

interface VerifyRequest {
  algorithm: Algorithm;
  key: string | Record<string, unknown>;
  data: Buffer;
  signature: string;
}

export function cryptoVerify(args: Uint8Array): Uint8Array | WasmResult {
  const request = parseRequest(args);
  if (request === undefined) return WasmResult.BadArgument;
  const key = importKey(request.algorithm, request.key);
  if (key === undefined) return WasmResult.BadArgument;
  return Uint8Array.of(signatureIsValid(request, key) ? 1 : 0);
}

function parseRequest(args: Uint8Array): VerifyRequest | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(args.buffer, args.byteOffset, args.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { alg, key, data, signature } = parsed as Record<string, unknown>;
  const algorithm = typeof alg === 'string' ? ALGORITHMS.get(alg) : undefined;
  if (algorithm === undefined) return undefined;
  if (typeof data !== 'string' || !BASE64URL.test(data)) return undefined;
  if (typeof signature !== 'string') return undefined;
  const keyIsObject = typeof key === 'object' && key !== null && !Array.isArray(key);
  if (typeof key !== 'string' && !keyIsObject) return undefined;
  return { algorithm, key: key as string | Record<string, unknown>, data: Buffer.from(data, 'base64url'), signature };
}

function signatureIsValid(request: VerifyRequest, key: KeyObject): boolean {
  // A signature that is not canonical base64url cannot be the one that was made.
  if (!BASE64URL.test(request.signature)) return false;
  const signature = Buffer.from(request.signature, 'base64url');
  if (signature.toString('base64url') !== request.signature) return false;
  const { family, hash } = request.algorithm;
  try {
    switch (family) {
      case 'hmac': {
        const expected = createHmac(hash!, key).update(request.data).digest();
        return signature.length === expected.length && timingSafeEqual(signature, expected);
      }
      case 'rsa':
        return verify(hash, request.data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'rsa-pss':
        return verify(hash, request.data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
      case 'ecdsa':
        // JWS carries ECDSA signatures as r || s (RFC 7518 §3.4), not DER.
        return verify(hash, request.data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'eddsa':
        return verify(null, request.data, key, signature);
    }
  } catch {
    return false; // e.g. a signature of the wrong length for the key
  }
}

// ---- keys ---------------------------------------------------------------------------------

/** Imported keys by their text (PEM, JWK JSON, secret): importing costs far more than verifying. */
const KEY_CACHE_LIMIT = 256;
const keyCache = new Map<string, KeyObject>();

function importKey(algorithm: Algorithm, key: string | Record<string, unknown>): KeyObject | undefined {
  const cacheKey = `${algorithm.family === 'hmac' ? 'secret' : 'public'}:${typeof key === 'string' ? key : JSON.stringify(key)}`;
  let imported = keyCache.get(cacheKey);
  if (imported !== undefined) {
    // Most recently used last, so eviction takes the least recently used first.
    keyCache.delete(cacheKey);
    keyCache.set(cacheKey, imported);
  } else {
    imported = algorithm.family === 'hmac' ? importSecret(key) : importPublicKey(key);
    if (imported === undefined) return undefined;
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(cacheKey, imported);
  }
  return fits(algorithm, imported) ? imported : undefined;
}

/** An HMAC secret: a JWK {"kty": "oct", "k": base64url} or base64 text. Never a PEM key. */
function importSecret(key: string | Record<string, unknown>): KeyObject | undefined {
  let bytes: Buffer;
  if (typeof key === 'string') {
    if (!BASE64_SECRET.test(key)) return undefined;
    bytes = Buffer.from(key, key.includes('-') || key.includes('_') ? 'base64url' : 'base64');
  } else {
    if (key.kty !== 'oct' || typeof key.k !== 'string' || !BASE64URL.test(key.k)) return undefined;
    bytes = Buffer.from(key.k, 'base64url');
  }
  return bytes.length > 0 ? createSecretKey(bytes) : undefined;
}

/** A public key from a JWK (RSA, EC, OKP) or PEM (public key, certificate, or a private key to derive it from). */
function importPublicKey(key: string | Record<string, unknown>): KeyObject | undefined {
  try {
    if (typeof key === 'string') return key.includes('-----BEGIN ') ? createPublicKey(key) : undefined;
    return createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** Whether `key` is of the kind `algorithm` requires (RSA for RS*, the alg's curve for ES*, ...). */
function fits(algorithm: Algorithm, key: KeyObject): boolean {
  switch (algorithm.family) {
    case 'hmac':
      return key.type === 'secret';
    case 'rsa':
      return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'rsa-pss':
      return (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss')
        && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'ecdsa':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === algorithm.curve;
    case 'eddsa':
      return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448';
  }
}
