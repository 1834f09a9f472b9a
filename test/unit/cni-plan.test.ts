// Golden tests: the exact stdin config of every CNI call, field by field, with where each field comes from.
// Sources are listed at the top of cni/plan.ts; "agent" = aws/amazon-ecs-agent, "plugins" =
// aws/amazon-ecs-cni-plugins, "vpccni" = aws/amazon-vpc-cni-plugins.
import { ConfigError, ValidationError } from '../../agent/errors.js';
import type { EniSpec } from '../../agent/model.js';
import { readFileSync } from 'node:fs';
import { buildPlan } from '../../cni/plan.js';
import { contractPath } from '../support/plugin-contract.js';
import type { CniPlanOptions } from '../../cni/types.js';

// The task-format.md example ENI, with a second (secondary) IPv4 address listed first, so the
// primary-first ordering is visible.
const ENI: EniSpec = {
  attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a',
  attachmentId: '8d0b8b6e-2c1f-4f5e-9a7d-3b2c1d0e9f8a',
  ec2Id: 'eni-0a1b2c3d4e5f60718',
  macAddress: '0a:58:a9:fe:ac:10',
  ipv4Addresses: [
    { primary: false, privateAddress: '10.99.1.16' },
    { primary: true, privateAddress: '10.99.1.15' },
  ],
  ipv6Addresses: [],
  subnetGatewayIpv4Address: '10.99.1.1/24',
  domainNameServers: ['10.99.0.2'],
  domainName: ['ec2.internal'],
  privateDnsName: 'ip-10-99-1-15.ec2.internal',
};

const OPTS: CniPlanOptions = {
  blockImds: false,
  ipamSubnet: '169.254.172.0/22',
  additionalLocalRoutes: [],
  ipamDataDir: '/var/lib/awsvpcd/ipam',
  bridgeName: 'ecs-bridge',
  pluginLogLevel: 'info',
};

const WITH_EXTRAS: CniPlanOptions = { ...OPTS, blockImds: true, additionalLocalRoutes: ['10.200.0.0/16', '192.0.2.10/32'] };

// Expected ecs-ipam object inside the ecs-bridge config (agent netconfig_linux.go newIPAMConfig).
function ecsIpam(extra: string[]) {
  return {
    type: 'ecs-ipam', // ECSIPAMPluginName
    id: '0a:58:a9:fe:ac:10', // cniConfig.ID = eni.MacAddress (task_linux.go BuildCNIConfigAwsvpc)
    'ipv4-subnet': '169.254.172.0/22', // ecsSubnet (ECS_AWSVPC task subnet)
    // TaskIAMRoleEndpoint first, then one route per ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES entry
    'ipv4-routes': [{ dst: '169.254.170.2/32' }, ...extra.map((dst) => ({ dst }))],
  };
}

// Expected ecs-bridge config (agent BridgeConfig: no omitempty on the bool/int fields).
function ecsBridge(ipam: Record<string, unknown>) {
  return {
    cniVersion: '0.3.0', // injected by libcni: cfg.MinSupportedCNIVersion (config_unix.go)
    name: 'network-name', // injected by libcni: defaultNetworkName (netconfig.go newNetworkConfig)
    type: 'ecs-bridge', // ECSBridgePluginName
    bridge: 'ecs-bridge', // defaultBridgeName / cfg.BridgeName; plugins ecs-bridge types.go `bridge` (required)
    isGateway: false, // zero value, sent
    isDefaultGateway: false,
    forceAddress: false,
    ipMasq: false,
    mtu: 0, // plugin reads `mtu`; 0 -> its default 1500
    hairpinMode: false,
    ipam,
  };
}

// ECS_CNI_LOG_FILE: the plugins' log under the state directory instead of their default /log/ecs-cni-*.log.
const ECS_ENV_BRIDGE = {
  ECS_CNI_LOGLEVEL: 'info',
  ECS_CNI_LOG_FILE: '/var/lib/awsvpcd/log/ecs-cni-bridge-plugin.log',
  IPAM_DB_PATH: '/var/lib/awsvpcd/ipam/eni-ipam.db',
};
const ECS_ENV_IPAM = { ...ECS_ENV_BRIDGE, ECS_CNI_LOG_FILE: '/var/lib/awsvpcd/log/ecs-cni-ipam-plugin.log' };

describe('ecs plugin set (ecs-eni, ecs-bridge, ecs-ipam)', () => {
  test('ADD: ecs-eni on eth0, then ecs-bridge on ecs-eth0, exact configs', () => {
    const plan = buildPlan('ecs', ENI, OPTS);
    expect(plan.set).toBe('ecs');
    expect(plan.add.map((c) => [c.plugin, c.ifName, c.role])).toEqual([
      ['ecs-eni', 'eth0', 'eni'],
      ['ecs-bridge', 'ecs-eth0', 'bridge'],
    ]);
    const [eniCall, bridgeCall] = plan.add;
    expect(eniCall!.config).toEqual({
      cniVersion: '0.3.0', // libcni injection (see above)
      name: 'network-name', // libcni injection
      type: 'ecs-eni', // ECSENIPluginName (agent types_linux.go)
      eni: 'eni-0a1b2c3d4e5f60718', // eni.ID; plugins eni/types.go `eni` (required)
      mac: '0a:58:a9:fe:ac:10', // eni.MacAddress; plugins `mac` (required, net.ParseMAC)
      // eni.GetIPAddressesWithPrefixLength(): "ip/<subnet prefix>"; plugins `ip-addresses` (net.ParseCIDR)
      'ip-addresses': ['10.99.1.15/24', '10.99.1.16/24'],
      // [eni.GetSubnetGatewayIPv4Address()]: the gateway without its prefix
      'gateway-ip-addresses': ['10.99.1.1'],
      'block-instance-metadata': false, // cfg.BlockInstanceMetadata (ECS_AWSVPC_BLOCK_IMDS)
    });
    expect(eniCall!.env).toEqual({ ECS_CNI_LOGLEVEL: 'info', ECS_CNI_LOG_FILE: '/var/lib/awsvpcd/log/ecs-cni-eni-plugin.log' }); // plugin_linux.go: os.Setenv("ECS_CNI_LOGLEVEL", ...)
    expect(bridgeCall!.config).toEqual(ecsBridge(ecsIpam([])));
    expect(bridgeCall!.env).toEqual(ECS_ENV_BRIDGE); // plugins ipam config.go EnvDBPath IPAM_DB_PATH
  });

  test('ADD with blockImds and additional local routes', () => {
    const plan = buildPlan('ecs', ENI, WITH_EXTRAS);
    expect(plan.add[0]!.config['block-instance-metadata']).toBe(true);
    expect(plan.add[1]!.config).toEqual(ecsBridge(ecsIpam(['10.200.0.0/16', '192.0.2.10/32'])));
    // The plugins add the blackhole route and address the bridge themselves: no host steps.
    expect(plan.hostSteps).toEqual([]);
  });

  test('DEL: reverse order; ecs-bridge with "ipam":{} (NewBridgeNetworkConfig(cfg, false)), ecs-eni unchanged', () => {
    const plan = buildPlan('ecs', ENI, WITH_EXTRAS);
    expect(plan.del.map((c) => [c.plugin, c.ifName])).toEqual([
      ['ecs-bridge', 'ecs-eth0'],
      ['ecs-eni', 'eth0'],
    ]);
    expect(plan.del[0]!.config).toEqual(ecsBridge({}));
    expect(plan.del[0]!.env).toEqual(ECS_ENV_BRIDGE);
    expect(plan.del[1]!.config).toEqual(plan.add[0]!.config);
  });

  test('ipamRelease: ecs-ipam DEL on ecs-eth0 with the agent release config (id = MAC)', () => {
    const plan = buildPlan('ecs', ENI, WITH_EXTRAS);
    expect(plan.ipamRelease).toEqual({
      plugin: 'ecs-ipam',
      ifName: 'ecs-eth0', // NewIPAMNetworkConfig returns defaultVethName
      role: 'ipam',
      env: ECS_ENV_IPAM, // ReleaseIPResource sets ECS_CNI_LOGLEVEL
      config: {
        cniVersion: '0.3.0',
        name: 'network-name', // IPAMNetworkConfig.Name "ecs-ipam" is overwritten by libcni's injection
        type: 'ecs-ipam',
        // releaseIPInIPAM builds its ecscni.Config without AdditionalLocalRoutes: only the 170.2 route
        ipam: ecsIpam([]),
      },
    });
  });

  test('the calls are independent copies (mutating one leaves the others alone)', () => {
    const plan = buildPlan('ecs', ENI, OPTS);
    (plan.add[0]!.config['ip-addresses'] as string[]).push('x');
    expect(plan.del[1]!.config['ip-addresses']).toEqual(['10.99.1.15/24', '10.99.1.16/24']);
  });

  test('IPv6 addresses follow the IPv4 ones with /64 (agent IPv6SubnetPrefixLength)', () => {
    const plan = buildPlan('ecs', { ...ENI, ipv6Addresses: [{ address: '2600:1f14:30ab:6902::10' }] }, OPTS);
    expect(plan.add[0]!.config['ip-addresses']).toEqual(['10.99.1.15/24', '10.99.1.16/24', '2600:1f14:30ab:6902::10/64']);
  });
});

describe('vpc plugin set (vpc-eni, ecs-bridge, ecs-ipam)', () => {
  test('ADD: vpc-eni on eth0 with the newer agent fields, then the same ecs-bridge', () => {
    const plan = buildPlan('vpc', ENI, OPTS);
    expect(plan.set).toBe('vpc');
    expect(plan.add.map((c) => [c.plugin, c.ifName, c.role])).toEqual([
      ['vpc-eni', 'eth0', 'eni'],
      ['ecs-bridge', 'ecs-eth0', 'bridge'],
    ]);
    expect(plan.add[0]!.config).toEqual({
      cniVersion: '0.3.0', // libcni injection
      name: 'network-name', // libcni injection
      type: 'vpc-eni', // VPCENIPluginName (agent ecscni/types.go)
      dns: {}, // VPCENIPluginConfig.DNS left empty: types.DNS fields are all omitempty
      eniName: '', // not set on Linux; vpccni finds the ENI by eniMACAddress
      eniMACAddress: '0a:58:a9:fe:ac:10', // vpccni vpc-eni/config/netconfig.go `eniMACAddress`
      eniIPAddresses: ['10.99.1.15/24', '10.99.1.16/24'], // "ip/prefix" (vpc.GetIPAddressFromString)
      gatewayIPAddresses: ['10.99.1.1'], // plain IPs (net.ParseIP)
      useExistingNetwork: false,
      blockInstanceMetadata: false, // `blockInstanceMetadata` (VPCENIPluginConfig.BlockIMDS)
    });
    expect(plan.add[0]!.env).toEqual({
      VPC_CNI_LOG_LEVEL: 'info', // plugin_linux.go init()
      VPC_CNI_LOG_FILE: '/var/lib/awsvpcd/log/vpc-eni.log', // default: beside the IPAM data dir
    });
    expect(plan.add[1]!.config).toEqual(ecsBridge(ecsIpam([])));
    expect(plan.add[1]!.env).toEqual(ECS_ENV_BRIDGE);
  });

  test('ADD with blockImds, additional routes and a configured log directory', () => {
    const plan = buildPlan('vpc', ENI, { ...WITH_EXTRAS, pluginLogDir: '/var/log/awsvpcd' });
    expect(plan.add[0]!.config.blockInstanceMetadata).toBe(true);
    expect(plan.add[0]!.env!.VPC_CNI_LOG_FILE).toBe('/var/log/awsvpcd/vpc-eni.log');
    expect(plan.add[1]!.config).toEqual(ecsBridge(ecsIpam(['10.200.0.0/16', '192.0.2.10/32'])));
    expect(plan.hostSteps).toEqual([]);
  });

  test('DEL and ipamRelease as in the ecs set, with vpc-eni last', () => {
    const plan = buildPlan('vpc', ENI, WITH_EXTRAS);
    expect(plan.del.map((c) => [c.plugin, c.ifName])).toEqual([
      ['ecs-bridge', 'ecs-eth0'],
      ['vpc-eni', 'eth0'],
    ]);
    expect(plan.del[0]!.config).toEqual(ecsBridge({}));
    expect(plan.del[1]!.config).toEqual(plan.add[0]!.config);
    expect(plan.ipamRelease!.config).toEqual({ cniVersion: '0.3.0', name: 'network-name', type: 'ecs-ipam', ipam: ecsIpam([]) });
    expect(plan.ipamRelease!.ifName).toBe('ecs-eth0');
  });
});

describe('reference plugin set (Debian containernetworking-plugins 1.1.1)', () => {
  const hostDevice = {
    cniVersion: '1.0.0', // v1.1.1 VERSION: 0.1.0 ... 1.0.0 (CHECK since 0.4.0)
    name: 'awsvpcd', // stable: host-local keeps its state under dataDir/<name>
    type: 'host-device',
    hwaddr: '0a:58:a9:fe:ac:10', // host-device finds the link by MAC
    ipam: {
      type: 'static',
      addresses: [
        { address: '10.99.1.15/24', gateway: '10.99.1.1' }, // primary first
        { address: '10.99.1.16/24', gateway: '10.99.1.1' },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.99.1.1' }],
      dns: { nameservers: ['10.99.0.2'], search: ['ec2.internal'] },
    },
  };
  const bridge = (routes: string[]) => ({
    cniVersion: '1.0.0',
    name: 'awsvpcd',
    type: 'bridge',
    bridge: 'ecs-bridge',
    isGateway: false,
    isDefaultGateway: false,
    ipMasq: false,
    hairpinMode: false,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '169.254.172.0/22', gateway: '169.254.172.1' }]],
      routes: [{ dst: '169.254.170.2/32' }, ...routes.map((dst) => ({ dst }))],
      dataDir: '/var/lib/awsvpcd/ipam',
    },
  });

  test('ADD: host-device on eth0, then bridge on ecs-eth0; no env', () => {
    const plan = buildPlan('reference', ENI, OPTS);
    expect(plan.add.map((c) => [c.plugin, c.ifName, c.role])).toEqual([
      ['host-device', 'eth0', 'eni'],
      ['bridge', 'ecs-eth0', 'bridge'],
    ]);
    expect(plan.add[0]!.config).toEqual(hostDevice);
    expect(plan.add[1]!.config).toEqual(bridge([]));
    expect(plan.add.every((c) => c.env === undefined)).toBe(true);
    // The daemon's own host steps: the gateway address on the bridge, no IMDS blackhole (blocking is off).
    expect(plan.hostSteps).toEqual([{ kind: 'bridge-address', bridge: 'ecs-bridge', cidr: '169.254.172.1/22' }]);
  });

  test('blockImds: the daemon adds the blackhole; additional routes go to host-local', () => {
    const plan = buildPlan('reference', ENI, WITH_EXTRAS);
    expect(plan.hostSteps).toContainEqual({ kind: 'imds-blackhole', dst: '169.254.169.254/32' });
    expect(plan.add[1]!.config).toEqual(bridge(['10.200.0.0/16', '192.0.2.10/32']));
  });

  test('DEL: bridge (full IPAM, so host-local frees the address) then host-device; no ipamRelease', () => {
    const plan = buildPlan('reference', ENI, WITH_EXTRAS);
    expect(plan.del.map((c) => [c.plugin, c.ifName])).toEqual([
      ['bridge', 'ecs-eth0'],
      ['host-device', 'eth0'],
    ]);
    expect(plan.del[0]!.config).toEqual(bridge(['10.200.0.0/16', '192.0.2.10/32']));
    expect(plan.del[1]!.config).toEqual(hostDevice);
    expect(plan.ipamRelease).toBeUndefined();
  });

  test('an ENI without DNS gets an empty dns object', () => {
    const plan = buildPlan('reference', { ...ENI, domainNameServers: [], domainName: [] }, OPTS);
    expect((plan.add[0]!.config.ipam as Record<string, unknown>).dns).toEqual({});
  });

  test('the bridge address host step follows the configured subnet', () => {
    expect(buildPlan('reference', ENI, { ...OPTS, ipamSubnet: '10.254.0.0/24' }).hostSteps).toContainEqual({ kind: 'bridge-address', bridge: 'ecs-bridge', cidr: '10.254.0.1/24' });
  });
});

describe('bad input', () => {
  test('options: subnet with host bits, too small, not a CIDR; bad extra route', () => {
    expect(() => buildPlan('ecs', ENI, { ...OPTS, ipamSubnet: '169.254.172.5/22' })).toThrow(ConfigError);
    expect(() => buildPlan('ecs', ENI, { ...OPTS, ipamSubnet: '169.254.172.0/31' })).toThrow(ConfigError);
    expect(() => buildPlan('ecs', ENI, { ...OPTS, ipamSubnet: '169.254.172.0' })).toThrow(ConfigError);
    expect(() => buildPlan('ecs', ENI, { ...OPTS, additionalLocalRoutes: ['10.0.0.1'] })).toThrow(ConfigError);
  });

  test('ENI: gateway without prefix, bad address, no IPv4 address', () => {
    expect(() => buildPlan('ecs', { ...ENI, subnetGatewayIpv4Address: '10.99.1.1' }, OPTS)).toThrow(ValidationError);
    expect(() => buildPlan('vpc', { ...ENI, ipv4Addresses: [{ primary: true, privateAddress: '10.99.1.300' }] }, OPTS)).toThrow(ValidationError);
    expect(() => buildPlan('reference', { ...ENI, ipv4Addresses: [] }, OPTS)).toThrow(ValidationError);
  });
});

describe('the bytes on stdin: what the plugin contract recorded the ECS agent sending', () => {
  // libcni re-marshals each config as a Go map, so keys arrive sorted; the contract recorded those bytes.
  const md = readFileSync(contractPath(), 'utf8');
  const CONTRACT_ENI: EniSpec = {
    ...ENI,
    macAddress: '0a:99:00:00:aa:01',
    ipv4Addresses: [{ primary: true, privateAddress: '10.99.1.15' }],
    ipv6Addresses: [],
    subnetGatewayIpv4Address: '10.99.1.1/24',
  };

  test('vpc-eni ADD: the base vpc-eni config of the contract, byte for byte', () => {
    const recorded = /^\* vpc-eni: `(\{.*\})`\. This is byte-for-byte what the current agent produces/m.exec(md)?.[1];
    expect(recorded).toBeDefined();
    const plan = buildPlan('vpc', CONTRACT_ENI, { ...OPTS, blockImds: true });
    expect(JSON.stringify(plan.add[0]!.config)).toBe(recorded);
  });

  test('ecs-bridge ADD and DEL: agent-br-add with its bridge name; DEL sends "ipam":{} as the agent does', () => {
    const recorded = /^- \*\*agent-br-add\*\*: .*stdin: `(\{.*\})`$/m.exec(md)?.[1];
    expect(recorded).toBeDefined();
    const plan = buildPlan('ecs', CONTRACT_ENI, { ...OPTS, bridgeName: 'capbr0' });
    expect(JSON.stringify(plan.add[1]!.config)).toBe(recorded);
    // The contract's harness sent the full ipam on DEL (agent-br-del); the agent sends "ipam":{} and
    // releases the address with a separate ecs-ipam DEL, which the daemon always runs.
    expect(JSON.stringify(plan.del[0]!.config)).toBe(JSON.stringify({ ...JSON.parse(recorded!), ipam: {} }));
    expect(plan.ipamRelease!.plugin).toBe('ecs-ipam');
  });

  test('every ECS/vpc config has its keys sorted at every level', () => {
    for (const set of ['ecs', 'vpc'] as const) {
      const plan = buildPlan(set, ENI, WITH_EXTRAS);
      for (const c of [...plan.add, ...plan.del, plan.ipamRelease!]) {
        const walk = (v: unknown): void => {
          if (Array.isArray(v)) return v.forEach(walk);
          if (typeof v !== 'object' || v === null) return;
          const keys = Object.keys(v);
          expect(keys).toEqual([...keys].sort());
          Object.values(v).forEach(walk);
        };
        walk(c.config);
      }
    }
  });
});
