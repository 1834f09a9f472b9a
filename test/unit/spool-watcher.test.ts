// The spool directory as a task source, in process: a run-request file's task id comes from its file name
// and 8 hex of its content without desiredStatus (the spool passes the name to the one parser as
// hint.fileName), so the same file, read again or read by a restarted daemon, is the same task and never a
// second one; the file rewritten with another request is another task, and the old one is stopped.
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { ConflictError } from '../../agent/errors.js';
import { SpoolWatcher } from '../../agent/spool/spool-watcher.js';
import type { TaskIntake } from '../../agent/task/intake.js';
import { specHash } from '../../agent/task/spec-hash.js';
import { taskIdFromFileName } from '../../agent/task/validate/index.js';

const EXAMPLE = readFileSync(path.join(import.meta.dirname, '../fixtures/tasks/valid/spec-example.json'));
const OPTS = { defaultWaitTimeoutMs: 1000, allowPrivileged: false, allowedCapabilities: [] };
/** The manager's intake rule: the same id and content is the existing task; the same id, other content, a conflict. */
class FakeIntake implements TaskIntake {
  readonly recs = new Map<string, TaskRecord>();
  readonly log: string[] = [];
  async submit(spec: TaskSpec, source: string) {
    const hash = specHash(spec);
    const have = this.recs.get(spec.taskId);
    this.log.push(`submit ${spec.taskId}`);
    if (have) {
      if (have.specHash !== hash) throw new ConflictError(`task ${spec.taskId} exists with other content`);
      return { created: false, rec: have };
    }
    const rec = { spec, specHash: hash, source, desiredStatus: 'RUNNING', lastStatus: 'PROVISIONING' } as TaskRecord;
    this.recs.set(spec.taskId, rec);
    return { created: true, rec };
  }
  async stop(taskId: string, reason: string) {
    this.log.push(`stop ${taskId}: ${reason}`);
    const rec = this.recs.get(taskId)!;
    rec.desiredStatus = 'STOPPED';
    return rec;
  }
  get(taskId: string) {
    return this.recs.get(taskId);
  }
  list() {
    return [...this.recs.values()];
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'awsvpcd-spool-'));
});
// Closed after each test too: a failed expectation before a test's own close() would leave fs.watch open,
// and jest would never exit.
const opened: SpoolWatcher[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

const spool = () => {
  const s = new SpoolWatcher({ dir, validate: OPTS, logger: pino({ level: 'silent' }), intervalMs: 60_000 });
  opened.push(s);
  return s;
};
const EXAMPLE_DOC = JSON.parse(EXAMPLE.toString()) as { elasticNetworkInterfaces: unknown[] };
const request = (image = 'busybox:latest', extra: Record<string, unknown> = {}) => ({
  taskDefinition: { family: 'web', networkMode: 'awsvpc', containerDefinitions: [{ name: 'app', image }] },
  elasticNetworkInterfaces: EXAMPLE_DOC.elasticNetworkInterfaces,
  ...extra,
});
const RUN_REQUEST = JSON.stringify(request());
/** The id the validator gives the run request from that file (the file's name and 8 hex of the request). */
const idOf = (file: string, req: unknown = request()) => taskIdFromFileName(file, req);
const WEB1 = idOf('web-1.json');

/** Writes the file again and moves its mtime on, so the next scan reads it whatever the clock's resolution. */
async function rewrite(file: string, body: string): Promise<void> {
  await writeFile(path.join(dir, file), body);
  const later = new Date(Date.now() + 10_000);
  await utimes(path.join(dir, file), later, later);
}

describe('spool: a run request takes its task from the file name and its content', () => {
  test('the id: the name, then 8 hex of the request without desiredStatus', () => {
    expect(WEB1).toMatch(/^web-1-[0-9a-f]{8}$/);
    expect(idOf('web-1.json', request('busybox:1.36'))).not.toBe(WEB1);
    expect(idOf('web-1.json', request('busybox:latest', { desiredStatus: 'STOPPED' }))).toBe(WEB1);
  });

  test('reading the file again (also rewritten the same) is the same task', async () => {
    await writeFile(path.join(dir, 'web-1.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    expect([...intake.recs.keys()]).toEqual([WEB1]);
    // Touched (a new mtime, the same content): read again, the same task, not a second one.
    const later = new Date(Date.now() + 5_000);
    await utimes(path.join(dir, 'web-1.json'), later, later);
    await s.scan();
    s.close();
    expect(intake.log).toEqual([`submit ${WEB1}`, `submit ${WEB1}`]);
    expect(intake.recs.size).toBe(1);
  });

  test('after a restart the same file maps to the same task: not a second one, and not stopped as unlisted', async () => {
    await writeFile(path.join(dir, 'web-1.json'), RUN_REQUEST);
    const intake = new FakeIntake(); // the manager's records survive the restart (the state directory)
    const first = spool();
    await first.start(intake);
    first.close();
    const restarted = spool(); // a new daemon: the spool has seen nothing yet
    await restarted.start(intake);
    restarted.close();
    expect(intake.log).toEqual([`submit ${WEB1}`, `submit ${WEB1}`]);
    expect(intake.get(WEB1)?.desiredStatus).toBe('RUNNING');
  });

  test('two files with the same run request are two tasks; removing one stops only its own', async () => {
    await writeFile(path.join(dir, 'a.json'), RUN_REQUEST);
    await writeFile(path.join(dir, 'b.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    expect([...intake.recs.keys()].sort()).toEqual([idOf('a.json'), idOf('b.json')].sort());
    await rm(path.join(dir, 'a.json'));
    await s.scan();
    s.close();
    expect(intake.get(idOf('a.json'))?.desiredStatus).toBe('STOPPED');
    expect(intake.get(idOf('b.json'))?.desiredStatus).toBe('RUNNING');
  });

  test('rewritten with another request (a new image): the old task is stopped, and the new one submitted', async () => {
    await writeFile(path.join(dir, 'web.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    const oldId = idOf('web.json');
    const edited = request('busybox:1.36');
    const newId = idOf('web.json', edited);
    expect(newId).not.toBe(oldId);
    await rewrite('web.json', JSON.stringify(edited));
    await s.scan();
    s.close();
    expect(intake.log).toEqual([
      `submit ${oldId}`,
      `stop ${oldId}: Task file web.json was rewritten with another task`,
      `submit ${newId}`,
    ]);
    expect(intake.get(oldId)?.desiredStatus).toBe('STOPPED');
    expect(intake.get(newId)?.desiredStatus).toBe('RUNNING');
    expect(intake.get(newId)?.spec.containers[0]!.image).toBe('busybox:1.36');
  });

  test('rewritten with only desiredStatus STOPPED: the same task, stopped', async () => {
    await writeFile(path.join(dir, 'web.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    const id = idOf('web.json');
    await rewrite('web.json', JSON.stringify(request('busybox:latest', { desiredStatus: 'STOPPED' })));
    await s.scan();
    s.close();
    expect(intake.log).toEqual([`submit ${id}`, `stop ${id}: Task file web.json asks for desiredStatus STOPPED`]);
    expect(intake.recs.size).toBe(1);
    expect(intake.get(id)?.desiredStatus).toBe('STOPPED');
  });

  test('rewritten while the daemon was down: the old task is stopped at the first scan, the new one runs', async () => {
    await writeFile(path.join(dir, 'web.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const first = spool();
    await first.start(intake);
    first.close();
    const edited = request('busybox:1.36');
    await rewrite('web.json', JSON.stringify(edited));
    const restarted = spool();
    await restarted.start(intake);
    restarted.close();
    expect(intake.get(idOf('web.json'))?.desiredStatus).toBe('STOPPED');
    expect(intake.get(idOf('web.json', edited))?.desiredStatus).toBe('RUNNING');
  });

  test("a task document keeps its own taskArn whatever the file's name ", async () => {
    await writeFile(path.join(dir, 'anything.json'), EXAMPLE);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    s.close();
    expect([...intake.recs.keys()]).toEqual(['5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b']);
  });
});

describe('spool: a closed directory, and only files root or the daemon user wrote', () => {
  const refusedBy = (s: SpoolWatcher) => s as unknown as { o: { onRefused?: (why: string) => void } };
  const counting = () => {
    const s = spool();
    const refused: string[] = [];
    refusedBy(s).o.onRefused = (why) => refused.push(why);
    return { s, refused };
  };

  test.each([
    ['writable by others', 0o777, 0, 'is writable by group or others (mode 777); fix it with chmod 0700'],
    ['writable by group', 0o770, 0, 'is writable by group or others (mode 770); fix it with chmod 0700'],
    ['owned by another user', 0o700, 65534, "is not owned by root or the daemon's user"],
  ])('a spool directory %s: the watcher refuses to start and names it', async (_name, mode, uid, why) => {
    const spoolDir = path.join(dir, 'tasks.d');
    await mkdir(spoolDir);
    await chmod(spoolDir, mode);
    await chown(spoolDir, uid, uid);
    await writeFile(path.join(spoolDir, 'web-1.json'), RUN_REQUEST);
    await chown(path.join(spoolDir, 'web-1.json'), 0, 0);
    const intake = new FakeIntake();
    const s = new SpoolWatcher({ dir: spoolDir, validate: OPTS, logger: pino({ level: 'silent' }), intervalMs: 60_000 });
    opened.push(s);
    await expect(s.start(intake)).rejects.toThrow(`--spool-dir: ${spoolDir} ${why}`);
    expect(intake.log).toEqual([]); // nothing in it was read, let alone run
  });

  test('a symlink for the directory, and a parent others can write without the sticky bit: refused', async () => {
    const real = path.join(dir, 'real');
    await mkdir(real, { mode: 0o700 });
    await symlink(real, path.join(dir, 'link'));
    await expect(new SpoolWatcher({ dir: path.join(dir, 'link'), validate: OPTS, logger: pino({ level: 'silent' }) }).checkDir()).rejects.toThrow(
      `--spool-dir: ${path.join(dir, 'link')} is a symlink; refusing to use it`,
    );
    const open = path.join(dir, 'open');
    await mkdir(path.join(open, 'tasks.d'), { recursive: true, mode: 0o700 });
    await chmod(open, 0o777);
    await expect(new SpoolWatcher({ dir: path.join(open, 'tasks.d'), validate: OPTS, logger: pino({ level: 'silent' }) }).checkDir()).rejects.toThrow(
      `its parent ${open} is writable by group or others without the sticky bit (mode 777)`,
    );
    await chmod(open, 0o1777); // sticky, as /tmp: others cannot rename what is not theirs
    await expect(new SpoolWatcher({ dir: path.join(open, 'tasks.d'), validate: OPTS, logger: pino({ level: 'silent' }) }).checkDir()).resolves.toBeUndefined();
  });

  test('files another user owns, group- or world-writable files, symlinks and FIFOs are never run; counted once each', async () => {
    await writeFile(path.join(dir, 'theirs.json'), RUN_REQUEST);
    await chown(path.join(dir, 'theirs.json'), 65534, 65534);
    await writeFile(path.join(dir, 'open.json'), RUN_REQUEST);
    await chmod(path.join(dir, 'open.json'), 0o666);
    await writeFile(path.join(dir, '.elsewhere'), RUN_REQUEST);
    await symlink(path.join(dir, '.elsewhere'), path.join(dir, 'link.json'));
    await execa('mkfifo', [path.join(dir, 'fifo.json')]);
    const intake = new FakeIntake();
    const { s, refused } = counting();
    await s.start(intake); // a FIFO would block a plain open(): O_NONBLOCK keeps the scan going
    await s.scan();
    expect(intake.log).toEqual([]);
    expect(refused.sort()).toEqual(['unsafe', 'unsafe', 'unsafe', 'unsafe']);
    // Made safe (chmod, chown): read again, and run.
    await chmod(path.join(dir, 'open.json'), 0o644);
    await chown(path.join(dir, 'theirs.json'), 0, 0);
    await s.scan();
    expect(intake.log.sort()).toEqual([`submit ${idOf('open.json')}`, `submit ${idOf('theirs.json')}`]);
    expect(refused).toHaveLength(4);
  });
});
