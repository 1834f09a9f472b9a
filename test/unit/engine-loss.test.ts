// Engine outages and host restarts as stop reasons, the event stream's reconnect backoff, and the bounded
// wait between cleanup retries: pure pieces first, then through the manager with in-memory fakes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineOutages, OUTAGE_SLACK_MS, cleanupRetryDelayMs } from '../../agent/docker/engine-outages.js';
import { Backoff } from '../../agent/util/backoff.js';
import { ENI_TIMEOUT_REASON } from '../../agent/task/provision.js';
import { diedBefore, diedWhileDownReason, eniDetachedReason, engineRestartReason } from '../../agent/task/loss-reason.js';
import { ESSENTIAL_EXITED_REASON, type ManagerConfig } from '../../agent/task/task-manager.js';
import { validateTask } from '../../agent/task/validate/index.js';
import type { TaskSpec } from '../../agent/model.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import type { ContainerInfo } from '../../agent/docker/container-runtime.js';
import { cniFailure, rig as fakeRig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const spec = (): TaskSpec => validateTask(structuredClone(example), { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] });
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';
const T0 = Date.parse('2026-11-30T08:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

describe('EngineOutages', () => {
  test('a death between the break (minus slack) and the return (plus slack) belongs to the outage; others do not', () => {
    let now = T0;
    const o = new EngineOutages(() => now);
    expect(o.explain(iso(T0))).toBeUndefined();
    o.lost(T0 + 10_000);
    // while the stream is down, any death since the break (or just before it) is explained, and one with no time
    expect(o.explain(iso(T0 + 9_000))).toMatchObject({ lostAt: T0 + 10_000 });
    expect(o.explain(undefined)).toMatchObject({ lostAt: T0 + 10_000 });
    expect(o.explain(iso(T0 + 10_000 - OUTAGE_SLACK_MS - 1))).toBeUndefined();
    o.lost(T0 + 12_000); // still the same outage
    expect(o.all()).toHaveLength(1);
    now = T0 + 20_000;
    o.back(now, false);
    expect(o.current()).toBeUndefined();
    expect(o.all()[0]).toEqual({ lostAt: T0 + 10_000, backAt: T0 + 20_000, liveRestore: false });
    expect(o.explain(iso(T0 + 15_000))).toBeDefined();
    // long after the return, a death is not the outage's
    now = T0 + 20_000 + OUTAGE_SLACK_MS + 60_000;
    expect(o.explain(iso(now - 1000))).toBeUndefined();
    expect(o.explain(undefined)).toBeUndefined();
    expect(o.explain('0001-01-01T00:00:00Z')).toBeUndefined();
  });

  test('listeners hear each break and each return; a return with no break is not news', () => {
    const o = new EngineOutages(() => T0);
    const heard: string[] = [];
    o.onChange(() => heard.push(o.current() ? 'down' : 'up'));
    o.back(T0);
    o.lost(T0);
    o.lost(T0 + 1);
    o.back(T0 + 2);
    expect(heard).toEqual(['down', 'up']);
  });

  test('keeps only the last few outages', () => {
    const o = new EngineOutages(() => T0);
    for (let i = 0; i < 20; i++) {
      o.lost(T0 + i * 10);
      o.back(T0 + i * 10 + 5);
    }
    expect(o.all().length).toBeLessThanOrEqual(8);
    expect(o.all().at(-1)!.lostAt).toBe(T0 + 190);
  });
});

describe('Backoff and the cleanup retry wait', () => {
  test('reconnects wait 0.5 s doubling to 10 s, and start again after reset', () => {
    const b = new Backoff(500, 10_000);
    expect(Array.from({ length: 8 }, () => b.next())).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    b.reset();
    expect(b.next()).toBe(500);
  });

  test('the cleanup retry wait doubles per pass and is capped at 32 times the base; 0 turns it off', () => {
    expect([1, 2, 3, 6, 7, 50].map((n) => cleanupRetryDelayMs(1000, n))).toEqual([1000, 2000, 4000, 32_000, 32_000, 32_000]);
    expect(cleanupRetryDelayMs(0, 5)).toBe(0);
  });
});

describe('reasons', () => {
  const exited = { exitCode: 0, finishedAt: '2026-11-30T07:00:00.000Z' } as ContainerInfo;
  test('host restarted vs engine restarted while awsvpcd was down, told by the pinned namespace', () => {
    expect(diedWhileDownReason(exited, '/run/x/netns/t1', false)).toBe(
      "Host restarted: the pause container is exited (code 0, at 2026-11-30T07:00:00.000Z) and the task's pinned namespace /run/x/netns/t1 is gone",
    );
    expect(diedWhileDownReason(undefined, '/run/x/netns/t1', false)).toMatch(/^Host restarted: the pause container is gone/);
    expect(diedWhileDownReason(exited, '/run/x/netns/t1', true)).toMatch(
      /^Docker engine restarted while awsvpcd was down .*pinned namespace \/run\/x\/netns\/t1 is still there/,
    );
    expect(diedWhileDownReason(exited, undefined, undefined)).toMatch(/^Pause container is exited \(code 0.*since before awsvpcd started/);
  });

  test('an engine restart reason says when the stream broke and whether it is back', () => {
    const d = { kind: 'pause' as const, info: { exitCode: 0 } as ContainerInfo };
    expect(engineRestartReason({ lostAt: T0 }, d)).toBe(
      `Docker engine restarted (event stream lost at ${iso(T0)}, not back yet); the pause container exited (code 0) and the task lost its network namespace`,
    );
    expect(engineRestartReason({ lostAt: T0, backAt: T0 + 5000, liveRestore: true }, { kind: 'essential', container: 'app', exitCode: 137, removed: false })).toBe(
      `Docker engine restarted (event stream lost at ${iso(T0)}, back at ${iso(T0 + 5000)}; live-restore is on, yet the task did not survive it); essential container app exited (code 137)`,
    );
  });

  test('a detached ENI is named by MAC, interface, ENI id and attachment id', () => {
    expect(eniDetachedReason({ macAddress: MAC, ec2Id: 'eni-1', attachmentId: 'att-2' }, 'eth0')).toBe(
      `ENI ${MAC} (eth0; eni-1, attachment att-2) was detached from the task: it is no longer in the task namespace`,
    );
    expect(eniDetachedReason({ macAddress: MAC, ec2Id: '', attachmentId: '' }, 'eth0')).toBe(
      `ENI ${MAC} (eth0) was detached from the task: it is no longer in the task namespace`,
    );
  });

  test('diedBefore reads State.FinishedAt; an unknown or zero time is not a death before', () => {
    expect(diedBefore({ finishedAt: iso(T0) } as ContainerInfo, T0 + 1)).toBe(true);
    expect(diedBefore({ finishedAt: iso(T0 + 2) } as ContainerInfo, T0 + 1)).toBe(false);
    expect(diedBefore({ finishedAt: '0001-01-01T00:00:00Z' } as ContainerInfo, T0)).toBe(false);
    expect(diedBefore(undefined, T0)).toBe(false);
  });
});

/** The manager over fakes, with a clock the test moves and the engine outages the daemon would feed. */
function rig(o: { store?: MemoryTaskStore; config?: Partial<ManagerConfig>; clock?: { now: number } } = {}) {
  const clock = o.clock ?? { now: T0 };
  const outages = new EngineOutages(() => clock.now);
  const r = fakeRig(o.config, o.store, { now: () => clock.now, engineOutages: outages });
  return { ...r, outages, clock };
}
type Rig = ReturnType<typeof rig>;

async function running(r: Rig): Promise<void> {
  r.links.present.add(MAC);
  await r.manager.submit(spec(), 'api');
  await r.manager.settled(ID);
  expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
}
const pauseOf = (r: Rig) => r.runtime.byName(`awsvpcd-${ID}-internalecspause`)!;
const appOf = (r: Rig) => r.runtime.byName(`awsvpcd-${ID}-app`)!;
const flush = () => new Promise((res) => setTimeout(res, 20));

describe('a task lost with its engine', () => {
  test('a pause container that dies while the stream is down: the reason names the engine restart, and gets the return time', async () => {
    const r = rig();
    await running(r);
    r.outages.lost(T0 + 1000);
    r.clock.now = T0 + 2000;
    r.runtime.exit(pauseOf(r).id, 0);
    pauseOf(r).finishedAt = iso(T0 + 1500);
    await r.manager.checkAll();
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.stoppedReason).toBe(
      `Docker engine restarted (event stream lost at ${iso(T0 + 1000)}, not back yet); the pause container exited (code 0) and the task lost its network namespace`,
    );
    r.outages.back(T0 + 5000, false);
    await flush();
    expect(r.manager.get(ID)!.stoppedReason).toBe(
      `Docker engine restarted (event stream lost at ${iso(T0 + 1000)}, back at ${iso(T0 + 5000)}); the pause container exited (code 0) and the task lost its network namespace`,
    );
  });

  test('an essential container that died just before the stream broke: stopped plainly, then re-worded once the break is seen', async () => {
    const r = rig();
    await running(r);
    r.runtime.exit(appOf(r).id, 143);
    appOf(r).finishedAt = iso(T0 + 100);
    r.clock.now = T0 + 200;
    await r.manager.checkAll();
    expect(r.manager.get(ID)!.stoppedReason).toBe(ESSENTIAL_EXITED_REASON);
    r.clock.now = T0 + 3000;
    r.outages.lost(T0 + 3000);
    await flush();
    expect(r.manager.get(ID)!.stoppedReason).toBe(
      `Docker engine restarted (event stream lost at ${iso(T0 + 3000)}, not back yet); essential container app exited (code 143)`,
    );
    await r.manager.settled(ID);
  });

  test('the stream comes back while the stop is still being saved: the reason still gets the return time', async () => {
    const store = new MemoryTaskStore();
    const r = rig({ store });
    await running(r);
    r.outages.lost(T0 + 1000);
    r.clock.now = T0 + 2000;
    r.runtime.exit(pauseOf(r).id, 0);
    pauseOf(r).finishedAt = iso(T0 + 1500);
    // The stop request's save is slow; the engine's return is recorded while it is in flight.
    const save = store.save.bind(store);
    let returned = false;
    store.save = async (rec) => {
      if (!returned && rec.desiredStatus === 'STOPPED') {
        returned = true;
        r.outages.back(T0 + 5000);
      }
      return save(rec);
    };
    await r.manager.checkAll();
    await r.manager.settled(ID);
    await flush();
    expect(returned).toBe(true);
    expect(r.manager.get(ID)!.stoppedReason).toBe(
      `Docker engine restarted (event stream lost at ${iso(T0 + 1000)}, back at ${iso(T0 + 5000)}); the pause container exited (code 0) and the task lost its network namespace`,
    );
  });

  test('a task stopped for another reason keeps it when an outage follows', async () => {
    const r = rig();
    await running(r);
    await r.manager.stop(ID, 'Task stopped by user');
    await r.manager.settled(ID);
    r.outages.lost(T0 + 10);
    r.outages.back(T0 + 20);
    await flush();
    expect(r.manager.get(ID)!.stoppedReason).toBe('Task stopped by user');
  });

  test('a death long before any outage keeps the plain reason', async () => {
    const r = rig();
    await running(r);
    r.runtime.exit(pauseOf(r).id, 2);
    pauseOf(r).finishedAt = iso(T0 + 10);
    r.clock.now = T0 + 20;
    await r.manager.checkAll();
    await r.manager.settled(ID);
    r.clock.now = T0 + 10 * 60_000;
    r.outages.lost();
    await flush();
    expect(r.manager.get(ID)!.stoppedReason).toBe('Pause container exited (code 2); the task lost its network namespace');
  });

  test('a setup that fails while the stream is down: the error of the step, headed by the engine restart, then the return time', async () => {
    const r = rig();
    r.outages.lost(T0 + 1000);
    r.clock.now = T0 + 2000;
    r.links.present.add(MAC);
    r.runtime.failCreate.add(`awsvpcd-${ID}-app`);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toMatch(
      new RegExp(`^Docker engine restarted \\(event stream lost at ${iso(T0 + 1000)}, not back yet\\); the task's setup failed: .*docker create awsvpcd-${ID}-app: boom$`),
    );
    r.outages.back(T0 + 5000);
    await flush();
    expect(r.manager.get(ID)!.stoppedReason).toContain(`back at ${iso(T0 + 5000)}); the task's setup failed: `);
  });

  test('a setup failure just before the break is re-worded once the break is seen; an ENI timeout never is', async () => {
    const r = rig();
    r.clock.now = T0 + 100;
    r.links.present.add(MAC);
    r.runtime.failCreate.add(`awsvpcd-${ID}-app`);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const plain = r.manager.get(ID)!.stoppedReason!;
    expect(plain).not.toMatch(/Docker engine restarted/);
    r.clock.now = T0 + 3000;
    r.outages.lost(T0 + 3000);
    await flush();
    expect(r.manager.get(ID)!.stoppedReason).toBe(`Docker engine restarted (event stream lost at ${iso(T0 + 3000)}, not back yet); the task's setup failed: ${plain}`);

    // The ENI wait calls no engine: its ECS reason stays as it is, outage or not.
    const q = rig();
    q.outages.lost(T0);
    await q.manager.submit({ ...spec(), waitTimeoutMs: 50 }, 'api');
    await q.manager.settled(ID);
    expect(q.manager.get(ID)!.stoppedReason).toBe(ENI_TIMEOUT_REASON);
  });

  test('with the pause container running with its pid and its network whole (live-restore), nothing is stopped', async () => {
    const r = rig();
    await running(r);
    r.outages.lost(T0 + 10);
    r.outages.back(T0 + 20, true);
    await r.manager.checkAll();
    await flush();
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.manager.get(ID)!.desiredStatus).toBe('RUNNING');
  });
});

describe('a task found dead at start-up', () => {
  /** A first daemon runs the task; its pause container then died at `diedAt` while no daemon ran; a second one starts. */
  async function restarted(o: { pinKept: boolean; gone?: boolean }) {
    const store = new MemoryTaskStore();
    const first = rig({ store });
    await running(first);
    const pause = pauseOf(first);
    first.manager.close();
    const second = rig({ store, clock: { now: T0 + 60_000 } });
    second.links.present.add(MAC);
    for (const [id, c] of first.runtime.containers) if (!(o.gone && c.id === pause.id)) second.runtime.containers.set(id, c);
    for (const c of second.runtime.containers.values()) {
      second.runtime.exit(c.id, 0);
      c.finishedAt = iso(T0 + 30_000);
    }
    if (o.pinKept) await second.hostNet.pinNetns(pause.pid, ID);
    for (const rec of (await store.load()).records) second.manager.adopt(rec);
    await second.manager.settled(ID);
    await second.manager.checkAll();
    await second.manager.settled(ID);
    return { r: second, rec: second.manager.get(ID)! };
  }

  test('pause exited and the pinned namespace gone: "Host restarted", and everything is released', async () => {
    const { r, rec } = await restarted({ pinKept: false });
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(
      `Host restarted: the pause container is exited (code 0, at ${iso(T0 + 30_000)}) and the task's pinned namespace /run/test/netns/${ID} is gone`,
    );
    // every DEL ran once (the namespace is gone: they count as done), the containers are removed
    expect(r.journal.filter((l) => l.startsWith('cni DEL'))).toHaveLength(2);
    expect(r.runtime.containers.size).toBe(0);
    expect(rec.cleanupErrors).toEqual([]);
  });

  test('pause removed and the pin gone: still "Host restarted"', async () => {
    const { rec } = await restarted({ pinKept: false, gone: true });
    expect(rec.stoppedReason).toMatch(/^Host restarted: the pause container is gone and the task's pinned namespace .* is gone$/);
  });

  test('pause exited with the pin still there: the engine restarted while awsvpcd was down', async () => {
    const { rec } = await restarted({ pinKept: true });
    expect(rec.stoppedReason).toMatch(/^Docker engine restarted while awsvpcd was down .*is still there; the task lost its network namespace$/);
    expect(rec.lastStatus).toBe('STOPPED');
  });
});

test('eth0 gone from the task namespace: the reason names the detached ENI', async () => {
  const r = rig();
  await running(r);
  r.hostNet.netns.set(pauseOf(r).pid, {
    interfaces: new Map([['lo', { rxBytes: 0, txBytes: 0 }], ['ecs-eth0', { rxBytes: 0, txBytes: 0 }]]),
    addresses: new Set(['127.0.0.1', '169.254.172.2']),
  });
  await r.manager.checkAll();
  await r.manager.settled(ID);
  const rec = r.manager.get(ID)!;
  expect(rec.stoppedReason).toBe(
    `ENI ${MAC} (eth0; eni-0a1b2c3d4e5f60718, attachment ${rec.spec.eni.attachmentId}) was detached from the task: it is no longer in the task namespace`,
  );
  expect(rec.lastStatus).toBe('STOPPED');
});

test('a pause container killed from outside, seen in /proc before the engine reports it: the reason names the pause exit', async () => {
  const r = rig();
  await running(r);
  const pause = pauseOf(r);
  // The process is gone (readNetns finds nothing) while the engine still says running for three more inspects.
  r.hostNet.readNetns = async () => undefined;
  const inspect = r.runtime.inspect.bind(r.runtime);
  let stale = 3;
  r.runtime.inspect = async (id: string) => {
    if ((id === pause.id || id === pause.name) && pause.running && stale-- <= 0) r.runtime.exit(pause.id, 137);
    return inspect(id);
  };
  await r.manager.checkAll();
  await r.manager.settled(ID);
  const rec = r.manager.get(ID)!;
  expect(rec.stoppedReason).toBe('Pause container exited (code 137); the task lost its network namespace');
  expect(rec.lastStatus).toBe('STOPPED');
});

test('the pause process gone while the engine keeps saying running: after the bounded wait, the network is called lost', async () => {
  const r = rig();
  await running(r);
  r.hostNet.readNetns = async () => undefined;
  let inspects = 0;
  const inspect = r.runtime.inspect.bind(r.runtime);
  r.runtime.inspect = async (id: string) => {
    inspects++;
    return inspect(id);
  };
  await r.manager.checkAll();
  await r.manager.settled(ID);
  expect(r.manager.get(ID)!.stoppedReason).toBe('Task network lost: the pause process is gone');
  // bounded: the first inspect, then about 3 s of polls at 100 ms, not an endless wait
  expect(inspects).toBeGreaterThan(20);
  expect(inspects).toBeLessThan(60);
}, 15_000);

test('after the engine comes back, a failed cleanup is retried at once, not after its doubled wait', async () => {
  const r = rig({ config: { cleanupRetryBackoffMs: 60_000, cleanupMaxAttempts: 5 } });
  await running(r);
  r.cni.fail.set('del:bridge', cniFailure('bridge', 'engine away'));
  await r.manager.stop(ID, 'Task stopped by user');
  await r.manager.settled(ID);
  const pass = async (): Promise<void> => {
    await r.manager.checkAll();
    await r.manager.settled(ID);
  };
  await pass();
  const dels = () => r.journal.filter((l) => l.startsWith('cni DEL bridge')).length;
  expect(dels()).toBe(2);
  await pass();
  expect(dels()).toBe(2); // waiting its 2 minutes
  r.outages.lost();
  await pass();
  expect(dels()).toBe(2); // still down: still waiting
  r.cni.fail.clear();
  r.outages.back();
  await pass();
  expect(dels()).toBe(3);
  expect(r.manager.get(ID)!.cleanupErrors).toEqual([]);
});

test('teardown passes the engine was away for are not counted against the retry bound; the passes after its return are', async () => {
  const r = rig({ config: { cleanupRetryBackoffMs: 1000, cleanupMaxAttempts: 2 } });
  await running(r);
  r.cni.fail.set('del:bridge', cniFailure('bridge', 'engine away'));
  const pass = async (): Promise<void> => {
    await r.manager.checkAll();
    await r.manager.settled(ID);
  };
  r.outages.lost();
  await r.manager.stop(ID, 'Task stopped by user');
  await r.manager.settled(ID);
  for (let i = 0; i < 4; i++) {
    r.clock.now += 60_000;
    await pass();
  }
  const dels = () => r.journal.filter((l) => l.startsWith('cni DEL bridge')).length;
  expect(dels()).toBe(5); // the stop and four retries, all while the engine was away
  expect(r.manager.get(ID)!.cleanupAttempts ?? 0).toBe(0);
  expect(r.manager.get(ID)!.cleanupAbandoned).toBeUndefined();
  // a pass that began while the engine was away and ended after its return is not counted either
  r.clock.now += 60_000;
  const del = r.cni.del.bind(r.cni);
  r.cni.del = async (call, rt) => {
    r.outages.back(); // the engine returns while this pass runs
    return del(call, rt);
  };
  await pass();
  expect(dels()).toBe(6);
  expect(r.manager.get(ID)!.cleanupAttempts ?? 0).toBe(0);
  r.cni.del = del;
  r.clock.now += 60_000;
  await pass();
  r.clock.now += 60_000;
  await pass();
  expect(r.manager.get(ID)!.cleanupAttempts).toBe(2);
  expect(r.manager.get(ID)!.cleanupAbandoned).toMatch(/^gave up after 2 teardown attempts; left: /);
  const before = dels();
  r.clock.now += 60 * 60_000;
  await pass();
  expect(dels()).toBe(before);
});

test('cleanup retries wait a doubling time between passes, whatever number of checks come in between, and stop at the bound', async () => {
  const r = rig({ config: { cleanupRetryBackoffMs: 1000, cleanupMaxAttempts: 3 } });
  await running(r);
  r.cni.fail.set('del:bridge', cniFailure('bridge', 'device busy'));
  await r.manager.stop(ID, 'Task stopped by user');
  await r.manager.settled(ID);
  const dels = () => r.journal.filter((l) => l.startsWith('cni DEL bridge')).length;
  expect(dels()).toBe(1);
  const pass = async (): Promise<void> => {
    await r.manager.checkAll();
    await r.manager.settled(ID);
  };
  await pass(); // the first retry is at once (nothing recorded in this process yet)
  expect(dels()).toBe(2);
  await pass();
  await pass();
  expect(dels()).toBe(2); // no time has passed
  r.clock.now += 1999; // after 2 passes the wait is 2 s
  await pass();
  expect(dels()).toBe(2);
  r.clock.now += 1;
  await pass();
  expect(dels()).toBe(3);
  expect(r.manager.get(ID)!.cleanupAbandoned).toMatch(/^gave up after 3 teardown attempts/);
  // an engine coming back makes retries due at once, but never past the bound
  r.outages.lost();
  r.outages.back();
  await pass();
  r.clock.now += 10 * 60_000;
  await pass();
  expect(dels()).toBe(3);
});

test('a setup interrupted by a host restart (pause exited, pin gone) is stopped with "Host restarted", not set up again', async () => {
  const store = new MemoryTaskStore();
  const first = rig({ store });
  first.links.present.add(MAC);
  const realAdd = first.cni.add.bind(first.cni);
  // the first daemon "dies" inside the bridge ADD: its promise never settles
  first.cni.add = async (call, rt) => (call.plugin === 'bridge' ? new Promise(() => undefined) : realAdd(call, rt));
  await first.manager.submit(spec(), 'api');
  await new Promise((res) => setTimeout(res, 50));
  expect(first.manager.get(ID)!.lastStatus).not.toBe('RUNNING');
  first.manager.close();
  const second = rig({ store, clock: { now: T0 + 60_000 } });
  second.links.present.add(MAC);
  for (const [id, c] of first.runtime.containers) {
    second.runtime.containers.set(id, c);
    second.runtime.exit(id, 137);
    c.finishedAt = iso(T0 + 30_000);
  }
  for (const rec of (await store.load()).records) second.manager.adopt(rec);
  await second.manager.settled(ID);
  const rec = second.manager.get(ID)!;
  expect(rec.lastStatus).toBe('STOPPED');
  expect(rec.stoppedReason).toBe(
    `Host restarted: the pause container is exited (code 137, at ${iso(T0 + 30_000)}) and the task's pinned namespace /run/test/netns/${ID} is gone`,
  );
  // not set up again: no second pause container was made
  expect(second.journal.filter((l) => l.startsWith('create '))).toEqual([]);
  expect(second.runtime.containers.size).toBe(0);
});
