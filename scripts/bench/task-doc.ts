// The bench's task: two busybox containers that exit at once on SIGTERM, so a stop measures the
// machinery and not the stop timeout (both paths use the same containers and the same stopTimeout).
import { randomBytes } from 'node:crypto';
import type { Eni } from '../lib/stand-in.js';

/**
 * Idle until SIGTERM: `wait` is interrupted by the signal, so the trap runs at once, and the shell is PID 1,
 * so its exit ends the sleep too. The sleep is long on purpose: a loop of `sleep 1` forks once a second per
 * container, and with 100 two-container tasks kept running that is 200 forks a second on the host, load the
 * scale part would then blame on the task count (it made the floor's own setup 1.75x slower by task 100).
 */
const IDLE_UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 86400 & wait $!; done';
export const STOP_TIMEOUT_SEC = 2;

export function taskArn(id: string): string {
  return `arn:aws:ecs:us-east-1:111122223333:task/bench/${id}`;
}

export function taskDoc(id: string, eni: Eni): Record<string, unknown> {
  return {
    taskArn: taskArn(id),
    family: 'bench',
    revision: 1,
    networkMode: 'awsvpc',
    desiredStatus: 'RUNNING',
    elasticNetworkInterfaces: [
      {
        attachmentArn: `arn:aws:ecs:us-east-1:111122223333:attachment/${id}-att`,
        ec2Id: `eni-${randomBytes(4).toString('hex')}`,
        macAddress: eni.mac,
        ipv4Addresses: [{ primary: true, privateAddress: eni.ip }],
        ipv6Addresses: [],
        subnetGatewayIpv4Address: eni.gateway,
        domainNameServers: ['10.98.0.2'],
        domainName: ['ec2.internal'],
        privateDnsName: `ip-${eni.ip.split('.').join('-')}.ec2.internal`,
      },
    ],
    waitTimeoutMs: 30_000,
    containers: [
      {
        name: 'app',
        image: 'busybox:latest',
        essential: true,
        command: ['sh', '-c', IDLE_UNTIL_TERM],
        environment: [{ name: 'MODE', value: 'bench' }],
        stopTimeout: STOP_TIMEOUT_SEC,
      },
      {
        name: 'sidecar',
        image: 'busybox:latest',
        essential: false,
        command: ['sh', '-c', IDLE_UNTIL_TERM],
        stopTimeout: STOP_TIMEOUT_SEC,
        dependsOn: [{ containerName: 'app', condition: 'START' }],
      },
    ],
  };
}
