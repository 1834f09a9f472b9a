// What a task needs next, decided from its record alone (pure): the drive loop carries it out.
import type { CniPlan } from '../../cni/types.js';
import type { TaskRecord } from '../model.js';

export type NextAction =
  /** STOPPED with resources still recorded: undo them (bounded: not once retries gave up). */
  | 'cleanup'
  /** STOPPED and released, the ENI not yet seen back on the host: watch for it. */
  | 'watch-eni'
  /** Asked to stop, or a teardown was under way: tear down, then STOPPED. */
  | 'deprovision'
  /** Rebuilt from the engine mid-setup: its environment is lost, so it cannot be started: fail it. */
  | 'fail-rebuilt'
  /** A setup interrupted with resources recorded: carry it forward if they can be verified, else roll back; then set up. */
  | 'resume'
  | 'provision'
  | 'none';

export function nextAction(rec: TaskRecord, plan: Pick<CniPlan, 'ipamRelease'>): NextAction {
  if (rec.lastStatus === 'STOPPED') {
    if (needsCleanup(rec, plan) && !rec.cleanupAbandoned) return 'cleanup';
    if (rec.attachmentStatus !== 'DELETED') return 'watch-eni';
    return 'none';
  }
  if (rec.desiredStatus === 'STOPPED' || rec.lastStatus === 'DEPROVISIONING') return 'deprovision';
  if (rec.lastStatus === 'RUNNING') return 'none';
  if (rec.rebuiltFromEngine) return 'fail-rebuilt';
  return needsCleanup(rec, plan) ? 'resume' : 'provision';
}

/** Whether the record says something may still exist: a container, a CNI step not deleted, the pause container or its namespace, an address, a task volume, the task cgroup. */
export function needsCleanup(rec: TaskRecord, plan: Pick<CniPlan, 'ipamRelease'>): boolean {
  return (
    rec.containers.some((c) => (c.runtimeId || c.runtimeName) && !c.removed) ||
    rec.cni.some((c) => c.phase !== 'deleted') ||
    (rec.pause !== undefined && (!rec.pause.removed || rec.pause.netnsPath !== undefined)) ||
    ipamReleasePending(rec, plan) ||
    (rec.volumes ?? []).some((v) => !v.removed) ||
    (rec.taskCgroup !== undefined && !rec.taskCgroup.removed)
  );
}

/** The set releases the task-local address separately, a bridge step was recorded, and it is not released yet. */
export function ipamReleasePending(rec: TaskRecord, plan: Pick<CniPlan, 'ipamRelease'>): boolean {
  const rel = plan.ipamRelease;
  return rel !== undefined && !rec.ipamReleased && rec.cni.some((c) => c.ifName === rel.ifName);
}
