import type { TaskRecord } from '../model.js';

/** Where task records live between restarts. */
export interface TaskStore {
  /** Every readable record; unreadable ones are set aside and named in `corrupt`. */
  load(): Promise<{ records: TaskRecord[]; corrupt: string[] }>;
  /** Durable when it resolves. */
  save(rec: TaskRecord): Promise<void>;
  remove(taskId: string): Promise<void>;
}
