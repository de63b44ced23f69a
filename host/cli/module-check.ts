// What `weft validate` and the filter build say about a module beyond "it loads": imports the
// host does not implement (linked to a stub, so the module starts and fails only when the call
// is made, at request time), and an AssemblyScript entry file that forgot to re-export the SDK's
// proxy-wasm callbacks.

import { readFile } from 'node:fs/promises';
import { envFunctions } from '../abi/hostcalls.js';
import type { AbiState } from '../abi/state.js';
import type { GuestMemory } from '../abi/memory.js';
import { wasiFunctions } from '../abi/wasi.js';

const WASI_NAMESPACES = new Set(['wasi_snapshot_preview1', 'wasi_unstable']);

/** Names the host implements, per namespace (the tables are only built, never called). */
const implemented = {
  env: new Set(Object.keys(envFunctions({} as AbiState))),
  wasi: new Set(Object.keys(wasiFunctions({} as GuestMemory, () => undefined))),
};

export interface ModuleFindings {
  /** The module will misbehave: an import that silently answers 0, no proxy-wasm callbacks. */
  errors: string[];
  /** It may be fine: a proxy_* or WASI function SDKs probe and do without. */
  warnings: string[];
}

/** The hint for an AssemblyScript filter whose entry file does not re-export the SDK's exports. */
export const MISSING_EXPORTS_HINT =
  "exports no proxy-wasm callbacks (proxy_on_*): add `export * from 'weft-sdk/assembly/exports'` to the filter's entry file";

/** Findings about one module's bytes; a module that does not compile has none (loading reports it). */
export async function checkModule(bytes: Uint8Array): Promise<ModuleFindings> {
  const findings: ModuleFindings = { errors: [], warnings: [] };
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes);
  } catch {
    return findings;
  }
  if (!WebAssembly.Module.exports(module).some((item) => item.kind === 'function' && item.name.startsWith('proxy_on_') && item.name !== 'proxy_on_memory_allocate')) {
    findings.errors.push(MISSING_EXPORTS_HINT);
  }
  for (const item of WebAssembly.Module.imports(module)) {
    if (item.kind !== 'function') continue; // the loader refuses these with its own message
    const name = `${item.module}.${item.name}`;
    if (WASI_NAMESPACES.has(item.module)) {
      if (!implemented.wasi.has(item.name)) findings.warnings.push(`imports ${name}, which Weft does not implement (a call answers ENOSYS)`);
    } else if (item.module === 'env' && !implemented.env.has(item.name)) {
      if (item.name.startsWith('proxy_')) {
        findings.warnings.push(`imports ${name}, which Weft does not implement (a call answers Unimplemented)`);
      } else {
        findings.errors.push(`imports ${name}, which Weft does not implement: a call answers 0 and logs a warning, at request time (AssemblyScript: Date.now, Math.random and console need host imports; use the SDK's clock and Random)`);
      }
    }
  }
  return findings;
}

/** checkModule on a file; nothing when it cannot be read (loading reports that). */
export async function checkModuleFile(file: string): Promise<ModuleFindings> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch {
    return { errors: [], warnings: [] };
  }
  return checkModule(bytes);
}
