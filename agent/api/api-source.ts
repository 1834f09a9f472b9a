// The HTTP API as a task source: what is POSTed to /v1/tasks is submitted under the name "api".
import type { TaskIntake, TaskSource } from '../task/intake.js';
import type { TaskRecord, TaskSpec } from '../model.js';
import { AwsvpcdError } from '../errors.js';

/** What the API routes do with tasks. */
export interface ApiTasks {
  submit(spec: TaskSpec): Promise<{ created: boolean; rec: TaskRecord }>;
  stop(taskId: string, reason: string): Promise<TaskRecord>;
  get(taskId: string): TaskRecord | undefined;
  list(): TaskRecord[];
}

export class ApiTaskSource implements TaskSource, ApiTasks {
  readonly name = 'api';
  private intake: TaskIntake | undefined;

  async start(intake: TaskIntake): Promise<void> {
    this.intake = intake;
  }

  close(): void {
    this.intake = undefined;
  }

  submit(spec: TaskSpec): Promise<{ created: boolean; rec: TaskRecord }> {
    return this.current().submit(spec, this.name);
  }

  stop(taskId: string, reason: string): Promise<TaskRecord> {
    return this.current().stop(taskId, reason);
  }

  get(taskId: string): TaskRecord | undefined {
    return this.current().get(taskId);
  }

  list(): TaskRecord[] {
    return this.current().list();
  }

  private current(): TaskIntake {
    if (!this.intake) throw new AwsvpcdError('UNAVAILABLE', 'the daemon is not taking tasks (starting or stopping)');
    return this.intake;
  }
}
