// TaskRecord -> the shape of ECS DescribeTasks (pure).
import type { ContainerSpec, ContainerState, TaskRecord } from '../model.js';

/** ECS's words for a container's and a task's health. */
export type HealthStatus = NonNullable<ContainerState['healthStatus']>;

/** What describe-tasks shows instead of an environment value (they often hold secrets). */
export const REDACTED = '[redacted]';

export interface DescribeOptions {
  /** Show environment values as given (API ?showEnvironment=true, CLI --show-environment). */
  showEnvironment?: boolean;
}

export interface DescribedTask {
  taskArn: string;
  family?: string;
  revision?: number;
  /** From a run request built on a task definition (ECS RunTask's fields), when given. */
  taskDefinitionArn?: string;
  startedBy?: string;
  group?: string;
  tags?: Array<{ key: string; value: string }>;
  /** Task-level CPU units and memory MiB, as strings, as ECS shows them. */
  cpu?: string;
  memory?: string;
  /** ECS's rule: UNHEALTHY if an essential container with a health check is, HEALTHY if all of those are, else UNKNOWN. */
  healthStatus: HealthStatus;
  lastStatus: string;
  desiredStatus: string;
  createdAt: string;
  startedAt: string | null;
  stoppingAt: string | null;
  stoppedAt: string | null;
  stoppedReason: string | null;
  attachments: Array<{
    id: string;
    type: 'ElasticNetworkInterface';
    status: string;
    details: Array<{ name: string; value: string }>;
  }>;
  containers: Array<{
    name: string;
    runtimeId: string | null;
    image: string;
    lastStatus: string;
    exitCode: number | null;
    reason: string | null;
    /** UNKNOWN without a health check, or before its first result. */
    healthStatus: HealthStatus;
    /** Names as given; values are REDACTED unless asked for. */
    environment: Array<{ name: string; value: string }>;
    networkInterfaces: Array<{ attachmentId: string; privateIpv4Address?: string; ipv6Address?: string }>;
  }>;
  /**
   * awsvpcd's own additions, for operators: the ecs-eth0 address, any teardown still pending (or given up
   * on), and after STOPPED whether the ENI was seen back on the host before the attachment read DELETED.
   */
  localIpAddress?: string;
  /** Fields accepted but degraded (the task's) and what could not be done at run time (cgroup limits, ...). */
  warnings?: string[];
  cleanupErrors?: string[];
  cleanupAbandoned?: string;
  eniReturn?: { seen: boolean; at: string; hostName?: string; note?: string };
}

export function describeTask(rec: TaskRecord, opts: DescribeOptions = {}): DescribedTask {
  const eni = rec.spec.eni;
  // An IPv6-only ENI has no IPv4 address: ECS then lists only ipv6Address.
  const primary = eni.ipv4Addresses.find((a) => a.primary)?.privateAddress ?? eni.ipv4Addresses[0]?.privateAddress;
  const details: Array<{ name: string; value: string }> = [];
  const subnet = rec.spec.awsvpcConfiguration?.subnets[0];
  if (subnet) details.push({ name: 'subnetId', value: subnet });
  details.push({ name: 'networkInterfaceId', value: eni.ec2Id });
  details.push({ name: 'macAddress', value: eni.macAddress });
  if (eni.privateDnsName) details.push({ name: 'privateDnsName', value: eni.privateDnsName });
  if (primary) details.push({ name: 'privateIPv4Address', value: primary });
  const ipv6 = (eni.ipv6Addresses.find((a) => a.primary) ?? eni.ipv6Addresses[0])?.address;
  if (ipv6) details.push({ name: 'ipv6Address', value: ipv6 });

  const def = rec.spec.definition;
  const out: DescribedTask = {
    taskArn: rec.spec.taskArn,
    family: rec.spec.family,
    revision: rec.spec.revision,
    ...(def?.taskDefinitionArn !== undefined ? { taskDefinitionArn: def.taskDefinitionArn } : {}),
    ...(def?.startedBy !== undefined ? { startedBy: def.startedBy } : {}),
    ...(def?.group !== undefined ? { group: def.group } : {}),
    ...(def?.tags !== undefined ? { tags: def.tags.map((t) => ({ ...t })) } : {}),
    ...(rec.spec.cpu !== undefined ? { cpu: String(rec.spec.cpu) } : {}),
    ...(rec.spec.memory !== undefined ? { memory: String(rec.spec.memory) } : {}),
    healthStatus: taskHealth(rec.spec.containers, rec.containers),
    lastStatus: rec.lastStatus,
    desiredStatus: rec.desiredStatus,
    createdAt: rec.createdAt,
    startedAt: rec.startedAt,
    stoppingAt: rec.stoppingAt,
    stoppedAt: rec.stoppedAt,
    stoppedReason: rec.stoppedReason,
    attachments: [{ id: eni.attachmentId, type: 'ElasticNetworkInterface', status: rec.attachmentStatus, details }],
    containers: rec.spec.containers.map((c) => {
      const st = rec.containers.find((s) => s.name === c.name);
      const ni: DescribedTask['containers'][number]['networkInterfaces'][number] = { attachmentId: eni.attachmentId };
      if (primary) ni.privateIpv4Address = primary;
      if (ipv6) ni.ipv6Address = ipv6;
      return {
        name: c.name,
        runtimeId: st?.runtimeId ?? null,
        image: c.image,
        lastStatus: st?.lastStatus ?? 'PENDING',
        exitCode: st?.exitCode ?? null,
        reason: st?.reason ?? null,
        healthStatus: st?.healthStatus ?? 'UNKNOWN',
        environment: c.environment.map((e) => ({ name: e.name, value: opts.showEnvironment ? e.value : REDACTED })),
        networkInterfaces: [ni],
      };
    }),
  };
  if (rec.localIpAddress) out.localIpAddress = rec.localIpAddress;
  // runtimeWarnings: what the engine side could not do for the task (read loosely: older records lack it).
  const runtime = (rec as { runtimeWarnings?: unknown }).runtimeWarnings;
  const warnings = [...(rec.spec.warnings ?? []), ...(Array.isArray(runtime) ? runtime.map(String) : [])];
  if (warnings.length) out.warnings = warnings;
  if (rec.cleanupErrors.length) out.cleanupErrors = rec.cleanupErrors;
  if (rec.cleanupAbandoned) out.cleanupAbandoned = rec.cleanupAbandoned;
  if (rec.eniReturn) out.eniReturn = { ...rec.eniReturn };
  return out;
}

/**
 * The task's health as ECS reports it: only essential containers with a health check count; any UNHEALTHY
 * makes the task UNHEALTHY, all HEALTHY make it HEALTHY, anything else (none such, or one not known yet) UNKNOWN.
 */
export function taskHealth(specs: ContainerSpec[], states: ContainerState[]): HealthStatus {
  const checked = specs.filter((c) => c.essential && c.healthCheck && c.healthCheck.command[0] !== 'NONE');
  if (checked.length === 0) return 'UNKNOWN';
  const status = checked.map((c) => states.find((s) => s.name === c.name)?.healthStatus ?? 'UNKNOWN');
  if (status.includes('UNHEALTHY')) return 'UNHEALTHY';
  return status.every((h) => h === 'HEALTHY') ? 'HEALTHY' : 'UNKNOWN';
}
