// Golden tests for dual-stack and IPv6-only ENIs, per plugin set: the ENI plugin's exact stdin (for the ecs
// and vpc sets, what the plugin contract recorded the ECS agent sending in the cases eni-dualstack,
// eni-v6only, vpc-add-dualstack and vpc-add-v6only), the daemon's own host steps where a set's plugins do
// not do something (the IPv6 default route for vpc-eni dual-stack, both IMDS blackholes for the reference
// set), and what the ENI step must leave in the namespace.
import { readFileSync } from 'node:fs';
import type { EniSpec } from '../../agent/model.js';
import { buildPlan } from '../../cni/plan.js';
import type { CniPlanOptions } from '../../cni/types.js';
import { contractPath } from '../support/plugin-contract.js';

const MD = readFileSync(contractPath(), 'utf8');
/** The stdin the contract's appendix (section 9) lists for a case, as recorded. */
function recordedStdin(name: string): string {
  const m = new RegExp(`^- \\*\\*${name}\\*\\*: .*stdin: \`(\\{.*\\})\`$`, 'm').exec(MD);
  if (!m) throw new Error(`the contract has no stdin for ${name}`);
  return m[1]!;
}

const OPTS: CniPlanOptions = {
  blockImds: true,
  ipamSubnet: '169.254.172.0/22',
  additionalLocalRoutes: [],
  ipamDataDir: '/var/lib/awsvpcd/ipam',
  bridgeName: 'ecs-bridge',
  pluginLogLevel: 'info',
};

// The contract's ENI (MAC, ec2 id, addresses) in each of its kinds.
const BASE: EniSpec = {
  attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a',
  attachmentId: '8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a',
  ec2Id: 'eni-0a1b2c3d4e5f60718',
  macAddress: '0a:99:00:00:aa:01',
  ipv4Addresses: [{ primary: true, privateAddress: '10.99.1.15' }],
  ipv6Addresses: [],
  subnetGatewayIpv4Address: '10.99.1.1/24',
  domainNameServers: [],
  domainName: [],
};
const DUAL: EniSpec = { ...BASE, ipv6Addresses: [{ address: '2001:db8:99::15' }], subnetGatewayIpv6Address: '2001:db8:99::1/64' };
const DUAL_NO_GW6: EniSpec = { ...BASE, ipv6Addresses: [{ address: '2001:db8:99::15' }] };
const { subnetGatewayIpv4Address: _gw4, ...NO_V4 } = DUAL;
const V6ONLY: EniSpec = { ...NO_V4, ipv4Addresses: [] };
/** An IPv6-only subnet with a /56 gateway: the address takes the gateway's prefix, not /64. */
const V6ONLY_56: EniSpec = { ...V6ONLY, subnetGatewayIpv6Address: '2001:db8:99::1/56' };

describe('ecs set: ecs-eni takes every gateway', () => {
  test('dual-stack: the config of contract case eni-dualstack (both addresses, both gateways)', () => {
    const plan = buildPlan('ecs', DUAL, OPTS);
    // The contract's harness named the network after the plugin; libcni injects the agent's "network-name".
    expect(plan.add[0]!.config).toEqual({ ...JSON.parse(recordedStdin('eni-dualstack')), name: 'network-name' });
    expect(plan.add[0]!.config).toEqual({
      'block-instance-metadata': true,
      cniVersion: '0.3.0',
      eni: 'eni-0a1b2c3d4e5f60718',
      'gateway-ip-addresses': ['10.99.1.1', '2001:db8:99::1'],
      'ip-addresses': ['10.99.1.15/24', '2001:db8:99::15/64'],
      mac: '0a:99:00:00:aa:01',
      name: 'network-name',
      type: 'ecs-eni',
    });
    expect(plan.hostSteps).toEqual([]);
    expect(plan.eni).toEqual({ ifName: 'eth0', mac: '0a:99:00:00:aa:01', cidrs: ['10.99.1.15/24', '2001:db8:99::15/64'], gateways: ['10.99.1.1', '2001:db8:99::1'], imdsBlackholeByPlugin: true });
  });

  test('IPv6-only: the config of contract case eni-v6only', () => {
    const plan = buildPlan('ecs', V6ONLY, OPTS);
    expect(plan.add[0]!.config).toEqual({ ...JSON.parse(recordedStdin('eni-v6only')), name: 'network-name' });
    expect(plan.add[0]!.config['ip-addresses']).toEqual(['2001:db8:99::15/64']);
    expect(plan.add[0]!.config['gateway-ip-addresses']).toEqual(['2001:db8:99::1']);
    expect(plan.hostSteps).toEqual([]);
    expect(plan.eni.gateways).toEqual(['2001:db8:99::1']);
  });

  test('dual-stack without an IPv6 gateway: the IPv4 gateway only, as the agent sends it', () => {
    const plan = buildPlan('ecs', DUAL_NO_GW6, OPTS);
    expect(plan.add[0]!.config['gateway-ip-addresses']).toEqual(['10.99.1.1']);
    expect(plan.add[0]!.config['ip-addresses']).toEqual(['10.99.1.15/24', '2001:db8:99::15/64']);
  });

  test('IPv6-only: the address takes the IPv6 gateway prefix (agent GetIPAddressesWithPrefixLength)', () => {
    expect(buildPlan('ecs', V6ONLY_56, OPTS).add[0]!.config['ip-addresses']).toEqual(['2001:db8:99::15/56']);
    // dual-stack keeps /64 whatever the gateway's prefix
    expect(buildPlan('ecs', { ...DUAL, subnetGatewayIpv6Address: '2001:db8:99::1/56' }, OPTS).add[0]!.config['ip-addresses']).toEqual(['10.99.1.15/24', '2001:db8:99::15/64']);
  });

  test('the bridge and IPAM configs do not change with the ENI kind (task-local IPv4 only, as the agent)', () => {
    const v4 = buildPlan('ecs', BASE, OPTS);
    for (const eni of [DUAL, V6ONLY]) {
      const p = buildPlan('ecs', eni, OPTS);
      expect(p.add[1]).toEqual(v4.add[1]);
      expect(p.ipamRelease).toEqual(v4.ipamRelease);
    }
  });
});

describe('vpc set: vpc-eni gets one gateway, the daemon adds the IPv6 default route where it must', () => {
  test('dual-stack: byte for byte the stdin of contract case vpc-add-dualstack (IPv4 gateway only) + the daemon IPv6 default route', () => {
    const plan = buildPlan('vpc', DUAL, OPTS);
    expect(JSON.stringify(plan.add[0]!.config)).toBe(recordedStdin('vpc-add-dualstack'));
    expect(plan.hostSteps).toEqual([{ kind: 'default-route', gateway: '2001:db8:99::1', dev: 'eth0' }]);
    // What vpc-eni itself must leave: the IPv4 default route only (the IPv6 one is the daemon's).
    expect(plan.eni.gateways).toEqual(['10.99.1.1']);
    expect(plan.eni.cidrs).toEqual(['10.99.1.15/24', '2001:db8:99::15/64']);
  });

  test('IPv6-only: byte for byte the stdin of contract case vpc-add-v6only; no daemon route', () => {
    const plan = buildPlan('vpc', V6ONLY, OPTS);
    expect(JSON.stringify(plan.add[0]!.config)).toBe(recordedStdin('vpc-add-v6only'));
    expect(plan.hostSteps).toEqual([]);
    expect(plan.eni.gateways).toEqual(['2001:db8:99::1']);
  });

  test('dual-stack without an IPv6 gateway: nothing for the daemon to add', () => {
    const plan = buildPlan('vpc', DUAL_NO_GW6, OPTS);
    expect(plan.add[0]!.config.gatewayIPAddresses).toEqual(['10.99.1.1']);
    expect(plan.hostSteps).toEqual([]);
  });

  test('DEL sends the ADD config unchanged', () => {
    const plan = buildPlan('vpc', DUAL, OPTS);
    expect(plan.del[1]!.config).toEqual(plan.add[0]!.config);
  });
});

describe('reference set: static IPAM with both families, the daemon adds both IMDS blackholes', () => {
  test('dual-stack', () => {
    const plan = buildPlan('reference', DUAL, OPTS);
    expect(plan.add[0]!.config.ipam).toEqual({
      type: 'static',
      addresses: [
        { address: '10.99.1.15/24', gateway: '10.99.1.1' },
        { address: '2001:db8:99::15/64', gateway: '2001:db8:99::1' },
      ],
      routes: [
        { dst: '0.0.0.0/0', gw: '10.99.1.1' },
        { dst: '::/0', gw: '2001:db8:99::1' },
      ],
      dns: {},
    });
    expect(plan.hostSteps).toEqual([
      { kind: 'bridge-address', bridge: 'ecs-bridge', cidr: '169.254.172.1/22' },
      { kind: 'imds-blackhole', dst: '169.254.169.254/32' },
      { kind: 'imds-blackhole', dst: 'fd00:ec2::254/128' },
    ]);
    expect(plan.eni.gateways).toEqual(['10.99.1.1', '2001:db8:99::1']);
    expect(plan.eni.imdsBlackholeByPlugin).toBe(false);
  });

  test('IPv6-only', () => {
    const plan = buildPlan('reference', V6ONLY, OPTS);
    expect(plan.add[0]!.config.ipam).toEqual({
      type: 'static',
      addresses: [{ address: '2001:db8:99::15/64', gateway: '2001:db8:99::1' }],
      routes: [{ dst: '::/0', gw: '2001:db8:99::1' }],
      dns: {},
    });
    expect(plan.hostSteps.filter((h) => h.kind === 'imds-blackhole')).toEqual([
      { kind: 'imds-blackhole', dst: '169.254.169.254/32' },
      { kind: 'imds-blackhole', dst: 'fd00:ec2::254/128' },
    ]);
    expect(plan.eni.gateways).toEqual(['2001:db8:99::1']);
  });

  test('dual-stack without an IPv6 gateway: the address without gateway, no IPv6 default route', () => {
    const plan = buildPlan('reference', DUAL_NO_GW6, OPTS);
    expect((plan.add[0]!.config.ipam as { addresses: unknown }).addresses).toEqual([
      { address: '10.99.1.15/24', gateway: '10.99.1.1' },
      { address: '2001:db8:99::15/64' },
    ]);
    expect((plan.add[0]!.config.ipam as { routes: unknown }).routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.99.1.1' }]);
  });

  test('IPv4-only: only the IPv4 blackhole (the namespace may have IPv6 turned off)', () => {
    expect(buildPlan('reference', BASE, OPTS).hostSteps.filter((h) => h.kind === 'imds-blackhole')).toEqual([{ kind: 'imds-blackhole', dst: '169.254.169.254/32' }]);
  });

  test('blocking off: no blackhole of either family', () => {
    expect(buildPlan('reference', DUAL, { ...OPTS, blockImds: false }).hostSteps.map((h) => h.kind)).toEqual(['bridge-address']);
  });
});
