// A spool file that arrives while the state directory cannot be written (issue 14, part 3): it is not refused
// for good; it stays in the spool, is tried again on the following scans (logged once per version of the
// file), and its task is taken once the disk allows. Any other refusal is still remembered.
import { readFileSync } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { ConflictError, StoreUnavailableError } from '../../agent/errors.js';
import { SpoolWatcher } from '../../agent/spool/spool-watcher.js';
import type { TaskIntake } from '../../agent/task/intake.js';

const EXAMPLE = readFileSync(path.join(import.meta.dirname, '../fixtures/tasks/valid/spec-example.json'), 'utf8');
const OPTS = { defaultWaitTimeoutMs: 1000, allowPrivileged: false, allowedCapabilities: [] };

/** An intake whose admission refuses as the manager does while the store is degraded (or with `refuse`). */
class DiskIntake implements TaskIntake {
  readonly recs = new Map<string, TaskRecord>();
  submits = 0;
  sick = true;
  refuse: Error | undefined;
  async submit(spec: TaskSpec, source: string) {
    this.submits++;
    if (this.refuse) throw this.refuse;
    if (this.sick) throw new StoreUnavailableError('/var/lib/awsvpcd', 'ENOSPC', 'no space left on device');
    const rec = { spec, source, desiredStatus: 'RUNNING', lastStatus: 'PROVISIONING' } as TaskRecord;
    this.recs.set(spec.taskId, rec);
    return { created: true, rec };
  }
  async stop(taskId: string) {
    return this.recs.get(taskId)!;
  }
  get(taskId: string) {
    return this.recs.get(taskId);
  }
  list() {
    return [...this.recs.values()];
  }
}

let dir: string;
let spool: SpoolWatcher | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'awsvpcd-spool-disk-'));
});
afterEach(async () => {
  spool?.close();
  await rm(dir, { recursive: true, force: true });
});

function watcher() {
  const lines: Array<{ msg: string; file?: string; error?: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  spool = new SpoolWatcher({ dir, validate: OPTS, logger, intervalMs: 60_000 });
  return { spool, lines };
}

test('a file refused for a sick disk waits in the spool, retried each scan, logged once per version, and taken when the disk allows', async () => {
  const intake = new DiskIntake();
  const { spool, lines } = watcher();
  await writeFile(path.join(dir, 'one.json'), EXAMPLE);
  await spool.start(intake);
  await spool.scan();
  await spool.scan();
  expect(intake.submits).toBe(3); // every scan tries again
  const waits = lines.filter((l) => l.msg === 'spool task file waits: the state directory is not writable');
  expect(waits).toHaveLength(1);
  expect(waits[0]).toMatchObject({ file: 'one.json', error: 'state directory /var/lib/awsvpcd is not writable (ENOSPC: no space left on device); no new task is taken until it is' });
  expect(lines.some((l) => l.msg === 'spool task file refused')).toBe(false);
  await access(path.join(dir, 'one.json'));
  // Another version of the file (here only its size changes) is logged once more.
  await writeFile(path.join(dir, 'one.json'), `${EXAMPLE}\n`);
  await spool.scan();
  await spool.scan();
  expect(lines.filter((l) => l.msg === 'spool task file waits: the state directory is not writable')).toHaveLength(2);
  intake.sick = false;
  await spool.scan();
  expect(intake.recs.size).toBe(1);
  // Taken: not submitted again on later scans.
  const n = intake.submits;
  await spool.scan();
  expect(intake.submits).toBe(n);
});

test('any other refusal is remembered as before: logged once, not retried until the file changes', async () => {
  const intake = new DiskIntake();
  intake.refuse = new ConflictError('task exists with other content');
  const { spool, lines } = watcher();
  await writeFile(path.join(dir, 'one.json'), EXAMPLE);
  await spool.start(intake);
  await spool.scan();
  await spool.scan();
  expect(intake.submits).toBe(1);
  expect(lines.filter((l) => l.msg === 'spool task file refused')).toHaveLength(1);
});
