// The task core's seams on their own: the pure next-action decision, a task source built only from the
// TaskIntake/TaskSource seam, the source surviving a rebuild from the engine, and the bridge lock decorator.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { BridgeLockedInvoker } from '../../cni/locked-invoker.js';
import type { CniCall, CniInvoker, CniResult, CniRuntime } from '../../cni/types.js';
import { LABEL } from '../../agent/docker/container-config.js';
import { newTaskRecord } from '../../agent/task/admission.js';
import { stopUnlisted, type TaskIntake, type TaskSource } from '../../agent/task/intake.js';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { nextAction, needsCleanup } from '../../agent/task/next-action.js';
import { Reconciler } from '../../agent/task/reconciler.js';
import { validateTask } from '../../agent/task/validate/index.js';
import { rig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';
const spec = (): TaskSpec => validateTask(structuredClone(example), VOPTS);
const silent = pino({ level: 'silent' });

describe('nextAction (pure)', () => {
  const ECS = { ipamRelease: { plugin: 'ecs-ipam', ifName: 'ecs-eth0', role: 'ipam' as const, config: {} } };
  const REF = { ipamRelease: undefined };
  const fresh = (): TaskRecord => newTaskRecord(spec(), 'api', new Date(0));

  test('a new task is provisioned; a RUNNING one needs nothing', () => {
    const rec = fresh();
    expect(nextAction(rec, REF)).toBe('provision');
    rec.lastStatus = 'RUNNING';
    expect(nextAction(rec, REF)).toBe('none');
  });

  test('a setup that left something recorded is resumed (carried forward or rolled back), never started blind', () => {
    const rec = fresh();
    rec.pause = { runtimeName: 'p' };
    expect(nextAction(rec, REF)).toBe('resume');
    rec.pause = undefined;
    rec.cni = [{ plugin: 'host-device', ifName: 'eth0', phase: 'intent' }];
    expect(nextAction(rec, REF)).toBe('resume');
  });

  test('asked to stop, or a teardown under way: deprovision; even before anything started', () => {
    const rec = fresh();
    rec.desiredStatus = 'STOPPED';
    expect(nextAction(rec, REF)).toBe('deprovision');
    const t = fresh();
    t.lastStatus = 'DEPROVISIONING';
    expect(nextAction(t, REF)).toBe('deprovision');
  });

  test('rebuilt from the engine mid-setup: failed, not started again', () => {
    const rec = fresh();
    rec.rebuiltFromEngine = true;
    expect(nextAction(rec, REF)).toBe('fail-rebuilt');
  });

  test('STOPPED: cleanup while something is recorded (not once retries gave up), then the ENI watch, then nothing', () => {
    const rec = fresh();
    rec.lastStatus = 'STOPPED';
    rec.attachmentStatus = 'DETACHING';
    rec.cni = [{ plugin: 'ecs-bridge', ifName: 'ecs-eth0', phase: 'deleted' }];
    // The bridge step was recorded and the set releases the address separately: still pending.
    expect(needsCleanup(rec, ECS)).toBe(true);
    expect(nextAction(rec, ECS)).toBe('cleanup');
    rec.cleanupAbandoned = 'gave up';
    expect(nextAction(rec, ECS)).toBe('watch-eni');
    rec.cleanupAbandoned = undefined;
    rec.ipamReleased = true;
    expect(nextAction(rec, ECS)).toBe('watch-eni');
    rec.attachmentStatus = 'DELETED';
    expect(nextAction(rec, ECS)).toBe('none');
    // The reference set's bridge DEL releases the address itself: nothing separate pending.
    expect(needsCleanup({ ...rec, ipamReleased: undefined }, REF)).toBe(false);
  });
});

/** A third task source, written only against the seam: runs what is in its list, stops what leaves it. */
class ListSource implements TaskSource {
  readonly name = 'list';
  private intake: TaskIntake | undefined;
  constructor(private readonly log: Logger) {}
  async start(intake: TaskIntake): Promise<void> {
    this.intake = intake;
  }
  close(): void {
    this.intake = undefined;
  }
  async set(specs: TaskSpec[]): Promise<void> {
    for (const s of specs) await this.intake!.submit(s, this.name);
    await stopUnlisted(this.intake!, this.name, new Set(specs.map((s) => s.taskId)), (id) => `Task ${id} left the list`, this.log);
  }
}

describe('task sources through the seam', () => {
  test('a new source runs a task and stops it when it leaves its list, leaving other sources alone', async () => {
    const r = rig();
    r.links.present.add(MAC);
    const other = { ...spec(), taskId: 'a'.repeat(32), taskArn: `arn:aws:ecs:us-east-1:111122223333:task/default/${'a'.repeat(32)}` };
    await r.manager.submit(other, 'api'); // the API's task: not this source's to stop
    const src = new ListSource(silent);
    await src.start(r.manager);
    await src.set([spec()]);
    await r.manager.settled(ID);
    expect(r.manager.get(ID)).toMatchObject({ lastStatus: 'RUNNING', source: 'list' });
    await src.set([]);
    await r.manager.settled(ID);
    expect(r.manager.get(ID)).toMatchObject({ lastStatus: 'STOPPED', stoppedReason: `Task ${ID} left the list` });
    expect(r.manager.get(other.taskId)!.desiredStatus).toBe('RUNNING');
    src.close();
    r.manager.close();
  });

  test('the source survives a rebuild from the engine: it is a label on every container', async () => {
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec(), 'spool');
    await r.manager.settled(ID);
    const labels = [...r.runtime.containers.values()].map((c) => c.labels[LABEL.source]);
    expect(labels).toEqual(['spool', 'spool', 'spool']);
    // The state is lost: a fresh daemon (no records) on the same engine rebuilds the task from its labels.
    const fresh = rig();
    const rec = new Reconciler({ manager: fresh.manager, runtime: r.runtime, hostNet: fresh.hostNet, store: fresh.store, logger: silent, now: Date.now });
    await rec.run({ immediate: true });
    expect(fresh.manager.get(ID)).toMatchObject({ rebuiltFromEngine: true, source: 'spool', lastStatus: 'RUNNING' });
    r.manager.close();
    fresh.manager.close();
  });
});

describe('BridgeLockedInvoker', () => {
  /** An invoker whose calls finish when released, recording how many run at once. */
  function gated() {
    let running = 0;
    let most = 0;
    const waiting: Array<() => void> = [];
    const inner: CniInvoker = {
      async add(): Promise<CniResult> {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => waiting.push(r));
        running--;
        return { cniVersion: '0.3.0', interfaces: [], ips: [], routes: [], dns: {} };
      },
      async del(): Promise<void> {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => waiting.push(r));
        running--;
      },
      async check() {},
      async version() {
        return { cniVersion: '0.3.0', supportedVersions: ['0.3.0'] };
      },
    };
    const drain = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 1));
        waiting.splice(0).forEach((w) => w());
      }
    };
    return { inner, most: () => most, drain };
  }
  const call = (role: CniCall['role']): CniCall => ({ plugin: role === 'eni' ? 'ecs-eni' : 'ecs-bridge', ifName: 'x', role, config: {} });
  const rt: CniRuntime = { containerId: 'c', netns: '/proc/1/ns/net', timeoutMs: 1000 };

  test('ecs/vpc: bridge and IPAM calls one at a time (one IPAM database); ENI calls are never held back', async () => {
    const g = gated();
    const inv = new BridgeLockedInvoker(g.inner, 'ecs');
    const all = Promise.all([inv.add(call('bridge'), rt), inv.del(call('ipam'), rt), inv.add(call('bridge'), rt)]);
    await g.drain();
    await all;
    expect(g.most()).toBe(1);
    const h = gated();
    const inv2 = new BridgeLockedInvoker(h.inner, 'vpc');
    const eni = Promise.all([inv2.add(call('eni'), rt), inv2.add(call('eni'), rt), inv2.add(call('bridge'), rt)]);
    await h.drain();
    await eni;
    expect(h.most()).toBe(3);
  });

  test('reference: ADDs one at a time only until the first succeeds (it creates the bridge); DELs never wait', async () => {
    const g = gated();
    const inv = new BridgeLockedInvoker(g.inner, 'reference');
    const first = Promise.all([inv.add(call('bridge'), rt), inv.add(call('bridge'), rt)]);
    await g.drain();
    await first;
    expect(g.most()).toBe(1);
    const h = gated();
    const inv2 = new BridgeLockedInvoker(h.inner, 'reference');
    const one = inv2.add(call('bridge'), rt);
    await h.drain();
    await one;
    const later = Promise.all([inv2.add(call('bridge'), rt), inv2.add(call('bridge'), rt), inv2.del(call('bridge'), rt)]);
    await h.drain();
    await later;
    expect(h.most()).toBe(3);
  });
});
