// The import object of one instance, built from what the module asks for
// (WebAssembly.Module.imports), so modules from any SDK link: known functions get their
// implementation, unknown functions in the namespaces Weft serves get a stub that answers
// "unimplemented" and logs once, the first time it is called.

import { LogLevel, WasmResult } from './enums.js';

/** A function the guest imports: wasm values (numbers, BigInts) in, one or none out. */
export type HostFunction = (...args: never[]) => unknown;
export type HostFunctions = Record<string, HostFunction>;

const WASI_NAMESPACES = new Set(['wasi_snapshot_preview1', 'wasi_unstable']);
const ERRNO_NOSYS = 52;

/**
 * Why the module cannot be linked by Weft whatever its functions do (an import that is not a
 * function, or comes from a namespace Weft does not serve); undefined when it can.
 */
export function unlinkableImport(module: WebAssembly.Module): string | undefined {
  for (const item of WebAssembly.Module.imports(module)) {
    const where = `${item.module}.${item.name}`;
    if (item.module !== 'env' && !WASI_NAMESPACES.has(item.module)) {
      return `imports ${where} from module "${item.module}", which Weft does not provide (only env, wasi_snapshot_preview1, wasi_unstable)`;
    }
    if (item.kind !== 'function') return `imports ${item.kind} ${where}, which Weft does not provide`;
  }
  return undefined;
}

/** The import object for `module`: `env` from `env`, both WASI namespaces from `wasi`. */
export function buildImportObject(
  module: WebAssembly.Module,
  env: HostFunctions,
  wasi: HostFunctions,
  log: (level: LogLevel, message: string) => void,
): WebAssembly.Imports {
  const imports: WebAssembly.Imports = {};
  for (const item of WebAssembly.Module.imports(module)) {
    if (item.kind !== 'function') continue; // refused by unlinkableImport before we get here
    const wasiImport = WASI_NAMESPACES.has(item.module);
    const table = wasiImport ? wasi : env;
    const known = Object.hasOwn(table, item.name) ? table[item.name] : undefined;
    const unknownAnswer = wasiImport ? ERRNO_NOSYS : item.name.startsWith('proxy_') ? WasmResult.Unimplemented : 0;
    (imports[item.module] ??= {})[item.name] = known ?? unsupported(`${item.module}.${item.name}`, unknownAnswer, log);
  }
  return imports;
}

function unsupported(name: string, answer: number, log: (level: LogLevel, message: string) => void): HostFunction {
  let logged = false;
  return () => {
    if (!logged) {
      logged = true;
      log(LogLevel.Warn, `called ${name}, which Weft does not implement; answered ${answer}`);
    }
    return answer;
  };
}
