// DEPROVISIONING -> STOPPED: undo whatever the record says may exist, in reverse, and converge with what
// the real plugins do on DEL (facts checked, never hoped for), with bounded retries; then watch for the
// ENI back on the host without holding STOPPED back. Its saves are deferred: a full or read-only disk never
// holds a stop back; what teardown did is kept in memory and written when the disk allows.
import type { CniCall } from '../../cni/types.js';
import { LABEL, dependentsOf } from '../docker/container-config.js';
import { VOLUME_LABEL, isTaskScoped } from '../docker/volumes.js';
import { DEFAULT_CLEANUP_MAX_ATTEMPTS, DEFAULT_ENI_RETURN_TIMEOUT_MS, type Slot, type TaskContext } from './context.js';
import { CniError, DeadlineError, errorMessage } from '../errors.js';
import { ipamReleasePending } from './next-action.js';
import { setStatus } from './provision.js';
import type { ContainerState } from '../model.js';

/** ecs-ipam's DEL answer for an id that holds nothing (contract case ipam-del-again). */
const NO_ADDRESS_FOR_ID = /no ip address associated with the given id/;

export class Teardown {
  constructor(private readonly ctx: TaskContext) {}

  async deprovision(s: Slot): Promise<void> {
    const rec = s.rec;
    if (rec.lastStatus !== 'DEPROVISIONING') {
      setStatus(rec, 'DEPROVISIONING');
      rec.attachmentStatus = 'DETACHING';
      rec.stoppingAt ??= this.ctx.nowIso();
      await this.ctx.saveWhenPossible(s);
      this.ctx.crash('after-deprovisioning');
    }
    await this.teardown(s);
    this.ctx.crash('before-stopped');
    setStatus(rec, 'STOPPED');
    rec.stoppedAt = this.ctx.nowIso();
    rec.stoppedReason ??= 'Task stopped';
    // The attachment reads DELETED once the ENI is back on the host, watched for a bounded time after STOPPED.
    // An ENI that never left the host (no ENI ADD was recorded) is there already.
    if (rec.cni.some((c) => c.ifName === s.plan.eni.ifName)) {
      const wait = this.ctx.config.eniReturnTimeoutMs ?? DEFAULT_ENI_RETURN_TIMEOUT_MS;
      rec.eniReturnDeadline = new Date(this.ctx.d.now() + wait).toISOString();
    } else {
      rec.attachmentStatus = 'DELETED';
    }
    await this.ctx.saveWhenPossible(s);
    s.log.info({ reason: rec.stoppedReason, cleanupErrors: rec.cleanupErrors }, 'task STOPPED');
    if (rec.attachmentStatus !== 'DELETED') this.watchEniReturn(s);
  }

  /**
   * Undoes whatever the record says may exist, in reverse: task containers, CNI DEL (reverse plan order,
   * each with a fresh deadline, going on past failures), the IPAM release, the pause container, the pinned
   * namespace. Failures are kept in cleanupErrors and retried by reconciliation, a bounded number of times.
   */
  async teardown(s: Slot): Promise<void> {
    const { rec, plan } = s;
    const errors: string[] = [];
    const engineAwayAtStart = this.engineAway();
    await this.removeContainers(s, errors);
    await this.ctx.saveWhenPossible(s);
    this.ctx.crash('after-containers-stopped');

    // CNI DEL, reverse order; the pinned namespace keeps the path valid even if pause is gone.
    const containerId = rec.pause?.runtimeId ?? rec.pause?.runtimeName ?? rec.spec.taskId;
    const netns = rec.pause?.netnsPath ?? (rec.pause?.pid ? `/proc/${rec.pause.pid}/ns/net` : '');
    for (const call of plan.del) {
      const step = rec.cni.find((c) => c.ifName === call.ifName);
      if (!step || step.phase === 'deleted') continue;
      this.ctx.crash(`before-cni-del:${call.plugin}`);
      try {
        await this.del(call, containerId, netns);
        step.phase = 'deleted';
      } catch (err) {
        // ecs-bridge's DEL fails on every attempt once the namespace is gone, yet what it would remove (the
        // veth) went with the namespace: checked, not assumed. Its address is released separately below.
        if (!(await this.netnsExists(netns))) {
          s.log.info({ plugin: call.plugin, netns, err: errorMessage(err) }, 'CNI DEL failed with the namespace gone; what it removes went with it');
          step.phase = 'deleted';
        } else {
          errors.push(`${call.plugin} DEL on ${call.ifName}: ${errorMessage(err)}`);
        }
      }
      await this.ctx.saveWhenPossible(s);
      this.ctx.crash(`after-cni-del:${call.plugin}`);
    }
    if (plan.ipamRelease && ipamReleasePending(rec, plan)) {
      try {
        await this.releaseAddress(plan.ipamRelease, rec.pause?.runtimeId ?? rec.spec.taskId, netns);
        rec.ipamReleased = true;
      } catch (err) {
        errors.push(`${plan.ipamRelease.plugin} release: ${errorMessage(err)}`);
      }
      await this.ctx.saveWhenPossible(s);
      this.ctx.crash('after-ipam-release');
    }
    await this.removePause(s, errors);
    await this.removeVolumes(s, errors);
    await this.removeTaskCgroup(s, errors);
    const engineAway = engineAwayAtStart || this.engineAway();
    this.record(s, errors, engineAway);
    await this.ctx.saveWhenPossible(s);
    if (rec.cleanupAbandoned) s.log.error({ errors, attempts: rec.cleanupAttempts }, 'teardown incomplete; retries exhausted, left for an operator');
    else if (errors.length && engineAway) s.log.error({ errors, attempts: rec.cleanupAttempts ?? 0 }, 'teardown incomplete while the engine was away; not counted against the retry bound, retried when it is back');
    else if (errors.length) s.log.error({ errors, attempts: rec.cleanupAttempts }, 'teardown incomplete; reconciliation will retry');
  }

  /**
   * Task containers first: the network stays until nothing in the task uses it. They stop in parallel, each
   * once the containers that depend on it have stopped (dependsOn in reverse), whether or not theirs worked.
   */
  private async removeContainers(s: Slot, errors: string[]): Promise<void> {
    const { rec } = s;
    const rt = this.ctx.d.runtime;
    const stopSec = (name: string): number => rec.spec.containers.find((c) => c.name === name)?.stopTimeout ?? this.ctx.config.containerStopTimeoutSec;
    const dependents = dependentsOf(rec.spec.containers);
    const level = stopLevels(dependents);
    // Per container: when it has stopped (or its stop failed), and when all of its removal is done.
    const stopped = new Map<string, Promise<void>>();
    const done: Array<Promise<void>> = [];
    const stopOf = (st: ContainerState): Promise<void> => {
      const known = stopped.get(st.name);
      if (known) return known;
      let markStopped!: () => void;
      const p = new Promise<void>((r) => (markStopped = r));
      stopped.set(st.name, p);
      // Only dependents on a lower level: strictly ordered, so no two containers ever wait for each other.
      const firsts = rec.containers.filter((x) => dependents.get(st.name)?.includes(x.name) && level(x.name) < level(st.name));
      done.push(
        (async () => {
          await Promise.all(firsts.map(stopOf));
          const ref = st.runtimeId ?? st.runtimeName;
          if (!ref || st.removed) return;
          try {
            const info = await rt.inspect(ref);
            if (info && info.labels[LABEL.taskId] === rec.spec.taskId) {
              if (info.running) await rt.stop(info.id, stopSec(st.name));
              markStopped();
              const after = await rt.inspect(info.id);
              if (st.lastStatus !== 'STOPPED') st.exitCode = after?.exitCode ?? st.exitCode;
              await rt.remove(info.id);
            }
            st.lastStatus = 'STOPPED';
            st.removed = true;
          } catch (err) {
            errors.push(`container ${st.name}: ${errorMessage(err)}`);
          }
        })().finally(markStopped),
      );
      return p;
    };
    rec.containers.forEach(stopOf);
    // `done` grows while the first containers are visited: wait for all of them.
    await Promise.all(done);
  }

  /** The pause container last, then the namespace it held (releasing it is what returns an ecs-eni ENI to the host). */
  private async removePause(s: Slot, errors: string[]): Promise<void> {
    const { rec } = s;
    if (rec.pause && !rec.pause.removed) {
      const ref = rec.pause.runtimeId ?? rec.pause.runtimeName;
      try {
        const info = await this.ctx.d.runtime.inspect(ref);
        if (info && info.labels[LABEL.taskId] === rec.spec.taskId) {
          if (info.running) await this.ctx.d.runtime.stop(info.id, 10);
          await this.ctx.d.runtime.remove(info.id);
        }
        rec.pause.removed = true;
      } catch (err) {
        errors.push(`pause container: ${errorMessage(err)}`);
      }
      await this.ctx.saveWhenPossible(s);
      this.ctx.crash('after-pause-removed');
    }
    if (!rec.pause?.netnsPath) return;
    // Only once every DEL is done: releasing the namespace earlier would destroy what DEL still needs.
    if (!rec.cni.every((c) => c.phase === 'deleted')) {
      errors.push('network namespace kept until CNI DEL succeeds');
      return;
    }
    try {
      await this.ctx.d.hostNet.releaseNetns(rec.pause.netnsPath);
      rec.pause.netnsPath = undefined;
    } catch (err) {
      errors.push(`network namespace: ${errorMessage(err)}`);
    }
  }

  /** Every container (pause included) gone, or the engine still holds one of them. */
  private containersGone(s: Slot): boolean {
    const { rec } = s;
    return rec.containers.every((c) => c.removed || (!c.runtimeId && !c.runtimeName)) && (!rec.pause || rec.pause.removed === true);
  }

  /**
   * Task-scoped volumes, once no container uses them: those the record names and those the engine labels with
   * this task (a crash between the create and the save, a record rebuilt from the engine). Only volumes
   * labelled with this task are removed: a name taken by anything else is left alone.
   */
  private async removeVolumes(s: Slot, errors: string[]): Promise<void> {
    const { rec } = s;
    const rt = this.ctx.d.runtime;
    const owner = this.ctx.config.ownerLabels?.[LABEL.owner];
    const pending = (rec.volumes ?? []).filter((v) => !v.removed);
    if (!pending.length && !(rec.spec.volumes ?? []).some(isTaskScoped)) return;
    let labelled: string[];
    try {
      labelled = (await rt.listVolumesByLabel(LABEL.taskId, rec.spec.taskId))
        .filter((v) => v.labels[VOLUME_LABEL.scope] === 'task' && (owner === undefined || v.labels[LABEL.owner] === owner))
        .map((v) => v.name);
    } catch (err) {
      errors.push(`volumes: ${errorMessage(err)}`);
      return;
    }
    const names = new Set([...pending.map((v) => v.engineName), ...labelled]);
    if (!names.size) return;
    if (!this.containersGone(s)) {
      errors.push(`volumes ${[...names].join(', ')} kept until every container of the task is removed`);
      return;
    }
    for (const name of names) {
      try {
        const v = await rt.inspectVolume(name);
        if (v && v.labels[LABEL.taskId] === rec.spec.taskId) await rt.removeVolume(name);
        for (const r of rec.volumes ?? []) if (r.engineName === name) r.removed = true;
      } catch (err) {
        errors.push(`volume ${name}: ${errorMessage(err)}`);
      }
    }
    await this.ctx.saveWhenPossible(s);
    this.ctx.crash('after-volumes-removed');
  }

  /** The task cgroup last: the kernel refuses to remove it while any process of the task is still in it. */
  private async removeTaskCgroup(s: Slot, errors: string[]): Promise<void> {
    const { rec } = s;
    const cg = rec.taskCgroup;
    if (!cg || cg.removed) return;
    if (!this.containersGone(s)) {
      errors.push(`task cgroup ${cg.parent} kept until every container of the task is removed`);
      return;
    }
    const cgroups = this.ctx.d.taskCgroups;
    if (!cgroups) {
      errors.push(`task cgroup ${cg.parent}: this daemon runs without task cgroup support and cannot remove it`);
      return;
    }
    try {
      await cgroups.remove(cg.parent);
      cg.removed = true;
    } catch (err) {
      errors.push(`task cgroup ${cg.parent}: ${errorMessage(err)}`);
    }
  }

  /** Whether the engine's event stream is down now (an engine restart or stop in progress). */
  private engineAway(): boolean {
    return this.ctx.d.engineOutages?.current() !== undefined;
  }

  /**
   * What this pass left, and whether retries are exhausted. A pass the engine was away for at its start or
   * end is not counted against cleanupMaxAttempts: every engine call in it failed for a reason that says
   * nothing of the task, and an engine restart must not use up the retries a slow removal needs afterwards.
   */
  private record(s: Slot, errors: string[], engineAway: boolean): void {
    const { rec } = s;
    rec.cleanupErrors = errors;
    if (!errors.length) {
      rec.cleanupAbandoned = undefined;
      return;
    }
    if (engineAway) return;
    rec.cleanupAttempts = (rec.cleanupAttempts ?? 0) + 1;
    if (rec.cleanupAttempts >= (this.ctx.config.cleanupMaxAttempts ?? DEFAULT_CLEANUP_MAX_ATTEMPTS)) {
      rec.cleanupAbandoned = `gave up after ${rec.cleanupAttempts} teardown attempts; left: ${errors.join('; ')}`;
    }
  }

  /** One DEL under its own fresh deadline. */
  del(call: CniCall, containerId: string, netns: string): Promise<void> {
    return this.ctx.d.cni.del(call, { containerId, netns, timeoutMs: this.ctx.config.cniDelTimeoutMs });
  }

  /**
   * The task-local address released through the IPAM plugin (ecs-ipam DEL by id). ecs-ipam answers a second
   * DEL for the same id with "no ip address associated with the given id": the IPAM's own word that nothing
   * is held, so that counts as released; anything else is an error and is retried.
   */
  async releaseAddress(call: CniCall, containerId: string, netns: string): Promise<void> {
    try {
      await this.ctx.d.cni.del(call, { containerId, netns, timeoutMs: this.ctx.config.ipamReleaseTimeoutMs });
    } catch (err) {
      if (err instanceof CniError && err.kind === 'plugin-error' && NO_ADDRESS_FOR_ID.test(err.cniMsg ?? err.message)) {
        this.ctx.log.debug({ plugin: call.plugin, err: err.message }, 'IPAM holds no address for this id: released');
        return;
      }
      throw err;
    }
  }

  /** Whether a namespace path (pinned, or /proc/<pid>/ns/net) still holds a namespace. */
  private async netnsExists(netns: string): Promise<boolean> {
    if (netns === '') return false;
    return (await this.ctx.d.hostNet.netnsIdentity(netns)) !== undefined;
  }

  /**
   * Watches for the ENI's MAC on the host until eniReturnDeadline; then the attachment reads DELETED, and the
   * record says whether the ENI was seen back. Runs beside the drive: STOPPED never waits for it.
   */
  watchEniReturn(s: Slot): void {
    if (s.eniWait || this.ctx.closed) return;
    const rec = s.rec;
    const deadline = Date.parse(rec.eniReturnDeadline ?? this.ctx.nowIso());
    const abort = new AbortController();
    s.eniAbort = abort;
    s.eniWait = (async () => {
      let seen: { name: string } | undefined;
      try {
        seen = await this.ctx.d.links.waitForMac(rec.spec.eni.macAddress, deadline, abort.signal);
      } catch (err) {
        if (this.ctx.closed) return;
        if (!(err instanceof DeadlineError)) s.log.warn({ err }, 'watching for the ENI failed');
      }
      if (this.ctx.closed) return;
      const at = this.ctx.nowIso();
      rec.eniReturn = seen
        ? { seen: true, at, hostName: seen.name }
        : { seen: false, at, note: `ENI ${rec.spec.eni.macAddress} was not seen on the host by ${rec.eniReturnDeadline ?? at}` };
      rec.attachmentStatus = 'DELETED';
      await this.ctx.saveWhenPossible(s);
      s.log.info({ eniReturn: rec.eniReturn }, seen ? 'ENI back on the host' : 'ENI not seen back on the host; attachment DELETED anyway');
    })()
      .catch((err) => s.log.warn({ err }, 'saving the ENI return failed'))
      .finally(() => {
        s.eniWait = undefined;
        s.eniAbort = undefined;
      });
  }
}

/** A container's stop level: 0 when nothing depends on it, else one above its highest dependent (a cycle counts as 0). */
function stopLevels(dependents: Map<string, string[]>): (name: string) => number {
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const level = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return 0;
    visiting.add(name);
    const l = Math.max(-1, ...(dependents.get(name) ?? []).map(level)) + 1;
    visiting.delete(name);
    memo.set(name, l);
    return l;
  };
  return level;
}
