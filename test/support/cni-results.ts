// CNI results as real plugins print them, shared by the parser tests (cni-result.test.ts) and the seeds
// of the parser fuzzing (cni-result-fuzz.test.ts). Treat them as read-only: clone before changing one.

/** 0.3.0, as ecs-bridge prints it: ecs-ipam IPs with a version, the bridge, host veth and container veth. */
export const BRIDGE_RESULT_030 = {
  cniVersion: '0.3.0',
  interfaces: [
    { name: 'ecs-bridge', mac: '0A:58:A9:FE:AC:01' },
    { name: 'veth1a2b3c', mac: '6e:1d:4c:00:11:22' },
    { name: 'ecs-eth0', mac: '0a:58:a9:fe:ac:02', sandbox: '/proc/4242/ns/net' },
  ],
  ips: [{ version: '4', interface: 2, address: '169.254.172.2/22', gateway: '169.254.172.1' }],
  routes: [{ dst: '169.254.170.2/32' }],
  dns: {},
};

/** 0.4.0 with IPv4 and IPv6 addresses, routes and a full dns section. */
export const DUAL_STACK_RESULT_040 = {
  cniVersion: '0.4.0',
  interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/t' }],
  ips: [
    { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 0 },
    { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }],
  dns: { nameservers: ['10.1.0.2', 'fd00::2'], domain: 'example.internal', search: ['a.internal'], options: ['ndots:2'] },
};

/** 1.0.0 (no ips[].version), as host-device 1.1.1 prints it, with the 1.1 extras mtu and priority. */
export const HOST_DEVICE_RESULT_100 = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:a9:fe:ac:10', sandbox: '/proc/4242/ns/net', mtu: 9001 }],
  ips: [{ address: '10.99.1.15/24', gateway: '10.99.1.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.99.1.1', priority: 5 }],
  dns: { nameservers: ['10.99.0.2'], search: ['ec2.internal'] },
};

/** 0.2.0: ip4/ip6 instead of ips and interfaces. */
export const LEGACY_RESULT_020 = {
  cniVersion: '0.2.0',
  ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
  ip6: { ip: 'fd00::5/64' },
  dns: { nameservers: ['10.1.0.2'] },
};
