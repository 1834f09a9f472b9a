// The manager over a sick disk (issue 14, part 3), against in-memory fakes: admission refuses a new task with
// a 503-style error while the state directory cannot be written, and no effect runs without its intent on
// disk; a running task is never torn down for lack of disk; stops still reach STOPPED, their records kept in
// memory and written when the disk allows.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { StoreUnavailableError } from '../../agent/errors.js';
import type { TaskSpec } from '../../agent/model.js';
import { ResilientTaskStore } from '../../agent/store/resilient-task-store.js';
import { TaskManager } from '../../agent/task/task-manager.js';
import { validateTask } from '../../agent/task/validate/index.js';
import { FakeCni, FakeHostNet, FakeLinks, FakeRuntime, TEST_CONFIG, type Journal } from './fakes.js';
import { SickDisk, eventually } from './sick-disk.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };
const spec = (over: Record<string, unknown> = {}): TaskSpec => validateTask({ ...structuredClone(example), ...over }, VOPTS);
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';
const DIR = '/var/lib/awsvpcd';
const REFUSAL = `state directory ${DIR} is not writable (ENOSPC: no space left on device); no new task is taken until it is`;

const opened: ResilientTaskStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

function diskRig() {
  const journal: Journal = [];
  const disk = new SickDisk();
  const store = new ResilientTaskStore({ inner: disk, stateDir: DIR, logger: pino({ level: 'silent' }), retryFirstMs: 10, retryMaxMs: 20 });
  opened.push(store);
  const runtime = new FakeRuntime(journal);
  const links = new FakeLinks(journal);
  links.present.add(MAC);
  const hostNet = new FakeHostNet(journal);
  const manager = new TaskManager({
    store,
    runtime,
    links,
    cni: new FakeCni(journal),
    hostNet,
    logger: pino({ level: 'silent' }),
    now: Date.now,
    config: { ...TEST_CONFIG, eniReturnTimeoutMs: 30 },
  });
  return { journal, disk, store, runtime, hostNet, manager };
}
type DiskRig = ReturnType<typeof diskRig>;

async function running(r: DiskRig): Promise<void> {
  await r.manager.submit(spec(), 'api');
  await r.manager.settled(ID);
  expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
}

describe('admission on a sick disk', () => {
  test('the first save of a new task failing refuses it with a 503-style error; nothing runs, nothing is kept', async () => {
    const r = diskRig();
    r.disk.fail = 'ENOSPC';
    const err = await r.manager.submit(spec(), 'api').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: REFUSAL });
    expect(r.manager.get(ID)).toBeUndefined();
    expect(r.journal).toEqual([]); // not even the wait for the ENI
    expect(r.store.degraded()).toMatchObject({ errno: 'ENOSPC', pending: 0 });
  });

  test('while the store is degraded a new task is refused without touching the disk; once it recovers, it is taken', async () => {
    const r = diskRig();
    r.disk.fail = 'ENOSPC';
    await expect(r.manager.submit(spec(), 'api')).rejects.toBeInstanceOf(StoreUnavailableError);
    const saves = () => r.disk.attempts.filter((a) => a.startsWith('save')).length;
    const before = saves();
    await expect(r.manager.submit(spec(), 'spool')).rejects.toMatchObject({ message: REFUSAL });
    expect(saves()).toBe(before);
    r.disk.fail = undefined;
    expect(await eventually(() => r.store.degraded() === undefined)).toBe(true);
    await running(r);
    expect(r.disk.files.get(ID)!.lastStatus).toBe('RUNNING');
  });

  test('a setup whose intent cannot be saved runs no effect past it, and stops', async () => {
    const r = diskRig();
    // The disk fills just as the pause container's name (its intent) is to be saved.
    r.disk.failWhen = (rec) => rec.pause?.runtimeName !== undefined;
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(`Pause container failed to start: ${REFUSAL}`);
    expect(r.journal.some((l) => l.startsWith('create '))).toBe(false);
  });
});

describe('running tasks and stops on a sick disk', () => {
  test('a task whose RUNNING save fails is not torn down; the record is written when the disk allows', async () => {
    const r = diskRig();
    r.disk.failWhen = (rec) => rec.lastStatus === 'RUNNING';
    await running(r);
    expect(r.journal.some((l) => l.startsWith('stop ') || l.startsWith('cni DEL'))).toBe(false);
    expect(r.store.degraded()?.pending).toBe(1);
    r.disk.failWhen = undefined;
    expect(await eventually(() => r.store.degraded() === undefined)).toBe(true);
    expect(r.disk.files.get(ID)!.lastStatus).toBe('RUNNING');
  });

  test('health bookkeeping on a full disk (a container exit, the periodic check) leaves a running task RUNNING', async () => {
    const r = diskRig();
    await running(r);
    r.disk.fail = 'ENOSPC';
    const probe = r.runtime.byName(`awsvpcd-${ID}-probe`)!;
    r.runtime.exit(probe.id, 0);
    await r.manager.onContainerEvent({ action: 'die', id: probe.id, labels: probe.labels });
    await r.manager.checkAll();
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    expect(rec.containers.find((c) => c.name === 'probe')!.exitCode).toBe(0);
    expect(r.disk.attempts.some((a) => a.endsWith('!'))).toBe(true); // the bookkeeping save was tried, and refused
    expect(r.store.degraded()?.pending).toBe(1);
  });

  test('a stop on a read-only disk reaches STOPPED and releases everything; the record follows when the disk allows', async () => {
    const r = diskRig();
    await running(r);
    r.disk.fail = 'EROFS';
    const stopped = await r.manager.stop(ID, 'Task stopped by user');
    expect(stopped.desiredStatus).toBe('STOPPED');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.runtime.containers.size).toBe(0);
    expect(r.hostNet.pinned.size).toBe(0);
    expect(r.manager.needsCleanup(rec)).toBe(false);
    // On disk: still the RUNNING record, whole; the STOPPED one waits in memory.
    expect(r.disk.files.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.store.degraded()).toMatchObject({ errno: 'EROFS', pending: 1 });
    await r.manager.eniSettled(ID);
    r.disk.fail = undefined;
    expect(await eventually(() => r.store.degraded() === undefined)).toBe(true);
    expect(r.disk.files.get(ID)).toMatchObject({ lastStatus: 'STOPPED', version: r.manager.get(ID)!.version, stoppedReason: 'Task stopped by user' });
  });
});
