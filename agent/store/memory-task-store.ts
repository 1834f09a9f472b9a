import type { TaskRecord } from '../model.js';
import type { TaskStore } from './task-store.js';

/** For unit tests: keeps deep copies, so a test sees exactly what was saved. */
export class MemoryTaskStore implements TaskStore {
  readonly saved = new Map<string, TaskRecord>();
  saves = 0;

  async load(): Promise<{ records: TaskRecord[]; corrupt: string[] }> {
    return { records: [...this.saved.values()].map((r) => structuredClone(r)), corrupt: [] };
  }

  async save(rec: TaskRecord): Promise<void> {
    this.saves++;
    this.saved.set(rec.spec.taskId, structuredClone(rec));
  }

  async remove(taskId: string): Promise<void> {
    this.saved.delete(taskId);
  }
}
