// The task model: what a validated task looks like (TaskSpec) and what the daemon knows about it (TaskRecord).
// Field names follow the ECS APIs (RunTask, DescribeTasks), so documents people already have map one to one.

export const TASK_STATUSES = ['PROVISIONING', 'PENDING', 'RUNNING', 'DEPROVISIONING', 'STOPPED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type DesiredStatus = 'RUNNING' | 'STOPPED';

export const ATTACHMENT_STATUSES = ['PRECREATED', 'ATTACHING', 'ATTACHED', 'DETACHING', 'DELETED'] as const;
export type AttachmentStatus = (typeof ATTACHMENT_STATUSES)[number];

export type ContainerStatus = 'PENDING' | 'RUNNING' | 'STOPPED';

export type PullBehavior = 'default' | 'always' | 'once' | 'prefer-cached';

export interface Ipv4AddressSpec {
  primary: boolean;
  privateAddress: string;
}

export interface Ipv6AddressSpec {
  address: string;
  primary?: boolean;
}

/**
 * What an ENI carries, as the ECS agent tells them apart: IPv4 addresses only, IPv4 and IPv6 (dual-stack),
 * or IPv6 addresses only (an IPv6-only subnet; the agent's IsIPv6Only).
 */
export type EniKind = 'ipv4' | 'dual-stack' | 'ipv6-only';

export interface EniSpec {
  attachmentArn: string;
  /** Last segment of attachmentArn: the attachment id DescribeTasks shows. */
  attachmentId: string;
  ec2Id: string;
  /** Normal form: lowercase, colon separated. */
  macAddress: string;
  /** Empty for an IPv6-only ENI. */
  ipv4Addresses: Ipv4AddressSpec[];
  /** Each address in its canonical form (lowercase, compressed). */
  ipv6Addresses: Ipv6AddressSpec[];
  /** Gateway IP with the subnet's prefix length, e.g. "10.99.1.1/24"; absent for an IPv6-only ENI. */
  subnetGatewayIpv4Address?: string;
  /**
   * The subnet's IPv6 gateway with the subnet's prefix length, e.g. "2001:db8:99::1/64" (canonical form):
   * required for an IPv6-only ENI, optional for a dual-stack one (without it the task has no IPv6 default route).
   */
  subnetGatewayIpv6Address?: string;
  domainNameServers: string[];
  domainName: string[];
  privateDnsName?: string;
}

export function eniKind(eni: Pick<EniSpec, 'ipv4Addresses' | 'ipv6Addresses'>): EniKind {
  if (eni.ipv4Addresses.length === 0) return 'ipv6-only';
  return eni.ipv6Addresses.length > 0 ? 'dual-stack' : 'ipv4';
}

export interface PortMapping {
  containerPort: number;
  hostPort?: number;
  protocol: 'tcp' | 'udp';
  /** Service Connect names, kept as given (no engine effect in awsvpc mode). */
  name?: string;
  appProtocol?: 'http' | 'http2' | 'grpc';
}

export type DependsOnCondition = 'START' | 'COMPLETE' | 'SUCCESS' | 'HEALTHY';

export interface DependsOn {
  containerName: string;
  condition: DependsOnCondition;
}

export interface KeyValue {
  name: string;
  value: string;
}

/** Docker's health check, in the engine's units after ECS defaults are applied (interval 30, timeout 5, retries 3, startPeriod 0). */
export interface HealthCheckSpec {
  /** Docker's Test form: ["CMD-SHELL", "<shell string>"], ["CMD", prog, ...args] or ["NONE"]. */
  command: string[];
  intervalSec: number;
  timeoutSec: number;
  retries: number;
  startPeriodSec: number;
}

export interface MountPointSpec {
  /** A name in TaskSpec.volumes. */
  sourceVolume: string;
  containerPath: string;
  readOnly: boolean;
}

export interface VolumeFromSpec {
  /** A container of the same task. */
  sourceContainer: string;
  readOnly: boolean;
}

export interface UlimitSpec {
  name: string;
  softLimit: number;
  hardLimit: number;
}

export interface TmpfsSpec {
  containerPath: string;
  /** MiB. */
  size: number;
  mountOptions: string[];
}

export interface DeviceSpec {
  hostPath: string;
  containerPath: string;
  permissions: Array<'read' | 'write' | 'mknod'>;
}

export interface LogConfigSpec {
  /** The engine's log driver that is used (json-file, journald, ...). */
  logDriver: string;
  options: Record<string, string>;
  /** The driver the task asked for when it was replaced by a local one (awslogs, awsfirelens). */
  requested?: string;
}

/** systemControls entry: a namespaced sysctl. net.* ones go on the task's network namespace (the pause container). */
export interface SysctlSpec {
  namespace: string;
  value: string;
}

export interface ContainerSpec {
  name: string;
  image: string;
  essential: boolean;
  command?: string[];
  entryPoint?: string[];
  environment: KeyValue[];
  portMappings: PortMapping[];
  dependsOn: DependsOn[];
  workingDirectory?: string;
  user?: string;
  cpu?: number;
  memory?: number;
  memoryReservation?: number;
  /** Seconds. */
  stopTimeout?: number;
  dockerLabels: Record<string, string>;
  privileged: boolean;
  capabilities: { add: string[]; drop: string[] };
  // The fields below came with ECS task definitions; optional so records written before them still load.
  healthCheck?: HealthCheckSpec;
  mountPoints?: MountPointSpec[];
  volumesFrom?: VolumeFromSpec[];
  ulimits?: UlimitSpec[];
  /** linuxParameters.initProcessEnabled: the engine's init (docker --init) as PID 1. */
  initProcessEnabled?: boolean;
  /** linuxParameters.sharedMemorySize, MiB (/dev/shm). */
  sharedMemorySize?: number;
  tmpfs?: TmpfsSpec[];
  devices?: DeviceSpec[];
  /** linuxParameters.maxSwap, MiB (0 = no swap). */
  maxSwap?: number;
  swappiness?: number;
  readonlyRootFilesystem?: boolean;
  pseudoTerminal?: boolean;
  interactive?: boolean;
  dockerSecurityOptions?: string[];
  logConfiguration?: LogConfigSpec;
  systemControls?: SysctlSpec[];
  /** Seconds others wait for this container to reach the condition they depend on (ECS startTimeout). */
  startTimeout?: number;
}

/**
 * A task volume. host: bind mount of a host path (checked against the deny list). scratch: a Docker-managed
 * volume made for the task and removed with it ({"name"} only, "host": {}, or "host": {"sourcePath": null}).
 * docker: dockerVolumeConfiguration; scope task is made and removed with the task, scope shared outlives it
 * (made when autoprovision is true, else it must exist).
 */
export type VolumeSpec =
  | { name: string; kind: 'host'; sourcePath: string }
  | { name: string; kind: 'scratch' }
  | {
      name: string;
      kind: 'docker';
      scope: 'task' | 'shared';
      autoprovision: boolean;
      driver: string;
      driverOpts: Record<string, string>;
      labels: Record<string, string>;
    };

/** What a run request built on an ECS task definition adds to the task (shown by describe-tasks). */
export interface TaskDefinitionInfo {
  /** arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision> when known. */
  taskDefinitionArn?: string;
  startedBy?: string;
  group?: string;
  tags?: Array<{ key: string; value: string }>;
  requiresCompatibilities?: string[];
}

export interface AwsvpcConfiguration {
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: 'ENABLED' | 'DISABLED';
}

export interface TaskSpec {
  taskArn: string;
  /** Last segment of taskArn. Safe for file names, container names and labels. */
  taskId: string;
  family?: string;
  revision?: number;
  networkMode: 'awsvpc';
  desiredStatus: DesiredStatus;
  awsvpcConfiguration?: AwsvpcConfiguration;
  /** Exactly one ENI (the rules allow one per task). */
  eni: EniSpec;
  waitTimeoutMs: number;
  containers: ContainerSpec[];
  // From here on: task-definition fields (optional, so records written before them still load).
  volumes?: VolumeSpec[];
  /** Task-level CPU units (1024 = one vCPU) and memory (MiB): limits on the task's cgroup parent. */
  cpu?: number;
  memory?: number;
  /**
   * "task": the containers share the pause container's PID (IPC) namespace; "none" (ipc only): private, no /dev/shm;
   * "host": the host's namespace (only when the daemon's config allows privileged tasks).
   */
  pidMode?: 'task' | 'host';
  ipcMode?: 'task' | 'none' | 'host';
  /** Each field that was accepted but degraded, once, in words an operator can act on. */
  warnings?: string[];
  definition?: TaskDefinitionInfo;
}

/** What the daemon knows about one of the task's containers. */
export interface ContainerState {
  name: string;
  runtimeId?: string;
  /** Docker name, fixed when the container is first created (so a crash cannot make a second one). */
  runtimeName?: string;
  lastStatus: ContainerStatus;
  exitCode: number | null;
  reason: string | null;
  startedAt?: string;
  /** The engine no longer has it (removed by us at teardown, or from outside). */
  removed?: boolean;
  /** The engine's health status, for a container with a health check ("starting" reads UNKNOWN, as in ECS). */
  healthStatus?: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
}

/** One CNI plugin call of the task's plan and how far it got. */
export interface CniStepState {
  plugin: string;
  ifName: string;
  /** intent: ADD was (or may have been) run; added: its result was saved; deleted: DEL succeeded. */
  phase: 'intent' | 'added' | 'deleted';
  result?: unknown;
}

export interface PauseState {
  runtimeId?: string;
  runtimeName: string;
  pid?: number;
  /** A bind mount that keeps the task's network namespace alive even if the pause process dies. */
  netnsPath?: string;
  removed?: boolean;
}

export interface TaskRecord {
  spec: TaskSpec;
  /** Hash of the canonical spec (desiredStatus excluded), for idempotent re-submission. */
  specHash: string;
  /** The task source that submitted it (api, spool, ...): stops of unlisted tasks only touch a source's own. */
  source: string;
  desiredStatus: DesiredStatus;
  lastStatus: TaskStatus;
  attachmentStatus: AttachmentStatus;
  createdAt: string;
  /** Absolute deadline for the ENI to appear; stored so it survives restarts. */
  eniDeadline: string;
  startedAt: string | null;
  stoppingAt: string | null;
  stoppedAt: string | null;
  stoppedReason: string | null;
  /** The host link name the ENI had when found (for reporting and return checks). */
  eniHostName?: string;
  pause?: PauseState;
  cni: CniStepState[];
  /** The ecs-eth0 address (169.254.172.x) from the bridge plugin's IPAM. */
  localIpAddress?: string;
  /** IPAM release done (ecs-ipam DEL, or host-local release through the bridge DEL). */
  ipamReleased?: boolean;
  containers: ContainerState[];
  /** Rebuilt from the engine's labels after the state was lost: environment values are not known. */
  rebuiltFromEngine?: boolean;
  /** Task-scoped volumes (scratch, docker scope task) by engine name: saved before each is created, so teardown finds them. */
  volumes?: Array<{ name: string; engineName: string; removed?: boolean }>;
  /** The task's cgroup parent (task cpu/memory limits): saved before it is made, removed after every container. */
  taskCgroup?: { parent: string; removed?: boolean };
  /** What the host could not do for the task although the spec asked (task limits on a systemd-driven engine, ...). */
  runtimeWarnings?: string[];
  /** Teardown steps that failed and are retried by reconciliation (empty when all is released). */
  cleanupErrors: string[];
  /** Teardown passes that ended with cleanupErrors; retries stop at a bound and the record says what was left. */
  cleanupAttempts?: number;
  /** Retries gave up: what was left behind, for an operator (cleanupErrors keeps the last errors). */
  cleanupAbandoned?: string;
  /**
   * After STOPPED: whether the ENI was seen on the host again (the attachment reads DELETED then), or the
   * bounded wait for it ended first. Absent while the wait runs.
   */
  eniReturn?: { seen: boolean; at: string; hostName?: string; note?: string };
  /** End of the bounded wait for the ENI to come back to the host after teardown. */
  eniReturnDeadline?: string;
  version: number;
}

export function statusIndex(s: TaskStatus): number {
  return TASK_STATUSES.indexOf(s);
}
