// Filter modules and their versions, in the store.
//
//   modules/<sha256>               the wasm bytes, once per distinct module
//   filters/<name>/latest          {"version": n}: the last number given out (never reused)
//   filters/<name>/versions/<n>    {name, version, sha256, size, abi_version, uploaded_at, ...}
//
// An upload is checked before anything is written: size, signature (when trusted keys are
// configured), compilation and ABI version (FilterModule.compile), and one VM started in a
// sandbox of its own. Uploading bytes a name already has returns that version; the same bytes
// under another name share one stored module.

import { readFile } from 'node:fs/promises';
import type { ChainServices } from '../chain/services.js';
import { FilterSlot } from '../chain/filter-slot.js';
import { FilterModule, ModuleError, VmStartError } from '../abi/vm.js';
import { decodeJson, encodeJson, type Store, type StoreCondition, type StoreOperation } from '../store/store.js';
import { ControlError } from './errors.js';
import { checkSignature, type TrustedKey } from './signature.js';

export interface FilterVersion {
  name: string;
  version: number;
  sha256: string;
  size: number;
  abi_version: string;
  uploaded_at: string;
  /** The admin token's name; `manifest` for modules the manifest seeded. */
  uploaded_by: string;
  /** Id of the trusted key whose signature was verified (see signature.ts). */
  signed_by?: string;
  /** The signature itself (base64), checked again whenever a chain loads the module. */
  signature?: string;
}

export interface RegistryOptions {
  maxModuleBytes: number;
  trustedKeys: readonly TrustedKey[];
  /** Services for the VM each upload starts once: a sandbox apart from the running chains. */
  checkServices: ChainServices;
}

export interface UploadOptions {
  /** X-Weft-Signature. */
  signature?: string;
  /** The root context the check VM asks for (default: the name). */
  rootId?: string;
  by: string;
}

const NAME = /^[A-Za-z0-9_-]+$/;
/** Compiled modules kept for swaps back and forth (a rollback should not recompile). */
const COMPILED_CACHE_SIZE = 32;
/** Attempts at writing a new version when another writer got the number first. */
const VERSION_ATTEMPTS = 5;

const moduleKey = (sha256: string) => `modules/${sha256}`;
const latestKey = (name: string) => `filters/${name}/latest`;
const versionsPrefix = (name: string) => `filters/${name}/versions/`;
const versionKey = (name: string, version: number) => `${versionsPrefix(name)}${version}`;

export class FilterRegistry {
  private readonly compiled = new Map<string, Promise<FilterModule>>();
  /** Names and modules whose signature was verified (or that this proxy's manifest seeded). */
  private readonly verified = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly options: RegistryOptions,
  ) {}

  get maxModuleBytes(): number {
    return this.options.maxModuleBytes;
  }

  /** POST /filters/{name}: the new version (created) or the existing one with the same bytes. */
  async upload(name: string, bytes: Uint8Array, options: UploadOptions): Promise<{ created: boolean; version: FilterVersion }> {
    checkName(name);
    if (bytes.length > this.options.maxModuleBytes) {
      throw new ControlError(413, `the module is ${bytes.length} bytes; registry.max_module_bytes is ${this.options.maxModuleBytes}`);
    }
    let signed: { by: string; signature: string } | undefined;
    if (this.options.trustedKeys.length > 0) {
      const verdict = checkSignature(bytes, name, options.signature, this.options.trustedKeys);
      if (!verdict.ok) throw new ControlError(422, verdict.reason);
      signed = { by: verdict.keyId, signature: options.signature!.trim() };
    }
    let module: FilterModule;
    try {
      module = await FilterModule.compile(bytes);
    } catch (error) {
      if (error instanceof ModuleError) throw new ControlError(error.message.startsWith('not a WebAssembly module') ? 400 : 422, error.message);
      throw error;
    }
    this.startOnce(name, options.rootId ?? name, module);
    const result = await this.register(name, bytes, module, options.by, signed);
    this.remember(module);
    if (signed !== undefined && result.created) this.verified.add(verifiedKey(result.version));
    return result;
  }

  /**
   * A manifest filter's module, registered under its name (the manifest seeds the registry).
   * Throws Error with the reason; the VM is started by the chain build that follows.
   */
  async importFile(name: string, file: string, pinnedSha256: string | undefined): Promise<FilterVersion> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `module ${file} not found` : `cannot read module ${file}: ${(error as Error).message}`);
    }
    const module = await FilterModule.compile(bytes);
    if (pinnedSha256 !== undefined && pinnedSha256 !== module.sha256) {
      throw new Error(`sha256 mismatch: the manifest pins ${pinnedSha256}, module ${file} is ${module.sha256}`);
    }
    const { version } = await this.register(name, bytes, module, 'manifest', undefined);
    this.remember(module);
    // Read from the operator's own manifest and file: trusted as they are, on this proxy.
    this.verified.add(verifiedKey({ name, sha256: module.sha256 }));
    return version;
  }

  /**
   * The module of `version`, for a chain to run. With trusted keys, its signature is checked
   * again first (once per name and module): a version record written into the store some other
   * way (an etcd client, another proxy's manifest) runs only if a trusted key signed it.
   */
  async trustedModule(version: FilterVersion): Promise<FilterModule> {
    const trustedKeys = this.options.trustedKeys;
    if (trustedKeys.length > 0 && !this.verified.has(verifiedKey(version))) {
      const entry = await this.store.get(moduleKey(version.sha256));
      if (entry === undefined) throw new Error(`module ${version.sha256} is not in the store`);
      const verdict = checkSignature(entry.value, version.name, version.signature, trustedKeys);
      if (!verdict.ok) throw new ControlError(422, `filter ${version.name} version ${version.version} is not trusted: ${verdict.reason}`);
      this.verified.add(verifiedKey(version));
    }
    return this.module(version.sha256);
  }

  /** Every name with at least one version, sorted, with its versions (oldest first). */
  async list(): Promise<Array<{ name: string; versions: FilterVersion[] }>> {
    const byName = new Map<string, FilterVersion[]>();
    for (const entry of await this.store.list('filters/')) {
      if (!entry.key.includes('/versions/')) continue;
      const record = decodeJson<FilterVersion>(entry.value);
      let versions = byName.get(record.name);
      if (versions === undefined) byName.set(record.name, (versions = []));
      versions.push(record);
    }
    return [...byName.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, versions]) => ({ name, versions: versions.sort((a, b) => a.version - b.version) }));
  }

  /** A name's versions, oldest first (empty when the name is unknown). */
  async versions(name: string): Promise<FilterVersion[]> {
    const entries = await this.store.list(versionsPrefix(name));
    return entries.map((entry) => decodeJson<FilterVersion>(entry.value)).sort((a, b) => a.version - b.version);
  }

  /** One version; without a number, the latest one there is. */
  async version(name: string, version?: number): Promise<FilterVersion | undefined> {
    if (version !== undefined) {
      const entry = await this.store.get(versionKey(name, version));
      return entry === undefined ? undefined : decodeJson<FilterVersion>(entry.value);
    }
    return (await this.versions(name)).at(-1);
  }

  /**
   * Deletes a version (and its module when no other version has those bytes), provided
   * `unchanged` still holds (the caller checked the chain does not use it at that revision).
   */
  async deleteVersion(name: string, version: number, unchanged: StoreCondition): Promise<'deleted' | 'missing' | 'conflict'> {
    const entry = await this.store.get(versionKey(name, version));
    if (entry === undefined) return 'missing';
    const record = decodeJson<FilterVersion>(entry.value);
    const conditions: StoreCondition[] = [unchanged, { key: entry.key, revision: entry.revision }];
    const operations: StoreOperation[] = [{ type: 'delete', key: entry.key }];
    const sharers = (await this.list()).flatMap((f) => f.versions).filter((v) => v.sha256 === record.sha256 && !(v.name === name && v.version === version));
    if (sharers.length === 0) {
      const blob = await this.store.get(moduleKey(record.sha256));
      if (blob !== undefined) {
        conditions.push({ key: blob.key, revision: blob.revision });
        operations.push({ type: 'delete', key: blob.key });
      }
    }
    const result = await this.store.commit(conditions, operations);
    if (!result.ok) return 'conflict';
    if (sharers.length === 0) this.compiled.delete(record.sha256);
    return 'deleted';
  }

  /** The compiled module with these bytes (compiled once, then cached). */
  module(sha256: string): Promise<FilterModule> {
    let module = this.compiled.get(sha256);
    if (module === undefined) {
      module = this.compileStored(sha256);
      module.catch(() => this.compiled.delete(sha256));
    } else {
      this.compiled.delete(sha256); // re-inserted below: most recently used last
    }
    this.compiled.set(sha256, module);
    this.trimCache();
    return module;
  }

  private async compileStored(sha256: string): Promise<FilterModule> {
    const entry = await this.store.get(moduleKey(sha256));
    if (entry === undefined) throw new Error(`module ${sha256} is not in the store`);
    const module = await FilterModule.compile(entry.value);
    if (module.sha256 !== sha256) throw new Error(`module ${sha256} in the store is damaged (its bytes hash to ${module.sha256})`);
    return module;
  }

  private remember(module: FilterModule): void {
    this.compiled.delete(module.sha256);
    this.compiled.set(module.sha256, Promise.resolve(module));
    this.trimCache();
  }

  private trimCache(): void {
    for (const sha256 of this.compiled.keys()) {
      if (this.compiled.size <= COMPILED_CACHE_SIZE) break;
      this.compiled.delete(sha256);
    }
  }

  /**
   * Starts one VM of the module and ends it. Its configuration belongs to a chain, not to the
   * module, so proxy_on_configure refusing the empty configuration of this check is not held
   * against the upload (PUT /chain checks the real one).
   */
  private startOnce(name: string, rootId: string, module: FilterModule): void {
    try {
      FilterSlot.create({ name, root_id: rootId, config: '', vm_config: '', on_error: 'fail_closed' }, module, this.options.checkServices).destroy();
    } catch (error) {
      if (refusedOnlyItsConfiguration(error)) return;
      const hint = error instanceof VmStartError && error.phase === 'proxy_on_context_create' ? ` (root_id "${rootId}"; when the module's root context has another name, upload with ?root_id=<name>)` : '';
      throw new ControlError(422, `the module does not start: ${(error as Error).message}${hint}`);
    }
  }

  /** Writes a new version (or finds the one with these bytes), retrying when another writer took the number. */
  private async register(name: string, bytes: Uint8Array, module: FilterModule, by: string, signed: { by: string; signature: string } | undefined) {
    for (let attempt = 0; attempt < VERSION_ATTEMPTS; attempt++) {
      // `latest` first: a version another writer (another proxy) adds after this read moves it,
      // so the commit below, conditional on it, cannot add the same bytes a second time.
      const latest = await this.store.get(latestKey(name));
      const same = (await this.versions(name)).find((v) => v.sha256 === module.sha256);
      if (same !== undefined) return { created: false, version: same };
      const number = (latest === undefined ? 0 : decodeJson<{ version: number }>(latest.value).version) + 1;
      const record: FilterVersion = {
        name,
        version: number,
        sha256: module.sha256,
        size: bytes.length,
        abi_version: module.abiVersion,
        uploaded_at: new Date().toISOString(),
        uploaded_by: by,
        ...(signed === undefined ? {} : { signed_by: signed.by, signature: signed.signature }),
      };
      const result = await this.store.commit(
        [{ key: latestKey(name), revision: latest?.revision ?? 0 }],
        [
          { type: 'put', key: moduleKey(module.sha256), value: bytes },
          { type: 'put', key: latestKey(name), value: encodeJson({ version: number }) },
          { type: 'put', key: versionKey(name, number), value: encodeJson(record) },
        ],
      );
      if (result.ok) return { created: true, version: record };
    }
    throw new ControlError(409, `filter ${name}: other uploads kept taking the next version number; try again`);
  }
}

function verifiedKey(version: Pick<FilterVersion, 'name' | 'sha256'>): string {
  return `${version.name}\u0000${version.sha256}`;
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new ControlError(400, `"${name}" is not a valid filter name (use letters, digits, "_" and "-")`);
}

/** The check VM got as far as proxy_on_configure, which refused (or trapped on) the empty configuration. */
function refusedOnlyItsConfiguration(error: unknown): boolean {
  return error instanceof VmStartError && error.phase === 'proxy_on_configure';
}
