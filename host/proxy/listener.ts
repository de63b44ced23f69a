// The data-plane listener: what every transport shares. It owns the proxy context (clusters,
// limits, requests in flight, draining) and turns an accepted request into an Exchange. The
// transports accept connections: plain HTTP on uWebSockets.js where a uWS binary loads
// (uws-transport.ts, the fast path) or on node:http where none does (node-transport.ts; see
// listener-engine.ts), and TLS on node:https (tls-transport.ts), because only node hands over
// the client's certificate.

import { randomUUID } from 'node:crypto';
import type { Chain } from '../chain/chain.js';
import { indexOfName } from '../abi/header-map.js';
import type { RequestInfo } from '../chain/http-stream.js';
import type { HttpSpec, ListenerEngine, ListenerProtocol, ListenerTlsSpec } from '../config/schema.js';
import type { OverloadManager } from '../overload/overload-manager.js';
import type { Logger } from '../telemetry/logger.js';
import type { ClientResponse } from './client-response.js';
import type { Clusters } from './clusters.js';
import { Exchange } from './exchange.js';
import { chooseEngine, describeEngine } from './listener-engine.js';
import { h2cTransport } from './h2-transport.js';
import { httpTransport } from './node-transport.js';
import type { FinishedRequest, ProxyContext, ProxyLimits, RequestTracer } from './proxy-context.js';
import { RequestIntake } from './request-intake.js';
import { TlsTransport } from './tls-transport.js';
import { UwsTransport } from './uws-transport.js';

export interface ListenerOptions {
  host: string;
  port: number;
  tls?: ListenerTlsSpec;
  /** The plain listener's engine (absent: auto). */
  engine?: ListenerEngine;
  /** HTTP/1.1 and/or HTTP/2 (absent: HTTP/1.1 only); h2 runs on node:http2 (h2-transport.ts). */
  protocols?: readonly ListenerProtocol[];
  /**
   * Several worker threads listen on this address (SO_REUSEPORT: the kernel spreads new
   * connections over them). uWS sets it on Linux anyway; node:http only when asked (Node 22.12+).
   */
  reusePort?: boolean;
  /** Leave the engine line out of the log: another worker thread's listener logs it for all. */
  quiet?: boolean;
  clusters: Clusters;
  defaultCluster: string | undefined;
  limits: ProxyLimits;
  /** How requests are read before any filter runs (path, forwarding, identity headers). */
  http: HttpSpec;
  logger: Logger;
  /** Spans per request (host/telemetry/tracing.ts); absent when tracing is off. */
  tracer?: RequestTracer;
  /** Sheds requests and stops keep-alive under overload (host/overload); absent when not configured. */
  overload?: OverloadManager;
  /** The chain a request arriving now takes, by its host (`:authority`) and path (hot swap replaces it). */
  chainFor(authority: string, path: string): Chain;
  onFinished(request: FinishedRequest): void;
}

/** A way of accepting connections. */
export interface Transport {
  listen(): Promise<void>;
  /** Closes the listening socket; open connections go on. */
  stopAccepting(): void;
  /**
   * A drain began: HTTP/2 clients are told with GOAWAY to open no new stream (HTTP/1.1 responses
   * say connection: close). Resolves once those connections have closed by themselves, their
   * last streams done and sent.
   */
  goAway?(): Promise<void>;
  /** Closes every connection. */
  closeAll(): void;
}

/**
 * A request as a transport read it: `flat` is the header map's flat array with the
 * pseudo-headers first (:method, :path, :authority, :scheme), names lowercase, `:path` the
 * request target as the client sent it. The first Host goes in the `:authority` slot; a
 * second one stays an ordinary `host` entry, so that the intake can refuse it.
 */
export interface AcceptedRequest {
  method: string;
  flat: string[];
  hasBody: boolean;
  info: RequestInfo;
}

export class ProxyListener implements ProxyContext {
  readonly clusters: Clusters;
  readonly defaultCluster: string | undefined;
  readonly limits: ProxyLimits;
  readonly tracer: RequestTracer | undefined;
  readonly overload: OverloadManager | undefined;
  readonly reusePort: boolean;
  private drainStarted = false;
  /** Whether the listening socket is open; refuse_connections and drain close it, one change at a time. */
  private listening = false;
  private acceptance: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private readonly transport: Transport;
  private readonly intake: RequestIntake;

  constructor(private readonly options: ListenerOptions) {
    this.clusters = options.clusters;
    this.defaultCluster = options.defaultCluster;
    this.limits = options.limits;
    this.tracer = options.tracer;
    this.overload = options.overload;
    this.reusePort = options.reusePort ?? false;
    this.intake = new RequestIntake(options.http);
    this.transport = this.makeTransport();
  }

  /** TLS runs on node:https; plain HTTP on the engine chosen here, logged once with its reason. */
  private makeTransport(): Transport {
    const { host, port, tls, logger } = this.options;
    const protocols = this.options.protocols ?? ['http1'];
    const announce = this.options.quiet !== true;
    if (tls !== undefined) {
      if (announce) logger.info({ engine: protocols.includes('h2') ? 'node:http2' : 'node:https', protocols }, 'listener engine: node (TLS)');
      return new TlsTransport(host, port, tls, protocols, this, logger);
    }
    if (protocols.includes('h2')) {
      // uWS has no HTTP/2: an h2c listener (prior knowledge) runs on node:http2 whatever the engine.
      if (announce) logger.info({ engine: 'node:http2', protocols }, 'listener engine: node:http2 (h2c)');
      return h2cTransport(host, port, this, protocols);
    }
    const choice = chooseEngine(this.options.engine);
    if (announce) logger.info({ engine: choice.engine === 'uws' ? 'uws' : 'node:http', reason: choice.reason }, describeEngine(choice));
    if (announce && choice.engine === 'uws' && choice.splitHeadBytes !== undefined && choice.splitHeadBytes < this.limits.maxRequestHeaderBytes) {
      // Say it once at start: the symptom (a reset now and then for a client with large cookies) is hard to trace.
      logger.warn(
        { split_head_bytes: choice.splitHeadBytes, max_request_headers_kb: this.limits.maxRequestHeaderBytes / 1024 },
        `${choice.reason} drops a request head over ${choice.splitHeadBytes / 1024} KiB that arrives in several reads; listen.engine: node serves such heads up to limits.max_request_headers_kb`,
      );
    }
    return choice.engine === 'uws' ? new UwsTransport(choice.uws, host, port, this) : httpTransport(host, port, this);
  }

  /** Resolves once listening; rejects with a clear reason when the address cannot be bound. */
  async listen(): Promise<void> {
    const { host, port } = this.options;
    try {
      await this.transport.listen();
      this.listening = true;
    } catch (error) {
      throw new Error(`listen: cannot listen on ${host}:${port} (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  /**
   * Makes the exchange for a request a transport accepted; the transport then wires body and
   * abort to it. The intake runs first: a request it refuses gets an exchange that answers
   * the refusal without running a filter.
   */
  accept(res: ClientResponse, request: AcceptedRequest): Exchange {
    const { flat } = request;
    const admitted = this.intake.admit(flat, request.info.remoteAddress);
    if ('status' in admitted) return new Exchange(res, this, undefined, request.method, flat, request.hasBody, request.info, admitted);
    if (indexOfName(flat, 'x-request-id', 8) < 0) flat.push('x-request-id', randomUUID());
    // A client address the trusted proxies reported comes without a port: the peer's is not its.
    const info = admitted.clientAddress === request.info.remoteAddress ? request.info : { ...request.info, remoteAddress: admitted.clientAddress, remotePort: undefined };
    const chain = this.options.chainFor(flat[5]!, admitted.path);
    return new Exchange(res, this, chain, request.method, flat, request.hasBody, info);
  }

  /** Responses ask clients to close: during a drain, and while the overload manager stops keep-alive. */
  get draining(): boolean {
    return this.drainStarted || this.overload?.keepAliveStopped === true;
  }

  /**
   * The overload manager's refuse_connections: the listening socket closes, so new connections
   * are refused by the kernel, and opens again when the action stops. Not during a drain.
   */
  refuseConnections(refuse: boolean): void {
    // Chained: listening again is asynchronous, and a socket must never be closed twice.
    this.acceptance = this.acceptance
      .then(async () => {
        if (refuse && this.listening) {
          this.listening = false;
          this.transport.stopAccepting();
        } else if (!refuse && !this.listening && !this.drainStarted) {
          await this.transport.listen();
          this.listening = true;
        }
      })
      .catch((error: Error) => {
        this.options.logger.error({ err: error.message }, 'overload: cannot listen again after refusing connections');
      });
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(request: FinishedRequest): void {
    this.inFlight--;
    this.options.onFinished(request);
    if (this.inFlight === 0 && this.drained !== undefined) this.drained();
  }

  /** Stops accepting and closes every connection at once (a worker thread that crashed). */
  closeNow(): void {
    this.drainStarted = true;
    if (this.listening) {
      this.listening = false;
      this.transport.stopAccepting();
    }
    this.transport.closeAll();
  }

  /**
   * Stops accepting connections, lets in-flight requests finish (at most `timeoutMs`), then closes
   * every connection. Responses written meanwhile carry `connection: close`.
   */
  async drain(timeoutMs: number): Promise<{ unfinished: number }> {
    this.drainStarted = true;
    await this.acceptance;
    if (this.listening) {
      this.listening = false;
      this.transport.stopAccepting();
    }
    const goneAway = this.transport.goAway?.();
    if (this.inFlight > 0 || goneAway !== undefined) {
      const finished = this.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.drained = resolve));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([finished, goneAway]), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    const unfinished = this.inFlight;
    this.transport.closeAll();
    return { unfinished };
  }
}
