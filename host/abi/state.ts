// The per-VM state the host calls act on: the guest's memory, which context is active, the
// http_call response being delivered, the last status, and the properties the VM answers itself.
// WasmVm (vm.ts) owns it and sets the active context around every guest call; hostcalls.ts reads
// it. Nothing here calls into the guest.

import { WasmResult } from './enums.js';
import type { HeaderMap } from './header-map.js';
import type { GrpcCall, HttpCallResponse, HttpContextHost, VmHost } from './host-api.js';
import { GuestMemory } from './memory.js';
import { encodeString } from './properties.js';

/** What the VM does when the host reports back asynchronously (bound once per VM). */
export interface GuestCallbacks {
  tick(): void;
  queueReady(queueId: number): void;
  httpCallResponse(token: number, response: HttpCallResponse | null, failure?: string): void;
  grpcInitialMetadata(token: number, pairs: Array<[string, string]>): void;
  grpcMessage(token: number, message: Uint8Array): void;
  grpcTrailingMetadata(token: number, pairs: Array<[string, string]>): void;
  grpcClose(token: number, status: number, message: string): void;
}

export class AbiState {
  readonly memory = new GuestMemory();
  /** The context host calls act for: the running callback's, or the one set_effective_context chose. */
  activeId = 0;
  /** The stream host of activeId; undefined for the root context (and the VM context 0). */
  activeStream: HttpContextHost | undefined = undefined;

  /** Maps 6/7 and buffer 4: the http_call response, only while proxy_on_http_call_response runs. */
  callResponseHeaders: HeaderMap | undefined = undefined;
  callResponseTrailers: HeaderMap | undefined = undefined;
  callResponseBody: Uint8Array | undefined = undefined;
  /** gRPC calls and streams in flight by token: removed once closed or cancelled, all cancelled with the VM. */
  readonly grpcCalls = new Map<number, GrpcCall>();
  /** Maps 4/5 and buffer 5: what proxy_on_grpc_receive* delivers, only while it runs. */
  grpcInitialMetadata: HeaderMap | undefined = undefined;
  grpcTrailingMetadata: HeaderMap | undefined = undefined;
  grpcMessage: Uint8Array | undefined = undefined;
  /** Buffer 8, only while proxy_on_foreign_function runs. */
  foreignArgs: Uint8Array | undefined = undefined;
  /** What proxy_get_status answers. */
  statusCode = 0;
  statusMessage = '';

  /** True while the root context's proxy_on_done runs: the only time proxy_done answers Ok. */
  rootDonePending = false;
  rootDoneCalled = false;
  /** Last tick period the guest asked for (0 = none), so the VM can turn ticks off when it goes. */
  tickPeriod = 0;

  private nextToken = 1;
  /** Answered by the VM itself, before any stream or host property. */
  private readonly vmProperties: ReadonlyMap<string, Uint8Array>;
  /** Properties set outside any stream context: VM-wide, readable back from every context. */
  private readonly rootProperties = new Map<string, Uint8Array>();

  constructor(
    readonly host: VmHost,
    readonly rootContextId: number,
    readonly vmConfig: Uint8Array,
    readonly pluginConfig: Uint8Array,
    readonly callbacks: GuestCallbacks,
    /** The live stream with context `id` in this VM, or undefined. */
    private readonly streamContext: (id: number) => HttpContextHost | undefined,
  ) {
    const vmId = encodeString(host.vmId);
    this.vmProperties = new Map([
      ['plugin_name', encodeString(host.pluginName)],
      ['plugin_root_id', encodeString(host.rootId)],
      ['plugin_vm_id', vmId],
      ['vm_id', vmId],
    ]);
  }

  /** proxy_set_effective_context: false for an id that is neither the root nor a live stream of this VM. */
  setEffectiveContext(id: number): boolean {
    if (id === this.rootContextId) {
      this.activeId = id;
      this.activeStream = undefined;
      return true;
    }
    const stream = this.streamContext(id);
    if (stream === undefined) return false;
    this.activeId = id;
    this.activeStream = stream;
    return true;
  }

  /** A property by canonical key: the VM's own, then the active stream's, then VM-wide, then the host's. */
  property(key: string): Uint8Array | undefined {
    return (
      this.vmProperties.get(key) ??
      this.activeStream?.getProperty(key) ??
      this.rootProperties.get(key) ??
      this.host.getProperty(key)
    );
  }

  setProperty(key: string, value: Uint8Array): WasmResult {
    if (this.vmProperties.has(key)) return WasmResult.Ok; // plugin_name & co. stay as they are (see HttpStream.setProperty)
    const stream = this.activeStream;
    if (stream !== undefined) return stream.setProperty(key, value);
    this.rootProperties.set(key, value);
    return WasmResult.Ok;
  }

  /** A fresh http_call or gRPC token: non-zero u32, unique within this VM. */
  takeToken(): number {
    const token = this.nextToken;
    this.nextToken = token >= 0xffff_ffff ? 1 : token + 1;
    return token;
  }
}
