// task ENI + options -> the ordered CNI calls for one task (pure; one shape per plugin set). Where each
// field comes from upstream is in PLUGIN-CONFIGS.md beside this file.
import path from 'node:path';
import { Address4, Address6 } from 'ip-address';
import { ConfigError, ValidationError } from '../agent/errors.js';
import { eniKind, type EniKind, type EniSpec } from '../agent/model.js';
import type { CniCall, CniPlan, CniPlanOptions, HostStep, PluginSet } from './types.js';

/** libcni injects DefaultMinSupportedCNIVersion into every ECS plugin config. */
export const ECS_CNI_VERSION = '0.3.0';
/** The ECS agent's placeholder network name (libcni >= 0.8 refuses an empty one). */
export const ECS_NETWORK_NAME = 'network-name';
export const REFERENCE_CNI_VERSION = '1.0.0';
/** Also host-local's directory under dataDir: it must stay the same between ADD and DEL. */
export const REFERENCE_NETWORK_NAME = 'awsvpcd';
export const ENI_IFNAME = 'eth0';
export const BRIDGE_IFNAME = 'ecs-eth0';
/** TaskIAMRoleEndpoint: credentials and task metadata. */
export const CREDENTIALS_ROUTE = '169.254.170.2/32';
/** Instance metadata, blackholed in every task namespace unless blocking is off. */
export const IMDS_BLACKHOLE = '169.254.169.254/32';
/** Instance metadata over IPv6: the ENI plugins blackhole it too whenever blocking is on (as `dev lo`). */
export const IMDS_BLACKHOLE_V6 = 'fd00:ec2::254/128';
/** The agent's IPv6SubnetPrefixLength: the prefix of a dual-stack ENI's IPv6 addresses. */
const IPV6_PREFIX_LENGTH = 64;

interface EniAddressing {
  kind: EniKind;
  mac: string;
  /** "ip/prefix", primary IPv4 first, then the other IPv4 (the IPv4 gateway's prefix). */
  ipv4Cidrs: string[];
  /** "ip/prefix": /64 for a dual-stack ENI, the IPv6 gateway's prefix for an IPv6-only one (as the agent). */
  ipv6Cidrs: string[];
  /** Plain gateway IPs; gateway4 absent for an IPv6-only ENI, gateway6 where the ENI came without one. */
  gateway4?: string;
  gateway6?: string;
}

interface LocalSubnet {
  subnet: string;
  /** First usable address: ecs-ipam's default gateway and the bridge's address. */
  gateway: string;
  prefix: number;
}

export function buildPlan(set: PluginSet, eni: EniSpec, opts: CniPlanOptions): CniPlan {
  const addr = eniAddressing(eni);
  const local = localSubnet(opts.ipamSubnet);
  const extraRoutes = opts.additionalLocalRoutes.map((r, i) => checkCidr(r, `additionalLocalRoutes[${i}]`));
  const expect = (gateways: string[]) => ({
    eni: {
      ifName: ENI_IFNAME,
      mac: addr.mac,
      cidrs: [...addr.ipv4Cidrs, ...addr.ipv6Cidrs],
      gateways,
      imdsBlackholeByPlugin: set !== 'reference' && opts.blockImds,
    },
    bridge: { ifName: BRIDGE_IFNAME, subnet: local.subnet, route: CREDENTIALS_ROUTE },
  });
  switch (set) {
    case 'ecs': {
      // ecs-eni takes every gateway and adds a default route per family (contract cases eni-dualstack, eni-v6only).
      const gateways = allGateways(addr);
      return { ...ecsPlan('ecs', ecsEniConfig(eni, addr, gateways, opts), addr, extraRoutes, opts), ...expect(gateways), verifyEniAdd: false };
    }
    case 'vpc': {
      // The agent sends vpc-eni one gateway: the IPv4 one, or the IPv6 one for an IPv6-only ENI
      // (contract cases vpc-add-dualstack, vpc-add-v6only). A dual-stack ENI's IPv6 default route is then
      // the daemon's to add, after the ADD.
      const sent = addr.kind === 'ipv6-only' ? [addr.gateway6!] : [addr.gateway4!];
      const base = ecsPlan('vpc', vpcEniConfig(addr, sent, opts), addr, extraRoutes, opts);
      if (addr.kind === 'dual-stack' && addr.gateway6) base.hostSteps.push({ kind: 'default-route', gateway: addr.gateway6, dev: ENI_IFNAME });
      return { ...base, ...expect(sent), verifyEniAdd: true };
    }
    case 'reference':
      // host-device can only report what static IPAM was given; the namespace is read anyway at resume.
      return { ...referencePlan(eni, addr, local, extraRoutes, opts), ...expect(allGateways(addr)), verifyEniAdd: false };
    default: {
      const never: never = set;
      throw new ConfigError('plugins', `unknown plugin set ${String(never)}`);
    }
  }
}

type BasePlan = Omit<CniPlan, 'eni' | 'bridge' | 'verifyEniAdd'>;

/** A stand-in ENI for plan questions that do not depend on the ENI: which binaries a set runs, an orphan's DEL. */
export const PROBE_ENI: EniSpec = {
  attachmentArn: 'arn:aws:ecs:us-east-1:000000000000:attachment/probe',
  attachmentId: 'probe',
  ec2Id: 'eni-00000000',
  macAddress: '02:00:00:00:00:01',
  ipv4Addresses: [{ primary: true, privateAddress: '10.0.0.2' }],
  ipv6Addresses: [],
  subnetGatewayIpv4Address: '10.0.0.1/24',
  domainNameServers: [],
  domainName: [],
};

/**
 * Every plugin binary a set runs, IPAM plugins run by another plugin included, in the order they first run,
 * each with the CNI version the daemon sends it.
 */
export function pluginsOf(set: PluginSet, opts: CniPlanOptions): Map<string, string> {
  const plan = buildPlan(set, PROBE_ENI, opts);
  const out = new Map<string, string>();
  for (const c of [...plan.add, ...plan.del, ...(plan.ipamRelease ? [plan.ipamRelease] : [])]) {
    const v = String(c.config.cniVersion ?? '');
    if (!out.has(c.plugin)) out.set(c.plugin, v);
    const ipam = (c.config.ipam as { type?: unknown } | undefined)?.type;
    if (typeof ipam === 'string' && ipam !== '' && !out.has(ipam)) out.set(ipam, v);
  }
  return out;
}

/** The plugins' log directory: `log` beside the IPAM directory (under the state directory). */
export function pluginLogDir(opts: CniPlanOptions): string {
  return opts.pluginLogDir ?? path.posix.join(path.posix.dirname(opts.ipamDataDir), 'log');
}

/** ECS_CNI_LOGLEVEL and ECS_CNI_LOG_FILE for one of the amazon-ecs-cni-plugins (default file: /log/ecs-cni-<x>-plugin.log). */
function ecsLogEnv(opts: CniPlanOptions, which: 'eni' | 'bridge' | 'ipam'): Record<string, string> {
  return { ECS_CNI_LOGLEVEL: opts.pluginLogLevel, ECS_CNI_LOG_FILE: path.posix.join(pluginLogDir(opts), `ecs-cni-${which}-plugin.log`) };
}

function ecsPlan(
  set: 'ecs' | 'vpc',
  eniCall: CniCall,
  addr: EniAddressing,
  extraRoutes: string[],
  opts: CniPlanOptions,
): BasePlan {
  const ipamEnv = {
    ...ecsLogEnv(opts, 'bridge'),
    IPAM_DB_PATH: path.posix.join(opts.ipamDataDir, 'eni-ipam.db'),
  };
  const bridgeAdd: CniCall = {
    plugin: 'ecs-bridge',
    ifName: BRIDGE_IFNAME,
    role: 'bridge',
    env: { ...ipamEnv },
    config: sortedKeys({
      ...ecsHeader('ecs-bridge'),
      bridge: opts.bridgeName,
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: false,
      mtu: 0,
      hairpinMode: false,
      ipam: ecsIpamConfig(addr.mac, opts.ipamSubnet, extraRoutes),
    }),
  };
  // DEL without IPAM: the address is released separately (ipamRelease) once the task is stopped.
  const bridgeDel: CniCall = { ...clone(bridgeAdd), config: { ...clone(bridgeAdd.config), ipam: {} } };
  const ipamRelease: CniCall = {
    plugin: 'ecs-ipam',
    ifName: BRIDGE_IFNAME,
    role: 'ipam',
    env: { ...ipamEnv, ...ecsLogEnv(opts, 'ipam') },
    config: sortedKeys({
      ...ecsHeader('ecs-ipam'),
      ipam: ecsIpamConfig(addr.mac, opts.ipamSubnet, []),
    }),
  };
  return {
    set,
    add: [eniCall, bridgeAdd],
    del: [bridgeDel, clone(eniCall)],
    ipamRelease,
    hostSteps: [],
  };
}

function ecsHeader(type: string): Record<string, unknown> {
  return { cniVersion: ECS_CNI_VERSION, name: ECS_NETWORK_NAME, type };
}

function ecsIpamConfig(mac: string, subnet: string, extraRoutes: string[]): Record<string, unknown> {
  return {
    type: 'ecs-ipam',
    id: mac,
    'ipv4-subnet': subnet,
    'ipv4-routes': [{ dst: CREDENTIALS_ROUTE }, ...extraRoutes.map((dst) => ({ dst }))],
  };
}

function allGateways(addr: EniAddressing): string[] {
  return [addr.gateway4, addr.gateway6].filter((g): g is string => g !== undefined);
}

function ecsEniConfig(eni: EniSpec, addr: EniAddressing, gateways: string[], opts: CniPlanOptions): CniCall {
  return {
    plugin: 'ecs-eni',
    ifName: ENI_IFNAME,
    role: 'eni',
    env: ecsLogEnv(opts, 'eni'),
    config: sortedKeys({
      ...ecsHeader('ecs-eni'),
      eni: eni.ec2Id,
      mac: addr.mac,
      'ip-addresses': [...addr.ipv4Cidrs, ...addr.ipv6Cidrs],
      'gateway-ip-addresses': [...gateways],
      'block-instance-metadata': opts.blockImds,
    }),
  };
}

function vpcEniConfig(addr: EniAddressing, gateways: string[], opts: CniPlanOptions): CniCall {
  return {
    plugin: 'vpc-eni',
    ifName: ENI_IFNAME,
    role: 'eni',
    env: {
      VPC_CNI_LOG_LEVEL: opts.pluginLogLevel,
      VPC_CNI_LOG_FILE: path.posix.join(pluginLogDir(opts), 'vpc-eni.log'),
    },
    config: sortedKeys({
      ...ecsHeader('vpc-eni'),
      dns: {},
      eniName: '',
      eniMACAddress: addr.mac,
      eniIPAddresses: [...addr.ipv4Cidrs, ...addr.ipv6Cidrs],
      gatewayIPAddresses: [...gateways],
      useExistingNetwork: false,
      blockInstanceMetadata: opts.blockImds,
    }),
  };
}

/**
 * libcni (buildOneConfig -> InjectConf) re-marshals the config as a Go map after injecting name and
 * cniVersion, so the plugins get every object's keys sorted: sent the same, byte for byte.
 */
export function sortedKeys<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => sortedKeys(x)) as T;
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortedKeys((v as Record<string, unknown>)[k]);
  return out as T;
}

function referencePlan(
  eni: EniSpec,
  addr: EniAddressing,
  local: LocalSubnet,
  extraRoutes: string[],
  opts: CniPlanOptions,
): BasePlan {
  const header = { cniVersion: REFERENCE_CNI_VERSION, name: REFERENCE_NETWORK_NAME };
  const dns: Record<string, string[]> = {};
  if (eni.domainNameServers.length > 0) dns.nameservers = [...eni.domainNameServers];
  if (eni.domainName.length > 0) dns.search = [...eni.domainName];
  const hostDevice: CniCall = {
    plugin: 'host-device',
    ifName: ENI_IFNAME,
    role: 'eni',
    config: {
      ...header,
      type: 'host-device',
      hwaddr: addr.mac,
      ipam: {
        type: 'static',
        // Both families; an IPv6 address without the subnet's IPv6 gateway gets no gateway and no default route.
        addresses: [
          ...addr.ipv4Cidrs.map((address) => ({ address, gateway: addr.gateway4 })),
          ...addr.ipv6Cidrs.map((address) => (addr.gateway6 ? { address, gateway: addr.gateway6 } : { address })),
        ],
        routes: [
          ...(addr.gateway4 ? [{ dst: '0.0.0.0/0', gw: addr.gateway4 }] : []),
          ...(addr.gateway6 ? [{ dst: '::/0', gw: addr.gateway6 }] : []),
        ],
        dns,
      },
    },
  };
  const bridge: CniCall = {
    plugin: 'bridge',
    ifName: BRIDGE_IFNAME,
    role: 'bridge',
    config: {
      ...header,
      type: 'bridge',
      bridge: opts.bridgeName,
      // isGateway=false: the plugin then neither addresses the bridge nor turns on ip_forward;
      // the daemon puts the gateway address on the bridge instead (hostSteps).
      isGateway: false,
      isDefaultGateway: false,
      ipMasq: false,
      hairpinMode: false,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: local.subnet, gateway: local.gateway }]],
        routes: [{ dst: CREDENTIALS_ROUTE }, ...extraRoutes.map((dst) => ({ dst }))],
        dataDir: opts.ipamDataDir,
      },
    },
  };
  return {
    set: 'reference',
    add: [hostDevice, bridge],
    // DEL keeps the full IPAM config: bridge DEL runs host-local DEL, which frees the address.
    del: [clone(bridge), clone(hostDevice)],
    hostSteps: [
      { kind: 'bridge-address' as const, bridge: opts.bridgeName, cidr: `${local.gateway}/${local.prefix}` },
      ...(opts.blockImds ? imdsBlackholes(addr) : []),
    ],
  };
}

/**
 * The IMDS blackholes the daemon adds where a set's plugins do not: the IPv4 one always, the IPv6 one
 * (fd00:ec2::254, as the ENI plugins add it) where the task has IPv6 addresses. An IPv4-only task's
 * namespace may have IPv6 turned off (the engine's choice for a container without IPv6 networks), and
 * there no route can be added and no IPv6 packet leaves anyway.
 */
function imdsBlackholes(addr: EniAddressing): HostStep[] {
  const out: HostStep[] = [{ kind: 'imds-blackhole', dst: IMDS_BLACKHOLE }];
  if (addr.ipv6Cidrs.length > 0) out.push({ kind: 'imds-blackhole', dst: IMDS_BLACKHOLE_V6 });
  return out;
}

function eniAddressing(eni: EniSpec): EniAddressing {
  const kind = eniKind(eni);
  if (kind === 'ipv6-only' && eni.ipv6Addresses.length === 0) throw new ValidationError('eni.ipv4Addresses', 'at least one IPv4 or IPv6 address is required');
  let ipv4Cidrs: string[] = [];
  let gateway4: string | undefined;
  if (kind !== 'ipv6-only') {
    const gw = parse4(eni.subnetGatewayIpv4Address ?? '', 'eni.subnetGatewayIpv4Address', true);
    const v4 = eni.ipv4Addresses.map((a, i) => {
      const ip = parse4(a.privateAddress, `eni.ipv4Addresses[${i}].privateAddress`, false);
      return { primary: a.primary, cidr: `${ip.correctForm()}/${gw.subnetMask}` };
    });
    // Stable: primary first, the rest in the order ECS gave them.
    ipv4Cidrs = [...v4.filter((a) => a.primary), ...v4.filter((a) => !a.primary)].map((a) => a.cidr);
    gateway4 = gw.correctForm();
  }
  const gw6 = eni.subnetGatewayIpv6Address === undefined ? undefined : parse6(eni.subnetGatewayIpv6Address, 'eni.subnetGatewayIpv6Address', true);
  if (kind === 'ipv6-only' && !gw6) throw new ValidationError('eni.subnetGatewayIpv6Address', 'is required for an IPv6-only ENI');
  // The agent's GetIPAddressesWithPrefixLength: /64 when dual-stack, the IPv6 gateway's prefix when IPv6-only.
  const prefix6 = kind === 'ipv6-only' ? gw6!.subnetMask : IPV6_PREFIX_LENGTH;
  const ipv6Cidrs = eni.ipv6Addresses.map((a, i) => `${parse6(a.address, `eni.ipv6Addresses[${i}].address`, false).correctForm()}/${prefix6}`);
  const out: EniAddressing = { kind, mac: eni.macAddress.toLowerCase(), ipv4Cidrs, ipv6Cidrs };
  if (gateway4 !== undefined) out.gateway4 = gateway4;
  // An IPv4-only ENI has no use for an IPv6 gateway.
  if (gw6 && kind !== 'ipv4') out.gateway6 = gw6.correctForm();
  return out;
}

function localSubnet(subnet: string): LocalSubnet {
  const name = 'ipamSubnet';
  if (!subnet.includes('/') || !Address4.isValid(subnet)) throw new ConfigError(name, `not an IPv4 CIDR: ${JSON.stringify(subnet)}`);
  const net = new Address4(subnet);
  if (net.correctForm() !== net.startAddress().correctForm()) {
    throw new ConfigError(name, `${subnet} has host bits set; use ${net.startAddress().correctForm()}/${net.subnetMask}`);
  }
  if (net.subnetMask > 30) throw new ConfigError(name, `${subnet} is too small: a gateway and at least one task address are needed`);
  return { subnet, gateway: net.startAddressExclusive().correctForm(), prefix: net.subnetMask };
}

function parse4(value: string, field: string, withPrefix: boolean): Address4 {
  const hasPrefix = value.includes('/');
  if (hasPrefix !== withPrefix || !Address4.isValid(value)) {
    throw new ValidationError(field, `not an IPv4 address${withPrefix ? ' with prefix length' : ''}: ${JSON.stringify(value)}`);
  }
  return new Address4(value);
}

function parse6(value: string, field: string, withPrefix: boolean): Address6 {
  const hasPrefix = value.includes('/');
  if (hasPrefix !== withPrefix || value.includes('%') || !Address6.isValid(value)) {
    throw new ValidationError(field, `not an IPv6 address${withPrefix ? ' with prefix length' : ''}: ${JSON.stringify(value)}`);
  }
  return new Address6(value);
}

function checkCidr(value: string, field: string): string {
  const ok = value.includes('/') && (Address4.isValid(value) || Address6.isValid(value));
  if (!ok) throw new ConfigError(field, `not a CIDR: ${JSON.stringify(value)}`);
  return value;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
