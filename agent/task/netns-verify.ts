// Does a task namespace hold what a CNI step should have left there? Pure checks over what `ip -j` read,
// used where a plugin's word is not enough: an ADD that exits 0 without doing its work (vpc-eni), and a
// setup interrupted by a crash, which is carried forward only when what it did can be seen.
import { Address4, Address6 } from 'ip-address';
import type { BridgeExpectation, EniExpectation } from '../../cni/types.js';
import type { NetnsDetail, NetnsSnapshot } from '../eni/netns.js';
import type { EniSpec } from '../model.js';

const IMDS_V4 = '169.254.169.254/32';
const IMDS_V6 = 'fd00:ec2::254/128';

/** undefined when the ENI is in place; otherwise what is missing, in words. */
export function checkEni(ns: NetnsDetail, want: EniExpectation): string | undefined {
  const link = ns.links.find((l) => l.name === want.ifName);
  if (!link) {
    const byMac = ns.links.find((l) => l.mac === want.mac);
    return byMac ? `the ENI is in the namespace as ${byMac.name}, not ${want.ifName}` : `no ${want.ifName} in the namespace`;
  }
  if (link.mac !== want.mac) return `${want.ifName} has MAC ${link.mac}, not the ENI's ${want.mac}`;
  if (!link.up) return `${want.ifName} is down`;
  const have = new Set(link.addrs.map(normalCidr));
  const missing = want.cidrs.filter((c) => !have.has(normalCidr(c)));
  if (missing.length) return `${want.ifName} lacks ${missing.join(', ')}`;
  for (const gateway of want.gateways) {
    const gw = normalIp(gateway);
    const def = ns.routes.find((r) => r.dst === 'default' && r.gateway !== undefined && normalIp(r.gateway) === gw);
    if (!def) return `no default route via ${gateway}`;
  }
  if (want.imdsBlackholeByPlugin) {
    // Both ENI plugins add both, whatever the ENI's families (contract: eni-v6only, vpc-add-v6only). The
    // IPv6 one is required only where the task has IPv6: the engine turns IPv6 off in an IPv4-only task's
    // namespace (network mode none), and there it cannot be added and nothing could reach it.
    const wanted = want.cidrs.some((c) => c.includes(':')) ? [IMDS_V4, IMDS_V6] : [IMDS_V4];
    for (const dst of wanted) {
      if (!ns.routes.some((r) => r.type === 'blackhole' && normalCidr(r.dst) === normalCidr(dst))) return `no blackhole route for ${dst.split('/')[0]}`;
    }
  }
  return undefined;
}

/** Every address the task's ENI should hold, both families, in canonical form (primary IPv4 first). */
export function taskAddresses(eni: EniSpec): string[] {
  const v4 = [...eni.ipv4Addresses.filter((a) => a.primary), ...eni.ipv4Addresses.filter((a) => !a.primary)].map((a) => normalIp(a.privateAddress));
  return [...v4, ...eni.ipv6Addresses.map((a) => normalIp(a.address))];
}

/** The task's addresses the namespace (a /proc snapshot) no longer holds; empty when all are there. */
export function missingAddresses(snap: NetnsSnapshot, eni: EniSpec): string[] {
  return taskAddresses(eni).filter((a) => !snap.addresses.has(a));
}

/**
 * Whether the task's IPv6 addresses are usable yet: an address in duplicate address detection (tentative)
 * cannot be bound or used as a source; one whose detection failed never can.
 */
export function ipv6Readiness(snap: NetnsSnapshot, eni: EniSpec): { missing: string[]; tentative: string[]; failed: string[] } {
  const want = eni.ipv6Addresses.map((a) => normalIp(a.address));
  return {
    missing: want.filter((a) => !snap.addresses.has(a)),
    failed: want.filter((a) => snap.dadFailed?.has(a)),
    tentative: want.filter((a) => snap.tentative?.has(a) && !snap.dadFailed?.has(a)),
  };
}

/** The task-local address of the bridge link, or what is missing. */
export function checkBridge(ns: NetnsDetail, want: BridgeExpectation): { address: string } | { missing: string } {
  const link = ns.links.find((l) => l.name === want.ifName);
  if (!link) return { missing: `no ${want.ifName} in the namespace` };
  if (!link.up) return { missing: `${want.ifName} is down` };
  const subnet = new Address4(want.subnet);
  const inSubnet = link.addrs.find((a) => Address4.isValid(a) && new Address4(a).isInSubnet(subnet) && new Address4(a).subnetMask === subnet.subnetMask);
  if (!inSubnet) return { missing: `${want.ifName} has no address in ${want.subnet}` };
  if (!ns.routes.some((r) => r.dst === want.route && r.dev === want.ifName)) return { missing: `no route to ${want.route} on ${want.ifName}` };
  return { address: inSubnet };
}

function normalIp(ip: string): string {
  return Address4.isValid(ip) ? new Address4(ip).correctForm() : Address6.isValid(ip) ? new Address6(ip).correctForm() : ip;
}

function normalCidr(cidr: string): string {
  const [ip, prefix] = cidr.split('/');
  return `${normalIp(ip!)}/${prefix}`;
}
