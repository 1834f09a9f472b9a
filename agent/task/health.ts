// A live task against what the engine and its namespace hold: a lost pause container, a namespace that no
// longer holds the task's network, an essential container that exited: each stops the task with a reason.
import type { ContainerEvent, ContainerInfo } from '../docker/container-runtime.js';
import { LABEL } from '../docker/container-config.js';
import type { Slot, TaskContext } from './context.js';
import type { TaskRecord } from '../model.js';
import { missingAddresses } from './netns-verify.js';
import { ENI_TIMEOUT_REASON, containerState, healthStatusOf } from './provision.js';
import { cleanupRetryDelayMs } from '../docker/engine-outages.js';
import { sleep } from '../util/deadline.js';
import {
  diedBefore,
  diedWhileDownReason,
  eniDetachedReason,
  engineRestartReason,
  pauseLostReason,
  type LossDetail,
} from './loss-reason.js';

export const ESSENTIAL_EXITED_REASON = 'Essential container in task exited';
/** Tasks checkAll() checks at once: each check is three engine inspects and a look at /proc. */
const CHECK_CONCURRENCY = 8;
/** How long a stop caused by a container death may still be re-worded when an engine outage turns out to explain it. */
const LOSS_REVIEW_MS = 5 * 60_000;
/**
 * How long a check that found the pause process gone waits for the engine to say so too. A `docker kill`
 * ends the process at once, but the engine reports the container running until containerd's exit event
 * reaches it (tens of ms, more under load): a check in between must not call a killed pause container a
 * lost network (CI saw "Task network lost: the pause process is gone" for an outside kill).
 */
const PAUSE_EXIT_SETTLE_MS = 3_000;
const PAUSE_EXIT_POLL_MS = 100;

export interface HealthHooks {
  slot(taskId: string): Slot | undefined;
  slots(): Slot[];
  stop(taskId: string, reason: string): Promise<unknown>;
  /** A STOPPED task with something left to release: drive its cleanup again. */
  retryCleanup(s: Slot): void;
}

/** A stop this check caused by a container death, kept a while: the engine's stream may break just after. */
interface RecentLoss {
  /** When the container died (State.FinishedAt), or when the loss was seen. */
  at: number;
  detail: LossDetail;
  /** The reason the task was given; re-worded only while it still reads so. */
  given: string;
}

export class Health {
  /** When this daemon started: a pause container that died before it died while awsvpcd was down. */
  private readonly startedAt: number;
  /** Whether the first checkAll (at start-up) has run: until then a gone pause may have gone while awsvpcd was down. */
  private firstPassDone = false;
  private readonly recentLosses = new Map<string, RecentLoss>();
  /** When each stopped task's cleanup was last retried (in memory: after a restart the first retry is at once). */
  private readonly lastRetry = new Map<string, number>();

  constructor(
    private readonly ctx: TaskContext,
    private readonly hooks: HealthHooks,
  ) {
    this.startedAt = ctx.d.now();
    const outages = ctx.d.engineOutages;
    outages?.onChange(() => {
      // The engine is back: cleanups that failed while it was away are due at once (the count still bounds them).
      if (!outages.current()) this.lastRetry.clear();
      void this.reviewEngineLosses().catch((err) => ctx.log.warn({ err }, 're-wording engine losses failed'));
    });
  }

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
    if (!pause?.running) {
      metrics?.reconcileAction('stop_lost_pause');
      await this.pauseLost(s, pause);
      return;
    }
    if (rec.lastStatus === 'RUNNING') {
      const lost = await this.networkLost(s, pause.pid);
      if (lost) {
        // The pause process may have died between the inspect and the look at its namespace: say so plainly.
        const again = lost.pauseGone ? await this.pauseExitSettled(pause.id) : await runtime.inspect(pause.id);
        if (!again?.running) {
          await this.pauseLost(s, again);
          return;
        }
        s.log.error({ lost }, 'task network lost');
        if (lost.eniDetached) {
          metrics?.reconcileAction('stop_network_lost');
          await this.hooks.stop(rec.spec.taskId, eniDetachedReason(rec.spec.eni, s.plan.eni.ifName));
          return;
        }
        metrics?.reconcileAction('stop_network_lost');
        await this.lossStop(s, { kind: 'network', lost: lost.why }, undefined, `Task network lost: ${lost.why}`);
        return;
      }
    }
    await this.checkTaskContainers(s);
  }

  /**
   * The pause container is dead. Dead since before this daemon started: the pinned namespace tells a host
   * restart from an engine restart while awsvpcd was down. Dead in or around an engine outage this daemon
   * saw: the reason names the engine restart. Else the plain reason.
   */
  private async pauseLost(s: Slot, info: ContainerInfo | undefined): Promise<void> {
    const rec = s.rec;
    if (diedBefore(info, this.startedAt) || (!info && !this.firstPassDone)) {
      const netnsPath = rec.pause?.netnsPath;
      const pinned = netnsPath ? (await this.ctx.d.hostNet.netnsIdentity(netnsPath)) !== undefined : undefined;
      const reason = diedWhileDownReason(info, netnsPath, pinned);
      s.log.warn({ reason }, 'pause container died while awsvpcd was down');
      await this.hooks.stop(rec.spec.taskId, reason);
      return;
    }
    await this.lossStop(s, { kind: 'pause', info }, info?.finishedAt, pauseLostReason(info));
  }

  /** Stops a task for a container death, naming an engine outage that explains it (now, or once one is seen). */
  private async lossStop(s: Slot, detail: LossDetail, diedAt: string | undefined, plain: string): Promise<void> {
    const outage = this.ctx.d.engineOutages?.explain(diedAt);
    const reason = outage ? engineRestartReason(outage, detail) : plain;
    const at = diedAt && Date.parse(diedAt) > 0 ? Date.parse(diedAt) : this.ctx.d.now();
    await this.hooks.stop(s.rec.spec.taskId, reason);
    // Only a stop this call caused is re-worded later (a stop asked earlier keeps its own reason).
    if (s.rec.stoppedReason === reason) {
      this.remember(s.rec.spec.taskId, { at, detail, given: reason });
      // The outage may have changed while the stop was saved (the stream came back): the reason catches up
      // now, since that change's own review ran before this loss was known.
      await this.reviewEngineLosses();
    }
  }

  /**
   * The reason for a setup that failed on its own (not stopped by a user): the step's error, headed by the
   * engine restart when an outage is in progress or ended moments ago, so an operator reads "the engine
   * restarted" rather than a bare Docker error. Kept for re-wording, as container deaths are: the stream's
   * break is often seen after the failure it caused. The caller records the reason returned.
   */
  setupFailureReason(s: Slot, failure: string): string {
    // The ENI wait involves no engine call: its timeout keeps the ECS reason whatever the engine did.
    if (failure === ENI_TIMEOUT_REASON) return failure;
    const detail: LossDetail = { kind: 'setup', failure };
    const outage = this.ctx.d.engineOutages?.explain(undefined);
    const reason = outage ? engineRestartReason(outage, detail) : failure;
    if (s.rec.stoppedReason == null) this.remember(s.rec.spec.taskId, { at: this.ctx.d.now(), detail, given: reason });
    return reason;
  }

  /** Keeps a loss for re-wording; drops those past LOSS_REVIEW_MS, so weeks without an outage keep none. */
  private remember(taskId: string, loss: RecentLoss): void {
    const now = this.ctx.d.now();
    for (const [id, l] of this.recentLosses) if (now - l.at > LOSS_REVIEW_MS) this.recentLosses.delete(id);
    this.recentLosses.set(taskId, loss);
  }

  /**
   * The engine's event stream broke or came back: a task stopped moments before for a container death the
   * outage explains (the engine stops its containers before it closes its API) gets the reason that names
   * the engine restart, and the return time once it is known.
   */
  private async reviewEngineLosses(): Promise<void> {
    const outages = this.ctx.d.engineOutages;
    if (!outages) return;
    const now = this.ctx.d.now();
    for (const [taskId, loss] of this.recentLosses) {
      const s = this.hooks.slot(taskId);
      if (!s || s.rec.stoppedReason !== loss.given || now - loss.at > LOSS_REVIEW_MS) {
        this.recentLosses.delete(taskId);
        continue;
      }
      const o = outages.explain(new Date(loss.at).toISOString());
      if (!o) continue;
      const reason = engineRestartReason(o, loss.detail);
      if (reason === loss.given) continue;
      s.rec.stoppedReason = reason;
      loss.given = reason;
      s.log.warn({ reason }, 'the container death is explained by an engine restart');
      await this.ctx.saveWhenPossible(s);
    }
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
        await this.ctx.saveWhenPossible(s);
        await this.lossStop(
          s,
          { kind: 'essential', container: c.name, exitCode: st.exitCode, removed: !info },
          info?.finishedAt,
          info ? ESSENTIAL_EXITED_REASON : `${ESSENTIAL_EXITED_REASON}: container ${c.name} was removed outside awsvpcd`,
        );
        return;
      }
    }
    if (changed) await this.ctx.saveWhenPossible(s);
  }

  /**
   * A running pause container is not enough: the namespace must still hold the ENI with the task's address
   * and the bridge link. A different pid means the pause process was restarted into a new, empty namespace.
   */
  private async networkLost(s: Slot, pid: number): Promise<{ why: string; eniDetached?: boolean; pauseGone?: boolean } | undefined> {
    const rec: TaskRecord = s.rec;
    if (rec.pause?.pid !== undefined && rec.pause.pid !== pid) {
      return { why: `the pause container was restarted outside awsvpcd (pid ${rec.pause.pid} -> ${pid}), so its namespace is new and empty` };
    }
    const snap = await this.ctx.d.hostNet.readNetns(pid);
    if (!snap) return { why: 'the pause process is gone', pauseGone: true };
    const eniIf = s.plan.eni.ifName;
    if (!snap.interfaces.has(eniIf)) return { why: `${eniIf} (the ENI) is no longer in the task namespace`, eniDetached: true };
    const missing = missingAddresses(snap, rec.spec.eni);
    if (missing.length) return { why: `${eniIf} no longer holds ${missing.join(', ')}` };
    const bridgeIf = s.plan.bridge.ifName;
    if (!snap.interfaces.has(bridgeIf)) return { why: `${bridgeIf} is no longer in the task namespace` };
    return undefined;
  }

  /**
   * The pause process is gone from /proc: inspects again until the engine reports the container stopped, for
   * about PAUSE_EXIT_SETTLE_MS plus the inspects' time (each inspect has the runtime's own deadline). Returns the last inspect.
   */
  private async pauseExitSettled(id: string): Promise<ContainerInfo | undefined> {
    // Counted, not timed against ctx.d.now(): a test clock that stands still must not make this endless.
    for (let left = Math.ceil(PAUSE_EXIT_SETTLE_MS / PAUSE_EXIT_POLL_MS); ; left--) {
      const info = await this.ctx.d.runtime.inspect(id);
      if (!info?.running || left <= 0) return info;
      await sleep(PAUSE_EXIT_POLL_MS);
    }
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
        if (s.rec.lastStatus === 'STOPPED' && !needsCleanup(s)) this.lastRetry.delete(s.rec.spec.taskId);
        if (s.rec.lastStatus === 'RUNNING') await this.checkContainers(s).catch((err) => s.log.warn({ err }, 'check failed'));
        else if (s.rec.lastStatus === 'STOPPED' && needsCleanup(s) && !s.rec.cleanupAbandoned && this.retryDue(s)) {
          this.ctx.d.metrics?.reconcileAction('cleanup_retry');
          this.lastRetry.set(s.rec.spec.taskId, this.ctx.d.now());
          this.hooks.retryCleanup(s);
        }
      }
    };
    await Promise.all(Array.from({ length: CHECK_CONCURRENCY }, worker));
    this.firstPassDone = true;
  }

  /**
   * A stopped task's cleanup is retried at most once per cleanupRetryDelayMs (doubling with each pass that
   * left something), besides being bounded in count (cleanupMaxAttempts): checks after every engine
   * reconnect and every reconcile tick do not hammer a plugin that keeps failing.
   */
  private retryDue(s: Slot): boolean {
    const last = this.lastRetry.get(s.rec.spec.taskId);
    if (last === undefined) return true;
    const wait = cleanupRetryDelayMs(this.ctx.config.cleanupRetryBackoffMs ?? 0, s.rec.cleanupAttempts ?? 1);
    return this.ctx.d.now() - last >= wait;
  }
}
