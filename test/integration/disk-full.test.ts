// The state directory on a small tmpfs that fills up under a running task (issue 14, part 3): new tasks are
// refused with 503 naming the directory and the errno, a spool file waits in the spool, the running task
// stays RUNNING and can still be stopped (its records kept in memory), and once space is freed the daemon
// recovers on its own: the waiting spool task and a new API task run, and every record on disk is whole.
import { jest } from '@jest/globals';
import { mkdir, readdir, readFile, rm, statfs, access } from 'node:fs/promises';
import path from 'node:path';
import { parsePrometheusText, sampleValue } from '../support/prom-parser.js';
import { DaemonProc, Vpc, leaks, requireEnvironment, runPrefix, sh, taskJson, type Eni } from './harness.js';

jest.setTimeout(300_000);

const prefix = runPrefix();
const d = new DaemonProc({ prefix });
const filler = path.join(d.stateDir, 'filler');
const A = `${prefix}a`; // running when the disk fills
const B = `${prefix}b`; // refused while it is full
const C = `${prefix}c`; // dropped in the spool meanwhile
const D = `${prefix}d`; // a new API task after space is freed
const QUICK = [{ name: 'app', image: 'busybox:latest', essential: true, command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'] }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let vpc: Vpc | undefined;
let enis: Eni[] = [];
let mounted = false;

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 5);
  enis = [await vpc.addEni(`${prefix}e1`, 11), await vpc.addEni(`${prefix}e2`, 12), await vpc.addEni(`${prefix}e3`, 13)];
  await mkdir(d.stateDir, { recursive: true, mode: 0o700 });
  await sh('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', `${prefix}-state`, d.stateDir]);
  mounted = true;
  await d.start();
});

afterAll(async () => {
  await d.kill().catch(() => undefined);
  if (mounted) {
    const r = await sh('umount', [d.stateDir], { reject: false });
    if (r.exitCode !== 0) await sh('umount', ['-l', d.stateDir], { reject: false });
  }
  await d.cleanup([A, B, C, D]);
  await vpc?.down();
});

/** Fills the tmpfs until the kernel says ENOSPC (`more`: appends to the filler, for space freed since). */
async function fillDisk(more = false): Promise<void> {
  const r = await sh('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', ...(more ? ['oflag=append', 'conv=notrunc'] : [])], { reject: false });
  expect(r.stderr).toMatch(/No space left on device/);
  expect((await statfs(d.stateDir)).bavail).toBe(0);
}

async function recordOnDisk(id: string): Promise<{ lastStatus: string; version: number }> {
  return JSON.parse(await readFile(path.join(d.stateDir, 'tasks', `${id}.json`), 'utf8'));
}

async function scrape() {
  const r = await d.api.request<string>('GET', '/metrics');
  expect(r.status).toBe(200);
  return parsePrometheusText(r.body);
}

const logCount = async (text: string): Promise<number> => (await readFile(d.logFile, 'utf8')).split('\n').filter((l) => l.includes(text)).length;

test('a full state directory refuses new tasks with 503, keeps the running task, stops still work, and recovers once space is freed', async () => {
  try {
    await scenario();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- daemon log ---\n${await d.logTail(80)}`, { cause: err });
  }
});

async function scenario(): Promise<void> {
  await d.submit(taskJson({ id: A, eni: enis[0]!, containers: QUICK }));
  await d.waitStatus(A, 'RUNNING', 60_000);
  expect((await recordOnDisk(A)).lastStatus).toBe('RUNNING');

  await fillDisk();

  // A new task through the API: refused, naming the directory and the errno; nothing of it is kept.
  const expected = `state directory ${d.stateDir} is not writable (ENOSPC: no space left on device); no new task is taken until it is`;
  const first = await d.api.request<{ error: { code: string; message: string } }>('POST', '/v1/tasks', JSON.stringify(taskJson({ id: B, eni: enis[1]!, containers: QUICK })));
  expect(first.status).toBe(503);
  expect(first.body.error).toEqual({ code: 'UNAVAILABLE', message: expected });
  // The second is refused by the degraded state itself, with the same words.
  const second = await d.api.request<{ error: { code: string; message: string } }>('POST', '/v1/tasks', JSON.stringify(taskJson({ id: B, eni: enis[1]!, containers: QUICK })));
  expect(second.status).toBe(503);
  expect(second.body.error.message).toBe(expected);
  expect((await d.api.request('GET', `/v1/tasks/${B}`)).status).toBe(404);
  expect(await readdir(path.join(d.stateDir, 'tasks'))).toEqual([`${A}.json`]); // no torn record, no temp file

  // The daemon still serves: /healthz 200 and says why; /metrics shows it.
  const health = await d.api.request<{ ready: boolean; degraded?: { stateDir: string; errno: string; since: string } }>('GET', '/healthz');
  expect(health.status).toBe(200);
  expect(health.body.ready).toBe(true);
  expect(health.body.degraded).toMatchObject({ stateDir: d.stateDir, errno: 'ENOSPC', detail: 'no space left on device' });
  let fams = await scrape();
  expect(sampleValue(fams, 'awsvpcd_state_dir_degraded')).toBe(1);

  // Three reconcile intervals (2 s each): the running task is checked against the engine and left alone.
  await sleep(7_000);
  expect((await d.describe(A)).lastStatus).toBe('RUNNING');

  // Stopping it works on the full disk: its saves fail (counted) and are kept; STOPPED is reached, nothing is left.
  const failedBefore = sampleValue(await scrape(), 'awsvpcd_state_save_failures_total', { errno: 'ENOSPC' });
  await d.stopTask(A);
  const stopped = await d.waitStatus(A, 'STOPPED', 60_000);
  expect(stopped.stoppedReason).toBe('Task stopped by user');
  expect(await leaks(d, [A], [enis[0]!])).toEqual([]);
  // The stop request's save and the DEPROVISIONING one come before anything on the disk is freed (host-local's
  // DEL later frees its address file, and what fits in that may be written): at least those two failed.
  expect(sampleValue(await scrape(), 'awsvpcd_state_save_failures_total', { errno: 'ENOSPC' })).toBeGreaterThanOrEqual(failedBefore + 2);
  expect(JSON.parse(await readFile(path.join(d.stateDir, 'tasks', `${A}.json`), 'utf8')).spec.taskId).toBe(A); // whole, whichever version

  // What the teardown freed is taken again: the disk is full once more.
  await fillDisk(true);

  // A spool file dropped now waits in the spool: not run, not refused for good, logged once.
  await d.writeSpool('c.json', taskJson({ id: C, eni: enis[1]!, containers: QUICK }));
  await sleep(7_000); // three spool scans (2 s)
  expect((await d.api.request('GET', `/v1/tasks/${C}`)).status).toBe(404);
  await access(path.join(d.spoolDir, 'c.json'));
  expect(await logCount('spool task file waits: the state directory is not writable')).toBe(1);
  expect(await logCount('spool task file refused')).toBe(0);
  fams = await scrape();
  expect(sampleValue(fams, 'awsvpcd_state_dir_degraded')).toBe(1);

  // Space returns: the daemon notices by itself (retry backoff at most 30 s), writes what it kept, takes tasks again.
  await rm(filler);
  await d.waitStatus(C, 'RUNNING', 60_000);
  expect(await logCount('state directory writable again')).toBeGreaterThanOrEqual(1);
  expect((await recordOnDisk(A)).lastStatus).toBe('STOPPED');
  await d.submit(taskJson({ id: D, eni: enis[2]!, containers: QUICK }));
  await d.waitStatus(D, 'RUNNING', 60_000);
  fams = await scrape();
  expect(sampleValue(fams, 'awsvpcd_state_dir_degraded')).toBe(0);
  expect(sampleValue(fams, 'awsvpcd_state_records_pending')).toBe(0);
  expect((await d.api.request<{ degraded?: unknown }>('GET', '/healthz')).body.degraded).toBeUndefined();

  // Every record on disk parses and names its task; nothing was set aside as corrupt; no temp file is left.
  const files = await readdir(path.join(d.stateDir, 'tasks'));
  expect(files.sort()).toEqual([A, C, D].map((id) => `${id}.json`).sort());
  for (const f of files) expect(JSON.parse(await readFile(path.join(d.stateDir, 'tasks', f), 'utf8')).spec.taskId).toBe(f.replace(/\.json$/, ''));
  expect(await readdir(path.join(d.stateDir, 'corrupt')).catch(() => [])).toEqual([]);

  // Both new tasks stop cleanly too.
  await rm(path.join(d.spoolDir, 'c.json'));
  await d.stopTask(D);
  await d.waitStatus(C, 'STOPPED', 60_000);
  await d.waitStatus(D, 'STOPPED', 60_000);
  expect(await leaks(d, [A, C, D], enis)).toEqual([]);
}
