// The spool directory as a task source, in process: a run-request file's task id comes from its file name
// (the spool passes it to the one parser as hint.fileName), so the same file, read again or read by a
// restarted daemon, is the same task and never a second one.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { ConflictError } from '../../agent/errors.js';
import { SpoolWatcher } from '../../agent/spool/spool-watcher.js';
import type { TaskIntake } from '../../agent/task/intake.js';
import { specHash } from '../../agent/task/spec-hash.js';

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
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spool = () => new SpoolWatcher({ dir, validate: OPTS, logger: pino({ level: 'silent' }), intervalMs: 60_000 });
const EXAMPLE_DOC = JSON.parse(EXAMPLE.toString()) as { elasticNetworkInterfaces: unknown[] };
const RUN_REQUEST = JSON.stringify({
  taskDefinition: { family: 'web', networkMode: 'awsvpc', containerDefinitions: [{ name: 'app', image: 'busybox:latest' }] },
  elasticNetworkInterfaces: EXAMPLE_DOC.elasticNetworkInterfaces,
});

describe('spool: a run request takes its task from the file name', () => {
  test('reading the file again (also rewritten the same) is the same task', async () => {
    await writeFile(path.join(dir, 'web-1.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    expect([...intake.recs.keys()]).toEqual(['web-1']);
    // Touched (a new mtime, the same content): read again, the same task, not a second one.
    const later = new Date(Date.now() + 5_000);
    await utimes(path.join(dir, 'web-1.json'), later, later);
    await s.scan();
    s.close();
    expect(intake.log).toEqual(['submit web-1', 'submit web-1']);
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
    expect(intake.log).toEqual(['submit web-1', 'submit web-1']);
    expect(intake.get('web-1')?.desiredStatus).toBe('RUNNING');
  });

  test('two files with the same run request are two tasks; removing one stops only its own', async () => {
    await writeFile(path.join(dir, 'a.json'), RUN_REQUEST);
    await writeFile(path.join(dir, 'b.json'), RUN_REQUEST);
    const intake = new FakeIntake();
    const s = spool();
    await s.start(intake);
    expect([...intake.recs.keys()].sort()).toEqual(['a', 'b']);
    await rm(path.join(dir, 'a.json'));
    await s.scan();
    s.close();
    expect(intake.get('a')?.desiredStatus).toBe('STOPPED');
    expect(intake.get('b')?.desiredStatus).toBe('RUNNING');
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
