// Pure mapping from a task to engine create options for the pause container and the task's containers.
import type { ContainerSpec, SysctlSpec, TaskSpec } from '../model.js';
import type { CreateContainerOptions, MountOptions } from './container-runtime.js';
import { engineVolumeName } from './volumes.js';

export const LABEL = {
  managed: 'com.awsvpcd.managed',
  taskArn: 'com.awsvpcd.task-arn',
  taskId: 'com.awsvpcd.task-id',
  containerName: 'com.awsvpcd.container-name',
  role: 'com.awsvpcd.role',
  eniMac: 'com.awsvpcd.eni-mac',
  specHash: 'com.awsvpcd.spec-hash',
  /** The whole task spec, on the pause container only: the task can be rebuilt from the engine alone. */
  task: 'com.awsvpcd.task',
  /**
   * Which daemon made the container (its state directory). Reconciliation only touches its own, so two
   * daemons on one engine (tests, the bench) never adopt or remove each other's tasks.
   */
  owner: 'com.awsvpcd.owner',
  /** Where the task came from (api, spool, ...): a task rebuilt from the engine keeps it. */
  source: 'com.awsvpcd.source',
} as const;

export const PAUSE_CONTAINER_NAME = '~internal~ecs~pause';

export function pauseRuntimeName(taskId: string): string {
  return `awsvpcd-${taskId}-internalecspause`;
}

export function appRuntimeName(taskId: string, name: string): string {
  return `awsvpcd-${taskId}-${name}`;
}

/** Labels every container of the task carries; the daemon's own win over the task's dockerLabels. */
export function taskLabels(spec: TaskSpec, specHash: string, containerName: string, role: 'pause' | 'app', source?: string): Record<string, string> {
  const l: Record<string, string> = {
    [LABEL.managed]: 'true',
    [LABEL.taskArn]: spec.taskArn,
    [LABEL.taskId]: spec.taskId,
    [LABEL.containerName]: containerName,
    [LABEL.role]: role,
    [LABEL.eniMac]: spec.eni.macAddress,
    [LABEL.specHash]: specHash,
    'com.amazonaws.ecs.task-arn': spec.taskArn,
    'com.amazonaws.ecs.container-name': containerName,
  };
  if (source !== undefined) l[LABEL.source] = source;
  if (spec.family !== undefined) l['com.amazonaws.ecs.task-definition-family'] = spec.family;
  if (spec.revision !== undefined) l['com.amazonaws.ecs.task-definition-version'] = String(spec.revision);
  return l;
}

export const REDACTED = '[redacted]';

export function redactedSpec(spec: TaskSpec): TaskSpec {
  return {
    ...spec,
    containers: spec.containers.map((c) => ({ ...c, environment: c.environment.map((e) => ({ name: e.name, value: REDACTED })) })),
  };
}

/** What the host decided for the task at start: the cgroup parent (when task limits apply) and real bind sources. */
export interface TaskRuntimeOptions {
  /** "<taskCgroupRoot>/<taskId>", set on every container of the task incl. pause. */
  cgroupParent?: string;
  /** Host volume name -> the source path to mount (the real path checked at start); default: the spec's sourcePath. */
  bindSources?: Record<string, string>;
}

const MIB = 1024 * 1024;
const NS_PER_SEC = 1_000_000_000;

/** IPC-namespaced sysctls (Docker's list): they live where the IPC namespace lives. */
export function isIpcSysctl(name: string): boolean {
  return /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\.)/.test(name);
}

/** Sysctls that belong on the pause container: the task's network namespace (net.*) and, with ipcMode task, its IPC one. */
function onPause(spec: TaskSpec, s: SysctlSpec): boolean {
  return s.namespace.startsWith('net.') || (spec.ipcMode === 'task' && isIpcSysctl(s.namespace));
}

/** ECS agent's awsvpc pause config: network none, hostname/hosts/DNS from the ENI, CPU shares 2. */
export function pauseCreateOptions(
  spec: TaskSpec,
  specHash: string,
  image: string,
  extraLabels: Record<string, string>,
  source?: string,
  rt: TaskRuntimeOptions = {},
): CreateContainerOptions {
  const eni = spec.eni;
  const dnsName = eni.privateDnsName;
  // As the agent's generateENIExtraHosts: the name for each IPv4 address; the IPv6 addresses only where
  // the ENI has no IPv4 address (IPv6-only), so a dual-stack task resolves its name as before.
  const hostIps = eni.ipv4Addresses.length ? eni.ipv4Addresses.map((a) => a.privateAddress) : eni.ipv6Addresses.map((a) => a.address);
  const extraHosts = dnsName ? hostIps.map((ip) => `${dnsName}:${ip}`) : undefined;
  return {
    name: pauseRuntimeName(spec.taskId),
    image,
    labels: {
      ...extraLabels,
      ...taskLabels(spec, specHash, PAUSE_CONTAINER_NAME, 'pause', source),
      // Environment values stay out of labels (anyone who can list containers sees labels).
      [LABEL.task]: JSON.stringify(redactedSpec(spec)),
    },
    networkMode: 'none',
    hostname: dnsName || undefined,
    extraHosts,
    dns: eni.domainNameServers.length ? eni.domainNameServers : undefined,
    dnsSearch: eni.domainName.length ? eni.domainName : undefined,
    cpuShares: 2,
    privileged: false,
    // The pause process only waits for signals: it needs no capability at all.
    capDrop: ['ALL'],
    sysctls: pauseSysctls(spec),
    // The task's containers join its IPC namespace (ipcMode task); the engine allows that only from a shareable one.
    ipcMode: spec.ipcMode === 'task' ? 'shareable' : undefined,
    cgroupParent: rt.cgroupParent,
  };
}

/**
 * The ENI's IPv6 switch, then every container's systemControls that belong to the task's namespaces (a later
 * one wins). The engine turns IPv6 off in a network-mode-none namespace (all, default and lo); `all` back to
 * 0 turns it on for lo and the default an ENI moved in later gets, so it keeps its IPv6 addresses.
 */
function pauseSysctls(spec: TaskSpec): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (spec.eni.ipv6Addresses.length) out['net.ipv6.conf.all.disable_ipv6'] = '0';
  for (const c of spec.containers) for (const s of c.systemControls ?? []) if (onPause(spec, s)) out[s.namespace] = s.value;
  return Object.keys(out).length ? out : undefined;
}

/** mountPoints -> engine mounts: bind for host volumes, the engine's volume otherwise. */
function mountsOf(spec: TaskSpec, c: ContainerSpec, rt: TaskRuntimeOptions): MountOptions[] | undefined {
  if (!c.mountPoints?.length) return undefined;
  return c.mountPoints.map((m) => {
    const v = spec.volumes?.find((x) => x.name === m.sourceVolume);
    // Validation guarantees the volume exists; a record that does not say so cannot be started safely.
    if (!v) throw new Error(`container ${c.name}: mountPoints sourceVolume ${m.sourceVolume} is not a task volume`);
    if (v.kind === 'host') return { type: 'bind', source: rt.bindSources?.[v.name] ?? v.sourcePath, target: m.containerPath, readOnly: m.readOnly };
    return { type: 'volume', source: engineVolumeName(spec.taskId, v)!, target: m.containerPath, readOnly: m.readOnly };
  });
}

/** Task-level memory is a limit on the task's cgroup; maxSwap is on top of the container's own hard limit. */
function memorySwapBytes(c: ContainerSpec): number | undefined {
  if (c.maxSwap === undefined || c.memory === undefined) return undefined;
  return (c.memory + c.maxSwap) * MIB;
}

export function appCreateOptions(
  spec: TaskSpec,
  specHash: string,
  c: ContainerSpec,
  pauseId: string,
  extraLabels: Record<string, string> = {},
  source?: string,
  rt: TaskRuntimeOptions = {},
): CreateContainerOptions {
  const hc = c.healthCheck;
  const sysctls = Object.fromEntries((c.systemControls ?? []).filter((s) => !onPause(spec, s)).map((s) => [s.namespace, s.value]));
  return {
    name: appRuntimeName(spec.taskId, c.name),
    image: c.image,
    labels: { ...c.dockerLabels, ...extraLabels, ...taskLabels(spec, specHash, c.name, 'app', source) },
    networkMode: `container:${pauseId}`,
    cmd: c.command,
    entrypoint: c.entryPoint,
    env: c.environment.map((e) => `${e.name}=${e.value}`),
    workingDir: c.workingDirectory,
    user: c.user,
    // ECS maps cpu units to shares with a floor of 2 (the kernel's minimum).
    cpuShares: c.cpu === undefined ? undefined : Math.max(2, c.cpu),
    memoryBytes: c.memory === undefined ? undefined : c.memory * 1024 * 1024,
    memoryReservationBytes: c.memoryReservation === undefined ? undefined : c.memoryReservation * 1024 * 1024,
    privileged: c.privileged,
    capAdd: c.capabilities.add.length ? c.capabilities.add : undefined,
    capDrop: c.capabilities.drop.length ? c.capabilities.drop : undefined,
    stopTimeoutSec: c.stopTimeout,
    healthcheck: hc && {
      test: hc.command,
      intervalNs: hc.intervalSec * NS_PER_SEC,
      timeoutNs: hc.timeoutSec * NS_PER_SEC,
      retries: hc.retries,
      startPeriodNs: hc.startPeriodSec * NS_PER_SEC,
    },
    mounts: mountsOf(spec, c, rt),
    volumesFrom: c.volumesFrom?.length
      ? c.volumesFrom.map((v) => `${appRuntimeName(spec.taskId, v.sourceContainer)}${v.readOnly ? ':ro' : ''}`)
      : undefined,
    ulimits: c.ulimits?.length ? c.ulimits.map((u) => ({ name: u.name, soft: u.softLimit, hard: u.hardLimit })) : undefined,
    init: c.initProcessEnabled || undefined,
    shmSizeBytes: c.sharedMemorySize === undefined ? undefined : c.sharedMemorySize * MIB,
    tmpfs: c.tmpfs?.length
      ? Object.fromEntries(c.tmpfs.map((t) => [t.containerPath, [`size=${t.size}m`, ...t.mountOptions].join(',')]))
      : undefined,
    devices: c.devices?.length
      ? c.devices.map((d) => ({
          hostPath: d.hostPath,
          containerPath: d.containerPath || d.hostPath,
          // The engine's default when none are given: all three.
          permissions: d.permissions.length ? ['read', 'write', 'mknod'].filter((p) => d.permissions.includes(p as 'read')).map((p) => p[0]).join('') : 'rwm',
        }))
      : undefined,
    memorySwapBytes: memorySwapBytes(c),
    // ECS: swappiness counts only with maxSwap, 60 when not given.
    memorySwappiness: c.maxSwap === undefined ? undefined : (c.swappiness ?? 60),
    readonlyRootfs: c.readonlyRootFilesystem || undefined,
    tty: c.pseudoTerminal || undefined,
    openStdin: c.interactive || undefined,
    securityOpt: c.dockerSecurityOptions?.length ? c.dockerSecurityOptions : undefined,
    logConfig: c.logConfiguration && { type: c.logConfiguration.logDriver, config: c.logConfiguration.options },
    sysctls: Object.keys(sysctls).length ? sysctls : undefined,
    // "host" reaches here only when the daemon's config allows privileged tasks (the validator refuses it otherwise).
    pidMode: spec.pidMode === 'task' ? `container:${pauseId}` : spec.pidMode === 'host' ? 'host' : undefined,
    ipcMode: spec.ipcMode === 'task' ? `container:${pauseId}` : spec.ipcMode === 'none' || spec.ipcMode === 'host' ? spec.ipcMode : undefined,
    cgroupParent: rt.cgroupParent,
    // No ExposedPorts: the engine refuses them with a container: network mode, and in awsvpc mode the
    // ports are reached on the ENI's address directly (hostPort = containerPort).
  };
}

/** Containers in an order where every dependency and every volumesFrom source comes before its dependents (validation rules out cycles). */
export function startOrder(containers: ContainerSpec[]): ContainerSpec[] {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const out: ContainerSpec[] = [];
  const seen = new Set<string>();
  const visit = (c: ContainerSpec): void => {
    if (seen.has(c.name)) return;
    seen.add(c.name);
    for (const name of [...c.dependsOn.map((d) => d.containerName), ...(c.volumesFrom ?? []).map((v) => v.sourceContainer)]) {
      const dep = byName.get(name);
      if (dep) visit(dep);
    }
    out.push(c);
  };
  containers.forEach(visit);
  return out;
}

/** Container name -> the containers whose dependsOn names it: each is stopped only after those (ECS's reverse order). */
export function dependentsOf(containers: ContainerSpec[]): Map<string, string[]> {
  const out = new Map<string, string[]>(containers.map((c) => [c.name, []]));
  for (const c of containers) {
    for (const d of c.dependsOn) out.get(d.containerName)?.push(c.name);
  }
  return out;
}
