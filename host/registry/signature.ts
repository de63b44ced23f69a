// Ed25519 module signatures: a detached signature over the filter's name and the module's bytes,
// sent base64 in X-Weft-Signature. With `registry.trusted_keys` set, the registry accepts a
// module only when one of those keys verifies its signature for the name it is uploaded under
// (a module signed as `auth` cannot become `router`), and checks it again whenever a chain loads
// the module from the store; `weft filter sign` makes signatures and `weft filter keygen` makes
// key pairs.
//
// Public keys are written as base64 of the raw 32-byte key (what `weft filter keygen` prints)
// or as a PEM SPKI block (what `openssl pkey -pubout` writes). Private keys are PEM (PKCS#8).

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

const RAW_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

export interface TrustedKey {
  /** Short id for logs and version records: the first 16 hex digits of the raw key's SHA-256. */
  readonly id: string;
  readonly key: KeyObject;
}

/** A public key from its text; throws with the reason when it is not an Ed25519 public key. */
export function parsePublicKey(text: string): TrustedKey {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith('-----BEGIN')) {
    try {
      key = createPublicKey(trimmed);
    } catch (error) {
      throw new Error(`is not a PEM public key (${(error as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  } else {
    const raw = Buffer.from(trimmed, 'base64');
    if (raw.length !== RAW_KEY_BYTES || raw.toString('base64') !== trimmed) {
      throw new Error('is neither base64 of a 32-byte Ed25519 public key nor a PEM public key');
    }
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  }
  return { id: keyId(key), key };
}

/** The base64 raw form of a public key (what trusted_keys lists). */
export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

function keyId(key: KeyObject): string {
  return createHash('sha256').update(Buffer.from(rawPublicKey(key), 'base64')).digest('hex').slice(0, 16);
}

/** What is signed: the name and the module, so a signature holds for one filter name only. */
function signedMessage(name: string, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`weft-filter:${name}\n`, 'utf8'), bytes]);
}

/** The id of the trusted key that signed `bytes` as filter `name`, or the reason the signature is refused. */
export function checkSignature(
  bytes: Uint8Array,
  name: string,
  signature: string | undefined,
  trusted: readonly TrustedKey[],
): { ok: true; keyId: string } | { ok: false; reason: string } {
  if (signature === undefined || signature.trim() === '') {
    return { ok: false, reason: 'the module is not signed: registry.trusted_keys is set, so X-Weft-Signature is required (make one with weft filter sign)' };
  }
  const decoded = Buffer.from(signature.trim(), 'base64');
  if (decoded.length !== SIGNATURE_BYTES) {
    return { ok: false, reason: `X-Weft-Signature is not base64 of a ${SIGNATURE_BYTES}-byte Ed25519 signature` };
  }
  const message = signedMessage(name, bytes);
  for (const { id, key } of trusted) {
    if (verify(null, message, key, decoded)) return { ok: true, keyId: id };
  }
  return { ok: false, reason: `the signature does not verify, as filter ${name}, with any key in registry.trusted_keys (a signature holds for the name it was made for)` };
}

/** Signs `bytes` as filter `name` with a PEM private key; the base64 signature for X-Weft-Signature. */
export function signModule(bytes: Uint8Array, name: string, privateKeyPem: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new Error(`not a PEM private key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  return sign(null, signedMessage(name, bytes), key).toString('base64');
}

/** A new key pair: the private key as PEM, the public key as registry.trusted_keys wants it. */
export function generateSigningKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: rawPublicKey(publicKey) };
}
