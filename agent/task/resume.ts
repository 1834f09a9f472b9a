// A setup interrupted by a crash: carried forward where what it did can be seen, rolled back where not.
import { TaskFailure, type Slot, type TaskContext } from './context.js';
import { errorMessage } from '../errors.js';
import { diedWhileDownReason } from './loss-reason.js';
import { checkBridge, checkEni } from './netns-verify.js';
import type { Teardown } from './teardown.js';

export class Resumer {
  constructor(
    private readonly ctx: TaskContext,
    private readonly teardown: Teardown,
  ) {}

  /**
   * Carried forward when the pause container runs with the recorded pid, its namespace is pinned (or can be
   * pinned again) and each recorded ADD is seen done in it: rolling back would hand an ENI back to the host
   * (on EC2 udev and ec2-net-utils may take it) only to attach it again. An ADD that cannot be seen done is
   * undone alone where it can be (its ENI still on the host: it never ran; a bridge step: DEL and IPAM
   * release); anything else is rolled back whole.
   */
  async resumeOrRollBack(s: Slot): Promise<void> {
    const why = await this.verify(s).catch((err: unknown) => `checking it failed: ${errorMessage(err)}`);
    if (why === undefined) {
      s.log.warn({ steps: s.rec.cni.map((c) => `${c.plugin}:${c.phase}`) }, 'setup was interrupted; its network is verified, carrying it forward');
      this.ctx.d.metrics?.reconcileAction('roll_forward');
      await this.ctx.save(s);
      return;
    }
    s.log.warn({ why }, 'setup was interrupted and cannot be carried forward');
    // The host restarted under the setup: nothing of it is left to roll back into, so the task stops and
    // says so (a setup started afresh would be a new task the scheduler never asked for at this moment).
    const hostRestarted = await this.hostRestarted(s).catch(() => undefined);
    if (hostRestarted) throw new TaskFailure(hostRestarted);
    await this.rollBack(s);
  }

  /** The "Host restarted" reason when the pause container is dead or gone and the pinned namespace is gone too. */
  private async hostRestarted(s: Slot): Promise<string | undefined> {
    const pause = s.rec.pause;
    if (!pause?.runtimeId || !pause.netnsPath) return undefined;
    // netnsPath is recorded when the pause container starts, but the pin is made beside the first ADD (after
    // the ENI wait): before an ADD is done, a missing pin says nothing about the host.
    if (!s.rec.cni.some((c) => c.phase === 'added')) return undefined;
    const info = await this.ctx.d.runtime.inspect(pause.runtimeId);
    if (info?.running) return undefined;
    if ((await this.ctx.d.hostNet.netnsIdentity(pause.netnsPath)) !== undefined) return undefined;
    return diedWhileDownReason(info, pause.netnsPath, false);
  }

  /** undefined when the interrupted setup can go on (the record is updated to what was seen), else why not. */
  private async verify(s: Slot): Promise<string | undefined> {
    const { rec, plan } = s;
    const { runtime, hostNet, links } = this.ctx.d;
    const pause = rec.pause;
    if (rec.cni.length === 0) return 'no network step had started';
    if (!pause?.runtimeId || pause.pid === undefined || !pause.netnsPath) return 'the pause container or its namespace was not recorded';
    if (rec.containers.some((c) => c.removed)) return 'a task container was removed';
    const info = await runtime.inspect(pause.runtimeId);
    if (!info?.running || info.pid !== pause.pid) return 'the pause container is not running with the recorded pid';
    const [pinnedId, procId] = await Promise.all([hostNet.netnsIdentity(pause.netnsPath), hostNet.netnsIdentity(`/proc/${pause.pid}/ns/net`)]);
    if (!procId) return 'the pause container has no readable namespace';
    if (pinnedId !== procId) {
      if (pinnedId) return `${pause.netnsPath} holds another namespace than the pause container's`;
      await hostNet.pinNetns(pause.pid, rec.spec.taskId);
    }
    const ns = await hostNet.inspectNetns(pause.netnsPath);
    if (!ns) return 'the pinned namespace cannot be read';
    for (const step of [...rec.cni]) {
      const call = plan.add.find((c) => c.ifName === step.ifName);
      if (!call) return `the record names ${step.plugin} on ${step.ifName}, which the plan does not`;
      if (call.role === 'eni') {
        const missing = checkEni(ns, plan.eni);
        if (!missing) {
          step.phase = 'added';
          continue;
        }
        // Still on the host: the ADD never moved it, so there is nothing to undo.
        if (step.phase === 'intent' && (await links.findByMac(plan.eni.mac))) {
          rec.cni.splice(rec.cni.indexOf(step), 1);
          continue;
        }
        return `the ENI step cannot be verified: ${missing}`;
      }
      const bridge = checkBridge(ns, plan.bridge);
      if ('address' in bridge) {
        step.phase = 'added';
        rec.localIpAddress = bridge.address.split('/')[0];
        continue;
      }
      if (step.phase === 'added') return `the bridge step cannot be verified: ${bridge.missing}`;
      // A bridge ADD cut short: its veth (and any address) are undone alone, then it runs again.
      await this.teardown.del(plan.del.find((c) => c.ifName === call.ifName)!, pause.runtimeId, pause.netnsPath);
      if (plan.ipamRelease) await this.teardown.releaseAddress(plan.ipamRelease, pause.runtimeId, pause.netnsPath);
      rec.cni.splice(rec.cni.indexOf(step), 1);
      rec.ipamReleased = undefined;
      rec.localIpAddress = undefined;
    }
    return undefined;
  }

  /** Undo what the interrupted setup left (the record says what may exist), then start over. */
  private async rollBack(s: Slot): Promise<void> {
    const rec = s.rec;
    s.log.warn({ lastStatus: rec.lastStatus }, 'setup was interrupted; rolling back before starting again');
    this.ctx.d.metrics?.reconcileAction('rollback_interrupted');
    await this.teardown.teardown(s);
    if (rec.cleanupErrors.length) {
      throw new TaskFailure(`Interrupted setup could not be rolled back: ${rec.cleanupErrors.join('; ')}`);
    }
    rec.pause = undefined;
    rec.cni = [];
    rec.localIpAddress = undefined;
    rec.ipamReleased = undefined;
    rec.containers = rec.spec.containers.map((c) => ({ name: c.name, lastStatus: 'PENDING', exitCode: null, reason: null }));
    // lastStatus stays where it was: a task never moves backwards, even while it sets up again.
    await this.ctx.save(s);
  }
}
