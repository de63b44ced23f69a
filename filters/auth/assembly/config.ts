// The filter's configuration: named methods, and which of them guard which requests (rules
// by path prefix and/or router route name, first match wins, else the default policy).

import { JsonKind, JsonValue } from "../../../sdk/assembly";
import { ApiKeyMethod } from "./apikey";
import { ExtAuthzMethod } from "./extauthz";
import { JwtMethod } from "./jwt";
import { AuthMethod } from "./method";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { stringList } from "./values";

const METHOD_TYPES: Array<string> = ["api_key", "jwt", "ext_authz"];

/** What a request must pass. */
export class Policy {
  constructor(
    /** Tried in order; empty = no authentication (the request passes as it is). */
    readonly methods: Array<AuthMethod>,
    /** false: every method must allow. true: the first method whose credential the request carries decides. */
    readonly requireAny: bool,
    /** When not empty, only these principals are allowed (others get 403). */
    readonly principals: Array<string>,
  ) {}
}

export class Rule {
  /** With `ignoreCase`, `prefix` is lower case and so is the path it is compared with. */
  constructor(readonly prefix: string, readonly ignoreCase: bool, readonly route: string, readonly policy: Policy) {}

  /** `path` as sdk/assembly/path.ts normalises it (matrix parameters and dot segments gone). */
  matches(path: string, route: string): bool {
    if (this.prefix.length > 0 && !(this.ignoreCase ? path.toLowerCase() : path).startsWith(this.prefix)) return false;
    if (this.route.length > 0 && this.route != route) return false;
    return true;
  }
}

export class AuthConfig {
  realm: string = "weft";
  readonly methods: Map<string, AuthMethod> = new Map<string, AuthMethod>();
  readonly rules: Array<Rule> = new Array<Rule>();
  fallback: Policy = new Policy([], false, []);
  /** Some rule names a route: weft.route.name must be read. */
  usesRouteNames: bool = false;
  /** Every header a method sets for the upstream, removed from incoming requests first. */
  readonly protectedHeaders: Array<string> = new Array<string>();

  static parse(config: JsonValue, reader: ConfigReader): AuthConfig {
    const parsed = new AuthConfig();
    if (config.kind != JsonKind.Object) {
      reader.fail("", "the configuration must be an object");
      return parsed;
    }
    reader.expectObject(config, "", ["realm", "methods", "rules", "default", "api_key", "jwt", "ext_authz"]);
    parsed.realm = reader.string(config, "", "realm", "weft");
    if (parsed.realm.includes("\"") || parsed.realm.includes("\\")) reader.fail("realm", "must not contain quotes or backslashes");

    // Shorthand: a top-level api_key / jwt / ext_authz object is a method of that name and type.
    for (let i = 0; i < METHOD_TYPES.length; i++) {
      const shorthand = config.get(METHOD_TYPES[i]);
      if (shorthand !== null) parsed.addMethod(METHOD_TYPES[i], METHOD_TYPES[i], shorthand, reader);
    }
    const methods = config.get("methods");
    if (methods !== null) {
      if (methods.kind != JsonKind.Object) reader.fail("methods", "must be an object {name: {type, ...}, ...}");
      const names = methods.objectKeys();
      for (let i = 0; i < names.length; i++) {
        const method = methods.get(names[i])!;
        const type = method.getString("type", "");
        if (!METHOD_TYPES.includes(type)) {
          reader.fail("methods." + names[i] + ".type", "must be one of " + METHOD_TYPES.join(", "));
          continue;
        }
        if (parsed.methods.has(names[i])) reader.fail("methods." + names[i], "is defined twice");
        else parsed.addMethod(names[i], type, method, reader);
      }
    }
    if (parsed.methods.size == 0) reader.fail("", "no authentication methods: give methods, or api_key / jwt / ext_authz");

    const rules = config.get("rules");
    if (rules !== null && !rules.isNull) {
      if (rules.kind != JsonKind.Array) reader.fail("rules", "must be a list");
      const entries = rules.asArray();
      for (let i = 0; i < entries.length; i++) parsed.addRule(entries[i], "rules[" + i.toString() + "]", reader);
    }
    const fallback = config.get("default");
    if (fallback !== null && !fallback.isNull) {
      reader.expectObject(fallback, "default", ["methods", "require", "principals"]);
      parsed.fallback = parsed.parsePolicy(fallback, "default", reader);
    } else {
      parsed.fallback = new Policy(parsed.methods.values(), false, []);
    }

    const methodList = parsed.methods.values();
    for (let i = 0; i < methodList.length; i++) {
      const headers = methodList[i].headersItSets();
      for (let j = 0; j < headers.length; j++) {
        if (!parsed.protectedHeaders.includes(headers[j])) parsed.protectedHeaders.push(headers[j]);
      }
    }
    return parsed;
  }

  /** The policy for a request: the first matching rule's, else the default. */
  policyFor(path: string, route: string): Policy {
    for (let i = 0; i < this.rules.length; i++) {
      if (this.rules[i].matches(path, route)) return this.rules[i].policy;
    }
    return this.fallback;
  }

  private addMethod(name: string, type: string, config: JsonValue, reader: ConfigReader): void {
    if (config.kind != JsonKind.Object) {
      reader.fail("methods." + name, "must be an object");
      return;
    }
    let method: AuthMethod;
    if (type == "api_key") method = ApiKeyMethod.parse(name, config, reader);
    else if (type == "jwt") method = JwtMethod.parse(name, config, reader);
    else method = ExtAuthzMethod.parse(name, config, reader);
    this.methods.set(name, method);
  }

  private addRule(rule: JsonValue, where: string, reader: ConfigReader): void {
    if (rule.kind != JsonKind.Object) {
      reader.fail(where, "must be an object {prefix?, ignore_case?, route?, methods, require?, principals?}");
      return;
    }
    reader.expectObject(rule, where, ["prefix", "ignore_case", "route", "methods", "require", "principals"]);
    const ignoreCase = reader.boolean(rule, where, "ignore_case", false);
    const written = reader.string(rule, where, "prefix", "");
    const prefix = ignoreCase ? written.toLowerCase() : written;
    const route = reader.string(rule, where, "route", "");
    if (prefix.length > 0 && !prefix.startsWith("/")) reader.fail(where + ".prefix", "must start with /");
    if (route.length > 0) this.usesRouteNames = true;
    this.rules.push(new Rule(prefix, ignoreCase, route, this.parsePolicy(rule, where, reader)));
  }

  private parsePolicy(policy: JsonValue, where: string, reader: ConfigReader): Policy {
    if (!policy.has("methods")) reader.fail(where + ".methods", "is required: a list of method names ([] = no authentication)");
    const names = stringList(policy.get("methods"), where + ".methods", reader);
    const methods = new Array<AuthMethod>();
    for (let i = 0; i < names.length; i++) {
      if (this.methods.has(names[i])) methods.push(this.methods.get(names[i]));
      else reader.fail(where + ".methods", "names an unknown method '" + names[i] + "'");
    }
    const require = reader.string(policy, where, "require", "all");
    if (require != "all" && require != "any") reader.fail(where + ".require", "must be all or any");
    return new Policy(methods, require == "any", stringList(policy.get("principals"), where + ".principals", reader));
  }
}
