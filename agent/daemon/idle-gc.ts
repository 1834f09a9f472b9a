// One full garbage collection once task work has settled. A burst of task starts or stops grows the V8
// heap with objects that die when the burst ends (requests, plugin processes, records in flight), and V8
// gives those pages back only after a major GC. Its memory reducer schedules one when the heap goes quiet,
// but it is armed by a major GC near the end of the burst. In the bench's scale part, after 40 tasks
// stopped at once, old space stayed at 21 MiB (12 MiB once collected) through the 45 s of idle that
// followed, and RSS 13 MiB above the daemon's idle. A daemon that sits idle for hours between bursts
// should not keep a burst's garbage that long.
//
// The collection runs only where the process was started with --expose-gc (the systemd unit's
// NODE_OPTIONS): globalThis.gc is V8's own, and without it this does nothing.
import type { Logger } from 'pino';

export type GcFunction = () => void;

export interface IdleGcOptions {
  /** V8's gc(), or undefined when not exposed: then nothing is collected. */
  gc: GcFunction | undefined;
  /** Whether task work is in flight now. */
  busy: () => boolean;
  logger: Logger;
  /** How long the work must stay settled before the collection (default 5 s). */
  delayMs?: number;
  /** Least time between two collections (default 30 s): tasks that trickle in do not buy a GC each. */
  minIntervalMs?: number;
  now?: () => number;
}

export class IdleGc {
  private timer: NodeJS.Timeout | undefined;
  private last = -Infinity;
  private readonly delayMs: number;
  private readonly minIntervalMs: number;
  private readonly now: () => number;

  constructor(private readonly o: IdleGcOptions) {
    this.delayMs = o.delayMs ?? 5_000;
    this.minIntervalMs = o.minIntervalMs ?? 30_000;
    this.now = o.now ?? Date.now;
  }

  /** The last task drive in flight has ended: collect once the work has stayed settled for delayMs. */
  settled(): void {
    if (!this.o.gc) return;
    this.arm(this.delayMs);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), ms);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    // Work started again: the next settle arms the timer anew.
    if (this.o.busy()) return;
    const wait = this.last + this.minIntervalMs - this.now();
    if (wait > 0) {
      this.arm(wait);
      return;
    }
    this.last = this.now();
    const before = process.memoryUsage.rss();
    const t0 = performance.now();
    this.o.gc!();
    this.o.logger.debug(
      { ms: Math.round((performance.now() - t0) * 10) / 10, rssBefore: before, rssAfter: process.memoryUsage.rss() },
      'task work settled: full GC',
    );
  }
}

/** V8's gc() when the process runs with --expose-gc. */
export function exposedGc(): GcFunction | undefined {
  const g = (globalThis as { gc?: unknown }).gc;
  return typeof g === 'function' ? () => void (g as () => unknown)() : undefined;
}
