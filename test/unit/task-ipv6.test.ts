// Dual-stack and IPv6-only tasks through the manager, against in-memory fakes: the pause container's IPv6
// sysctl and hosts entries, the daemon's IMDS blackholes for both families (reference set), and the IPv6
// default route the daemon adds after a vpc-eni ADD that was sent the IPv4 gateway only.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateTask } from '../../agent/task/validate/index.js';
import type { TaskSpec } from '../../agent/model.js';
import { pauseCreateOptions } from '../../agent/docker/container-config.js';
import { rig } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid', name), 'utf8')) as Record<string, unknown>;
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };
const MAC = '0a:58:a9:fe:ac:10';
const ID = '5f1e0c2a9b8d4e7f8a6b5c4d3e2f1a0b';
const spec = (name: string): TaskSpec => validateTask(fixture(name), VOPTS);

describe('the pause container of an IPv6 task', () => {
  test('dual-stack: IPv6 turned on in the namespace; hosts name the IPv4 address only (agent generateENIExtraHosts)', () => {
    const o = pauseCreateOptions(spec('dual-stack.json'), 'h', 'pause', {});
    expect(o.sysctls).toEqual({ 'net.ipv6.conf.all.disable_ipv6': '0' });
    expect(o.extraHosts).toEqual(['ip-10-99-1-15.ec2.internal:10.99.1.15']);
  });

  test('IPv6-only: IPv6 turned on; hosts name every IPv6 address', () => {
    const o = pauseCreateOptions(spec('ipv6-only.json'), 'h', 'pause', {});
    expect(o.sysctls).toEqual({ 'net.ipv6.conf.all.disable_ipv6': '0' });
    expect(o.extraHosts).toEqual(['ip-2001-db8-99--15.ec2.internal:2001:db8:99::15', 'ip-2001-db8-99--15.ec2.internal:2001:db8:99::16']);
    expect(o.dns).toEqual(['2001:db8:99::2']);
  });

  test('IPv4-only: no IPv6 sysctl (the engine leaves IPv6 off)', () => {
    expect(pauseCreateOptions(spec('spec-example.json'), 'h', 'pause', {}).sysctls).toBeUndefined();
  });
});

describe('setting up an IPv6 task', () => {
  test('reference set, dual-stack: the daemon adds both IMDS blackholes before any task container', async () => {
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec('dual-stack.json'), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    const j = r.journal;
    const firstApp = j.findIndex((e) => e.startsWith(`create awsvpcd-${ID}-app`));
    expect(j.indexOf('blackhole 169.254.169.254/32')).toBeGreaterThan(-1);
    expect(j.indexOf('blackhole fd00:ec2::254/128')).toBeGreaterThan(-1);
    expect(j.indexOf('blackhole fd00:ec2::254/128')).toBeLessThan(firstApp);
    expect(j.some((e) => e.startsWith('default6'))).toBe(false);
  });

  test('vpc set, dual-stack: after the vpc-eni ADD (IPv4 gateway only) the daemon adds the IPv6 default route', async () => {
    const r = rig({ pluginSet: 'vpc' });
    // What vpc-eni leaves (its ADD is checked against the namespace): both addresses, the IPv4 default route, both blackholes.
    r.hostNet.detail = {
      links: [
        { name: 'eth0', mac: MAC, up: true, addrs: ['10.99.1.15/24', '2001:db8:99::15/64'] },
        { name: 'ecs-eth0', mac: '0a:58:a9:fe:ac:02', up: true, addrs: ['169.254.172.2/22'] },
      ],
      routes: [
        { dst: 'default', type: 'unicast', gateway: '10.99.1.1', dev: 'eth0' },
        { dst: '169.254.169.254/32', type: 'blackhole' },
        { dst: 'fd00:ec2::254/128', type: 'blackhole', dev: 'lo' },
        { dst: '169.254.170.2/32', type: 'unicast', gateway: '169.254.172.1', dev: 'ecs-eth0' },
      ],
    };
    r.links.present.add(MAC);
    await r.manager.submit(spec('dual-stack.json'), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.stoppedReason).toBeNull();
    expect(rec.lastStatus).toBe('RUNNING');
    const j = r.journal;
    const eniAdd = j.findIndex((e) => /^cni ADD vpc-eni eth0/.test(e));
    const route = j.indexOf('default6 2001:db8:99::1 eth0');
    expect(eniAdd).toBeGreaterThan(-1);
    expect(route).toBeGreaterThan(eniAdd);
    // Containers may be created while the ADDs run (the setup graph); none starts before the route.
    expect(route).toBeLessThan(j.findIndex((e) => e.startsWith(`start awsvpcd-${ID}-app`)));
    // The vpc-eni plugins add the blackholes themselves: the daemon adds none.
    expect(j.some((e) => e.startsWith('blackhole'))).toBe(false);
  });

  test('vpc set, dual-stack: a vpc-eni ADD that left no IPv6 blackhole is not taken at its word', async () => {
    const r = rig({ pluginSet: 'vpc' });
    r.hostNet.detail = {
      links: [{ name: 'eth0', mac: MAC, up: true, addrs: ['10.99.1.15/24', '2001:db8:99::15/64'] }],
      routes: [
        { dst: 'default', type: 'unicast', gateway: '10.99.1.1', dev: 'eth0' },
        { dst: '169.254.169.254/32', type: 'blackhole' },
      ],
    };
    r.links.present.add(MAC);
    await r.manager.submit(spec('dual-stack.json'), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.stoppedReason).toContain('no blackhole route for fd00:ec2::254');
  });
});

describe('IPv6 addresses must be usable: duplicate address detection, and the namespace check', () => {
  const snapshot = (extra: { addresses?: string[]; tentative?: string[]; dadFailed?: string[] } = {}) => ({
    interfaces: new Map([['lo', { rxBytes: 0, txBytes: 0 }], ['eth0', { rxBytes: 0, txBytes: 0 }], ['ecs-eth0', { rxBytes: 0, txBytes: 0 }]]),
    addresses: new Set(extra.addresses ?? ['127.0.0.1', '10.99.1.15', '169.254.172.2', '2001:db8:99::15']),
    tentative: new Set(extra.tentative ?? []),
    dadFailed: new Set(extra.dadFailed ?? []),
  });

  test('the task containers start only once the IPv6 address is no longer tentative', async () => {
    const r = rig();
    let reads = 0;
    r.hostNet.readNetns = async () => {
      reads += 1;
      r.journal.push(`read-netns ${reads}`);
      return snapshot({ tentative: reads < 4 ? ['2001:db8:99::15'] : [] });
    };
    r.links.present.add(MAC);
    await r.manager.submit(spec('dual-stack.json'), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.journal.indexOf('read-netns 4')).toBeGreaterThan(-1);
    expect(r.journal.indexOf('read-netns 4')).toBeLessThan(r.journal.findIndex((e) => e.startsWith(`start awsvpcd-${ID}-app`)));
  });

  test('an address whose duplicate address detection failed fails the setup, naming it', async () => {
    const r = rig();
    r.hostNet.readNetns = async () => snapshot({ tentative: ['2001:db8:99::15'], dadFailed: ['2001:db8:99::15'] });
    r.links.present.add(MAC);
    await r.manager.submit(spec('dual-stack.json'), 'api');
    await r.manager.settled(ID);
    const rec = r.manager.get(ID)!;
    expect(rec.lastStatus).toBe('STOPPED');
    expect(rec.stoppedReason).toContain('duplicate address detection failed for 2001:db8:99::15');
    expect(r.journal.some((e) => e.startsWith(`start awsvpcd-${ID}-app`))).toBe(false);
  });

  test('an IPv4-only task does not wait on the namespace before its containers (only the check after RUNNING reads it)', async () => {
    const r = rig();
    const orig = r.hostNet.readNetns.bind(r.hostNet);
    r.hostNet.readNetns = async (pid: number) => {
      r.journal.push('read-netns');
      return orig(pid);
    };
    r.links.present.add(MAC);
    await r.manager.submit(spec('spec-example.json'), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    expect(r.journal.indexOf('read-netns')).toBeGreaterThan(r.journal.findIndex((e) => e.startsWith(`start awsvpcd-${ID}-app`)));
  });

  test('a RUNNING dual-stack task whose namespace lost its IPv6 address is stopped, naming the address', async () => {
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec('dual-stack.json'), 'api');
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
    r.hostNet.readNetns = async () => snapshot({ addresses: ['127.0.0.1', '10.99.1.15', '169.254.172.2'] });
    await r.manager.checkAll();
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.stoppedReason).toBe('Task network lost: eth0 no longer holds 2001:db8:99::15');
  });

  test('a RUNNING IPv6-only task with its address in place stays RUNNING', async () => {
    const r = rig();
    r.links.present.add(MAC);
    await r.manager.submit(spec('ipv6-only.json'), 'api');
    await r.manager.settled(ID);
    await r.manager.checkAll();
    await r.manager.settled(ID);
    expect(r.manager.get(ID)!.lastStatus).toBe('RUNNING');
  });
});

describe('reading IPv6 addresses from /proc/<pid>/net/if_inet6', () => {
  test('global addresses with their DAD flags; link-local and loopback left out', async () => {
    const { parseNetnsSnapshot } = await import('../../agent/eni/netns.js');
    const ifInet6 = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      '20010db8009900000000000000000015 02 40 00 c0     eth0', // tentative (0x40) + permanent (0x80)
      '20010db8009900000000000000000016 02 40 00 48     eth0', // tentative + dadfailed
      '20010db8009900000000000000000017 02 40 00 80     eth0',
      'fe800000000000000899fffffe00aa01 02 40 20 80     eth0',
    ].join('\n');
    const snap = parseNetnsSnapshot('', '', ifInet6);
    expect([...snap.addresses]).toEqual(['2001:db8:99::15', '2001:db8:99::16', '2001:db8:99::17']);
    expect([...snap.tentative!]).toEqual(['2001:db8:99::15', '2001:db8:99::16']);
    expect([...snap.dadFailed!]).toEqual(['2001:db8:99::16']);
  });
});
