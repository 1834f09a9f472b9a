// Taking a task in: idempotent by ARN and content, refused beyond the host's ENI capacity, refused while the
// state directory cannot be written (its record must be on disk before anything is made), one at a time.
import { Mutex } from '../util/mutex.js';
import type { TaskContext } from './context.js';
import { CapacityError, ConflictError, StoreUnavailableError } from '../errors.js';
import type { TaskRecord, TaskSpec } from '../model.js';
import type { TaskRegistry } from './registry.js';
import { specHash } from './spec-hash.js';

/** A new task's record, as admission and a rebuild from the engine start it. */
export function newTaskRecord(spec: TaskSpec, source: string, now: Date, hash = specHash(spec)): TaskRecord {
  const rec: TaskRecord = {
    spec,
    specHash: hash,
    source,
    desiredStatus: spec.desiredStatus,
    lastStatus: 'PROVISIONING',
    attachmentStatus: 'PRECREATED',
    createdAt: now.toISOString(),
    eniDeadline: new Date(now.getTime() + spec.waitTimeoutMs).toISOString(),
    startedAt: null,
    stoppingAt: null,
    stoppedAt: null,
    stoppedReason: null,
    cni: [],
    containers: spec.containers.map((c) => ({ name: c.name, lastStatus: 'PENDING', exitCode: null, reason: null })),
    cleanupErrors: [],
    version: 1,
  };
  if (spec.desiredStatus === 'STOPPED') {
    rec.lastStatus = 'STOPPED';
    rec.attachmentStatus = 'DELETED';
    rec.stoppedAt = rec.createdAt;
    rec.stoppedReason = 'Task was submitted with desiredStatus STOPPED';
  }
  return rec;
}

export class Admission {
  /** Admissions one at a time, so two submissions cannot both take the last free ENI slot. */
  private readonly mutex = new Mutex();

  constructor(
    private readonly ctx: TaskContext,
    private readonly registry: TaskRegistry,
    private readonly hooks: { adopt(rec: TaskRecord): void; stop(taskId: string, reason: string): Promise<unknown> },
  ) {}

  /** Adds a validated task. Same ARN and content: the existing task (created=false). Different content: conflict. */
  submit(spec: TaskSpec, source: string): Promise<{ created: boolean; rec: TaskRecord }> {
    return this.mutex.run(() => this.admit(spec, source));
  }

  private async admit(spec: TaskSpec, source: string): Promise<{ created: boolean; rec: TaskRecord }> {
    const hash = specHash(spec);
    const existing = this.registry.get(spec.taskId);
    if (existing) {
      if (existing.specHash !== hash) throw new ConflictError(`task ${spec.taskArn} already exists with different content`);
      if (spec.desiredStatus === 'STOPPED') await this.hooks.stop(spec.taskId, 'Task stopped by user');
      return { created: false, rec: existing };
    }
    // A sick disk refuses at once; the first save failing with one makes the store say so, and throws the same error.
    const sick = this.ctx.d.store.degraded?.();
    if (sick) throw new StoreUnavailableError(sick.stateDir, sick.errno, sick.detail);
    if (spec.desiredStatus === 'RUNNING') await this.checkCapacity(spec);
    const rec = newTaskRecord(spec, source, new Date(this.ctx.d.now()), hash);
    await this.ctx.d.store.save(rec);
    this.hooks.adopt(rec);
    return { created: true, rec };
  }

  private async checkCapacity(spec: TaskSpec): Promise<void> {
    const capacity = this.ctx.d.capacity;
    if (capacity?.max === undefined) return;
    const live = this.registry.all().filter((r) => r.lastStatus !== 'STOPPED');
    const report = await capacity.report([...live.map((r) => r.spec.eni.macAddress), spec.eni.macAddress], live.length);
    if (report.free !== undefined && report.free < 1) {
      const hand = report.unowned.length
        ? `, ${report.unowned.length} ENI-like link(s) no task owns (${report.unowned.map((l) => `${l.name} ${l.mac}`).join(', ')})`
        : '';
      throw new CapacityError(
        `host ENI capacity reached: ${report.max} task ENIs allowed, ${report.tasks} held by tasks${hand}; stop a task or detach the extra interfaces`,
      );
    }
  }
}
