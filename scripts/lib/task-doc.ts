// A task document as the ECS agent hands one to the daemon: awsvpc, one ENI, the containers. The bench and
// the integration tests build theirs here; each brings its own cluster, family, containers and timeouts.
import { createHash } from 'node:crypto';
import type { Eni } from './stand-in.js';

export interface TaskDocOptions {
  id: string;
  eni: Eni;
  /** The cluster the task ARN names (the bench's `bench`, the tests' `test`). */
  cluster: string;
  family: string;
  revision: number;
  /** The subnet's DNS server, as the ENI's domainNameServers. */
  dns: string;
  /** ECS's networkConfiguration (subnets, security groups); left out when not given. */
  networkConfiguration?: Record<string, unknown>;
  waitTimeoutMs: number;
  containers: unknown[];
  /** Top-level fields set last, over any of the above. */
  extra?: Record<string, unknown>;
}

export function taskArn(cluster: string, id: string): string {
  return `arn:aws:ecs:us-east-1:111122223333:task/${cluster}/${id}`;
}

export function taskDocument(o: TaskDocOptions): Record<string, unknown> {
  return {
    taskArn: taskArn(o.cluster, o.id),
    family: o.family,
    revision: o.revision,
    networkMode: 'awsvpc',
    desiredStatus: 'RUNNING',
    ...(o.networkConfiguration ? { networkConfiguration: o.networkConfiguration } : {}),
    elasticNetworkInterfaces: [
      {
        attachmentArn: `arn:aws:ecs:us-east-1:111122223333:attachment/${o.id}-att`,
        // From the task id, never random: a submit retried after a daemon kill must be the same document, or
        // the daemon rightly answers 409 (same ARN, different content) for the task it already holds.
        ec2Id: `eni-${createHash('sha256').update(o.id).digest('hex').slice(0, 8)}`,
        macAddress: o.eni.mac,
        // An IPv6-only ENI (ip "") has no IPv4 address and no IPv4 gateway.
        ipv4Addresses: o.eni.ip ? [{ primary: true, privateAddress: o.eni.ip }] : [],
        ipv6Addresses: o.eni.ip6 ? [{ address: o.eni.ip6, primary: true }] : [],
        ...(o.eni.gateway ? { subnetGatewayIpv4Address: o.eni.gateway } : {}),
        ...(o.eni.gateway6 ? { subnetGatewayIpv6Address: o.eni.gateway6 } : {}),
        domainNameServers: [o.dns],
        domainName: ['ec2.internal'],
        privateDnsName: o.eni.ip ? `ip-${o.eni.ip.split('.').join('-')}.ec2.internal` : `i-${o.id.toLowerCase().replace(/[^a-z0-9-]/g, '')}.ec2.internal`,
      },
    ],
    waitTimeoutMs: o.waitTimeoutMs,
    containers: o.containers,
    ...o.extra,
  };
}
