// One drive at a time per task: the next action is decided from the record (nextAction, pure) and carried
// out by the rooms; a kick during a drive runs one more drive afterwards.
import { TaskFailure, type Slot, type TaskContext } from './context.js';
import { errorMessage } from '../errors.js';
import { nextAction } from './next-action.js';
import type { Provisioner } from './provision.js';
import type { Resumer } from './resume.js';
import type { Teardown } from './teardown.js';

const REBUILT_MID_SETUP =
  'Task state was lost while the task was being set up; it was rebuilt from the engine and cannot be started again without its environment';

export class Driver {
  /** Task drives in flight (setups, teardowns, cleanup retries). */
  private inFlight = 0;

  constructor(
    private readonly ctx: TaskContext,
    private readonly rooms: { provision: Provisioner; resume: Resumer; teardown: Teardown },
    /** The reason a setup failure is recorded with (health names an engine restart that explains it). */
    private readonly failureReason: (s: Slot, failure: string) => string = (_s, failure) => failure,
  ) {}

  kick(s: Slot): void {
    if (this.ctx.closed) return;
    if (s.driving) {
      s.again = true;
      return;
    }
    this.inFlight++;
    s.driving = this.drive(s)
      .catch((err) => s.log.error({ err }, 'task drive failed'))
      .finally(() => {
        s.driving = undefined;
        this.inFlight--;
        if (s.again && !this.ctx.closed) {
          s.again = false;
          this.kick(s);
        }
        if (this.inFlight === 0 && !this.ctx.closed) this.ctx.d.onSettled?.();
      });
  }

  /** Whether any task drive is in flight. */
  busy(): boolean {
    return this.inFlight > 0;
  }

  /** Resolves when the task's current drive (and any it queued) finishes. */
  async settled(s: Slot | undefined): Promise<void> {
    while (s?.driving) await s.driving.catch(() => undefined);
  }

  private async drive(s: Slot): Promise<void> {
    const { teardown } = this.rooms;
    switch (nextAction(s.rec, s.plan)) {
      case 'cleanup':
        await teardown.teardown(s);
        if (s.rec.attachmentStatus !== 'DELETED') teardown.watchEniReturn(s);
        return;
      case 'watch-eni':
        teardown.watchEniReturn(s);
        return;
      case 'deprovision':
        await teardown.deprovision(s);
        return;
      case 'none':
        return;
      case 'fail-rebuilt':
        return this.setUp(s, () => Promise.reject(new TaskFailure(REBUILT_MID_SETUP)));
      case 'resume':
        return this.setUp(s, async () => {
          await this.rooms.resume.resumeOrRollBack(s);
          await this.rooms.provision.provision(s);
        });
      case 'provision':
        return this.setUp(s, () => this.rooms.provision.provision(s));
    }
  }

  /** Runs a setup; any failure stops the task with a reason and tears down what the setup made. */
  private async setUp(s: Slot, run: () => Promise<void>): Promise<void> {
    const rec = s.rec;
    try {
      await run();
    } catch (err) {
      if (this.ctx.closed) return;
      const aborted = s.abort.signal.aborted;
      const failure = err instanceof TaskFailure ? err.reason : `Task failed to start: ${errorMessage(err)}`;
      const reason = aborted ? (err instanceof TaskFailure ? err.reason : (rec.stoppedReason ?? 'Task stopped by user')) : this.failureReason(s, failure);
      if (!(err instanceof TaskFailure) && !aborted) s.log.error({ err }, 'provisioning failed');
      else s.log.warn({ reason }, 'provisioning ended');
      rec.desiredStatus = 'STOPPED';
      rec.stoppedReason ??= reason;
      rec.stoppingAt ??= this.ctx.nowIso();
      await this.ctx.saveWhenPossible(s); // the rollback runs whatever the disk says
      await this.rooms.teardown.deprovision(s);
    }
  }
}
