// Small inline task definitions, one (or more) per field whose decision is refused or degraded, plus the
// refusals of honoured fields (network mode, placeholders, host checks). taskdef-fields.test.ts runs them.
import type { ValidateOptions } from '../../agent/task/validate/index.js';

export type Obj = Record<string, unknown>;
export interface FieldCase {
  /** The key in TASKDEF_FIELD_DECISIONS this case exercises. */
  key: string;
  title: string;
  /** Edits a fresh valid task definition (family "web", awsvpc, one container "app" busybox). */
  edit: (td: Obj, app: Obj) => void;
  opts?: Partial<ValidateOptions>;
  error?: { field: string; message: string };
  warning?: string;
}

export const FIELD_CASES: FieldCase[] = [
  {
    key: "taskRoleArn",
    title: "role ARN",
    edit: (td, app) => {
      td['taskRoleArn'] = 'arn:aws:iam::111122223333:role/app';
    },
    warning: "taskRoleArn \"arn:aws:iam::111122223333:role/app\": no credentials endpoint serves the task, so its containers get no AWS credentials from the role",
  },
  {
    key: "executionRoleArn",
    title: "role ARN",
    edit: (td, app) => {
      td['executionRoleArn'] = 'arn:aws:iam::111122223333:role/exec';
    },
    warning: "executionRoleArn \"arn:aws:iam::111122223333:role/exec\": not used; images are pulled with the host engine's own registry credentials and nothing is fetched from AWS for the task",
  },
  {
    key: "placementConstraints",
    title: "one constraint",
    edit: (td, app) => {
      td['placementConstraints'] = [{ type: 'memberOf', expression: 'attribute:ecs.instance-type =~ t3.*' }];
    },
    warning: "placementConstraints: not evaluated (1 constraint); the task runs on this host",
  },
  {
    key: "enableFaultInjection",
    title: "true",
    edit: (td, app) => {
      td['enableFaultInjection'] = true;
    },
    warning: "enableFaultInjection: no fault injection endpoint serves the task; the setting has no effect",
  },
  {
    key: "ephemeralStorage",
    title: "30 GiB",
    edit: (td, app) => {
      td['ephemeralStorage'] = { sizeInGiB: 30 };
    },
    warning: "ephemeralStorage: 30 GiB is a Fargate setting; containers use the engine's storage on this host",
  },
  {
    key: "proxyConfiguration",
    title: "APPMESH",
    edit: (td, app) => {
      td['proxyConfiguration'] = { type: 'APPMESH', containerName: 'envoy', properties: [] };
    },
    error: {
      field: "taskDefinition.proxyConfiguration",
      message: "taskDefinition.proxyConfiguration: the \"APPMESH\" proxy configuration needs AWS App Mesh and the ECS agent's traffic redirection; awsvpcd has neither (remove it)",
    },
  },
  {
    key: "inferenceAccelerators",
    title: "one accelerator",
    edit: (td, app) => {
      td['inferenceAccelerators'] = [{ deviceName: 'd', deviceType: 'eia2.medium' }];
    },
    error: {
      field: "taskDefinition.inferenceAccelerators",
      message: "taskDefinition.inferenceAccelerators: Amazon Elastic Inference accelerators are not available to awsvpcd tasks (remove them)",
    },
  },
  {
    key: "volumes[].efsVolumeConfiguration",
    title: "EFS",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', efsVolumeConfiguration: { fileSystemId: 'fs-12345678' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].efsVolumeConfiguration",
      message: "taskDefinition.volumes[0].efsVolumeConfiguration: volume \"v\" is an Amazon EFS file system \"fs-12345678\"; awsvpcd has no EFS (use a host path volume instead)",
    },
  },
  {
    key: "volumes[].fsxWindowsFileServerVolumeConfiguration",
    title: "FSx",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', fsxWindowsFileServerVolumeConfiguration: { fileSystemId: 'fs-1', rootDirectory: 'share' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].fsxWindowsFileServerVolumeConfiguration",
      message: "taskDefinition.volumes[0].fsxWindowsFileServerVolumeConfiguration: volume \"v\" is an Amazon FSx for Windows File Server share; awsvpcd runs Linux tasks without FSx",
    },
  },
  {
    key: "volumes[].configuredAtLaunch",
    title: "EBS at launch",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', configuredAtLaunch: true }];
    },
    error: {
      field: "taskDefinition.volumes[0].configuredAtLaunch",
      message: "taskDefinition.volumes[0].configuredAtLaunch: volume \"v\" is configured at launch by the ECS service (EBS); awsvpcd has no ECS service to configure it",
    },
  },
  {
    key: "volumes[].host",
    title: "on the deny list",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', host: { sourcePath: '/etc' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].host.sourcePath",
      message: "taskDefinition.volumes[0].host.sourcePath: host path \"/etc\" is on the daemon's bind mount deny list (allowedBindMounts in the daemon's configuration can allow it)",
    },
  },
  {
    key: "volumes[].host",
    title: "inside a deny list entry",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', host: { sourcePath: '/proc/1/root/' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].host.sourcePath",
      message: "taskDefinition.volumes[0].host.sourcePath: host path \"/proc/1/root\" lies inside \"/proc\", which is on the daemon's bind mount deny list (allowedBindMounts in the daemon's configuration can allow it)",
    },
  },
  {
    key: "volumes[].host",
    title: "containing a deny list entry",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', host: { sourcePath: '/var/run' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].host.sourcePath",
      message: "taskDefinition.volumes[0].host.sourcePath: host path \"/var/run\" contains \"/var/run/docker.sock\", which is on the daemon's bind mount deny list (allowedBindMounts in the daemon's configuration can allow it)",
    },
  },
  {
    key: "volumes[].host",
    title: "the root",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', host: { sourcePath: '//' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].host.sourcePath",
      message: "taskDefinition.volumes[0].host.sourcePath: host path \"/\" is on the daemon's bind mount deny list (allowedBindMounts in the daemon's configuration can allow it)",
    },
  },
  {
    key: "volumes[].host",
    title: "relative",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', host: { sourcePath: 'data' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].host.sourcePath",
      message: "taskDefinition.volumes[0].host.sourcePath: must be an absolute host path (got \"data\")",
    },
  },
  {
    key: "volumes[].host",
    title: "with ..",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', host: { sourcePath: '/srv/../etc' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].host.sourcePath",
      message: "taskDefinition.volumes[0].host.sourcePath: must not contain '..' segments (got \"/srv/../etc\")",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: "autoprovision on a task volume",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', autoprovision: true } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.autoprovision",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.autoprovision: autoprovision is only for scope \"shared\" (a task-scoped volume is always made for the task), as ECS says",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: 'local driverOpts binding the host root',
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', driver: 'local', driverOpts: { type: 'none', o: 'bind', device: '/' } } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.type",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.type: must be \"tmpfs\" (got \"none\"): the local driver's driverOpts may only describe a tmpfs (allowLocalVolumeDriverOpts in the daemon's configuration can allow others)",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: 'local driverOpts mounting NFS from the host network',
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', driverOpts: { type: 'nfs', o: 'addr=10.0.0.1,rw', device: ':/export' } } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.type",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.type: must be \"tmpfs\" (got \"nfs\"): the local driver's driverOpts may only describe a tmpfs (allowLocalVolumeDriverOpts in the daemon's configuration can allow others)",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: 'tmpfs with a bind option',
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', driverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=64m,rbind' } } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.o",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.o: mount option \"rbind\" is not a tmpfs option the daemon allows (size=, mode=, uid=, gid=, nr_inodes=, noexec, nosuid, nodev, ro, rw): the local driver's driverOpts may only describe a tmpfs (allowLocalVolumeDriverOpts in the daemon's configuration can allow others)",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: 'an unknown local driverOpts key',
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', driverOpts: { type: 'tmpfs', device: 'tmpfs', mountpoint: '/etc' } } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.mountpoint",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.driverOpts.mountpoint: option \"mountpoint\" is not allowed: the local driver's driverOpts may only describe a tmpfs (allowLocalVolumeDriverOpts in the daemon's configuration can allow others)",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: 'a driver the daemon does not allow',
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'shared', driver: 'rexray/ebs', autoprovision: true } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.driver",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.driver: volume driver \"rexray/ebs\" is not allowed (allowedVolumeDrivers in the daemon's configuration: local)",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: 'a daemon label key',
    edit: (td, app) => {
      td['volumes'] = [{ name: 'v', dockerVolumeConfiguration: { scope: 'task', labels: { 'com.awsvpcd.task-id': 'other' } } }];
    },
    error: {
      field: "taskDefinition.volumes[0].dockerVolumeConfiguration.labels[\"com.awsvpcd.task-id\"]",
      message: "taskDefinition.volumes[0].dockerVolumeConfiguration.labels[\"com.awsvpcd.task-id\"]: label key \"com.awsvpcd.task-id\" is reserved: keys starting with com.awsvpcd. are the daemon's own labels",
    },
  },
  {
    key: "volumes[].dockerVolumeConfiguration",
    title: "a shared volume named as another task's own",
    edit: (td, app) => {
      td['volumes'] = [{ name: 'awsvpcd-0123456789abcdef-data', dockerVolumeConfiguration: { scope: 'shared' } }];
    },
    error: {
      field: "taskDefinition.volumes[0].name",
      message: "taskDefinition.volumes[0].name: shared volume name \"awsvpcd-0123456789abcdef-data\" is reserved: names starting with awsvpcd- are the daemon's task volumes",
    },
  },
  {
    key: "networkMode",
    title: "bridge",
    edit: (td, app) => {
      td['networkMode'] = 'bridge';
    },
    error: {
      field: "taskDefinition.networkMode",
      message: "taskDefinition.networkMode: \"bridge\": ECS refuses a network configuration for this mode; awsvpcd runs awsvpc tasks only",
    },
  },
  {
    key: "networkMode",
    title: "host",
    edit: (td, app) => {
      td['networkMode'] = 'host';
    },
    error: {
      field: "taskDefinition.networkMode",
      message: "taskDefinition.networkMode: \"host\": ECS refuses a network configuration for this mode; awsvpcd runs awsvpc tasks only",
    },
  },
  {
    key: "networkMode",
    title: "none",
    edit: (td, app) => {
      td['networkMode'] = 'none';
    },
    error: {
      field: "taskDefinition.networkMode",
      message: "taskDefinition.networkMode: \"none\": ECS refuses a network configuration for this mode; awsvpcd runs awsvpc tasks only",
    },
  },
  {
    key: "networkMode",
    title: "absent",
    edit: (td, app) => {
      delete td['networkMode'];
    },
    error: {
      field: "taskDefinition.networkMode",
      message: "taskDefinition.networkMode: is absent, which ECS reads as \"bridge\"; awsvpcd runs awsvpc tasks only (set \"networkMode\": \"awsvpc\")",
    },
  },
  {
    key: "networkMode",
    title: "placeholder",
    edit: (td, app) => {
      td['networkMode'] = '{{networkmode}}';
    },
    error: {
      field: "taskDefinition.networkMode",
      message: "taskDefinition.networkMode: unrendered placeholder \"{{networkmode}}\" where \"awsvpc\" belongs (render the template first)",
    },
  },
  {
    key: "family",
    title: "absent",
    edit: (td, app) => {
      delete td['family'];
    },
    error: {
      field: "taskDefinition.family",
      message: "taskDefinition.family: is required",
    },
  },
  {
    key: "family",
    title: "placeholder",
    edit: (td, app) => {
      td['family'] = '{{ must_env `FAMILY` }}';
    },
    error: {
      field: "taskDefinition.family",
      message: "taskDefinition.family: unrendered placeholder \"{{ must_env `FAMILY` }}\" where a family name belongs (render the template first)",
    },
  },
  {
    key: "cpu",
    title: "placeholder",
    edit: (td, app) => {
      td['cpu'] = '__TASK_CPU__';
    },
    error: {
      field: "taskDefinition.cpu",
      message: "taskDefinition.cpu: unrendered placeholder \"__TASK_CPU__\" where a task cpu value belongs (render the template first)",
    },
  },
  {
    key: "memory",
    title: "not a size",
    edit: (td, app) => {
      td['memory'] = '2 TB';
    },
    error: {
      field: "taskDefinition.memory",
      message: "taskDefinition.memory: must be MiB or a size like \"2 GB\" (got \"2 TB\")",
    },
  },
  {
    key: "requiresCompatibilities",
    title: "EXTERNAL only",
    edit: (td, app) => {
      td['requiresCompatibilities'] = ['EXTERNAL'];
    },
    error: {
      field: "taskDefinition.requiresCompatibilities",
      message: "taskDefinition.requiresCompatibilities: EXTERNAL only: awsvpc tasks run on EC2 or FARGATE capacity, which this host stands in for",
    },
  },
  {
    key: "requiresCompatibilities",
    title: "placeholder",
    edit: (td, app) => {
      td['requiresCompatibilities'] = ['{{launchtype}}'];
    },
    error: {
      field: "taskDefinition.requiresCompatibilities[0]",
      message: "taskDefinition.requiresCompatibilities[0]: unrendered placeholder \"{{launchtype}}\" where one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES belongs (render the template first)",
    },
  },
  {
    key: "runtimePlatform",
    title: "other architecture",
    edit: (td, app) => {
      td['runtimePlatform'] = { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' };
    },
    error: {
      field: "taskDefinition.runtimePlatform.cpuArchitecture",
      message: "taskDefinition.runtimePlatform.cpuArchitecture: ARM64 does not match this host's CPU architecture (X86_64)",
    },
  },
  {
    key: "runtimePlatform",
    title: "Windows",
    edit: (td, app) => {
      td['runtimePlatform'] = { operatingSystemFamily: 'WINDOWS_SERVER_2022_CORE' };
    },
    error: {
      field: "taskDefinition.runtimePlatform.operatingSystemFamily",
      message: "taskDefinition.runtimePlatform.operatingSystemFamily: \"WINDOWS_SERVER_2022_CORE\" does not match this host, which runs LINUX containers",
    },
  },
  {
    key: "pidMode",
    title: "host",
    edit: (td, app) => {
      td['pidMode'] = 'host';
    },
    error: {
      field: "taskDefinition.pidMode",
      message: "taskDefinition.pidMode: \"host\" shares the host's process namespace, which the daemon's configuration does not allow (allowPrivileged)",
    },
  },
  {
    key: "ipcMode",
    title: "host",
    edit: (td, app) => {
      td['ipcMode'] = 'host';
    },
    error: {
      field: "taskDefinition.ipcMode",
      message: "taskDefinition.ipcMode: \"host\" shares the host's IPC namespace, which the daemon's configuration does not allow (allowPrivileged)",
    },
  },
  {
    key: "containerDefinitions",
    title: "unknown container field",
    edit: (td, app) => {
      app['memorySwap'] = 1;
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].memorySwap",
      message: "taskDefinition.containerDefinitions[0].memorySwap: unknown field: not part of an ECS container definition (as the AWS CLI refuses unknown parameters)",
    },
  },
  {
    key: "containerDefinitions[].image",
    title: "empty",
    edit: (td, app) => {
      app['image'] = '';
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].image",
      message: "taskDefinition.containerDefinitions[0].image: is empty: an unrendered placeholder (a render step fills in the image before register-task-definition)",
    },
  },
  {
    key: "containerDefinitions[].image",
    title: "placeholder",
    edit: (td, app) => {
      app['image'] = '<your image here>';
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].image",
      message: "taskDefinition.containerDefinitions[0].image: unrendered placeholder \"<your image here>\" where an image reference belongs (render the template first)",
    },
  },
  {
    key: "containerDefinitions[].portMappings",
    title: "containerPort as a string",
    edit: (td, app) => {
      app['portMappings'] = [{ containerPort: '80' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].portMappings[0].containerPort",
      message: "taskDefinition.containerDefinitions[0].portMappings[0].containerPort: must be an integer (got string \"80\")",
    },
  },
  {
    key: "containerDefinitions[].portMappings[].containerPortRange",
    title: "a range",
    edit: (td, app) => {
      app['portMappings'] = [{ containerPortRange: '8000-8010' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].portMappings[0].containerPortRange",
      message: "taskDefinition.containerDefinitions[0].portMappings[0].containerPortRange: port ranges are not supported by awsvpcd; map each port with containerPort",
    },
  },
  {
    key: "containerDefinitions[].linuxParameters.devices",
    title: "a device",
    edit: (td, app) => {
      app['linuxParameters'] = { devices: [{ hostPath: '/dev/fuse' }] };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].linuxParameters.devices[0].hostPath",
      message: "taskDefinition.containerDefinitions[0].linuxParameters.devices[0].hostPath: device \"/dev/fuse\" is not allowed by the daemon's configuration (allowedDevices: none)",
    },
  },
  {
    key: "containerDefinitions[].linuxParameters.capabilities",
    title: "add",
    edit: (td, app) => {
      app['linuxParameters'] = { capabilities: { add: ['SYS_ADMIN'] } };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].linuxParameters.capabilities.add[0]",
      message: "taskDefinition.containerDefinitions[0].linuxParameters.capabilities.add[0]: adding capability SYS_ADMIN is not allowed by the daemon's configuration (allowed: none)",
    },
  },
  {
    key: "containerDefinitions[].linuxParameters.tmpfs",
    title: "unknown mount option",
    edit: (td, app) => {
      app['linuxParameters'] = { tmpfs: [{ containerPath: '/tmp', size: 64, mountOptions: ['exec', 'huge'] }] };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].linuxParameters.tmpfs[0].mountOptions[1]",
      message: "taskDefinition.containerDefinitions[0].linuxParameters.tmpfs[0].mountOptions[1]: \"huge\" is not a tmpfs mount option ECS accepts",
    },
  },
  {
    key: "containerDefinitions[].linuxParameters.maxSwap",
    title: "without memory",
    edit: (td, app) => {
      app['linuxParameters'] = { maxSwap: 0 };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].linuxParameters.maxSwap",
      message: "taskDefinition.containerDefinitions[0].linuxParameters.maxSwap: needs the container's memory: the engine's swap limit is memory + maxSwap",
    },
  },
  {
    key: "containerDefinitions[].linuxParameters.swappiness",
    title: "without maxSwap",
    edit: (td, app) => {
      app['memory'] = 128;
      app['linuxParameters'] = { swappiness: 10 };
    },
    warning: "container \"app\": linuxParameters.swappiness (10) is ignored without maxSwap, as ECS ignores it; set maxSwap to apply it",
  },
  {
    key: "containerDefinitions[].privileged",
    title: "true",
    edit: (td, app) => {
      app['privileged'] = true;
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].privileged",
      message: "taskDefinition.containerDefinitions[0].privileged: privileged containers are not allowed by the daemon's configuration",
    },
  },
  {
    key: "containerDefinitions[].dockerSecurityOptions",
    title: "one option",
    edit: (td, app) => {
      app['dockerSecurityOptions'] = ['seccomp=unconfined'];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].dockerSecurityOptions[0]",
      message: "taskDefinition.containerDefinitions[0].dockerSecurityOptions[0]: security option \"seccomp=unconfined\" is not allowed by the daemon's configuration (allowedSecurityOptions: none)",
    },
  },
  {
    key: "containerDefinitions[].logConfiguration",
    title: "awslogs",
    edit: (td, app) => {
      app['logConfiguration'] = { logDriver: 'awslogs', options: { 'awslogs-group': '/ecs/web', 'awslogs-region': 'us-east-1' } };
    },
    warning: "logConfiguration: awslogs (container app) replaced by the local \"json-file\" log driver: nothing is sent to CloudWatch Logs or a FireLens router (read the output with docker logs)",
  },
  {
    key: "containerDefinitions[].logConfiguration",
    title: "awslogs without a group",
    edit: (td, app) => {
      app['logConfiguration'] = { logDriver: 'awslogs', options: { mode: 'non-blocking' } };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].logConfiguration.options",
      message: "taskDefinition.containerDefinitions[0].logConfiguration.options: container \"app\": the awslogs driver requires the awslogs-group option (ECS could not start this container either)",
    },
  },
  {
    key: "containerDefinitions[].logConfiguration",
    title: "placeholder driver",
    edit: (td, app) => {
      app['logConfiguration'] = { logDriver: '__LOG_DRIVER__' };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].logConfiguration.logDriver",
      message: "taskDefinition.containerDefinitions[0].logConfiguration.logDriver: unrendered placeholder \"__LOG_DRIVER__\" where one of json-file, local, journald, syslog, gelf, fluentd, splunk, logentries, gcplogs, none, awslogs, awsfirelens belongs (render the template first)",
    },
  },
  {
    key: "containerDefinitions[].logConfiguration.secretOptions",
    title: "a secret option",
    edit: (td, app) => {
      app['logConfiguration'] = { logDriver: 'splunk', options: {}, secretOptions: [{ name: 'splunk-token', valueFrom: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:tok-AbCdEf' }] };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].logConfiguration.secretOptions",
      message: "taskDefinition.containerDefinitions[0].logConfiguration.secretOptions: container \"app\" takes log driver options \"splunk-token\" from AWS Secrets Manager / SSM Parameter Store; awsvpcd has no access to AWS services",
    },
  },
  {
    key: "containerDefinitions[].firelensConfiguration",
    title: "fluentbit",
    edit: (td, app) => {
      app['firelensConfiguration'] = { type: 'fluentbit', options: { 'enable-ecs-log-metadata': 'true' } };
    },
    warning: "container \"app\": firelensConfiguration is not applied: the log router runs, but awsvpcd generates no FireLens configuration for it",
  },
  {
    key: "containerDefinitions[].firelensConfiguration",
    title: "config from S3",
    edit: (td, app) => {
      app['firelensConfiguration'] = { type: 'fluentbit', options: { 'config-file-type': 's3', 'config-file-value': 'arn:aws:s3:::b/x.conf' } };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].firelensConfiguration.options",
      message: "taskDefinition.containerDefinitions[0].firelensConfiguration.options: container \"app\" loads its FireLens configuration from Amazon S3 (\"arn:aws:s3:::b/x.conf\"); awsvpcd has no S3 access",
    },
  },
  {
    key: "containerDefinitions[].firelensConfiguration",
    title: "init image reading S3",
    edit: (td, app) => {
      app['environment'] = [{ name: 'aws_fluent_bit_init_s3_1', value: 'arn:aws:s3:::b/x.conf' }]; app['firelensConfiguration'] = { type: 'fluentbit' };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].firelensConfiguration",
      message: "taskDefinition.containerDefinitions[0].firelensConfiguration: container \"app\" is a FireLens router whose configuration comes from Amazon S3 (environment aws_fluent_bit_init_s3_1=\"arn:aws:s3:::b/x.conf\"); awsvpcd has no S3 access",
    },
  },
  {
    key: "containerDefinitions[].secrets",
    title: "SSM and Secrets Manager",
    edit: (td, app) => {
      app['secrets'] = [{ name: 'A', valueFrom: 'arn:aws:ssm:us-east-1:111122223333:parameter/a' }, { name: 'B', valueFrom: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:b-AbCdEf' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].secrets",
      message: "taskDefinition.containerDefinitions[0].secrets: container \"app\" takes secrets \"A\", \"B\" from SSM Parameter Store and AWS Secrets Manager; awsvpcd has no access to AWS services (set the values in environment instead, or remove them)",
    },
  },
  {
    key: "containerDefinitions[].repositoryCredentials",
    title: "Secrets Manager ARN",
    edit: (td, app) => {
      app['repositoryCredentials'] = { credentialsParameter: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:ghcr-AbCdEf' };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].repositoryCredentials.credentialsParameter",
      message: "taskDefinition.containerDefinitions[0].repositoryCredentials.credentialsParameter: container \"app\" pulls its image with registry credentials from AWS Secrets Manager (\"arn:aws:secretsmanager:us-east-1:111122223333:secret:ghcr-AbCdEf\"); awsvpcd has no Secrets Manager (log the host's engine in to the registry and remove repositoryCredentials)",
    },
  },
  {
    key: "containerDefinitions[].repositoryCredentials",
    title: "empty credentialsParameter",
    edit: (td, app) => {
      app['repositoryCredentials'] = { credentialsParameter: '' };
    },
    warning: "container \"app\": repositoryCredentials has an empty credentialsParameter; the image is pulled with the host's own registry credentials",
  },
  {
    key: "containerDefinitions[].environmentFiles",
    title: "S3",
    edit: (td, app) => {
      app['environmentFiles'] = [{ value: 'arn:aws:s3:::b/prod.env', type: 's3' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].environmentFiles",
      message: "taskDefinition.containerDefinitions[0].environmentFiles: container \"app\" reads environment files from Amazon S3 (\"arn:aws:s3:::b/prod.env\"); awsvpcd has no S3 access (put the variables in environment)",
    },
  },
  {
    key: "containerDefinitions[].resourceRequirements",
    title: "GPU",
    edit: (td, app) => {
      app['resourceRequirements'] = [{ type: 'GPU', value: '1' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].resourceRequirements",
      message: "taskDefinition.containerDefinitions[0].resourceRequirements: container \"app\" requires \"GPU\" resources (GPU / InferenceAccelerator), which awsvpcd does not assign",
    },
  },
  {
    key: "containerDefinitions[].credentialSpecs",
    title: "gMSA",
    edit: (td, app) => {
      app['credentialSpecs'] = ['credentialspec:arn:aws:ssm:us-east-1:111122223333:parameter/gmsa'];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].credentialSpecs",
      message: "taskDefinition.containerDefinitions[0].credentialSpecs: container \"app\" needs a gMSA credential spec (Active Directory, from SSM Parameter Store or S3); awsvpcd has neither",
    },
  },
  {
    key: "containerDefinitions[].links",
    title: "a link",
    edit: (td, app) => {
      app['links'] = ['db'];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].links",
      message: "taskDefinition.containerDefinitions[0].links: not allowed in awsvpc mode: the containers share one network namespace and reach each other on localhost",
    },
  },
  {
    key: "containerDefinitions[].hostname",
    title: "a hostname",
    edit: (td, app) => {
      app['hostname'] = 'web';
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].hostname",
      message: "taskDefinition.containerDefinitions[0].hostname: not allowed in awsvpc mode: the hostname comes from the ENI's privateDnsName",
    },
  },
  {
    key: "containerDefinitions[].dnsServers",
    title: "a server",
    edit: (td, app) => {
      app['dnsServers'] = ['10.0.0.2'];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].dnsServers",
      message: "taskDefinition.containerDefinitions[0].dnsServers: not allowed in awsvpc mode: the name servers come from the ENI (domainNameServers)",
    },
  },
  {
    key: "containerDefinitions[].dnsSearchDomains",
    title: "a domain",
    edit: (td, app) => {
      app['dnsSearchDomains'] = ['corp.example'];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].dnsSearchDomains",
      message: "taskDefinition.containerDefinitions[0].dnsSearchDomains: not allowed in awsvpc mode: the search domains come from the ENI (domainName)",
    },
  },
  {
    key: "containerDefinitions[].extraHosts",
    title: "a host",
    edit: (td, app) => {
      app['extraHosts'] = [{ hostname: 'db', ipAddress: '10.0.0.5' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].extraHosts",
      message: "taskDefinition.containerDefinitions[0].extraHosts: not allowed in awsvpc mode: the containers share the task's network namespace and its /etc/hosts",
    },
  },
  {
    key: "containerDefinitions[].disableNetworking",
    title: "true",
    edit: (td, app) => {
      app['disableNetworking'] = true;
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].disableNetworking",
      message: "taskDefinition.containerDefinitions[0].disableNetworking: not allowed in awsvpc mode: the task has its network namespace and ENI",
    },
  },
  {
    key: "containerDefinitions[].versionConsistency",
    title: "enabled",
    edit: (td, app) => {
      app['versionConsistency'] = 'enabled';
    },
    warning: "container \"app\": versionConsistency \"enabled\" is not applied: the image tag is resolved by the engine when the container is created, not pinned to a digest at launch",
  },
  {
    key: "containerDefinitions[].restartPolicy",
    title: "enabled",
    edit: (td, app) => {
      app['restartPolicy'] = { enabled: true, restartAttemptPeriod: 60 };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].restartPolicy.enabled",
      message: "taskDefinition.containerDefinitions[0].restartPolicy.enabled: container \"app\": container restart policies are not supported; awsvpcd stops the task when an essential container exits",
    },
  },
  {
    key: "containerDefinitions[].healthCheck",
    title: "malformed command",
    edit: (td, app) => {
      app['healthCheck'] = { command: ['/bin/bash, curl http://localhost:8080 || exit 1'] };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].healthCheck.command[0]",
      message: "taskDefinition.containerDefinitions[0].healthCheck.command[0]: must be CMD-SHELL, CMD or NONE (got \"/bin/bash, curl http://localhost:8080 || exit 1\"): a health check command is [\"CMD-SHELL\", \"<command>\"] or [\"CMD\", \"<program>\", ...]",
    },
  },
  {
    key: "containerDefinitions[].healthCheck",
    title: "interval out of range",
    edit: (td, app) => {
      app['healthCheck'] = { command: ['CMD-SHELL', 'true'], interval: 1 };
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].healthCheck.interval",
      message: "taskDefinition.containerDefinitions[0].healthCheck.interval: must be from 5 to 300 (got 1), as ECS allows",
    },
  },
  {
    key: "containerDefinitions[].dependsOn",
    title: "HEALTHY without a healthCheck",
    edit: (td, app) => {
      td['containerDefinitions'] = [app, { name: 'side', image: 'busybox', dependsOn: [{ containerName: 'app', condition: 'HEALTHY' }] }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[1].dependsOn[0].condition",
      message: "taskDefinition.containerDefinitions[1].dependsOn[0].condition: HEALTHY needs a healthCheck on container \"app\", which has none",
    },
  },
  {
    key: "containerDefinitions[].volumesFrom",
    title: "unknown container",
    edit: (td, app) => {
      app['volumesFrom'] = [{ sourceContainer: 'ghost' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].volumesFrom[0].sourceContainer",
      message: "taskDefinition.containerDefinitions[0].volumesFrom[0].sourceContainer: no container named \"ghost\" in this task",
    },
  },
  {
    key: "containerDefinitions[].volumesFrom",
    title: "a cycle with dependsOn",
    edit: (td, app) => {
      app['volumesFrom'] = [{ sourceContainer: 'side' }]; td['containerDefinitions'] = [app, { name: 'side', image: 'busybox', dependsOn: [{ containerName: 'app', condition: 'START' }] }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].dependsOn",
      message: "taskDefinition.containerDefinitions[0].dependsOn: dependency cycle app -> side -> app",
    },
  },
  {
    key: "containerDefinitions[].mountPoints",
    title: "unknown volume",
    edit: (td, app) => {
      app['mountPoints'] = [{ sourceVolume: 'ghost', containerPath: '/data' }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].mountPoints[0].sourceVolume",
      message: "taskDefinition.containerDefinitions[0].mountPoints[0].sourceVolume: no volume named \"ghost\" in the task definition's volumes",
    },
  },
  {
    key: "containerDefinitions[].systemControls",
    title: "conflicting net.* values",
    edit: (td, app) => {
      app['systemControls'] = [{ namespace: 'net.core.somaxconn', value: '1024' }]; td['containerDefinitions'] = [app, { name: 'side', image: 'busybox', systemControls: [{ namespace: 'net.core.somaxconn', value: '4096' }] }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[1].systemControls[0].value",
      message: "taskDefinition.containerDefinitions[1].systemControls[0].value: net.core.somaxconn is set to \"1024\" by taskDefinition.containerDefinitions[0].systemControls[0].value; net.* settings apply to the task's one network namespace, so they must agree",
    },
  },
  {
    key: "containerDefinitions[].cpu",
    title: "a string",
    edit: (td, app) => {
      app['cpu'] = '256';
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].cpu",
      message: "taskDefinition.containerDefinitions[0].cpu: must be an integer (got string \"256\")",
    },
  },
  {
    key: "containerDefinitions[].memory",
    title: "a placeholder",
    edit: (td, app) => {
      app['memory'] = '{{memory}}';
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].memory",
      message: "taskDefinition.containerDefinitions[0].memory: unrendered placeholder \"{{memory}}\" where a number belongs (render the template first)",
    },
  },
  {
    key: "containerDefinitions[].ulimits",
    title: "soft above hard",
    edit: (td, app) => {
      app['ulimits'] = [{ name: 'nofile', softLimit: 2048, hardLimit: 1024 }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[0].ulimits[0].softLimit",
      message: "taskDefinition.containerDefinitions[0].ulimits[0].softLimit: must not exceed hardLimit (1024; got 2048)",
    },
  },
  {
    key: "containerDefinitions[].dependsOn",
    title: "HEALTHY on a NONE healthCheck",
    edit: (td, app) => {
      app['healthCheck'] = { command: ['NONE'] };
      td['containerDefinitions'] = [app, { name: 'side', image: 'busybox', dependsOn: [{ containerName: 'app', condition: 'HEALTHY' }] }];
    },
    error: {
      field: "taskDefinition.containerDefinitions[1].dependsOn[0].condition",
      message: "taskDefinition.containerDefinitions[1].dependsOn[0].condition: HEALTHY needs a healthCheck on container \"app\", whose healthCheck is NONE",
    },
  },
];
