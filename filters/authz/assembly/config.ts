// The authz configuration (JSON): rules in order, the default action, dry run. Every mistake is
// reported with its place (`rules[2].paths[0]: give exactly one of exact, prefix, glob`) and
// refuses the configuration: a policy that is only half understood must not run. See ../README.md.

import { JsonKind, JsonValue } from "../../../sdk/assembly";
import { ConfigReader, describe, join } from "../../../sdk/assembly/config-reader";
import { CidrBlock } from "./address";
import { PathMatchKind, PathMatcher } from "./path";
import {
  Action, ClaimCondition, Condition, HeaderCondition, HostCondition, HostPattern, MethodCondition, PathCondition,
  PrincipalPattern, RequestPrincipalCondition, Rule, SourceIpCondition, SourcePrincipalCondition, ValueTest,
} from "./rules";

const ACTIONS: Array<string> = ["allow", "deny"];
const RULE_FIELDS: Array<string> = [
  "name", "action", "principals", "request_principals", "source_ips", "methods", "paths", "hosts", "headers", "claims",
];
/** Rule names appear in 403 bodies, log lines and metric labels: keep them plain. */
const RULE_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/";

export class AuthzConfig {
  rules: Array<Rule> = new Array<Rule>();
  defaultAction: Action = Action.Deny;
  dryRun: bool = false;
}

export function parseConfig(config: JsonValue, reader: ConfigReader): AuthzConfig | null {
  const parsed = new AuthzConfig();
  if (!reader.expectObject(config, "", ["rules", "default_action", "dry_run"])) return null;
  parsed.defaultAction = reader.choice(config, "", "default_action", "deny", ACTIONS) == "allow" ? Action.Allow : Action.Deny;
  parsed.dryRun = reader.boolean(config, "", "dry_run", false);

  const rules = config.get("rules");
  if (rules !== null) {
    if (rules.kind != JsonKind.Array) {
      reader.fail("rules", "must be a list, not " + describe(rules));
    } else {
      const entries = rules.asArray();
      const names = new Array<string>();
      for (let i = 0; i < entries.length; i++) {
        const rule = parseRule(entries[i], "rules[" + i.toString() + "]", reader);
        if (rule === null) continue;
        if (names.includes(rule.name)) reader.fail("rules[" + i.toString() + "].name", "\"" + rule.name + "\" is used by an earlier rule");
        names.push(rule.name);
        parsed.rules.push(rule);
      }
    }
  }
  return reader.ok ? parsed : null;
}

function parseRule(value: JsonValue, path: string, reader: ConfigReader): Rule | null {
  if (!reader.expectObject(value, path, RULE_FIELDS)) return null;
  const name = reader.string(value, path, "name", "");
  if (name.length == 0) reader.fail(join(path, "name"), "is required");
  else if (!onlyChars(name, RULE_NAME_CHARS)) reader.fail(join(path, "name"), "\"" + name + "\" may only use letters, digits and _ - . : /");
  if (value.get("action") === null) reader.fail(join(path, "action"), "is required (allow or deny)");
  const action = reader.choice(value, path, "action", "deny", ACTIONS) == "allow" ? Action.Allow : Action.Deny;

  const conditions = new Array<Condition>();
  const principals = patternList(value, path, "principals", reader);
  if (principals !== null) conditions.push(new SourcePrincipalCondition(principals));
  const requestPrincipals = patternList(value, path, "request_principals", reader);
  if (requestPrincipals !== null) conditions.push(new RequestPrincipalCondition(requestPrincipals));
  const sourceIps = cidrList(value, path, reader);
  if (sourceIps !== null) conditions.push(new SourceIpCondition(sourceIps));
  const methods = methodList(value, path, reader);
  if (methods !== null) conditions.push(new MethodCondition(methods));
  const paths = pathList(value, path, reader);
  if (paths !== null) conditions.push(new PathCondition(paths));
  const hosts = hostList(value, path, reader);
  if (hosts !== null) conditions.push(new HostCondition(hosts));
  valueTests(value, path, "headers", reader, conditions);
  valueTests(value, path, "claims", reader, conditions);
  return new Rule(name, action, conditions);
}

function onlyChars(text: string, allowed: string): bool {
  for (let i = 0; i < text.length; i++) {
    if (!allowed.includes(text.charAt(i))) return false;
  }
  return true;
}

/** A list of non-empty strings; null when the field is absent (or wrong, which is recorded). */
function stringList(object: JsonValue, path: string, key: string, reader: ConfigReader): Array<string> | null {
  const value = object.get(key);
  if (value === null) return null;
  const field = join(path, key);
  if (value.kind != JsonKind.Array) {
    reader.fail(field, "must be a list of strings, not " + describe(value));
    return null;
  }
  const items = value.asArray();
  if (items.length == 0) {
    // An empty list could mean "anything" or "nothing": neither is safe to guess.
    reader.fail(field, "must not be empty (leave the field out to match any request)");
    return null;
  }
  const strings = new Array<string>();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item.kind != JsonKind.String || item.asString().length == 0) {
      reader.fail(field + "[" + i.toString() + "]", "must be a non-empty string, not " + describe(item));
      continue;
    }
    strings.push(item.asString());
  }
  return strings;
}

function patternList(object: JsonValue, path: string, key: string, reader: ConfigReader): Array<PrincipalPattern> | null {
  const texts = stringList(object, path, key, reader);
  if (texts === null) return null;
  const patterns = new Array<PrincipalPattern>();
  for (let i = 0; i < texts.length; i++) {
    const star = texts[i].indexOf("*");
    if (star >= 0 && star != texts[i].length - 1) {
      reader.fail(join(path, key) + "[" + i.toString() + "]", "may have \"*\" only at its end (a prefix), not in " + texts[i]);
    }
    patterns.push(new PrincipalPattern(texts[i]));
  }
  return patterns;
}

function cidrList(object: JsonValue, path: string, reader: ConfigReader): Array<CidrBlock> | null {
  const texts = stringList(object, path, "source_ips", reader);
  if (texts === null) return null;
  const blocks = new Array<CidrBlock>();
  for (let i = 0; i < texts.length; i++) {
    const block = CidrBlock.parse(texts[i]);
    if (block === null) reader.fail(join(path, "source_ips") + "[" + i.toString() + "]", "\"" + texts[i] + "\" is not an IP address or CIDR block (10.0.0.0/8, 2001:db8::/32)");
    else blocks.push(block);
  }
  return blocks;
}

function methodList(object: JsonValue, path: string, reader: ConfigReader): Array<string> | null {
  const texts = stringList(object, path, "methods", reader);
  if (texts === null) return null;
  const methods = new Array<string>();
  for (let i = 0; i < texts.length; i++) {
    const method = texts[i].toUpperCase();
    if (!onlyChars(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")) reader.fail(join(path, "methods") + "[" + i.toString() + "]", "\"" + texts[i] + "\" is not an HTTP method");
    methods.push(method);
  }
  return methods;
}

function hostList(object: JsonValue, path: string, reader: ConfigReader): Array<HostPattern> | null {
  const texts = stringList(object, path, "hosts", reader);
  if (texts === null) return null;
  const hosts = new Array<HostPattern>();
  for (let i = 0; i < texts.length; i++) {
    const host = texts[i].toLowerCase();
    const star = host.indexOf("*");
    if (host.includes(":") && !host.startsWith("[")) reader.fail(join(path, "hosts") + "[" + i.toString() + "]", "\"" + texts[i] + "\" must not have a port (rules match the host without it)");
    else if (star >= 0 && (star != 0 || !host.startsWith("*.") || host.lastIndexOf("*") != 0)) {
      reader.fail(join(path, "hosts") + "[" + i.toString() + "]", "\"" + texts[i] + "\": a wildcard is only allowed as \"*.\" in front (*.example.com)");
    }
    hosts.push(new HostPattern(host));
  }
  return hosts;
}

const PATH_FIELDS: Array<string> = ["exact", "prefix", "glob", "ignore_case"];

function pathList(object: JsonValue, path: string, reader: ConfigReader): Array<PathMatcher> | null {
  const value = object.get("paths");
  if (value === null) return null;
  const field = join(path, "paths");
  if (value.kind != JsonKind.Array || value.asArray().length == 0) {
    reader.fail(field, "must be a non-empty list of {exact | prefix | glob: \"/...\", ignore_case?}, not " + describe(value));
    return null;
  }
  const items = value.asArray();
  const matchers = new Array<PathMatcher>();
  for (let i = 0; i < items.length; i++) {
    const itemPath = field + "[" + i.toString() + "]";
    if (!reader.expectObject(items[i], itemPath, PATH_FIELDS)) continue;
    const ignoreCase = reader.boolean(items[i], itemPath, "ignore_case", false);
    const kinds = items[i].objectKeys().filter((key: string): bool => key != "ignore_case");
    if (kinds.length != 1) {
      reader.fail(itemPath, "give exactly one of exact, prefix, glob");
      continue;
    }
    const pattern = reader.string(items[i], itemPath, kinds[0], "");
    // Paths start with "/"; a glob may also start with a wildcard (`**/.**`: any dot segment).
    if (!pattern.startsWith("/") && !(kinds[0] == "glob" && pattern.startsWith("*"))) {
      reader.fail(join(itemPath, kinds[0]), "must start with \"/\"" + (kinds[0] == "glob" ? " or \"*\"" : "") + ", not " + describe(items[i].get(kinds[0])!));
      continue;
    }
    const kind = kinds[0] == "exact" ? PathMatchKind.Exact : kinds[0] == "prefix" ? PathMatchKind.Prefix : PathMatchKind.Glob;
    matchers.push(new PathMatcher(kind, ignoreCase ? pattern.toLowerCase() : pattern, ignoreCase));
  }
  return matchers;
}

/**
 * `headers` ({name, exact | prefix | present}) or `claims` ({name, equals | in | contains |
 * present}): one condition per entry, each of which must hold.
 */
function valueTests(object: JsonValue, path: string, key: string, reader: ConfigReader, conditions: Array<Condition>): void {
  const value = object.get(key);
  if (value === null) return;
  const isHeader = key == "headers";
  const tests: Array<string> = isHeader ? ["exact", "prefix", "present"] : ["equals", "in", "contains", "present"];
  const field = join(path, key);
  if (value.kind != JsonKind.Array || value.asArray().length == 0) {
    reader.fail(field, "must be a non-empty list of {name, " + tests.join(" | ") + "}, not " + describe(value));
    return;
  }
  const items = value.asArray();
  for (let i = 0; i < items.length; i++) {
    const itemPath = field + "[" + i.toString() + "]";
    const allowed = tests.slice(0);
    allowed.unshift("name");
    if (!reader.expectObject(items[i], itemPath, allowed)) continue;
    let name = reader.string(items[i], itemPath, "name", "");
    if (name.length == 0) {
      reader.fail(join(itemPath, "name"), "is required");
      continue;
    }
    if (isHeader) name = name.toLowerCase();
    const given = new Array<string>();
    for (let t = 0; t < tests.length; t++) {
      if (items[i].has(tests[t])) given.push(tests[t]);
    }
    if (given.length != 1) {
      reader.fail(itemPath, "give exactly one of " + tests.join(", "));
      continue;
    }
    const test = given[0];
    const operand = items[i].get(test)!;
    let values = new Array<string>();
    let kind = ValueTest.OneOf;
    if (test == "present") {
      if (operand.kind != JsonKind.Bool) {
        reader.fail(join(itemPath, test), "must be true or false, not " + describe(operand));
        continue;
      }
      kind = operand.asBool() ? ValueTest.Present : ValueTest.Absent;
    } else if (test == "in" || test == "contains") {
      // `contains` takes one value or a list of them.
      if (test == "contains" && operand.kind == JsonKind.String) values.push(operand.asString());
      else {
        const list = stringList(items[i], itemPath, test, reader);
        if (list === null) continue;
        values = list;
      }
      kind = test == "in" ? ValueTest.OneOf : ValueTest.Contains;
    } else {
      if (operand.kind != JsonKind.String) {
        reader.fail(join(itemPath, test), "must be a string, not " + describe(operand));
        continue;
      }
      values.push(operand.asString());
      kind = test == "prefix" ? ValueTest.Prefix : ValueTest.OneOf;
    }
    conditions.push(isHeader ? <Condition>new HeaderCondition(name, kind, values) : <Condition>new ClaimCondition(name, kind, values));
  }
}
