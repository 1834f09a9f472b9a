// IPv6 end to end on the real engine with the reference plugin set: a dual-stack task and an IPv6-only task
// on stand-in ENIs whose VPC namespace has an IPv6 side (2001:db8::/32, inside namespaces this test makes,
// the VPC side without DAD; the task side's DAD the daemon waits for). Traffic goes only between the task
// namespaces and the VPC namespace (ping inside namespaces); the IMDS blackholes are read from the route
// tables, never probed. Then a crash at each setup and teardown point of a dual-stack task leaves nothing.
import { jest } from '@jest/globals';
import { DaemonProc, Vpc, docker, execIn, leaks, requireEnvironment, runPrefix, taskJson, type Eni } from './harness.js';
import { REFERENCE_PLUGINS, setupPoints, teardownPoints } from '../support/crash-points.js';

jest.setTimeout(600_000);

const prefix = runPrefix();
const d = new DaemonProc({ prefix, args: ['--stopped-task-retention-ms', '600000'] });
const daemons: DaemonProc[] = [d];
let vpc: Vpc;
let dual: Eni;
let only: Eni;
const ids = [`${prefix}ds`, `${prefix}v6`];
const crashIds: string[] = [];

const QUICK = (name: string, essential: boolean, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'busybox:latest',
  essential,
  command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
  stopTimeout: 5,
  ...extra,
});

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 6, { ipv6: true });
  dual = await vpc.addEni(`${prefix}e1`, 15, { family: 'dual-stack' });
  only = await vpc.addEni(`${prefix}e2`, 16, { family: 'ipv6-only' });
  await d.start();
});

afterAll(async () => {
  for (const x of daemons) await x.kill().catch(() => undefined);
  await d.cleanup([...ids, ...crashIds]);
  await vpc?.down();
});

const app = (id: string) => `awsvpcd-${id}-app`;
const probe = (id: string) => `awsvpcd-${id}-probe`;
const ping = (container: string, ip: string) => docker(['exec', container, 'ping', '-c', '1', '-W', '3', ip], false);
const peerPing = (ip: string) => vpc.exec(['busybox', 'ping', '-c', '1', '-W', '3', ip], false);

describe('a dual-stack task', () => {
  const id = ids[0]!;

  test('reaches RUNNING with both addresses usable (no tentative IPv6 address) on eth0', async () => {
    await d.submit(taskJson({ id, eni: dual }));
    const t = await d.waitStatus(id, 'RUNNING', 90_000);
    expect(t.stoppedReason).toBeNull();
    const v4 = await execIn(app(id), ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    expect(v4).toContain(`inet ${dual.ip}/24`);
    const v6 = await execIn(app(id), ['ip', '-o', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
    expect(v6).toContain(`inet6 ${dual.ip6}/64`);
    expect(v6).not.toMatch(/tentative|dadfailed/);
  });

  test('both default routes, via the subnet gateways', async () => {
    expect(await execIn(app(id), ['ip', '-4', 'route'])).toMatch(/^default via 10\.99\.6\.1 dev eth0/m);
    expect(await execIn(app(id), ['ip', '-6', 'route'])).toMatch(/^default via 2001:db8:6::1 dev eth0/m);
  });

  test('both IMDS blackholes, read from the route tables', async () => {
    expect(await execIn(app(id), ['ip', '-4', 'route', 'show', 'table', 'all'])).toMatch(/^blackhole 169\.254\.169\.254\b/m);
    expect(await execIn(app(id), ['ip', '-6', 'route', 'show', 'table', 'all'])).toMatch(/^blackhole fd00:ec2::254\b/m);
  });

  test('the VPC peer reaches the task over IPv4 and IPv6, and the task reaches the peer over both', async () => {
    const p4 = await peerPing(dual.ip);
    expect({ exit: p4.exitCode, out: p4.stdout + p4.stderr }).toMatchObject({ exit: 0 });
    const p6 = await peerPing(dual.ip6!);
    expect({ exit: p6.exitCode, out: p6.stdout + p6.stderr }).toMatchObject({ exit: 0 });
    const t4 = await ping(probe(id), vpc.peer);
    expect({ exit: t4.exitCode, out: t4.stdout + t4.stderr }).toMatchObject({ exit: 0 });
    const t6 = await ping(probe(id), vpc.v6!.peer6);
    expect({ exit: t6.exitCode, out: t6.stdout + t6.stderr }).toMatchObject({ exit: 0 });
    // and over TCP: the peer fetches the app's page over IPv6
    const web = await vpc.exec(['busybox', 'wget', '-qO-', `http://[${dual.ip6}]:8080/`], false);
    expect(web.stdout).toBe('app-ok');
  });

  test('the containers share localhost over ::1 as well as 127.0.0.1', async () => {
    expect(await execIn(probe(id), ['wget', '-qO-', 'http://127.0.0.1:8080/'])).toBe('app-ok');
    expect(await execIn(probe(id), ['wget', '-qO-', 'http://[::1]:8080/'])).toBe('app-ok');
  });

  test('describe-tasks and the metadata endpoint show the IPv6 values', async () => {
    const t = await d.describe(id);
    const details = Object.fromEntries(t.attachments[0]!.details.map((x) => [x.name, x.value]));
    expect(details.privateIPv4Address).toBe(dual.ip);
    expect(details.ipv6Address).toBe(dual.ip6);
    for (const c of t.containers) expect(c.networkInterfaces[0]).toMatchObject({ privateIpv4Address: dual.ip, ipv6Address: dual.ip6 });
    const m = await d.api.request<{ Networks: Array<Record<string, unknown>> }>('GET', `/v1/tasks/${id}/metadata`);
    expect(m.status).toBe(200);
    expect(m.body.Networks[0]).toMatchObject({ IPv4Addresses: [dual.ip], IPv6Addresses: [dual.ip6], IPv6SubnetCIDRBlock: '2001:db8:6::/64', SubnetGatewayIpv4Address: '10.99.6.1/24' });
    expect(m.body.Networks[0]!.SubnetGatewayIpv6Address).toBeUndefined();
  });
});

describe('an IPv6-only task', () => {
  const id = ids[1]!;

  test('reaches RUNNING with only the IPv6 address on eth0 and only the IPv6 default route', async () => {
    await d.submit(taskJson({ id, eni: only }));
    await d.waitStatus(id, 'RUNNING', 90_000);
    expect((await execIn(app(id), ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).trim()).toBe('');
    const v6 = await execIn(app(id), ['ip', '-o', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
    expect(v6).toContain(`inet6 ${only.ip6}/64`);
    expect(v6).not.toMatch(/tentative|dadfailed/);
    expect(await execIn(app(id), ['ip', '-4', 'route'])).not.toMatch(/^default/m);
    expect(await execIn(app(id), ['ip', '-6', 'route'])).toMatch(/^default via 2001:db8:6::1 dev eth0/m);
  });

  test('both IMDS blackholes', async () => {
    expect(await execIn(app(id), ['ip', '-4', 'route', 'show', 'table', 'all'])).toMatch(/^blackhole 169\.254\.169\.254\b/m);
    expect(await execIn(app(id), ['ip', '-6', 'route', 'show', 'table', 'all'])).toMatch(/^blackhole fd00:ec2::254\b/m);
  });

  test('reachable both ways over IPv6; hosts name the IPv6 address', async () => {
    const p6 = await peerPing(only.ip6!);
    expect({ exit: p6.exitCode, out: p6.stdout + p6.stderr }).toMatchObject({ exit: 0 });
    const t6 = await ping(probe(id), vpc.v6!.peer6);
    expect({ exit: t6.exitCode, out: t6.stdout + t6.stderr }).toMatchObject({ exit: 0 });
    const hosts = await execIn(app(id), ['cat', '/etc/hosts']);
    expect(hosts).toMatch(new RegExp(`^${only.ip6!.replace(/:/g, ':')}\\s+i-${id}\\.ec2\\.internal`, 'm'));
  });

  test('describe-tasks and the metadata endpoint show the IPv6 values, and no IPv4 ones', async () => {
    const t = await d.describe(id);
    const details = Object.fromEntries(t.attachments[0]!.details.map((x) => [x.name, x.value]));
    expect(details.privateIPv4Address).toBeUndefined();
    expect(details.ipv6Address).toBe(only.ip6);
    expect(t.containers[0]!.networkInterfaces[0]).toEqual({ attachmentId: `${id}-att`, ipv6Address: only.ip6 });
    const m = await d.api.request<{ Networks: Array<Record<string, unknown>> }>('GET', `/v1/tasks/${id}/metadata`);
    expect(m.body.Networks[0]).toMatchObject({ IPv6Addresses: [only.ip6], IPv6SubnetCIDRBlock: '2001:db8:6::/64', SubnetGatewayIpv6Address: '2001:db8:6::1/64' });
    expect(m.body.Networks[0]!.IPv4Addresses).toBeUndefined();
  });
});

describe('stop', () => {
  test('releases everything of both tasks', async () => {
    for (const id of ids) {
      await d.stopTask(id);
      const t = await d.waitStatus(id, 'STOPPED', 60_000);
      expect(t.cleanupErrors).toBeUndefined();
    }
    expect(await leaks(d, ids, [dual, only])).toEqual([]);
    await d.stop();
  });
});

describe('a crash at each step of a dual-stack task leaves nothing behind', () => {
  const SETUP = setupPoints({ plugins: REFERENCE_PLUGINS, containers: ['app'] });
  const TEARDOWN = teardownPoints({ plugins: REFERENCE_PLUGINS });
  let eni: Eni;
  const again = (env: Record<string, string> = {}): DaemonProc => {
    const x = new DaemonProc({ ...d.o, env });
    daemons.push(x);
    return x;
  };
  const newId = () => {
    const id = `${prefix}k${crashIds.length.toString(36)}`;
    crashIds.push(id);
    return id;
  };
  const ONE = [QUICK('app', true)];
  beforeAll(async () => {
    eni = await vpc.addEni(`${prefix}c1`, 21, { family: 'dual-stack' });
  });
  afterEach(async () => {
    for (const x of daemons) await x.kill().catch(() => undefined);
  });

  test.each(SETUP)('setup crash %s: after a restart RUNNING with both families, then stopped leaving nothing', async (point) => {
    const id = newId();
    const crashing = again({ AWSVPCD_CRASH_AT: point });
    await crashing.start();
    await crashing.submit(taskJson({ id, eni, containers: ONE }));
    if (!(await crashing.exited(60_000))) throw new Error(`daemon did not crash at ${point}\n${await crashing.logTail()}`);
    const x = again();
    await x.start();
    await x.waitStatus(id, 'RUNNING', 90_000);
    const v6 = await execIn(app(id), ['ip', '-o', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
    expect(v6).toContain(`inet6 ${eni.ip6}/64`);
    expect(await execIn(app(id), ['ip', '-6', 'route', 'show', 'table', 'all'])).toMatch(/^blackhole fd00:ec2::254\b/m);
    await x.stopTask(id);
    const t = await x.waitStatus(id, 'STOPPED', 60_000);
    expect(t.cleanupErrors).toBeUndefined();
    expect(await leaks(x, [id], [eni])).toEqual([]);
    await x.stop();
  });

  test.each(TEARDOWN)('teardown crash %s: after a restart STOPPED leaving nothing', async (point) => {
    const id = newId();
    const x1 = again();
    await x1.start();
    await x1.submit(taskJson({ id, eni, containers: ONE }));
    await x1.waitStatus(id, 'RUNNING', 90_000);
    await x1.stop();
    const crashing = again({ AWSVPCD_CRASH_AT: point });
    await crashing.start();
    await crashing.stopTask(id);
    if (!(await crashing.exited(60_000))) throw new Error(`daemon did not crash at ${point}\n${await crashing.logTail()}`);
    const x = again();
    await x.start();
    const t = await x.waitStatus(id, 'STOPPED', 60_000);
    expect(t.cleanupErrors).toBeUndefined();
    expect(await leaks(x, [id], [eni])).toEqual([]);
    await x.stop();
  });
});
