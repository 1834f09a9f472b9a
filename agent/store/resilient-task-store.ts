// A task store that knows when its disk is sick. A write refused with ENOSPC, EROFS, EIO or EDQUOT marks the
// store degraded; a save that may wait (a stop, a teardown, health bookkeeping) is kept in memory and written
// when the disk allows, retried with bounded backoff; with nothing waiting, a small probe write notices on its
// own when the disk takes writes again. Strict saves still throw, as a typed error naming the directory.
import { constants } from 'node:os';
import type { Logger } from 'pino';
import { StoreUnavailableError } from '../errors.js';
import { doublingDelayMs } from '../util/backoff.js';
import type { TaskRecord } from '../model.js';
import type { StoreDegraded, TaskStore } from './task-store.js';

/** The errnos that mean "the disk under the state directory cannot take this write now", in words. */
export const DISK_ERRNOS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EDQUOT: 'disk quota exceeded',
};

/** ENOSPC, EROFS, EIO or EDQUOT when the error is one of them; Node 20's libuv has no name for EDQUOT, so the number counts too. */
export function diskErrno(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code && e.code in DISK_ERRNOS) return e.code;
  if (typeof e?.errno !== 'number') return undefined;
  const n = Math.abs(e.errno);
  return Object.keys(DISK_ERRNOS).find((name) => (constants.errno as Record<string, number>)[name] === n);
}

export const RETRY_FIRST_MS = 1_000;
export const RETRY_MAX_MS = 30_000;

/** The wait before retry `attempt` (0-based): first, doubled each time, never above max. */
export function retryDelayMs(attempt: number, firstMs = RETRY_FIRST_MS, maxMs = RETRY_MAX_MS): number {
  return doublingDelayMs(attempt, firstMs, maxMs);
}

/** What the store reports for /metrics. */
export interface StoreMetrics {
  /** A record save (first try or retry) failed with `errno` (a disk errno, or OTHER). */
  storeSaveFailed(errno: string): void;
}

/** The inner store: writes atomically and can probe the directory with a small write. */
export type ProbedTaskStore = TaskStore & { probe(): Promise<void> };

export interface ResilientTaskStoreOptions {
  inner: ProbedTaskStore;
  /** The state directory, named in the degraded state and in refusals. */
  stateDir: string;
  logger: Logger;
  now?: () => number;
  /** Retry and probe backoff (default 1 s doubling to 30 s). */
  retryFirstMs?: number;
  retryMaxMs?: number;
  metrics?: StoreMetrics;
}

interface Pending {
  /** The version to write; undefined: the record is to be removed. */
  rec: TaskRecord | undefined;
  seq: number;
}

export class ResilientTaskStore implements TaskStore {
  private readonly inner: ProbedTaskStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private state: Omit<StoreDegraded, 'pending'> | undefined;
  /** The latest version of each record the disk refused, to be written when it allows. */
  private readonly pending = new Map<string, Pending>();
  /** Writes issued per task and not finished: a retry never overtakes one of them. */
  private readonly inFlight = new Map<string, number>();
  private seq = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly o: ResilientTaskStoreOptions) {
    this.inner = o.inner;
    this.log = o.logger;
    this.now = o.now ?? Date.now;
  }

  load(): Promise<{ records: TaskRecord[]; corrupt: string[] }> {
    return this.inner.load();
  }

  /** Strict: resolves when the record is on disk; a sick disk throws StoreUnavailableError, and nothing is kept. */
  async save(rec: TaskRecord): Promise<void> {
    const id = rec.spec.taskId;
    const seq = ++this.seq;
    try {
      await this.write(id, () => this.inner.save(rec));
    } catch (err) {
      const errno = this.failed(err, true);
      if (errno) throw new StoreUnavailableError(this.o.stateDir, errno, DISK_ERRNOS[errno]!, { cause: err });
      throw err;
    }
    this.written(id, seq);
  }

  /** Deferred: on a sick disk this version is kept in memory (replacing an older one) and written later. */
  async saveWhenPossible(rec: TaskRecord): Promise<void> {
    const id = rec.spec.taskId;
    const seq = ++this.seq;
    const copy = structuredClone(rec);
    try {
      await this.write(id, () => this.inner.save(copy));
    } catch (err) {
      if (!this.failed(err, true)) throw err;
      this.keep(id, { rec: copy, seq });
      return;
    }
    this.written(id, seq);
  }

  /** A removal the disk refuses (read-only) is kept too: a kept older version must never bring the record back. */
  async remove(taskId: string): Promise<void> {
    const seq = ++this.seq;
    try {
      await this.write(taskId, () => this.inner.remove(taskId));
    } catch (err) {
      if (!this.failed(err, false)) throw err;
      this.keep(taskId, { rec: undefined, seq });
      return;
    }
    this.written(taskId, seq);
  }

  degraded(): StoreDegraded | undefined {
    return this.state && { ...this.state, pending: this.pending.size };
  }

  /** Stops retrying after one last attempt at what is kept; what is still unwritten is named in the log. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (this.pending.size) await this.flushOnce();
    if (this.pending.size) {
      this.log.error({ stateDir: this.o.stateDir, unwritten: [...this.pending.keys()] }, 'task records kept in memory were never written: the disk did not allow it');
    }
  }

  private async write(id: string, op: () => Promise<void>): Promise<void> {
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    try {
      await op();
    } finally {
      const n = (this.inFlight.get(id) ?? 1) - 1;
      if (n) this.inFlight.set(id, n);
      else this.inFlight.delete(id);
    }
  }

  /** A write failed: the errno when the disk is sick (the store is then degraded), else undefined. */
  private failed(err: unknown, isSave: boolean): string | undefined {
    const errno = diskErrno(err);
    if (isSave) this.o.metrics?.storeSaveFailed(errno ?? 'OTHER');
    if (!errno) return undefined;
    if (!this.state) {
      this.state = { stateDir: this.o.stateDir, errno, detail: DISK_ERRNOS[errno]!, since: new Date(this.now()).toISOString() };
      this.log.error(
        { err, stateDir: this.o.stateDir, errno },
        'state directory not writable: new tasks are refused; stops and running tasks go on, their records kept in memory until the disk allows',
      );
    } else if (this.state.errno !== errno) {
      this.state = { ...this.state, errno, detail: DISK_ERRNOS[errno]! };
      this.log.warn({ err, stateDir: this.o.stateDir, errno }, 'state directory still not writable, now for another reason');
    }
    this.schedule();
    return errno;
  }

  private keep(id: string, p: Pending): void {
    const had = this.pending.get(id);
    if (!had || had.seq < p.seq) this.pending.set(id, p);
  }

  /** A write of version `seq` reached the disk: older kept versions are done with; the disk may be well again. */
  private written(id: string, seq: number): void {
    const had = this.pending.get(id);
    if (had && had.seq <= seq) this.pending.delete(id);
    if (!this.state) return;
    if (this.pending.size === 0) this.recovered();
    else this.schedule(true);
  }

  private recovered(): void {
    if (!this.state) return;
    const { errno, since } = this.state;
    this.state = undefined;
    this.attempt = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.log.info({ stateDir: this.o.stateDir, errno, since, degradedMs: this.now() - Date.parse(since) }, 'state directory writable again; new tasks are taken');
  }

  /** The next retry (or probe) after the backoff, or at once after a write just succeeded. */
  private schedule(now = false): void {
    if (this.closed || this.flushing) return;
    if (this.timer && !now) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = now ? 0 : retryDelayMs(this.attempt++, this.o.retryFirstMs, this.o.retryMaxMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushOnce().finally(() => {
        this.flushing = undefined;
        if (this.state && !this.closed) this.schedule();
      });
    }, delay);
    this.timer.unref();
  }

  /** Writes what is kept (the latest version of each record); with nothing kept, probes the directory. */
  private async flushOnce(): Promise<void> {
    if (!this.state) return;
    if (this.pending.size === 0) {
      try {
        await this.inner.probe();
      } catch (err) {
        this.failed(err, false);
        return;
      }
      if (this.pending.size === 0) this.recovered();
      return;
    }
    for (const [id, p] of [...this.pending]) {
      // A write of this task is under way (newer than what is kept, not to be overtaken), or one finished
      // since this pass took its list (a save or a removal that replaced or dropped this entry): the kept
      // version is out of date and must not be written over the newer record, nor bring back a removed one.
      if (this.inFlight.has(id) || this.pending.get(id) !== p) continue;
      try {
        await this.write(id, () => (p.rec ? this.inner.save(p.rec) : this.inner.remove(id)));
      } catch (err) {
        this.failed(err, p.rec !== undefined);
        // Still sick: the rest wait for the next attempt.
        if (diskErrno(err)) return;
        // Not the disk (a bad id, a permission): retrying cannot help, and it must not hold the store degraded.
        if (this.pending.get(id) === p) this.pending.delete(id);
        this.log.error({ err, taskId: id }, 'a kept task record could not be written and is dropped');
        continue;
      }
      this.written(id, p.seq);
    }
  }
}
