// Crash safety on the real engine (reference plugins): a crash at every step, a /28 IPAM churn, restarts that
// leave running tasks alone, broken plugins, outside interference, a lost state dir, bounded ENI waits
// across restarts, and admission by ENI capacity. Every case ends by proving nothing leaked.
import { jest } from '@jest/globals';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REFERENCE_PLUGINS, setupPoints, teardownPoints } from '../support/crash-points.js';
import { DaemonProc, Vpc, docker, ipamAddresses, leaks, requireEnvironment, runPrefix, sh, taskJson, type Eni, REPO } from './harness.js';

jest.setTimeout(600_000);

/** Containers that exit at once on SIGTERM, so stops are quick and nothing waits on a stop timeout. */
const QUICK = (name: string, essential: boolean, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'busybox:latest',
  essential,
  command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
  stopTimeout: 5,
  ...extra,
});
const TWO = [QUICK('app', true), QUICK('probe', false, { dependsOn: [{ containerName: 'app', condition: 'START' }] })];

// Every setup and teardown point of the two-container task (test/support/crash-points.ts, checked against the
// agent's own lists): probe's start comes after app's (dependsOn START).
const SETUP_POINTS = setupPoints({ plugins: REFERENCE_PLUGINS, containers: ['app', 'probe'] });
const TEARDOWN_POINTS = teardownPoints({ plugins: REFERENCE_PLUGINS });

const prefix = runPrefix();
let vpc: Vpc;
const daemons: DaemonProc[] = [];
const allTaskIds: string[] = [];
let seq = 0;

function newId(): string {
  const id = `${prefix}k${(seq++).toString(36)}`;
  allTaskIds.push(id);
  return id;
}

function daemon(args: string[] = [], env: Record<string, string> = {}, sub = ''): DaemonProc {
  const d = new DaemonProc({
    prefix: `${prefix}${sub}`,
    args: ['--stopped-task-retention-ms', '600000', '--reconcile-interval-ms', '1000', ...args],
    env,
  });
  daemons.push(d);
  return d;
}

/** The same daemon (same dirs), started again with other environment (e.g. a crash point). */
function again(d: DaemonProc, env: Record<string, string> = {}, args: string[] = []): DaemonProc {
  const n = new DaemonProc({ ...d.o, env, args: [...(d.o.args ?? []), ...args] });
  daemons.push(n);
  return n;
}

async function waitGone(d: DaemonProc): Promise<void> {
  if (!(await d.exited(60_000))) throw new Error(`daemon did not crash at its crash point\n${await d.logTail()}`);
}

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 3);
});

afterAll(async () => {
  for (const d of daemons) await d.kill().catch(() => undefined);
  for (const d of new Set(daemons.map((x) => x.root))) {
    const any = daemons.find((x) => x.root === d)!;
    await any.cleanup(allTaskIds);
  }
  await vpc?.down();
});

/** A failed test must not leave its daemon running on the state dir the next test uses. */
async function killAll(): Promise<void> {
  for (const d of daemons) await d.kill().catch(() => undefined);
}

describe('a crash at every step', () => {
  let eni: Eni;
  let base: DaemonProc;
  afterEach(killAll);
  beforeAll(async () => {
    eni = await vpc.addEni(`${prefix}c1`, 21);
    base = daemon([], {}, 'c');
  });

  test.each(SETUP_POINTS)('setup crash %s: after a restart the task ends RUNNING, and stops leaving nothing', async (point) => {
    const id = newId();
    const crashing = again(base, { AWSVPCD_CRASH_AT: point });
    await crashing.start();
    await crashing.submit(taskJson({ id, eni, containers: TWO }));
    await waitGone(crashing);
    const pauseOf = async () =>
      (await docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.awsvpcd.task-id=${id}`, '--filter', 'label=com.awsvpcd.role=pause'])).stdout.trim();
    const pauseBefore = await pauseOf();
    const d = again(base);
    await d.start();
    await d.waitStatus(id, 'RUNNING', 60_000);
    // From the first ENI ADD on, the interrupted setup is carried forward (no ENI bounced back to the host):
    // the same pause container, its namespace kept. Before it, nothing network-related is undone or redone.
    if (SETUP_POINTS.indexOf(point) >= SETUP_POINTS.indexOf('before-cni-add:host-device')) {
      expect(await pauseOf()).toBe(pauseBefore);
      const lines = (await readFile(d.logFile, 'utf8')).split('\n');
      expect(lines.some((l) => l.includes(id) && l.includes('carrying it forward'))).toBe(true);
    }
    const names = (await docker(['ps', '--format', '{{.Names}}', '--filter', `label=com.awsvpcd.task-id=${id}`])).stdout.split('\n').sort();
    expect(names).toEqual([`awsvpcd-${id}-app`, `awsvpcd-${id}-internalecspause`, `awsvpcd-${id}-probe`]);
    // the ENI really is in the task namespace again
    expect((await docker(['exec', `awsvpcd-${id}-app`, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain(eni.ip);
    await d.api.request('POST', `/v1/tasks/${id}/stop`);
    const t = await d.waitStatus(id, 'STOPPED');
    expect(t.cleanupErrors).toBeUndefined();
    expect(await leaks(d, [id], [eni])).toEqual([]);
    await d.stop();
  });

  test.each(TEARDOWN_POINTS)('teardown crash %s: after a restart the task ends STOPPED leaving nothing', async (point) => {
    const id = newId();
    const d1 = again(base);
    await d1.start();
    await d1.submit(taskJson({ id, eni, containers: TWO }));
    await d1.waitStatus(id, 'RUNNING');
    await d1.stop();
    const crashing = again(base, { AWSVPCD_CRASH_AT: point });
    await crashing.start();
    await crashing.api.request('POST', `/v1/tasks/${id}/stop`);
    await waitGone(crashing);
    const d = again(base);
    await d.start();
    const t = await d.waitStatus(id, 'STOPPED', 60_000);
    expect(t.stoppedReason).toBe('Task stopped by user');
    expect(t.cleanupErrors).toBeUndefined();
    expect(await leaks(d, [id], [eni])).toEqual([]);
    await d.stop();
  });

  test('no state entry is left behind once stopped tasks age out', async () => {
    const d = again(base, {}, ['--stopped-task-retention-ms', '0']);
    await d.start();
    const deadline = Date.now() + 20_000;
    let left: string[] = [];
    do {
      left = await readdir(path.join(d.stateDir, 'tasks')).catch(() => []);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);
    expect(left).toEqual([]);
    await d.stop();
  });
});

describe('IPAM churn on a /28 with random crashes', () => {
  afterEach(killAll);
  test('every task gets an address and the IPAM database ends empty', async () => {
    const eni = await vpc.addEni(`${prefix}i1`, 31);
    const base = daemon(['--ipam-subnet', '169.254.172.0/28'], {}, 'i');
    // 13 usable addresses (.2-.14); 3x that, plus one
    const rounds = 40;
    let rng = 0x2f6e2b1; // fixed seed: the same crash schedule every run
    const rand = (n: number): number => {
      rng = (rng * 1103515245 + 12345) & 0x7fffffff;
      return rng % n;
    };
    const seen = new Set<string>();
    let crashes = 0;
    let d = again(base);
    await d.start();
    for (let i = 0; i < rounds; i++) {
      const id = newId();
      const crashRound = rand(4) === 0;
      if (crashRound) {
        const all = [...SETUP_POINTS.filter((p) => !p.includes('probe')), ...TEARDOWN_POINTS];
        const point = all[rand(all.length)]!;
        await d.stop();
        d = again(base, { AWSVPCD_CRASH_AT: point });
        await d.start();
        await d.submit(taskJson({ id, eni, containers: [QUICK('app', true)] }));
        if (SETUP_POINTS.includes(point)) {
          await waitGone(d);
        } else {
          await d.waitStatus(id, 'RUNNING');
          await d.api.request('POST', `/v1/tasks/${id}/stop`);
          await waitGone(d);
        }
        crashes++;
        d = again(base);
        await d.start();
        const t = await d.describe(id);
        if (t.lastStatus !== 'STOPPED' && t.desiredStatus === 'RUNNING') {
          const running = await d.waitStatus(id, 'RUNNING');
          seen.add(running.localIpAddress!);
          await d.api.request('POST', `/v1/tasks/${id}/stop`);
        }
        await d.waitStatus(id, 'STOPPED');
      } else {
        await d.submit(taskJson({ id, eni, containers: [QUICK('app', true)] }));
        const t = await d.waitStatus(id, 'RUNNING');
        expect(t.localIpAddress).toMatch(/^169\.254\.172\.([2-9]|1[0-4])$/);
        seen.add(t.localIpAddress!);
        await d.api.request('POST', `/v1/tasks/${id}/stop`);
        await d.waitStatus(id, 'STOPPED');
      }
      expect(await ipamAddresses(d)).toEqual([]);
    }
    expect(crashes).toBeGreaterThan(5);
    // host-local hands addresses out round-robin: churn walked through the whole /28 and wrapped around
    expect(seen.size).toBe(13);
    expect(await leaks(d, allTaskIds, [eni])).toEqual([]);
    await d.stop();
  });
});

describe('restarts, broken plugins and outside interference', () => {
  let d: DaemonProc;
  let e1: Eni;
  let e2: Eni;
  const wrapDir = `/run/awsvpcd-test/${prefix}-plugins`;

  beforeAll(async () => {
    e1 = await vpc.addEni(`${prefix}r1`, 41);
    e2 = await vpc.addEni(`${prefix}r2`, 42);
    // A CNI dir whose bridge misbehaves on ADD as ./mode says; everything else is the real plugin.
    await mkdir(wrapDir, { recursive: true });
    for (const p of ['host-device', 'static', 'host-local']) await symlink(`/usr/lib/cni/${p}`, path.join(wrapDir, p)).catch(() => undefined);
    await symlink(path.join(REPO, 'test/fixtures/plugins/wrap-real'), path.join(wrapDir, 'bridge')).catch(() => undefined);
    await writeFile(path.join(wrapDir, 'mode'), 'pass');
    d = daemon([], {}, 'r');
    d.o.cniPath = wrapDir;
    d.o.args = [...(d.o.args ?? []), '--cni-add-timeout-ms', '4000'];
    await d.start();
  });
  afterAll(async () => {
    await d?.stop();
    await rm(wrapDir, { recursive: true, force: true });
  });

  test('restarting the daemon leaves running tasks untouched: same ids, same start times', async () => {
    const id = newId();
    await d.submit(taskJson({ id, eni: e1, containers: TWO }));
    await d.waitStatus(id, 'RUNNING');
    const fmt = '{{.Id}} {{.State.StartedAt}} {{.RestartCount}}';
    const names = [`awsvpcd-${id}-internalecspause`, `awsvpcd-${id}-app`, `awsvpcd-${id}-probe`];
    const before = (await docker(['inspect', '--format', fmt, ...names])).stdout;
    await d.kill(); // a crash, not a clean stop
    await d.start();
    expect((await d.describe(id)).lastStatus).toBe('RUNNING');
    await new Promise((r) => setTimeout(r, 2500)); // two reconcile passes
    expect((await docker(['inspect', '--format', fmt, ...names])).stdout).toBe(before);
    expect((await d.describe(id)).lastStatus).toBe('RUNNING');
    await d.api.request('POST', `/v1/tasks/${id}/stop`);
    await d.waitStatus(id, 'STOPPED');
    expect(await leaks(d, [id], [e1])).toEqual([]);
  });

  test.each([
    ['fail', /^Network setup failed: bridge ADD on ecs-eth0: .*injected failure after a real ADD/],
    ['hang', /^Network setup failed: bridge ADD on ecs-eth0: .*(deadline|did not finish|timed out|killed)/i],
    ['garbage', /^Network setup failed: bridge ADD on ecs-eth0: .*/],
  ])('a plugin that behaves as "%s" is rolled back fully and named in stoppedReason', async (mode, reason) => {
    await writeFile(path.join(wrapDir, 'mode'), mode);
    try {
      const id = newId();
      await d.submit(taskJson({ id, eni: e1, containers: TWO }));
      const t = await d.waitStatus(id, 'STOPPED', 60_000);
      expect(t.stoppedReason).toMatch(reason);
      expect(t.cleanupErrors).toBeUndefined();
      expect(await leaks(d, [id], [e1])).toEqual([]);
    } finally {
      await writeFile(path.join(wrapDir, 'mode'), 'pass');
    }
  });

  test('the pause container killed from outside stops the task with a reason and cleans up', async () => {
    const id = newId();
    await d.submit(taskJson({ id, eni: e1, containers: TWO }));
    await d.waitStatus(id, 'RUNNING');
    await docker(['kill', `awsvpcd-${id}-internalecspause`]);
    const t = await d.waitStatus(id, 'STOPPED', 30_000);
    expect(t.stoppedReason).toMatch(/^Pause container exited \(code \d+\); the task lost its network namespace$/);
    expect(await leaks(d, [id], [e1])).toEqual([]);
  });

  test('an essential container removed from outside stops the task and cleans up', async () => {
    const id = newId();
    await d.submit(taskJson({ id, eni: e2, containers: TWO }));
    await d.waitStatus(id, 'RUNNING');
    await docker(['rm', '-f', `awsvpcd-${id}-app`]);
    const t = await d.waitStatus(id, 'STOPPED', 30_000);
    // `docker rm -f` kills before it removes: the engine reports the exit first, so either reason is right
    expect(t.stoppedReason).toMatch(/^Essential container in task exited(: container app was removed outside awsvpcd)?$/);
    expect(await leaks(d, [id], [e2])).toEqual([]);
  });

  test('a pause container revived into an empty namespace is detected and the task stopped, not left running', async () => {
    const id = newId();
    await d.submit(taskJson({ id, eni: e1, containers: [QUICK('app', true)] }));
    await d.waitStatus(id, 'RUNNING');
    // what an engine restart with a restart policy does: the pause process comes back in a fresh namespace
    const pause = `awsvpcd-${id}-internalecspause`;
    const pidOf = async (): Promise<string> => (await docker(['inspect', '--format', '{{.State.Pid}}', pause])).stdout.trim();
    const before = await pidOf();
    await d.kill();
    await docker(['restart', '-t', '1', pause]);
    // The premise, checked rather than assumed: a new pause process, in a namespace without the ENI.
    const after = await pidOf();
    const dev = await sh('cat', [`/proc/${after}/net/dev`]);
    expect(after).not.toBe(before);
    expect(dev.stdout).not.toMatch(/^\s*eth0:/m);
    await d.start();
    const t = await d.waitStatus(id, 'STOPPED', 30_000);
    expect(t.stoppedReason).toMatch(/^(Task network lost: the pause container was restarted outside awsvpcd|Essential container in task exited)/);
    expect(await leaks(d, [id], [e1])).toEqual([]);
  });

  test('a lost state directory: the running task is rebuilt from the engine and still stops cleanly', async () => {
    const id = newId();
    await d.submit(taskJson({ id, eni: e2, containers: TWO }));
    await d.waitStatus(id, 'RUNNING');
    const appId = (await docker(['inspect', '--format', '{{.Id}}', `awsvpcd-${id}-app`])).stdout.trim();
    await d.kill();
    await writeFile(path.join(d.stateDir, 'tasks', `${id}.json`), '{"torn": '); // a corrupt record
    await d.start();
    const t = await d.waitStatus(id, 'RUNNING', 20_000);
    expect(t.containers.find((c) => c.name === 'app')!.runtimeId).toBe(appId);
    expect((await readdir(path.join(d.stateDir, 'corrupt'))).some((f) => f.startsWith(`${id}.json.`))).toBe(true);
    await d.api.request('POST', `/v1/tasks/${id}/stop`);
    await d.waitStatus(id, 'STOPPED');
    expect(await leaks(d, [id], [e2])).toEqual([]);
  });

  test('reconcile --dry-run reports an orphan without touching it; reconcile removes it', async () => {
    // a daemon whose timer will not get there first (it removes an orphan seen on two passes)
    await d.stop();
    const slow = again(d, {}, ['--reconcile-interval-ms', '600000']);
    await slow.start();
    const orphanTask = newId();
    // this daemon's label (its state dir) on a container no task of it owns
    await docker(['create', '--name', `${orphanTask}-orphan`, '--network', 'none', '--label', 'com.awsvpcd.managed=true',
      '--label', `com.awsvpcd.owner=${d.stateDir}`,
      '--label', `com.awsvpcd.task-id=${orphanTask}`, '--label', 'com.awsvpcd.role=app', 'busybox:latest', 'true']);
    const dry = await slow.cli(['reconcile', '--dry-run']);
    expect(dry.stdout).toContain(`would remove-container ${orphanTask}-orphan: labelled container with no task`);
    expect((await docker(['ps', '-aq', '--filter', `name=${orphanTask}-orphan`])).stdout.trim()).not.toBe('');
    const real = await slow.cli(['reconcile']);
    expect(real.stdout).toContain(`remove-container ${orphanTask}-orphan`);
    expect((await docker(['ps', '-aq', '--filter', `name=${orphanTask}-orphan`])).stdout.trim()).toBe('');
    await slow.stop();
    await d.start();
  });
});

describe('bounded ENI waits', () => {
  test('an ENI that never appears stops the task at its stored deadline, across a daemon restart', async () => {
    const d = daemon([], {}, 'w');
    await d.start();
    const id = newId();
    const ghost = { dev: 'none', mac: '0a:58:de:ad:be:ef', ip: '10.99.3.77', gateway: '10.99.3.1/24' };
    await d.submit(taskJson({ id, eni: ghost, containers: [QUICK('app', true)], waitTimeoutMs: 8_000 }));
    await new Promise((r) => setTimeout(r, 3_000));
    await d.kill();
    await d.start();
    const t = await d.waitStatus(id, 'STOPPED', 30_000);
    expect(t.stoppedReason).toBe('Timeout waiting for network interface provisioning to complete.');
    const elapsed = Date.parse(t.stoppedAt!) - Date.parse(t.createdAt);
    // Stored, not restarted: a restarted timer would stop it no earlier than 3 s + 8 s after creation.
    expect(elapsed).toBeGreaterThanOrEqual(8_000);
    expect(elapsed).toBeLessThan(11_000);
    expect((await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`])).stdout.trim()).toBe('');
    await d.stop();
  });
});

describe('ENI capacity at admission', () => {
  test('refuses a task beyond capacity, and a hand-made ENI-like link lowers the capacity', async () => {
    // Only this test's stand-in ENIs may be on the host: the others of this file would count as ENI-like.
    for (const e of [...vpc.enis]) await vpc.removeEni(e.dev);
    const a = await vpc.addEni(`${prefix}p1`, 51);
    const b = await vpc.addEni(`${prefix}p2`, 52);
    const cDev = `${prefix}p3`;
    // Stand-in ENIs are veths: count them as ENI-like (real ENIs are plain devices). Only links named with
    // this run's prefix count, so another run's stand-ins on a shared machine do not move the figures.
    const d = daemon(['--max-task-enis', '2', '--eni-link-kinds', 'device,veth', '--eni-link-pattern', `^${prefix}`], {}, 'p');
    await d.start();
    const [ia, ib, ic] = [newId(), newId(), newId()];
    try {
      // b is on the host with no task yet: it takes one of the two slots, a the other
      await d.submit(taskJson({ id: ia, eni: a, containers: [QUICK('app', true)] }));
      // c appears, attached by hand: with a and b it would make three
      const c = await vpc.addEni(cDev, 53);
      const early = await d.api.request<{ error: { code: string; message: string } }>('POST', '/v1/tasks', JSON.stringify(taskJson({ id: ib, eni: b, containers: [QUICK('app', true)] })));
      expect(early.status).toBe(409);
      expect(early.body.error.code).toBe('CAPACITY');
      expect(early.body.error.message).toContain(`${c.dev} ${c.mac}`);
      await sh('ip', ['link', 'del', c.dev]);
      await d.submit(taskJson({ id: ib, eni: b, containers: [QUICK('app', true)] }));
      await d.waitStatus(ia, 'RUNNING');
      await d.waitStatus(ib, 'RUNNING');
      // full: a third task is refused even though its ENI would be free
      const full = await d.api.request<{ error: { code: string; message: string } }>('POST', '/v1/tasks', JSON.stringify(taskJson({ id: ic, eni: a, containers: [QUICK('app', true)] })));
      expect(full.status).toBe(409);
      expect(full.body.error.message).toBe('host ENI capacity reached: 2 task ENIs allowed, 2 held by tasks; stop a task or detach the extra interfaces');
      await d.api.request('POST', `/v1/tasks/${ib}/stop`);
      await d.waitStatus(ib, 'STOPPED');
      // a hand-made ENI-like link takes the freed slot
      const hand = `${prefix}hand`;
      await sh('ip', ['link', 'add', hand, 'type', 'veth', 'peer', 'name', `${prefix}hpeer`]);
      try {
        const handMac = (await sh('cat', [`/sys/class/net/${hand}/address`])).stdout.trim();
        const refused = await d.api.request<{ error: { message: string } }>('POST', '/v1/tasks', JSON.stringify(taskJson({ id: ic, eni: b, containers: [QUICK('app', true)] })));
        expect(refused.status).toBe(409);
        expect(refused.body.error.message).toContain(`${hand} ${handMac}`);
      } finally {
        await sh('ip', ['link', 'del', hand], { reject: false });
      }
      await d.submit(taskJson({ id: ic, eni: b, containers: [QUICK('app', true)] }));
      await d.waitStatus(ic, 'RUNNING');
      for (const id of [ia, ic]) await d.api.request('POST', `/v1/tasks/${id}/stop`);
      for (const id of [ia, ic]) await d.waitStatus(id, 'STOPPED');
      expect(await leaks(d, [ia, ib, ic], [a, b])).toEqual([]);
    } finally {
      await d.stop();
    }
  });
});
