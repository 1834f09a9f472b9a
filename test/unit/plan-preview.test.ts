// The dry-run plan (agent/task/plan-preview.ts): the same create options provisioning would use, with the
// pause id as a placeholder, containers in start order, volumes, the cgroup parent and the CNI ADDs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildPlan } from '../../cni/plan.js';
import type { CniPlanOptions } from '../../cni/types.js';
import { appCreateOptions, pauseCreateOptions } from '../../agent/docker/container-config.js';
import type { TaskSpec } from '../../agent/model.js';
import { buildTaskPlan, PAUSE_ID_PLACEHOLDER, planCgroup, type PlanPreviewConfig } from '../../agent/task/plan-preview.js';
import { taskVolumeName } from '../../agent/docker/volumes.js';
import { specHash } from '../../agent/task/spec-hash.js';
import { parseTaskDocument } from '../../agent/task/validate/index.js';

const PLAN: CniPlanOptions = {
  blockImds: true,
  ipamSubnet: '169.254.172.0/22',
  additionalLocalRoutes: [],
  ipamDataDir: '/var/lib/awsvpcd/ipam',
  bridgeName: 'ecs-bridge',
  pluginLogLevel: 'info',
};

const CFG: PlanPreviewConfig = {
  pluginSet: 'reference',
  plan: PLAN,
  pauseImage: 'awsvpcd/pause:0.1.0',
  pauseLabels: { team: 'net' },
  ownerLabels: { 'com.awsvpcd.owner': '/var/lib/awsvpcd' },
  cgroupLimits: { applied: true },
  source: 'api',
};

function spec(): TaskSpec {
  const file = path.join(import.meta.dirname, '../fixtures/tasks/valid/spec-example.json');
  return parseTaskDocument(readFileSync(file), { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] });
}

describe('buildTaskPlan', () => {
  test('pause and app create options are the ones provisioning builds, with the pause id as "<pause>"', () => {
    const s = spec();
    // probe depends on app: listed second in the input and in start order; reversed input shows the order is computed.
    s.containers.reverse();
    const p = buildTaskPlan(s, CFG, { showEnvironment: true });
    const hash = specHash(s);
    expect(p).toMatchObject({ dryRun: true, taskArn: s.taskArn, taskId: s.taskId, warnings: [], volumes: [], cgroup: null });
    expect(p.pause).toEqual(pauseCreateOptions(s, hash, CFG.pauseImage, { ...CFG.pauseLabels, ...CFG.ownerLabels }, 'api'));
    expect(p.containers.map((c) => c.name)).toEqual(['app', 'probe']);
    expect(p.containers[0]!.createOptions).toEqual(appCreateOptions(s, hash, s.containers[1]!, PAUSE_ID_PLACEHOLDER, CFG.ownerLabels, 'api'));
    expect(p.containers[0]!.createOptions.networkMode).toBe('container:<pause>');
    expect(p.containers[0]!.createOptions.env).toEqual(['MODE=prod']);
  });

  test('with task limits applied, every container gets the task cgroup parent, as provisioning sets it; not applied, none', () => {
    const s = { ...spec(), cpu: 512 };
    const on = buildTaskPlan(s, CFG);
    expect([on.pause, ...on.containers.map((c) => c.createOptions)].map((o) => o.cgroupParent)).toEqual(Array(3).fill(`/awsvpcd/${s.taskId}`));
    const off = buildTaskPlan(s, { ...CFG, cgroupLimits: { applied: false, why: 'systemd driver' } });
    expect([off.pause, ...off.containers.map((c) => c.createOptions)].map((o) => o.cgroupParent)).toEqual(Array(3).fill(undefined));
  });

  test('environment values are redacted unless asked for, as describe-tasks shows them', () => {
    const p = buildTaskPlan(spec(), CFG);
    expect(p.containers[0]!.createOptions.env).toEqual(['MODE=[redacted]']);
    expect(JSON.stringify(p)).not.toContain('prod');
  });

  test('the CNI calls are the ADDs of cni/plan.ts in order, with their stdin config', () => {
    const s = spec();
    const p = buildTaskPlan(s, CFG);
    const add = buildPlan('reference', s.eni, PLAN).add;
    expect(p.cniCalls).toEqual(add.map((c) => ({ command: 'ADD', plugin: c.plugin, ifName: c.ifName, config: c.config })));
    expect(p.cniCalls.map((c) => `${c.plugin} ${c.ifName}`)).toEqual(['host-device eth0', 'bridge ecs-eth0']);
    expect(buildTaskPlan(s, { ...CFG, pluginSet: 'ecs' }).cniCalls.map((c) => c.plugin)).toEqual(['ecs-eni', 'ecs-bridge']);
  });

  test('volumes: bind, task-scoped and shared, with what would be done to each', () => {
    const s: TaskSpec = {
      ...spec(),
      volumes: [
        { name: 'logs', kind: 'host', sourcePath: '/var/log/app' },
        { name: 'scratch', kind: 'scratch' },
        { name: 'cache', kind: 'docker', scope: 'task', autoprovision: false, driver: 'local', driverOpts: {}, labels: {} },
        { name: 'shared-data', kind: 'docker', scope: 'shared', autoprovision: true, driver: 'local', driverOpts: {}, labels: {} },
        { name: 'prepared', kind: 'docker', scope: 'shared', autoprovision: false, driver: 'local', driverOpts: {}, labels: {} },
      ],
    };
    const id = s.taskId;
    expect(buildTaskPlan(s, CFG).volumes).toEqual([
      { name: 'logs', kind: 'host', action: 'bind', hostPath: '/var/log/app' },
      { name: 'scratch', kind: 'scratch', engineName: `awsvpcd-${id}-scratch`, action: 'create' },
      { name: 'cache', kind: 'docker', engineName: `awsvpcd-${id}-cache`, action: 'create' },
      { name: 'shared-data', kind: 'docker', engineName: 'shared-data', action: 'create-if-missing' },
      { name: 'prepared', kind: 'docker', engineName: 'prepared', action: 'use-existing' },
    ]);
    expect(taskVolumeName('t1', 'data_1.x')).toBe('awsvpcd-t1-data_1.x');
    // A name the engine would refuse: sanitized, and a hash keeps "my vol/x" and "my-vol-x" apart.
    expect(taskVolumeName('t1', 'my vol/x')).toMatch(/^awsvpcd-t1-my-vol-x-[0-9a-f]{8}$/);
  });

  test('warnings come from the spec', () => {
    const s = { ...spec(), warnings: ['container app: logConfiguration awslogs is replaced by json-file'] };
    expect(buildTaskPlan(s, CFG).warnings).toEqual(s.warnings);
  });
});

describe('planCgroup', () => {
  test('no task cpu or memory: no cgroup parent', () => {
    expect(planCgroup(spec(), CFG)).toBeNull();
  });

  test('cpu units -> CFS quota over a 100 ms period, memory MiB -> bytes, under the configured root', () => {
    const s = { ...spec(), cpu: 256, memory: 512 };
    expect(planCgroup(s, CFG)).toEqual({
      parent: `/awsvpcd/${s.taskId}`,
      cpuQuotaUs: 25_000,
      cpuPeriodUs: 100_000,
      memoryBytes: 512 * 1024 * 1024,
      applied: true,
    });
    expect(planCgroup({ ...s, cpu: 2048, memory: undefined }, { taskCgroupRoot: '/tasks', cgroupLimits: { applied: true } })).toEqual({
      parent: `/tasks/${s.taskId}`,
      cpuQuotaUs: 200_000,
      cpuPeriodUs: 100_000,
      applied: true,
    });
  });

  test('a tiny cpu share still gets the kernel\'s smallest quota (1 ms)', () => {
    expect(planCgroup({ ...spec(), cpu: 2 }, CFG)?.cpuQuotaUs).toBe(1_000);
  });

  test('where the host does not allow the limits, the plan says so and why', () => {
    const s = { ...spec(), memory: 1024 };
    const why = 'the engine uses the systemd cgroup driver';
    expect(buildTaskPlan(s, { ...CFG, cgroupLimits: { applied: false, why } }).cgroup).toEqual({
      parent: `/awsvpcd/${s.taskId}`,
      memoryBytes: 1024 ** 3,
      applied: false,
      why,
    });
  });
});
