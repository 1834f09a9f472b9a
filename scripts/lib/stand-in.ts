// Stand-in ENIs (scripts/stand-in-eni): a "VPC subnet" namespace with a bridge holding the gateway, and
// veth pairs whose host end carries an ENI's MAC, left down and without an address, as EC2 attaches one.
import path from 'node:path';
import { REPO } from './repo.js';
import { run } from './run.js';

export const STAND_IN = path.join(REPO, 'scripts/stand-in-eni');

/** A stand-in ENI as a task document names it. */
export interface Eni {
  /** The host end's name. */
  dev: string;
  mac: string;
  ip: string;
  /** Gateway with the subnet prefix, as ECS gives it ("" for an IPv6-only ENI, with `ip` "" too). */
  gateway: string;
  /** The ENI's IPv6 address (dual-stack, or IPv6-only when `ip` is ""), from 2001:db8::/32. */
  ip6?: string;
  /** The subnet's IPv6 gateway with its prefix, as ECS gives it (subnetGatewayIpv6Address). */
  gateway6?: string;
}

/** The VPC namespace's IPv6 side: gateway (with prefix) and peer, both in 2001:db8::/32. */
export interface Vpc6 {
  gateway6: string;
  peer6: string;
}

/** The namespace `ns` with its bridge holding `gatewayCidr`; with `peer`, a peer host serving HTTP on it. */
export async function vpcUp(ns: string, gatewayCidr: string, peer?: string, v6?: Vpc6): Promise<void> {
  const six = v6 ? ['--gateway6', v6.gateway6, '--peer6', v6.peer6] : [];
  await run(STAND_IN, ['vpc-up', '--ns', ns, '--gateway', gatewayCidr, ...(peer ? ['--peer', peer] : []), ...six]);
}

/** A stand-in for `dev` with `mac`, its other end a port of the bridge in `ns`. */
export async function eniAdd(ns: string, dev: string, mac: string): Promise<void> {
  await run(STAND_IN, ['eni-add', '--ns', ns, '--dev', dev, '--mac', mac]);
}

/** Deletes the pair wherever its host end is now (on the host, or inside a task namespace), and stops its eni-watch. */
export async function eniDel(ns: string, dev: string): Promise<void> {
  await run(STAND_IN, ['eni-del', '--dev', dev, '--ns', ns]);
}

/** Removes `ns`, every link in it (which takes the pairs plugged into it) and its watchers. */
export async function vpcDown(ns: string): Promise<void> {
  await run(STAND_IN, ['vpc-down', '--ns', ns]);
}
