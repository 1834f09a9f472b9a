// describeTask (agent/task/describe.ts): the ECS DescribeTasks fields a run request adds (taskDefinitionArn,
// startedBy, group, tags, cpu/memory as strings), container and task health by ECS's rule, and awsvpcd's warnings.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ContainerState, HealthCheckSpec, TaskRecord, TaskSpec } from '../../agent/model.js';
import { describeTask, taskHealth } from '../../agent/task/describe.js';
import { parseTaskDocument } from '../../agent/task/validate/index.js';

const CHECK: HealthCheckSpec = { command: ['CMD-SHELL', 'true'], intervalSec: 30, timeoutSec: 5, retries: 3, startPeriodSec: 0 };

function spec(): TaskSpec {
  const file = path.join(import.meta.dirname, '../fixtures/tasks/valid/spec-example.json');
  return parseTaskDocument(readFileSync(file), { defaultWaitTimeoutMs: 1000, allowPrivileged: false, allowedCapabilities: [] });
}

function record(s: TaskSpec, containers: ContainerState[] = [], extra: Record<string, unknown> = {}): TaskRecord {
  return {
    spec: s,
    specHash: 'h',
    source: 'api',
    desiredStatus: 'RUNNING',
    lastStatus: 'RUNNING',
    attachmentStatus: 'ATTACHED',
    createdAt: '2026-11-30T05:00:00.000Z',
    eniDeadline: '2026-11-30T05:03:00.000Z',
    startedAt: null,
    stoppingAt: null,
    stoppedAt: null,
    stoppedReason: null,
    cni: [],
    containers,
    cleanupErrors: [],
    version: 1,
    ...extra,
  };
}

const state = (name: string, healthStatus?: ContainerState['healthStatus']): ContainerState => ({
  name,
  lastStatus: 'RUNNING',
  exitCode: null,
  reason: null,
  ...(healthStatus ? { healthStatus } : {}),
});

describe('describeTask: fields from a run request', () => {
  test('taskDefinitionArn, startedBy, group, tags, and task cpu/memory as strings, as ECS shows them', () => {
    const s: TaskSpec = {
      ...spec(),
      cpu: 256,
      memory: 512,
      definition: {
        taskDefinitionArn: 'arn:aws:ecs:us-east-1:111122223333:task-definition/web:3',
        startedBy: 'ci',
        group: 'family:web',
        tags: [{ key: 'team', value: 'net' }],
      },
    };
    expect(describeTask(record(s))).toMatchObject({
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:111122223333:task-definition/web:3',
      startedBy: 'ci',
      group: 'family:web',
      tags: [{ key: 'team', value: 'net' }],
      cpu: '256',
      memory: '512',
    });
  });

  test("today's task document: none of them, health UNKNOWN, no warnings", () => {
    const d = describeTask(record(spec(), [state('app')]));
    for (const k of ['taskDefinitionArn', 'startedBy', 'group', 'tags', 'cpu', 'memory', 'warnings']) expect(d).not.toHaveProperty(k);
    expect(d.healthStatus).toBe('UNKNOWN');
    expect(d.containers.map((c) => c.healthStatus)).toEqual(['UNKNOWN', 'UNKNOWN']);
  });

  test("warnings: the task's degraded fields, then what the run could not do", () => {
    const s = { ...spec(), warnings: ['container app: logConfiguration awslogs is replaced by json-file'] };
    expect(describeTask(record(s)).warnings).toEqual(s.warnings);
    const runtimeWarnings = ['task cpu/memory limits are not applied: the engine uses the systemd cgroup driver'];
    expect(describeTask(record(s, [], { runtimeWarnings })).warnings).toEqual([...s.warnings, ...runtimeWarnings]);
    expect(describeTask(record(spec(), [], { runtimeWarnings })).warnings).toEqual(runtimeWarnings);
  });

  test("each container's healthStatus comes from its state", () => {
    const s = spec();
    s.containers[0]!.healthCheck = CHECK;
    const d = describeTask(record(s, [state('app', 'HEALTHY'), state('probe')]));
    expect(d.containers.map((c) => [c.name, c.healthStatus])).toEqual([
      ['app', 'HEALTHY'],
      ['probe', 'UNKNOWN'],
    ]);
    expect(d.healthStatus).toBe('HEALTHY');
  });
});

describe("taskHealth: ECS's rule", () => {
  // app and probe; app is essential, probe is not.
  const withChecks = (...names: string[]): TaskSpec => {
    const s = spec();
    for (const c of s.containers) if (names.includes(c.name)) c.healthCheck = CHECK;
    return s;
  };

  test.each([
    ['no container has a health check', [], [['app', 'HEALTHY']], 'UNKNOWN'],
    ['the essential checked container is healthy', ['app'], [['app', 'HEALTHY']], 'HEALTHY'],
    ['the essential checked container is unhealthy', ['app'], [['app', 'UNHEALTHY']], 'UNHEALTHY'],
    ['the essential checked container has no result yet', ['app'], [['app', undefined]], 'UNKNOWN'],
    ['a non-essential container does not count, even unhealthy', ['app', 'probe'], [['app', 'HEALTHY'], ['probe', 'UNHEALTHY']], 'HEALTHY'],
    ['only a non-essential container has a check', ['probe'], [['probe', 'UNHEALTHY']], 'UNKNOWN'],
  ] as Array<[string, string[], Array<[string, ContainerState['healthStatus']]>, string]>)('%s', (_name, checked, states, want) => {
    const s = withChecks(...checked);
    expect(taskHealth(s.containers, states.map(([n, h]) => state(n, h)))).toBe(want);
  });

  test('several essential checked containers: any UNHEALTHY wins, all HEALTHY needed for HEALTHY', () => {
    const s = withChecks('app', 'probe');
    s.containers[1]!.essential = true;
    expect(taskHealth(s.containers, [state('app', 'HEALTHY'), state('probe', 'UNHEALTHY')])).toBe('UNHEALTHY');
    expect(taskHealth(s.containers, [state('app', 'HEALTHY'), state('probe', 'UNKNOWN')])).toBe('UNKNOWN');
    expect(taskHealth(s.containers, [state('app', 'HEALTHY'), state('probe', 'HEALTHY')])).toBe('HEALTHY');
  });

  test('healthCheck NONE is no health check', () => {
    const s = spec();
    s.containers[0]!.healthCheck = { ...CHECK, command: ['NONE'] };
    expect(taskHealth(s.containers, [state('app', 'HEALTHY')])).toBe('UNKNOWN');
  });
});
