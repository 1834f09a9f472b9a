// A simulated host reboot under running tasks: the daemon dies with the host, the engine's containers are
// killed and the engine stops, the pinned namespaces go (as /run does), the daemon's run directory is empty,
// while its state directory and the IPAM database on disk still list everything. The engine starts again,
// then the daemon: every task is STOPPED with "Host restarted", its address released through the IPAM
// plugin although the bridge DEL cannot succeed any more, its containers removed, nothing left, and no DEL
// is retried more than the bounded number of times. Run with the reference set (wrapped to count every
// plugin call) and with the ecs-set stand-ins, which behave as plugin-contract.md records for ecs-bridge
// (br-del-nonetns: exit 1 on every DEL once the namespace is gone, yet the IPAM entry released). The test
// restarts an engine of its own, never the shared one.
import { jest } from '@jest/globals';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DaemonProc,
  OwnEngine,
  REFERENCE_CNI,
  Vpc,
  docker,
  ipamAddresses,
  leaks,
  requireEnvironment,
  runPrefix,
  sh,
  taskJson,
  waitForHostMac,
  type Eni,
} from './harness.js';
import { readIpamDb, setupStandinDir, type CallRecord } from '../fixtures/cni-standins/lib/world.mjs';

jest.setTimeout(180_000);

const prefix = runPrefix();
const own = new OwnEngine(prefix);
const engine = own.host;
const MAX_ATTEMPTS = 3;
let vpc: Vpc;
let cniRoot: string;
const daemons: DaemonProc[] = [];
let n = 0;
let hostPart = 30;

const engineCmd = (cmd: 'start' | 'stop'): Promise<void> => own.cmd(cmd, { stopTimeoutS: 10 });
const onEngine = (args: string[]) => own.docker(args);

function daemon(tag: string, o: { plugins: 'reference' | 'ecs'; cniPath: string }): DaemonProc {
  const d = new DaemonProc({
    prefix: `${prefix}${tag}`,
    engine,
    plugins: o.plugins,
    cniPath: o.cniPath,
    args: ['--cleanup-max-attempts', String(MAX_ATTEMPTS), '--cleanup-retry-backoff-ms', '500'],
  });
  daemons.push(d);
  return d;
}

/** Two RUNNING tasks, each with a stand-in ENI that comes back to the host when its namespace is destroyed. */
async function twoTasks(d: DaemonProc): Promise<Array<{ id: string; eni: Eni; pauseId: string }>> {
  const tasks = [];
  for (let i = 0; i < 2; i++) {
    const eni = await vpc.addEni(`${prefix}e${hostPart}`, hostPart++, { returning: true });
    tasks.push({ id: `${prefix}x${n++}`, eni, pauseId: '' });
  }
  for (const t of tasks) await d.submit(taskJson({ id: t.id, eni: t.eni }));
  for (const t of tasks) {
    await d.waitStatus(t.id, 'RUNNING', 60_000);
    t.pauseId = (await onEngine(['inspect', '--format', '{{.Id}}', `awsvpcd-${t.id}-internalecspause`])).stdout.trim();
    expect(t.pauseId).toMatch(/^[0-9a-f]{64}$/);
  }
  return tasks;
}

/** The host goes down hard and comes back, under every daemon at once: see the file's head. */
async function reboot(ds: DaemonProc[], enis: Eni[]): Promise<string> {
  const t0 = Date.now();
  const steps: string[] = [];
  const lap = (what: string): void => void steps.push(`${what} ${Date.now() - t0} ms`);
  await Promise.all(ds.map((d) => d.kill()));
  const running = (await onEngine(['ps', '-q'])).stdout.split('\n').filter(Boolean);
  if (running.length) await onEngine(['kill', ...running]);
  lap('containers killed');
  await engineCmd('stop');
  lap('engine stopped');
  for (const d of ds) {
    const netnsDir = path.join(d.runDir, 'netns');
    for (const p of await readdir(netnsDir).catch(() => [] as string[])) await sh('umount', [path.join(netnsDir, p)], { reject: false });
    for (const e of await readdir(d.runDir).catch(() => [] as string[])) await rm(path.join(d.runDir, e), { recursive: true, force: true });
  }
  // With its namespace destroyed, each ENI is back on the host (as an ENA device comes back on a reboot);
  // the kernel destroys a namespace asynchronously, which takes a while on a loaded host.
  lap('namespaces unmounted');
  await Promise.all(enis.map(async (e) => {
    await waitForHostMac(e.mac, 30_000).catch(async (err) => {
      const holders = await sh('sh', ['-c', `for p in /proc/[0-9]*; do i=$(readlink $p/ns/net 2>/dev/null) || continue; echo "$i $(basename $p)"; done | sort -u -k1,1 | while read ns pid; do nsenter --net=/proc/$pid/ns/net ip -o link 2>/dev/null | grep -qi '${e.mac}' && echo "$ns pid $pid"; done; grep nsfs /proc/mounts`], { reject: false });
      throw new Error(`${(err as Error).message}; namespaces holding it: ${holders.stdout} ${holders.stderr}`);
    });
  }));
  lap('ENIs back');
  await engineCmd('start');
  lap('engine started');
  await Promise.all(ds.map((d) => d.start()));
  lap('daemons ready');
  return steps.join(', ');
}

/** After STOPPED: every task's reason, no cleanup error, no container on the engine. */
async function expectHostRestarted(d: DaemonProc, tasks: Array<{ id: string }>): Promise<void> {
  for (const t of tasks) {
    const s = await d.waitStatus(t.id, 'STOPPED', 60_000);
    expect(s.stoppedReason).toMatch(new RegExp(`^Host restarted: the pause container is exited \\(code \\d+, at [^)]+\\) and the task's pinned namespace ${d.runDir}/netns/${t.id} is gone$`));
    expect(s.cleanupErrors).toBeUndefined();
    expect((await onEngine(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${t.id}`])).stdout.trim()).toBe('');
  }
  // Two reconcile passes (2 s) go by: nothing is retried once it is done.
  await new Promise((r) => setTimeout(r, 4_500));
}

beforeAll(async () => {
  await requireEnvironment();
  const took = await own.up();
  console.log(`own engine: started in ${took.startMs} ms, images loaded in ${took.imagesMs} ms`);
  vpc = await Vpc.up(prefix, 8);
  cniRoot = await mkdtemp(`/run/awsvpcd-test/${prefix}-cni-`);
});

afterAll(async () => {
  for (const d of daemons) await d.kill().catch(() => undefined);
  await own.remove();
  for (const d of daemons) await d.cleanup([]);
  await vpc?.down();
  if (cniRoot) await rm(cniRoot, { recursive: true, force: true });
});

type Task = { id: string; eni: Eni; pauseId: string };
let ref: { d: DaemonProc; tasks: Task[]; log: string };
let ecs: { d: DaemonProc; tasks: Task[]; calls: string };
const ecsHeld = (d: DaemonProc): string[] =>
  Object.entries(readIpamDb(path.join(d.stateDir, 'ipam', 'eni-ipam.db')))
    .filter(([k, v]) => /^\d/.test(k) && (v as { value: string }).value !== 'GateWay')
    .map(([k]) => k);

// Both plugin sets on one engine, two tasks each, through one reboot (an engine restart is the slow part).
beforeAll(async () => {
  // Each reference plugin wrapped: one line per call (plugin, command, container id), then the real binary.
  const refDir = path.join(cniRoot, 'reference');
  const refLog = path.join(cniRoot, 'reference-calls.log');
  await mkdir(refDir, { recursive: true });
  for (const p of await readdir(REFERENCE_CNI)) {
    const w = path.join(refDir, p);
    await writeFile(w, `#!/bin/sh\necho "${p} $CNI_COMMAND $CNI_CONTAINERID" >> ${refLog}\nexec ${path.join(REFERENCE_CNI, p)} "$@"\n`);
    await chmod(w, 0o755);
  }
  const ecsDir = path.join(cniRoot, 'ecs');
  const calls = path.join(cniRoot, 'ecs-calls.jsonl');
  setupStandinDir(ecsDir, { calls });
  ref = { d: daemon('a', { plugins: 'reference', cniPath: refDir }), tasks: [], log: refLog };
  ecs = { d: daemon('b', { plugins: 'ecs', cniPath: ecsDir }), tasks: [], calls };
  await Promise.all([ref.d.start(), ecs.d.start()]);
  [ref.tasks, ecs.tasks] = await Promise.all([twoTasks(ref.d), twoTasks(ecs.d)]);
  expect((await ipamAddresses(ref.d)).length).toBe(2);
  expect(ecsHeld(ecs.d)).toHaveLength(2);
  console.log(`reboot: ${await reboot([ref.d, ecs.d], [...ref.tasks, ...ecs.tasks].map((t) => t.eni))}`);
});

test('reference set: every task STOPPED with "Host restarted", host-local empty, nothing left, each DEL run a bounded number of times', async () => {
  const { d, tasks } = ref;
  await expectHostRestarted(d, tasks);
  expect(await ipamAddresses(d)).toEqual([]);
  const calls = (await readFile(ref.log, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' '));
  for (const t of tasks) {
    const dels = calls.filter(([, cmd, id]) => cmd === 'DEL' && id === t.pauseId);
    expect(dels.length).toBeGreaterThan(0);
    for (const plugin of new Set(dels.map(([p]) => p))) {
      expect(dels.filter(([p]) => p === plugin).length).toBeLessThanOrEqual(MAX_ATTEMPTS);
    }
  }
  expect(await leaks(d, [], tasks.map((t) => t.eni))).toEqual([]);
});

test('ecs stand-ins: ecs-bridge DEL fails on every attempt with the namespace gone, yet the ecs-ipam entries are released and nothing is left', async () => {
  const { d, tasks } = ecs;
  await expectHostRestarted(d, tasks);
  expect(ecsHeld(d)).toEqual([]);
  const log = (await readFile(ecs.calls, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as CallRecord);
  for (const t of tasks) {
    const bridgeDel = log.filter((c) => c.plugin === 'ecs-bridge' && c.command === 'DEL' && c.containerId === t.pauseId);
    expect(bridgeDel.length).toBeGreaterThanOrEqual(1);
    expect(bridgeDel.length).toBeLessThanOrEqual(MAX_ATTEMPTS);
    for (const c of bridgeDel) {
      expect(c.exit).toBe(1);
      expect(c.stdout).toContain('failed to Statfs');
    }
    for (const plugin of ['ecs-eni', 'ecs-ipam']) {
      expect(log.filter((c) => c.plugin === plugin && c.command === 'DEL' && c.containerId === t.pauseId).length).toBeLessThanOrEqual(MAX_ATTEMPTS);
    }
  }
  expect(await leaks(d, [], tasks.map((t) => t.eni))).toEqual([]);
});
