// A task's networks in the shape of ECS task metadata v4 (pure). Key names and omitempty rules follow the
// agent's v4 response (ecs-agent/tmds/handlers/v4/state/response.go, tmds/handlers/response Network):
// every field but AttachmentIndex is left out when empty. SubnetGatewayIpv4Address is the raw value
// with its prefix ("10.0.0.1/24"); IPv4SubnetCIDRBlock is that gateway's network ("10.0.0.0/24").
// IPv6SubnetCIDRBlock is the IPv6 gateway's network, or the /64 of the first IPv6 address where a dual-stack
// ENI came without an IPv6 gateway (the prefix the agent gives its IPv6 addresses); SubnetGatewayIpv6Address
// is listed for IPv6-only ENIs only, as the agent does.
import { Address4, Address6 } from 'ip-address';
import { eniKind, type EniSpec, type TaskRecord } from '../model.js';

export interface TaskNetworkV4 {
  NetworkMode: 'awsvpc';
  IPv4Addresses?: string[];
  IPv6Addresses?: string[];
  AttachmentIndex: number;
  MACAddress?: string;
  IPv4SubnetCIDRBlock?: string;
  IPv6SubnetCIDRBlock?: string;
  DomainNameServers?: string[];
  DomainNameSearchList?: string[];
  PrivateDNSName?: string;
  SubnetGatewayIpv4Address?: string;
  SubnetGatewayIpv6Address?: string;
}

export interface ContainerMetadataV4 {
  DockerId?: string;
  Name: string;
  DockerName?: string;
  Image: string;
  KnownStatus: string;
  Type: 'NORMAL';
  Ports?: Array<{ ContainerPort: number; Protocol: string; HostPort: number }>;
  Networks: TaskNetworkV4[];
}

export interface TaskMetadataV4 {
  TaskARN: string;
  Family?: string;
  Revision?: string;
  DesiredStatus: string;
  KnownStatus: string;
  Containers: ContainerMetadataV4[];
  /** awsvpcd's addition: the task's networks once, as every container shares them. */
  Networks: TaskNetworkV4[];
}

/** The network of a CIDR, e.g. "10.0.0.1/24" -> "10.0.0.0/24" or "2001:db8::1/64" -> "2001:db8::/64"; undefined if it is not one. */
export function networkOf(cidr: string | undefined): string | undefined {
  if (cidr === undefined || !cidr.includes('/')) return undefined;
  const a = Address4.isValid(cidr) ? new Address4(cidr) : Address6.isValid(cidr) && !cidr.includes('%') ? new Address6(cidr) : undefined;
  return a && `${a.startAddress().correctForm()}/${a.subnetMask}`;
}

export function networkMetadata(eni: EniSpec): TaskNetworkV4 {
  const v4 = [...eni.ipv4Addresses.filter((a) => a.primary), ...eni.ipv4Addresses.filter((a) => !a.primary)].map((a) => a.privateAddress);
  const n: TaskNetworkV4 = { NetworkMode: 'awsvpc', AttachmentIndex: 0 };
  if (v4.length) n.IPv4Addresses = v4;
  if (eni.ipv6Addresses.length) n.IPv6Addresses = eni.ipv6Addresses.map((a) => a.address);
  if (eni.macAddress) n.MACAddress = eni.macAddress;
  const block = networkOf(eni.subnetGatewayIpv4Address);
  if (block) n.IPv4SubnetCIDRBlock = block;
  const first6 = eni.ipv6Addresses[0]?.address;
  const block6 = networkOf(eni.subnetGatewayIpv6Address ?? (first6 && `${first6}/64`));
  if (block6) n.IPv6SubnetCIDRBlock = block6;
  if (eni.domainNameServers.length) n.DomainNameServers = [...eni.domainNameServers];
  if (eni.domainName.length) n.DomainNameSearchList = [...eni.domainName];
  if (eni.privateDnsName) n.PrivateDNSName = eni.privateDnsName;
  if (eni.subnetGatewayIpv4Address) n.SubnetGatewayIpv4Address = eni.subnetGatewayIpv4Address;
  if (eni.subnetGatewayIpv6Address && eniKind(eni) === 'ipv6-only') n.SubnetGatewayIpv6Address = eni.subnetGatewayIpv6Address;
  return n;
}

export function taskMetadata(rec: TaskRecord): TaskMetadataV4 {
  const net = networkMetadata(rec.spec.eni);
  const out: TaskMetadataV4 = {
    TaskARN: rec.spec.taskArn,
    DesiredStatus: rec.desiredStatus,
    KnownStatus: rec.lastStatus,
    Containers: rec.spec.containers.map((c) => {
      const st = rec.containers.find((s) => s.name === c.name);
      const m: ContainerMetadataV4 = {
        Name: c.name,
        Image: c.image,
        KnownStatus: st?.lastStatus ?? 'PENDING',
        Type: 'NORMAL',
        Networks: [structuredClone(net)],
      };
      if (st?.runtimeId) m.DockerId = st.runtimeId;
      if (st?.runtimeName) m.DockerName = st.runtimeName;
      // awsvpc: the host port is the container port (the agent's metadata does the same).
      if (c.portMappings.length) m.Ports = c.portMappings.map((p) => ({ ContainerPort: p.containerPort, Protocol: p.protocol, HostPort: p.containerPort }));
      return m;
    }),
    Networks: [net],
  };
  if (rec.spec.family !== undefined) out.Family = rec.spec.family;
  if (rec.spec.revision !== undefined) out.Revision = String(rec.spec.revision);
  return out;
}
