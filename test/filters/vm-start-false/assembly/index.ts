// vm-start-false: proxy_on_vm_start answers false, so the VM never starts.
export * from "../../../../sdk/assembly/exports";
import { RootContext, registerRootContext } from "../../../../sdk/assembly";

class VmStartFalseRoot extends RootContext {
  onVmStart(size: u32): bool {
    return false;
  }
}

registerRootContext((contextId: u32): RootContext => new VmStartFalseRoot(contextId), "vm-start-false");
