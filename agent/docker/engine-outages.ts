// What the daemon saw of the engine going away and coming back (the event stream breaking and being
// reopened), kept small, so that a task whose pause container died in or around an outage can be stopped
// with a reason that names the engine restart instead of a bare "pause container exited". Also the stopped task's
// cleanup retry wait.

import { doublingDelayMs } from '../util/backoff.js';

/** One break of the engine's event stream: when it broke, and when a new stream opened (undefined: still down). */
export interface EngineOutage {
  lostAt: number;
  backAt?: number;
  /** `docker info` LiveRestoreEnabled after the engine came back (undefined: not known). */
  liveRestore?: boolean;
}

/** Outages kept; older ones can no longer explain anything a periodic check finds. */
const KEPT = 8;
/**
 * A container's State.FinishedAt may come before the daemon sees its stream break: the engine stops the
 * containers first and closes its API last (a shutdown with a 10 s stop timeout, or one that lost events).
 */
export const OUTAGE_SLACK_MS = 30_000;

export class EngineOutages {
  private readonly list: EngineOutage[] = [];
  private readonly listeners: Array<() => void> = [];
  liveRestore: boolean | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** The event stream ended (or could not be opened). A break while one is open is the same outage. */
  lost(at = this.now()): void {
    const cur = this.current();
    if (cur) return;
    this.list.push({ lostAt: at });
    if (this.list.length > KEPT) this.list.shift();
    this.changed();
  }

  /** A new event stream is open: the outage in progress (if any) ends. */
  back(at = this.now(), liveRestore?: boolean): void {
    const cur = this.current();
    if (cur) {
      cur.backAt = at;
      if (liveRestore !== undefined) cur.liveRestore = liveRestore;
    }
    if (liveRestore !== undefined) this.liveRestore = liveRestore;
    if (cur) this.changed();
  }

  /** What `docker info` said of live-restore once the engine was back (asked after back(), so it comes later). */
  noteLiveRestore(o: EngineOutage, liveRestore: boolean | undefined): void {
    if (liveRestore === undefined) return;
    o.liveRestore = liveRestore;
    this.liveRestore = liveRestore;
  }

  /** Called after each break and each return (health re-words the reasons of tasks the outage explains). */
  onChange(cb: () => void): void {
    this.listeners.push(cb);
  }

  private changed(): void {
    for (const cb of this.listeners) cb();
  }

  /** The outage in progress, if the stream is down now. */
  current(): EngineOutage | undefined {
    const last = this.list[this.list.length - 1];
    return last && last.backAt === undefined ? last : undefined;
  }

  all(): readonly EngineOutage[] {
    return this.list;
  }

  /**
   * The outage a container death belongs to: its finishedAt between the break (minus slack) and the
   * reconnect (plus slack), or any time since the break while the stream is still down. A death with no
   * known time (the container is gone) belongs to the outage in progress, or to one that ended moments ago.
   */
  explain(finishedAt: string | undefined): EngineOutage | undefined {
    const t = finishedAt ? Date.parse(finishedAt) : NaN;
    const now = this.now();
    for (let i = this.list.length - 1; i >= 0; i--) {
      const o = this.list[i]!;
      const end = (o.backAt ?? now) + OUTAGE_SLACK_MS;
      if (Number.isNaN(t)) {
        if (o.backAt === undefined || now <= end) return o;
        continue;
      }
      if (t >= o.lostAt - OUTAGE_SLACK_MS && t <= end) return o;
    }
    return undefined;
  }
}

/**
 * The bounded wait before the n-th cleanup retry of a stopped task (n = teardown passes so far, at least 1):
 * `baseMs` doubling per pass, at most 32 × baseMs. 0 turns the wait off (every check retries).
 */
export function cleanupRetryDelayMs(baseMs: number, attempts: number): number {
  if (baseMs <= 0) return 0;
  return doublingDelayMs(attempts - 1, baseMs, 32 * baseMs);
}
