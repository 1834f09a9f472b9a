// The provisioner's and teardown's host steps for task-definition tasks, against the fakes: task volumes
// (made before the containers, removed after them, found by label after a crash), shared volumes, bind
// sources on their real path, the task cgroup, dependsOn with the target's startTimeout, health status.
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { LABEL } from '../../agent/docker/container-config.js';
import { VOLUME_LABEL, taskVolumeName } from '../../agent/docker/volumes.js';
import type { ContainerSpec, TaskSpec, VolumeSpec } from '../../agent/model.js';
import { Reconciler } from '../../agent/task/reconciler.js';
import { HAND_TASK_ID as ID, container, taskSpec } from '../support/hand-spec.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import { rig } from './fakes.js';

const MAC = '0a:58:a9:fe:ac:10';
const OWNER = { [LABEL.owner]: '/var/lib/a' };
const PAUSE = `awsvpcd-${ID}-internalecspause`;
const SCRATCH = taskVolumeName(ID, 'scratch');
const CACHE = taskVolumeName(ID, 'cache');

type Rig = ReturnType<typeof rig>;

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'awsvpcd-vol-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function dockerVol(name: string, scope: 'task' | 'shared', autoprovision = false): VolumeSpec {
  return { name, kind: 'docker', scope, autoprovision, driver: 'local', driverOpts: {}, labels: { team: 'a' } };
}

/** Two containers sharing a bind mount and a scratch volume, one task-scoped docker volume, task limits. */
function volumeTask(hostDir: string, over: Partial<TaskSpec> = {}, extra: ContainerSpec[] = []): TaskSpec {
  const mounts = [
    { sourceVolume: 'data', containerPath: '/data', readOnly: false },
    { sourceVolume: 'scratch', containerPath: '/scratch', readOnly: false },
  ];
  return taskSpec(
    [
      container({ name: 'writer', mountPoints: [...mounts, { sourceVolume: 'cache', containerPath: '/cache', readOnly: false }] }),
      container({ name: 'reader', essential: false, mountPoints: mounts }),
      ...extra,
    ],
    {
      volumes: [{ name: 'data', kind: 'host', sourcePath: hostDir }, { name: 'scratch', kind: 'scratch' }, dockerVol('cache', 'task')],
      cpu: 512,
      memory: 512,
      ...over,
    },
  );
}

async function submitted(r: Rig, s: TaskSpec): Promise<Rig> {
  r.links.present.add(MAC);
  await r.manager.submit(s, 'api');
  await r.manager.settled(s.taskId);
  return r;
}

async function stopped(r: Rig) {
  await r.manager.stop(ID, 'Task stopped by user');
  await r.manager.settled(ID);
  return r.manager.get(ID)!;
}

describe('task volumes', () => {
  test('made before the pause container, labelled for the task; a missing bind source is made; containers mount them', async () => {
    const hostDir = path.join(tmp, 'made', 'data');
    const r = await submitted(rig({ ownerLabels: OWNER }, undefined, { withCgroups: true }), volumeTask(hostDir));
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    const firstPause = r.journal.indexOf(`create ${PAUSE}`);
    expect(r.journal.indexOf(`volume create ${SCRATCH}`)).toBeLessThan(firstPause);
    expect(r.journal.indexOf(`volume create ${CACHE}`)).toBeLessThan(firstPause);
    expect(r.journal.indexOf(`cgroup create /awsvpcd/${ID}`)).toBeLessThan(firstPause);
    expect(r.runtime.volumes.get(CACHE)!.labels).toMatchObject({ team: 'a', [LABEL.taskId]: ID, [LABEL.owner]: '/var/lib/a', [VOLUME_LABEL.scope]: 'task' });
    expect(rec.volumes).toEqual([{ name: 'scratch', engineName: SCRATCH }, { name: 'cache', engineName: CACHE }]);
    expect((await stat(hostDir)).isDirectory()).toBe(true);
    const reader = r.runtime.byName(`awsvpcd-${ID}-reader`)!;
    expect(reader.opts.mounts).toEqual([
      { type: 'bind', source: hostDir, target: '/data', readOnly: false },
      { type: 'volume', source: SCRATCH, target: '/scratch', readOnly: false },
    ]);
  });

  test('teardown removes them after every container, then the record needs nothing more', async () => {
    const r = await submitted(rig({ ownerLabels: OWNER }, undefined, { withCgroups: true }), volumeTask(path.join(tmp, 'td')));
    const rec = await stopped(r);
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.cleanupErrors).toEqual([]);
    const lastContainer = r.journal.lastIndexOf(`remove ${PAUSE}`);
    expect(r.journal.indexOf(`volume remove ${SCRATCH}`)).toBeGreaterThan(lastContainer);
    expect(r.journal.indexOf(`volume remove ${CACHE}`)).toBeGreaterThan(lastContainer);
    expect(r.journal.indexOf(`cgroup remove /awsvpcd/${ID}`)).toBeGreaterThan(r.journal.indexOf(`volume remove ${CACHE}`));
    expect(r.runtime.volumes.size).toBe(0);
    expect(r.taskCgroups!.made.size).toBe(0);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('a volume the engine will not remove is a cleanup error, retried until it goes', async () => {
    const r = await submitted(rig({ ownerLabels: OWNER }), volumeTask(path.join(tmp, 'retry')));
    r.runtime.failRemoveVolume.add(SCRATCH);
    let rec = await stopped(r);
    expect(rec.cleanupErrors).toEqual([expect.stringContaining(`volume ${SCRATCH}: docker volume remove ${SCRATCH}: volume is in use`)]);
    expect(r.manager.needsCleanup(rec)).toBe(true);
    r.runtime.failRemoveVolume.clear();
    await r.manager.checkAll();
    await r.manager.settled(ID);
    rec = r.manager.get(ID)!;
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.runtime.volumes.size).toBe(0);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('retries are bounded by cleanupMaxAttempts', async () => {
    const r = await submitted(rig({ ownerLabels: OWNER, cleanupMaxAttempts: 2 }), volumeTask(path.join(tmp, 'bounded')));
    r.runtime.failRemoveVolume.add(CACHE);
    await stopped(r);
    for (let i = 0; i < 4; i++) {
      await r.manager.checkAll();
      await r.manager.settled(ID);
    }
    const rec = r.manager.get(ID)!;
    expect(r.journal.filter((l) => l === `volume remove ${CACHE}`)).toHaveLength(2);
    expect(rec.cleanupAbandoned).toContain(`volume ${CACHE}`);
  });

  test('found by label when the record does not name them (a crash between the create and the save)', async () => {
    const r = await submitted(rig({ ownerLabels: OWNER }), volumeTask(path.join(tmp, 'crash')));
    delete r.manager.get(ID)!.volumes;
    const rec = await stopped(r);
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.runtime.volumes.size).toBe(0);
  });

  test("a name already taken by a volume that is not this task's fails the task and stays untouched", async () => {
    const r = rig({ ownerLabels: OWNER });
    await r.runtime.createVolume({ name: SCRATCH, labels: { someone: 'else' } });
    await submitted(r, volumeTask(path.join(tmp, 'taken')));
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(`Volume scratch: the engine already has a volume named ${SCRATCH} that is not this task's`);
    expect(r.runtime.volumes.get(SCRATCH)!.labels).toEqual({ someone: 'else' });
    expect(r.journal).not.toContain(`create ${PAUSE}`);
  });
});

describe('shared volumes', () => {
  const sharedTask = (v: VolumeSpec): TaskSpec =>
    taskSpec([container({ mountPoints: [{ sourceVolume: v.name, containerPath: '/s', readOnly: true }] })], { volumes: [v] });

  test('missing and not autoprovisioned: the task fails with a reason that says what to do, nothing is started', async () => {
    const r = await submitted(rig(), sharedTask(dockerVol('pgdata', 'shared')));
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Volume pgdata: shared Docker volume pgdata does not exist and autoprovision is false: create it first (docker volume create pgdata)');
    expect(r.journal.some((l) => l.startsWith('create '))).toBe(false);
  });

  test('missing and autoprovisioned: made without task id or owner, and outlives the task', async () => {
    const r = await submitted(rig({ ownerLabels: OWNER }), sharedTask(dockerVol('pgdata', 'shared', true)));
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const v = r.runtime.volumes.get('pgdata')!;
    expect(v.labels[LABEL.taskId]).toBeUndefined();
    expect(v.labels[VOLUME_LABEL.scope]).toBe('shared');
    expect(r.runtime.byName(`awsvpcd-${ID}-app`)!.opts.mounts).toEqual([{ type: 'volume', source: 'pgdata', target: '/s', readOnly: true }]);
    await stopped(r);
    expect(r.runtime.volumes.has('pgdata')).toBe(true);
  });

  test('present: used as it is', async () => {
    const r = rig();
    await r.runtime.createVolume({ name: 'pgdata', labels: {} });
    r.journal.length = 0;
    await submitted(r, sharedTask(dockerVol('pgdata', 'shared')));
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.journal.filter((l) => l.startsWith('volume'))).toEqual([]);
  });
});

describe('a spec the mapping cannot express', () => {
  test('a mountPoint naming no task volume fails that container by name, not the daemon', async () => {
    const spec = taskSpec([container({ mountPoints: [{ sourceVolume: 'nope', containerPath: '/x', readOnly: false }] })]);
    const r = await submitted(rig(), spec);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Container app failed to start: container app: mountPoints sourceVolume nope is not a task volume');
  });
});

describe('bind sources at start', () => {
  test('a path that now leads into the deny list (a symlink placed after validation) fails the task before anything starts', async () => {
    const protectedDir = path.join(tmp, 'protected');
    await mkdir(protectedDir);
    await symlink(protectedDir, path.join(tmp, 'link'));
    const r = await submitted(rig({ bindMountDenyList: [protectedDir] }), volumeTask(path.join(tmp, 'link', 'x')));
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toMatch(/^Volume data: host path .*link\/x \(it resolves to .*protected\/x\) is on, inside or above .*protected, which the daemon's bind mount deny list protects$/);
    expect(r.journal.some((l) => l.startsWith('create '))).toBe(false);
  });

  /** A task whose bind source goes through `link`, which is re-pointed at `to` once the pause container is made. */
  async function swappedAfterPause(name: string, to: 'protected' | 'other') {
    const base = path.join(tmp, name);
    await mkdir(path.join(base, 'ok'), { recursive: true });
    await mkdir(path.join(base, 'protected'));
    await mkdir(path.join(base, 'other'));
    const link = path.join(base, 'link');
    await symlink(path.join(base, 'ok'), link);
    const r = rig({ bindMountDenyList: [path.join(base, 'protected')] });
    const create = r.runtime.create.bind(r.runtime);
    r.runtime.create = async (o) => {
      const id = await create(o);
      if (o.name === PAUSE) {
        await rm(link);
        await symlink(path.join(base, to), link);
      }
      return id;
    };
    return { base, r: await submitted(r, volumeTask(path.join(link, 'x'))) };
  }

  test('checked again right before each container that mounts it is created: a symlink swapped after the early check fails the task', async () => {
    const { r } = await swappedAfterPause('late', 'protected');
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    // writer and reader both mount it and are created side by side: whichever create checks first names the failure.
    expect(rec.stoppedReason).toMatch(/^Container (writer|reader) failed to start: Volume data: host path .*link\/x \(it resolves to .*protected\/x\) is on, inside or above .*protected, which the daemon's bind mount deny list protects$/);
    expect(r.journal.filter((l) => l.startsWith('create '))).toEqual([`create ${PAUSE}`]);
  });

  test('the container mounts the real path found right before its create, not the early one', async () => {
    const { base, r } = await swappedAfterPause('moved', 'other');
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const apps = [...r.runtime.containers.values()].filter((c) => c.opts.name !== PAUSE);
    expect(apps.map((c) => c.opts.mounts!.find((m) => m.target === '/data')!.source)).toEqual([path.join(base, 'other', 'x'), path.join(base, 'other', 'x')]);
  });

  test('allowedBindMounts lets an operator open a denied path', async () => {
    const dir = path.join(tmp, 'allowed');
    const r = await submitted(rig({ bindMountDenyList: [tmp], allowedBindMounts: [dir] }), volumeTask(dir));
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
  });
});

describe('task cgroup', () => {
  test('every container of the task, pause included, gets the task cgroup as parent', async () => {
    const r = await submitted(rig({ taskCgroupRoot: '/limits' }, undefined, { withCgroups: true }), volumeTask(path.join(tmp, 'cg')));
    const rec = r.manager.get(ID)!;
    expect(rec.taskCgroup).toEqual({ parent: `/limits/${ID}` });
    expect([...r.runtime.containers.values()].map((c) => c.opts.cgroupParent)).toEqual([`/limits/${ID}`, `/limits/${ID}`, `/limits/${ID}`]);
    expect(r.taskCgroups!.made.get(`/limits/${ID}`)).toMatchObject({ cpuQuotaUs: 50000, memoryBytes: 512 * 1024 * 1024 });
  });

  test('not supported here: the task runs without a parent and its record says why', async () => {
    const r = rig({}, undefined, { withCgroups: true });
    r.taskCgroups!.supported = { ok: false, why: 'the engine uses the systemd cgroup driver' };
    await submitted(r, volumeTask(path.join(tmp, 'nocg')));
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    expect(rec.taskCgroup).toBeUndefined();
    expect(rec.runtimeWarnings).toEqual([
      "Task-level limits (cpu 512, memory 512 MiB) are not applied: the engine uses the systemd cgroup driver; each container's own limits still apply.",
    ]);
    expect([...r.runtime.containers.values()].every((c) => c.opts.cgroupParent === undefined)).toBe(true);
  });

  test('a daemon without cgroup support says so too', async () => {
    const r = await submitted(rig(), volumeTask(path.join(tmp, 'nodep')));
    expect(r.manager.get(ID)!.runtimeWarnings![0]).toMatch(/not applied: this daemon was started without task cgroup support/);
  });

  test('a setup carried forward by a daemon without cgroup support, whose record says the cgroup was made: a clear failure, not a TypeError', async () => {
    const store = new MemoryTaskStore();
    const first = rig({}, store, { withCgroups: true });
    first.links.present.add(MAC);
    // The first daemon "dies" inside the ENI ADD, after its host steps and pause container.
    const realAdd = first.cni.add.bind(first.cni);
    let atAdd!: () => void;
    const reached = new Promise<void>((r) => (atAdd = r));
    first.cni.add = async (call, o) => {
      if (call.plugin !== 'host-device') return realAdd(call, o);
      atAdd();
      return new Promise(() => undefined);
    };
    await first.manager.submit(volumeTask(path.join(tmp, 'cg-lost')), 'api');
    // Waited for, not timed: on a loaded machine the steps before the ADD may take longer than any fixed pause.
    await reached;
    const saved = (await store.load()).records[0]!;
    expect(saved.taskCgroup).toEqual({ parent: `/awsvpcd/${ID}` });

    const second = rig({}, store);
    for (const [id, c] of first.runtime.containers) second.runtime.containers.set(id, c);
    for (const [k, v] of first.runtime.volumes) second.runtime.volumes.set(k, v);
    const pid = [...first.runtime.containers.values()].find((c) => c.name === PAUSE)!.pid;
    await second.hostNet.pinNetns(pid, ID);
    second.links.present.add(MAC); // the ADD never moved it: carried forward
    second.manager.adopt(saved);
    await second.manager.settled(ID);
    const rec = second.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(
      `Task cgroup /awsvpcd/${ID} was made by an earlier attempt, but this daemon runs without task cgroup support: it cannot set it up again (restart the daemon with task cgroup support, or run the task again)`,
    );
  });

  test('no task cpu/memory: no cgroup, no warning', async () => {
    const r = await submitted(rig({}, undefined, { withCgroups: true }), volumeTask(path.join(tmp, 'nolimits'), { cpu: undefined, memory: undefined }));
    const rec = r.manager.get(ID)!;
    expect(rec.taskCgroup).toBeUndefined();
    expect(rec.runtimeWarnings).toBeUndefined();
    expect(r.journal.some((l) => l.startsWith('cgroup'))).toBe(false);
  });

  test('a cgroup still busy at teardown is retried', async () => {
    const r = await submitted(rig({}, undefined, { withCgroups: true }), volumeTask(path.join(tmp, 'busy')));
    r.taskCgroups!.failRemove.push(new Error('rmdir: Device or resource busy'));
    let rec = await stopped(r);
    expect(rec.cleanupErrors).toEqual([`task cgroup /awsvpcd/${ID}: rmdir: Device or resource busy`]);
    await r.manager.checkAll();
    await r.manager.settled(ID);
    rec = r.manager.get(ID)!;
    expect(rec.cleanupErrors).toEqual([]);
    expect(rec.taskCgroup).toEqual({ parent: `/awsvpcd/${ID}`, removed: true });
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });
});

describe('reconciliation of task volumes', () => {
  test("this daemon's volume of a task it does not know is removed; another owner's and shared ones are not", async () => {
    const r = rig({ ownerLabels: OWNER });
    await r.runtime.createVolume({ name: 'orphan', labels: { ...OWNER, [LABEL.managed]: 'true', [LABEL.taskId]: 'gone', [VOLUME_LABEL.scope]: 'task' } });
    await r.runtime.createVolume({ name: 'theirs', labels: { [LABEL.owner]: '/var/lib/b', [LABEL.managed]: 'true', [LABEL.taskId]: 'x', [VOLUME_LABEL.scope]: 'task' } });
    await r.runtime.createVolume({ name: 'pgdata', labels: { [LABEL.managed]: 'true', [VOLUME_LABEL.scope]: 'shared' } });
    const rc = new Reconciler({ manager: r.manager, runtime: r.runtime, hostNet: r.hostNet, store: r.store, logger: pino({ level: 'silent' }), now: Date.now, owner: '/var/lib/a' });
    expect(await rc.plan()).toEqual([{ kind: 'remove-volume', taskId: 'gone', name: 'orphan', reason: 'task volume with no task' }]);
    // Outside start-up an orphan must be seen twice before it is touched.
    await rc.run({ immediate: false });
    expect(r.runtime.volumes.has('orphan')).toBe(true);
    await rc.run({ immediate: false });
    expect([...r.runtime.volumes.keys()].sort()).toEqual(['pgdata', 'theirs']);
  });

  test('the volumes of a known task are its own', async () => {
    const r = await submitted(rig({ ownerLabels: OWNER }), volumeTask(path.join(tmp, 'known')));
    const rc = new Reconciler({ manager: r.manager, runtime: r.runtime, hostNet: r.hostNet, store: r.store, logger: pino({ level: 'silent' }), now: Date.now, owner: '/var/lib/a' });
    expect(await rc.plan()).toEqual([]);
  });
});

describe('dependsOn and health', () => {
  const healthy = { command: ['CMD', 'true'], intervalSec: 5, timeoutSec: 2, retries: 1, startPeriodSec: 0 };

  test("the wait lasts the target's startTimeout, not the daemon's default", async () => {
    const spec = taskSpec([
      container({ name: 'db', essential: false, healthCheck: healthy, startTimeout: 1 }),
      container({ name: 'web', dependsOn: [{ containerName: 'db', condition: 'HEALTHY' }] }),
    ]);
    const started = Date.now();
    const r = await submitted(rig({ dependencyTimeoutMs: 60_000 }), spec);
    const rec = r.manager.get(ID)!;
    expect(rec.stoppedReason).toBe('Container web: dependency db did not reach HEALTHY within 1000 ms');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(rec.containers.find((c) => c.name === 'db')!.healthStatus).toBe('UNKNOWN');
  });

  test('HEALTHY met from the engine health status, which the record keeps and follows', async () => {
    const spec = taskSpec([
      container({ name: 'db', essential: false, healthCheck: healthy }),
      container({ name: 'web', dependsOn: [{ containerName: 'db', condition: 'HEALTHY' }] }),
    ]);
    const r = rig();
    const origStart = r.runtime.start.bind(r.runtime);
    r.runtime.start = async (id: string) => {
      await origStart(id);
      const c = r.runtime.containers.get(id)!;
      if (c.name.endsWith('-db')) c.health = 'healthy';
    };
    await submitted(r, spec);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    const db = rec.containers.find((c) => c.name === 'db')!;
    expect(db.healthStatus).toBe('HEALTHY');
    r.runtime.byName(`awsvpcd-${ID}-db`)!.health = 'unhealthy';
    await r.manager.checkAll();
    expect(r.manager.get(ID)!.containers.find((c) => c.name === 'db')!.healthStatus).toBe('UNHEALTHY');
    expect(rec.containers.find((c) => c.name === 'web')!.healthStatus).toBeUndefined();
  });
});

describe('a setup interrupted after the host steps', () => {
  test('rolled back (volumes and cgroup removed), set up again, and the record names them again so the stop removes them', async () => {
    const store = new MemoryTaskStore();
    const first = rig({ ownerLabels: OWNER }, store, { withCgroups: true });
    first.links.present.add(MAC);
    // The first daemon "dies" creating the pause container: its promise never settles.
    let atCreate!: () => void;
    const reached = new Promise<void>((r) => (atCreate = r));
    first.runtime.create = () => {
      atCreate();
      return new Promise(() => undefined);
    };
    await first.manager.submit(volumeTask(path.join(tmp, 'interrupted')), 'api');
    // Waited for, not timed: on a loaded machine the host steps may take longer than any fixed pause.
    await reached;
    const saved = (await store.load()).records[0]!;
    expect(saved.volumes).toEqual([{ name: 'scratch', engineName: SCRATCH }, { name: 'cache', engineName: CACHE }]);
    expect(saved.taskCgroup).toEqual({ parent: `/awsvpcd/${ID}` });

    const second = rig({ ownerLabels: OWNER }, store, { withCgroups: true });
    for (const [k, v] of first.runtime.volumes) second.runtime.volumes.set(k, v);
    second.links.present.add(MAC);
    second.manager.adopt(saved);
    await second.manager.settled(ID);
    const rec = second.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    const j = second.journal;
    expect(j.indexOf(`volume remove ${SCRATCH}`)).toBeLessThan(j.lastIndexOf(`volume create ${SCRATCH}`));
    expect(j.indexOf(`cgroup remove /awsvpcd/${ID}`)).toBeLessThan(j.lastIndexOf(`cgroup create /awsvpcd/${ID}`));
    expect(rec.volumes!.every((v) => !v.removed)).toBe(true);
    expect(rec.taskCgroup).toEqual({ parent: `/awsvpcd/${ID}` });

    const done = await stopped(second);
    expect(done.cleanupErrors).toEqual([]);
    expect(second.runtime.volumes.size).toBe(0);
    expect(second.taskCgroups!.made.size).toBe(0);
    expect(second.manager.needsCleanup(done)).toBe(false);
  });
});
