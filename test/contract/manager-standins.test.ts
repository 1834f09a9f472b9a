// The task manager and the real ExecCniInvoker driven through plugin stand-ins that behave as the real
// ecs-eni, ecs-bridge, ecs-ipam and vpc-eni do (test/fixtures/cni-standins, pinned against the plugin
// contract by standins.test.ts), in their simulated world: no root, no links. The engine and the host's
// namespace adapter are thin fakes over the same world file, so a pause container that starts makes a
// namespace, one that dies drops it, and a destroyed namespace hands a real-EC2-like ENI back to the host.
//
// Each scenario runs for the `ecs` and the `vpc` set: setup to RUNNING, stop, stop after the namespace
// vanished, a crash at every crash point then a restart, and a failed ADD at each plugin. After each, the
// stand-ins' call log shows no ADD repeated on a plugin that had succeeded and no DEL retried without end,
// and the task ends RUNNING, or STOPPED with its address released and its ENI back on the host.
import { jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { LABEL } from '../../agent/docker/container-config.js';
import type { ExecResult, TaskNetns, NetnsDetail, NetnsRoute, NetnsSnapshot } from '../../agent/eni/netns.js';
import type { HostLink } from '../../agent/eni/link-watcher.js';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { TaskManager, type ManagerConfig } from '../../agent/task/task-manager.js';
import { validateTask } from '../../agent/task/validate/index.js';
import { FileTaskStore } from '../../agent/store/file-task-store.js';
import { ExecCniInvoker } from '../../cni/invoker.js';
import type { PluginSet } from '../../cni/types.js';
import {
  acquireLock,
  addHostEni,
  ipamLockPath,
  releaseLock,
  addNetnsPath,
  createNetns,
  hostLinkByMac,
  keyOfPath,
  newWorld,
  nsByKey,
  readIpamDb,
  readWorld,
  removeNetnsPath,
  setupStandinDir,
  updateWorld,
  writeWorld,
  type CallRecord,
  type Netns,
} from '../fixtures/cni-standins/lib/world.mjs';
import { FakeLinks, FakeRuntime, TEST_CONFIG, type FakeContainer } from '../unit/fakes.js';
import { setupPoints, teardownPoints } from '../support/crash-points.js';

// Each case runs stand-in binaries and restarts a manager: about half a second on a quiet host, several
// seconds under load (a soak beside it pushed cases past jest's 5 s default). Not a timed test.
jest.setTimeout(60_000);

const MAC = '0a:99:00:00:aa:01';
const ENI_IP = '10.99.1.15';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';
const NETNS_DIR = '/run/awsvpcd-sim/netns';
const log = pino({ level: 'silent' });

const example = JSON.parse(readFileSync(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
function taskSpec(): TaskSpec {
  const doc = structuredClone(example);
  const eni = doc.elasticNetworkInterfaces[0];
  eni.macAddress = MAC;
  eni.ipv4Addresses = [{ primary: true, privateAddress: ENI_IP }];
  eni.subnetGatewayIpv4Address = '10.99.1.1/24';
  return validateTask(doc, { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] });
}

// ---- the world's adapters ------------------------------------------------------------------------------

/** Engine fake: a started pause container makes a namespace in the world, an ended one drops its path. */
class SimRuntime extends FakeRuntime {
  constructor(
    private readonly world: string,
    shared?: Map<string, FakeContainer>,
  ) {
    super([], shared);
  }
  override async start(id: string): Promise<void> {
    await super.start(id);
    const c = this.containers.get(id)!;
    if (c.labels[LABEL.role] === 'pause') {
      const pid = c.pid;
      updateWorld(this.world, (w) => void createNetns(w, `ns-${pid}`, [`/proc/${pid}/ns/net`]));
    }
  }
  /** Removing a running container kills it first. */
  override async remove(id: string): Promise<void> {
    if (this.containers.get(id)?.running) this.exit(id, 137);
    await super.remove(id);
  }
  /** The process ends: a pause container's namespace loses the path its pid gave it. */
  override exit(id: string, code: number): void {
    const c = this.containers.get(id)!;
    if (c.running && c.labels[LABEL.role] === 'pause') {
      const pid = c.pid;
      updateWorld(this.world, (w) => removeNetnsPath(w, `/proc/${pid}/ns/net`));
    }
    super.exit(id, code);
  }
}

/** The host's links are the world's. */
class SimLinks extends FakeLinks {
  protected override pollMs = 10;
  constructor(private readonly world: string) {
    super();
  }
  override async list(): Promise<HostLink[]> {
    return readWorld(this.world).host.links.map((l, i) => ({ name: l.name, index: i + 2, mac: l.mac, up: l.up, kind: l.kind === 'eni' ? undefined : l.kind }));
  }
}

/** `ip route` text of the world -> what IpTaskNetns reads with `ip -j route`. */
function routeOf(line: string): NetnsRoute {
  const w = line.split(/\s+/);
  const type = w[0] === 'blackhole' ? 'blackhole' : 'unicast';
  const dst0 = type === 'blackhole' ? w[1]! : w[0]!;
  const dst = dst0 === 'default' || dst0.includes('/') ? dst0 : `${dst0}/${dst0.includes(':') ? 128 : 32}`;
  const r: NetnsRoute = { dst, type };
  const via = w.indexOf('via');
  if (via >= 0) r.gateway = w[via + 1];
  const dev = w.indexOf('dev');
  if (dev >= 0) r.dev = w[dev + 1];
  return r;
}

function detailOf(ns: Netns): NetnsDetail {
  return {
    links: [{ name: 'lo', mac: '00:00:00:00:00:00', up: true, addrs: ['127.0.0.1/8'] }, ...ns.links.map((l) => ({ name: l.name, mac: l.mac, up: l.up, addrs: [...l.addrs] }))],
    routes: ns.routes.map(routeOf),
  };
}

class SimHostNet implements TaskNetns {
  constructor(private readonly world: string) {}
  netnsPathFor(name: string): string {
    return `${NETNS_DIR}/${name}`;
  }
  async pinNetns(pid: number, name: string): Promise<string> {
    const p = this.netnsPathFor(name);
    updateWorld(this.world, (w) => {
      const id = keyOfPath(w, `/proc/${pid}/ns/net`);
      if (!id) throw new Error(`no namespace for pid ${pid}`);
      addNetnsPath(w, p, id);
    });
    return p;
  }
  async listPinned(): Promise<string[]> {
    return Object.keys(readWorld(this.world).paths).filter((p) => p.startsWith(`${NETNS_DIR}/`));
  }
  async releaseNetns(p: string): Promise<void> {
    updateWorld(this.world, (w) => {
      if (w.paths[p] !== undefined) removeNetnsPath(w, p);
    });
  }
  async netnsAlive(p: string): Promise<boolean> {
    return keyOfPath(readWorld(this.world), p) !== undefined;
  }
  async netnsIdentity(p: string): Promise<string | undefined> {
    return keyOfPath(readWorld(this.world), p);
  }
  async inspectNetns(p: string): Promise<NetnsDetail | undefined> {
    const w = readWorld(this.world);
    const id = keyOfPath(w, p);
    const ns = id === undefined ? undefined : nsByKey(w, id);
    return ns ? detailOf(ns) : undefined;
  }
  async readNetns(pid: number): Promise<NetnsSnapshot | undefined> {
    const d = await this.inspectNetns(`/proc/${pid}/ns/net`);
    if (!d) return undefined;
    return {
      interfaces: new Map(d.links.map((l) => [l.name, { rxBytes: 0, txBytes: 0 }])),
      addresses: new Set(d.links.flatMap((l) => l.addrs).filter((a) => !a.includes(':')).map((a) => a.split('/')[0]!)),
    };
  }
  async execInNetns(): Promise<ExecResult> {
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async addBlackholeRoute(): Promise<void> {}
  async addIpv6DefaultRoute(): Promise<void> {}
  async ensureBridgeAddress(): Promise<void> {}
}

// ---- one simulated host --------------------------------------------------------------------------------

class Crash extends Error {}

interface Host {
  dir: string;
  world: string;
  calls: string;
  ipamDb: string;
  set: PluginSet;
  containers: Map<string, FakeContainer>;
  runtime: SimRuntime;
  manager: TaskManager;
  /** Starts a new manager on the same state, engine and world, as a restarted daemon does. */
  restart(crashAt?: string): Promise<void>;
  standins(faults?: Record<string, string>): void;
  callLog(): CallRecord[];
  rec(): TaskRecord;
}

const hosts: Host[] = [];
afterAll(() => {
  for (const h of hosts) rmSync(h.dir, { recursive: true, force: true });
});

async function host(set: PluginSet, crashAt?: string): Promise<Host> {
  const dir = mkdtempSync(path.join(tmpdir(), `awsvpcd-sim-${set}-`));
  const world = path.join(dir, 'world.json');
  const calls = path.join(dir, 'calls.jsonl');
  const cniDir = path.join(dir, 'cni');
  const stateDir = path.join(dir, 'state');
  const w = newWorld();
  addHostEni(w, { name: 'cape1', mac: MAC, returns: true }); // an EC2 ENI: back to the host when its namespace goes
  writeWorld(world, w);
  const containers = new Map<string, FakeContainer>();
  const config = (): ManagerConfig => ({
    ...TEST_CONFIG,
    pluginSet: set,
    plan: { ...TEST_CONFIG.plan, ipamDataDir: path.join(stateDir, 'ipam') },
    ipamReleaseTimeoutMs: 10_000,
    containerStopTimeoutSec: 1,
    pullTimeoutMs: 10_000,
    dependencyTimeoutMs: 5_000,
    eniReturnTimeoutMs: 2_000,
    cleanupMaxAttempts: 3,
  });
  const h = {
    dir,
    world,
    calls,
    ipamDb: path.join(stateDir, 'ipam', 'eni-ipam.db'),
    set,
    containers,
  } as Host;
  h.standins = (faults) => setupStandinDir(cniDir, { world, calls, ...(faults ? { faults } : {}) });
  h.callLog = () => {
    try {
      return readFileSync(calls, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as CallRecord);
    } catch {
      return [];
    }
  };
  h.rec = () => h.manager.get(ID)!;
  h.restart = async (crash) => {
    h.manager?.close();
    await h.manager?.drain();
    const store = new FileTaskStore({ stateDir, logger: log });
    h.runtime = new SimRuntime(world, containers);
    let m: TaskManager;
    m = new TaskManager({
      store,
      runtime: h.runtime,
      links: new SimLinks(world),
      cni: new ExecCniInvoker({ cniPath: cniDir, logger: log }),
      hostNet: new SimHostNet(world),
      logger: log,
      now: Date.now,
      config: config(),
      // A crash: the manager stops where it is, nothing more is saved, the error unwinds the drive.
      crash: (point) => {
        if (point !== crash) return;
        m.close();
        throw new Crash(point);
      },
    });
    h.manager = m;
    for (const r of (await store.load()).records) m.adopt(r);
  };
  h.standins();
  await h.restart(crashAt);
  hosts.push(h);
  return h;
}

async function settle(h: Host): Promise<void> {
  await h.manager.settled(ID);
  await h.manager.eniSettled(ID);
}

// ---- what must hold after every scenario ----------------------------------------------------------------

function succeeded(calls: CallRecord[], plugin: string, command: string): CallRecord[] {
  return calls.filter((c) => c.plugin === plugin && c.command === command && c.exit === 0 && !/"code"/.test(c.stdout));
}

/** No ADD repeated on a plugin after one succeeded; every DEL bounded. */
function expectCallDiscipline(h: Host): void {
  const calls = h.callLog();
  const eni = h.set === 'ecs' ? 'ecs-eni' : 'vpc-eni';
  for (const plugin of [eni, 'ecs-bridge']) {
    const adds = calls.filter((c) => c.plugin === plugin && c.command === 'ADD');
    const firstOk = adds.findIndex((c) => c.exit === 0 && !/"code"/.test(c.stdout));
    if (firstOk >= 0) expect(adds.slice(firstOk + 1)).toEqual([]);
  }
  for (const plugin of [eni, 'ecs-bridge', 'ecs-ipam']) {
    expect(calls.filter((c) => c.plugin === plugin && c.command === 'DEL').length).toBeLessThanOrEqual(3);
  }
}

/** STOPPED, the address released in ecs-ipam's database, the ENI back on the host, no namespace left. */
function expectReleased(h: Host): void {
  const rec = h.rec();
  expect(rec.lastStatus).toBe('STOPPED');
  expect(rec.cleanupErrors).toEqual([]);
  expect(h.manager.needsCleanup(rec)).toBe(false);
  const db = readIpamDb(h.ipamDb);
  expect(Object.entries(db).filter(([, v]) => v.value === MAC)).toEqual([]);
  const w = readWorld(h.world);
  expect(hostLinkByMac(w, MAC)).toMatchObject({ mac: MAC });
  expect(Object.keys(w.netns)).toEqual([]);
  expect(w.host.links.filter((l) => l.kind === 'veth')).toEqual([]);
  expect(rec.attachmentStatus).toBe('DELETED');
  expect(rec.eniReturn).toMatchObject({ seen: true });
}

function expectRunning(h: Host): void {
  const rec = h.rec();
  expect(rec.lastStatus).toBe('RUNNING');
  const w = readWorld(h.world);
  const ns = nsByKey(w, keyOfPath(w, rec.pause!.netnsPath!)!)!;
  expect(ns.links.find((l) => l.name === 'eth0')).toMatchObject({ mac: MAC, addrs: [`${ENI_IP}/24`], up: true });
  expect(ns.links.find((l) => l.name === 'ecs-eth0')?.addrs[0]).toBe(`${rec.localIpAddress}/22`);
  expect(hostLinkByMac(w, MAC)).toBeUndefined();
}

async function stopAndCheck(h: Host): Promise<void> {
  await h.manager.stop(ID, 'Task stopped by user');
  await settle(h);
  expectReleased(h);
  expectCallDiscipline(h);
}

const SETS: PluginSet[] = ['ecs', 'vpc'];

describe.each(SETS)('the %s set through the stand-ins', (set) => {
  const eni = set === 'ecs' ? 'ecs-eni' : 'vpc-eni';

  test(`setup to RUNNING and stop to STOPPED (${set === 'ecs' ? 'eni-add, br-add, eni-del (a no-op), br-del, ipam-del' : 'vpc-add, br-add, vpc-del, br-del, ipam-del'})`, async () => {
    const h = await host(set);
    await h.manager.submit(taskSpec(), 'api');
    await settle(h);
    expectRunning(h);
    const add = h.callLog().filter((c) => c.command === 'ADD').map((c) => c.plugin);
    // ecs-bridge runs ecs-ipam itself, so ecs-ipam's line (written as each call ends) comes first
    expect(add).toEqual([eni, 'ecs-ipam', 'ecs-bridge']);
    await stopAndCheck(h);
    // DEL in reverse, then the separate IPAM release: the bridge DEL sent "ipam":{} releases nothing.
    const del = h.callLog().filter((c) => c.command === 'DEL').map((c) => `${c.plugin} ${c.exit}`);
    expect(del).toEqual(['ecs-bridge 0', `${eni} 0`, 'ecs-ipam 0']);
    if (set === 'ecs') {
      // eni-del does nothing: the ENI came back only because the namespace was released (eniReturn seen).
      expect(h.rec().eniReturn).toMatchObject({ seen: true, hostName: 'eth0' });
    } else {
      // vpc-del hands it back renamed ecs + %x of three MAC bytes
      expect(h.rec().eniReturn).toMatchObject({ seen: true, hostName: 'ecsa990' });
    }
  });

  test(`stop after the namespace vanished (br-del-nonetns fails on every attempt and counts as done; ${set === 'ecs' ? 'eni-del-nonetns' : 'vpc-del-nonetns'} exits 0; ipam-del releases)`, async () => {
    const h = await host(set);
    await h.manager.submit(taskSpec(), 'api');
    await settle(h);
    expectRunning(h);
    // A reboot-like loss: the pause process is gone and its pinned namespace unmounted.
    const pause = [...h.containers.values()].find((c) => c.labels[LABEL.role] === 'pause')!;
    h.runtime.exit(pause.id, 0);
    updateWorld(h.world, (w) => removeNetnsPath(w, h.rec().pause!.netnsPath!));
    await h.manager.checkAll();
    await settle(h);
    expectReleased(h);
    expectCallDiscipline(h);
    const bridgeDel = h.callLog().filter((c) => c.plugin === 'ecs-bridge' && c.command === 'DEL');
    expect(bridgeDel).toHaveLength(1);
    expect(bridgeDel[0]!.exit).toBe(1);
    expect(bridgeDel[0]!.stdout).toContain('failed to Statfs');
    expect(h.rec().stoppedReason).toContain('Pause container exited');
  });

  test('a repeated IPAM release (ipam-del-again) counts as released', async () => {
    const h = await host(set);
    await h.manager.submit(taskSpec(), 'api');
    await settle(h);
    // someone released the address already (e.g. an earlier, interrupted teardown)
    const { execFileSync } = await import('node:child_process');
    const rel = h.manager.planFor(h.rec().spec).ipamRelease!;
    execFileSync(path.join(h.dir, 'cni', 'ecs-ipam'), [], {
      input: JSON.stringify(rel.config),
      env: { PATH: process.env.PATH, ...rel.env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'x', CNI_NETNS: '', CNI_IFNAME: 'ecs-eth0', CNI_PATH: path.join(h.dir, 'cni') },
    });
    await stopAndCheck(h);
    const ipamDel = h.callLog().filter((c) => c.plugin === 'ecs-ipam' && c.command === 'DEL');
    expect(ipamDel.map((c) => c.exit)).toEqual([0, 1]);
    expect(ipamDel[1]!.stdout).toContain('no ip address associated with the given id');
  });

  test('ipam-locked: a release that times out on a locked database is kept, retried by reconciliation, then released', async () => {
    const h = await host(set);
    await h.manager.submit(taskSpec(), 'api');
    await settle(h);
    // Another process holds ecs-ipam's database: the release waits IPAM_DB_CONNECTION_TIMEOUT (5 s) and fails "timeout".
    expect(acquireLock(ipamLockPath(h.ipamDb), 1000)).toBe(true);
    try {
      await h.manager.stop(ID, 'Task stopped by user');
      await h.manager.settled(ID);
    } finally {
      releaseLock(ipamLockPath(h.ipamDb));
    }
    const rec = h.rec();
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.cleanupErrors).toEqual([expect.stringMatching(/^ecs-ipam release: ecs-ipam DEL: timeout/)]);
    expect(Object.values(readIpamDb(h.ipamDb)).some((v) => v.value === MAC)).toBe(true);
    await h.manager.checkAll();
    await settle(h);
    expectReleased(h);
    expectCallDiscipline(h);
    expect(h.callLog().filter((c) => c.plugin === 'ecs-ipam' && c.command === 'DEL').map((c) => c.exit)).toEqual([1, 0]);
  }, 30_000);

  const failures: Array<[string, Record<string, string>, RegExp]> =
    set === 'ecs'
      ? [
          ['eni-add-badgw: ecs-eni moves the ENI, then fails; the namespace release hands it back', { 'ecs-eni:ADD': 'eni-add-badgw' }, /ecs-eni ADD on eth0: .*unable to add the route for the gateway/],
          ['br-tiny-2: ecs-bridge leaves its veth when IPAM fails; the DEL removes it', { 'ecs-bridge:ADD': 'br-tiny-2' }, /ecs-bridge ADD on ecs-eth0: .*failed to find available ip addresses/],
          ['ipam-add-again: ecs-ipam under ecs-bridge refuses; everything is undone', { 'ecs-ipam:ADD': 'ipam-add-again' }, /ecs-bridge ADD on ecs-eth0: .*id already exists/],
        ]
      : [
          ['vpc-add-nogw: vpc-eni exits 0 with an error object', { 'vpc-eni:ADD': 'vpc-add-nogw' }, /vpc-eni ADD on eth0: .*index out of range/],
          ['vpc-add-badgw: vpc-eni exits 0 with a success result, but no default route: the namespace check refuses it', { 'vpc-eni:ADD': 'vpc-add-badgw' }, /vpc-eni ADD on eth0: exited 0 but the namespace is not set up: no default route/],
          ['br-tiny-2: ecs-bridge leaves its veth when IPAM fails; the DEL removes it', { 'ecs-bridge:ADD': 'br-tiny-2' }, /ecs-bridge ADD on ecs-eth0: .*failed to find available ip addresses/],
        ];
  test.each(failures)('a failed ADD, %s', async (_name, faults, reason) => {
    const h = await host(set);
    h.standins(faults);
    await h.manager.submit(taskSpec(), 'api');
    await settle(h);
    expect(h.rec().stoppedReason).toMatch(reason);
    expectReleased(h);
    expectCallDiscipline(h);
  });

  // Every setup point in the graph's order (test/support/crash-points.ts, checked against the agent's lists).
  const setup = setupPoints({ plugins: [eni, 'ecs-bridge'], containers: ['app'] });
  test.each(setup)('a crash at %s, then a restart: RUNNING without repeating an ADD, then stops clean', async (point) => {
    const h = await host(set, point);
    await h.manager.submit(taskSpec(), 'api');
    await h.manager.drain();
    expect(h.rec().lastStatus).not.toBe('RUNNING');
    h.standins();
    await h.restart();
    await settle(h);
    expectRunning(h);
    expectCallDiscipline(h);
    await stopAndCheck(h);
  });

  // The pause container needs no ENI, so it is up while the ENI is still on its way: a crash then leaves a
  // pause container and no network step, which the restart rolls back (Resumer: no network step had started)
  // before setting up again, with no plugin run twice.
  test.each(['after-pause-create', 'after-pause-start', 'after-container-create:app'])(
    'a crash at %s before the ENI is on the host: rolled back on restart, then RUNNING once the ENI appears, stops clean',
    async (point) => {
      const h = await host(set, point);
      const w = readWorld(h.world);
      const link = w.host.links.find((l) => l.mac === MAC)!;
      w.host.links = w.host.links.filter((l) => l !== link);
      writeWorld(h.world, w);
      await h.manager.submit(taskSpec(), 'api');
      await h.manager.drain();
      const crashed = h.rec();
      expect(crashed.lastStatus).toBe('PROVISIONING');
      expect(crashed.pause?.runtimeName).toBeDefined();
      expect(crashed.cni).toEqual([]);
      expect(h.callLog()).toEqual([]);
      const oldPause = [...h.containers.values()].find((c) => c.name === crashed.pause!.runtimeName);
      const back = readWorld(h.world);
      back.host.links.push(link);
      writeWorld(h.world, back);
      await h.restart();
      await settle(h);
      expectRunning(h);
      // Rolled back: the pause container the crash left is gone, a new one holds the namespace.
      expect(oldPause).toBeDefined();
      expect([...h.containers.values()]).not.toContain(oldPause);
      expect([...h.containers.values()].filter((c) => c.name === crashed.pause!.runtimeName)).toHaveLength(1);
      expectCallDiscipline(h);
      await stopAndCheck(h);
    },
    30_000,
  );

  const teardown = teardownPoints({ plugins: [eni, 'ecs-bridge'], ipamRelease: true });
  test.each(teardown)('a crash at %s, then a restart: STOPPED, address released, nothing retried without end', async (point) => {
    const h = await host(set);
    await h.manager.submit(taskSpec(), 'api');
    await settle(h);
    expectRunning(h);
    await h.restart(point);
    await h.manager.stop(ID, 'Task stopped by user');
    await h.manager.drain();
    await h.restart();
    await settle(h);
    await h.manager.checkAll();
    await settle(h);
    expectReleased(h);
    expectCallDiscipline(h);
    expect(h.rec().stoppedReason).toBe('Task stopped by user');
  });
});
