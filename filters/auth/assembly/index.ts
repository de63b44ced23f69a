// auth: authenticates requests with API keys, JWTs or an external authorization service,
// per route prefix / route name or globally. See ../README.md for the configuration.

export * from "../../../sdk/assembly/exports";

import { HttpContext, Phases, RootContext, logError, logInfo, registerRootContext } from "../../../sdk/assembly";
import { AuthConfig } from "./config";
import { ConfigReader } from "../../../sdk/assembly/config-reader";
import { AuthStream } from "./stream";

class AuthRoot extends RootContext {
  private config: AuthConfig | null = null;

  onConfigure(configurationSize: u32): bool {
    const json = this.getPluginConfigurationJson();
    if (json === null) return false;
    const reader = new ConfigReader();
    const config = AuthConfig.parse(json, reader);
    if (!reader.ok) {
      logError("auth: configuration refused: " + reader.message());
      return false;
    }
    this.config = config;
    logInfo("auth: " + config.methods.size.toString() + " method(s) (" + config.methods.keys().join(", ") + "), "
      + config.rules.length.toString() + " rule(s)");
    return true;
  }

  phases(): u32 {
    return Phases.RequestHeaders;
  }

  createHttpContext(contextId: u32): HttpContext | null {
    return new AuthStream(contextId, this, this.config!);
  }
}

registerRootContext((contextId: u32): RootContext => new AuthRoot(contextId), "auth");
