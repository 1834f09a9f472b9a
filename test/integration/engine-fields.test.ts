// The task-definition fields on the real engine: a hand-built TaskSpec through appCreateOptions /
// pauseCreateOptions and DockerodeRuntime, then a look inside the containers that each field took effect
// (mounts, limits, init, /dev/shm, tmpfs, read-only root, user, working directory, environment, health) and
// at what the engine recorded (swap, log config) and the host's cgroup tree (task-level limits).
// Everything is named with this run's prefix and removed in afterAll, also after a failure.
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { LABEL, appCreateOptions, pauseCreateOptions, startOrder } from '../../agent/docker/container-config.js';
import { Dockerode } from '../../agent/docker/dockerode.js';
import { DockerodeRuntime, dockerConnection } from '../../agent/docker/dockerode-runtime.js';
import { FsTaskCgroups, taskCgroupPlan, type CgroupSupport } from '../../agent/docker/task-cgroup.js';
import { engineVolumeName, isTaskScoped, prepareBindSource, taskVolumeLabels } from '../../agent/docker/volumes.js';
import type { TaskSpec } from '../../agent/model.js';
import { container, taskSpec } from '../support/hand-spec.js';
import { ENGINE, docker, runPrefix, sh } from './harness.js';

const PREFIX = runPrefix();
const TASK_ID = `${PREFIX}-engine`;
const OWNER = { [LABEL.owner]: `/tmp/${PREFIX}` };
const CGROUP_ROOT = `/${PREFIX}`;
const BIND_DIR = path.join(os.tmpdir(), `${PREFIX}-bind`);
const MIB = 1024 * 1024;
/** This host's cgroup setup, for the test's name: v2 has one tree with cgroup.controllers at its root. */
const HOST_CGROUP = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1';

const runtime = new DockerodeRuntime({ docker: new Dockerode(dockerConnection(ENGINE)), logger: pino({ level: 'silent' }) });
const cgroups = new FsTaskCgroups({ engineInfo: () => runtime.info() });

const health = { command: ['CMD-SHELL', 'test -f /scratch/s'], intervalSec: 1, timeoutSec: 2, retries: 3, startPeriodSec: 0 };
const mounts = [
  { sourceVolume: 'data', containerPath: '/data', readOnly: false },
  { sourceVolume: 'scratch', containerPath: '/scratch', readOnly: false },
];

const SPEC: TaskSpec = taskSpec(
  [
    container({
      name: 'writer',
      command: ['sh', '-c', 'echo from-writer > /data/w && echo s > /scratch/s && exec sleep 3600'],
      environment: [{ name: 'GREETING', value: 'hello world; $(not a shell)' }],
      workingDirectory: '/scratch',
      mountPoints: mounts,
      healthCheck: health,
      ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 2048 }],
      initProcessEnabled: true,
      sharedMemorySize: 32,
      tmpfs: [{ containerPath: '/tmpfs', size: 8, mountOptions: ['noexec', 'nosuid'] }],
      memory: 128,
      maxSwap: 64,
      swappiness: 10,
      readonlyRootFilesystem: true,
      logConfiguration: { logDriver: 'json-file', options: { 'max-size': '1m' } },
      systemControls: [{ namespace: 'net.ipv4.ping_group_range', value: '0 0' }],
    }),
    container({
      name: 'reader',
      essential: false,
      user: '1000:1000',
      workingDirectory: '/tmp',
      command: ['sleep', '3600'],
      mountPoints: [{ ...mounts[0]!, readOnly: true }, mounts[1]!],
      dependsOn: [{ containerName: 'writer', condition: 'HEALTHY' }],
    }),
    container({ name: 'borrower', essential: false, command: ['sleep', '3600'], volumesFrom: [{ sourceContainer: 'writer', readOnly: true }] }),
  ],
  {
    taskId: TASK_ID,
    volumes: [{ name: 'data', kind: 'host', sourcePath: BIND_DIR }, { name: 'scratch', kind: 'scratch' }],
    cpu: 512,
    memory: 256,
  },
);

let support: CgroupSupport;
let cgroupParent: string | undefined;
const ids = new Map<string, string>();

/** Runs a command in a container through the docker CLI (argument vector, no shell on our side). */
async function exec(name: string, script: string): Promise<{ out: string; code: number | undefined }> {
  const r = await docker(['exec', ids.get(name)!, 'sh', '-c', script], false);
  return { out: String(r.stdout).trim(), code: r.exitCode };
}

interface Inspected {
  HostConfig: Record<string, unknown>;
  State: { Pid: number; Health?: { Status: string; Log?: Array<{ End: string; ExitCode: number }> } };
}

async function inspectJson(name: string): Promise<Inspected> {
  const r = await docker(['inspect', ids.get(name)!]);
  return JSON.parse(String(r.stdout))[0];
}

async function waitHealthy(name: string, ms: number): Promise<string | undefined> {
  const end = Date.now() + ms;
  let h: string | undefined;
  while (Date.now() < end) {
    h = (await runtime.inspect(ids.get(name)!))?.health;
    if (h === 'healthy') return h;
    await new Promise((r) => setTimeout(r, 250));
  }
  return h;
}

beforeAll(async () => {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (the task cgroup is made under /sys/fs/cgroup)');
  try {
    await runtime.ping();
    for (const img of ['busybox:latest', 'awsvpcd/pause:0.1.0']) if (!(await runtime.imageExists(img))) missing.push(`image ${img} (scripts/build-images)`);
  } catch {
    missing.push(`a Docker engine at ${ENGINE} (scripts/engine start)`);
  }
  if (missing.length) throw new Error(`integration requirements missing:\n - ${missing.join('\n - ')}`);

  // The provisioner's host steps, in its order: volumes, bind sources, the task cgroup, then pause and the containers.
  const bindSources: Record<string, string> = {};
  for (const v of SPEC.volumes!) {
    if (v.kind === 'host') bindSources[v.name] = await prepareBindSource(v.sourcePath, ['/etc', '/proc', '/sys']);
    else if (isTaskScoped(v)) await runtime.createVolume({ name: engineVolumeName(TASK_ID, v)!, labels: taskVolumeLabels(SPEC, v, OWNER) });
  }
  support = await cgroups.support();
  const plan = taskCgroupPlan(SPEC, CGROUP_ROOT)!;
  if (support.ok) {
    await cgroups.create(plan);
    cgroupParent = plan.parent;
  }
  const rt = { bindSources, cgroupParent };
  const pause = pauseCreateOptions(SPEC, 'hash', 'awsvpcd/pause:0.1.0', OWNER, 'test', rt);
  const pauseId = await runtime.create(pause);
  ids.set('pause', pauseId);
  await runtime.start(pauseId);
  for (const c of startOrder(SPEC.containers)) {
    if (c.dependsOn.some((d) => d.condition === 'HEALTHY')) await waitHealthy('writer', 30_000);
    const id = await runtime.create(appCreateOptions(SPEC, 'hash', c, pauseId, OWNER, 'test', rt));
    ids.set(c.name, id);
    await runtime.start(id);
  }
}, 120_000);

afterAll(async () => {
  const errors: string[] = [];
  const tryTo = (what: string, p: Promise<unknown>) => p.catch((err: Error) => void errors.push(`${what}: ${err.message}`));
  for (const c of await runtime.listByLabel(LABEL.taskId, TASK_ID).catch(() => [])) await tryTo(`container ${c.name}`, runtime.remove(c.id));
  for (const v of await runtime.listVolumesByLabel(LABEL.taskId, TASK_ID).catch(() => [])) await tryTo(`volume ${v.name}`, runtime.removeVolume(v.name));
  if (cgroupParent) await tryTo('task cgroup', cgroups.remove(cgroupParent));
  // The per-run root, in every v1 hierarchy (or the v2 tree) the engine filled.
  for (const h of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    await sh('rmdir', [path.join('/sys/fs/cgroup', h, PREFIX)], { reject: false });
  }
  await sh('rmdir', [path.join('/sys/fs/cgroup', PREFIX)], { reject: false });
  await rm(BIND_DIR, { recursive: true, force: true });
  if (errors.length) throw new Error(`cleanup left: ${errors.join('; ')}`);
}, 60_000);

describe('task-definition fields on the real engine', () => {
  test('a bind mount and a scratch volume are shared by two containers (read-only where asked)', async () => {
    expect((await exec('reader', 'cat /data/w /scratch/s')).out).toBe('from-writer\ns');
    expect(await readFile(path.join(BIND_DIR, 'w'), 'utf8')).toBe('from-writer\n');
    expect((await exec('reader', 'touch /data/x')).code).not.toBe(0);
    expect((await exec('reader', 'grep " /data " /proc/mounts')).out).toMatch(/\sro[,\s]/);
  });

  test('volumesFrom: the borrower sees the source container\'s mounts, read-only', async () => {
    expect((await exec('borrower', 'cat /scratch/s')).out).toBe('s');
    expect((await exec('borrower', 'touch /scratch/x')).code).not.toBe(0);
  });

  test('ulimits: nofile soft and hard on the container\'s processes', async () => {
    // Read from PID 1 (the container's own process tree): docker exec gives its processes soft = hard.
    expect((await exec('writer', 'grep "Max open files" /proc/1/limits')).out.split(/\s+/).slice(3, 5)).toEqual(['1024', '2048']);
  });

  test('initProcessEnabled: PID 1 is docker-init', async () => {
    expect((await exec('writer', "tr '\\0' ' ' < /proc/1/cmdline")).out).toMatch(/docker-init/);
  });

  test('sharedMemorySize: /dev/shm is 32 MiB', async () => {
    const line = (await exec('writer', 'df -k /dev/shm | tail -1')).out;
    expect(line.split(/\s+/)[1]).toBe(String(32 * 1024));
  });

  test('tmpfs: size and mount options as given', async () => {
    const line = (await exec('writer', 'grep " /tmpfs " /proc/mounts')).out;
    expect(line).toMatch(/^tmpfs \/tmpfs tmpfs /);
    expect(line).toMatch(/nosuid/);
    expect(line).toMatch(/noexec/);
    expect(line).toMatch(/size=8192k/);
  });

  test('readonlyRootFilesystem: / is read-only, the volumes are not', async () => {
    expect((await exec('writer', 'touch /rootfile')).code).not.toBe(0);
    expect((await exec('writer', 'touch /scratch/ok && echo yes')).out).toBe('yes');
  });

  test('user, working directory and environment (a value with shell syntax stays a value)', async () => {
    expect((await exec('reader', 'id -u; id -g; pwd')).out).toBe('1000\n1000\n/tmp');
    expect((await exec('writer', "pwd; env | grep '^GREETING='")).out).toBe('/scratch\nGREETING=hello world; $(not a shell)');
  });

  test('systemControls net.*: set on the task namespace (the pause container) and seen by the containers', async () => {
    expect((await exec('writer', 'cat /proc/sys/net/ipv4/ping_group_range')).out.split(/\s+/)).toEqual(['0', '0']);
  });

  test('healthCheck: the engine runs the probe and reports healthy (what dependsOn HEALTHY waits on)', async () => {
    expect(await waitHealthy('writer', 30_000)).toBe('healthy');
    const w = await inspectJson('writer');
    expect(w.State.Health?.Status).toBe('healthy');
    expect(w.State.Health!.Log!.some((l) => l.ExitCode === 0)).toBe(true);
  });

  test('maxSwap and swappiness in the engine HostConfig (this host has no swap), with the log config', async () => {
    const h = (await inspectJson('writer')).HostConfig;
    expect(h.Memory).toBe(128 * MIB);
    expect(h.MemorySwap).toBe((128 + 64) * MIB);
    expect(h.MemorySwappiness).toBe(10);
    expect(h.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '1m' } });
    expect(h.Init).toBe(true);
    expect(h.ReadonlyRootfs).toBe(true);
  });

  test(`task cpu/memory: the containers run under the task cgroup with its limits (ran on cgroup ${HOST_CGROUP})`, async () => {
    expect(support).toMatchObject({ ok: true, version: HOST_CGROUP === 'v2' ? 2 : 1 });
    const version = support.ok ? support.version : 0;
    for (const name of ['pause', 'writer', 'reader']) expect([name, (await inspectJson(name)).HostConfig.CgroupParent]).toEqual([name, cgroupParent]);
    const pid = (await inspectJson('reader')).State.Pid;
    const procCgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    if (version === 1) {
      expect(procCgroup).toMatch(new RegExp(`:memory:${cgroupParent}/[0-9a-f]{64}$`, 'm'));
      expect((await readFile(`/sys/fs/cgroup/cpu/${cgroupParent}/cpu.cfs_quota_us`, 'utf8')).trim()).toBe('50000');
      expect((await readFile(`/sys/fs/cgroup/cpu/${cgroupParent}/cpu.cfs_period_us`, 'utf8')).trim()).toBe('100000');
      // Inside: the reader sets no memory of its own, so the task's 256 MiB is its hierarchical limit.
      const stat = (await exec('reader', 'grep hierarchical_memory_limit /sys/fs/cgroup/memory/memory.stat')).out;
      expect(stat).toBe(`hierarchical_memory_limit ${256 * MIB}`);
    } else {
      expect(procCgroup).toMatch(new RegExp(`^0::${cgroupParent}/`, 'm'));
      expect((await readFile(`/sys/fs/cgroup/${cgroupParent}/memory.max`, 'utf8')).trim()).toBe(String(256 * MIB));
      expect((await readFile(`/sys/fs/cgroup/${cgroupParent}/cpu.max`, 'utf8')).trim()).toBe('50000 100000');
    }
  });

  test('teardown order: the volume and the task cgroup go once the containers are gone', async () => {
    for (const [, id] of [...ids].reverse()) await runtime.remove(id);
    const scratch = engineVolumeName(TASK_ID, SPEC.volumes![1]!)!;
    expect(await runtime.inspectVolume(scratch)).toMatchObject({ labels: expect.objectContaining({ [LABEL.taskId]: TASK_ID }) });
    await runtime.removeVolume(scratch);
    expect(await runtime.inspectVolume(scratch)).toBeUndefined();
    if (cgroupParent) {
      await cgroups.remove(cgroupParent);
      await expect(readFile(`/sys/fs/cgroup/memory/${cgroupParent}/memory.limit_in_bytes`)).rejects.toThrow(/ENOENT/);
      cgroupParent = undefined;
    }
  });
});
