// Whether the proxy should get traffic: not while it starts or drains. GET /ready reports it;
// the process that owns the lifecycle sets it.
//
// A proxy that has lost its shared store (etcd) is ready but degraded: it keeps serving the
// last state it saw, which is what the fleet should do while etcd is down, so a load balancer
// must not take it out of traffic; /ready says so with the reason.

export type ReadinessStatus = { ready: true; degraded?: string } | { ready: false; reason: string };

export class Readiness {
  private status: ReadinessStatus = { ready: false, reason: 'starting' };

  constructor(
    /** Why the proxy serves a stale state, asked on every check (undefined when it does not). */
    private readonly degradedReason: () => string | undefined = () => undefined,
  ) {}

  current(): ReadinessStatus {
    if (!this.status.ready) return this.status;
    const degraded = this.degradedReason();
    return degraded === undefined ? this.status : { ready: true, degraded };
  }

  serving(): void {
    this.status = { ready: true };
  }

  notReady(reason: string): void {
    this.status = { ready: false, reason };
  }
}
