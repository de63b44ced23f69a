// What rules know about the current request, each fact read from the host the first time a
// rule asks for it and kept for the rest of the evaluation: most rule sets look at two or three
// facts, and a request should not pay for the others.

import { Header, getPropertyString, matchingPath, requestHeaders } from "../../../sdk/assembly";
import { IpAddress } from "./address";

export class RequestFacts {
  private pathRead: bool = false;
  private path: string = "";
  private hostRead: bool = false;
  private host: string = "";
  private addressRead: bool = false;
  private address: IpAddress | null = null;
  private principalRead: bool = false;
  private principal: string | null = null;
  private authPrincipalRead: bool = false;
  private authPrincipal: string | null = null;
  private headerPairs: Array<Header> | null = null;

  /** Upper-cased, so that a rule for DELETE also catches a client that sends `delete`. */
  method(): string {
    const method = requestHeaders.get(":method");
    return method === null ? "" : method.toUpperCase();
  }

  /** The normalised path (sdk/assembly/path.ts). */
  normalizedPath(): string {
    if (!this.pathRead) {
      const raw = requestHeaders.get(":path");
      this.path = matchingPath(raw === null ? "/" : raw);
      this.pathRead = true;
    }
    return this.path;
  }

  /** `:authority` in lower case, without its port. */
  hostName(): string {
    if (!this.hostRead) {
      const authority = requestHeaders.get(":authority");
      this.host = authority === null ? "" : stripPort(authority.toLowerCase());
      this.hostRead = true;
    }
    return this.host;
  }

  /** The peer's IP (`source.address`), null when the host gives none or it does not parse. */
  sourceAddress(): IpAddress | null {
    if (!this.addressRead) {
      const text = getPropertyString(["source", "address"]);
      this.address = text === null ? null : IpAddress.parsePeer(text);
      this.addressRead = true;
    }
    return this.address;
  }

  /** The peer's identity from its client certificate (`source.principal`); null without mTLS. */
  sourcePrincipal(): string | null {
    if (!this.principalRead) {
      this.principal = nonEmpty(getPropertyString(["source", "principal"]));
      this.principalRead = true;
    }
    return this.principal;
  }

  /** Who the auth filter says the caller is (`weft.auth.principal`); null when it named nobody. */
  requestPrincipal(): string | null {
    if (!this.authPrincipalRead) {
      this.authPrincipal = nonEmpty(getPropertyString(["weft", "auth", "principal"]));
      this.authPrincipalRead = true;
    }
    return this.authPrincipal;
  }

  /** Every value of a (lower-case) header joined with ",", as Envoy's header matchers see them; null when absent. */
  header(name: string): string | null {
    let pairs = this.headerPairs;
    if (pairs === null) this.headerPairs = pairs = requestHeaders.pairs();
    let joined: string | null = null;
    for (let i = 0; i < pairs.length; i++) {
      if (pairs[i].key != name) continue;
      const value = pairs[i].value;
      joined = joined === null ? value : joined + "," + value;
    }
    return joined;
  }

  /** A claim the auth filter published (`weft.auth.claims.<name>`); null when absent. */
  claim(name: string): string | null {
    return getPropertyString(["weft", "auth", "claims", name]);
  }
}

function nonEmpty(value: string | null): string | null {
  return value !== null && value.length > 0 ? value : null;
}

/** `example.com:8080` -> `example.com`, `[::1]:80` -> `[::1]`. */
function stripPort(authority: string): string {
  const colon = authority.lastIndexOf(":");
  if (colon < 0) return authority;
  if (authority.startsWith("[") && authority.lastIndexOf("]") > colon) return authority;
  return authority.substring(0, colon);
}
