// Carries tasks through PROVISIONING -> PENDING -> RUNNING -> DEPROVISIONING -> STOPPED through the adapters.
// Intent is saved before each side effect and its result right after, so a crash at any point leaves a
// record that says exactly what may exist; teardown undoes whatever the record says may exist.
import type { Logger } from 'pino';
import { buildPlan } from '../../cni/plan.js';
import type { CniCall, CniInvoker, CniPlan, CniPlanOptions, CniResult, PluginSet } from '../../cni/types.js';
import type { ContainerRuntime, ContainerInfo, ContainerEvent, CreateContainerOptions } from '../docker/container-runtime.js';
import {
  LABEL,
  appCreateOptions,
  appRuntimeName,
  pauseCreateOptions,
  pauseRuntimeName,
  startOrder,
} from '../docker/container-config.js';
import type { EniCapacity } from '../eni/capacity.js';
import type { HostNetwork } from '../eni/host-network.js';
import type { LinkWatcher } from '../eni/link-watcher.js';
import type { TaskStore } from '../store/task-store.js';
import { NO_CRASH, type CrashPoint } from '../util/crash-point.js';
import { sleep } from '../util/deadline.js';
import { Mutex } from '../util/mutex.js';
import { describeTask, type DescribedTask } from './describe.js';
import type { ManagerMetrics, SetupStep } from './manager-metrics.js';
import { CapacityError, ConflictError, DeadlineError, DockerError, NotFoundError, errorMessage } from './errors.js';
import type { ContainerSpec, ContainerState, EniSpec, PullBehavior, TaskRecord, TaskSpec, TaskStatus } from './model.js';
import { statusIndex } from './model.js';
import { specHash } from './spec-hash.js';

export const ENI_TIMEOUT_REASON = 'Timeout waiting for network interface provisioning to complete.';
export const ESSENTIAL_EXITED_REASON = 'Essential container in task exited';

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
}

export interface ManagerDeps {
  store: TaskStore;
  runtime: ContainerRuntime;
  links: LinkWatcher;
  cni: CniInvoker;
  hostNet: HostNetwork;
  logger: Logger;
  now: () => number;
  config: ManagerConfig;
  /** Fault injection for tests (AWSVPCD_CRASH_AT); a no-op in production. */
  crash?: CrashPoint;
  /** Admission control on the host's ENI capacity; absent: no limit. */
  capacity?: EniCapacity;
  /** Step timings and reconcile actions for /metrics; absent: not measured. */
  metrics?: ManagerMetrics;
  /** Called each time the last task drive in flight ends: the task work has settled, for now. */
  onSettled?: () => void;
}

/** Raised inside provisioning to stop the task with a reason a person can act on. */
class TaskFailure extends Error {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(reason, options);
  }
}

interface Slot {
  rec: TaskRecord;
  plan: CniPlan;
  abort: AbortController;
  driving: Promise<void> | undefined;
  again: boolean;
  log: Logger;
}

const IMDS = '169.254.169.254/32';
/** Tasks checkAll() checks at once. */
const CHECK_CONCURRENCY = 8;

/** A stand-in ENI for plan calls that do not depend on the ENI (which binaries a set needs, the bridge DEL). */
export const PROBE_ENI: EniSpec = {
  attachmentArn: 'arn:aws:ecs:us-east-1:000000000000:attachment/probe',
  attachmentId: 'probe',
  ec2Id: 'eni-00000000',
  macAddress: '02:00:00:00:00:01',
  ipv4Addresses: [{ primary: true, privateAddress: '10.0.0.2' }],
  ipv6Addresses: [],
  subnetGatewayIpv4Address: '10.0.0.1/24',
  domainNameServers: [],
  domainName: [],
};

export class TaskManager {
  private readonly d: ManagerDeps;
  private readonly slots = new Map<string, Slot>();
  /** Host-global plugin work (the bridge, the IPAM database) is serialised where it must be (see bridgeCall). */
  private readonly bridgeLock = new Mutex();
  /** A reference-set bridge ADD has succeeded: the bridge exists (see bridgeCall). */
  private bridgeUp = false;
  /** Admissions one at a time, so two submissions cannot both take the last free ENI slot. */
  private readonly admission = new Mutex();
  private readonly log: Logger;
  private closed = false;
  /** Task drives in flight (setups, teardowns, cleanup retries). */
  private inFlight = 0;
  private readonly crash: CrashPoint;

  constructor(deps: ManagerDeps) {
    this.d = deps;
    this.crash = deps.crash ?? NO_CRASH;
    this.log = deps.logger.child({ component: 'task-manager' });
  }

  // ---------- queries ----------

  get(taskId: string): TaskRecord | undefined {
    return this.slots.get(taskId)?.rec;
  }

  all(): TaskRecord[] {
    return [...this.slots.values()].map((s) => s.rec);
  }

  describe(taskId: string): DescribedTask {
    const rec = this.get(taskId);
    if (!rec) throw new NotFoundError(`task ${taskId} is not known`);
    return describeTask(rec);
  }

  /** Resolves when the task's current drive finishes (for tests and --wait). */
  async settled(taskId: string): Promise<void> {
    for (;;) {
      const s = this.slots.get(taskId);
      if (!s?.driving) return;
      await s.driving.catch(() => undefined);
    }
  }

  // ---------- commands ----------

  /** Adds a validated task. Same ARN and content: the existing task (created=false). Different content: conflict. */
  submit(spec: TaskSpec, source: 'api' | 'spool'): Promise<{ created: boolean; rec: TaskRecord }> {
    return this.admission.run(() => this.admit(spec, source));
  }

  private async admit(spec: TaskSpec, source: 'api' | 'spool'): Promise<{ created: boolean; rec: TaskRecord }> {
    const hash = specHash(spec);
    const existing = this.slots.get(spec.taskId);
    if (existing) {
      if (existing.rec.specHash !== hash) {
        throw new ConflictError(`task ${spec.taskArn} already exists with different content`);
      }
      if (spec.desiredStatus === 'STOPPED') await this.stop(spec.taskId, 'Task stopped by user');
      return { created: false, rec: existing.rec };
    }
    if (spec.desiredStatus === 'RUNNING' && this.d.capacity?.max !== undefined) {
      const live = this.all().filter((r) => r.lastStatus !== 'STOPPED');
      const report = await this.d.capacity.report([...live.map((r) => r.spec.eni.macAddress), spec.eni.macAddress], live.length);
      if (report.free !== undefined && report.free < 1) {
        const hand = report.unowned.length
          ? `, ${report.unowned.length} ENI-like link(s) no task owns (${report.unowned.map((l) => `${l.name} ${l.mac}`).join(', ')})`
          : '';
        throw new CapacityError(
          `host ENI capacity reached: ${report.max} task ENIs allowed, ${report.tasks} held by tasks${hand}; stop a task or detach the extra interfaces`,
        );
      }
    }
    const now = new Date(this.d.now());
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
    await this.d.store.save(rec);
    this.adopt(rec);
    return { created: true, rec };
  }

  async stop(taskId: string, reason: string): Promise<TaskRecord> {
    const s = this.slots.get(taskId);
    if (!s) throw new NotFoundError(`task ${taskId} is not known`);
    if (s.rec.desiredStatus !== 'STOPPED') {
      s.rec.desiredStatus = 'STOPPED';
      s.rec.stoppedReason ??= reason;
      s.rec.stoppingAt ??= new Date(this.d.now()).toISOString();
      await this.save(s);
      s.log.info({ reason }, 'stop requested');
    }
    s.abort.abort();
    this.kick(s);
    return s.rec;
  }

  planFor(spec: TaskSpec): CniPlan {
    return buildPlan(this.d.config.pluginSet, spec.eni, this.d.config.plan);
  }

  /**
   * Releases an ecs-eth0 address that no task owns (found by reconciliation): the bridge DEL with that
   * container id and no namespace, which frees the IPAM entry and touches nothing else.
   */
  async releaseOrphanAddress(containerId: string): Promise<void> {
    const plan = buildPlan(this.d.config.pluginSet, PROBE_ENI, this.d.config.plan);
    const call = plan.del.find((c) => c.role === 'bridge');
    if (!call) return;
    await this.bridgeCall('del', () => this.d.cni.del(call, { containerId, netns: '', timeoutMs: this.d.config.cniDelTimeoutMs }));
  }

  /** Registers a record (new, or loaded at start) and starts driving it. */
  adopt(rec: TaskRecord): void {
    const plan = this.planFor(rec.spec);
    const slot: Slot = {
      rec,
      plan,
      abort: new AbortController(),
      driving: undefined,
      again: false,
      log: this.d.logger.child({ component: 'task', taskArn: rec.spec.taskArn }),
    };
    this.slots.set(rec.spec.taskId, slot);
    this.kick(slot);
  }

  /** Forgets a STOPPED task whose resources are all released. */
  async forget(taskId: string): Promise<void> {
    const s = this.slots.get(taskId);
    if (!s || s.rec.lastStatus !== 'STOPPED' || s.driving || this.needsCleanup(s.rec)) return;
    this.slots.delete(taskId);
    await this.d.store.remove(taskId);
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots.values()) s.abort.abort();
  }

  /** Waits for every drive in flight (after close()). */
  async drain(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.driving?.catch(() => undefined)));
  }

  // ---------- the drive loop ----------

  kick(s: Slot): void {
    if (this.closed) return;
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
        if (s.again && !this.closed) {
          s.again = false;
          this.kick(s);
        }
        if (this.inFlight === 0 && !this.closed) this.d.onSettled?.();
      });
  }

  /** Whether any task drive is in flight. */
  busy(): boolean {
    return this.inFlight > 0;
  }

  private async drive(s: Slot): Promise<void> {
    const rec = s.rec;
    if (rec.lastStatus === 'STOPPED') {
      if (this.needsCleanup(rec)) await this.teardown(s);
      return;
    }
    if (rec.desiredStatus === 'STOPPED' || rec.lastStatus === 'DEPROVISIONING') {
      await this.deprovision(s);
      return;
    }
    if (rec.lastStatus === 'RUNNING') return;
    try {
      if (rec.rebuiltFromEngine) {
        throw new TaskFailure('Task state was lost while the task was being set up; it was rebuilt from the engine and cannot be started again without its environment');
      }
      if (this.needsCleanup(rec)) await this.rollBackInterrupted(s);
      await this.provision(s);
    } catch (err) {
      if (this.closed) return;
      const reason =
        err instanceof TaskFailure
          ? err.reason
          : s.abort.signal.aborted
            ? (rec.stoppedReason ?? 'Task stopped by user')
            : `Task failed to start: ${errorMessage(err)}`;
      if (!(err instanceof TaskFailure) && !s.abort.signal.aborted) s.log.error({ err }, 'provisioning failed');
      else s.log.warn({ reason }, 'provisioning ended');
      rec.desiredStatus = 'STOPPED';
      rec.stoppedReason ??= reason;
      rec.stoppingAt ??= new Date(this.d.now()).toISOString();
      await this.save(s);
      await this.deprovision(s);
    }
  }

  private async provision(s: Slot): Promise<void> {
    const { rec, plan } = s;
    const signal = s.abort.signal;
    const spec = rec.spec;
    const cfg = this.d.config;

    // 1. The ENI on the host, found by MAC, within the stored deadline.
    // Status-only changes are saved with the next intent: every side effect below still has its record first.
    rec.attachmentStatus = 'ATTACHING';
    const eniWaitStart = this.d.now();
    try {
      const link = await this.d.links.waitForMac(spec.eni.macAddress, Date.parse(rec.eniDeadline), signal);
      rec.eniHostName = link.name;
      this.d.metrics?.observeStep('eni_wait', this.d.now() - eniWaitStart);
    } catch (err) {
      if (err instanceof DeadlineError) throw new TaskFailure(ENI_TIMEOUT_REASON, { cause: err });
      throw err;
    }
    rec.attachmentStatus = 'ATTACHED';
    s.log.info({ link: rec.eniHostName, waitedMs: this.d.now() - eniWaitStart }, 'ENI found on host');
    this.crash('after-eni-found');
    signal.throwIfAborted();

    // 2. The pause container.
    const pauseOpts = pauseCreateOptions(spec, rec.specHash, cfg.pauseImage, { ...cfg.pauseLabels, ...cfg.ownerLabels });
    rec.pause = { runtimeName: pauseOpts.name };
    await this.save(s);
    let pauseId: string;
    try {
      pauseId = await this.timed('pause_create', () => this.createOrAdopt(pauseOpts, rec));
      rec.pause.runtimeId = pauseId;
      await this.save(s);
      this.crash('after-pause-create');
      await this.timed('pause_start', () => this.d.runtime.start(pauseId));
      this.crash('after-pause-start');
    } catch (err) {
      throw new TaskFailure(`Pause container failed to start: ${errorMessage(err)}`, { cause: err });
    }
    const info = await this.d.runtime.inspect(pauseId);
    if (!info?.running || info.pid <= 0) throw new TaskFailure(`Pause container exited right after start (${info?.state ?? 'gone'})`);
    rec.pause.pid = info.pid;
    // Intent first: a crash between the mount and the save must not leave a mount no record names.
    rec.pause.netnsPath = this.d.hostNet.netnsPathFor(spec.taskId);
    await this.save(s);
    // The pin and the IMDS route need only the namespace (a blackhole route has no device), so they run beside
    // the CNI ADDs rather than ahead of them: two host processes no plugin waits for. Their intent (netnsPath)
    // is saved above, so a crash while they run leaves nothing that no record names. Both are done before any
    // task container starts (the route must be there before the first one can reach IMDS) and before a failed
    // ADD turns into teardown, so teardown never races a mount still in progress.
    const hostSide = Promise.allSettled([
      this.d.hostNet.pinNetns(info.pid, spec.taskId),
      plan.daemonAddsImdsBlackhole ? this.d.hostNet.addBlackholeRoute(`/proc/${info.pid}/ns/net`, IMDS) : undefined,
    ]);
    try {
      // 3. CNI ADD in plan order, under one budget for the whole sequence.
      const budgetEnd = this.d.now() + cfg.cniAddTimeoutMs;
      const netns = `/proc/${info.pid}/ns/net`;
      for (const call of plan.add) {
        const step = { plugin: call.plugin, ifName: call.ifName, phase: 'intent' as const };
        rec.cni.push(step);
        await this.save(s);
        this.crash(`before-cni-add:${call.plugin}`);
        const timeoutMs = Math.max(1, budgetEnd - this.d.now());
        let result: CniResult;
        try {
          const run = (): Promise<CniResult> => this.d.cni.add(call, { containerId: pauseId, netns, timeoutMs });
          result = call.role === 'eni' ? await run() : await this.bridgeCall('add', run);
        } catch (err) {
          throw new TaskFailure(`Network setup failed: ${call.plugin} ADD on ${call.ifName}: ${errorMessage(err).replace(/^\S+ ADD: /, '')}`, { cause: err });
        }
        const saved = rec.cni[rec.cni.length - 1]!;
        saved.phase = 'added';
        saved.result = result;
        if (call.role === 'bridge') {
          rec.localIpAddress = result.ips[0]?.address.split('/')[0];
          if (plan.bridgeAddress) await this.d.hostNet.ensureBridgeAddress(cfg.plan.bridgeName, plan.bridgeAddress);
        }
        // The next plugin's intent save carries this result; after the last one, save it now.
        if (call === plan.add[plan.add.length - 1]) await this.save(s);
        s.log.info({ plugin: call.plugin, ifName: call.ifName, ips: result.ips.map((i) => i.address) }, 'CNI ADD done');
        this.crash(`after-cni-add:${call.plugin}`);
        signal.throwIfAborted();
      }
    } catch (err) {
      await hostSide;
      throw err;
    }
    const [pinned, imds] = await hostSide;
    if (pinned.status === 'rejected') {
      // The ADDs are in, and teardown must reach the namespace to undo them: through the pause pid (alive
      // a moment ago) rather than a path that holds no namespace. A path that cannot be released stays
      // recorded, so the release is tried again.
      const ok = await this.d.hostNet.releaseNetns(rec.pause.netnsPath).then(() => true, () => false);
      if (ok) {
        rec.pause.netnsPath = undefined;
        await this.save(s);
      }
      throw pinned.reason;
    }
    if (imds.status === 'rejected') {
      throw new TaskFailure(`Network setup failed: instance metadata block: ${errorMessage(imds.reason)}`, { cause: imds.reason });
    }
    this.crash('after-netns-pin');
    signal.throwIfAborted();

    // 4. The task's containers, joined to the pause container's namespace, in dependency order.
    this.setStatus(rec, 'PENDING');
    for (const c of startOrder(spec.containers)) {
      signal.throwIfAborted();
      await this.waitForDependencies(s, c);
      await this.ensureImage(c);
      const st = this.containerState(rec, c.name);
      st.runtimeName = appRuntimeName(spec.taskId, c.name);
      await this.save(s);
      try {
        st.runtimeId = await this.timed('container_create', () => this.createOrAdopt(appCreateOptions(spec, rec.specHash, c, pauseId, cfg.ownerLabels), rec));
        await this.save(s);
        this.crash(`after-container-create:${c.name}`);
        await this.timed('container_start', () => this.d.runtime.start(st.runtimeId!));
      } catch (err) {
        throw new TaskFailure(`Container ${c.name} failed to start: ${errorMessage(err)}`, { cause: err });
      }
      st.lastStatus = 'RUNNING';
      st.startedAt = new Date(this.d.now()).toISOString();
      this.crash(`after-container-start:${c.name}`);
    }
    signal.throwIfAborted();
    this.crash('before-running');
    this.setStatus(rec, 'RUNNING');
    rec.startedAt = new Date(this.d.now()).toISOString();
    await this.save(s);
    s.log.info({ localIp: rec.localIpAddress }, 'task RUNNING');
    // A container may have exited between its start and now; look once so no exit is missed.
    await this.checkContainers(s);
  }

  /**
   * A setup interrupted by a crash: undo what it left (the record says what may exist), then start over.
   * Starting over is simpler and safer than resuming a half-run plugin chain.
   */
  private async rollBackInterrupted(s: Slot): Promise<void> {
    const rec = s.rec;
    s.log.warn({ lastStatus: rec.lastStatus }, 'setup was interrupted; rolling back before starting again');
    this.d.metrics?.reconcileAction('rollback_interrupted');
    await this.teardown(s);
    if (rec.cleanupErrors.length) {
      throw new TaskFailure(`Interrupted setup could not be rolled back: ${rec.cleanupErrors.join('; ')}`);
    }
    rec.pause = undefined;
    rec.cni = [];
    rec.localIpAddress = undefined;
    rec.ipamReleased = undefined;
    rec.containers = rec.spec.containers.map((c) => ({ name: c.name, lastStatus: 'PENDING', exitCode: null, reason: null }));
    // lastStatus stays where it was: a task never moves backwards, even while it sets up again.
    await this.save(s);
  }

  private async waitForDependencies(s: Slot, c: ContainerSpec): Promise<void> {
    for (const dep of c.dependsOn) {
      if (dep.condition === 'START') continue; // satisfied: start order puts the dependency first
      const st = this.containerState(s.rec, dep.containerName);
      const end = this.d.now() + this.d.config.dependencyTimeoutMs;
      for (;;) {
        s.abort.signal.throwIfAborted();
        const info = st.runtimeId ? await this.d.runtime.inspect(st.runtimeId) : undefined;
        if (!info) throw new TaskFailure(`Container ${c.name}: dependency ${dep.containerName} is gone`);
        if (dep.condition === 'HEALTHY') {
          if (info.health === 'healthy') break;
          if (info.health === undefined) throw new TaskFailure(`Container ${c.name}: dependency ${dep.containerName} has no health check, so HEALTHY can never be met`);
          if (!info.running) throw new TaskFailure(`Container ${c.name}: dependency ${dep.containerName} exited before it was healthy`);
        } else if (!info.running && info.state !== 'created') {
          if (dep.condition === 'SUCCESS' && info.exitCode !== 0) {
            throw new TaskFailure(`Container ${c.name}: dependency ${dep.containerName} exited with code ${info.exitCode}, SUCCESS required`);
          }
          break;
        }
        if (this.d.now() > end) throw new TaskFailure(`Container ${c.name}: dependency ${dep.containerName} did not reach ${dep.condition} within ${this.d.config.dependencyTimeoutMs} ms`);
        await sleep(250, s.abort.signal);
      }
    }
  }

  /** ECS_IMAGE_PULL_BEHAVIOR semantics. */
  private async ensureImage(c: ContainerSpec): Promise<void> {
    const rt = this.d.runtime;
    const behavior = this.d.config.pullBehavior;
    const present = await rt.imageExists(c.image);
    if (present && (behavior === 'prefer-cached' || behavior === 'once')) return;
    try {
      await rt.pullImage(c.image, this.d.config.pullTimeoutMs);
    } catch (err) {
      if (behavior === 'default' && present) {
        this.log.warn({ err, image: c.image }, 'pull failed; using the cached image');
        return;
      }
      throw new TaskFailure(`Container ${c.name}: image ${c.image} could not be pulled: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Creates a container; after a crash the name may already exist: adopt it only if it is this task's. */
  private async createOrAdopt(opts: CreateContainerOptions, rec: TaskRecord): Promise<string> {
    try {
      return await this.d.runtime.create(opts);
    } catch (err) {
      if (!(err instanceof DockerError) || err.statusCode !== 409) throw err;
      const existing = await this.d.runtime.inspect(opts.name);
      if (!existing || existing.labels[LABEL.taskId] !== rec.spec.taskId) throw err;
      // A leftover from an interrupted attempt: remove it and create afresh so its config is ours.
      await this.d.runtime.remove(existing.id);
      return await this.d.runtime.create(opts);
    }
  }

  // ---------- teardown ----------

  private async deprovision(s: Slot): Promise<void> {
    const rec = s.rec;
    if (rec.lastStatus !== 'DEPROVISIONING') {
      this.setStatus(rec, 'DEPROVISIONING');
      rec.attachmentStatus = 'DETACHING';
      rec.stoppingAt ??= new Date(this.d.now()).toISOString();
      await this.save(s);
      this.crash('after-deprovisioning');
    }
    await this.teardown(s);
    this.crash('before-stopped');
    this.setStatus(rec, 'STOPPED');
    rec.attachmentStatus = 'DELETED';
    rec.stoppedAt = new Date(this.d.now()).toISOString();
    rec.stoppedReason ??= 'Task stopped';
    await this.save(s);
    s.log.info({ reason: rec.stoppedReason, cleanupErrors: rec.cleanupErrors }, 'task STOPPED');
  }

  needsCleanup(rec: TaskRecord): boolean {
    return (
      rec.containers.some((c) => (c.runtimeId || c.runtimeName) && !c.removed) ||
      rec.cni.some((c) => c.phase !== 'deleted') ||
      (rec.pause !== undefined && (!rec.pause.removed || rec.pause.netnsPath !== undefined)) ||
      this.ipamReleasePending(rec)
    );
  }

  private ipamReleasePending(rec: TaskRecord): boolean {
    const plan = this.slots.get(rec.spec.taskId)?.plan;
    return !!plan?.ipamRelease && !rec.ipamReleased && rec.cni.some((c) => c.ifName === plan.ipamRelease!.ifName);
  }

  /**
   * Undoes whatever the record says may exist, in reverse: task containers, CNI DEL (reverse plan order,
   * each with a fresh deadline, going on past failures), the IPAM release, the pause container, the pinned
   * namespace. Failures are kept in cleanupErrors and retried by reconciliation.
   */
  private async teardown(s: Slot): Promise<void> {
    const { rec, plan } = s;
    const cfg = this.d.config;
    const errors: string[] = [];
    const stopSec = (name: string): number =>
      rec.spec.containers.find((c) => c.name === name)?.stopTimeout ?? cfg.containerStopTimeoutSec;

    // Task containers first: the network stays until nothing in the task uses it.
    await Promise.all(
      rec.containers.map(async (st) => {
        const ref = st.runtimeId ?? st.runtimeName;
        if (!ref || st.removed) return;
        try {
          const info = await this.d.runtime.inspect(ref);
          if (info && info.labels[LABEL.taskId] === rec.spec.taskId) {
            if (info.running) await this.d.runtime.stop(info.id, stopSec(st.name));
            const after = await this.d.runtime.inspect(info.id);
            if (st.lastStatus !== 'STOPPED') {
              st.exitCode = after?.exitCode ?? st.exitCode;
            }
            await this.d.runtime.remove(info.id);
          }
          st.lastStatus = 'STOPPED';
          st.removed = true;
        } catch (err) {
          errors.push(`container ${st.name}: ${errorMessage(err)}`);
        }
      }),
    );
    await this.save(s);
    this.crash('after-containers-stopped');

    // CNI DEL, reverse order; the pinned namespace keeps the path valid even if pause is gone.
    const pauseId = rec.pause?.runtimeId;
    const netns = rec.pause?.netnsPath ?? (rec.pause?.pid ? `/proc/${rec.pause.pid}/ns/net` : '');
    for (const call of plan.del) {
      const step = rec.cni.find((c) => c.ifName === call.ifName);
      if (!step || step.phase === 'deleted') continue;
      this.crash(`before-cni-del:${call.plugin}`);
      try {
        await this.delWithLock(call, pauseId ?? rec.pause?.runtimeName ?? rec.spec.taskId, netns);
        step.phase = 'deleted';
      } catch (err) {
        errors.push(`${call.plugin} DEL on ${call.ifName}: ${errorMessage(err)}`);
      }
      await this.save(s);
      this.crash(`after-cni-del:${call.plugin}`);
    }
    if (plan.ipamRelease && this.ipamReleasePending(rec)) {
      try {
        const rel = plan.ipamRelease;
        await this.bridgeLock.run(() =>
          this.d.cni.del(rel, { containerId: pauseId ?? rec.spec.taskId, netns, timeoutMs: cfg.ipamReleaseTimeoutMs }),
        );
        rec.ipamReleased = true;
      } catch (err) {
        errors.push(`${plan.ipamRelease.plugin} release: ${errorMessage(err)}`);
      }
      await this.save(s);
      this.crash('after-ipam-release');
    }

    // The pause container last, then the namespace it held.
    if (rec.pause && !rec.pause.removed) {
      const ref = rec.pause.runtimeId ?? rec.pause.runtimeName;
      try {
        const info = await this.d.runtime.inspect(ref);
        if (info && info.labels[LABEL.taskId] === rec.spec.taskId) {
          if (info.running) await this.d.runtime.stop(info.id, 10);
          await this.d.runtime.remove(info.id);
        }
        rec.pause.removed = true;
      } catch (err) {
        errors.push(`pause container: ${errorMessage(err)}`);
      }
      await this.save(s);
      this.crash('after-pause-removed');
    }
    if (rec.pause?.netnsPath) {
      // Only once every DEL is done: releasing the namespace earlier would destroy what DEL still needs.
      if (rec.cni.every((c) => c.phase === 'deleted')) {
        try {
          await this.d.hostNet.releaseNetns(rec.pause.netnsPath);
          rec.pause.netnsPath = undefined;
        } catch (err) {
          errors.push(`network namespace: ${errorMessage(err)}`);
        }
      } else {
        errors.push('network namespace kept until CNI DEL succeeds');
      }
    }
    rec.cleanupErrors = errors;
    await this.save(s);
    if (errors.length) s.log.error({ errors }, 'teardown incomplete; reconciliation will retry');
  }

  private async delWithLock(call: CniCall, containerId: string, netns: string): Promise<void> {
    const run = (): Promise<void> =>
      this.d.cni.del(call, { containerId, netns, timeoutMs: this.d.config.cniDelTimeoutMs });
    await (call.role === 'eni' ? run() : this.bridgeCall('del', run));
  }

  /**
   * A bridge-plugin call, alone where it must be. ecs-bridge and ecs-ipam share a single-writer IPAM database
   * (a bolt file with a 5 s lock timeout): always one at a time. The reference bridge plugin and host-local
   * take calls for different containers at once, as the CNI spec allows a runtime to make them (the plugin
   * treats EEXIST on the bridge as success, host-local locks its directory); only ADDs up to the first that
   * succeeds, the one that creates the bridge, go one at a time. With the lock on every call, 32 tasks
   * started at once queued ~0.9 s each for it (bench, concurrency part).
   */
  private bridgeCall<T>(kind: 'add' | 'del', fn: () => Promise<T>): Promise<T> {
    if (this.d.config.pluginSet !== 'reference') return this.bridgeLock.run(fn);
    if (this.bridgeUp || kind === 'del') return fn();
    return this.bridgeLock.run(async () => {
      const r = await fn();
      this.bridgeUp = true;
      return r;
    });
  }

  // ---------- container exits ----------

  /** A container event from the engine: an essential exit or a removal from outside stops the task. */
  async onContainerEvent(e: ContainerEvent): Promise<void> {
    if (e.action !== 'die' && e.action !== 'destroy') return;
    const taskId = e.labels[LABEL.taskId];
    const s = taskId ? this.slots.get(taskId) : undefined;
    // While a task is being set up or torn down, its own drive causes (and handles) these events; the
    // drive checks once more when it reaches RUNNING, so nothing that happens meanwhile is missed.
    if (!s || s.driving) return;
    await this.checkContainers(s);
  }

  /** Compares what the engine has with what a live task needs; stops the task when something is lost. */
  async checkContainers(s: Slot): Promise<void> {
    const rec = s.rec;
    if (rec.desiredStatus === 'STOPPED' || rec.lastStatus === 'STOPPED' || rec.lastStatus === 'DEPROVISIONING') return;
    if (!rec.pause?.runtimeId) return;
    const pause = await this.d.runtime.inspect(rec.pause.runtimeId);
    if (!pause?.running) {
      const why = pause ? `exited (code ${pause.exitCode})` : 'was removed outside awsvpcd';
      this.d.metrics?.reconcileAction('stop_lost_pause');
      await this.stop(rec.spec.taskId, `Pause container ${why}; the task lost its network namespace`);
      return;
    }
    if (rec.lastStatus === 'RUNNING') {
      let lost = await this.networkLost(rec, pause.pid);
      if (lost) {
        // The pause process may have died between the inspect and the look at its namespace: say so plainly.
        const again = await this.d.runtime.inspect(pause.id);
        if (!again?.running) lost = undefined;
        if (!lost) {
          await this.stop(rec.spec.taskId, `Pause container ${again ? `exited (code ${again.exitCode})` : 'was removed outside awsvpcd'}; the task lost its network namespace`);
          return;
        }
        s.log.error({ lost }, 'task network lost');
        this.d.metrics?.reconcileAction('stop_network_lost');
        await this.stop(rec.spec.taskId, `Task network lost: ${lost}`);
        return;
      }
    }
    let changed = false;
    for (const c of rec.spec.containers) {
      const st = this.containerState(rec, c.name);
      if (!st.runtimeId || st.lastStatus !== 'RUNNING') continue;
      const info: ContainerInfo | undefined = await this.d.runtime.inspect(st.runtimeId);
      if (info?.running) continue;
      st.lastStatus = 'STOPPED';
      st.exitCode = info?.exitCode ?? null;
      st.reason = info ? (info.oomKilled ? 'OutOfMemoryError: Container killed due to memory usage' : null) : 'Container was removed outside awsvpcd';
      if (!info) st.removed = true;
      changed = true;
      s.log.info({ container: c.name, exitCode: st.exitCode, essential: c.essential }, 'container stopped');
      if (c.essential) {
        await this.save(s);
        await this.stop(rec.spec.taskId, info ? ESSENTIAL_EXITED_REASON : `${ESSENTIAL_EXITED_REASON}: container ${c.name} was removed outside awsvpcd`);
        return;
      }
    }
    if (changed) await this.save(s);
  }

  /**
   * A running pause container is not enough: the namespace must still hold the ENI with the
   * task's address and the ecs-eth0 link. A different pid means the pause process was restarted into a new,
   * empty namespace.
   */
  private async networkLost(rec: TaskRecord, pid: number): Promise<string | undefined> {
    if (rec.pause?.pid !== undefined && rec.pause.pid !== pid) {
      return `the pause container was restarted outside awsvpcd (pid ${rec.pause.pid} -> ${pid}), so its namespace is new and empty`;
    }
    const snap = await this.d.hostNet.readNetns(pid);
    if (!snap) return 'the pause process is gone';
    const primary = rec.spec.eni.ipv4Addresses.find((a) => a.primary)?.privateAddress;
    if (!snap.interfaces.has('eth0')) return 'eth0 (the ENI) is no longer in the task namespace';
    if (primary && !snap.addresses.has(primary)) return `eth0 no longer holds ${primary}`;
    const bridgeIf = this.slots.get(rec.spec.taskId)?.plan.add.find((c) => c.role === 'bridge')?.ifName;
    if (bridgeIf && !snap.interfaces.has(bridgeIf)) return `${bridgeIf} is no longer in the task namespace`;
    return undefined;
  }

  /** Re-checks every live task against the engine (after missed events, an engine restart, a daemon start). */
  async checkAll(): Promise<void> {
    // A few tasks at a time: each check is three engine inspects and a look at /proc. One task after another,
    // a restart with 100 tasks waited for 300 inspects in a row before the API answered.
    const slots = [...this.slots.values()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < slots.length) {
        const s = slots[next++]!;
        if (s.driving) continue;
        if (s.rec.lastStatus === 'RUNNING') await this.checkContainers(s).catch((err) => s.log.warn({ err }, 'check failed'));
        else if (s.rec.lastStatus === 'STOPPED' && this.needsCleanup(s.rec)) {
          this.d.metrics?.reconcileAction('cleanup_retry');
          this.kick(s);
        }
      }
    };
    await Promise.all(Array.from({ length: CHECK_CONCURRENCY }, worker));
  }

  // ---------- helpers ----------

  private containerState(rec: TaskRecord, name: string): ContainerState {
    let st = rec.containers.find((c) => c.name === name);
    if (!st) {
      st = { name, lastStatus: 'PENDING', exitCode: null, reason: null };
      rec.containers.push(st);
    }
    return st;
  }

  /** Statuses only move forward. */
  private setStatus(rec: TaskRecord, to: TaskStatus): void {
    if (statusIndex(to) > statusIndex(rec.lastStatus)) rec.lastStatus = to;
  }

  /** Runs one setup step and reports how long it took when it succeeds. */
  private async timed<T>(step: SetupStep, fn: () => Promise<T>): Promise<T> {
    const started = this.d.now();
    const r = await fn();
    this.d.metrics?.observeStep(step, this.d.now() - started);
    return r;
  }

  private async save(s: Slot): Promise<void> {
    s.rec.version++;
    await this.d.store.save(s.rec);
  }
}
