// The manager's ordering and rollback, against in-memory fakes (no root, no engine).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateTask } from '../../agent/task/validate/index.js';
import { ENI_TIMEOUT_REASON, ESSENTIAL_EXITED_REASON } from '../../agent/task/task-manager.js';
import type { TaskSpec } from '../../agent/task/model.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import { cniFailure, rig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };

function spec(over: Record<string, unknown> = {}): TaskSpec {
  return validateTask({ ...structuredClone(example), ...over }, VOPTS);
}
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';

describe('TaskManager', () => {
  test('sets a task up in the ECS order and reaches RUNNING', async () => {
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('RUNNING');
    expect(rec.attachmentStatus).toBe('ATTACHED');
    expect(r.journal).toEqual([
      `wait-eni ${MAC}`,
      `create awsvpcd-${ID}-internalecspause`,
      `start awsvpcd-${ID}-internalecspause`,
      `pin ${ID}`,
      'blackhole 169.254.169.254/32',
      expect.stringMatching(/^cni ADD host-device eth0 \/proc\/\d+\/ns\/net$/),
      expect.stringMatching(/^cni ADD bridge ecs-eth0 \/proc\/\d+\/ns\/net$/),
      'bridge-addr ecs-bridge 169.254.172.1/22',
      `create awsvpcd-${ID}-app`,
      `start awsvpcd-${ID}-app`,
      `create awsvpcd-${ID}-probe`,
      `start awsvpcd-${ID}-probe`,
    ]);
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
    const r = rig({}, store);
    r.links.present.add(MAC);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const firstNamed = seen.findIndex((s) => s.name);
    expect(firstNamed).toBeGreaterThan(-1);
    expect(seen[firstNamed]!.id).toBeUndefined(); // intent saved before the engine call
    expect(seen.some((s) => s.id)).toBe(true);
  });

  test('an ENI that never appears stops the task with the ECS reason and creates nothing', async () => {
    const r = rig();
    await r.manager.submit(spec({ waitTimeoutMs: 50 }), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe(ENI_TIMEOUT_REASON);
    expect(r.journal).toEqual([`wait-eni ${MAC}`]);
  });

  test('a failed bridge ADD rolls back in reverse: DEL of both plugins, pause removed, namespace released', async () => {
    const r = rig();
    r.links.present.add(MAC);
    r.cni.fail.set('bridge', cniFailure('bridge', 'no IP addresses available in range set'));
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Network setup failed: bridge ADD on ecs-eth0: no IP addresses available in range set');
    const tail = r.journal.slice(r.journal.findIndex((l) => l.startsWith('cni ADD bridge')) + 1);
    expect(tail).toEqual([
      `cni DEL bridge ecs-eth0 /run/test/netns/${ID}`,
      `cni DEL host-device eth0 /run/test/netns/${ID}`,
      `stop awsvpcd-${ID}-internalecspause`,
      `remove awsvpcd-${ID}-internalecspause`,
      `unpin ${ID}`,
    ]);
    expect(r.runtime.containers.size).toBe(0);
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('a namespace pin that fails after the ADDs: they are undone through the pause pid, nothing is left', async () => {
    const r = rig();
    r.links.present.add(MAC);
    r.hostNet.failPin = new Error('mount --bind failed: permission denied');
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Task failed to start: mount --bind failed: permission denied');
    // The pin ran beside the ADDs; the failure shows once they are done, and no task container was created.
    expect(r.journal.filter((l) => l.startsWith('cni ADD'))).toHaveLength(2);
    expect(r.journal.some((l) => l.startsWith(`create awsvpcd-${ID}-app`))).toBe(false);
    const tail = r.journal.slice(r.journal.findIndex((l) => l.startsWith('cni ADD bridge')) + 1);
    expect(tail).toEqual([
      'bridge-addr ecs-bridge 169.254.172.1/22',
      `unpin ${ID}`,
      expect.stringMatching(/^cni DEL bridge ecs-eth0 \/proc\/\d+\/ns\/net$/),
      expect.stringMatching(/^cni DEL host-device eth0 \/proc\/\d+\/ns\/net$/),
      `stop awsvpcd-${ID}-internalecspause`,
      `remove awsvpcd-${ID}-internalecspause`,
    ]);
    expect(rec.pause?.netnsPath).toBeUndefined();
    expect(r.runtime.containers.size).toBe(0);
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('stop: task containers first, then CNI DEL in reverse, then pause, then the namespace', async () => {
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    r.journal.length = 0;
    await r.manager.stop(ID, 'Task stopped by user');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toBe('Task stopped by user');
    expect(rec.attachmentStatus).toBe('DELETED');
    const apps = r.journal.slice(0, 4).sort();
    expect(apps).toEqual([`remove awsvpcd-${ID}-app`, `remove awsvpcd-${ID}-probe`, `stop awsvpcd-${ID}-app`, `stop awsvpcd-${ID}-probe`]);
    expect(r.journal.slice(4)).toEqual([
      `cni DEL bridge ecs-eth0 /run/test/netns/${ID}`,
      `cni DEL host-device eth0 /run/test/netns/${ID}`,
      `stop awsvpcd-${ID}-internalecspause`,
      `remove awsvpcd-${ID}-internalecspause`,
      `unpin ${ID}`,
    ]);
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
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
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
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec(), 'api');
    await r.manager.settled(ID);
    r.cni.fail.set('del:bridge', cniFailure('bridge', 'device busy'));
    await r.manager.stop(ID, 'Task stopped by user');
    await r.manager.settled(ID);
    let rec = r.manager.get(ID)!;
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

  test('a setup interrupted by a crash is rolled back and started again on the next start', async () => {
    const store = new MemoryTaskStore();
    const first = rig({}, store);
    first.links.present.add(MAC);
    first.cni.add = async () => new Promise(() => undefined); // the daemon "dies" inside the bridge ADD
    await first.manager.submit(spec(), 'api');
    await new Promise((r) => setTimeout(r, 50));
    const saved = (await store.load()).records[0]!;
    expect(saved.lastStatus).toBe('PROVISIONING');
    expect(saved.cni).toEqual([{ plugin: 'host-device', ifName: 'eth0', phase: 'intent' }]);

    const second = rig({}, store);
    second.links.present.add(MAC);
    // the engine still has the first run's pause container
    for (const [id, c] of first.runtime.containers) second.runtime.containers.set(id, c);
    const rec = (await store.load()).records[0]!;
    second.manager.adopt(rec);
    await second.manager.settled(ID);
    expect(second.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const j = second.journal;
    expect(j.indexOf(`cni DEL host-device eth0 /run/test/netns/${ID}`)).toBeGreaterThan(-1);
    expect(j.indexOf(`remove awsvpcd-${ID}-internalecspause`)).toBeLessThan(j.indexOf(`create awsvpcd-${ID}-internalecspause`));
    expect([...second.runtime.containers.values()].filter((c) => c.name.endsWith('internalecspause'))).toHaveLength(1);
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
    await r.manager.stop(ID, 'x');
    await r.manager.settled(ID);
    const order = ['PROVISIONING', 'PENDING', 'RUNNING', 'DEPROVISIONING', 'STOPPED'];
    const idx = statuses.map((s) => order.indexOf(s));
    expect(idx).toEqual([...idx].sort((a, b) => a - b));
    expect(new Set(statuses)).toEqual(new Set(order));
  });
});
