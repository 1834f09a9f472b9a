// The spool directory as a task source: a *.json file dropped there is run; removing it, or rewriting it
// with desiredStatus STOPPED, stops its task; rewriting it with another task stops the old task and runs the
// new one. fs.watch wakes a scan early; a periodic scan catches the rest.
// Whoever can put a file here runs containers as root: the directory must be closed to other users (checked
// before the daemon starts), and a file that is not a regular file of root or the daemon's user, or that
// group or others could rewrite, is refused and never run.
import { constants, watch, type FSWatcher } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AwsvpcdError, StoreUnavailableError, ValidationError, errorMessage } from '../errors.js';
import { stopUnlisted, type TaskIntake, type TaskSource } from '../task/intake.js';
import { MAX_TASK_DOCUMENT_BYTES, parseTaskDocument, type ValidateOptions } from '../task/validate/index.js';
import { checkPrivateDir, rootOrDaemonUser } from '../util/private-dir.js';

/** Why a spool file was not run, as counted in awsvpcd_spool_files_refused_total. */
export type SpoolRefusal = 'unsafe' | 'invalid' | 'not_admitted';

/** The owner, mode or kind of a task file the daemon will not trust; `null` when it may be read. */
export function unsafeTaskFile(st: { isFile(): boolean; uid: number; mode: number }, owners = rootOrDaemonUser()): string | null {
  if (!st.isFile()) return 'is not a regular file';
  if (!owners.includes(st.uid)) return `is owned by uid ${st.uid}, not by root or the daemon's user`;
  if ((st.mode & 0o022) !== 0) return `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** Opened without following a symlink and without blocking on a FIFO: what is read is what was checked. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

class UnsafeFileError extends ValidationError {}

interface Seen {
  key: string; // size:mtime, so an unchanged file is not read again
  taskId?: string;
}

export class SpoolWatcher implements TaskSource {
  readonly name = 'spool';
  private intake: TaskIntake | undefined;
  private readonly seen = new Map<string, Seen>();
  /** Files waiting for the state directory to take writes again, by the version (key) last logged. */
  private readonly waiting = new Map<string, string>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private firstScanDone = false;
  private readonly log: Logger;

  constructor(
    private readonly o: {
      dir: string;
      validate: ValidateOptions;
      logger: Logger;
      intervalMs?: number;
      /** Counts a file refused (once per version of it). */
      onRefused?: (why: SpoolRefusal) => void;
    },
  ) {
    this.log = o.logger.child({ component: 'spool', dir: o.dir });
  }

  /**
   * Refuses a spool directory other users could write into (or swap): the daemon runs this before it touches
   * any task, as it does for the socket directory. Created (0700) when missing.
   */
  checkDir(): Promise<void> {
    return checkPrivateDir(this.o.dir, { flag: '--spool-dir', owners: rootOrDaemonUser(), ownersText: "root or the daemon's user", create: true });
  }

  async start(intake: TaskIntake): Promise<void> {
    this.intake = intake;
    await this.checkDir();
    await this.scan();
    try {
      this.watcher = watch(this.o.dir, () => void this.scan());
      this.watcher.on('error', (err) => this.log.warn({ err }, 'spool watch failed; periodic scans continue'));
    } catch (err) {
      this.log.warn({ err }, 'spool watch unavailable; periodic scans only');
    }
    this.timer = setInterval(() => void this.scan(), this.o.intervalMs ?? 2_000);
    this.timer.unref();
  }

  close(): void {
    this.intake = undefined;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** One scan at a time; a request during a scan runs one more afterwards. */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce()
      .catch((err) => this.log.error({ err }, 'spool scan failed'))
      .finally(() => {
        this.scanning = undefined;
        if (this.rescan) {
          this.rescan = false;
          void this.scan();
        }
      });
    return this.scanning;
  }

  private tasks(): TaskIntake {
    if (!this.intake) throw new Error('spool watcher not started');
    return this.intake;
  }

  private async scanOnce(): Promise<void> {
    const names = (await readdir(this.o.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    const present = new Set(names);
    for (const name of names) await this.consider(name);
    for (const name of this.waiting.keys()) if (!present.has(name)) this.waiting.delete(name);
    for (const [name, s] of this.seen) {
      if (present.has(name)) continue;
      this.seen.delete(name);
      if (s.taskId) await this.stop(s.taskId, `Task file ${name} was removed from the spool directory`);
    }
    if (!this.firstScanDone) {
      this.firstScanDone = true;
      // Files removed while the daemon was down: their tasks stop now.
      const listed = new Set([...this.seen.values()].flatMap((s) => (s.taskId ? [s.taskId] : [])));
      await stopUnlisted(this.tasks(), this.name, listed, () => 'Task file was removed from the spool directory while the daemon was down', this.log);
    }
  }

  private async consider(name: string): Promise<void> {
    const file = path.join(this.o.dir, name);
    let body: Buffer;
    let key = '';
    try {
      const fh = await open(file, OPEN_FLAGS).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ELOOP') throw new UnsafeFileError('', 'task file is a symlink; refused');
        throw err;
      });
      try {
        const st = await fh.stat();
        // Owner and mode are in the key: a chmod or chown that makes the file safe gets it read again.
        key = `${st.size}:${st.mtimeMs}:${st.uid}:${st.mode}`;
        if (this.seen.get(name)?.key === key) return;
        const unsafe = unsafeTaskFile(st);
        if (unsafe) throw new UnsafeFileError('', `task file ${unsafe}; refused`);
        if (st.size > MAX_TASK_DOCUMENT_BYTES) throw new ValidationError('', `task file is larger than 1 MiB (${st.size} bytes)`);
        body = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (!(err instanceof AwsvpcdError)) throw err;
      // A symlink has no key of its own: the name stands for it, so it is logged once until it changes.
      if (err instanceof UnsafeFileError && !key) {
        key = 'symlink';
        if (this.seen.get(name)?.key === key) return;
      }
      this.remember(name, key, this.seen.get(name)?.taskId, err);
      return;
    }
    const prev = this.seen.get(name);
    try {
      // A run request without a taskArn takes its task id from the file name and a hash of its content
      // (desiredStatus aside): the same file is the same task, also after a restart; a rewrite with other
      // content is another task, so the old one is stopped below and the new one submitted.
      const spec = parseTaskDocument(body, this.o.validate, { fileName: name });
      if (prev?.taskId && prev.taskId !== spec.taskId) {
        await this.stop(prev.taskId, `Task file ${name} was rewritten with another task`);
      }
      if (spec.desiredStatus === 'STOPPED' && this.tasks().get(spec.taskId)) {
        await this.stop(spec.taskId, `Task file ${name} asks for desiredStatus STOPPED`);
      } else {
        const { created } = await this.tasks().submit(spec, this.name);
        if (created) this.log.info({ file: name, taskArn: spec.taskArn }, 'task accepted from spool');
      }
      this.remember(name, key, spec.taskId);
    } catch (err) {
      if (err instanceof StoreUnavailableError) return this.wait(name, key, err);
      this.remember(name, key, prev?.taskId, err);
    }
  }

  /** Not refused, not remembered: the file stays and is tried again on each scan until the disk allows. */
  private wait(name: string, key: string, err: StoreUnavailableError): void {
    if (this.waiting.get(name) === key) return;
    this.waiting.set(name, key);
    this.log.warn({ file: name, error: err.message, code: err.code }, 'spool task file waits: the state directory is not writable');
  }

  private remember(name: string, key: string, taskId: string | undefined, err?: unknown): void {
    this.seen.set(name, { key, taskId });
    this.waiting.delete(name);
    // Logged and counted once per version of the file, not on every scan.
    if (!err) return;
    this.log.error({ file: name, error: errorMessage(err), code: (err as AwsvpcdError).code }, 'spool task file refused');
    this.o.onRefused?.(err instanceof UnsafeFileError ? 'unsafe' : err instanceof ValidationError ? 'invalid' : 'not_admitted');
  }

  private async stop(taskId: string, reason: string): Promise<void> {
    try {
      if (this.tasks().get(taskId)?.desiredStatus === 'RUNNING') await this.tasks().stop(taskId, reason);
    } catch (err) {
      this.log.error({ err, taskId }, 'stopping spool task failed');
    }
  }
}
