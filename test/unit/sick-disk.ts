// A task store over a disk that can fill up, turn read-only or fail: the inner store ResilientTaskStore
// wraps, in memory, failing the way fs does (an Error with code and a negative errno).
import { constants } from 'node:os';
import type { TaskRecord } from '../../agent/model.js';
import type { ProbedTaskStore } from '../../agent/store/resilient-task-store.js';

/** An fs error as Node makes it: EDQUOT, which Node 20's libuv cannot name, reads code UNKNOWN with errno -122. */
export function fsError(code: string, syscall = 'write'): NodeJS.ErrnoException {
  const errno = (constants.errno as Record<string, number>)[code] ?? 0;
  const named = code === 'EDQUOT' ? 'UNKNOWN' : code;
  return Object.assign(new Error(`${named}: ${code.toLowerCase()}, ${syscall}`), { code: named, errno: -errno, syscall });
}

export class SickDisk implements ProbedTaskStore {
  /** What is on the disk, as written (deep copies). */
  readonly files = new Map<string, TaskRecord>();
  /** Every write the disk was asked for: `save <id> v<version> <lastStatus>`, `remove <id>`, `probe`, with `!` when refused. */
  readonly attempts: string[] = [];
  /** The errno every write fails with; undefined: the disk takes writes. */
  fail: string | undefined;
  /** Fails only the saves this picks (the disk fills at one moment of a task's life). */
  failWhen: ((rec: TaskRecord) => boolean) | undefined;
  /** A save of this task id waits for its promise (a slow write), after `held` names it. */
  readonly hold = new Map<string, Promise<void>>();
  readonly held = new Set<string>();

  async load(): Promise<{ records: TaskRecord[]; corrupt: string[] }> {
    return { records: [...this.files.values()].map((r) => structuredClone(r)), corrupt: [] };
  }

  async save(rec: TaskRecord): Promise<void> {
    const copy = structuredClone(rec);
    await Promise.resolve(); // a real write is never synchronous
    const gate = this.hold.get(copy.spec.taskId);
    if (gate) {
      this.held.add(copy.spec.taskId);
      await gate;
    }
    const refused = this.fail ?? (this.failWhen?.(copy) ? 'ENOSPC' : undefined);
    this.attempts.push(`save ${copy.spec.taskId} v${copy.version} ${copy.lastStatus}${refused ? ' !' : ''}`);
    if (refused) throw fsError(refused);
    this.files.set(copy.spec.taskId, copy);
  }

  async remove(taskId: string): Promise<void> {
    await Promise.resolve();
    this.attempts.push(`remove ${taskId}${this.fail ? ' !' : ''}`);
    if (this.fail) throw fsError(this.fail, 'unlink');
    this.files.delete(taskId);
  }

  async probe(): Promise<void> {
    await Promise.resolve();
    this.attempts.push(`probe${this.fail ? ' !' : ''}`);
    if (this.fail) throw fsError(this.fail);
  }
}

/** Polls `cond` every few ms until it holds or `ms` pass; returns whether it held. */
export async function eventually(cond: () => boolean, ms = 2_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
