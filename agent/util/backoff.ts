// The one doubling backoff every retry loop here uses (the event stream's reconnect, the state directory's
// kept writes, a stopped task's cleanup retries): `firstMs` doubling per attempt, never above `maxMs`.

/** The wait before retry `attempt` (0-based). */
export function doublingDelayMs(attempt: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/** The same as a counter: next() gives the next wait; reset() after an attempt that held. */
export class Backoff {
  private attempt = 0;

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
  ) {}

  next(): number {
    return doublingDelayMs(this.attempt++, this.initialMs, this.maxMs);
  }

  reset(): void {
    this.attempt = 0;
  }
}
