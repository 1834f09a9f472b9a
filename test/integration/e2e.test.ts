// End to end on the real engine with the reference plugin set: a JSON task becomes two containers
// sharing the ENI's address and localhost; stop returns everything.
import { jest } from '@jest/globals';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc, Vpc, docker, execIn, ipamAddresses, requireEnvironment, runPrefix, sh, taskJson, type Eni } from './harness.js';


jest.setTimeout(180_000);
// busybox-static 1.35's wget segfaults with -T; commands are bounded by execa's timeout instead.

const prefix = runPrefix();
const d = new DaemonProc({ prefix });
let vpc: Vpc;
let eni1: Eni;
let eni2: Eni;
const ids = [`${prefix}a`, `${prefix}b`, `${prefix}c`];

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 1);
  eni1 = await vpc.addEni(`${prefix}e1`, 15);
  eni2 = await vpc.addEni(`${prefix}e2`, 16);
  await d.start();
});

afterAll(async () => {
  await d.cleanup(ids);
  await vpc?.down();
});

describe('a two-container awsvpc task', () => {
  const id = ids[0]!;
  let pauseName: string;

  test('reaches RUNNING through run-task --wait', async () => {
    const file = path.join(d.root, 'task-a.json');
    await writeFile(file, JSON.stringify(taskJson({ id, eni: eni1 })));
    const r = await d.cli(['run-task', '--file', file, '--wait']);
    expect(r.stderr).toContain('RUNNING');
    expect(r.exitCode).toBe(0);
    const t = await d.describe(id);
    expect(t.lastStatus).toBe('RUNNING');
    pauseName = `awsvpcd-${id}-internalecspause`;
  });

  test('container B reads container A over 127.0.0.1', async () => {
    expect(await execIn(`awsvpcd-${id}-probe`, ['wget', '-qO-', 'http://127.0.0.1:8080/'])).toBe('app-ok');
  });

  test('both containers see eth0 with the task address and the ENI MAC', async () => {
    for (const c of ['app', 'probe']) {
      const addr = await execIn(`awsvpcd-${id}-${c}`, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      expect(addr).toContain(`inet ${eni1.ip}/24`);
      expect((await execIn(`awsvpcd-${id}-${c}`, ['cat', '/sys/class/net/eth0/address'])).trim()).toBe(eni1.mac);
    }
  });

  test('default route via the subnet gateway; ecs-eth0 with a 169.254.172.x address and a route to 169.254.170.2', async () => {
    const routes = await execIn(`awsvpcd-${id}-app`, ['ip', 'route']);
    expect(routes).toMatch(/^default via 10\.99\.1\.1 dev eth0/m);
    const local = await execIn(`awsvpcd-${id}-app`, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'ecs-eth0']);
    expect(local).toMatch(/inet 169\.254\.17[2-5]\.\d+\/22/);
    expect(routes).toMatch(/^169\.254\.170\.2 via 169\.254\.172\.1 dev ecs-eth0/m);
    const t = await d.describe(id);
    expect(local).toContain(`inet ${t.localIpAddress}/22`);
  });

  test('instance metadata is blackholed by default (read from the route table, never probed)', async () => {
    const routes = await execIn(`awsvpcd-${id}-app`, ['ip', 'route', 'show', 'table', 'all']);
    expect(routes).toMatch(/^blackhole 169\.254\.169\.254\b/m);
  });

  test('the peer host reaches the task, and the task reaches the peer', async () => {
    const fromPeer = await vpc.exec(['busybox', 'wget', '-qO-', `http://${eni1.ip}:8080/`]);
    expect(fromPeer.stdout).toBe('app-ok');
    expect(await execIn(`awsvpcd-${id}-probe`, ['wget', '-qO-', `http://${vpc.peer}/`])).toContain('peer-ok');
  });

  test('hostname, resolv.conf and /etc/hosts match the ENI', async () => {
    const dnsName = `ip-${eni1.ip.split('.').join('-')}.ec2.internal`;
    for (const c of ['app', 'probe']) {
      expect((await execIn(`awsvpcd-${id}-${c}`, ['hostname'])).trim()).toBe(dnsName);
      const resolv = await execIn(`awsvpcd-${id}-${c}`, ['cat', '/etc/resolv.conf']);
      expect(resolv).toMatch(/^nameserver 10\.99\.0\.2$/m);
      expect(resolv).toMatch(/^search ec2\.internal$/m);
      const hosts = await execIn(`awsvpcd-${id}-${c}`, ['cat', '/etc/hosts']);
      expect(hosts).toMatch(new RegExp(`^${eni1.ip.replace(/\./g, '\\.')}\\s+${dnsName.replace(/\./g, '\\.')}`, 'm'));
    }
  });

  test('describe-tasks shows the attachment and each container runtime id', async () => {
    const r = await d.cli(['describe-tasks', `arn:aws:ecs:us-east-1:111122223333:task/test/${id}`, 'nope', '--json']);
    const out = JSON.parse(r.stdout) as { tasks: Array<Record<string, any>>; failures: Array<Record<string, string>> };
    expect(out.failures).toEqual([{ arn: 'nope', reason: 'MISSING' }]);
    const t = out.tasks[0]!;
    expect(t.lastStatus).toBe('RUNNING');
    const att = t.attachments[0];
    expect(att.status).toBe('ATTACHED');
    expect(att.id).toBe(`${id}-att`);
    const details = Object.fromEntries(att.details.map((x: { name: string; value: string }) => [x.name, x.value]));
    expect(details.macAddress).toBe(eni1.mac);
    expect(details.privateIPv4Address).toBe(eni1.ip);
    expect(details.networkInterfaceId).toMatch(/^eni-[0-9a-f]{8}$/);
    expect(details.privateDnsName).toBe(`ip-${eni1.ip.split('.').join('-')}.ec2.internal`);
    for (const c of t.containers) {
      const real = (await docker(['inspect', '--format', '{{.Id}}', `awsvpcd-${id}-${c.name}`])).stdout.trim();
      expect(c.runtimeId).toBe(real);
      expect(c.lastStatus).toBe('RUNNING');
      expect(c.networkInterfaces[0].privateIpv4Address).toBe(eni1.ip);
    }
    // the task's containers really share the pause container's namespace
    const mode = (await docker(['inspect', '--format', '{{.HostConfig.NetworkMode}}', `awsvpcd-${id}-app`])).stdout.trim();
    const pauseId = (await docker(['inspect', '--format', '{{.Id}}', pauseName])).stdout.trim();
    expect(mode).toBe(`container:${pauseId}`);
  });

  test('a second task with a second ENI runs beside the first without touching it', async () => {
    const id2 = ids[1]!;
    await d.submit(taskJson({ id: id2, eni: eni2 }));
    await d.waitStatus(id2, 'RUNNING');
    expect(await execIn(`awsvpcd-${id2}-app`, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).toContain(`inet ${eni2.ip}/24`);
    // each task reaches the other through the VPC, and still its own localhost
    expect(await execIn(`awsvpcd-${id2}-probe`, ['wget', '-qO-', `http://${eni1.ip}:8080/`])).toBe('app-ok');
    expect(await execIn(`awsvpcd-${id}-probe`, ['wget', '-qO-', `http://${eni2.ip}:8080/`])).toBe('app-ok');
    const l1 = (await d.describe(id)).localIpAddress;
    const l2 = (await d.describe(id2)).localIpAddress;
    expect(l1).toBeDefined();
    expect(l2).toBeDefined();
    expect(l1).not.toBe(l2);
    expect((await d.describe(id)).lastStatus).toBe('RUNNING');
    const r = await d.cli(['stop-task', id2, '--wait']);
    expect(r.exitCode).toBe(0);
    // stopping the second task left the first alone
    expect(await execIn(`awsvpcd-${id}-probe`, ['wget', '-qO-', 'http://127.0.0.1:8080/'])).toBe('app-ok');
  });

  test('stop-task removes containers and pause, returns the ENI and releases the address for reuse', async () => {
    const before = await d.describe(id);
    const localIp = before.localIpAddress!;
    expect(await ipamAddresses(d)).toContain(localIp);
    const r = await d.cli(['stop-task', id, '--wait']);
    expect(r.exitCode).toBe(0);
    const t = await d.describe(id);
    expect(t.lastStatus).toBe('STOPPED');
    expect(t.stoppedReason).toBe('Task stopped by user');
    // The attachment reads DELETED once the ENI is seen back on the host (host-device DEL returns it at once).
    const detached = await d.waitAttachment(id, 'DELETED', 5_000);
    expect(detached.eniReturn).toMatchObject({ seen: true, hostName: eni1.dev });
    expect(t.containers.every((c) => c.lastStatus === 'STOPPED')).toBe(true);
    const left = (await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`])).stdout.trim();
    expect(left).toBe('');
    // host-device returns the link to the host namespace under its own name, with its MAC
    const link = await sh('ip', ['-o', 'link', 'show', 'dev', eni1.dev]);
    expect(link.stdout).toContain(eni1.mac);
    expect(await ipamAddresses(d)).not.toContain(localIp);
    expect(await readdir(path.join(d.runDir, 'netns')).catch(() => [])).toEqual([]);

    // the ENI is usable again, and the freed ecs-eth0 address may be handed out again
    const id3 = ids[2]!;
    await d.submit(taskJson({ id: id3, eni: eni1 }));
    const t3 = await d.waitStatus(id3, 'RUNNING');
    expect(t3.localIpAddress).toMatch(/^169\.254\.17[2-5]\.\d+$/);
    expect(await execIn(`awsvpcd-${id3}-probe`, ['wget', '-qO-', 'http://127.0.0.1:8080/'])).toBe('app-ok');
    await d.cli(['stop-task', id3, '--wait']);
    expect((await d.describe(id3)).lastStatus).toBe('STOPPED');
    expect(await ipamAddresses(d)).toEqual([]);
  });
});
