// The elastic network interface rules: the attachment and EC2 ids, the MAC, the subnet gateways, the
// IPv4 and IPv6 addresses (inside the subnet, no duplicates, one primary IPv4) and the DNS settings.
// An ENI is IPv4-only, dual-stack or IPv6-only (no IPv4 addresses), with the ECS agent's gateway rules
// (ValidateENI): an ENI with IPv4 addresses needs the IPv4 gateway, an IPv6-only one the IPv6 gateway.
// Every IPv6 value is parsed with Address6 and kept in its canonical form (lowercase, compressed), so
// comparisons and what is stored do not depend on how the document spelled it.

import { Address4, Address6 } from 'ip-address';
import type { EniSpec, Ipv4AddressSpec, Ipv6AddressSpec } from '../../model.js';
import type { ValidateOptions } from './options.js';
import { ATTACHMENT_ID_RE, ENI_ID_RE, checkRegionAccount, dnsNameProblem, normalizeMac } from './patterns.js';
import { asArray, asBoolean, asObject, asString, child, fail, get, reportUnknown, required, show } from './readers.js';

const ENI_FIELDS = [
  'attachmentArn', 'ec2Id', 'macAddress', 'ipv4Addresses', 'ipv6Addresses', 'subnetGatewayIpv4Address',
  'subnetGatewayIpv6Address', 'domainNameServers', 'domainName', 'privateDnsName',
] as const;

export function eniSpec(v: unknown, path: string, opts: ValidateOptions): EniSpec {
  const o = asObject(v, path);
  reportUnknown(o, path, ENI_FIELDS, opts);
  const at = (key: string): string => child(path, key);

  const attachmentArn = asString(required(o, 'attachmentArn', path), at('attachmentArn'));
  const attachmentId = attachmentIdOf(attachmentArn, at('attachmentArn'));

  const ec2Id = asString(required(o, 'ec2Id', path), at('ec2Id'));
  if (!ENI_ID_RE.test(ec2Id)) {
    fail(at('ec2Id'), `must be 'eni-' followed by 8 or 17 lowercase hex digits (got ${show(ec2Id)})`);
  }

  const macIn = asString(required(o, 'macAddress', path), at('macAddress'));
  const macAddress = normalizeMac(macIn);
  if (macAddress === undefined) {
    fail(at('macAddress'), `must be a MAC address such as 0a:58:a9:fe:ac:10 (got ${show(macIn)})`);
  }
  if (macAddress === '00:00:00:00:00:00') fail(at('macAddress'), 'must not be the all-zero MAC address');
  if (parseInt(macAddress.slice(0, 2), 16) & 1) {
    fail(at('macAddress'), `must be a unicast MAC address (${macAddress} is multicast)`);
  }

  const gateway6Path = at('subnetGatewayIpv6Address');
  const gateway6In = get(o, 'subnetGatewayIpv6Address');
  const gateway6 = gateway6In === undefined ? undefined : gateway6WithPrefix(asString(gateway6In, gateway6Path), gateway6Path);
  const ipv6In = get(o, 'ipv6Addresses');
  const ipv6Addresses = ipv6In === undefined ? [] : ipv6List(ipv6In, at('ipv6Addresses'), gateway6, gateway6Path, opts);

  // IPv6-only: no IPv4 address at all (the field absent or empty) but IPv6 ones.
  const ipv4In = get(o, 'ipv4Addresses');
  const ipv6Only = ipv6Addresses.length > 0 && (ipv4In === undefined || (Array.isArray(ipv4In) && ipv4In.length === 0));
  const gatewayPath = at('subnetGatewayIpv4Address');
  let gateway: Address4 | undefined;
  let ipv4Addresses: Ipv4AddressSpec[] = [];
  if (ipv6Only) {
    if (gateway6 === undefined) {
      fail(gateway6Path, 'is required for an IPv6-only ENI (one with ipv6Addresses and no ipv4Addresses), like 2001:db8:1::1/64');
    }
    const g4 = get(o, 'subnetGatewayIpv4Address');
    if (g4 !== undefined && asString(g4, gatewayPath) !== '') {
      fail(gatewayPath, `must be absent or empty for an IPv6-only ENI, which has no ipv4Addresses (got ${show(g4 as string)})`);
    }
  } else {
    const gatewayIn = asString(required(o, 'subnetGatewayIpv4Address', path), gatewayPath);
    gateway = gatewayWithPrefix(gatewayIn, gatewayPath);
    ipv4Addresses = ipv4List(required(o, 'ipv4Addresses', path), at('ipv4Addresses'), gateway, gatewayPath, opts);
  }

  const dnsIn = get(o, 'domainNameServers');
  const domainNameServers: string[] = [];
  if (dnsIn !== undefined) {
    const list = asArray(dnsIn, at('domainNameServers'));
    if (list.length > 3) {
      fail(at('domainNameServers'), `at most 3 name servers are allowed, as in resolv.conf (got ${list.length})`);
    }
    list.forEach((e, i) => {
      const p = `${at('domainNameServers')}[${i}]`;
      const s = asString(e, p);
      const addr = plainIp(s);
      if (addr === undefined) fail(p, `must be an IPv4 or IPv6 address (got ${show(s)})`);
      domainNameServers.push(addr);
    });
  }

  const domainIn = get(o, 'domainName');
  const domainName: string[] = [];
  if (domainIn !== undefined) {
    const list = asArray(domainIn, at('domainName'));
    if (list.length > 6) fail(at('domainName'), `at most 6 search domains are allowed (got ${list.length})`);
    list.forEach((e, i) => {
      const p = `${at('domainName')}[${i}]`;
      const s = asString(e, p);
      const problem = dnsNameProblem(s);
      if (problem) fail(p, problem);
      domainName.push(s);
    });
  }

  const eni: EniSpec = {
    attachmentArn,
    attachmentId,
    ec2Id,
    macAddress,
    ipv4Addresses,
    ipv6Addresses,
    // In this order, so an IPv4-only ENI serializes (and hashes) as it did before IPv6 gateways.
    ...(gateway ? { subnetGatewayIpv4Address: `${gateway.correctForm()}/${gateway.subnetMask}` } : {}),
    ...(gateway6 ? { subnetGatewayIpv6Address: `${gateway6.correctForm()}/${gateway6.subnetMask}` } : {}),
    domainNameServers,
    domainName,
  };
  const dnsNameIn = get(o, 'privateDnsName');
  if (dnsNameIn !== undefined) {
    const s = asString(dnsNameIn, at('privateDnsName'));
    const problem = dnsNameProblem(s);
    if (problem) fail(at('privateDnsName'), problem);
    eni.privateDnsName = s;
  }
  return eni;
}

function attachmentIdOf(arn: string, path: string): string {
  const m = /^arn:aws[a-z-]*:ecs:([^:]*):([^:]*):attachment\/(.*)$/s.exec(arn);
  if (!m) {
    fail(path, `must be an ECS attachment ARN like arn:aws:ecs:<region>:<account>:attachment/<id> (got ${show(arn)})`);
  }
  const [, region = '', account = '', id = ''] = m;
  checkRegionAccount(region, account, path);
  if (!ATTACHMENT_ID_RE.test(id)) fail(path, `attachment id ${show(id)} must be 1-64 letters, digits or '-'`);
  return id;
}

/** A plain address (no prefix, no zone) in its correct form, or undefined. */
function plainIp(s: string): string | undefined {
  if (s.includes('/') || s.includes('%')) return undefined;
  if (Address4.isValid(s)) return new Address4(s).correctForm();
  if (Address6.isValid(s)) return new Address6(s).correctForm();
  return undefined;
}

function gatewayWithPrefix(s: string, path: string): Address4 {
  const shape = `must be the subnet gateway's IPv4 address with the subnet's prefix length, like 10.0.1.1/24 (got ${show(s)})`;
  const parts = s.split('/');
  if (parts.length !== 2 || !/^[0-9]{1,9}$/.test(parts[1]!)) fail(path, shape);
  if (!/^(?:[1-9]|[12][0-9]|3[0-2])$/.test(parts[1]!)) fail(path, `prefix length must be from 1 to 32 (got ${show(parts[1]!)})`);
  if (!Address4.isValid(s)) fail(path, shape);
  const gw = new Address4(s);
  if (gw.subnetMask <= 30) {
    // /31 and /32 have no network or broadcast address (RFC 3021).
    const net = `${gw.startAddress().correctForm()}/${gw.subnetMask}`;
    if (gw.correctForm() === gw.startAddress().correctForm()) {
      fail(path, `gateway ${gw.correctForm()} is the network address of ${net}`);
    }
    if (gw.correctForm() === gw.endAddress().correctForm()) {
      fail(path, `gateway ${gw.correctForm()} is the broadcast address of ${net}`);
    }
  }
  return gw;
}

function ipv4List(
  v: unknown,
  path: string,
  gateway: Address4,
  gatewayPath: string,
  opts: ValidateOptions,
): Ipv4AddressSpec[] {
  const list = asArray(v, path);
  if (list.length === 0) fail(path, 'at least one IPv4 address is required');
  const net = `${gateway.startAddress().correctForm()}/${gateway.subnetMask}`;
  const seen = new Map<string, number>();
  const out = list.map((e, i): Ipv4AddressSpec => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    reportUnknown(o, p, ['primary', 'privateAddress'], opts);
    const primaryIn = get(o, 'primary');
    const primary = primaryIn === undefined ? false : asBoolean(primaryIn, `${p}.primary`);
    const ap = `${p}.privateAddress`;
    const s = asString(required(o, 'privateAddress', p), ap);
    if (s.includes('/') || !Address4.isValid(s)) fail(ap, `must be a dotted IPv4 address without a prefix (got ${show(s)})`);
    const addr = new Address4(s);
    const a = addr.correctForm();
    if (!addr.isInSubnet(gateway)) fail(ap, `${a} is outside the subnet ${net} given by ${gatewayPath}`);
    if (a === gateway.correctForm()) fail(ap, `${a} is the subnet's gateway, not an address for the task`);
    if (gateway.subnetMask <= 30) {
      if (a === gateway.startAddress().correctForm()) fail(ap, `${a} is the network address of ${net}`);
      if (a === gateway.endAddress().correctForm()) fail(ap, `${a} is the broadcast address of ${net}`);
    }
    const before = seen.get(a);
    if (before !== undefined) fail(ap, `${a} is listed twice (also ${path}[${before}])`);
    seen.set(a, i);
    return { primary, privateAddress: a };
  });
  const primaries = out.filter((a) => a.primary).length;
  if (primaries !== 1) fail(path, `exactly one address must be marked primary (got ${primaries})`);
  return out;
}

/** An IPv6 value as the document gave it: checked and parsed, zone ids and prefixes refused. */
function plainIpv6(s: string, path: string): Address6 {
  if (s.includes('%')) fail(path, `must be an IPv6 address without a zone id (got ${show(s)})`);
  if (s.includes('/') || !Address6.isValid(s)) fail(path, `must be an IPv6 address without a prefix or zone (got ${show(s)})`);
  return new Address6(s);
}

/** A unicast address that can belong to a VPC subnet: not unspecified, loopback, multicast or link-local. */
function unicastProblem(a: Address6): string | undefined {
  const f = a.correctForm();
  if (f === '::' || f === '::1' || a.isMulticast()) return `must be a unicast address (got ${f})`;
  if (a.isLinkLocal()) return `${f} is link-local; a subnet address is needed`;
  // By value, not by spelling: is4() only says the address was written with a dotted IPv4 tail.
  if (a.isMapped4()) return `${f} is an IPv4-mapped address; list IPv4 addresses in ipv4Addresses`;
  return undefined;
}

function gateway6WithPrefix(s: string, path: string): Address6 {
  const shape = `must be the subnet gateway's IPv6 address with the subnet's prefix length, like 2001:db8:1::1/64 (got ${show(s)})`;
  if (s.includes('%')) fail(path, `must be an IPv6 address with a prefix length and without a zone id (got ${show(s)})`);
  const parts = s.split('/');
  if (parts.length !== 2 || !/^[0-9]{1,9}$/.test(parts[1]!)) fail(path, shape);
  if (!/^(?:[1-9]|[1-9][0-9]|1[01][0-9]|12[0-7])$/.test(parts[1]!)) fail(path, `prefix length must be from 1 to 127 (got ${show(parts[1]!)})`);
  if (!Address6.isValid(s)) fail(path, shape);
  const gw = new Address6(s);
  const problem = unicastProblem(gw);
  if (problem) fail(path, problem);
  return gw;
}

function ipv6List(
  v: unknown,
  path: string,
  gateway: Address6 | undefined,
  gatewayPath: string,
  opts: ValidateOptions,
): Ipv6AddressSpec[] {
  const seen = new Map<string, number>();
  const net = gateway && `${gateway.startAddress().correctForm()}/${gateway.subnetMask}`;
  return asArray(v, path).map((e, i): Ipv6AddressSpec => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    reportUnknown(o, p, ['address', 'primary'], opts);
    const ap = `${p}.address`;
    const addr = plainIpv6(asString(required(o, 'address', p), ap), ap);
    const a = addr.correctForm();
    const problem = unicastProblem(addr);
    if (problem) fail(ap, problem);
    if (gateway) {
      if (!addr.isInSubnet(gateway)) fail(ap, `${a} is outside the subnet ${net} given by ${gatewayPath}`);
      if (a === gateway.correctForm()) fail(ap, `${a} is the subnet's IPv6 gateway, not an address for the task`);
    }
    const before = seen.get(a);
    if (before !== undefined) fail(ap, `${a} is listed twice (also ${path}[${before}])`);
    seen.set(a, i);
    const spec: Ipv6AddressSpec = { address: a };
    const primaryIn = get(o, 'primary');
    if (primaryIn !== undefined) spec.primary = asBoolean(primaryIn, `${p}.primary`);
    return spec;
  });
}
