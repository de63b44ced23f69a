// Whether the proxy should get traffic: not while it starts, drains or (later) has lost its
// store. GET /ready reports it; the process that owns the lifecycle sets it.

export type ReadinessStatus = { ready: true } | { ready: false; reason: string };

export class Readiness {
  private status: ReadinessStatus = { ready: false, reason: 'starting' };

  current(): ReadinessStatus {
    return this.status;
  }

  serving(): void {
    this.status = { ready: true };
  }

  notReady(reason: string): void {
    this.status = { ready: false, reason };
  }
}
