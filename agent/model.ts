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

export interface EniSpec {
  attachmentArn: string;
  /** Last segment of attachmentArn: the attachment id DescribeTasks shows. */
  attachmentId: string;
  ec2Id: string;
  /** Normal form: lowercase, colon separated. */
  macAddress: string;
  ipv4Addresses: Ipv4AddressSpec[];
  ipv6Addresses: Ipv6AddressSpec[];
  /** Gateway IP with the subnet's prefix length, e.g. "10.99.1.1/24". */
  subnetGatewayIpv4Address: string;
  domainNameServers: string[];
  domainName: string[];
  privateDnsName?: string;
}

export interface PortMapping {
  containerPort: number;
  hostPort?: number;
  protocol: 'tcp' | 'udp';
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
