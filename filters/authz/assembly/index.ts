// authz: allows or denies each request by ordered rules over who is calling (mTLS principal,
// authenticated principal, JWT claims), from where (source address) and what it asks for
// (method, path, host, headers). The first rule that matches decides; a request no rule
// matches gets the default action. A denial is 403 `denied by rule "<name>"` with the
// access-log flag AZ; in dry run it is logged and counted instead, and the request goes on.
// Configuration and semantics: ../README.md.

export * from "../../../sdk/assembly/exports";

import {
  Counter, FilterHeadersStatus, Header, HttpContext, Phases, RootContext, getPropertyString, logError, logInfo, logWarn,
  registerRootContext, sendLocalResponse, setPropertyString,
} from "../../../sdk/assembly";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { AuthzConfig, parseConfig } from "./config";
import { RequestFacts } from "./request";
import { Action, Rule, actionName } from "./rules";

/** The `rule` label of requests decided by the default action (rule names cannot contain parentheses). */
const DEFAULT_RULE_LABEL = "(default)";

class AuthzRoot extends RootContext {
  config: AuthzConfig = new AuthzConfig();
  /** One per rule, in config order, then one for the default action. */
  decisions: Array<Counter> = new Array<Counter>();

  onConfigure(configurationSize: u32): bool {
    const json = this.getPluginConfigurationJson();
    if (json === null) return false;
    const reader = new ConfigReader();
    const config = parseConfig(json, reader);
    if (config === null) {
      logError("authz: invalid configuration: " + reader.message());
      return false;
    }
    this.config = config;
    const filter = getPropertyString(["plugin_name"]);
    const filterName = filter === null ? "authz" : filter;
    this.decisions = new Array<Counter>();
    for (let i = 0; i < config.rules.length; i++) {
      this.decisions.push(decisionCounter(filterName, config.rules[i].name, config.rules[i].action, config.dryRun));
    }
    this.decisions.push(decisionCounter(filterName, DEFAULT_RULE_LABEL, config.defaultAction, config.dryRun));
    logInfo(
      "authz: " + config.rules.length.toString() + " rules, default " + actionName(config.defaultAction) +
        (config.dryRun ? ", dry run (denials are logged, not enforced)" : ""),
    );
    return true;
  }

  phases(): u32 {
    return Phases.RequestHeaders;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new Authz(contextId, this);
  }
}

/**
 * `authz_requests_total{filter, rule, outcome}`: outcome `allowed`, `denied`, or
 * `dry_run_denied` for what dry run let through.
 */
function decisionCounter(filter: string, rule: string, action: Action, dryRun: bool): Counter {
  const outcome = action == Action.Allow ? "allowed" : dryRun ? "dry_run_denied" : "denied";
  return new Counter("authz_requests_total{filter=\"" + filter + "\",rule=\"" + rule + "\",outcome=\"" + outcome + "\"}");
}

class Authz extends HttpContext {
  constructor(contextId: u32, readonly authz: AuthzRoot) {
    super(contextId, authz);
  }

  onRequestHeaders(headerCount: u32, endOfStream: bool): FilterHeadersStatus {
    const config = this.authz.config;
    const request = new RequestFacts();
    let decided: Rule | null = null;
    let index = config.rules.length;
    for (let i = 0; i < config.rules.length; i++) {
      if (config.rules[i].matches(request)) {
        decided = config.rules[i];
        index = i;
        break;
      }
    }
    this.authz.decisions[index].increment();
    const action = decided === null ? config.defaultAction : decided.action;
    if (action == Action.Allow) return FilterHeadersStatus.Continue;

    const by = decided === null ? "the default action" : "rule \"" + decided.name + "\"";
    if (config.dryRun) {
      logWarn("authz dry run: would deny " + request.method() + " " + request.normalizedPath() + " (" + by + ")");
      return FilterHeadersStatus.Continue;
    }
    setPropertyString(["weft", "response", "flags"], "AZ");
    // The body names the rule, never its conditions: a caller learns which policy refused it, not how to get around it.
    sendLocalResponse(403, "denied by " + by + "\n", [new Header("content-type", "text/plain; charset=utf-8")]);
    return FilterHeadersStatus.StopIteration;
  }
}

registerRootContext((contextId: u32): RootContext => new AuthzRoot(contextId), "authz");
