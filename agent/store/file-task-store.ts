// One JSON file per task, written atomically: temp file, fsync, rename, fsync of the directory.
// A crash leaves either the old record or the new one, never a torn file.
import { randomBytes } from 'node:crypto';
import { mkdir, open as fsOpen, readdir, readFile, rename as fsRename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { TaskRecord } from '../model.js';
import type { TaskStore } from './task-store.js';

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** The file the disk-health probe writes (not a record: load() skips it). */
const PROBE_FILE = '.probe';

/** The fs calls a write goes through; a test passes failing ones (a disk that fills up mid-write). */
export interface WriteOps {
  open: typeof fsOpen;
  rename: typeof fsRename;
}

export class FileTaskStore implements TaskStore {
  private readonly dir: string;
  private readonly corruptDir: string;
  private readonly log: Logger;
  /** Per-task write chain: two saves of one task never race on rename order. */
  private readonly chains = new Map<string, Promise<void>>();
  /** The directory is made once, not on every save; a save that finds it gone makes it again. */
  private dirMade = false;
  private readonly ops: WriteOps;

  constructor(opts: { stateDir: string; logger: Logger; ops?: Partial<WriteOps> }) {
    this.dir = path.join(opts.stateDir, 'tasks');
    this.corruptDir = path.join(opts.stateDir, 'corrupt');
    this.log = opts.logger;
    this.ops = { open: fsOpen, rename: fsRename, ...opts.ops };
  }

  private fileOf(taskId: string): string {
    if (!SAFE_ID.test(taskId)) throw new Error(`unsafe task id for a file name: ${JSON.stringify(taskId)}`);
    return path.join(this.dir, `${taskId}.json`);
  }

  async load(): Promise<{ records: TaskRecord[]; corrupt: string[] }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const records: TaskRecord[] = [];
    const corrupt: string[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      const file = path.join(this.dir, name);
      if (name.includes('.tmp-')) {
        // A write that never reached its rename: the previous record (if any) is still whole.
        await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const rec = JSON.parse(await readFile(file, 'utf8')) as TaskRecord;
        if (!rec?.spec?.taskId || `${rec.spec.taskId}.json` !== name) throw new Error('record does not name its own task');
        records.push(rec);
      } catch (err) {
        await mkdir(this.corruptDir, { recursive: true, mode: 0o700 });
        const aside = path.join(this.corruptDir, `${name}.${Date.now()}`);
        await fsRename(file, aside);
        this.log.error({ err, file, movedTo: aside }, 'corrupt task record set aside; the task will be rebuilt from the engine');
        corrupt.push(name.replace(/\.json$/, ''));
      }
    }
    return { records, corrupt };
  }

  save(rec: TaskRecord): Promise<void> {
    const id = rec.spec.taskId;
    const data = JSON.stringify(rec, null, 1);
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.writeAtomic(this.fileOf(id), data));
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    }).catch(() => undefined);
    return next;
  }

  async remove(taskId: string): Promise<void> {
    await (this.chains.get(taskId) ?? Promise.resolve()).catch(() => undefined);
    await rm(this.fileOf(taskId), { force: true });
    await fsyncDir(this.dir);
  }

  /** A small atomic write and its removal: whether the directory takes writes now (the disk-health probe). */
  async probe(): Promise<void> {
    const file = path.join(this.dir, PROBE_FILE);
    await this.writeAtomic(file, `${new Date().toISOString()}\n`);
    await rm(file, { force: true });
  }

  /**
   * A failed write leaves no temp file behind and the previous record whole: the temp file is removed on any
   * failure before its rename (a full disk fails the write or the fsync, a read-only one the open).
   */
  private async writeAtomic(file: string, data: string): Promise<void> {
    if (!this.dirMade) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    let fh;
    try {
      fh = await this.ops.open(tmp, 'w', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      fh = await this.ops.open(tmp, 'w', 0o600);
    }
    let renamed = false;
    try {
      try {
        await fh.writeFile(data);
        await fh.sync();
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw err;
      }
      await fh.close();
      await this.ops.rename(tmp, file);
      renamed = true;
    } finally {
      if (!renamed) await rm(tmp, { force: true }).catch((err) => this.log.warn({ err, file: tmp }, 'temp file of a failed write not removed; the next start removes it'));
    }
    await fsyncDir(this.dir);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsOpen(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
