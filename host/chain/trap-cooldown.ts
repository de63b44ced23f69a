// Repeated traps of one filter. Each trap costs a VM rebuild on the next request; a filter that
// traps on every request would turn every request into one. After `traps` traps within
// `window_ms` the filter is put in a cool-down of `cooldown_ms`: its slot keeps the broken VM,
// so requests meet the filter's on_error mode at once (fail_closed: 500, fail_open: skipped)
// without calling it or building a VM. When the cool-down ends the next request gets a fresh VM,
// and the count starts again from zero.

export interface TrapCooldownSpec {
  /** Traps within the window that start a cool-down. */
  traps: number;
  window_ms: number;
  cooldown_ms: number;
}

/** A filter that traps 10 times in 10 s has 10 s of its on_error mode (the manifest may say otherwise). */
export const DEFAULT_TRAP_COOLDOWN: TrapCooldownSpec = { traps: 10, window_ms: 10_000, cooldown_ms: 10_000 };

/** Why a cool-down started: repeated traps, or a filter that spent its CPU budget. */
export type CooldownCause = 'traps' | 'cpu_budget';

export interface CooldownEvents {
  started(spec: TrapCooldownSpec, cause: CooldownCause): void;
  /** `expired`: it ran its course (rather than being stopped because the filter is going away). */
  ended(expired: boolean): void;
}

export class TrapCooldown {
  /** Times (ms, monotonic) of the traps in the current window, oldest first. */
  private readonly recent: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: TrapCooldownSpec,
    private readonly events: CooldownEvents,
  ) {}

  get active(): boolean {
    return this.timer !== undefined;
  }

  /** Counts a trap; starts the cool-down when it is the window's `traps`-th. Ignored during one. */
  record(now = performance.now()): void {
    if (this.active) return;
    const recent = this.recent;
    recent.push(now);
    while (recent.length > 0 && recent[0]! <= now - this.spec.window_ms) recent.shift();
    if (recent.length < this.spec.traps) return;
    this.begin('traps');
  }

  /** Starts a cool-down now (ignored during one). */
  begin(cause: CooldownCause): void {
    if (this.active) return;
    this.recent.length = 0;
    this.timer = setTimeout(() => this.end(true), this.spec.cooldown_ms);
    this.timer.unref();
    this.events.started(this.spec, cause);
  }

  /** Ends a cool-down in progress early (the filter is going away). */
  stop(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.end(false);
  }

  private end(expired: boolean): void {
    this.timer = undefined;
    this.events.ended(expired);
  }
}
