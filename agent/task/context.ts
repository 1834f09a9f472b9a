// What the task manager's rooms (admission, drive, provision, teardown, health) share: the adapters, the
// configuration, one slot per task, and the save / crash point / timing ritual every step goes through.
import type { Logger } from 'pino';
import type { CniInvoker, CniPlan, CniPlanOptions, PluginSet } from '../../cni/types.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import type { EngineOutages } from '../docker/engine-outages.js';
import type { TaskCgroups } from '../docker/task-cgroup.js';
import type { EniCapacity } from '../eni/capacity.js';
import type { TaskNetns } from '../eni/netns.js';
import type { LinkWatcher } from '../eni/link-watcher.js';
import type { TaskStore } from '../store/task-store.js';
import { NO_CRASH, type CrashPoint } from '../util/crash-point.js';
import type { ManagerMetrics, SetupStep } from './manager-metrics.js';
import type { PullBehavior, TaskRecord } from '../model.js';

export interface ManagerConfig {
  pluginSet: PluginSet;
  plan: CniPlanOptions;
  pauseImage: string;
  pauseLabels: Record<string, string>;
  /** On every container this daemon makes (LABEL.owner), so reconciliation can tell its own from another daemon's. */
  ownerLabels?: Record<string, string>;
  /** Budget for the whole CNI ADD sequence (ECS: 1 minute). */
  cniAddTimeoutMs: number;
  /** Each DEL gets a fresh deadline of its own (ECS: 30 s). */
  cniDelTimeoutMs: number;
  /** ecs-ipam release (ECS: 5 s). */
  ipamReleaseTimeoutMs: number;
  /** ECS_CONTAINER_STOP_TIMEOUT, seconds. */
  containerStopTimeoutSec: number;
  pullBehavior: PullBehavior;
  pullTimeoutMs: number;
  /** How long a dependsOn COMPLETE/SUCCESS/HEALTHY condition may take. */
  dependencyTimeoutMs: number;
  /**
   * After teardown, how long to watch for the ENI's MAC back on the host before the attachment reads
   * DELETED anyway (ecs-eni's DEL does nothing: the ENI comes back when its namespace is destroyed).
   * Never holds STOPPED back. Default 10 s.
   */
  eniReturnTimeoutMs?: number;
  /** Teardown passes (the first and reconciliation's retries) before the record gives up and says what is left. Default 10. */
  cleanupMaxAttempts?: number;
  /** The wait before a stopped task's cleanup is retried, doubling per pass that left something (at most 32×); 0: every check. */
  cleanupRetryBackoffMs?: number;
  /** Host paths no bind mount may be on, inside or above, checked again on the real path at start (default: the host's plumbing). */
  bindMountDenyList?: string[];
  /** Host paths allowed although the deny list covers them. */
  allowedBindMounts?: string[];
  /** Where task cgroup parents go ("<root>/<taskId>"); default /awsvpcd. */
  taskCgroupRoot?: string;
}

export interface ManagerDeps {
  store: TaskStore;
  runtime: ContainerRuntime;
  links: LinkWatcher;
  /** Host-global bridge/IPAM calls are serialised by the invoker (BridgeLockedInvoker), not here. */
  cni: CniInvoker;
  hostNet: TaskNetns;
  logger: Logger;
  now: () => number;
  config: ManagerConfig;
  /** Fault injection for tests (AWSVPCD_CRASH_AT); a no-op in production. */
  crash?: CrashPoint;
  /** Admission control on the host's ENI capacity; absent: no limit. */
  capacity?: EniCapacity;
  /** Step timings and reconcile actions for /metrics; absent: not measured. */
  metrics?: ManagerMetrics;
  /** Task-level cpu/memory limits; absent: a task that sets them runs without them, with a warning. */
  taskCgroups?: TaskCgroups;
  /** The engine outages the daemon saw (its event stream breaking): reasons of tasks lost in one name the engine restart. */
  engineOutages?: EngineOutages;
  /** Called each time the last task drive in flight ends: the task work has settled, for now. */
  onSettled?: () => void;
}

/** One task the manager holds: its record, its plan, and what is running for it. */
export interface Slot {
  rec: TaskRecord;
  plan: CniPlan;
  abort: AbortController;
  driving: Promise<void> | undefined;
  again: boolean;
  log: Logger;
  /** The bounded watch for the ENI back on the host after STOPPED (outside the drive: it holds nothing back). */
  eniWait?: Promise<void>;
  /** Ends that watch on close() (a stop aborts `abort`, which must not end a watch that follows the stop). */
  eniAbort?: AbortController;
}

/** Raised inside provisioning to stop the task with a reason a person can act on. */
export class TaskFailure extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

export const DEFAULT_ENI_RETURN_TIMEOUT_MS = 10_000;
export const DEFAULT_CLEANUP_MAX_ATTEMPTS = 10;

/** The adapters and the per-step ritual, handed to each room. */
export class TaskContext {
  readonly crash: CrashPoint;
  readonly log: Logger;
  private isClosed = false;

  constructor(readonly d: ManagerDeps) {
    this.crash = d.crash ?? NO_CRASH;
    this.log = d.logger.child({ component: 'task-manager' });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    this.isClosed = true;
  }

  get config(): ManagerConfig {
    return this.d.config;
  }

  nowIso(): string {
    return new Date(this.d.now()).toISOString();
  }

  /**
   * Strict: the record is on disk when this resolves, or it throws (a sick disk: StoreUnavailableError). For
   * intent that must be on disk before its effect runs (admission, provisioning).
   */
  async save(s: Slot): Promise<void> {
    s.rec.version++;
    await this.d.store.save(s.rec);
  }

  /**
   * Deferred: a disk that refuses the write now (full, read-only, failing) gets it when it allows, and the
   * task goes on in memory. For what must not wait for the disk: a stop, a teardown, health bookkeeping.
   */
  async saveWhenPossible(s: Slot): Promise<void> {
    s.rec.version++;
    const store = this.d.store;
    await (store.saveWhenPossible ? store.saveWhenPossible(s.rec) : store.save(s.rec));
  }

  /**
   * One side effect as one line of intent: `intent` writes what may come to exist into the record and it is
   * saved before `effect` runs; `done` writes what it produced and that is saved right after (when given);
   * then the crash point; the time `effect` took is reported under `timing` when it succeeds.
   */
  async step<T>(
    s: Slot,
    o: { intent?: () => void; effect: () => Promise<T>; done?: (r: T) => void; crash?: string; timing?: SetupStep },
  ): Promise<T> {
    if (o.intent) {
      o.intent();
      await this.save(s);
    }
    const started = this.d.now();
    const r = await o.effect();
    if (o.timing) this.d.metrics?.observeStep(o.timing, this.d.now() - started);
    if (o.done) {
      o.done(r);
      await this.save(s);
    }
    if (o.crash) this.crash(o.crash);
    return r;
  }
}
