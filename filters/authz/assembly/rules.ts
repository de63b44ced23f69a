// Rules and their conditions. A rule matches when every condition it has matches; a condition
// over a list of alternatives (principals, addresses, methods, paths, hosts) matches when one of
// them does, and each header or claim requirement is a condition of its own.

import { CidrBlock } from "./address";
import { PathMatcher } from "./path";
import { RequestFacts } from "./request";

export enum Action {
  Allow,
  Deny,
}

export function actionName(action: Action): string {
  return action == Action.Allow ? "allow" : "deny";
}

export abstract class Condition {
  abstract matches(request: RequestFacts): bool;
}

export class Rule {
  constructor(readonly name: string, readonly action: Action, readonly conditions: Array<Condition>) {}

  matches(request: RequestFacts): bool {
    for (let i = 0; i < this.conditions.length; i++) {
      if (!this.conditions[i].matches(request)) return false;
    }
    return true;
  }
}

/** A principal as written in a rule: exact, `prefix*`, or `*` for anyone who has one. */
export class PrincipalPattern {
  readonly isPrefix: bool;
  readonly text: string;

  constructor(pattern: string) {
    const isPrefix = pattern.endsWith("*");
    this.isPrefix = isPrefix;
    this.text = isPrefix ? pattern.substring(0, pattern.length - 1) : pattern;
  }

  matches(principal: string): bool {
    return this.isPrefix ? principal.startsWith(this.text) : principal == this.text;
  }
}

function anyPrincipalMatches(patterns: Array<PrincipalPattern>, principal: string | null): bool {
  if (principal === null) return false;
  for (let i = 0; i < patterns.length; i++) {
    if (patterns[i].matches(principal)) return true;
  }
  return false;
}

/** `source.principal`: the peer certificate's identity; a request without one never matches. */
export class SourcePrincipalCondition extends Condition {
  constructor(readonly patterns: Array<PrincipalPattern>) {
    super();
  }

  matches(request: RequestFacts): bool {
    return anyPrincipalMatches(this.patterns, request.sourcePrincipal());
  }
}

/** `weft.auth.principal`: who the auth filter authenticated; a request without one never matches. */
export class RequestPrincipalCondition extends Condition {
  constructor(readonly patterns: Array<PrincipalPattern>) {
    super();
  }

  matches(request: RequestFacts): bool {
    return anyPrincipalMatches(this.patterns, request.requestPrincipal());
  }
}

export class SourceIpCondition extends Condition {
  constructor(readonly blocks: Array<CidrBlock>) {
    super();
  }

  matches(request: RequestFacts): bool {
    const address = request.sourceAddress();
    if (address === null) return false;
    for (let i = 0; i < this.blocks.length; i++) {
      if (this.blocks[i].contains(address)) return true;
    }
    return false;
  }
}

export class MethodCondition extends Condition {
  /** Upper-case. */
  constructor(readonly methods: Array<string>) {
    super();
  }

  matches(request: RequestFacts): bool {
    return this.methods.includes(request.method());
  }
}

export class PathCondition extends Condition {
  constructor(readonly matchers: Array<PathMatcher>) {
    super();
  }

  matches(request: RequestFacts): bool {
    const path = request.normalizedPath();
    for (let i = 0; i < this.matchers.length; i++) {
      if (this.matchers[i].matches(path)) return true;
    }
    return false;
  }
}

/** A host as written in a rule (lower case, no port): exact, or `*.example.com` for any subdomain. */
export class HostPattern {
  readonly isWildcard: bool;
  /** The exact host, or `.example.com` for a wildcard. */
  readonly text: string;

  constructor(pattern: string) {
    const isWildcard = pattern.startsWith("*.");
    this.isWildcard = isWildcard;
    this.text = isWildcard ? pattern.substring(1) : pattern;
  }

  matches(host: string): bool {
    return this.isWildcard ? host.endsWith(this.text) && host.length > this.text.length : host == this.text;
  }
}

export class HostCondition extends Condition {
  constructor(readonly patterns: Array<HostPattern>) {
    super();
  }

  matches(request: RequestFacts): bool {
    const host = request.hostName();
    for (let i = 0; i < this.patterns.length; i++) {
      if (this.patterns[i].matches(host)) return true;
    }
    return false;
  }
}

export enum ValueTest {
  /** The value equals one of `values` (a header's `exact`, a claim's `equals` and `in`). */
  OneOf,
  /** The value starts with `values[0]`. */
  Prefix,
  /** One item of the comma-separated value equals one of `values` (list claims such as roles). */
  Contains,
  /** The value is there. */
  Present,
  /** The value is not there. */
  Absent,
}

/** Tests a header's or a claim's value; an absent value only passes `Absent`. */
export function testValue(test: ValueTest, values: Array<string>, value: string | null): bool {
  if (test == ValueTest.Absent) return value === null;
  if (value === null) return false;
  switch (test) {
    case ValueTest.OneOf: return values.includes(value);
    case ValueTest.Prefix: return value.startsWith(values[0]);
    case ValueTest.Contains: {
      const items = value.split(",");
      for (let i = 0; i < items.length; i++) {
        if (values.includes(items[i].trim())) return true;
      }
      return false;
    }
    default: return true;
  }
}

export class HeaderCondition extends Condition {
  /** `name` is lower case. */
  constructor(readonly name: string, readonly test: ValueTest, readonly values: Array<string>) {
    super();
  }

  matches(request: RequestFacts): bool {
    return testValue(this.test, this.values, request.header(this.name));
  }
}

/** A claim of the caller's verified JWT, as the auth filter published it (`weft.auth.claims.<name>`). */
export class ClaimCondition extends Condition {
  constructor(readonly name: string, readonly test: ValueTest, readonly values: Array<string>) {
    super();
  }

  matches(request: RequestFacts): bool {
    return testValue(this.test, this.values, request.claim(this.name));
  }
}
