// A live task against what the engine and its namespace hold: a lost pause container, a namespace that no
// longer holds the task's network, an essential container that exited: each stops the task with a reason.
import type { ContainerEvent, ContainerInfo } from '../docker/container-runtime.js';
import { LABEL } from '../docker/container-config.js';
import type { Slot, TaskContext } from './context.js';
import type { TaskRecord } from '../model.js';
import { missingAddresses } from './netns-verify.js';
import { containerState, healthStatusOf } from './provision.js';

export const ESSENTIAL_EXITED_REASON = 'Essential container in task exited';
/** Tasks checkAll() checks at once: each check is three engine inspects and a look at /proc. */
const CHECK_CONCURRENCY = 8;

export interface HealthHooks {
  slot(taskId: string): Slot | undefined;
  slots(): Slot[];
  stop(taskId: string, reason: string): Promise<unknown>;
  /** A STOPPED task with something left to release: drive its cleanup again. */
  retryCleanup(s: Slot): void;
}

export class Health {
  constructor(
    private readonly ctx: TaskContext,
    private readonly hooks: HealthHooks,
  ) {}

  /** A container event from the engine: an essential exit or a removal from outside stops the task. */
  async onContainerEvent(e: ContainerEvent): Promise<void> {
    // "health_status: healthy" and the like: the record's health status follows the engine's.
    if (e.action !== 'die' && e.action !== 'destroy' && !e.action.startsWith('health_status')) return;
    const taskId = e.labels[LABEL.taskId];
    const s = taskId ? this.hooks.slot(taskId) : undefined;
    // While a task is being set up or torn down, its own drive causes (and handles) these events; the
    // drive checks once more when it reaches RUNNING, so nothing that happens meanwhile is missed.
    if (!s || s.driving) return;
    await this.checkContainers(s);
  }

  /** Compares what the engine has with what a live task needs; stops the task when something is lost. */
  async checkContainers(s: Slot): Promise<void> {
    const rec = s.rec;
    const { runtime, metrics } = this.ctx.d;
    if (rec.desiredStatus === 'STOPPED' || rec.lastStatus === 'STOPPED' || rec.lastStatus === 'DEPROVISIONING') return;
    if (!rec.pause?.runtimeId) return;
    const pause = await runtime.inspect(rec.pause.runtimeId);
    const gone = (info: ContainerInfo | undefined): string =>
      `Pause container ${info ? `exited (code ${info.exitCode})` : 'was removed outside awsvpcd'}; the task lost its network namespace`;
    if (!pause?.running) {
      metrics?.reconcileAction('stop_lost_pause');
      await this.hooks.stop(rec.spec.taskId, gone(pause));
      return;
    }
    if (rec.lastStatus === 'RUNNING') {
      const lost = await this.networkLost(s, pause.pid);
      if (lost) {
        // The pause process may have died between the inspect and the look at its namespace: say so plainly.
        const again = await runtime.inspect(pause.id);
        if (!again?.running) {
          await this.hooks.stop(rec.spec.taskId, gone(again));
          return;
        }
        s.log.error({ lost }, 'task network lost');
        metrics?.reconcileAction('stop_network_lost');
        await this.hooks.stop(rec.spec.taskId, `Task network lost: ${lost}`);
        return;
      }
    }
    await this.checkTaskContainers(s);
  }

  private async checkTaskContainers(s: Slot): Promise<void> {
    const rec = s.rec;
    let changed = false;
    for (const c of rec.spec.containers) {
      const st = containerState(rec, c.name);
      if (!st.runtimeId || st.lastStatus !== 'RUNNING') continue;
      const info = await this.ctx.d.runtime.inspect(st.runtimeId);
      if (c.healthCheck && info && st.healthStatus !== healthStatusOf(info)) {
        st.healthStatus = healthStatusOf(info);
        changed = true;
      }
      if (info?.running) continue;
      st.lastStatus = 'STOPPED';
      st.exitCode = info?.exitCode ?? null;
      st.reason = info ? (info.oomKilled ? 'OutOfMemoryError: Container killed due to memory usage' : null) : 'Container was removed outside awsvpcd';
      if (!info) st.removed = true;
      changed = true;
      s.log.info({ container: c.name, exitCode: st.exitCode, essential: c.essential }, 'container stopped');
      if (c.essential) {
        await this.ctx.save(s);
        await this.hooks.stop(rec.spec.taskId, info ? ESSENTIAL_EXITED_REASON : `${ESSENTIAL_EXITED_REASON}: container ${c.name} was removed outside awsvpcd`);
        return;
      }
    }
    if (changed) await this.ctx.save(s);
  }

  /**
   * A running pause container is not enough: the namespace must still hold the ENI with the task's address
   * and the bridge link. A different pid means the pause process was restarted into a new, empty namespace.
   */
  private async networkLost(s: Slot, pid: number): Promise<string | undefined> {
    const rec: TaskRecord = s.rec;
    if (rec.pause?.pid !== undefined && rec.pause.pid !== pid) {
      return `the pause container was restarted outside awsvpcd (pid ${rec.pause.pid} -> ${pid}), so its namespace is new and empty`;
    }
    const snap = await this.ctx.d.hostNet.readNetns(pid);
    if (!snap) return 'the pause process is gone';
    const eniIf = s.plan.eni.ifName;
    if (!snap.interfaces.has(eniIf)) return `${eniIf} (the ENI) is no longer in the task namespace`;
    const missing = missingAddresses(snap, rec.spec.eni);
    if (missing.length) return `${eniIf} no longer holds ${missing.join(', ')}`;
    const bridgeIf = s.plan.bridge.ifName;
    if (!snap.interfaces.has(bridgeIf)) return `${bridgeIf} is no longer in the task namespace`;
    return undefined;
  }

  /** Re-checks every live task against the engine (after missed events, an engine restart, a daemon start). */
  async checkAll(needsCleanup: (s: Slot) => boolean): Promise<void> {
    // A few tasks at a time: one after another, a restart with 100 tasks waited for 300 inspects in a row
    // before the API answered.
    const slots = this.hooks.slots();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < slots.length) {
        const s = slots[next++]!;
        if (s.driving) continue;
        if (s.rec.lastStatus === 'RUNNING') await this.checkContainers(s).catch((err) => s.log.warn({ err }, 'check failed'));
        else if (s.rec.lastStatus === 'STOPPED' && needsCleanup(s) && !s.rec.cleanupAbandoned) {
          this.ctx.d.metrics?.reconcileAction('cleanup_retry');
          this.hooks.retryCleanup(s);
        }
      }
    };
    await Promise.all(Array.from({ length: CHECK_CONCURRENCY }, worker));
  }
}
