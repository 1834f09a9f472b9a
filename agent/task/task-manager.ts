// Carries tasks through PROVISIONING -> PENDING -> RUNNING -> DEPROVISIONING -> STOPPED. The work is done by
// its rooms: admission, the drive loop (nextAction), provision, resume, teardown, health; this class holds
// them together and is the TaskIntake the task sources use.
import { buildPlan } from '../../cni/plan.js';
import type { CniPlan } from '../../cni/types.js';
import type { ContainerEvent } from '../docker/container-runtime.js';
import { Admission } from './admission.js';
import { TaskContext, type ManagerDeps, type Slot } from './context.js';
import { describeTask, type DescribedTask } from './describe.js';
import { Driver } from './driver.js';
import { NotFoundError } from '../errors.js';
import { Health } from './health.js';
import type { TaskIntake } from './intake.js';
import type { TaskRecord, TaskSpec } from '../model.js';
import { needsCleanup } from './next-action.js';
import { Provisioner } from './provision.js';
import { TaskRegistry } from './registry.js';
import { Resumer } from './resume.js';
import { Teardown } from './teardown.js';

export type { ManagerConfig, ManagerDeps } from './context.js';
export { ENI_TIMEOUT_REASON } from './provision.js';
export { ESSENTIAL_EXITED_REASON } from './health.js';

export class TaskManager implements TaskIntake {
  private readonly ctx: TaskContext;
  private readonly registry = new TaskRegistry();
  private readonly admission: Admission;
  private readonly driver: Driver;
  private readonly teardown: Teardown;
  private readonly health: Health;

  constructor(private readonly d: ManagerDeps) {
    this.ctx = new TaskContext(d);
    this.teardown = new Teardown(this.ctx);
    this.health = new Health(this.ctx, {
      slot: (id) => this.registry.slot(id),
      slots: () => this.registry.list(),
      stop: (id, reason) => this.stop(id, reason),
      retryCleanup: (s) => this.driver.kick(s),
    });
    const provision = new Provisioner(this.ctx, (s) => this.health.checkContainers(s));
    this.driver = new Driver(this.ctx, { provision, resume: new Resumer(this.ctx, this.teardown), teardown: this.teardown }, (s, failure) =>
      this.health.setupFailureReason(s, failure),
    );
    this.admission = new Admission(this.ctx, this.registry, { adopt: (rec) => this.adopt(rec), stop: (id, reason) => this.stop(id, reason) });
  }

  // ---------- queries ----------

  get(taskId: string): TaskRecord | undefined {
    return this.registry.get(taskId);
  }

  all(): TaskRecord[] {
    return this.registry.all();
  }

  list(): TaskRecord[] {
    return this.registry.all();
  }

  describe(taskId: string): DescribedTask {
    const rec = this.get(taskId);
    if (!rec) throw new NotFoundError(`task ${taskId} is not known`);
    return describeTask(rec);
  }

  /** Resolves when the task's current drive finishes (for tests and --wait). */
  settled(taskId: string): Promise<void> {
    return this.driver.settled(this.registry.slot(taskId));
  }

  /** Resolves when the watch for the task's ENI back on the host (after STOPPED) has ended. */
  async eniSettled(taskId: string): Promise<void> {
    await this.registry.slot(taskId)?.eniWait;
  }

  /** Whether the record says something may still exist (a container, a CNI step, the namespace, an address). */
  needsCleanup(rec: TaskRecord): boolean {
    return needsCleanup(rec, this.registry.slot(rec.spec.taskId)?.plan ?? this.planFor(rec.spec));
  }

  /** Whether any task drive is in flight. */
  busy(): boolean {
    return this.driver.busy();
  }

  planFor(spec: TaskSpec): CniPlan {
    return buildPlan(this.d.config.pluginSet, spec.eni, this.d.config.plan);
  }

  // ---------- commands ----------

  submit(spec: TaskSpec, source: string): Promise<{ created: boolean; rec: TaskRecord }> {
    return this.admission.submit(spec, source);
  }

  async stop(taskId: string, reason: string): Promise<TaskRecord> {
    const s = this.registry.slot(taskId);
    if (!s) throw new NotFoundError(`task ${taskId} is not known`);
    if (s.rec.desiredStatus !== 'STOPPED') {
      s.rec.desiredStatus = 'STOPPED';
      s.rec.stoppedReason ??= reason;
      s.rec.stoppingAt ??= this.ctx.nowIso();
      await this.ctx.saveWhenPossible(s); // a stop never waits for the disk
      s.log.info({ reason }, 'stop requested');
    }
    s.abort.abort();
    this.driver.kick(s);
    return s.rec;
  }

  /** Registers a record (new, or loaded at start) and starts driving it. */
  adopt(rec: TaskRecord): void {
    const slot = this.registry.add(rec, this.planFor(rec.spec), this.d.logger.child({ component: 'task', taskArn: rec.spec.taskArn }));
    this.driver.kick(slot);
  }

  /** Forgets a STOPPED task whose resources are all released. */
  async forget(taskId: string): Promise<void> {
    const s = this.registry.slot(taskId);
    if (!s || s.rec.lastStatus !== 'STOPPED' || s.driving || needsCleanup(s.rec, s.plan)) return;
    this.registry.forget(taskId);
    await this.d.store.remove(taskId);
  }

  close(): void {
    this.ctx.close();
    for (const s of this.registry.list()) {
      s.abort.abort();
      s.eniAbort?.abort();
    }
  }

  /** Waits for every drive in flight (after close()). */
  async drain(): Promise<void> {
    await Promise.all(this.registry.list().map((s) => s.driving?.catch(() => undefined)));
  }

  // ---------- health ----------

  onContainerEvent(e: ContainerEvent): Promise<void> {
    return this.health.onContainerEvent(e);
  }

  /** Re-checks every live task against the engine, and retries the cleanup of stopped ones. */
  checkAll(): Promise<void> {
    return this.health.checkAll((s: Slot) => needsCleanup(s.rec, s.plan));
  }
}
