// The Docker engine restarted under running tasks (a package update or an OOM kill does this on real hosts).
// Without live-restore the tasks' containers die with it: the daemon reconnects (bounded backoff) and every
// task stops with a reason that names the engine restart, releasing everything; none is left RUNNING
// without a network. With live-restore the containers outlive the engine: every task stays RUNNING with the
// same pause process and still answers on its address. The test restarts an engine of its own, not the
// shared one.
import { jest } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { DaemonProc, OwnEngine, Vpc, docker, leaks, requireEnvironment, runPrefix, sh, taskJson, type Eni } from './harness.js';

jest.setTimeout(240_000);

const prefix = runPrefix();
const own = new OwnEngine(prefix);
const engine = own.host;
const d = new DaemonProc({ prefix, engine });
let vpc: Vpc;
let n = 0;
const newId = (): string => `${prefix}x${n++}`;

const engineCmd = (cmd: 'start' | 'stop', liveRestore = false): Promise<void> => own.cmd(cmd, { liveRestore });

/** The engine's own answer, not the daemon's: what runs for the task there. */
async function containersOf(id: string): Promise<string> {
  return (await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`], false, engine)).stdout.trim();
}
async function pausePid(id: string): Promise<number> {
  return Number((await docker(['inspect', '--format', '{{.State.Pid}}', `awsvpcd-${id}-internalecspause`], false, engine)).stdout.trim());
}
/** Daemon log lines with this message (the daemon writes JSON lines to daemon.log). */
async function logged(msg: string): Promise<number> {
  const text = await readFile(d.logFile, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;
}

async function runTasks(count: number, hostBase: number): Promise<Array<{ id: string; eni: Eni }>> {
  const tasks = [];
  for (let i = 0; i < count; i++) tasks.push({ id: newId(), eni: await vpc.addEni(`${prefix}e${hostBase + i}`, hostBase + i) });
  for (const t of tasks) await d.submit(taskJson({ id: t.id, eni: t.eni }));
  for (const t of tasks) await d.waitStatus(t.id, 'RUNNING', 60_000);
  return tasks;
}

beforeAll(async () => {
  await requireEnvironment();
  await own.up();
  vpc = await Vpc.up(prefix, 5);
});

afterAll(async () => {
  await d.kill().catch(() => undefined);
  await own.remove();
  await d.cleanup([]);
  await vpc?.down();
});

test('without live-restore: every task whose engine restarts is stopped with the engine named, and nothing is left', async () => {
  await d.start();
  const tasks = await runTasks(3, 11);
  await engineCmd('stop');
  await engineCmd('start');
  for (const t of tasks) {
    const s = await d.waitStatus(t.id, 'STOPPED', 60_000);
    // Whichever check saw the loss first (the pause container's exit, an essential container's exit, the
    // network check finding the pause process gone), the reason says what happened to the host.
    expect(s.stoppedReason).toMatch(/^Docker engine restarted \(event stream lost at \d{4}-\d\d-\d\dT[^,]+, (back at \d{4}-|not back yet)/);
    expect(s.stoppedReason).toMatch(/pause container exited|essential container app exited|task network was lost/);
  }
  // Teardown may have started while the engine was still going down; what failed then is retried by the
  // reconcile timer once the engine is back, until nothing is left.
  const end = Date.now() + 60_000;
  for (const t of tasks) {
    // Once the event stream is open again (the reconnect backoff may still be running when the cleanup is
    // done), the reason carries when it came back.
    let last = await d.describe(t.id);
    while ((last.cleanupErrors || !/back at \d{4}-/.test(last.stoppedReason ?? '')) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 500));
      last = await d.describe(t.id);
    }
    expect(last.cleanupErrors).toBeUndefined();
    expect(last.stoppedReason).toMatch(/back at \d{4}-/);
    expect(await containersOf(t.id)).toBe('');
  }
  // the pinned namespaces kept the ENIs alive while the engine was down, so DEL could hand them back
  expect(await leaks(d, [], tasks.map((t) => t.eni))).toEqual([]);
  expect(await logged('docker event stream back; checking every task')).toBeGreaterThanOrEqual(1);
  // and the daemon is still serving after the engine came back
  expect((await d.api.request('GET', '/healthz')).status).toBe(200);
  await d.stop();
  for (const t of tasks) await vpc.removeEni(t.eni.dev);
});

test('with live-restore: every task stays RUNNING with the same pause process through the restart, and still answers', async () => {
  await engineCmd('stop');
  await engineCmd('start', true);
  await d.start();
  const tasks = await runTasks(2, 21);
  const pids = new Map<string, number>();
  for (const t of tasks) pids.set(t.id, await pausePid(t.id));
  const backBefore = await logged('docker event stream back; checking every task');
  await engineCmd('stop', true);
  // the containers outlive the engine
  for (const t of tasks) expect(Number((await sh('sh', ['-c', `kill -0 ${pids.get(t.id)} && echo 1 || echo 0`])).stdout.trim())).toBe(1);
  await engineCmd('start', true);
  // the daemon has reconnected and re-checked every task (and a reconcile pass or two has gone by)
  const end = Date.now() + 30_000;
  while ((await logged('docker event stream back; checking every task')) <= backBefore && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
  expect(await logged('docker event stream back; checking every task')).toBeGreaterThan(backBefore);
  await new Promise((r) => setTimeout(r, 5_000));
  for (const t of tasks) {
    const s = await d.describe(t.id);
    expect(s.lastStatus).toBe('RUNNING');
    expect(s.stoppedReason ?? null).toBeNull();
    expect(await pausePid(t.id)).toBe(pids.get(t.id));
    // the task still works: its app answers on the ENI's address from the VPC side
    expect((await vpc.exec(['busybox', 'wget', '-qO-', `http://${t.eni.ip}:8080/`])).stdout).toBe('app-ok');
  }
  for (const t of tasks) await d.stopTask(t.id);
  for (const t of tasks) {
    const s = await d.waitStatus(t.id, 'STOPPED', 60_000);
    expect(s.cleanupErrors).toBeUndefined();
    expect(await containersOf(t.id)).toBe('');
  }
  expect(await leaks(d, [], tasks.map((t) => t.eni))).toEqual([]);
  await d.stop();
});
