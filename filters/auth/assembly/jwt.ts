// JWT bearer tokens (RFC 7519, JWS compact serialization, RFC 7515). The filter splits and
// decodes the token, picks the keys that may verify it, and asks the host to check the
// signature (weft.crypto.verify); then it checks the registered claims, forwards chosen
// claims as request headers and publishes all of them as weft.auth.claims.<name>.

import {
  JsonKind, JsonValue, WasmResult, getCurrentTimeNanoseconds, logWarn, parseJson, requestHeaders, setPropertyString,
  wasmResultName,
} from "../../../sdk/assembly";
import { callForeignFunction } from "../../../sdk/assembly/hostcalls";
import { decodeBase64Url, encodeBase64Url, isBase64UrlText } from "../../../sdk/assembly/base64";
import { JwtKey, SUPPORTED_ALGORITHMS, parseJwks, parseKeyEntry } from "./jwt-keys";
import { AuthMethod } from "./method";
import { Outcome, Verdict } from "./outcome";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { stringList } from "./values";
import { cookieValue, withoutCookie } from "./request";

/** Longer tokens are refused before any decoding (headers that large are an attack, not a login). */
const MAX_TOKEN_LENGTH = 16384;

/** A claim forwarded to the upstream as a request header. */
class ClaimHeader {
  constructor(readonly claim: string, readonly header: string) {}
}

export class JwtMethod extends AuthMethod {
  /** Header the token is read from ("" = none) and the scheme prefix before it. */
  header: string = "authorization";
  prefix: string = "Bearer ";
  /** Cookie the token is read from when the header does not carry one ("" = none). */
  cookie: string = "";
  keys: Array<JwtKey> = new Array<JwtKey>();
  algorithms: Array<string> = SUPPORTED_ALGORITHMS;
  issuers: Array<string> = new Array<string>();
  audiences: Array<string> = new Array<string>();
  leewaySeconds: f64 = 60;
  requireExp: bool = true;
  principalClaim: string = "sub";
  requiredScopes: Array<string> = new Array<string>();
  claimHeaders: Array<ClaimHeader> = new Array<ClaimHeader>();
  stripToken: bool = false;

  constructor(name: string) {
    super(name, "jwt", "Bearer");
  }

  static parse(name: string, config: JsonValue, reader: ConfigReader): JwtMethod {
    const where = "methods." + name;
    const method = new JwtMethod(name);
    reader.expectObject(config, where, [
      "type", "header", "prefix", "cookie", "jwks", "keys", "algorithms", "issuer", "audiences", "leeway_s", "require_exp",
      "principal_claim", "required_scopes", "claims_to_headers", "strip_token",
    ]);
    method.header = reader.string(config, where, "header", "authorization").toLowerCase();
    method.prefix = reader.string(config, where, "prefix", method.header == "authorization" ? "Bearer " : "");
    method.cookie = reader.string(config, where, "cookie", "");
    if (method.header.length == 0 && method.cookie.length == 0) reader.fail(where, "needs header or cookie (where the token is read)");

    const jwks = config.get("jwks");
    if (jwks !== null && !jwks.isNull) parseJwks(jwks, where + ".jwks", reader, method.keys);
    const keys = config.get("keys");
    if (keys !== null && !keys.isNull) {
      if (keys.kind != JsonKind.Array) reader.fail(where + ".keys", "must be a list");
      const entries = keys.asArray();
      for (let i = 0; i < entries.length; i++) {
        const key = parseKeyEntry(entries[i], where + ".keys[" + i.toString() + "]", reader);
        if (key !== null) method.keys.push(key);
      }
    }
    if (method.keys.length == 0) reader.fail(where, "has no signing keys: give jwks or keys");

    if (config.has("algorithms")) {
      method.algorithms = stringList(config.get("algorithms"), where + ".algorithms", reader);
      for (let i = 0; i < method.algorithms.length; i++) {
        if (!SUPPORTED_ALGORITHMS.includes(method.algorithms[i])) {
          reader.fail(where + ".algorithms", "names unsupported '" + method.algorithms[i] + "' (supported: " + SUPPORTED_ALGORITHMS.join(", ") + ")");
        }
      }
    }
    method.issuers = stringList(config.get("issuer"), where + ".issuer", reader);
    method.audiences = stringList(config.get("audiences"), where + ".audiences", reader);
    method.leewaySeconds = <f64>reader.integer(config, where, "leeway_s", 60, 0);
    method.requireExp = reader.boolean(config, where, "require_exp", true);
    method.principalClaim = reader.string(config, where, "principal_claim", "sub");
    method.requiredScopes = stringList(config.get("required_scopes"), where + ".required_scopes", reader);
    method.stripToken = reader.boolean(config, where, "strip_token", false);

    const forwarded = config.get("claims_to_headers");
    if (forwarded !== null && !forwarded.isNull) {
      if (forwarded.kind != JsonKind.Object) reader.fail(where + ".claims_to_headers", "must be an object {claim: header, ...}");
      const claims = forwarded.objectKeys();
      for (let i = 0; i < claims.length; i++) {
        const header = forwarded.getString(claims[i], "").toLowerCase();
        if (header.length == 0) reader.fail(where + ".claims_to_headers." + claims[i], "must be a header name");
        else method.claimHeaders.push(new ClaimHeader(claims[i], header));
      }
    }
    return method;
  }

  missingDescription(): string {
    return "missing bearer token";
  }

  headersItSets(): Array<string> {
    const names = new Array<string>();
    for (let i = 0; i < this.claimHeaders.length; i++) names.push(this.claimHeaders[i].header);
    return names;
  }

  authenticate(): Outcome {
    let fromHeader = false;
    let token: string | null = null;
    if (this.header.length > 0) {
      const value = requestHeaders.get(this.header);
      if (value !== null) {
        if (this.prefix.length == 0) token = value.trim();
        else if (value.length >= this.prefix.length && value.substring(0, this.prefix.length).toLowerCase() == this.prefix.toLowerCase()) {
          token = value.substring(this.prefix.length).trim();
        }
        fromHeader = token !== null;
      }
    }
    if (token === null && this.cookie.length > 0) {
      const cookies = requestHeaders.get("cookie");
      if (cookies !== null) token = cookieValue(cookies, this.cookie);
    }
    if (token === null || token.length == 0) return Outcome.absent();

    const outcome = this.verify(token);
    if (outcome.verdict != Verdict.Allow) return outcome;
    if (this.stripToken) {
      if (fromHeader) requestHeaders.remove(this.header);
      else {
        const cookies = requestHeaders.get("cookie");
        if (cookies !== null) {
          const rest = withoutCookie(cookies, this.cookie);
          if (rest.length == 0) requestHeaders.remove("cookie");
          else requestHeaders.replace("cookie", rest);
        }
      }
    }
    return outcome;
  }

  /** Everything about the token itself: format, signature, registered claims, scopes. */
  private verify(token: string): Outcome {
    if (token.length > MAX_TOKEN_LENGTH) return Outcome.invalid("invalid_token", "token too large");
    const parts = token.split(".");
    if (parts.length != 3 || parts[0].length == 0 || parts[1].length == 0 || parts[2].length == 0) {
      return Outcome.invalid("invalid_token", "malformed token (expected header.payload.signature)");
    }
    if (!isBase64UrlText(parts[2])) return Outcome.invalid("invalid_token", "malformed token signature");
    const header = decodeJsonObject(parts[0]);
    if (header === null) return Outcome.invalid("invalid_token", "malformed token header");
    const alg = header.getString("alg", "");
    if (!this.algorithms.includes(alg)) return Outcome.invalid("invalid_token", "algorithm '" + safeText(alg) + "' not accepted");
    // RFC 7515 §4.1.11: extensions marked critical that we do not understand make the token invalid.
    if (header.has("crit")) return Outcome.invalid("invalid_token", "unsupported critical header parameters");
    const kid = header.getString("kid", "");

    let candidates = 0;
    let verified = false;
    const data = encodeBase64Url(String.UTF8.encode(parts[0] + "." + parts[1]));
    for (let i = 0; i < this.keys.length && !verified; i++) {
      const key = this.keys[i];
      if (!key.fits(alg)) continue;
      if (kid.length > 0 && key.kid.length > 0 && key.kid != kid) continue;
      if (kid.length > 0 && key.kid.length == 0 && this.hasKid(kid)) continue;
      candidates++;
      verified = this.checkSignature(alg, key, data, parts[2]);
    }
    if (candidates == 0) {
      if (kid.length == 0) return Outcome.invalid("invalid_token", "no key for algorithm " + alg);
      if (this.hasKid(kid)) return Outcome.invalid("invalid_token", "key '" + safeText(kid) + "' is not for " + alg);
      return Outcome.invalid("invalid_token", "unknown key id '" + safeText(kid) + "'");
    }
    if (!verified) return Outcome.invalid("invalid_token", "signature verification failed");

    const claims = decodeJsonObject(parts[1]);
    if (claims === null) return Outcome.invalid("invalid_token", "malformed token payload");
    const claimProblem = this.checkClaims(claims);
    if (claimProblem.length > 0) return Outcome.invalid("invalid_token", claimProblem);
    const missingScope = this.missingScope(claims);
    if (missingScope.length > 0) {
      const outcome = Outcome.forbidden("insufficient_scope", "token lacks scope '" + safeText(missingScope) + "'");
      outcome.scope = this.requiredScopes.join(" ");
      return outcome;
    }
    this.publish(claims);
    const principal = claims.get(this.principalClaim);
    return Outcome.allow(principal === null ? "" : claimText(principal));
  }

  private hasKid(kid: string): bool {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i].kid == kid) return true;
    return false;
  }

  private checkSignature(alg: string, key: JwtKey, data: string, signature: string): bool {
    const args = "{\"alg\":\"" + alg + "\",\"key\":" + key.keyJson + ",\"data\":\"" + data + "\",\"signature\":\"" + signature + "\"}";
    const result = callForeignFunction("weft.crypto.verify", String.UTF8.encode(args));
    if (result.status != WasmResult.Ok) {
      // NotFound: a host without the Weft extension; BadArgument: the key does not fit alg.
      logWarn("auth: weft.crypto.verify with key " + key.label + " for " + alg + ": " + wasmResultName(result.status));
      return false;
    }
    return result.value.byteLength == 1 && load<u8>(changetype<usize>(result.value)) == 1;
  }

  /** "" when exp / nbf / iat / iss / aud are acceptable, else why not. */
  private checkClaims(claims: JsonValue): string {
    const now = <f64>getCurrentTimeNanoseconds() / 1e9;
    const exp = claims.get("exp");
    if (exp === null) {
      if (this.requireExp) return "token has no expiry (exp)";
    } else if (!exp.isNumber) {
      return "exp is not a number";
    } else if (now > exp.asFloat() + this.leewaySeconds) {
      return "token has expired";
    }
    const nbf = claims.get("nbf");
    if (nbf !== null) {
      if (!nbf.isNumber) return "nbf is not a number";
      if (now + this.leewaySeconds < nbf.asFloat()) return "token is not valid yet";
    }
    const iat = claims.get("iat");
    if (iat !== null) {
      if (!iat.isNumber) return "iat is not a number";
      if (now + this.leewaySeconds < iat.asFloat()) return "token was issued in the future";
    }
    if (this.issuers.length > 0) {
      const iss = claims.get("iss");
      if (iss === null || iss.kind != JsonKind.String || !this.issuers.includes(iss.asString())) return "issuer not accepted";
    }
    if (this.audiences.length > 0 && !this.audienceMatches(claims.get("aud"))) return "audience not accepted";
    return "";
  }

  /** aud is a string or a list of strings (RFC 7519 §4.1.3); one of them must be ours. */
  private audienceMatches(aud: JsonValue | null): bool {
    if (aud === null) return false;
    if (aud.kind == JsonKind.String) return this.audiences.includes(aud.asString());
    const items = aud.asArray();
    for (let i = 0; i < items.length; i++) {
      if (items[i].kind == JsonKind.String && this.audiences.includes(items[i].asString())) return true;
    }
    return false;
  }

  /** The first required scope the token does not grant ("" = none missing). Scopes: `scope` (space-separated) or `scp`. */
  private missingScope(claims: JsonValue): string {
    if (this.requiredScopes.length == 0) return "";
    const granted = new Array<string>();
    const scope = claims.get("scope");
    if (scope !== null && scope.kind == JsonKind.String) {
      const words = scope.asString().split(" ");
      for (let i = 0; i < words.length; i++) if (words[i].length > 0) granted.push(words[i]);
    }
    const scp = claims.get("scp");
    if (scp !== null) {
      if (scp.kind == JsonKind.String) granted.push(scp.asString());
      const items = scp.asArray();
      for (let i = 0; i < items.length; i++) granted.push(items[i].asString());
    }
    for (let i = 0; i < this.requiredScopes.length; i++) {
      if (!granted.includes(this.requiredScopes[i])) return this.requiredScopes[i];
    }
    return "";
  }

  /** Every claim as weft.auth.claims.<name>; the chosen ones also as request headers. */
  private publish(claims: JsonValue): void {
    const names = claims.objectKeys();
    for (let i = 0; i < names.length; i++) {
      setPropertyString(["weft", "auth", "claims", names[i]], claimText(claims.get(names[i])!));
    }
    for (let i = 0; i < this.claimHeaders.length; i++) {
      const forwarded = this.claimHeaders[i];
      const value = claims.get(forwarded.claim);
      if (value !== null && !value.isNull) requestHeaders.replace(forwarded.header, claimText(value));
    }
  }
}

/**
 * A claim as text: strings as they are, numbers in decimal, booleans as true/false, lists as
 * their elements joined by commas, objects as JSON.
 */
export function claimText(value: JsonValue): string {
  switch (value.kind) {
    case JsonKind.String: return value.asString();
    case JsonKind.Integer: return value.asInteger().toString();
    case JsonKind.Float: return value.asFloat().toString();
    case JsonKind.Bool: return value.asBool() ? "true" : "false";
    case JsonKind.Null: return "";
    case JsonKind.Array: {
      const items = value.asArray();
      const texts = new Array<string>();
      for (let i = 0; i < items.length; i++) texts.push(claimText(items[i]));
      return texts.join(",");
    }
    default: return value.stringify();
  }
}

/** A base64url segment holding a JSON object, or null. */
function decodeJsonObject(segment: string): JsonValue | null {
  const bytes = decodeBase64Url(segment);
  if (bytes === null) return null;
  const value = parseJson(String.UTF8.decode(bytes));
  return value !== null && value.kind == JsonKind.Object ? value : null;
}

/** Token-supplied text echoed in a challenge: no quotes or backslashes, bounded length. */
function safeText(text: string): string {
  const out = text.length > 64 ? text.substring(0, 64) : text;
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c == 0x22 || c == 0x5c) return "?";
  }
  return out;
}
