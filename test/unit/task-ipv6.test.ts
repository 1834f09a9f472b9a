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
    expect(route).toBeLessThan(j.findIndex((e) => e.startsWith(`create awsvpcd-${ID}-app`)));
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
