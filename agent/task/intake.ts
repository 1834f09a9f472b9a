// The seam between where tasks come from (the API, the spool directory, ...) and the manager that runs them.
import type { Logger } from 'pino';
import type { TaskRecord, TaskSpec } from '../model.js';

/** What a task source may do with tasks. The manager implements it; sources never see the manager itself. */
export interface TaskIntake {
  /** Adds a validated task under `source`. Same ARN and content: the existing task (created=false). */
  submit(spec: TaskSpec, source: string): Promise<{ created: boolean; rec: TaskRecord }>;
  stop(taskId: string, reason: string): Promise<TaskRecord>;
  get(taskId: string): TaskRecord | undefined;
  list(): TaskRecord[];
}

/** Where tasks come from. Adding one is a file with this and one line in the composition root. */
export interface TaskSource {
  /** Recorded on each task it submits (and on its containers), so a task rebuilt from the engine keeps it. */
  readonly name: string;
  start(intake: TaskIntake): Promise<void>;
  close(): void;
}

/**
 * The desired-set rule every listing source shares: a task this source submitted that it no longer lists,
 * and that is still meant to run, is stopped with `reason(taskId)`. Failures are logged, not thrown.
 */
export async function stopUnlisted(
  intake: TaskIntake,
  source: string,
  listed: ReadonlySet<string>,
  reason: (taskId: string) => string,
  log: Logger,
): Promise<void> {
  for (const rec of intake.list()) {
    const id = rec.spec.taskId;
    if (rec.source !== source || rec.desiredStatus !== 'RUNNING' || listed.has(id)) continue;
    try {
      await intake.stop(id, reason(id));
    } catch (err) {
      log.error({ err, taskId: id }, 'stopping an unlisted task failed');
    }
  }
}
