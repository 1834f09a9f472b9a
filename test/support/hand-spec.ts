// TaskSpec objects built by hand, field by field (the engine tests do not go through a validator).
import type { ContainerSpec, TaskSpec } from '../../agent/model.js';

export const HAND_TASK_ID = 'td-0123456789abcdef';

/** A container with only the fields every ContainerSpec has; `over` adds the rest. */
export function container(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: 'app',
    image: 'busybox:latest',
    essential: true,
    environment: [],
    portMappings: [],
    dependsOn: [],
    dockerLabels: {},
    privileged: false,
    capabilities: { add: [], drop: [] },
    ...over,
  };
}

/** A task around `containers`, with a stand-in ENI; `over` may change its id. */
export function taskSpec(containers: ContainerSpec[], over: Partial<TaskSpec> = {}, ID = over.taskId ?? HAND_TASK_ID): TaskSpec {
  return {
    taskArn: `arn:aws:ecs:us-east-1:111122223333:task/default/${ID}`,
    taskId: ID,
    networkMode: 'awsvpc',
    desiredStatus: 'RUNNING',
    eni: {
      attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/x',
      attachmentId: 'x',
      ec2Id: 'eni-1',
      macAddress: '0a:58:a9:fe:ac:10',
      ipv4Addresses: [{ primary: true, privateAddress: '10.99.1.15' }],
      ipv6Addresses: [],
      subnetGatewayIpv4Address: '10.99.1.1/24',
      domainNameServers: [],
      domainName: [],
    },
    waitTimeoutMs: 1000,
    containers,
    ...over,
  };
}

