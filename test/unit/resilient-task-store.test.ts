// The task store over a sick disk (issue 14, part 3): which errnos count, the strict and the deferred save,
// retries with bounded backoff, the probe that notices recovery by itself, and the file store's atomic write
// leaving no torn record or temp file when the disk fails mid-write.
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { StoreUnavailableError } from '../../agent/errors.js';
import type { TaskRecord } from '../../agent/model.js';
import { FileTaskStore } from '../../agent/store/file-task-store.js';
import { ResilientTaskStore, diskErrno, retryDelayMs } from '../../agent/store/resilient-task-store.js';
import { SickDisk, eventually, fsError } from './sick-disk.js';

const DIR = '/var/lib/awsvpcd';
const rec = (taskId: string, version: number, lastStatus = 'RUNNING'): TaskRecord => ({ spec: { taskId }, version, lastStatus }) as unknown as TaskRecord;

/** A log that keeps its lines' messages, to see what an operator would read. */
function memoryLog() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, msgs: () => lines.map((l) => l.msg) };
}

function rigStore(o: { firstMs?: number; maxMs?: number } = {}) {
  const disk = new SickDisk();
  const log = memoryLog();
  const failed: string[] = [];
  const store = new ResilientTaskStore({
    inner: disk,
    stateDir: DIR,
    logger: log.logger,
    retryFirstMs: o.firstMs ?? 10,
    retryMaxMs: o.maxMs ?? 40,
    metrics: { storeSaveFailed: (errno) => void failed.push(errno) },
  });
  return { disk, store, log, failed };
}

const stores: ResilientTaskStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});
function tracked<T extends { store: ResilientTaskStore }>(r: T): T {
  stores.push(r.store);
  return r;
}

describe('which failures mean a sick disk', () => {
  test('ENOSPC, EROFS, EIO and EDQUOT (also as Node 20 reports it: UNKNOWN, errno -122); nothing else', () => {
    for (const code of ['ENOSPC', 'EROFS', 'EIO', 'EDQUOT']) expect(diskErrno(fsError(code))).toBe(code);
    expect(fsError('EDQUOT').code).toBe('UNKNOWN');
    for (const code of ['EACCES', 'ENOENT', 'EPERM']) expect(diskErrno(fsError(code))).toBeUndefined();
    expect(diskErrno(new Error('unsafe task id'))).toBeUndefined();
    expect(diskErrno(undefined)).toBeUndefined();
  });

  test('retry backoff: 1 s doubling to 30 s, and no further', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((n) => retryDelayMs(n))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});

describe('ResilientTaskStore', () => {
  test('a strict save on a full disk throws a 503-style error naming the directory and the errno, keeps nothing, and marks the store degraded', async () => {
    const { disk, store, log, failed } = tracked(rigStore());
    disk.fail = 'ENOSPC';
    const err = await store.save(rec('t1', 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({
      code: 'UNAVAILABLE',
      stateDir: DIR,
      errno: 'ENOSPC',
      message: 'state directory /var/lib/awsvpcd is not writable (ENOSPC: no space left on device); no new task is taken until it is',
    });
    expect((err as Error).cause).toMatchObject({ code: 'ENOSPC' });
    expect(store.degraded()).toMatchObject({ stateDir: DIR, errno: 'ENOSPC', detail: 'no space left on device', pending: 0 });
    expect(Date.parse(store.degraded()!.since)).toBeGreaterThan(0);
    expect(failed).toEqual(['ENOSPC']);
    expect(log.msgs().filter((m) => m.startsWith('state directory not writable'))).toHaveLength(1);
    // Nothing kept: once the disk heals, the probe (not a save of t1) notices it.
    disk.fail = undefined;
    expect(await eventually(() => store.degraded() === undefined)).toBe(true);
    expect(disk.files.has('t1')).toBe(false);
    expect(disk.attempts.filter((a) => a.startsWith('save'))).toEqual(['save t1 v1 RUNNING !']);
    expect(disk.attempts).toContain('probe');
    expect(log.msgs()).toContain('state directory writable again; new tasks are taken');
  });

  test('a deferred save on a read-only disk resolves, keeps the latest version, and writes it when the disk allows', async () => {
    const { disk, store, log } = tracked(rigStore());
    disk.files.set('t1', rec('t1', 1));
    disk.fail = 'EROFS';
    await store.saveWhenPossible(rec('t1', 2, 'DEPROVISIONING'));
    await store.saveWhenPossible(rec('t1', 3, 'STOPPED'));
    expect(store.degraded()).toMatchObject({ errno: 'EROFS', detail: 'read-only file system', pending: 1 });
    expect(disk.files.get('t1')!.version).toBe(1); // the old record, whole
    // Retries fail while the disk is read-only, with growing waits (10, 20, 40, 40 ms here).
    await new Promise((r) => setTimeout(r, 120));
    const retries = disk.attempts.filter((a) => a === 'save t1 v3 STOPPED !').length;
    expect(retries).toBeGreaterThanOrEqual(3);
    expect(disk.attempts).not.toContain('save t1 v2 DEPROVISIONING'); // an older version is never retried
    disk.fail = undefined;
    expect(await eventually(() => store.degraded() === undefined)).toBe(true);
    expect(disk.files.get('t1')).toMatchObject({ version: 3, lastStatus: 'STOPPED' });
    expect(log.msgs()).toContain('state directory writable again; new tasks are taken');
  });

  test('the kept version is a copy: what the caller changes afterwards is not written under that version', async () => {
    const { disk, store } = tracked(rigStore());
    disk.fail = 'EIO';
    const r = rec('t1', 5, 'STOPPED');
    await store.saveWhenPossible(r);
    r.lastStatus = 'RUNNING';
    disk.fail = undefined;
    expect(await eventually(() => disk.files.has('t1'))).toBe(true);
    expect(disk.files.get('t1')!.lastStatus).toBe('STOPPED');
  });

  test('with nothing kept, probes with bounded backoff until the disk takes writes, then clears the state once', async () => {
    const { disk, store, log } = tracked(rigStore({ firstMs: 5, maxMs: 20 }));
    disk.fail = 'EDQUOT';
    await expect(store.save(rec('t1', 1))).rejects.toMatchObject({ errno: 'EDQUOT', message: expect.stringContaining('(EDQUOT: disk quota exceeded)') });
    await new Promise((r) => setTimeout(r, 150));
    const probes = disk.attempts.filter((a) => a === 'probe !').length;
    // 5, 10, 20, 20, ... ms: about 8 in 150 ms; never the unbounded doubling's 4, nor a busy loop.
    expect(probes).toBeGreaterThanOrEqual(4);
    expect(probes).toBeLessThan(20);
    expect(store.degraded()).toBeDefined();
    disk.fail = undefined;
    expect(await eventually(() => store.degraded() === undefined)).toBe(true);
    const after = disk.attempts.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(disk.attempts.length).toBe(after); // recovered: no more probes
    expect(log.msgs().filter((m) => m === 'state directory writable again; new tasks are taken')).toHaveLength(1);
  });

  test('a kept version never overwrites a newer save that reached the disk', async () => {
    const { disk, store } = tracked(rigStore({ firstMs: 30, maxMs: 30 }));
    disk.fail = 'ENOSPC';
    await store.saveWhenPossible(rec('t1', 2));
    disk.fail = undefined;
    await store.save(rec('t1', 3, 'STOPPED')); // before the retry's timer fires
    expect(store.degraded()).toBeUndefined();
    await new Promise((r) => setTimeout(r, 80));
    expect(disk.files.get('t1')).toMatchObject({ version: 3, lastStatus: 'STOPPED' });
    expect(disk.attempts.filter((a) => a.startsWith('save t1 v2'))).toEqual(['save t1 v2 RUNNING !']);
  });

  test('a removal the disk refuses is kept too: an older kept version never brings the record back', async () => {
    const { disk, store } = tracked(rigStore());
    disk.files.set('t1', rec('t1', 1));
    disk.fail = 'EROFS';
    await store.saveWhenPossible(rec('t1', 2, 'STOPPED'));
    await store.remove('t1');
    expect(store.degraded()?.pending).toBe(1);
    disk.fail = undefined;
    expect(await eventually(() => store.degraded() === undefined)).toBe(true);
    expect(disk.files.has('t1')).toBe(false);
    expect(disk.attempts).not.toContain('save t1 v2 STOPPED');
  });

  test('a retry pass never writes a kept version that a save or a removal made out of date while the pass ran', async () => {
    const { disk, store } = tracked(rigStore({ firstMs: 10, maxMs: 10 }));
    disk.fail = 'ENOSPC';
    await store.saveWhenPossible(rec('a', 2));
    await store.saveWhenPossible(rec('b', 2));
    let release!: () => void;
    disk.hold.set('a', new Promise<void>((r) => (release = r)));
    disk.fail = undefined;
    // The pass writes a's kept version first, slowly; meanwhile b is stopped and forgotten.
    expect(await eventually(() => disk.held.has('a'))).toBe(true);
    await store.saveWhenPossible(rec('b', 3, 'STOPPED'));
    await store.remove('b');
    disk.hold.delete('a');
    release();
    expect(await eventually(() => store.degraded() === undefined)).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(disk.files.has('b')).toBe(false); // not brought back by the pass's stale list
    expect(disk.attempts.filter((x) => x.startsWith('save b'))).toEqual(['save b v2 RUNNING !', 'save b v3 STOPPED']);
    expect(disk.files.get('a')).toMatchObject({ version: 2 });
  });

  test('a failure that is not the disk throws as it is and does not mark the store degraded', async () => {
    const { disk, store, failed } = tracked(rigStore());
    disk.fail = 'EACCES';
    await expect(store.save(rec('t1', 1))).rejects.toMatchObject({ code: 'EACCES' });
    await expect(store.saveWhenPossible(rec('t1', 2))).rejects.toMatchObject({ code: 'EACCES' });
    expect(store.degraded()).toBeUndefined();
    expect(failed).toEqual(['OTHER', 'OTHER']);
  });

  test('close() makes one last attempt at what is kept and names what is still unwritten', async () => {
    const { disk, store, log } = rigStore({ firstMs: 60_000, maxMs: 60_000 });
    disk.fail = 'ENOSPC';
    await store.saveWhenPossible(rec('t1', 2));
    await store.saveWhenPossible(rec('t2', 2));
    await store.close();
    expect(log.msgs()).toContain('task records kept in memory were never written: the disk did not allow it');
    const healed = rigStore({ firstMs: 60_000, maxMs: 60_000 });
    healed.disk.fail = 'ENOSPC';
    await healed.store.saveWhenPossible(rec('t1', 2));
    healed.disk.fail = undefined;
    await healed.store.close();
    expect(healed.disk.files.get('t1')!.version).toBe(2);
  });
});

describe('FileTaskStore on a disk that fails mid-write', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'awsvpcd-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const silent = pino({ level: 'silent' });
  const real = { ...rec('t1', 1), spec: { taskId: 't1' } } as TaskRecord;

  /** An open() whose handle fails like a disk filling up: half the data written, then ENOSPC (or a failing fsync). */
  const failingOpen = (how: 'write' | 'sync') =>
    (async (file: string, flags: string, mode: number) => {
      const fh = await open(file, flags, mode);
      return {
        writeFile: async (data: string) => {
          if (how === 'write') {
            await fh.writeFile(data.slice(0, Math.floor(data.length / 2)));
            throw fsError('ENOSPC');
          }
          await fh.writeFile(data);
        },
        sync: async () => {
          if (how === 'sync') throw fsError('EIO', 'fsync');
          await fh.sync();
        },
        close: () => fh.close(),
      } as unknown as FileHandle;
    }) as unknown as typeof open;

  for (const how of ['write', 'sync'] as const) {
    test(`a ${how} that fails leaves the previous record whole and no temp file`, async () => {
      await new FileTaskStore({ stateDir: dir, logger: silent }).save(real);
      const before = await readFile(path.join(dir, 'tasks', 't1.json'), 'utf8');
      const sick = new FileTaskStore({ stateDir: dir, logger: silent, ops: { open: failingOpen(how) } });
      await expect(sick.save({ ...real, version: 2, lastStatus: 'STOPPED' } as TaskRecord)).rejects.toMatchObject({ code: how === 'write' ? 'ENOSPC' : 'EIO' });
      expect(await readdir(path.join(dir, 'tasks'))).toEqual(['t1.json']);
      expect(await readFile(path.join(dir, 'tasks', 't1.json'), 'utf8')).toBe(before);
      expect(JSON.parse(before).version).toBe(1);
    });
  }

  test('a rename that fails (read-only) removes the temp file; a new record that never reached the disk is not there', async () => {
    const sick = new FileTaskStore({
      stateDir: dir,
      logger: silent,
      ops: { rename: async () => Promise.reject(fsError('EROFS', 'rename')) },
    });
    await expect(sick.save(real)).rejects.toMatchObject({ code: 'EROFS' });
    expect(await readdir(path.join(dir, 'tasks'))).toEqual([]);
    expect((await new FileTaskStore({ stateDir: dir, logger: silent }).load()).records).toEqual([]);
  });

  test('the probe writes atomically and leaves nothing; load() never takes it for a record', async () => {
    const store = new FileTaskStore({ stateDir: dir, logger: silent });
    await store.save(real);
    await store.probe();
    expect(await readdir(path.join(dir, 'tasks'))).toEqual(['t1.json']);
    await writeFile(path.join(dir, 'tasks', '.probe'), 'left by a crash\n');
    const { records, corrupt } = await store.load();
    expect(records.map((r) => r.spec.taskId)).toEqual(['t1']);
    expect(corrupt).toEqual([]);
    const sick = new FileTaskStore({ stateDir: dir, logger: silent, ops: { open: failingOpen('write') } });
    await expect(sick.probe()).rejects.toMatchObject({ code: 'ENOSPC' });
    expect((await readdir(path.join(dir, 'tasks'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
