// The tasks the manager holds, one slot each, by task id.
import type { Logger } from 'pino';
import type { CniPlan } from '../../cni/types.js';
import type { Slot } from './context.js';
import type { TaskRecord } from '../model.js';

export class TaskRegistry {
  private readonly slots = new Map<string, Slot>();

  slot(taskId: string): Slot | undefined {
    return this.slots.get(taskId);
  }

  get(taskId: string): TaskRecord | undefined {
    return this.slots.get(taskId)?.rec;
  }

  all(): TaskRecord[] {
    return [...this.slots.values()].map((s) => s.rec);
  }

  list(): Slot[] {
    return [...this.slots.values()];
  }

  /** A new slot for a record (new, or loaded at start), replacing any slot of the same task. */
  add(rec: TaskRecord, plan: CniPlan, log: Logger): Slot {
    const slot: Slot = { rec, plan, abort: new AbortController(), driving: undefined, again: false, log };
    this.slots.set(rec.spec.taskId, slot);
    return slot;
  }

  forget(taskId: string): void {
    this.slots.delete(taskId);
  }
}
