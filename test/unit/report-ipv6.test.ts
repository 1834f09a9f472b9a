// What describe-tasks, the metadata endpoint, cni-config and doctor say about IPv6.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TaskRecord, TaskSpec } from '../../agent/model.js';
import { describeTask } from '../../agent/task/describe.js';
import { parseTaskDocument } from '../../agent/task/validate/index.js';
import { networkMetadata } from '../../agent/api/metadata.js';
import { cniConfigPlan, formatShell } from '../../agent/cli/cni-config.js';
import { resolveConfig } from '../../agent/daemon/config.js';
import { HOST_IPV6_SYSCTL, formatReport, hostIpv6Check, runDoctor, type DoctorDeps } from '../../agent/cli/doctor.js';

const VALID = path.join(import.meta.dirname, '../fixtures/tasks/valid');
const text = (name: string) => readFileSync(path.join(VALID, name));
const spec = (name: string): TaskSpec => parseTaskDocument(text(name), { defaultWaitTimeoutMs: 1000, allowPrivileged: false, allowedCapabilities: [] });
const record = (s: TaskSpec): TaskRecord => ({
  spec: s, specHash: 'h', source: 'api', desiredStatus: 'RUNNING', lastStatus: 'RUNNING', attachmentStatus: 'ATTACHED',
  createdAt: '2026-11-30T05:00:00.000Z', eniDeadline: '2026-11-30T05:03:00.000Z', startedAt: null, stoppingAt: null, stoppedAt: null,
  stoppedReason: null, cni: [], containers: [], cleanupErrors: [], version: 1,
});

describe('describe-tasks', () => {
  test('dual-stack: both addresses in the attachment details and every container network interface', () => {
    const d = describeTask(record(spec('dual-stack.json')));
    const details = Object.fromEntries(d.attachments[0]!.details.map((x) => [x.name, x.value]));
    expect(details.privateIPv4Address).toBe('10.99.1.15');
    expect(details.ipv6Address).toBe('2001:db8:99::15');
    for (const c of d.containers) expect(c.networkInterfaces).toEqual([{ attachmentId: '8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a', privateIpv4Address: '10.99.1.15', ipv6Address: '2001:db8:99::15' }]);
  });

  test('IPv6-only: the IPv6 address only (no empty IPv4 entry), the primary one', () => {
    const d = describeTask(record(spec('ipv6-only.json')));
    expect(d.attachments[0]!.details.map((x) => x.name)).not.toContain('privateIPv4Address');
    expect(d.attachments[0]!.details).toContainEqual({ name: 'ipv6Address', value: '2001:db8:99::15' });
    expect(d.containers[0]!.networkInterfaces).toEqual([{ attachmentId: '8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a', ipv6Address: '2001:db8:99::15' }]);
  });
});

describe('task metadata (v4 Networks)', () => {
  test('dual-stack: IPv6Addresses and IPv6SubnetCIDRBlock; SubnetGatewayIpv6Address only for IPv6-only ENIs, as the agent', () => {
    const n = networkMetadata(spec('dual-stack.json').eni);
    expect(n).toMatchObject({ IPv4Addresses: ['10.99.1.15'], IPv6Addresses: ['2001:db8:99::15'], IPv4SubnetCIDRBlock: '10.99.1.0/24', IPv6SubnetCIDRBlock: '2001:db8:99::/64', SubnetGatewayIpv4Address: '10.99.1.1/24' });
    expect(n.SubnetGatewayIpv6Address).toBeUndefined();
  });

  test('IPv6-only: no IPv4 keys; the IPv6 gateway raw, with its prefix', () => {
    const n = networkMetadata(spec('ipv6-only.json').eni);
    expect(n.IPv4Addresses).toBeUndefined();
    expect(n.IPv4SubnetCIDRBlock).toBeUndefined();
    expect(n.SubnetGatewayIpv4Address).toBeUndefined();
    expect(n).toMatchObject({ IPv6Addresses: ['2001:db8:99::15', '2001:db8:99::16'], IPv6SubnetCIDRBlock: '2001:db8:99::/64', SubnetGatewayIpv6Address: '2001:db8:99::1/64' });
  });

  test('dual-stack without an IPv6 gateway: the /64 the addresses get', () => {
    expect(networkMetadata(spec('ipv6-several-ipv4.json').eni).IPv6SubnetCIDRBlock).toBe('2600:1f18:abc:1::/64');
  });
});

describe('cni-config', () => {
  test('vpc set, dual-stack: the IPv6 default route the daemon adds, after the vpc-eni ADD', async () => {
    const cfg = resolveConfig(new Map([['--plugins', 'vpc'], ['--cni-path', '/opt/cni/bin']]), {});
    const p = await cniConfigPlan(text('dual-stack.json'), cfg, { containerId: 'c0ffee', netns: '/run/netns/t1' });
    expect(p.hostSteps).toEqual([
      expect.objectContaining({ after: 'vpc-eni ADD', argv: ['nsenter', '--net=/run/netns/t1', '--', 'ip', '-6', 'route', 'replace', 'default', 'via', '2001:db8:99::1', 'dev', 'eth0'] }),
    ]);
    expect(p.add[0]!.stdin.eniIPAddresses).toEqual(['10.99.1.15/24', '2001:db8:99::15/64']);
    expect(formatShell(p)).toMatch(/# 1\/2 vpc-eni ADD on eth0[\s\S]*AWSVPCD_JSON\n+# daemon step: .*IPv6 default route via 2001:db8:99::1\nnsenter --net=\/run\/netns\/t1 -- ip -6 route replace default via 2001:db8:99::1 dev eth0/);
  });

  test('reference set, IPv6-only: both blackholes the daemon adds, and static IPAM with the IPv6 address', async () => {
    const cfg = resolveConfig(new Map([['--plugins', 'reference'], ['--cni-path', '/usr/lib/cni']]), {});
    const p = await cniConfigPlan(text('ipv6-only.json'), cfg, { netns: '/run/netns/t1' });
    expect(p.hostSteps.map((h) => h.argv.slice(-1)[0])).toEqual(['ecs-bridge', '169.254.169.254/32', 'fd00:ec2::254/128']);
    expect((p.add[0]!.stdin.ipam as { addresses: unknown }).addresses).toEqual([
      { address: '2001:db8:99::15/64', gateway: '2001:db8:99::1' },
      { address: '2001:db8:99::16/64', gateway: '2001:db8:99::1' },
    ]);
  });
});

describe('doctor: host IPv6', () => {
  const base = (hostIpv6?: () => Promise<string | undefined>): DoctorDeps => ({
    uid: 1000,
    exec: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    engine: { version: async () => ({ version: '20.10.24', apiVersion: '1.41' }), imageExists: async () => true },
    cni: { version: async () => ({ cniVersion: '1.0.0', supportedVersions: ['1.0.0'] }) },
    path: [],
    hostIpv6,
  });
  const cfg = resolveConfig(new Map(), {});

  test('enabled, off, and absent from the kernel; never a failure', async () => {
    expect(hostIpv6Check('0\n')).toEqual({ name: 'host IPv6', ok: true, detail: 'IPv6 enabled (net.ipv6.conf.all.disable_ipv6=0): dual-stack and IPv6-only tasks can run' });
    expect(hostIpv6Check('1\n')).toMatchObject({ ok: true, warn: true, detail: expect.stringContaining('net.ipv6.conf.all.disable_ipv6=1') });
    expect(hostIpv6Check(undefined)).toMatchObject({ ok: true, warn: true, detail: expect.stringContaining(`${HOST_IPV6_SYSCTL} does not exist`) });
  });

  test('runDoctor reads it through its dependency and prints the line', async () => {
    const r = await runDoctor(cfg, base(async () => '1\n'));
    expect(r.checks.find((c) => c.name === 'host IPv6')).toMatchObject({ warn: true });
    expect(formatReport(cfg, r)).toMatch(/^ {2}warn {2}host IPv6\s+IPv6 is off in the host namespace/m);
    expect((await runDoctor(cfg, base())).checks.some((c) => c.name === 'host IPv6')).toBe(false);
  });
});
