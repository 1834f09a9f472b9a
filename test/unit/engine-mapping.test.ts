// The task-definition fields on their way to the engine (pure): TaskSpec -> CreateContainerOptions -> the
// create body, the task's volume names and labels, the bind-mount deny list on real paths, the task cgroup's
// plan and the files it writes.
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LABEL, appCreateOptions, pauseCreateOptions, startOrder } from '../../agent/docker/container-config.js';
import type { CreateContainerOptions } from '../../agent/docker/container-runtime.js';
import { createBody } from '../../agent/docker/dockerode-runtime.js';
import { FsTaskCgroups, limitWrites, taskCgroupPlan, type CgroupFs } from '../../agent/docker/task-cgroup.js';
import {
  BIND_SOURCE_TIMEOUT_MS,
  DEFAULT_BIND_MOUNT_DENY_LIST,
  deniedBy,
  engineVolumeName,
  prepareBindSource,
  sharedVolumeLabels,
  taskVolumeLabels,
  taskVolumeName,
  VOLUME_LABEL,
} from '../../agent/docker/volumes.js';
import type { TaskSpec } from '../../agent/model.js';
import { HAND_TASK_ID as ID, container, taskSpec } from '../support/hand-spec.js';

const PAUSE = 'p'.repeat(64);

/** Every field the task definition brought, set on one container. */
const FULL = container({
  name: 'web',
  memory: 256,
  healthCheck: { command: ['CMD-SHELL', 'wget -qO- localhost || exit 1'], intervalSec: 10, timeoutSec: 3, retries: 4, startPeriodSec: 7 },
  mountPoints: [
    { sourceVolume: 'data', containerPath: '/data', readOnly: false },
    { sourceVolume: 'scratch', containerPath: '/scratch', readOnly: true },
    { sourceVolume: 'cache', containerPath: '/cache', readOnly: false },
    { sourceVolume: 'shared', containerPath: '/shared', readOnly: false },
  ],
  volumesFrom: [{ sourceContainer: 'init', readOnly: true }],
  ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 2048 }],
  initProcessEnabled: true,
  sharedMemorySize: 64,
  tmpfs: [{ containerPath: '/run', size: 16, mountOptions: ['noexec', 'nosuid'] }],
  devices: [{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: ['read', 'write'] }],
  maxSwap: 128,
  swappiness: 10,
  readonlyRootFilesystem: true,
  pseudoTerminal: true,
  interactive: true,
  dockerSecurityOptions: ['no-new-privileges'],
  logConfiguration: { logDriver: 'json-file', options: { 'max-size': '10m' }, requested: 'awslogs' },
  systemControls: [
    { namespace: 'net.ipv4.tcp_keepalive_time', value: '300' },
    { namespace: 'kernel.shmmax', value: '1000000' },
  ],
  user: '1000:1000',
  workingDirectory: '/work',
});
const INIT = container({ name: 'init', essential: false });

const FULL_SPEC = taskSpec([FULL, INIT], {
  volumes: [
    { name: 'data', kind: 'host', sourcePath: '/srv/data' },
    { name: 'scratch', kind: 'scratch' },
    { name: 'cache', kind: 'docker', scope: 'task', autoprovision: false, driver: 'local', driverOpts: {}, labels: { team: 'a' } },
    { name: 'shared', kind: 'docker', scope: 'shared', autoprovision: true, driver: 'local', driverOpts: {}, labels: {} },
  ],
  cpu: 512,
  memory: 1024,
});

describe('appCreateOptions maps every task-definition field', () => {
  const o = appCreateOptions(FULL_SPEC, 'hash', FULL, PAUSE, {}, 'api', { cgroupParent: `/awsvpcd/${ID}`, bindSources: { data: '/real/srv/data' } });

  test('healthCheck -> healthcheck in nanoseconds', () => {
    expect(o.healthcheck).toEqual({ test: ['CMD-SHELL', 'wget -qO- localhost || exit 1'], intervalNs: 10e9, timeoutNs: 3e9, retries: 4, startPeriodNs: 7e9 });
  });
  test('mountPoints -> mounts: bind on the checked real path, task volumes by task name, shared by their own', () => {
    expect(o.mounts).toEqual([
      { type: 'bind', source: '/real/srv/data', target: '/data', readOnly: false },
      { type: 'volume', source: `awsvpcd-${ID}-scratch`, target: '/scratch', readOnly: true },
      { type: 'volume', source: `awsvpcd-${ID}-cache`, target: '/cache', readOnly: false },
      { type: 'volume', source: 'shared', target: '/shared', readOnly: false },
    ]);
  });
  test('volumesFrom -> the source container runtime name, :ro when read only', () => {
    expect(o.volumesFrom).toEqual([`awsvpcd-${ID}-init:ro`]);
  });
  test('ulimits, init, shm, tmpfs, devices', () => {
    expect(o.ulimits).toEqual([{ name: 'nofile', soft: 1024, hard: 2048 }]);
    expect(o.init).toBe(true);
    expect(o.shmSizeBytes).toBe(64 * 1024 * 1024);
    expect(o.tmpfs).toEqual({ '/run': 'size=16m,noexec,nosuid' });
    expect(o.devices).toEqual([{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rw' }]);
  });
  test('maxSwap -> memory + swap in bytes, swappiness with it', () => {
    expect(o.memoryBytes).toBe(256 * 1024 * 1024);
    expect(o.memorySwapBytes).toBe((256 + 128) * 1024 * 1024);
    expect(o.memorySwappiness).toBe(10);
  });
  test('read-only root, tty, stdin, security options, log config, user, working directory', () => {
    expect(o.readonlyRootfs).toBe(true);
    expect(o.tty).toBe(true);
    expect(o.openStdin).toBe(true);
    expect(o.securityOpt).toEqual(['no-new-privileges']);
    expect(o.logConfig).toEqual({ type: 'json-file', config: { 'max-size': '10m' } });
    expect(o.user).toBe('1000:1000');
    expect(o.workingDir).toBe('/work');
  });
  test('systemControls: net.* go to the pause container, the rest stay on the container', () => {
    expect(o.sysctls).toEqual({ 'kernel.shmmax': '1000000' });
    const p = pauseCreateOptions(FULL_SPEC, 'hash', 'pause:1', {}, 'api');
    expect(p.sysctls).toEqual({ 'net.ipv4.tcp_keepalive_time': '300' });
  });
  test('task cpu/memory -> the cgroup parent on every container, pause included', () => {
    expect(o.cgroupParent).toBe(`/awsvpcd/${ID}`);
    expect(pauseCreateOptions(FULL_SPEC, 'hash', 'pause:1', {}, 'api', { cgroupParent: `/awsvpcd/${ID}` }).cgroupParent).toBe(`/awsvpcd/${ID}`);
  });
  test('a container without the new fields gets none of them (old records start as before)', () => {
    const plain = appCreateOptions(FULL_SPEC, 'hash', INIT, PAUSE);
    const added: Array<keyof CreateContainerOptions> = [
      'healthcheck', 'mounts', 'volumesFrom', 'ulimits', 'init', 'shmSizeBytes', 'tmpfs', 'devices', 'memorySwapBytes',
      'memorySwappiness', 'readonlyRootfs', 'tty', 'openStdin', 'securityOpt', 'logConfig', 'sysctls', 'pidMode', 'ipcMode', 'cgroupParent',
    ];
    for (const k of added) expect([k, plain[k]]).toEqual([k, undefined]);
  });
  test('a bind mount without a checked source falls back to the spec path', () => {
    expect(appCreateOptions(FULL_SPEC, 'hash', FULL, PAUSE).mounts![0]!.source).toBe('/srv/data');
  });
  test('device without permissions: all three, as the engine', () => {
    const c = container({ devices: [{ hostPath: '/dev/null', containerPath: '', permissions: [] }] });
    expect(appCreateOptions(taskSpec([c]), 'h', c, PAUSE).devices).toEqual([{ hostPath: '/dev/null', containerPath: '/dev/null', permissions: 'rwm' }]);
  });
  test('maxSwap 0 means no swap (swap = memory); swappiness defaults to 60 with it, and means nothing without it', () => {
    const c = container({ memory: 100, maxSwap: 0 });
    const o0 = appCreateOptions(taskSpec([c]), 'h', c, PAUSE);
    expect(o0.memorySwapBytes).toBe(100 * 1024 * 1024);
    expect(o0.memorySwappiness).toBe(60);
    const s = container({ memory: 100, swappiness: 5 });
    expect(appCreateOptions(taskSpec([s]), 'h', s, PAUSE).memorySwappiness).toBeUndefined();
  });
  test('a mountPoint naming no task volume is refused rather than mounted wrong', () => {
    const c = container({ mountPoints: [{ sourceVolume: 'nope', containerPath: '/x', readOnly: false }] });
    expect(() => appCreateOptions(taskSpec([c]), 'h', c, PAUSE)).toThrow(/nope is not a task volume/);
  });
});

describe('pidMode / ipcMode', () => {
  const c = container({ systemControls: [{ namespace: 'kernel.msgmax', value: '65536' }, { namespace: 'kernel.domainname', value: 'x' }] });
  test('task: the containers join the pause container, which shares its IPC namespace; IPC sysctls move to it', () => {
    const spec = taskSpec([c], { pidMode: 'task', ipcMode: 'task' });
    const o = appCreateOptions(spec, 'h', c, PAUSE);
    expect(o.pidMode).toBe(`container:${PAUSE}`);
    expect(o.ipcMode).toBe(`container:${PAUSE}`);
    expect(o.sysctls).toEqual({ 'kernel.domainname': 'x' });
    const p = pauseCreateOptions(spec, 'h', 'pause:1', {});
    expect(p.ipcMode).toBe('shareable');
    expect(p.sysctls).toEqual({ 'kernel.msgmax': '65536' });
  });
  test('ipcMode none: private, no /dev/shm', () => {
    const spec = taskSpec([c], { ipcMode: 'none' });
    expect(appCreateOptions(spec, 'h', c, PAUSE).ipcMode).toBe('none');
    expect(appCreateOptions(spec, 'h', c, PAUSE).sysctls).toEqual({ 'kernel.msgmax': '65536', 'kernel.domainname': 'x' });
    expect(pauseCreateOptions(spec, 'h', 'pause:1', {}).ipcMode).toBeUndefined();
  });
  test('host (only where the config allows privileged tasks): the host namespaces, not silently dropped', () => {
    const spec = taskSpec([c], { pidMode: 'host', ipcMode: 'host' });
    const o = appCreateOptions(spec, 'h', c, PAUSE);
    expect(o.pidMode).toBe('host');
    expect(o.ipcMode).toBe('host');
  });
});

describe('createBody: our options as the engine create body', () => {
  test('every new option lands where the engine (API 1.41) reads it', () => {
    const o = appCreateOptions(FULL_SPEC, 'hash', FULL, PAUSE, {}, 'api', { cgroupParent: `/awsvpcd/${ID}` });
    const b = createBody({ ...o, pidMode: `container:${PAUSE}`, ipcMode: 'none' }) as unknown as Record<string, unknown> & { HostConfig: Record<string, unknown> };
    expect(b.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'wget -qO- localhost || exit 1'], Interval: 10e9, Timeout: 3e9, Retries: 4, StartPeriod: 7e9 });
    expect(b.HostConfig.Healthcheck).toBeUndefined();
    expect(b.Tty).toBe(true);
    expect(b.OpenStdin).toBe(true);
    expect(b.User).toBe('1000:1000');
    expect(b.WorkingDir).toBe('/work');
    const h = b.HostConfig;
    expect(h.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: false },
      { Type: 'volume', Source: `awsvpcd-${ID}-scratch`, Target: '/scratch', ReadOnly: true },
      { Type: 'volume', Source: `awsvpcd-${ID}-cache`, Target: '/cache', ReadOnly: false },
      { Type: 'volume', Source: 'shared', Target: '/shared', ReadOnly: false },
    ]);
    expect(h.VolumesFrom).toEqual([`awsvpcd-${ID}-init:ro`]);
    expect(h.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    expect(h.Init).toBe(true);
    expect(h.ShmSize).toBe(64 * 1024 * 1024);
    expect(h.Tmpfs).toEqual({ '/run': 'size=16m,noexec,nosuid' });
    expect(h.Devices).toEqual([{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rw' }]);
    expect(h.Memory).toBe(256 * 1024 * 1024);
    expect(h.MemorySwap).toBe(384 * 1024 * 1024);
    expect(h.MemorySwappiness).toBe(10);
    expect(h.ReadonlyRootfs).toBe(true);
    expect(h.SecurityOpt).toEqual(['no-new-privileges']);
    expect(h.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m' } });
    expect(h.Sysctls).toEqual({ 'kernel.shmmax': '1000000' });
    expect(h.PidMode).toBe(`container:${PAUSE}`);
    expect(h.IpcMode).toBe('none');
    expect(h.CgroupParent).toBe(`/awsvpcd/${ID}`);
    expect(h.RestartPolicy).toEqual({ Name: 'no' });
  });
  test('a plain container sends none of them', () => {
    const b = createBody(appCreateOptions(FULL_SPEC, 'hash', INIT, PAUSE)) as unknown as Record<string, unknown> & { HostConfig: Record<string, unknown> };
    expect(b.Healthcheck).toBeUndefined();
    for (const k of ['Mounts', 'VolumesFrom', 'Ulimits', 'Init', 'ShmSize', 'Tmpfs', 'Devices', 'MemorySwap', 'CgroupParent', 'PidMode', 'IpcMode']) {
      expect([k, b.HostConfig[k]]).toEqual([k, undefined]);
    }
  });
});

describe('startOrder', () => {
  test('a volumesFrom source starts before the container that uses it', () => {
    const user = container({ name: 'user', volumesFrom: [{ sourceContainer: 'src', readOnly: false }] });
    const src = container({ name: 'src' });
    expect(startOrder([user, src]).map((c) => c.name)).toEqual(['src', 'user']);
  });
  test('dependsOn and volumesFrom together', () => {
    const a = container({ name: 'a', dependsOn: [{ containerName: 'b', condition: 'HEALTHY' }], volumesFrom: [{ sourceContainer: 'c', readOnly: true }] });
    const b = container({ name: 'b', volumesFrom: [{ sourceContainer: 'c', readOnly: true }] });
    const c = container({ name: 'c' });
    expect(startOrder([a, b, c]).map((x) => x.name)).toEqual(['c', 'b', 'a']);
  });
});

describe('task volumes', () => {
  test('names: awsvpcd-<taskId>-<name>; a name the engine refuses is sanitized and kept unique', () => {
    expect(taskVolumeName(ID, 'data_1.x-y')).toBe(`awsvpcd-${ID}-data_1.x-y`);
    const a = taskVolumeName(ID, 'my vol');
    const b = taskVolumeName(ID, 'my/vol');
    expect(a).toMatch(new RegExp(`^awsvpcd-${ID}-my-vol-[0-9a-f]{8}$`));
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]+$/);
  });
  test('engine names: task-scoped by task, shared as is, host volumes have none', () => {
    const vols = FULL_SPEC.volumes!;
    expect(vols.map((v) => engineVolumeName(ID, v))).toEqual([undefined, `awsvpcd-${ID}-scratch`, `awsvpcd-${ID}-cache`, 'shared']);
  });
  test("labels: a task volume carries owner, task id, managed and the task's own labels (ours win); a shared one no task or owner", () => {
    const l = taskVolumeLabels(FULL_SPEC, FULL_SPEC.volumes![2]!, { [LABEL.owner]: '/var/lib/a' });
    expect(l).toMatchObject({ team: 'a', [LABEL.owner]: '/var/lib/a', [LABEL.taskId]: ID, [LABEL.managed]: 'true', [VOLUME_LABEL.scope]: 'task', [VOLUME_LABEL.volumeName]: 'cache' });
    const sh = sharedVolumeLabels(FULL_SPEC.volumes![3] as Extract<NonNullable<TaskSpec['volumes']>[number], { kind: 'docker' }>);
    expect(sh[LABEL.taskId]).toBeUndefined();
    expect(sh[LABEL.owner]).toBeUndefined();
    expect(sh[VOLUME_LABEL.scope]).toBe('shared');
  });
});

describe('bind mount deny list', () => {
  const deny = [...DEFAULT_BIND_MOUNT_DENY_LIST, '/var/lib/awsvpcd'];
  test.each([
    ['/', '/'],
    ['/etc', '/etc'],
    ['/etc/ssl', '/etc'],
    ['/var/run', '/var/run/docker.sock'],
    ['/var', '/var/run/docker.sock'],
    ['/var/lib/awsvpcd/tasks', '/var/lib/awsvpcd'],
    ['/proc/../etc', '/etc'],
  ])('%s is denied by %s', (p, by) => expect(deniedBy(p, deny)).toBe(by));
  test.each(['/srv/data', '/var/lib/app', '/tmp/x', '/etcetera', '/devices'])('%s is allowed', (p) => expect(deniedBy(p, deny)).toBeUndefined());
  test('allowedBindMounts lifts the deny list for the path and below', () => {
    expect(deniedBy('/etc/ssl/certs', deny, ['/etc/ssl'])).toBeUndefined();
    expect(deniedBy('/etc/passwd', deny, ['/etc/ssl'])).toBe('/etc');
  });

  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'awsvpcd-bind-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  test('the real path counts: a symlink into a denied place is refused at start', async () => {
    await mkdir(path.join(dir, 'protected'));
    await symlink(path.join(dir, 'protected'), path.join(dir, 'innocent'));
    await expect(prepareBindSource(path.join(dir, 'innocent', 'sub'), [path.join(dir, 'protected')])).rejects.toThrow(/resolves to .*protected\/sub.*deny list/);
    await expect(stat(path.join(dir, 'protected', 'sub'))).rejects.toThrow(/ENOENT/);
  });
  test('a missing directory is made (0755), as the engine would, and its real path returned', async () => {
    const p = path.join(dir, 'new', 'deeper');
    expect(await prepareBindSource(p, ['/etc'])).toBe(p);
    const st = await stat(p);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o755 & ~process.umask());
  });

  /** A host where /var/run is a symlink to /run (and everything else is real and exists). */
  const varRunHost = {
    realpath: async (p: string) => (p === '/var/run' || p.startsWith('/var/run/') ? p.slice('/var'.length) : p),
    mkdir: async () => undefined,
  };
  test("a deny entry counts at its real path too: /run/docker.sock is denied by '/var/run/docker.sock' where /var/run -> /run", async () => {
    await expect(prepareBindSource('/run/docker.sock', ['/var/run/docker.sock'], [], { fs: varRunHost })).rejects.toThrow(
      "host path /run/docker.sock is on, inside or above /run/docker.sock, which the daemon's bind mount deny list protects",
    );
    await expect(prepareBindSource('/run', ['/var/run/docker.sock'], [], { fs: varRunHost })).rejects.toThrow(/above \/run\/docker.sock/);
    // And an allow entry likewise: allowing /var/run/docker.sock allows it under its real name.
    expect(await prepareBindSource('/run/docker.sock', ['/var/run/docker.sock'], ['/var/run/docker.sock'], { fs: varRunHost })).toBe('/run/docker.sock');
  });
  test("the built-in list names /run/docker.sock itself, so the validator (given paths only) refuses it too", () => {
    expect(deniedBy('/run/docker.sock', DEFAULT_BIND_MOUNT_DENY_LIST)).toBe('/run/docker.sock');
  });
  test('a host path call that hangs (NFS, FUSE) fails within the deadline with the path named', async () => {
    const hung = { realpath: () => new Promise<string>(() => undefined), mkdir: async () => undefined };
    await expect(prepareBindSource('/mnt/nfs/data', ['/etc'], [], { fs: hung, timeoutMs: 30 })).rejects.toThrow(
      'host path /mnt/nfs/data could not be checked within 30 ms (a hung network or FUSE mount?)',
    );
    expect(BIND_SOURCE_TIMEOUT_MS).toBe(10_000);
  });
});

describe('task cgroup', () => {
  test('plan: parent under the root; v1 quota = cpu * 100000 / 1024, memory in bytes', () => {
    const plan = taskCgroupPlan({ taskId: ID, cpu: 512, memory: 256 }, '/awsvpcd')!;
    expect(plan).toEqual({ parent: `/awsvpcd/${ID}`, cpuPeriodUs: 100000, cpuQuotaUs: 50000, memoryBytes: 256 * 1024 * 1024 });
    expect(taskCgroupPlan({ taskId: ID })).toBeUndefined();
    expect(taskCgroupPlan({ taskId: ID, cpu: 2 })!.cpuQuotaUs).toBe(1000); // the kernel's minimum
    expect(limitWrites(1, plan)).toEqual([
      { file: `memory/awsvpcd/${ID}/memory.limit_in_bytes`, value: String(256 * 1024 * 1024) },
      { file: `cpu/awsvpcd/${ID}/cpu.cfs_period_us`, value: '100000' },
      { file: `cpu/awsvpcd/${ID}/cpu.cfs_quota_us`, value: '50000' },
    ]);
    expect(limitWrites(2, plan)).toEqual([
      { file: `awsvpcd/${ID}/memory.max`, value: String(256 * 1024 * 1024) },
      { file: `awsvpcd/${ID}/cpu.max`, value: '50000 100000' },
    ]);
  });

  /** A cgroup fs in memory: directories and files, every change journaled. */
  function memFs(dirs: string[], opts: { readOnly?: boolean } = {}) {
    const have = new Set(dirs);
    const files = new Map<string, string>();
    const j: string[] = [];
    const fs: CgroupFs = {
      exists: async (p) => have.has(p) || files.has(p),
      writable: async (p) => have.has(p) && !opts.readOnly,
      mkdir: async (p) => void (j.push(`mkdir ${p}`), have.add(p)),
      write: async (p, v) => void (j.push(`write ${p} ${v}`), files.set(p, v)),
      read: async (p) => files.get(p) ?? '',
      rmdir: async (p) => {
        if (!have.has(p)) return;
        j.push(`rmdir ${p}`);
        have.delete(p);
      },
      list: async (p) => [...have].filter((d) => path.dirname(d) === p).map((d) => path.basename(d)),
    };
    return { fs, j, have };
  }
  const plan = taskCgroupPlan({ taskId: ID, cpu: 1024, memory: 512 })!;
  const v1 = ['/cg', '/cg/memory', '/cg/cpu', '/cg/pids', '/cg/unified'];

  test('v1 with cgroupfs: supported; create makes memory and cpu dirs and writes the limits', async () => {
    const { fs, j } = memFs(v1);
    const cg = new FsTaskCgroups({ fsRoot: '/cg', fs, engineInfo: async () => ({ cgroupDriver: 'cgroupfs', cgroupVersion: '1' }) });
    expect(await cg.support()).toMatchObject({ ok: true, version: 1 });
    await cg.create(plan);
    expect(j).toEqual([
      `mkdir /cg/memory/awsvpcd/${ID}`,
      `mkdir /cg/cpu/awsvpcd/${ID}`,
      `write /cg/memory/awsvpcd/${ID}/memory.limit_in_bytes ${512 * 1024 * 1024}`,
      `write /cg/cpu/awsvpcd/${ID}/cpu.cfs_period_us 100000`,
      `write /cg/cpu/awsvpcd/${ID}/cpu.cfs_quota_us 100000`,
    ]);
  });
  test('v1 remove: the task dir in every hierarchy the engine filled', async () => {
    const { fs, j } = memFs([...v1, `/cg/memory/awsvpcd/${ID}`, `/cg/cpu/awsvpcd/${ID}`, `/cg/pids/awsvpcd/${ID}`]);
    const cg = new FsTaskCgroups({ fsRoot: '/cg', fs, engineInfo: async () => ({}) });
    await cg.remove(plan.parent);
    expect(j.sort()).toEqual([`rmdir /cg/cpu/awsvpcd/${ID}`, `rmdir /cg/memory/awsvpcd/${ID}`, `rmdir /cg/pids/awsvpcd/${ID}`]);
  });
  test('v2: +cpu +memory handed down each level, then memory.max and cpu.max', async () => {
    const { fs, j } = memFs(['/cg']);
    await fs.write('/cg/cgroup.controllers', 'cpu memory');
    j.length = 0;
    const cg = new FsTaskCgroups({ fsRoot: '/cg', fs, engineInfo: async () => ({ cgroupDriver: 'cgroupfs', cgroupVersion: '2' }) });
    expect(await cg.support()).toMatchObject({ ok: true, version: 2 });
    await cg.create(plan);
    expect(j).toEqual([
      `mkdir /cg/awsvpcd/${ID}`,
      'write /cg/cgroup.subtree_control +cpu +memory',
      'write /cg/awsvpcd/cgroup.subtree_control +cpu +memory',
      `write /cg/awsvpcd/${ID}/cgroup.subtree_control +cpu +memory`,
      `write /cg/awsvpcd/${ID}/memory.max ${512 * 1024 * 1024}`,
      `write /cg/awsvpcd/${ID}/cpu.max 100000 100000`,
    ]);
  });
  test.each([
    ['a systemd driver', { cgroupDriver: 'systemd', cgroupVersion: '1' }, {}, /systemd cgroup driver/],
    ['a read-only cgroup fs', { cgroupDriver: 'cgroupfs', cgroupVersion: '1' }, { readOnly: true }, /not writable/],
    ['an engine on another cgroup version', { cgroupDriver: 'cgroupfs', cgroupVersion: '2' }, {}, /engine reports cgroup v2/],
  ])('not supported with %s, and says why', async (_n, info, fsOpts, why) => {
    const { fs } = memFs(v1, fsOpts);
    const cg = new FsTaskCgroups({ fsRoot: '/cg', fs, engineInfo: async () => info });
    const s = await cg.support();
    expect(s.ok).toBe(false);
    expect(!s.ok && s.why).toMatch(why);
  });
  test('no cgroup fs at all: not supported', async () => {
    const { fs } = memFs([]);
    const s = await new FsTaskCgroups({ fsRoot: '/cg', fs, engineInfo: async () => ({}) }).support();
    expect(!s.ok && s.why).toMatch(/neither a cgroup v2 tree/);
  });
});
