// The manager's ordering and rollback, against in-memory fakes (no root, no engine).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateTask } from '../../agent/task/validate/index.js';
import { ENI_TIMEOUT_REASON, ESSENTIAL_EXITED_REASON } from '../../agent/task/task-manager.js';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import { CniError } from '../../agent/errors.js';
import { cniFailure, rig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };

function spec(over: Record<string, unknown> = {}): TaskSpec {
  return validateTask({ ...structuredClone(example), ...over }, VOPTS);
}
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';

/** The journal of a teardown once the task containers are gone: CNI DEL in reverse, the pause container, the namespace, then the wait for the ENI on the host. */
const TEARDOWN_JOURNAL = [
  `cni DEL bridge ecs-eth0 /run/test/netns/${ID}`,
  `cni DEL host-device eth0 /run/test/netns/${ID}`,
  `stop awsvpcd-${ID}-internalecspause`,
  `remove awsvpcd-${ID}-internalecspause`,
  `unpin ${ID}`,
  `wait-eni ${MAC}`,
];

type Rig = ReturnType<typeof rig>;

/** Submits the task with its ENI on the host and waits until the setup has settled. */
async function submitted(r: Rig = rig(), s: TaskSpec = spec()): Promise<Rig> {
  r.links.present.add(MAC);
  await r.manager.submit(s, 'api');
  await r.manager.settled(ID);
  return r;
}

/** Stops the task and waits until the teardown has settled. */
async function stopped(r: Rig, reason = 'Task stopped by user') {
  await r.manager.stop(ID, reason);
  await r.manager.settled(ID);
  return r.manager.get(ID)!;
}

/** A teardown that left nothing behind: no container, no error, nothing to clean up. */
function expectNothingLeft(r: Rig, rec: TaskRecord): void {
  expect(r.runtime.containers.size).toBe(0);
  expect(rec.cleanupErrors).toEqual([]);
  expect(r.manager.needsCleanup(rec)).toBe(false);
}

describe('TaskManager', () => {
  test('sets a task up as a graph: pause beside the ENI wait, creates beside the ADDs, starts after the network', async () => {
    const r = await submitted();
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    expect(rec.attachmentStatus).toBe('ATTACHED');
    const j = r.journal;
    const at = (line: string | RegExp): number => j.findIndex((l) => (typeof line === 'string' ? l === line : line.test(l)));
    const before = (a: string | RegExp, b: string | RegExp): void => {
      expect(at(a)).toBeGreaterThan(-1);
      expect(at(a)).toBeLessThan(at(b));
    };
    expect(j).toHaveLength(12);
    // The network needs the ENI and the pause container; the pin and the IMDS route run beside the ADDs.
    before(`wait-eni ${MAC}`, /^cni ADD host-device/);
    before(`create awsvpcd-${ID}-internalecspause`, `start awsvpcd-${ID}-internalecspause`);
    before(`start awsvpcd-${ID}-internalecspause`, `pin ${ID}`);
    before(`start awsvpcd-${ID}-internalecspause`, 'blackhole 169.254.169.254/32');
    before(/^cni ADD host-device eth0 \/proc\/\d+\/ns\/net$/, /^cni ADD bridge ecs-eth0 \/proc\/\d+\/ns\/net$/);
    before(/^cni ADD bridge/, 'bridge-addr ecs-bridge 169.254.172.1/22');
    // Containers are created once the pause container runs, started only once the network is set up.
    for (const c of ['app', 'probe']) {
      before(`start awsvpcd-${ID}-internalecspause`, `create awsvpcd-${ID}-${c}`);
      before(`create awsvpcd-${ID}-${c}`, `start awsvpcd-${ID}-${c}`);
      before('bridge-addr ecs-bridge 169.254.172.1/22', `start awsvpcd-${ID}-${c}`);
    }
    // probe dependsOn app START.
    before(`start awsvpcd-${ID}-app`, `start awsvpcd-${ID}-probe`);
    // The creates overlap the ADDs (the fakes answer at once, so they land between the two ADDs).
    before(`create awsvpcd-${ID}-app`, /^cni ADD bridge/);
    const pause = r.runtime.byName(`awsvpcd-${ID}-internalecspause`)!;
    expect(pause.opts.networkMode).toBe('none');
    expect(pause.opts.hostname).toBe('ip-10-99-1-15.ec2.internal');
    expect(pause.opts.extraHosts).toEqual(['ip-10-99-1-15.ec2.internal:10.99.1.15']);
    expect(pause.opts.dns).toEqual(['10.99.0.2']);
    expect(pause.opts.dnsSearch).toEqual(['ec2.internal']);
    expect(pause.opts.capAdd).toBeUndefined();
    expect(r.runtime.byName(`awsvpcd-${ID}-app`)!.opts.networkMode).toBe(`container:${pause.id}`);
    expect(rec.localIpAddress).toBe('169.254.172.2');
    expect(rec.cni.map((c) => c.phase)).toEqual(['added', 'added']);
  });

  test('the pause container name is saved before it is created, and its id right after', async () => {
    const store = new MemoryTaskStore();
    const seen: Array<{ name?: string; id?: string }> = [];
    const origSave = store.save.bind(store);
    store.save = async (rec) => {
      seen.push({ name: rec.pause?.runtimeName, id: rec.pause?.runtimeId });
      return origSave(rec);
    };
    await submitted(rig({}, store));
    const firstNamed = seen.findIndex((s) => s.name);
    expect(firstNamed).toBeGreaterThan(-1);
    expect(seen[firstNamed]!.id).toBeUndefined(); // intent saved before the engine call
    expect(seen.some((s) => s.id)).toBe(true);
  });

  test('an ENI that never appears stops the task with the ECS reason; what was made meanwhile is removed, nothing started', async () => {
    const r = rig();
    await r.manager.submit(spec({ waitTimeoutMs: 300 }), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(ENI_TIMEOUT_REASON);
    const j = r.journal;
    expect(j[0]).toBe(`wait-eni ${MAC}`);
    // The pause container and the task containers came up during the wait; no task container started, no plugin ran.
    expect(j).toContain(`start awsvpcd-${ID}-internalecspause`);
    expect(j.filter((l) => /^start awsvpcd-.*-(app|probe)$/.test(l) || l.startsWith('cni ') || l.startsWith('pin '))).toEqual([]);
    expect(j.filter((l) => l.startsWith('create ')).map((l) => l.replace('create', 'remove')).sort()).toEqual(j.filter((l) => l.startsWith('remove ')).sort());
    expectNothingLeft(r, rec);
  });

  test('a failed bridge ADD rolls back in reverse: DEL of both plugins, pause removed, namespace released', async () => {
    const r = rig();
    r.cni.fail.set('bridge', cniFailure('bridge', 'no IP addresses available in range set'));
    await submitted(r);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Network setup failed: bridge ADD on ecs-eth0: no IP addresses available in range set');
    const tail = r.journal.slice(r.journal.findIndex((l) => l.startsWith('cni ADD bridge')) + 1);
    // The task containers were created beside the ADDs, never started, and go first.
    expect(tail.slice(0, 2).sort()).toEqual([`remove awsvpcd-${ID}-app`, `remove awsvpcd-${ID}-probe`]);
    // after STOPPED: the ENI is watched for on the host before the attachment reads DELETED
    expect(tail.slice(2)).toEqual(TEARDOWN_JOURNAL);
    expectNothingLeft(r, rec);
  });

  test('a namespace pin that fails after the ADDs: they are undone through the pause pid, nothing is left', async () => {
    const r = rig();
    r.hostNet.failPin = new Error('mount --bind failed: permission denied');
    await submitted(r);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Task failed to start: mount --bind failed: permission denied');
    // The pin ran beside the ADDs; the failure shows once they are done, and no task container was started.
    expect(r.journal.filter((l) => l.startsWith('cni ADD'))).toHaveLength(2);
    expect(r.journal.some((l) => l.startsWith(`start awsvpcd-${ID}-app`))).toBe(false);
    const tail = r.journal.slice(r.journal.findIndex((l) => l.startsWith('cni ADD bridge')) + 1).filter((l) => !/-(app|probe)$/.test(l));
    expect(tail).toEqual([
      'bridge-addr ecs-bridge 169.254.172.1/22',
      `unpin ${ID}`,
      expect.stringMatching(/^cni DEL bridge ecs-eth0 \/proc\/\d+\/ns\/net$/),
      expect.stringMatching(/^cni DEL host-device eth0 \/proc\/\d+\/ns\/net$/),
      `stop awsvpcd-${ID}-internalecspause`,
      `remove awsvpcd-${ID}-internalecspause`,
      `wait-eni ${MAC}`,
    ]);
    expect(rec.pause?.netnsPath).toBeUndefined();
    expectNothingLeft(r, rec);
  });

  test('stop: task containers first, then CNI DEL in reverse, then pause, then the namespace', async () => {
    const r = await submitted();
    r.journal.length = 0;
    const rec = await stopped(r);
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Task stopped by user');
    await r.manager.eniSettled(ID);
    expect(rec.attachmentStatus).toBe('DELETED');
    expect(rec.eniReturn).toMatchObject({ seen: true });
    const apps = r.journal.slice(0, 4).sort();
    expect(apps).toEqual([`remove awsvpcd-${ID}-app`, `remove awsvpcd-${ID}-probe`, `stop awsvpcd-${ID}-app`, `stop awsvpcd-${ID}-probe`]);
    expect(r.journal.slice(4)).toEqual(TEARDOWN_JOURNAL);
  });

  test('after STOPPED the attachment reads DELETED once the ENI is back on the host, or when the bounded wait ends', async () => {
    const r = await submitted(rig({ eniReturnTimeoutMs: 300 }));
    // The ENI is in the task namespace now: not on the host until that namespace is destroyed.
    r.links.present.delete(MAC);
    const rec = await stopped(r);
    expect(rec.lastStatus).toBe('STOPPED'); // never held back by the wait
    expect(rec.attachmentStatus).toBe('DETACHING');
    setTimeout(() => r.links.present.add(MAC), 50);
    await r.manager.eniSettled(ID);
    expect(rec.attachmentStatus).toBe('DELETED');
    expect(rec.eniReturn).toMatchObject({ seen: true, hostName: 'eth1' });

    const q = await submitted(rig({ eniReturnTimeoutMs: 100 }));
    q.links.present.delete(MAC);
    await stopped(q);
    await q.manager.eniSettled(ID);
    const lost = q.manager.get(ID)!;
    expect(lost.attachmentStatus).toBe('DELETED');
    expect(lost.eniReturn).toMatchObject({ seen: false });
    expect(lost.eniReturn!.note).toContain(`ENI ${MAC} was not seen on the host`);
    expect((await q.store.load()).records[0]!.eniReturn).toMatchObject({ seen: false });
  });

  test('busy while a drive is in flight; onSettled once the last one ends, for setups and for stops', async () => {
    let settledCalls = 0;
    const r = rig({}, undefined, { onSettled: () => void settledCalls++ });
    expect(r.manager.busy()).toBe(false);
    await r.manager.submit(spec(), 'api');
    // The ENI is not there yet: the setup waits, and the work has not settled.
    await new Promise((res) => setTimeout(res, 30));
    expect(r.manager.busy()).toBe(true);
    expect(settledCalls).toBe(0);
    r.links.present.add(MAC);
    await r.manager.settled(ID);
    await new Promise((res) => setImmediate(res));
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.manager.busy()).toBe(false);
    expect(settledCalls).toBe(1);
    await r.manager.stop(ID, 'Task stopped by user');
    expect(r.manager.busy()).toBe(true);
    await r.manager.settled(ID);
    await new Promise((res) => setImmediate(res));
    expect(r.manager.get(ID)!.lastStatus).toBe('STOPPED');
    expect(r.manager.busy()).toBe(false);
    expect(settledCalls).toBe(2);
  });

  test('an essential container that exits stops the task; a non-essential one does not', async () => {
    const r = await submitted();
    const probe = r.runtime.byName(`awsvpcd-${ID}-probe`)!;
    r.runtime.exit(probe.id, 0);
    await r.manager.onContainerEvent({ action: 'die', id: probe.id, labels: probe.labels });
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.manager.get(ID)!.containers.find((c) => c.name === 'probe')!.exitCode).toBe(0);
    const app = r.runtime.byName(`awsvpcd-${ID}-app`)!;
    r.runtime.exit(app.id, 137);
    await r.manager.onContainerEvent({ action: 'die', id: app.id, labels: app.labels });
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(ESSENTIAL_EXITED_REASON);
    expect(rec.containers.find((c) => c.name === 'app')!.exitCode).toBe(137);
  });

  test('a DEL that fails is kept in cleanupErrors, the namespace is kept for it, and a later pass finishes', async () => {
    const r = await submitted();
    r.cni.fail.set('del:bridge', cniFailure('bridge', 'device busy'));
    let rec = await stopped(r);
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.cleanupErrors).toEqual(['bridge DEL on ecs-eth0: bridge ADD: device busy', 'network namespace kept until CNI DEL succeeds']);
    expect(r.hostNet.pinned.size).toBe(1);
    // host-device DEL still ran after the bridge failure
    expect(r.journal.filter((l) => l.startsWith('cni DEL host-device'))).toHaveLength(1);
    r.cni.fail.clear();
    await r.manager.checkAll();
    await r.manager.settled(ID);
    rec = r.manager.get(ID)!;
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.hostNet.pinned.size).toBe(0);
    expect(r.manager.needsCleanup(rec)).toBe(false);
    // DEL of host-device was not repeated: it had succeeded
    expect(r.journal.filter((l) => l.startsWith('cni DEL host-device'))).toHaveLength(1);
  });

  /** A first manager that "dies" inside the ADD of `plugin` (its promise never settles), and a second one on the same store. */
  async function crashInsideAdd(plugin: string) {
    const store = new MemoryTaskStore();
    const first = rig({}, store);
    first.links.present.add(MAC);
    const realAdd = first.cni.add.bind(first.cni);
    let atAdd!: () => void;
    const reached = new Promise<void>((r) => (atAdd = r));
    first.cni.add = async (call, rt) => {
      if (call.plugin !== plugin) return realAdd(call, rt);
      atAdd();
      return new Promise(() => undefined);
    };
    await first.manager.submit(spec(), 'api');
    // The hang is waited for (a fixed pause alone is too short on a loaded machine); the creates beside it settle in the pause after.
    await Promise.race([reached, first.manager.settled(ID)]); // 'none': no hang, the first run settles
    await new Promise((r) => setTimeout(r, 50));
    const second = rig({}, store);
    // the engine still has the first run's pause container, and its namespace is still pinned
    for (const [id, c] of first.runtime.containers) second.runtime.containers.set(id, c);
    const pid = [...first.runtime.containers.values()].find((c) => c.name.endsWith('internalecspause'))!.pid;
    if (first.hostNet.pinned.size) await second.hostNet.pinNetns(pid, ID);
    second.journal.length = 0;
    return { store, first, second, pid };
  }

  /** What host-device + bridge leave in the namespace when both ADDs are done. */
  const CONFIGURED = {
    links: [
      { name: 'lo', mac: '00:00:00:00:00:00', up: true, addrs: ['127.0.0.1/8'] },
      { name: 'eth0', mac: MAC, up: true, addrs: ['10.99.1.15/24'] },
      { name: 'ecs-eth0', mac: '0a:58:a9:fe:ac:02', up: true, addrs: ['169.254.172.2/22'] },
    ],
    routes: [
      { dst: 'default', type: 'unicast', gateway: '10.99.1.1', dev: 'eth0' },
      { dst: '169.254.170.2/32', type: 'unicast', gateway: '169.254.172.1', dev: 'ecs-eth0' },
    ],
  };

  test('a setup interrupted inside the ENI ADD with the ENI still on the host: carried forward, nothing rolled back', async () => {
    const { store, second } = await crashInsideAdd('host-device');
    const saved = (await store.load()).records[0]!;
    expect(saved.lastStatus).toBe('PROVISIONING');
    expect(saved.cni).toEqual([{ plugin: 'host-device', ifName: 'eth0', phase: 'intent' }]);
    second.links.present.add(MAC); // the ADD never moved it
    second.manager.adopt((await store.load()).records[0]!);
    await second.manager.settled(ID);
    expect(second.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const j = second.journal;
    expect(j.filter((l) => l.startsWith('cni DEL'))).toEqual([]);
    expect(j.filter((l) => l.startsWith('cni ADD')).map((l) => l.split(' ')[2])).toEqual(['host-device', 'bridge']);
    expect(j.some((l) => l.startsWith('create awsvpcd-') && l.endsWith('internalecspause'))).toBe(false);
    expect([...second.runtime.containers.values()].filter((c) => c.name.endsWith('internalecspause'))).toHaveLength(1);
  });

  test('a setup interrupted after its ADDs, namespace verified: carried forward to RUNNING without repeating an ADD', async () => {
    const { store, second } = await crashInsideAdd('none'); // no hang: the first run gets to RUNNING ...
    const rec = (await store.load()).records[0]!;
    // ... and is made to look as if it died right after the bridge ADD, before saving its result.
    rec.lastStatus = 'PROVISIONING';
    rec.cni = rec.cni.map((c) => (c.plugin === 'bridge' ? { plugin: c.plugin, ifName: c.ifName, phase: 'intent' } : c));
    rec.containers = rec.spec.containers.map((c) => ({ name: c.name, lastStatus: 'PENDING', exitCode: null, reason: null }));
    rec.localIpAddress = undefined;
    second.hostNet.detail = structuredClone(CONFIGURED);
    second.manager.adopt(rec);
    await second.manager.settled(ID);
    const after = second.manager.get(ID)!;
    expect(after.lastStatus).toBe('RUNNING');
    expect(after.cni.map((c) => c.phase)).toEqual(['added', 'added']);
    expect(after.localIpAddress).toBe('169.254.172.2');
    expect(second.journal.filter((l) => l.startsWith('cni '))).toEqual([]);
  });

  test('a setup interrupted with the ENI gone from the host and not seen in the namespace: rolled back, then set up again', async () => {
    const { store, second } = await crashInsideAdd('host-device');
    // not on the host, and the namespace shows nothing: what the ADD did cannot be verified
    second.manager.adopt((await store.load()).records[0]!);
    await new Promise((r) => setTimeout(r, 50));
    const j = second.journal;
    expect(j).toContain(`cni DEL host-device eth0 /run/test/netns/${ID}`);
    expect(j.indexOf(`remove awsvpcd-${ID}-internalecspause`)).toBeGreaterThan(-1);
    // the ENI comes back once its namespace is gone; the setup starts over with it
    second.links.present.add(MAC);
    await second.manager.settled(ID);
    expect(second.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(j.indexOf(`remove awsvpcd-${ID}-internalecspause`)).toBeLessThan(j.lastIndexOf(`create awsvpcd-${ID}-internalecspause`));
    expect([...second.runtime.containers.values()].filter((c) => c.name.endsWith('internalecspause'))).toHaveLength(1);
  });

  test('ecs set: an IPAM release answered "no ip address associated with the given id" counts as released; a bridge DEL failing with the namespace gone counts as done', async () => {
    const r = await submitted(rig({ pluginSet: 'ecs' }));
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    // What the real ecs-ipam says to a second DEL of the same id (contract case ipam-del-again).
    r.cni.fail.set('del:ecs-ipam', new CniError({ plugin: 'ecs-ipam', command: 'DEL', kind: 'plugin-error', cniCode: 100, cniMsg: `release ipstore: no ip address associated with the given id: ${MAC}`, message: 'x' }));
    // ecs-bridge DEL once the namespace is gone (br-del-nonetns): fails on every attempt.
    r.cni.fail.set('del:ecs-bridge', new CniError({ plugin: 'ecs-bridge', command: 'DEL', kind: 'plugin-error', cniCode: 100, message: 'failed to Statfs' }));
    const pid = [...r.runtime.containers.values()].find((c) => c.name.endsWith('internalecspause'))!.pid;
    await r.hostNet.releaseNetns(`/run/test/netns/${ID}`); // the namespace is gone (a reboot, an unmount)
    r.hostNet.deadPids.add(pid);
    const rec = await stopped(r);
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.cleanupErrors).toEqual([]);
    expect(rec.ipamReleased).toBe(true);
    expect(rec.cni.map((c) => c.phase)).toEqual(['deleted', 'deleted']);
    expect(r.manager.needsCleanup(rec)).toBe(false);
    expect(r.journal.filter((l) => l.startsWith('cni DEL ecs-bridge'))).toHaveLength(1);
  });

  test('a DEL that keeps failing with the namespace still there is retried a bounded number of times, and the record says what was left', async () => {
    const r = await submitted(rig({ cleanupMaxAttempts: 3 }));
    r.cni.fail.set('del:bridge', cniFailure('bridge', 'device busy'));
    await stopped(r);
    for (let i = 0; i < 5; i++) {
      await r.manager.checkAll();
      await r.manager.settled(ID);
    }
    const rec = r.manager.get(ID)!;
    expect(r.journal.filter((l) => l.startsWith('cni DEL bridge'))).toHaveLength(3);
    expect(rec.cleanupAttempts).toBe(3);
    expect(rec.cleanupAbandoned).toContain('gave up after 3 teardown attempts; left: bridge DEL on ecs-eth0');
    expect((await r.store.load()).records[0]!.cleanupAbandoned).toBe(rec.cleanupAbandoned);
  });

  test('the same ARN with the same content is idempotent; different content is a conflict', async () => {
    const r = rig();
    r.links.present.add(MAC);
    expect((await r.manager.submit(spec(), 'api')).created).toBe(true);
    expect((await r.manager.submit(spec(), 'api')).created).toBe(false);
    await expect(r.manager.submit(spec({ family: 'other' }), 'api')).rejects.toMatchObject({ code: 'CONFLICT' });
    await r.manager.settled(ID);
  });

  test('statuses never move backwards', async () => {
    const r = rig();
    r.links.present.add(MAC);
    const statuses: string[] = [];
    const origSave = r.store.save.bind(r.store);
    r.store.save = async (rec) => {
      statuses.push(rec.lastStatus);
      return origSave(rec);
    };
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    await stopped(r, 'x');
    const order = ['PROVISIONING', 'PENDING', 'RUNNING', 'DEPROVISIONING', 'STOPPED'];
    const idx = statuses.map((s) => order.indexOf(s));
    expect(idx).toEqual([...idx].sort((a, b) => a - b));
    expect(new Set(statuses)).toEqual(new Set(order));
  });
});
