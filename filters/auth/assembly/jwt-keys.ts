// The keys a JWT method verifies signatures with, from an inline JWKS or from `keys` entries
// (a JWK, a PEM public key or certificate, or an HMAC secret). Each key knows which `alg`
// values it may verify: a token cannot pick an algorithm its key was not meant for (the
// classic "HS256 with the RSA public key as secret" confusion is refused here, and again on
// the host).

import { JsonKind, JsonValue, logWarn, parseJson, quoteJsonString } from "../../../sdk/assembly";
import { decodeBase64, decodeBase64Url, encodeBase64Url } from "../../../sdk/assembly/base64";
import { ConfigReader } from "../../../sdk/assembly/config-reader";

export const SUPPORTED_ALGORITHMS: Array<string> = [
  "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

const HMAC: Array<string> = ["HS256", "HS384", "HS512"];
const RSA: Array<string> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

export class JwtKey {
  constructor(
    /** `kid` ("" when the key has none: then it is tried for every token without a kid). */
    readonly kid: string,
    /** The `alg` values this key verifies. */
    readonly algorithms: Array<string>,
    /** The key as the `key` member of weft.crypto.verify's arguments (JSON text). */
    readonly keyJson: string,
    /** Where the key was configured, for log lines. */
    readonly label: string,
  ) {}

  fits(alg: string): bool {
    return this.algorithms.includes(alg);
  }
}

/** Keys of an inline JWKS: `{"keys": [...]}`, as an object or as JSON text. */
export function parseJwks(value: JsonValue, where: string, reader: ConfigReader, out: Array<JwtKey>): void {
  let jwks: JsonValue | null = value;
  if (value.kind == JsonKind.String) jwks = parseJson(value.asString());
  let keys: JsonValue | null = null;
  if (jwks !== null) keys = jwks.get("keys");
  if (keys === null || keys.kind != JsonKind.Array) {
    reader.fail(where, "must be a JWK set: {\"keys\": [...]}");
    return;
  }
  const entries = keys.asArray();
  for (let i = 0; i < entries.length; i++) {
    const key = parseJwk(entries[i], where + ".keys[" + i.toString() + "]", reader);
    if (key !== null) out.push(key);
  }
}

/** One `keys` entry: a JWK (has kty), {pem, alg, kid?}, or {secret | secret_base64, alg?, kid?}. */
export function parseKeyEntry(entry: JsonValue, where: string, reader: ConfigReader): JwtKey | null {
  if (entry.kind != JsonKind.Object) {
    reader.fail(where, "must be a JWK, {pem, alg} or {secret, alg}");
    return null;
  }
  if (entry.has("kty")) return parseJwk(entry, where, reader);
  reader.expectObject(entry, where, ["kid", "alg", "pem", "secret", "secret_base64"]);
  const kid = reader.string(entry, where, "kid", "");
  const alg = reader.string(entry, where, "alg", "");
  if (alg.length > 0 && !SUPPORTED_ALGORITHMS.includes(alg)) {
    reader.fail(where + ".alg", "names unsupported algorithm '" + alg + "' (supported: " + SUPPORTED_ALGORITHMS.join(", ") + ")");
    return null;
  }
  if (entry.has("pem")) {
    const pem = reader.string(entry, where, "pem", "");
    if (!pem.trim().startsWith("-----BEGIN ")) {
      reader.fail(where + ".pem", "must be a PEM public key or certificate (-----BEGIN ...)");
      return null;
    }
    if (alg.length == 0 || HMAC.includes(alg)) {
      reader.fail(where + ".alg", "is required for a PEM key: its asymmetric alg (RS256, PS256, ES256, EdDSA, ...)");
      return null;
    }
    return new JwtKey(kid, [alg], quoteJsonString(pem), where);
  }
  let secret: ArrayBuffer | null = null;
  if (entry.has("secret")) {
    secret = String.UTF8.encode(reader.string(entry, where, "secret", ""));
  } else if (entry.has("secret_base64")) {
    secret = decodeBase64(reader.string(entry, where, "secret_base64", ""));
    if (secret === null) reader.fail(where + ".secret_base64", "is not base64");
  } else {
    reader.fail(where, "needs kty (a JWK), pem or secret");
    return null;
  }
  if (secret === null) return null;
  if (secret.byteLength == 0) {
    reader.fail(where, "has an empty secret");
    return null;
  }
  if (alg.length > 0 && !HMAC.includes(alg)) {
    reader.fail(where + ".alg", "must be HS256, HS384 or HS512 for a secret");
    return null;
  }
  warnIfShortSecret(secret.byteLength, where);
  return new JwtKey(kid, alg.length > 0 ? [alg] : HMAC, octJwk(encodeBase64Url(secret)), where);
}

/** A JWK (RFC 7517). Keys for encryption (`use: enc`, or an alg we do not sign with) are skipped. */
function parseJwk(jwk: JsonValue, where: string, reader: ConfigReader): JwtKey | null {
  if (jwk.kind != JsonKind.Object) {
    reader.fail(where, "must be a JWK object");
    return null;
  }
  const kty = reader.string(jwk, where, "kty", "");
  const kid = reader.string(jwk, where, "kid", "");
  const alg = reader.string(jwk, where, "alg", "");
  const use = reader.string(jwk, where, "use", "");
  if (use == "enc" || (alg.length > 0 && !SUPPORTED_ALGORITHMS.includes(alg))) return null;
  let family: Array<string> = HMAC;
  let keyJson = "";
  if (kty == "oct") {
    const k = requireMember(jwk, "k", where, reader);
    if (k === null) return null;
    const secret = decodeBase64Url(k);
    if (secret === null || secret.byteLength == 0) {
      reader.fail(where + ".k", "must be non-empty base64url");
      return null;
    }
    warnIfShortSecret(secret.byteLength, where);
    family = HMAC;
    keyJson = octJwk(k);
  } else if (kty == "RSA") {
    const n = requireMember(jwk, "n", where, reader);
    const e = requireMember(jwk, "e", where, reader);
    if (n === null || e === null) return null;
    family = RSA;
    keyJson = "{\"kty\":\"RSA\",\"n\":" + quoteJsonString(n) + ",\"e\":" + quoteJsonString(e) + "}";
  } else if (kty == "EC") {
    const crv = requireMember(jwk, "crv", where, reader);
    const x = requireMember(jwk, "x", where, reader);
    const y = requireMember(jwk, "y", where, reader);
    if (crv === null || x === null || y === null) return null;
    if (crv == "P-256") family = ["ES256"];
    else if (crv == "P-384") family = ["ES384"];
    else if (crv == "P-521") family = ["ES512"];
    else {
      reader.fail(where + ".crv", "is unsupported EC curve '" + crv + "' (P-256, P-384, P-521)");
      return null;
    }
    keyJson = "{\"kty\":\"EC\",\"crv\":" + quoteJsonString(crv) + ",\"x\":" + quoteJsonString(x) + ",\"y\":" + quoteJsonString(y) + "}";
  } else if (kty == "OKP") {
    const crv = requireMember(jwk, "crv", where, reader);
    const x = requireMember(jwk, "x", where, reader);
    if (crv === null || x === null) return null;
    if (crv != "Ed25519" && crv != "Ed448") {
      reader.fail(where + ".crv", "is unsupported OKP curve '" + crv + "' (Ed25519, Ed448)");
      return null;
    }
    family = ["EdDSA"];
    keyJson = "{\"kty\":\"OKP\",\"crv\":" + quoteJsonString(crv) + ",\"x\":" + quoteJsonString(x) + "}";
  } else {
    reader.fail(where + ".kty", "is unsupported key type '" + kty + "' (oct, RSA, EC, OKP)");
    return null;
  }
  if (alg.length > 0 && !family.includes(alg)) {
    reader.fail(where + ".alg", "'" + alg + "' does not fit a " + kty + " key");
    return null;
  }
  // Only the public members go to the host: a pasted private JWK never leaves the filter whole.
  return new JwtKey(kid, alg.length > 0 ? [alg] : family, keyJson, where);
}

function requireMember(jwk: JsonValue, name: string, where: string, reader: ConfigReader): string | null {
  const value = reader.string(jwk, where, name, "");
  if (value.length == 0) {
    reader.fail(where + "." + name, "is missing");
    return null;
  }
  return value;
}

function octJwk(k: string): string {
  return "{\"kty\":\"oct\",\"k\":" + quoteJsonString(k) + "}";
}

/** RFC 7518 §3.2: an HMAC key shorter than the hash output is weak; say so, do not refuse. */
function warnIfShortSecret(length: i32, where: string): void {
  if (length < 32) logWarn("auth: " + where + ": HMAC secret is " + length.toString() + " bytes; use at least 32");
}
