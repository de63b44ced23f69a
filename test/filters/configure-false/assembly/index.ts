// configure-false: proxy_on_configure answers false when the plugin configuration is the
// text "reject", true otherwise. Passes every request through untouched.
export * from "../../../../sdk/assembly/exports";
import { RootContext, registerRootContext } from "../../../../sdk/assembly";

class ConfigureFalseRoot extends RootContext {
  onConfigure(size: u32): bool {
    return this.getPluginConfiguration() != "reject";
  }
}

registerRootContext((contextId: u32): RootContext => new ConfigureFalseRoot(contextId), "configure-false");
