// The task setup and teardown through the step graph, against in-memory fakes: what overlaps, what waits,
// what a failure lets finish, and the teardown's reverse dependsOn order.
import pino from 'pino';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateTask } from '../../agent/task/validate/index.js';
import type { TaskSpec } from '../../agent/model.js';
import { TaskManager } from '../../agent/task/task-manager.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import { dependentsOf } from '../../agent/docker/container-config.js';
import { FakeCni, FakeHostNet, FakeLinks, FakeRuntime, TEST_CONFIG, rig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';

function spec(containers: unknown[], over: Record<string, unknown> = {}): TaskSpec {
  return validateTask({ ...structuredClone(example), containers, ...over }, VOPTS);
}
const ctr = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: 'busybox:latest', essential: name === 'app', ...extra });

describe('setup as a graph', () => {
  test('the pause container and the creates run while the ENI is awaited; nothing starts and no plugin runs before it is found', async () => {
    const r = rig();
    await r.manager.submit(spec([ctr('app'), ctr('side', { dependsOn: [{ containerName: 'app', condition: 'START' }] })]), 'api');
    // Wait until the task containers are created: the ENI is still not on the host.
    for (let i = 0; i < 400 && !r.journal.includes(`create awsvpcd-${ID}-side`); i++) await new Promise((res) => setTimeout(res, 5));
    expect(r.journal).toContain(`start awsvpcd-${ID}-internalecspause`);
    expect(r.journal.filter((l) => l.startsWith('cni ') || l.startsWith('pin ') || /^start .*-(app|side)$/.test(l))).toEqual([]);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('PROVISIONING');
    // Created early: the record names it (runtimeId) and it stays PENDING until it starts.
    expect(rec.containers.map((c) => [c.name, c.lastStatus, !!c.runtimeId])).toEqual([['app', 'PENDING', true], ['side', 'PENDING', true]]);
    r.links.present.add(MAC);
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const j = r.journal;
    expect(j.indexOf(`wait-eni ${MAC}`)).toBeLessThan(j.findIndex((l) => l.startsWith('cni ADD')));
    expect(j.indexOf('bridge-addr ecs-bridge 169.254.172.1/22')).toBeLessThan(j.indexOf(`start awsvpcd-${ID}-app`));
    expect(j.indexOf(`start awsvpcd-${ID}-app`)).toBeLessThan(j.indexOf(`start awsvpcd-${ID}-side`));
  });

  test('containers with no dependency between them start at once', async () => {
    const r = rig();
    const inFlight = new Set<string>();
    let most = 0;
    const start = r.runtime.start.bind(r.runtime);
    r.runtime.start = async (id) => {
      inFlight.add(id);
      most = Math.max(most, inFlight.size);
      await new Promise((res) => setTimeout(res, 30));
      await start(id);
      inFlight.delete(id);
    };
    r.links.present.add(MAC);
    await r.manager.submit(spec([ctr('app'), ctr('a'), ctr('b')]), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    // pause alone, then the three task containers together
    expect(most).toBe(3);
  });

  test('a container waits for its dependency condition (COMPLETE), its sibling does not', async () => {
    const r = rig({ dependencyTimeoutMs: 5_000 });
    r.links.present.add(MAC);
    await r.manager.submit(
      spec([ctr('app'), ctr('init', { essential: false }), ctr('after', { dependsOn: [{ containerName: 'init', condition: 'COMPLETE' }] })]),
      'api',
    );
    for (let i = 0; i < 400 && !r.journal.includes(`start awsvpcd-${ID}-init`); i++) await new Promise((res) => setTimeout(res, 5));
    await new Promise((res) => setTimeout(res, 50));
    expect(r.journal).toContain(`start awsvpcd-${ID}-app`);
    expect(r.journal).not.toContain(`start awsvpcd-${ID}-after`);
    r.runtime.exit(r.runtime.byName(`awsvpcd-${ID}-init`)!.id, 0);
    await r.manager.settled(ID);
    expect(r.journal).toContain(`start awsvpcd-${ID}-after`);
  });

  test('a pull that fails while the ENI is awaited: the wait ends at once, what was made is removed, nothing started', async () => {
    const r = rig({ pullBehavior: 'always' });
    r.runtime.pullImage = async () => {
      await new Promise((res) => setTimeout(res, 20));
      throw new Error('manifest unknown');
    };
    const t0 = Date.now();
    await r.manager.submit(spec([ctr('app')], { waitTimeoutMs: 60_000 }), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toMatch(/^Container app: image busybox:latest could not be pulled: manifest unknown/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.runtime.containers.size).toBe(0);
    expect(r.journal.filter((l) => l.startsWith('cni ') || /^start .*-app$/.test(l))).toEqual([]);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('a pull in flight when another step fails is cut, not waited for: the rollback does not sit behind it', async () => {
    const r = rig({ pullBehavior: 'always' });
    let pullEnded: string | undefined;
    r.runtime.pullImage = (_ref: string, _timeoutMs: number, signal?: AbortSignal) =>
      new Promise<void>((_res, rej) => {
        // A pull that would take ten minutes, unless something ends it.
        const t = setTimeout(() => rej(new Error('pull took its whole deadline')), 600_000);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          pullEnded = 'aborted';
          rej(signal.reason);
        }, { once: true });
      });
    r.runtime.failCreate.add(`awsvpcd-${ID}-internalecspause`);
    const t0 = Date.now();
    await r.manager.submit(spec([ctr('app')]), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.stoppedReason).toMatch(/^Pause container failed to start: /);
    expect(pullEnded).toBe('aborted');
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('a failed create while an ADD runs: the ADD finishes (never cut), then everything is rolled back', async () => {
    const r = rig();
    let addsDone = 0;
    const add = r.cni.add.bind(r.cni);
    r.cni.add = async (call, rt) => {
      await new Promise((res) => setTimeout(res, 40));
      const out = await add(call, rt);
      addsDone++;
      return out;
    };
    r.runtime.failCreate.add(`awsvpcd-${ID}-app`);
    r.links.present.add(MAC);
    await r.manager.submit(spec([ctr('app')]), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.stoppedReason).toMatch(/^Container app failed to start: docker create awsvpcd-.*-app: boom/);
    // The first ADD was running when the create failed: it finished and was undone; the second never started.
    expect(addsDone).toBe(1);
    expect(r.journal.filter((l) => l.startsWith('cni ')).map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual(['cni ADD host-device', 'cni DEL host-device']);
    expect(rec.cleanupErrors).toEqual([]);
    expect(r.manager.needsCleanup(rec)).toBe(false);
  });

  test('two steps saving at once lose no intent: every create and every ADD finds its intent on disk first', async () => {
    const store = new MemoryTaskStore();
    const r = rig({}, store);
    // Slow saves, so the steps' saves overlap.
    const save = store.save.bind(store);
    store.save = async (rec) => {
      const copy = structuredClone(rec);
      await new Promise((res) => setTimeout(res, 3));
      return save(copy);
    };
    const onDisk = () => store.saved.get(ID);
    const missing: string[] = [];
    const create = r.runtime.create.bind(r.runtime);
    r.runtime.create = async (o) => {
      const names = [onDisk()?.pause?.runtimeName, ...(onDisk()?.containers ?? []).map((c) => c.runtimeName)];
      if (!names.includes(o.name)) missing.push(`create ${o.name}`);
      return create(o);
    };
    const add = r.cni.add.bind(r.cni);
    r.cni.add = async (call, rt) => {
      if (!onDisk()?.cni.some((c) => c.ifName === call.ifName)) missing.push(`ADD ${call.plugin}`);
      return add(call, rt);
    };
    r.links.present.add(MAC);
    await r.manager.submit(spec([ctr('app'), ctr('b'), ctr('c')]), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(missing).toEqual([]);
    const last = (await store.load()).records[0]!;
    expect(last.containers.every((c) => c.runtimeName && c.runtimeId)).toBe(true);
  });
});

describe('teardown order', () => {
  test('dependentsOf: who depends on whom', () => {
    const s = spec([ctr('app'), ctr('a', { dependsOn: [{ containerName: 'app', condition: 'START' }] }), ctr('b', { dependsOn: [{ containerName: 'a', condition: 'START' }] })]);
    expect(Object.fromEntries(dependentsOf(s.containers))).toEqual({ app: ['a'], a: ['b'], b: [] });
  });

  test('containers stop in parallel waves, each after those that depend on it', async () => {
    const journal: string[] = [];
    const runtime = new FakeRuntime(journal);
    const links = new FakeLinks(journal);
    const manager = new TaskManager({
      store: new MemoryTaskStore(),
      runtime,
      links,
      cni: new FakeCni(journal),
      hostNet: new FakeHostNet(journal),
      logger: pino({ level: 'silent' }),
      now: Date.now,
      config: TEST_CONFIG,
    });
    const stop = runtime.stop.bind(runtime);
    const events: string[] = [];
    runtime.stop = async (id: string) => {
      const name = runtime.containers.get(id)!.name.replace(`awsvpcd-${ID}-`, '');
      events.push(`stop ${name}`);
      await new Promise((res) => setTimeout(res, 20));
      await stop(id);
      events.push(`stopped ${name}`);
    };
    links.present.add(MAC);
    // app <- a, app <- b (START), and c depends on a: c first, then a and b, then app; x (no dependency) with the first wave.
    const dep = (n: string) => ({ dependsOn: [{ containerName: n, condition: 'START' }] });
    await manager.submit(spec([ctr('app'), ctr('a', dep('app')), ctr('b', dep('app')), ctr('c', dep('a')), ctr('x')]), 'api');
    await manager.settled(ID);
    expect(manager.get(ID)!.lastStatus).toBe('RUNNING');
    await manager.stop(ID, 'Task stopped by user');
    await manager.settled(ID);
    const at = (e: string): number => events.indexOf(e);
    expect(at('stopped c')).toBeLessThan(at('stop a'));
    expect(at('stopped a')).toBeLessThan(at('stop app'));
    expect(at('stopped b')).toBeLessThan(at('stop app'));
    // the first wave together: c, b and x all asked to stop before any of them has stopped
    for (const n of ['c', 'b', 'x']) expect(at(`stop ${n}`)).toBeLessThan(Math.min(at('stopped c'), at('stopped b'), at('stopped x')));
    expect(manager.get(ID)!.containers.every((c) => c.removed && c.lastStatus === 'STOPPED')).toBe(true);
    manager.close();
  });
});
