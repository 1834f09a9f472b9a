import type { TaskRecord } from '../model.js';

/** Where task records live between restarts. */
export interface TaskStore {
  /** Every readable record; unreadable ones are set aside and named in `corrupt`. */
  load(): Promise<{ records: TaskRecord[]; corrupt: string[] }>;
  /** Durable when it resolves. */
  save(rec: TaskRecord): Promise<void>;
  remove(taskId: string): Promise<void>;
  /**
   * Durable when the disk allows: a save the disk refuses (full, read-only, failing) is kept in memory and
   * written when it can be, and this resolves anyway. A store without it: the caller uses save().
   */
  saveWhenPossible?(rec: TaskRecord): Promise<void>;
  /** Set while the state directory cannot be written; absent: the store never says. */
  degraded?(): StoreDegraded | undefined;
}

/** Why and since when the state directory cannot be written. */
export interface StoreDegraded {
  /** The state directory, as the operator configured it. */
  stateDir: string;
  /** ENOSPC, EROFS, EIO or EDQUOT. */
  errno: string;
  /** The errno in words: "no space left on device". */
  detail: string;
  /** ISO time of the first failure. */
  since: string;
  /** Records written in memory only, waiting for the disk. */
  pending: number;
}
