// Pure mapping from a task to engine create options for the pause container and the task's containers.
import type { ContainerSpec, TaskSpec } from '../model.js';
import type { CreateContainerOptions } from './container-runtime.js';

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

/** ECS agent's awsvpc pause config: network none, hostname/hosts/DNS from the ENI, CPU shares 2. */
export function pauseCreateOptions(
  spec: TaskSpec,
  specHash: string,
  image: string,
  extraLabels: Record<string, string>,
  source?: string,
): CreateContainerOptions {
  const eni = spec.eni;
  const dnsName = eni.privateDnsName;
  const extraHosts = dnsName ? eni.ipv4Addresses.map((a) => `${dnsName}:${a.privateAddress}`) : undefined;
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
    sysctls: eni.ipv6Addresses.length ? { 'net.ipv6.conf.all.disable_ipv6': '0' } : undefined,
  };
}

export function appCreateOptions(
  spec: TaskSpec,
  specHash: string,
  c: ContainerSpec,
  pauseId: string,
  extraLabels: Record<string, string> = {},
  source?: string,
): CreateContainerOptions {
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
    // No ExposedPorts: the engine refuses them with a container: network mode, and in awsvpc mode the
    // ports are reached on the ENI's address directly (hostPort = containerPort).
  };
}

/** Containers in an order where every dependency comes before its dependents (validation rules out cycles). */
export function startOrder(containers: ContainerSpec[]): ContainerSpec[] {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const out: ContainerSpec[] = [];
  const seen = new Set<string>();
  const visit = (c: ContainerSpec): void => {
    if (seen.has(c.name)) return;
    seen.add(c.name);
    for (const d of c.dependsOn) {
      const dep = byName.get(d.containerName);
      if (dep) visit(dep);
    }
    out.push(c);
  };
  containers.forEach(visit);
  return out;
}
