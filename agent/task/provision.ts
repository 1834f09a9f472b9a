// PROVISIONING -> PENDING -> RUNNING: the ENI on the host, the pause container, the CNI ADDs, the task's
// containers. Intent is saved before each side effect and its result right after (TaskContext.step), so a
// crash at any point leaves a record that says exactly what may exist.
import type { CniPlan, CniResult } from '../../cni/types.js';
import type { ContainerInfo, CreateContainerOptions } from '../docker/container-runtime.js';
import { LABEL, appCreateOptions, appRuntimeName, pauseCreateOptions, startOrder, type TaskRuntimeOptions } from '../docker/container-config.js';
import { DEFAULT_TASK_CGROUP_ROOT, taskCgroupPlan } from '../docker/task-cgroup.js';
import { DEFAULT_BIND_MOUNT_DENY_LIST, engineVolumeName, isTaskScoped, prepareBindSource, sharedVolumeLabels, taskVolumeLabels } from '../docker/volumes.js';
import { sleep } from '../util/deadline.js';
import { TaskFailure, type Slot, type TaskContext } from './context.js';
import { DeadlineError, DockerError, errorMessage } from '../errors.js';
import type { ContainerSpec, ContainerState, TaskRecord, TaskStatus } from '../model.js';
import { statusIndex } from '../model.js';
import { checkEni, ipv6Readiness } from './netns-verify.js';
import { runGraph, type GraphStep } from './step-graph.js';

export const ENI_TIMEOUT_REASON = 'Timeout waiting for network interface provisioning to complete.';
/**
 * How long the task's IPv6 addresses may stay tentative (duplicate address detection) before the setup
 * fails: the kernel's default is one probe a second after a random delay of up to a second.
 */
export const IPV6_DAD_WAIT_MS = 10_000;
const IPV6_DAD_POLL_MS = 100;

export class Provisioner {
  constructor(
    private readonly ctx: TaskContext,
    /** Looks once at the task's containers after RUNNING, so an exit during setup is not missed. */
    private readonly afterRunning: (s: Slot) => Promise<void>,
  ) {}

  /**
   * The setup as a graph of steps (runGraph): each starts once what it needs is done. The pause container
   * needs only the spec (hostname, DNS, hosts), so it comes up while the ENI is on its way; images are
   * checked from the start; containers are created while the CNI ADDs run; each container starts once the
   * network is set up (an application never sees a namespace without eth0), its own create is done and its
   * dependsOn conditions are met, so containers with nothing between them start at once. After a failure
   * or a stop nothing new starts, what is running finishes, and the caller rolls back what finished.
   */
  async provision(s: Slot): Promise<void> {
    const { rec, plan } = s;
    const added = (ifName: string): boolean => rec.cni.some((c) => c.ifName === ifName && c.phase === 'added');
    // A setup carried forward after a crash (Resumer) has its pause container, pinned namespace and some
    // ADDs verified already: those steps are not run again (no plugin's ADD is idempotent).
    const resumed = rec.pause?.runtimeId !== undefined && rec.pause.pid !== undefined && rec.pause.netnsPath !== undefined;
    let rt: TaskRuntimeOptions = { bindSources: {} };
    let pause: { pauseId: string; pid: number } | undefined;
    const containers = startOrder(rec.spec.containers);
    const images = [...new Set(containers.map((c) => c.image))];
    const steps: GraphStep[] = [
      {
        name: 'eni',
        needs: [],
        run: async (waits) => {
          if (!added(plan.eni.ifName)) await this.waitForEni(s, waits);
          rec.attachmentStatus = 'ATTACHED';
          this.ctx.crash('after-eni-found');
        },
      },
      // Every image from the start, per the pull behaviour: a pull is often the longest wait of a setup.
      ...images.map((image) => ({ name: `image:${image}`, needs: [], run: (waits: AbortSignal) => this.ensureImage(containers.filter((c) => c.image === image), waits) })),
      {
        // What the containers need from the host before the first of them (pause) exists: volumes, bind sources, the task cgroup.
        name: 'prep',
        needs: [],
        run: async (waits) => {
          rt = await this.prepareVolumes(s, waits);
          rt.cgroupParent = await this.prepareCgroup(s);
        },
      },
      {
        name: 'pause',
        needs: ['prep'],
        run: async () => {
          pause = resumed ? { pauseId: rec.pause!.runtimeId!, pid: rec.pause!.pid! } : await this.startPause(s, rt);
        },
      },
      {
        // Declared before the creates: when the pause container is up both are ready, and the first ADD's
        // intent is saved before any create's, so a crash point after a create always finds it recorded.
        name: 'network',
        needs: ['eni', 'pause'],
        run: async (waits) => {
          await this.addNetwork(s, pause!.pauseId, pause!.pid, resumed, waits);
          this.ctx.crash('after-netns-pin');
          await this.waitIpv6Usable(s, pause!.pid, waits);
          // PENDING: the network is set up. Saved now: the containers may all be created already, and a start saves nothing.
          setStatus(rec, 'PENDING');
          await this.ctx.save(s);
        },
      },
      ...containers.map((c) => ({
        name: `create:${c.name}`,
        needs: ['pause', `image:${c.image}`, ...(c.volumesFrom ?? []).map((v) => `create:${v.sourceContainer}`)],
        run: async () => {
          await this.createContainer(s, c, pause!.pauseId, rt);
        },
      })),
      ...containers.map((c) => ({
        name: `start:${c.name}`,
        needs: ['network', `create:${c.name}`, ...c.dependsOn.map((d) => `start:${d.containerName}`)],
        run: async (waits: AbortSignal) => {
          await this.waitForDependencies(s, c, waits);
          await this.startContainer(s, c);
        },
      })),
    ];
    await runGraph(steps, { stop: s.abort.signal, now: this.ctx.d.now, onSpan: (sp) => s.log.debug({ step: sp.name, ms: sp.endedAt - sp.startedAt, ok: sp.ok }, 'setup step') });
    s.abort.signal.throwIfAborted();
    this.ctx.crash('before-running');
    setStatus(rec, 'RUNNING');
    rec.startedAt = this.ctx.nowIso();
    await this.ctx.saveWhenPossible(s); // every effect is done: a full disk must not tear the task down now
    s.log.info({ localIp: rec.localIpAddress }, 'task RUNNING');
    await this.afterRunning(s);
  }

  /** The ENI on the host, found by MAC, within the stored deadline (a restart does not extend it). */
  private async waitForEni(s: Slot, waits: AbortSignal): Promise<void> {
    const { rec } = s;
    // Status-only changes are saved with the next intent: every side effect still has its record first.
    rec.attachmentStatus = 'ATTACHING';
    const started = this.ctx.d.now();
    try {
      const link = await this.ctx.d.links.waitForMac(rec.spec.eni.macAddress, Date.parse(rec.eniDeadline), waits);
      rec.eniHostName = link.name;
      this.ctx.d.metrics?.observeStep('eni_wait', this.ctx.d.now() - started);
    } catch (err) {
      if (err instanceof DeadlineError) throw new TaskFailure(ENI_TIMEOUT_REASON, { cause: err });
      throw err;
    }
    s.log.info({ link: rec.eniHostName, waitedMs: this.ctx.d.now() - started }, 'ENI found on host');
  }

  /**
   * Task volumes: task-scoped ones made (intent saved first, labelled so teardown and reconciliation find them
   * after a crash), shared ones made when autoprovision says so or required to exist, host paths checked
   * again where they really lead and made when missing. Idempotent, so a resumed setup runs it again.
   */
  private async prepareVolumes(s: Slot, waits: AbortSignal): Promise<TaskRuntimeOptions> {
    const { rec } = s;
    const cfg = this.ctx.config;
    const rt = this.ctx.d.runtime;
    const bindSources: Record<string, string> = {};
    for (const v of rec.spec.volumes ?? []) {
      waits.throwIfAborted();
      const what = `Volume ${v.name}`;
      try {
        if (v.kind === 'host') {
          bindSources[v.name] = await this.bindSource(v.sourcePath);
        } else if (isTaskScoped(v)) {
          const engineName = engineVolumeName(rec.spec.taskId, v)!;
          const vols = (rec.volumes ??= []);
          const had = vols.find((x) => x.engineName === engineName);
          // Intent first; one a rollback removed is made again, so the record must say it exists again.
          if (!had || had.removed) {
            if (had) delete had.removed;
            else vols.push({ name: v.name, engineName });
            await this.ctx.save(s);
          }
          const made = await rt.createVolume({
            name: engineName,
            driver: v.kind === 'docker' ? v.driver : undefined,
            driverOpts: v.kind === 'docker' ? v.driverOpts : undefined,
            labels: taskVolumeLabels(rec.spec, v, cfg.ownerLabels),
          });
          // The engine answers a taken name with the volume that has it: only this task's own is used (and removed).
          if (made.labels[LABEL.taskId] !== rec.spec.taskId) {
            vols.splice(vols.findIndex((x) => x.engineName === engineName), 1);
            await this.ctx.save(s);
            throw new Error(`the engine already has a volume named ${engineName} that is not this task's`);
          }
        } else if (v.kind === 'docker' && !(await rt.inspectVolume(v.name))) {
          if (!v.autoprovision) {
            throw new Error(`shared Docker volume ${v.name} does not exist and autoprovision is false: create it first (docker volume create ${v.name})`);
          }
          await rt.createVolume({ name: v.name, driver: v.driver, driverOpts: v.driverOpts, labels: sharedVolumeLabels(v) });
        }
      } catch (err) {
        if (err instanceof TaskFailure) throw err;
        throw new TaskFailure(`${what}: ${errorMessage(err)}`, { cause: err });
      }
    }
    if (rec.volumes?.length) this.ctx.crash('after-task-volumes');
    return { bindSources };
  }

  /** A bind source checked (deny list on its real path) and made now, under its deadline. */
  private bindSource(sourcePath: string): Promise<string> {
    const cfg = this.ctx.config;
    return prepareBindSource(sourcePath, cfg.bindMountDenyList ?? DEFAULT_BIND_MOUNT_DENY_LIST, cfg.allowedBindMounts);
  }

  /**
   * The host paths container `c` bind-mounts, checked again right before it is created (the early check ran
   * before the pause container, the CNI ADDs, pulls and dependency waits: a symlink swapped since counts), and
   * their fresh real paths handed to the create options.
   */
  private async freshBindSources(s: Slot, c: ContainerSpec, rt: TaskRuntimeOptions): Promise<TaskRuntimeOptions> {
    const used = new Set((c.mountPoints ?? []).map((m) => m.sourceVolume));
    const host = (s.rec.spec.volumes ?? []).filter((v) => v.kind === 'host' && used.has(v.name));
    if (!host.length) return rt;
    const bindSources = { ...rt.bindSources };
    for (const v of host) {
      if (v.kind !== 'host') continue;
      s.abort.signal.throwIfAborted();
      try {
        bindSources[v.name] = await this.bindSource(v.sourcePath);
      } catch (err) {
        throw new Error(`Volume ${v.name}: ${errorMessage(err)}`, { cause: err });
      }
    }
    return { ...rt, bindSources };
  }

  /**
   * The task's cgroup parent with its cpu/memory limits, where the host allows; otherwise the task runs
   * without it and its record says so. Returns the CgroupParent for every container of the task.
   */
  private async prepareCgroup(s: Slot): Promise<string | undefined> {
    const { rec } = s;
    const plan = taskCgroupPlan(rec.spec, this.ctx.config.taskCgroupRoot ?? DEFAULT_TASK_CGROUP_ROOT);
    if (!plan) return undefined;
    const cgroups = this.ctx.d.taskCgroups;
    // Made on an earlier attempt (a resumed setup) and not removed since: made again as it is, idempotently.
    const known = rec.taskCgroup !== undefined && !rec.taskCgroup.removed;
    if (!known) {
      const support = cgroups ? await cgroups.support() : { ok: false as const, why: 'this daemon was started without task cgroup support' };
      if (!support.ok) {
        const limits = [rec.spec.cpu !== undefined && `cpu ${rec.spec.cpu}`, rec.spec.memory !== undefined && `memory ${rec.spec.memory} MiB`].filter(Boolean).join(', ');
        addRuntimeWarning(rec, `Task-level limits (${limits}) are not applied: ${support.why}; each container's own limits still apply.`);
        s.log.warn({ why: support.why }, 'task-level limits not applied');
        await this.ctx.save(s);
        return undefined;
      }
    }
    if (!cgroups) {
      // The record says an earlier attempt made it (under a daemon with cgroup support): this one can neither
      // make it again nor put the task in it, and must not run the task outside the limits it was given.
      throw new TaskFailure(
        `Task cgroup ${plan.parent} was made by an earlier attempt, but this daemon runs without task cgroup support: it cannot set it up again (restart the daemon with task cgroup support, or run the task again)`,
      );
    }
    try {
      await this.ctx.step(s, {
        intent: known ? undefined : () => void (rec.taskCgroup = { parent: plan.parent }),
        effect: () => cgroups.create(plan),
        crash: 'after-task-cgroup',
      });
    } catch (err) {
      throw new TaskFailure(`Task cgroup ${plan.parent} could not be made: ${errorMessage(err)}`, { cause: err });
    }
    return plan.parent;
  }

  private async startPause(s: Slot, rt: TaskRuntimeOptions): Promise<{ pauseId: string; pid: number }> {
    const { rec } = s;
    const cfg = this.ctx.config;
    const opts = pauseCreateOptions(rec.spec, rec.specHash, cfg.pauseImage, { ...cfg.pauseLabels, ...cfg.ownerLabels }, rec.source, rt);
    let pauseId: string;
    try {
      pauseId = await this.ctx.step(s, {
        intent: () => void (rec.pause = { runtimeName: opts.name }),
        effect: () => this.createOrAdopt(opts, rec),
        done: (id) => void (rec.pause!.runtimeId = id),
        crash: 'after-pause-create',
        timing: 'pause_create',
      });
      await this.ctx.step(s, { effect: () => this.ctx.d.runtime.start(pauseId), crash: 'after-pause-start', timing: 'pause_start' });
    } catch (err) {
      throw new TaskFailure(`Pause container failed to start: ${errorMessage(err)}`, { cause: err });
    }
    const info = await this.ctx.d.runtime.inspect(pauseId);
    if (!info?.running || info.pid <= 0) throw new TaskFailure(`Pause container exited right after start (${info?.state ?? 'gone'})`);
    rec.pause!.pid = info.pid;
    // Intent first: a crash between the mount and the save must not leave a mount no record names.
    rec.pause!.netnsPath = this.ctx.d.hostNet.netnsPathFor(rec.spec.taskId);
    await this.ctx.save(s);
    return { pauseId, pid: info.pid };
  }

  /**
   * The CNI ADDs in plan order under one budget, with the plan's host steps beside them: the namespace pin
   * and the daemon's own IMDS blackhole need only the namespace, so no plugin waits for them. Their intent
   * (netnsPath) is saved already. Both finish before any task container starts and before a failed ADD
   * turns into teardown, so teardown never races a mount still in progress. A resumed setup was pinned
   * and verified already.
   */
  private async addNetwork(s: Slot, pauseId: string, pid: number, resumed: boolean, waits: AbortSignal): Promise<void> {
    const { rec, plan } = s;
    const hostNet = this.ctx.d.hostNet;
    // One per family (the reference set's plugins add neither).
    const imds = plan.hostSteps.flatMap((h) => (h.kind === 'imds-blackhole' ? [h.dst] : []));
    const blackholes = async (): Promise<void> => {
      for (const dst of imds) await hostNet.addBlackholeRoute(`/proc/${pid}/ns/net`, dst);
    };
    const hostSide = Promise.allSettled([
      resumed ? undefined : hostNet.pinNetns(pid, rec.spec.taskId),
      imds.length ? blackholes() : undefined,
    ]);
    try {
      await this.addAll(s, pauseId, `/proc/${pid}/ns/net`, waits);
    } catch (err) {
      await hostSide;
      throw err;
    }
    const [pinned, blackhole] = await hostSide;
    if (pinned.status === 'rejected') {
      // The ADDs are in, and teardown must reach the namespace to undo them: through the pause pid (alive a
      // moment ago) rather than a path that holds no namespace. A path that cannot be released stays
      // recorded, so the release is tried again.
      const ok = await hostNet.releaseNetns(rec.pause!.netnsPath!).then(() => true, () => false);
      if (ok) {
        rec.pause!.netnsPath = undefined;
        await this.ctx.save(s);
      }
      throw pinned.reason;
    }
    if (blackhole.status === 'rejected') {
      throw new TaskFailure(`Network setup failed: instance metadata block: ${errorMessage(blackhole.reason)}`, { cause: blackhole.reason });
    }
  }

  /** No ADD is cut once started (only its deadline ends it); after a failure elsewhere or a stop, no next one starts. */
  private async addAll(s: Slot, pauseId: string, netns: string, waits: AbortSignal): Promise<void> {
    const { rec, plan } = s;
    const budgetEnd = this.ctx.d.now() + this.ctx.config.cniAddTimeoutMs;
    const last = plan.add[plan.add.length - 1];
    for (const call of plan.add) {
      const done = rec.cni.some((c) => c.ifName === call.ifName && c.phase === 'added');
      if (!done) {
        const step = { plugin: call.plugin, ifName: call.ifName, phase: 'intent' as 'intent' | 'added', result: undefined as unknown };
        rec.cni.push(step);
        await this.ctx.save(s);
        this.ctx.crash(`before-cni-add:${call.plugin}`);
        let result: CniResult;
        try {
          result = await this.ctx.d.cni.add(call, { containerId: pauseId, netns, timeoutMs: Math.max(1, budgetEnd - this.ctx.d.now()) });
          if (call.role === 'eni' && plan.verifyEniAdd) await this.verifyEniAdd(rec.pause?.netnsPath ?? netns, netns, plan);
        } catch (err) {
          throw new TaskFailure(`Network setup failed: ${call.plugin} ADD on ${call.ifName}: ${errorMessage(err).replace(/^\S+ ADD: /, '')}`, { cause: err });
        }
        step.phase = 'added';
        step.result = result;
        if (call.role === 'bridge') rec.localIpAddress = result.ips[0]?.address.split('/')[0];
        s.log.info({ plugin: call.plugin, ifName: call.ifName, ips: result.ips.map((i) => i.address) }, 'CNI ADD done');
      }
      if (call.role === 'bridge') await this.bridgeAddress(plan);
      if (call.role === 'eni') await this.eniRoutes(plan, netns);
      if (done) continue;
      // The next plugin's intent save carries this result; after the last one, save it now.
      if (call === last) await this.ctx.save(s);
      this.ctx.crash(`after-cni-add:${call.plugin}`);
      waits.throwIfAborted();
    }
  }

  /** The plan's bridge address host step (idempotent): where the bridge plugin does not address the bridge itself. */
  private async bridgeAddress(plan: CniPlan): Promise<void> {
    for (const h of plan.hostSteps) {
      if (h.kind === 'bridge-address') await this.ctx.d.hostNet.ensureBridgeAddress(h.bridge, h.cidr);
    }
  }

  /**
   * The plan's IPv6 default route (idempotent), where the ENI plugin was not given the IPv6 gateway (vpc-eni
   * dual-stack): right after the ENI ADD, and again on a resumed setup that had done the ADD already.
   */
  private async eniRoutes(plan: CniPlan, netns: string): Promise<void> {
    for (const h of plan.hostSteps) {
      if (h.kind !== 'default-route') continue;
      try {
        await this.ctx.d.hostNet.addIpv6DefaultRoute(netns, h.gateway, h.dev);
      } catch (err) {
        throw new TaskFailure(`Network setup failed: IPv6 default route via ${h.gateway}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }

  /**
   * The task's containers start (and the task reads RUNNING) only once its IPv6 addresses are usable: not
   * while duplicate address detection still holds them tentative (a bind to one fails, and it is not used
   * as a source). Waited for, within IPV6_DAD_WAIT_MS, rather than turned off: the ENI plugins put the
   * addresses on during their ADD, before the daemon could set accept_dad on the interface, and turning it
   * off namespace-wide would hide a real duplicate. Read from /proc (if_inet6), no process started.
   */
  private async waitIpv6Usable(s: Slot, pid: number, waits: AbortSignal): Promise<void> {
    if (s.rec.spec.eni.ipv6Addresses.length === 0) return;
    const end = this.ctx.d.now() + IPV6_DAD_WAIT_MS;
    for (;;) {
      const snap = await this.ctx.d.hostNet.readNetns(pid);
      if (!snap) throw new TaskFailure('Network setup failed: the pause process is gone');
      const st = ipv6Readiness(snap, s.rec.spec.eni);
      if (st.failed.length) throw new TaskFailure(`Network setup failed: duplicate address detection failed for ${st.failed.join(', ')}`);
      if (!st.missing.length && !st.tentative.length) return;
      if (this.ctx.d.now() >= end) {
        const what = [...st.missing.map((a) => `${a} is not in the task namespace`), ...st.tentative.map((a) => `${a} is still tentative (duplicate address detection)`)];
        throw new TaskFailure(`Network setup failed: after ${IPV6_DAD_WAIT_MS} ms ${what.join('; ')}`);
      }
      await sleep(IPV6_DAD_POLL_MS, waits);
      waits.throwIfAborted();
    }
  }

  /** An ENI ADD that exited 0 counts only once the namespace shows it (vpc-eni swallows errors inside it). */
  private async verifyEniAdd(pinnedPath: string, procPath: string, plan: CniPlan): Promise<void> {
    // The pin runs beside the ADD and may not be mounted yet: read through the pause pid then.
    const where = (await this.ctx.d.hostNet.netnsIdentity(pinnedPath)) ? pinnedPath : procPath;
    const ns = await this.ctx.d.hostNet.inspectNetns(where);
    const missing = ns ? checkEni(ns, plan.eni) : 'the namespace could not be read';
    if (missing) throw new Error(`exited 0 but the namespace is not set up: ${missing}`);
  }

  /** Created (not started) as soon as the pause container runs and its image is there: it stays PENDING. */
  private async createContainer(s: Slot, c: ContainerSpec, pauseId: string, rt: TaskRuntimeOptions): Promise<void> {
    const { rec } = s;
    const st = containerState(rec, c.name);
    try {
      // Inside the try: a spec the mapping cannot express (a mount naming no volume) fails this container by name.
      const fresh = await this.freshBindSources(s, c, rt);
      const opts = appCreateOptions(rec.spec, rec.specHash, c, pauseId, this.ctx.config.ownerLabels, rec.source, fresh);
      await this.ctx.step(s, {
        intent: () => void (st.runtimeName = appRuntimeName(rec.spec.taskId, c.name)),
        effect: () => this.createOrAdopt(opts, rec),
        done: (created) => void (st.runtimeId = created),
        crash: `after-container-create:${c.name}`,
        timing: 'container_create',
      });
    } catch (err) {
      throw new TaskFailure(`Container ${c.name} failed to start: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async startContainer(s: Slot, c: ContainerSpec): Promise<void> {
    const st = containerState(s.rec, c.name);
    try {
      await this.ctx.step(s, { effect: () => this.ctx.d.runtime.start(st.runtimeId!), timing: 'container_start' });
    } catch (err) {
      throw new TaskFailure(`Container ${c.name} failed to start: ${errorMessage(err)}`, { cause: err });
    }
    st.lastStatus = 'RUNNING';
    st.startedAt = this.ctx.nowIso();
    this.ctx.crash(`after-container-start:${c.name}`);
  }

  private async waitForDependencies(s: Slot, c: ContainerSpec, waits: AbortSignal): Promise<void> {
    for (const dep of c.dependsOn) {
      if (dep.condition === 'START') continue; // satisfied: this step needs the dependency's start step
      // ECS: the target's startTimeout says how long others wait for it; the daemon's default otherwise.
      const target = s.rec.spec.containers.find((x) => x.name === dep.containerName);
      const timeoutMs = target?.startTimeout !== undefined ? target.startTimeout * 1000 : this.ctx.config.dependencyTimeoutMs;
      const st = containerState(s.rec, dep.containerName);
      const end = this.ctx.d.now() + timeoutMs;
      for (;;) {
        waits.throwIfAborted();
        const info = st.runtimeId ? await this.ctx.d.runtime.inspect(st.runtimeId) : undefined;
        const what = `Container ${c.name}: dependency ${dep.containerName}`;
        if (!info) throw new TaskFailure(`${what} is gone`);
        if (target?.healthCheck) st.healthStatus = healthStatusOf(info);
        if (dep.condition === 'HEALTHY') {
          if (info.health === 'healthy') break;
          if (info.health === undefined) throw new TaskFailure(`${what} has no health check, so HEALTHY can never be met`);
          if (!info.running) throw new TaskFailure(`${what} exited before it was healthy`);
        } else if (!info.running && info.state !== 'created') {
          if (dep.condition === 'SUCCESS' && info.exitCode !== 0) throw new TaskFailure(`${what} exited with code ${info.exitCode}, SUCCESS required`);
          break;
        }
        if (this.ctx.d.now() > end) throw new TaskFailure(`${what} did not reach ${dep.condition} within ${timeoutMs} ms`);
        await sleep(250, waits);
      }
    }
  }

  /**
   * ECS_IMAGE_PULL_BEHAVIOR semantics, once per image for the containers that run it (a failure names the
   * first). A pull is a wait, not an effect the task owns: a failure elsewhere in the setup (`waits`) ends it.
   */
  private async ensureImage(users: ContainerSpec[], waits: AbortSignal): Promise<void> {
    const rt = this.ctx.d.runtime;
    const behavior = this.ctx.config.pullBehavior;
    const image = users[0]!.image;
    const present = await rt.imageExists(image);
    if (present && (behavior === 'prefer-cached' || behavior === 'once')) return;
    try {
      await rt.pullImage(image, this.ctx.config.pullTimeoutMs, waits);
    } catch (err) {
      if (waits.aborted) throw err;
      if (behavior === 'default' && present) {
        this.ctx.log.warn({ err, image }, 'pull failed; using the cached image');
        return;
      }
      throw new TaskFailure(`Container ${users[0]!.name}: image ${image} could not be pulled: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Creates a container; after a crash the name may already exist: adopt it only if it is this task's. */
  private async createOrAdopt(opts: CreateContainerOptions, rec: TaskRecord): Promise<string> {
    const rt = this.ctx.d.runtime;
    try {
      return await rt.create(opts);
    } catch (err) {
      if (!(err instanceof DockerError) || err.statusCode !== 409) throw err;
      const existing = await rt.inspect(opts.name);
      if (!existing || existing.labels[LABEL.taskId] !== rec.spec.taskId) throw err;
      // A leftover from an interrupted attempt: remove it and create afresh so its config is ours.
      await rt.remove(existing.id);
      return await rt.create(opts);
    }
  }
}

export function containerState(rec: TaskRecord, name: string): ContainerState {
  let st = rec.containers.find((c) => c.name === name);
  if (!st) {
    st = { name, lastStatus: 'PENDING', exitCode: null, reason: null };
    rec.containers.push(st);
  }
  return st;
}

/** ECS's words for the engine's health status ("starting", or none yet, reads UNKNOWN). */
export function healthStatusOf(info: Pick<ContainerInfo, 'health'>): 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN' {
  return info.health === 'healthy' ? 'HEALTHY' : info.health === 'unhealthy' ? 'UNHEALTHY' : 'UNKNOWN';
}

/** Each runtime warning once (a resumed setup runs the same steps again). */
export function addRuntimeWarning(rec: TaskRecord, w: string): void {
  const list = (rec.runtimeWarnings ??= []);
  if (!list.includes(w)) list.push(w);
}

/** Statuses only move forward. */
export function setStatus(rec: TaskRecord, to: TaskStatus): void {
  if (statusIndex(to) > statusIndex(rec.lastStatus)) rec.lastStatus = to;
}
