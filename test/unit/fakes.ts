// In-memory fakes of the adapters. Every call is appended to one shared journal so tests can assert order.
import pino from 'pino';
import type { CniCall, CniInvoker, CniResult, CniRuntime } from '../../cni/types.js';
import type { ContainerEvent, ContainerInfo, ContainerRuntime, CreateContainerOptions, CreateVolumeOptions, EngineInfo, VolumeInfo } from '../../agent/docker/container-runtime.js';
import type { ExecResult, TaskNetns, NetnsDetail, NetnsSnapshot } from '../../agent/eni/netns.js';
import type { HostLink, LinkWatcher } from '../../agent/eni/link-watcher.js';
import { CniError, DeadlineError, DockerError } from '../../agent/errors.js';
import { TaskManager, type ManagerConfig, type ManagerDeps } from '../../agent/task/task-manager.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import type { CgroupSupport, TaskCgroupPlan, TaskCgroups } from '../../agent/docker/task-cgroup.js';

export type Journal = string[];

export type FakeContainer = ContainerInfo & { opts: CreateContainerOptions };

export class FakeRuntime implements ContainerRuntime {
  private n = 0;
  failCreate = new Set<string>();
  /** Volume names whose removal fails (as the engine fails for a volume still in use). */
  failRemoveVolume = new Set<string>();
  engineInfo: EngineInfo = { cgroupDriver: 'cgroupfs', cgroupVersion: '1' };
  /** `containers` may be shared with another fake engine, as a restarted daemon finds the same engine. */
  constructor(
    private readonly j: Journal = [],
    readonly containers = new Map<string, FakeContainer>(),
    readonly volumes = new Map<string, VolumeInfo & { opts: CreateVolumeOptions }>(),
  ) {}
  async info(): Promise<EngineInfo> {
    return { ...this.engineInfo };
  }
  /** As the engine: a name already taken answers with the existing volume. */
  async createVolume(o: CreateVolumeOptions): Promise<VolumeInfo> {
    this.j.push(`volume create ${o.name}`);
    const had = this.volumes.get(o.name);
    if (had) return { ...had };
    const v = { name: o.name, driver: o.driver ?? 'local', labels: { ...o.labels }, opts: o };
    this.volumes.set(o.name, v);
    return { ...v };
  }
  async inspectVolume(name: string): Promise<VolumeInfo | undefined> {
    const v = this.volumes.get(name);
    return v ? { ...v } : undefined;
  }
  async removeVolume(name: string): Promise<void> {
    if (!this.volumes.has(name)) return;
    this.j.push(`volume remove ${name}`);
    if (this.failRemoveVolume.has(name)) throw new DockerError(`docker volume remove ${name}: volume is in use`, { statusCode: 409 });
    this.volumes.delete(name);
  }
  async listVolumesByLabel(key: string, value?: string): Promise<VolumeInfo[]> {
    return [...this.volumes.values()].filter((v) => (value === undefined ? key in v.labels : v.labels[key] === value));
  }
  async ping(): Promise<void> {}
  async version() {
    return { version: 'fake', apiVersion: '1.41' };
  }
  async imageExists(): Promise<boolean> {
    return true;
  }
  async pullImage(ref: string, _timeoutMs?: number, _signal?: AbortSignal): Promise<void> {
    this.j.push(`pull ${ref}`);
  }
  async create(o: CreateContainerOptions): Promise<string> {
    this.j.push(`create ${o.name}`);
    if (this.failCreate.has(o.name)) throw new DockerError(`docker create ${o.name}: boom`, { statusCode: 500 });
    for (const c of this.containers.values()) {
      if (c.name === o.name) throw new DockerError(`docker create ${o.name}: Conflict`, { statusCode: 409 });
    }
    let id = `id${++this.n}`.padEnd(64, '0');
    while (this.containers.has(id)) id = `id${++this.n}`.padEnd(64, '0'); // containers copied in from another fake engine

    this.containers.set(id, { id, name: o.name, image: o.image, state: 'created', running: false, pid: 0, exitCode: null, labels: o.labels, opts: o });
    return id;
  }
  async start(id: string): Promise<void> {
    const c = this.containers.get(id)!;
    this.j.push(`start ${c.name}`);
    c.running = true;
    c.state = 'running';
    c.pid = 1000 + this.n;
    // As the engine: a container with a health check reads "starting" until its first probes decide.
    if (c.opts.healthcheck && c.opts.healthcheck.test[0] !== 'NONE') c.health ??= 'starting';
  }
  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    const c = this.containers.get(idOrName) ?? [...this.containers.values()].find((x) => x.name === idOrName);
    return c ? { ...c } : undefined;
  }
  async stop(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    this.j.push(`stop ${c.name}`);
    this.exit(id, 0);
  }
  async remove(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    this.j.push(`remove ${c.name}`);
    this.containers.delete(id);
  }
  async listByLabel(key: string, value?: string): Promise<ContainerInfo[]> {
    return [...this.containers.values()].filter((c) => (value === undefined ? key in c.labels : c.labels[key] === value));
  }
  watchEvents(_k: string, _on: (e: ContainerEvent) => void): { close(): void } {
    return { close() {} };
  }
  exit(id: string, code: number): void {
    const c = this.containers.get(id)!;
    c.running = false;
    c.state = 'exited';
    c.exitCode = code;
  }
  byName(name: string) {
    return [...this.containers.values()].find((c) => c.name === name);
  }
}

export class FakeLinks implements LinkWatcher {
  present = new Set<string>();
  /** How long waitForMac waits between two looks. */
  protected pollMs = 5;
  constructor(private readonly j: Journal = []) {}
  async list(): Promise<HostLink[]> {
    return [...this.present].map((mac, i) => ({ name: `eth${i + 1}`, index: i + 10, mac, up: false }));
  }
  async findByMac(mac: string): Promise<HostLink | undefined> {
    return (await this.list()).find((l) => l.mac === mac);
  }
  async waitForMac(mac: string, deadline: number, signal?: AbortSignal): Promise<HostLink> {
    this.j.push(`wait-eni ${mac}`);
    for (;;) {
      signal?.throwIfAborted();
      const l = await this.findByMac(mac);
      if (l) return l;
      if (Date.now() >= deadline) throw new DeadlineError(`waiting for a link with MAC ${mac}`, 0);
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
  close(): void {}
}

export class FakeCni implements CniInvoker {
  /** plugin -> error to throw on ADD (or DEL with "del:" prefix). */
  fail = new Map<string, Error>();
  private ip = 1;
  constructor(private readonly j: Journal) {}
  async add(call: CniCall, rt: CniRuntime): Promise<CniResult> {
    this.j.push(`cni ADD ${call.plugin} ${call.ifName} ${rt.netns}`);
    const f = this.fail.get(call.plugin);
    if (f) throw f;
    const address = call.role === 'bridge' ? `169.254.172.${++this.ip}/22` : '10.99.1.15/24';
    return { cniVersion: '0.4.0', interfaces: [{ name: call.ifName }], ips: [{ address }], routes: [], dns: {} };
  }
  async del(call: CniCall, rt: CniRuntime): Promise<void> {
    this.j.push(`cni DEL ${call.plugin} ${call.ifName} ${rt.netns}`);
    const f = this.fail.get(`del:${call.plugin}`);
    if (f) throw f;
  }
  async check(): Promise<void> {}
  async version() {
    return { cniVersion: '0.4.0', supportedVersions: ['0.4.0'] };
  }
}

export class FakeHostNet implements TaskNetns {
  pinned = new Set<string>();
  /** pinned path -> the pid whose namespace it holds. */
  private readonly pinnedPid = new Map<string, number>();
  /** Pids whose namespace is gone (their /proc path holds nothing). */
  deadPids = new Set<number>();
  /** What inspectNetns reads in any live namespace; tests set it to what a step should have left. */
  detail: NetnsDetail = { links: [], routes: [] };
  constructor(private readonly j: Journal) {}
  /** An error pinNetns throws (after journaling the attempt). */
  failPin: Error | undefined;
  async pinNetns(pid: number, name: string): Promise<string> {
    this.j.push(`pin ${name}`);
    if (this.failPin) throw this.failPin;
    const p = `/run/test/netns/${name}`;
    this.pinned.add(p);
    this.pinnedPid.set(p, pid);
    return p;
  }
  async netnsIdentity(p: string): Promise<string | undefined> {
    const proc = /^\/proc\/(\d+)\/ns\/net$/.exec(p);
    if (proc) return this.deadPids.has(Number(proc[1])) ? undefined : `ns-${proc[1]}`;
    const pid = this.pinnedPid.get(p);
    return this.pinned.has(p) && pid !== undefined ? `ns-${pid}` : undefined;
  }
  async inspectNetns(p: string): Promise<NetnsDetail | undefined> {
    this.j.push(`inspect-netns ${p.split('/').pop()}`);
    return (await this.netnsIdentity(p)) ? structuredClone(this.detail) : undefined;
  }
  netnsPathFor(name: string): string {
    return `/run/test/netns/${name}`;
  }
  async listPinned(): Promise<string[]> {
    return [...this.pinned];
  }
  async releaseNetns(p: string): Promise<void> {
    this.j.push(`unpin ${p.split('/').pop()}`);
    this.pinned.delete(p);
    this.pinnedPid.delete(p);
  }
  async netnsAlive(p: string): Promise<boolean> {
    return this.pinned.has(p);
  }
  /** pid -> what its namespace holds; tests break it to simulate a lost network. */
  netns = new Map<number, NetnsSnapshot>();
  async readNetns(pid: number): Promise<NetnsSnapshot | undefined> {
    return this.netns.get(pid) ?? {
      interfaces: new Map([['lo', { rxBytes: 0, txBytes: 0 }], ['eth0', { rxBytes: 1, txBytes: 2 }], ['ecs-eth0', { rxBytes: 0, txBytes: 0 }]]),
      // The IPv6 address of the dual-stack and IPv6-only fixtures, usable (not tentative).
      addresses: new Set(['127.0.0.1', '10.99.1.15', '169.254.172.2', '2001:db8:99::15', '2001:db8:99::16']),
    };
  }
  async execInNetns(): Promise<ExecResult> {
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async addBlackholeRoute(_p: string, dst: string): Promise<void> {
    this.j.push(`blackhole ${dst}`);
  }
  async addIpv6DefaultRoute(_p: string, gateway: string, dev: string): Promise<void> {
    this.j.push(`default6 ${gateway} ${dev}`);
  }
  async ensureBridgeAddress(bridge: string, cidr: string): Promise<void> {
    this.j.push(`bridge-addr ${bridge} ${cidr}`);
  }
}

/** Task cgroups in memory: what exists, with its limits; journaled like the rest. */
export class FakeTaskCgroups implements TaskCgroups {
  made = new Map<string, TaskCgroupPlan>();
  supported: CgroupSupport = { ok: true, version: 1, detail: 'cgroup v1, cgroupfs driver (fake)' };
  /** Errors remove() throws, one per call, before it succeeds (a process still in the cgroup). */
  failRemove: Error[] = [];
  constructor(private readonly j: Journal) {}
  async support(): Promise<CgroupSupport> {
    return this.supported;
  }
  async create(plan: TaskCgroupPlan): Promise<void> {
    this.j.push(`cgroup create ${plan.parent}`);
    this.made.set(plan.parent, plan);
  }
  async remove(parent: string): Promise<void> {
    this.j.push(`cgroup remove ${parent}`);
    const f = this.failRemove.shift();
    if (f) throw f;
    this.made.delete(parent);
  }
}

export const TEST_CONFIG: ManagerConfig = {
  pluginSet: 'reference',
  plan: {
    blockImds: true,
    ipamSubnet: '169.254.172.0/22',
    additionalLocalRoutes: [],
    ipamDataDir: '/tmp/ipam',
    bridgeName: 'ecs-bridge',
    pluginLogLevel: 'info',
  },
  pauseImage: 'awsvpcd/pause:0.1.0',
  pauseLabels: {},
  cniAddTimeoutMs: 60_000,
  cniDelTimeoutMs: 30_000,
  ipamReleaseTimeoutMs: 5_000,
  containerStopTimeoutSec: 30,
  pullBehavior: 'prefer-cached',
  pullTimeoutMs: 60_000,
  dependencyTimeoutMs: 2_000,
};

/** hooks: `now` and `engineOutages` replace the wall clock and the (absent) outage record; `withCgroups` adds fake task cgroups. */
export function rig(
  config: Partial<ManagerConfig> = {},
  store = new MemoryTaskStore(),
  hooks: Partial<Pick<ManagerDeps, 'onSettled' | 'now' | 'engineOutages'>> & { withCgroups?: boolean } = {},
) {
  const journal: Journal = [];
  const { withCgroups, ...managerHooks } = hooks;
  const taskCgroups = withCgroups ? new FakeTaskCgroups(journal) : undefined;
  const runtime = new FakeRuntime(journal);
  const links = new FakeLinks(journal);
  const cni = new FakeCni(journal);
  const hostNet = new FakeHostNet(journal);
  const manager = new TaskManager({
    store,
    runtime,
    links,
    cni,
    hostNet,
    logger: pino({ level: 'silent' }),
    now: Date.now,
    config: { ...TEST_CONFIG, ...config },
    taskCgroups,
    ...managerHooks,
  });
  return { journal, runtime, links, cni, hostNet, store, manager, taskCgroups };
}

export function cniFailure(plugin: string, msg: string): CniError {
  return new CniError({ plugin, command: 'ADD', kind: 'plugin-error', message: msg, cniCode: 999 });
}
