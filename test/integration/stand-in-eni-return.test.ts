// Returning stand-in ENIs: `scripts/stand-in-eni eni-watch` makes a veth stand-in behave like an EC2 ENA device,
// which the kernel hands back to the host namespace (same MAC) when the task namespace holding it is destroyed.
// Needs root and iproute2 only (no engine). Traffic stays between namespaces this test makes.
import { jest } from '@jest/globals';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { STAND_IN, Vpc, hostLinksWithMac, runPrefix, sh, vpcEndOf, waitForHostMac, type Eni, type EniWatcher } from './harness.js';

jest.setTimeout(120_000);

const STATE_ROOT = path.join(process.env.AWSVPCD_TEST_ENGINE_DIR ?? '/run/awsvpcd-test', 'vpc');
/** A returned ENI must be back within this (measured: about 0.2 s). */
const RETURN_BOUND_MS = 3_000;
/** How long "nothing comes back" is watched: several of the watcher's full checks (at least one a second). */
const QUIET_MS = 2_500;

const prefix = runPrefix();
let vpc: Vpc | undefined;
const taskNamespaces = new Set<string>();
const holders: ResultPromise[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function taskNs(name: string): Promise<string> {
  const ns = `${prefix}-${name}`;
  await sh('ip', ['netns', 'add', ns]);
  taskNamespaces.add(ns);
  return ns;
}

async function delNs(ns: string): Promise<void> {
  await sh('ip', ['netns', 'del', ns], { reject: false });
  taskNamespaces.delete(ns);
}

/** The output of `ip -o link show` in a namespace ('' if it has none of the links asked for). */
async function nsLinks(ns: string, dev?: string): Promise<string> {
  const r = await sh('ip', ['-n', ns, '-o', 'link', 'show', ...(dev ? ['dev', dev] : [])], { reject: false });
  return r.exitCode === 0 ? r.stdout : '';
}

/** The VPC end of a stand-in is plugged: present, a port of br0, administratively up. */
async function expectPlugged(eni: Eni): Promise<void> {
  const l = await nsLinks(vpc!.ns, vpcEndOf(eni.dev));
  expect(l).toContain(`${vpcEndOf(eni.dev)}@`);
  expect(l).toMatch(/ master br0 /);
  expect(l).toMatch(/<[^>]*\bUP\b[^>]*>/);
}

/** Moves the stand-in's host end into ns, gives it the ENI address and checks it reaches the gateway through the VPC. */
async function plugInto(eni: Eni, ns: string): Promise<void> {
  await sh('ip', ['link', 'set', 'dev', eni.dev, 'netns', ns]);
  expect(await hostLinksWithMac(eni.mac)).toEqual([]);
  await sh('ip', ['-n', ns, 'addr', 'add', `${eni.ip}/24`, 'dev', eni.dev]);
  await sh('ip', ['-n', ns, 'link', 'set', eni.dev, 'up']);
  const gw = eni.gateway.split('/')[0]!;
  const ping = await sh('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '2', gw], { reject: false, timeout: 10_000 });
  expect(ping.exitCode).toBe(0);
}

/** Every process whose command line names this run's prefix (watchers, their `ip monitor`, holders). */
async function processesOfRun(): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(prefix)) out.push(`${pid}: ${cmd.replace(/\0/g, ' ').trim()}`);
  }
  return out;
}

async function expectNoMacAnywhereOfOurs(eni: Eni): Promise<void> {
  expect(await hostLinksWithMac(eni.mac)).toEqual([]);
  for (const ns of [vpc!.ns, ...taskNamespaces]) expect((await nsLinks(ns)).toLowerCase()).not.toContain(eni.mac);
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('integration requirement missing: root (this test creates namespaces and links)');
  for (const tool of ['ip', 'nsenter', 'busybox']) {
    const r = await sh('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (r.exitCode !== 0) throw new Error(`integration requirement missing: ${tool}`);
  }
  vpc = await Vpc.up(prefix, 7);
});

afterAll(async () => {
  for (const h of holders) h.kill('SIGKILL');
  await Promise.allSettled(holders);
  for (const ns of [...taskNamespaces]) await delNs(ns);
  await vpc?.down();
});

describe('a returning stand-in ENI (eni-watch)', () => {
  let eni: Eni;
  let w: EniWatcher;

  test('comes back to the host with the same MAC, down and without an address, when its namespace is destroyed', async () => {
    eni = await vpc!.addEni(`${prefix}r1`, 21, { returning: true });
    w = vpc!.watcher(eni.dev)!;
    expect(w).toBeDefined();
    expect(w.running).toBe(true);

    const ns = await taskNs('task1');
    await plugInto(eni, ns);
    const t0 = Date.now();
    await delNs(ns);
    const link = await waitForHostMac(eni.mac, RETURN_BOUND_MS);
    expect(Date.now() - t0).toBeLessThan(RETURN_BOUND_MS);
    expect(link).toEqual({ name: eni.dev, mac: eni.mac, up: false, operstate: 'DOWN', addresses: [] });
    expect(await hostLinksWithMac(eni.mac)).toHaveLength(1);
    await expectPlugged(eni);
    await w.waitForRecreations(1);
    expect(w.lines.filter((l) => l.includes(' re-created #'))).toHaveLength(1);
  });

  test('the returned stand-in works again, and returns again', async () => {
    const ns = await taskNs('task2');
    await plugInto(eni, ns); // pings the gateway through the re-created pair
    await delNs(ns);
    await waitForHostMac(eni.mac, RETURN_BOUND_MS);
    await expectPlugged(eni);
    await w.waitForRecreations(2);
    expect(w.recreations).toBe(2);
  });

  test('nothing is re-created while it is inside a live namespace, even one no longer named', async () => {
    const ns = await taskNs('task3');
    await plugInto(eni, ns);
    // A process keeps the namespace alive after `ip netns del`: the ENI still exists, in an unnamed namespace.
    const holder = execa('ip', ['netns', 'exec', ns, 'busybox', 'sleep', '60'], { reject: false, stdin: 'ignore' });
    holders.push(holder);
    await sleep(200);
    await sh('ip', ['-n', ns, 'link', 'set', eni.dev, 'down']);
    await sleep(QUIET_MS / 2);
    expect(await hostLinksWithMac(eni.mac)).toEqual([]);
    expect((await nsLinks(ns, eni.dev)).toLowerCase()).toContain(eni.mac);

    await delNs(ns);
    await sleep(QUIET_MS);
    expect(await hostLinksWithMac(eni.mac)).toEqual([]);
    expect(w.recreations).toBe(2);
    expect(w.running).toBe(true);
    await expectPlugged(eni); // the pair is intact: its VPC end never went away

    // The last process leaves: the namespace is destroyed and the ENI returns.
    holder.kill('SIGKILL');
    await holder;
    const link = await waitForHostMac(eni.mac, RETURN_BOUND_MS);
    expect(link.name).toBe(eni.dev);
    expect(await hostLinksWithMac(eni.mac)).toHaveLength(1);
    await w.waitForRecreations(3);
    await expectPlugged(eni);
  });

  test('eni-del stops the watcher first; nothing comes back', async () => {
    const pid = w.pid!;
    const pidFile = path.join(STATE_ROOT, vpc!.ns, 'watch', `${eni.dev}.pid`);
    expect((await readFile(pidFile, 'utf8')).trim()).toBe(String(pid));
    // The script itself, not the harness (whose removeEni also reaps the watcher): deleting DEV deletes the VPC
    // end too, which a watcher still running would answer with a re-creation.
    const del = await sh(STAND_IN, ['eni-del', '--dev', eni.dev, '--ns', vpc!.ns], { reject: false });
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain(`stopped eni-watch of ${eni.dev} in ${vpc!.ns} (pid ${pid})`);
    expect(await w.exited(1_000)).toBe(true); // stopped by eni-del: the harness has sent it nothing
    expect(w.lines.at(-1)).toMatch(/stopped \((signal|stop file)/);
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow();
    await sleep(QUIET_MS);
    await expectNoMacAnywhereOfOurs(eni);
    expect(await nsLinks(vpc!.ns, vpcEndOf(eni.dev))).toBe('');
    expect(w.recreations).toBe(3);
    await vpc!.removeEni(eni.dev);
    expect(vpc!.watcher(eni.dev)).toBeUndefined();
  });

  test('eni-del without --ns, while the ENI is in a task namespace, stops the watcher; destroying the namespace brings nothing back', async () => {
    const e2 = await vpc!.addEni(`${prefix}r2`, 22, { returning: true });
    const w2 = vpc!.watcher(e2.dev)!;
    const ns = await taskNs('task4');
    await plugInto(e2, ns);
    const del = await sh(STAND_IN, ['eni-del', '--dev', e2.dev], { reject: false });
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain(`stopped eni-watch of ${e2.dev}`);
    expect(await w2.exited(1_000)).toBe(true);
    await delNs(ns);
    await sleep(QUIET_MS);
    await expectNoMacAnywhereOfOurs(e2);
    expect(await nsLinks(vpc!.ns, vpcEndOf(e2.dev))).toBe('');
    expect(w2.recreations).toBe(0);
    await vpc!.removeEni(e2.dev);
  });

  test('eni-watch refuses a stand-in that does not exist, a second watcher, and bad arguments', async () => {
    const e3 = await vpc!.addEni(`${prefix}r3`, 23, { returning: true });
    const twice = await sh(STAND_IN, ['eni-watch', '--ns', vpc!.ns, '--dev', e3.dev, '--mac', e3.mac], { reject: false, timeout: 10_000 });
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toContain(`already watched (eni-watch pid ${vpc!.watcher(e3.dev)!.pid})`);
    const wrongMac = await sh(STAND_IN, ['eni-watch', '--ns', vpc!.ns, '--dev', e3.dev, '--mac', '0a:58:00:00:00:01'], { reject: false, timeout: 10_000 });
    expect(wrongMac.exitCode).toBe(1);
    const missing = await sh(STAND_IN, ['eni-watch', '--ns', vpc!.ns, '--dev', `${prefix}zz`, '--mac', e3.mac], { reject: false, timeout: 10_000 });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('run: scripts/stand-in-eni eni-add');
    for (const bad of [['--interval-ms', '5'], ['--interval-ms', 'x'], ['--while-pid', 'abc']]) {
      const r = await sh(STAND_IN, ['eni-watch', '--ns', vpc!.ns, '--dev', e3.dev, '--mac', e3.mac, ...bad], { reject: false, timeout: 10_000 });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('error:');
    }
    expect(vpc!.watcher(e3.dev)!.running).toBe(true); // the refusals did not disturb the running one
    // Left to down(): it stops this watcher before the VPC namespace's links are deleted.
  });

  test('teardown leaves no namespace, link, process or state of this run', async () => {
    const watchers = [vpc!.watcher(`${prefix}r3`)].filter((x): x is EniWatcher => x !== undefined);
    await vpc!.down();
    for (const ns of [...taskNamespaces]) await delNs(ns);
    for (const x of watchers) expect(x.running).toBe(false);

    const netns = (await sh('ip', ['netns', 'list'])).stdout;
    expect(netns).not.toContain(prefix);
    const links = (await sh('ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toContain(prefix);
    for (const e of ['r1', 'r2', 'r3']) expect(links).not.toContain(vpcEndOf(`${prefix}${e}`));
    expect(await processesOfRun()).toEqual([]);
    await expect(readdir(path.join(STATE_ROOT, vpc!.ns))).rejects.toThrow();
    vpc = undefined;
  });
});
