// The `ecs` plugin set end to end on the real engine, with stand-ins of ecs-eni, ecs-bridge and ecs-ipam
// that do on real links what the real binaries do (test/fixtures/cni-standins, real mode) and stand-in ENIs
// that come back to the host when their namespace is destroyed, as an EC2 ENA device does
// (scripts/stand-in-eni eni-watch). So the real plugins' semantics run through the daemon: ecs-eni's DEL
// does nothing and the ENI returns only when the pinned namespace is released; a failed ADD is rolled
// back and the same ENI is taken again; a crash after the ADDs is carried forward; a task whose namespace
// vanished stops with ecs-bridge's DEL failing on every attempt, and nothing leaks.
import { jest } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc, Vpc, docker, execIn, leaks, requireEnvironment, runPrefix, sh, taskJson, waitForHostMac, type Eni } from './harness.js';
import { readIpamDb, setupStandinDir, type CallRecord } from '../fixtures/cni-standins/lib/world.mjs';

jest.setTimeout(180_000);

const prefix = runPrefix();
let vpc: Vpc;
/** This test's ENI: each test has its own, so one that fails with its task still holding the ENI cannot starve the next. */
let eni: Eni;
let enis = 0;
let cniDir: string;
let calls: string;
const daemons: DaemonProc[] = [];
const ids: string[] = [];
let n = 0;

function daemon(env: Record<string, string> = {}): DaemonProc {
  const d = new DaemonProc({ prefix, plugins: 'ecs', cniPath: cniDir, env, args: ['--eni-return-timeout-ms', '15000'] });
  daemons.push(d);
  return d;
}
const newId = (): string => {
  const id = `${prefix}x${n++}`;
  ids.push(id);
  return id;
};
function callLog(): Promise<CallRecord[]> {
  return readFile(calls, 'utf8').then(
    (t) => t.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CallRecord),
    () => [],
  );
}
/** The pause container's id (the CNI_CONTAINERID of every plugin call of the task), while it exists. */
async function pauseIdOf(taskId: string): Promise<string> {
  const id = (await docker(['inspect', '--format', '{{.Id}}', `awsvpcd-${taskId}-internalecspause`], false)).stdout.trim();
  expect(id).not.toBe('');
  return id;
}
async function callsFor(pauseId: string): Promise<CallRecord[]> {
  return (await callLog()).filter((c) => c.containerId === pauseId);
}

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 7);
  cniDir = await mkdtemp(`/run/awsvpcd-test/${prefix}-cni-`);
  calls = path.join(cniDir, 'calls.jsonl');
  setupStandinDir(cniDir, { calls });
});

beforeEach(async () => {
  enis++;
  eni = await vpc.addEni(`${prefix}e${enis}`, 40 + enis, { returning: true });
});

// One daemon at a time on this state: a test that fails leaves none running for the next.
afterEach(async () => {
  for (const d of daemons) await d.kill().catch(() => undefined);
});

afterAll(async () => {
  await daemons[0]?.cleanup(ids).catch(() => undefined);
  await vpc?.down();
  if (cniDir) await rm(cniDir, { recursive: true, force: true });
});

async function ipamHeld(d: DaemonProc): Promise<string[]> {
  const db = readIpamDb(path.join(d.stateDir, 'ipam', 'eni-ipam.db'));
  return Object.entries(db).filter(([k, v]) => /^\d/.test(k) && v.value !== 'GateWay').map(([k]) => k);
}

test('RUNNING through ecs-eni and ecs-bridge; stop leaves nothing, and the ENI is back once the namespace is released', async () => {
  const d = daemon();
  await d.start();
  const id = newId();
  await d.submit(taskJson({ id, eni }));
  await d.waitStatus(id, 'RUNNING', 60_000);
  const addr = await execIn(`awsvpcd-${id}-app`, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
  expect(addr).toContain(`inet ${eni.ip}/24`);
  expect(await execIn(`awsvpcd-${id}-probe`, ['wget', '-qO-', 'http://127.0.0.1:8080/'])).toBe('app-ok');
  // The VPC peer (a host in the namespace this test made) reaches the task on its ENI address.
  expect((await vpc.exec(['busybox', 'wget', '-qO-', `http://${eni.ip}:8080/`])).stdout).toBe('app-ok');
  const routes = await execIn(`awsvpcd-${id}-app`, ['ip', 'route']);
  expect(routes).toContain('blackhole 169.254.169.254');
  expect(await ipamHeld(d)).toHaveLength(1);
  const pauseId = await pauseIdOf(id);

  await d.api.request('POST', `/v1/tasks/${id}/stop`);
  const t = await d.waitStatus(id, 'STOPPED');
  expect(t.cleanupErrors).toBeUndefined();
  const del = (await callsFor(pauseId)).filter((c) => c.command === 'DEL').map((c) => `${c.plugin}:${c.exit}`);
  // ecs-eni's DEL is a no-op that exits 0; the address goes back through ecs-ipam's own DEL.
  expect(del).toEqual(['ecs-bridge:0', 'ecs-eni:0', 'ecs-ipam:0']);
  await waitForHostMac(eni.mac, 10_000);
  const after = await d.waitAttachment(id, 'DELETED', 20_000);
  expect(after.eniReturn).toMatchObject({ seen: true });
  expect(await ipamHeld(d)).toEqual([]);
  expect(await leaks(d, [id], [eni])).toEqual([]);
  await d.stop();
});

test('a failed ecs-eni ADD (eni-add-badgw: the ENI is moved, then the plugin fails) is rolled back; the same ENI runs the next task', async () => {
  setupStandinDir(cniDir, { calls, faults: { 'ecs-eni:ADD': 'eni-add-badgw' } });
  const d = daemon();
  await d.start();
  const failed = newId();
  await d.submit(taskJson({ id: failed, eni }));
  const t = await d.waitStatus(failed, 'STOPPED', 60_000);
  expect(t.stoppedReason).toMatch(/ecs-eni ADD on eth0: .*unable to add the route for the gateway/);
  // The plugin left the ENI in the task namespace; releasing that namespace brought it back.
  await waitForHostMac(eni.mac, 10_000);
  setupStandinDir(cniDir, { calls });
  const retry = newId();
  await d.submit(taskJson({ id: retry, eni }));
  await d.waitStatus(retry, 'RUNNING', 60_000);
  expect(await execIn(`awsvpcd-${retry}-app`, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).toContain(`inet ${eni.ip}/24`);
  await d.api.request('POST', `/v1/tasks/${retry}/stop`);
  await d.waitStatus(retry, 'STOPPED');
  await waitForHostMac(eni.mac, 10_000);
  expect(await ipamHeld(d)).toEqual([]);
  expect(await leaks(d, [failed, retry], [eni])).toEqual([]);
  await d.stop();
});

test('a crash right after the ecs-bridge ADD: the restarted daemon carries the setup forward without repeating an ADD', async () => {
  const crashing = daemon({ AWSVPCD_CRASH_AT: 'after-cni-add:ecs-bridge' });
  await crashing.start();
  const id = newId();
  await crashing.submit(taskJson({ id, eni }));
  expect(await crashing.exited(60_000)).toBe(true);
  const d = daemon();
  await d.start();
  await d.waitStatus(id, 'RUNNING', 60_000);
  const adds = (await callsFor(await pauseIdOf(id))).filter((c) => c.command === 'ADD').map((c) => c.plugin);
  expect(adds.sort()).toEqual(['ecs-bridge', 'ecs-eni', 'ecs-ipam']);
  await d.api.request('POST', `/v1/tasks/${id}/stop`);
  await d.waitStatus(id, 'STOPPED');
  await waitForHostMac(eni.mac, 10_000);
  expect(await leaks(d, [id], [eni])).toEqual([]);
  await d.stop();
});

test('a namespace that vanished (pause gone, pin unmounted, as after a reboot): ecs-bridge DEL fails, counts as done; the address is released', async () => {
  const d = daemon();
  await d.start();
  const id = newId();
  await d.submit(taskJson({ id, eni }));
  await d.waitStatus(id, 'RUNNING', 60_000);
  await d.stop();
  await docker(['rm', '-f', `awsvpcd-${id}-app`, `awsvpcd-${id}-probe`, `awsvpcd-${id}-internalecspause`]);
  const pin = path.join(d.runDir, 'netns', id);
  await sh('umount', [pin]);
  await rm(pin, { force: true });
  // The namespace is destroyed with its last holder: the ENI comes back to the host.
  await waitForHostMac(eni.mac, 10_000);
  await d.start();
  const t = await d.waitStatus(id, 'STOPPED', 60_000);
  expect(t.cleanupErrors).toBeUndefined();
  const bridgeDel = (await callLog()).filter((c) => c.plugin === 'ecs-bridge' && c.command === 'DEL' && c.netns.endsWith(`/${id}`));
  expect(bridgeDel.map((c) => c.exit)).toEqual([1]);
  expect(bridgeDel[0]!.stdout).toContain('failed to Statfs');
  expect(await ipamHeld(d)).toEqual([]);
  expect(await leaks(d, [id], [eni])).toEqual([]);
  await d.stop();
});
