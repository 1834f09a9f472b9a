// The container rules, one validator for both input formats: each container's fields, and the rules across
// containers (unique names, one mapping per port in the shared namespace, at least one essential, dependsOn
// and volumesFrom targets without cycles). Today's task document knows a short list of fields and ignores the
// rest; an ECS task definition has every container field decided (taskdef-fields.ts) and refuses unknown ones.

import type {
  ContainerSpec,
  DependsOn,
  DependsOnCondition,
  DeviceSpec,
  HealthCheckSpec,
  KeyValue,
  LogConfigSpec,
  MountPointSpec,
  PortMapping,
  SysctlSpec,
  TmpfsSpec,
  UlimitSpec,
  VolumeFromSpec,
  VolumeSpec,
} from '../../model.js';
import { collector, uniquelyNamed, type Collector } from './collect.js';
import type { ValidateOptions } from './options.js';
import {
  CONTAINER_NAME_RE,
  ENV_NAME_RE,
  IMAGE_FORBIDDEN_RE,
  IMAGE_RE,
  LINUX_CAPABILITIES,
  MAX_IMAGE_LENGTH,
  normalizeCapability,
} from './patterns.js';
import {
  asArray,
  asBoolean,
  asEnum,
  asInteger,
  asObject,
  asString,
  asStringArray,
  child,
  fail,
  get,
  isObj,
  required,
  show,
  type Obj,
} from './readers.js';
import {
  asStringMap,
  isEmptyValue,
  isPlaceholder,
  placeholderFail,
  refuseUnknown,
  tdEnum,
  tdInteger,
  unknownFields,
} from './taskdef-readers.js';

export const MAX_CONTAINERS = 10;
export const DAEMON_LABEL_PREFIX = 'com.awsvpcd.';

const CONTAINER_FIELDS = [
  'name', 'image', 'essential', 'command', 'entryPoint', 'environment', 'portMappings', 'links', 'hostname',
  'dependsOn', 'workingDirectory', 'user', 'cpu', 'memory', 'memoryReservation', 'stopTimeout', 'dockerLabels',
  'privileged', 'linuxParameters',
] as const;

/** Every field of an ECS container definition (RegisterTaskDefinition); each has a decision in taskdef-fields.ts. */
export const TASK_DEFINITION_CONTAINER_FIELDS = [
  ...CONTAINER_FIELDS,
  'mountPoints', 'volumesFrom', 'healthCheck', 'startTimeout', 'ulimits', 'readonlyRootFilesystem', 'pseudoTerminal',
  'interactive', 'dockerSecurityOptions', 'logConfiguration', 'systemControls', 'firelensConfiguration', 'secrets',
  'repositoryCredentials', 'environmentFiles', 'resourceRequirements', 'credentialSpecs', 'dnsServers',
  'dnsSearchDomains', 'extraHosts', 'disableNetworking', 'versionConsistency', 'restartPolicy',
] as const;

const DEPENDS_ON_CONDITIONS = ['START', 'COMPLETE', 'SUCCESS', 'HEALTHY'] as const;
const ULIMIT_NAMES = [
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime',
  'sigpending', 'stack',
] as const;
/** Docker's own log drivers, plus the two ECS ones that are replaced by opts.localLogDriver. */
const LOG_DRIVERS = [
  'json-file', 'local', 'journald', 'syslog', 'gelf', 'fluentd', 'splunk', 'logentries', 'gcplogs', 'none', 'awslogs',
  'awsfirelens',
] as const;
// The tmpfs mount options ECS accepts (linuxParameters.tmpfs[].mountOptions).
const TMPFS_OPTIONS = new Set([
  'defaults', 'ro', 'rw', 'suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'sync', 'async', 'dirsync', 'remount',
  'mand', 'nomand', 'atime', 'noatime', 'diratime', 'nodiratime', 'bind', 'rbind', 'unbindable', 'runbindable',
  'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'relatime', 'norelatime', 'strictatime',
  'nostrictatime', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol',
]);
/** Sysctls Docker sets in a container's own namespaces (as ECS documents for systemControls). */
const SYSCTL_RE = /^(?:net\.[A-Za-z0-9_.\-/]+|kernel\.(?:msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\.[A-Za-z0-9_]+)$/;

/** What containerSpecs needs besides the containers: the format, how it reports, and the task's volumes. */
export interface ContainerRules {
  format: 'task' | 'taskDefinition';
  c: Collector;
  /** The task definition's volumes by name (mountPoints.sourceVolume must name one). */
  volumes?: ReadonlyMap<string, VolumeSpec>;
}

const TASK_RULES = (): ContainerRules => ({ format: 'task', c: collector(false) });

export function containerSpecs(v: unknown, path: string, opts: ValidateOptions, rules: ContainerRules = TASK_RULES()): ContainerSpec[] {
  const { c } = rules;
  const td = rules.format === 'taskDefinition';
  const list = asArray(v, path);
  if (list.length < 1 || list.length > MAX_CONTAINERS) {
    fail(path, `a task has 1 to ${MAX_CONTAINERS} containers (got ${list.length})`);
  }
  // Containers share the task's network namespace, so a port can be mapped once per task.
  const ports = new Map<string, string>();
  const { items: containers, indexByName } = uniquelyNamed(list, path, 'container', c, (e, at) => containerSpec(e, at, opts, ports, rules));
  const byName = new Map(containers.map((x) => [x.name, x]));

  if (containers.length === list.length && !containers.some((x) => x.essential)) {
    c.check(() => fail(path, 'at least one container must be essential (essential defaults to true)'));
  }

  containers.forEach((x) => {
    const i = indexByName.get(x.name)!;
    x.dependsOn.forEach((d, j) => {
      const p = `${path}[${i}].dependsOn[${j}]`;
      c.check(() => {
        if (d.containerName === x.name) fail(`${p}.containerName`, 'a container cannot depend on itself');
        const target = byName.get(d.containerName);
        if (target === undefined) {
          if (td && list.length !== containers.length) return; // the target may be a container that failed its own rules
          fail(`${p}.containerName`, `no container named ${show(d.containerName)} in this task`);
        }
        // As in ECS: the task stops when an essential container exits, so nothing can wait for that.
        if ((d.condition === 'COMPLETE' || d.condition === 'SUCCESS') && target.essential) {
          fail(
            `${p}.condition`,
            `${d.condition} cannot be used on essential container ${show(d.containerName)}: the task stops when an essential container exits`,
          );
        }
        if (td && d.condition === 'HEALTHY' && (!target.healthCheck || target.healthCheck.command[0] === 'NONE')) {
          const has = target.healthCheck ? 'whose healthCheck is NONE' : 'which has none';
          fail(`${p}.condition`, `HEALTHY needs a healthCheck on container ${show(d.containerName)}, ${has}`);
        }
      });
    });
    (x.volumesFrom ?? []).forEach((f, j) => {
      const p = `${path}[${i}].volumesFrom[${j}].sourceContainer`;
      c.check(() => {
        if (f.sourceContainer === x.name) fail(p, 'a container cannot take volumes from itself');
        if (!byName.has(f.sourceContainer) && list.length === containers.length) {
          fail(p, `no container named ${show(f.sourceContainer)} in this task`);
        }
      });
    });
  });

  if (td) {
    // net.* sysctls go on the one network namespace of the task, so two containers cannot set them differently.
    const net = new Map<string, { value: string; at: string }>();
    containers.forEach((x) => {
      const i = indexByName.get(x.name)!;
      (x.systemControls ?? []).forEach((s, j) => {
        if (!s.namespace.startsWith('net.')) return;
        const at = `${path}[${i}].systemControls[${j}].value`;
        const before = net.get(s.namespace);
        if (before && before.value !== s.value) {
          c.check(() => fail(at, `${s.namespace} is set to ${show(before.value)} by ${before.at}; net.* settings apply to the task's one network namespace, so they must agree`));
        } else if (!before) {
          net.set(s.namespace, { value: s.value, at });
        }
      });
    });
  }

  const cycle = dependencyCycle(containers);
  if (cycle) c.check(() => fail(`${path}[${indexByName.get(cycle[0]!)}].dependsOn`, `dependency cycle ${cycle.join(' -> ')}`));

  if (td) {
    const replaced = containers.filter((x) => x.logConfiguration?.requested);
    if (replaced.length > 0) {
      const driver = replaced[0]!.logConfiguration!.logDriver;
      const byDriver = (d: string) => replaced.filter((x) => x.logConfiguration!.requested === d).map((x) => x.name);
      const parts = ['awslogs', 'awsfirelens']
        .map((d) => [d, byDriver(d)] as const)
        .filter(([, names]) => names.length > 0)
        .map(([d, names]) => `${d} (container${names.length > 1 ? 's' : ''} ${names.join(', ')})`);
      c.warn(
        `logConfiguration: ${parts.join(' and ')} replaced by the local ${show(driver)} log driver: nothing is sent to ` +
          'CloudWatch Logs or a FireLens router (read the output with docker logs)',
      );
    }
  }
  return containers;
}

/** What a container waits for: its dependsOn targets and the containers it takes volumes from. */
function waitsFor(x: ContainerSpec): string[] {
  // A container naming itself is refused on its own; the cycle check does not report it a second time.
  return [...x.dependsOn.map((d) => d.containerName), ...(x.volumesFrom ?? []).map((f) => f.sourceContainer)].filter((n) => n !== x.name);
}

/** The first cycle in dependsOn / volumesFrom (by container order), as a path that ends where it starts. */
function dependencyCycle(containers: ContainerSpec[]): string[] | undefined {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    state.set(name, 'visiting');
    stack.push(name);
    const c = byName.get(name);
    for (const target of c ? waitsFor(c) : []) {
      const s = state.get(target);
      if (s === 'visiting') return [...stack.slice(stack.indexOf(target)), target];
      if (s === undefined) {
        const found = visit(target);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const c of containers) {
    if (state.has(c.name)) continue;
    const found = visit(c.name);
    if (found) return found;
  }
  return undefined;
}

function containerSpec(v: unknown, path: string, opts: ValidateOptions, ports: Map<string, string>, rules: ContainerRules): ContainerSpec {
  const { c } = rules;
  const td = rules.format === 'taskDefinition';
  const o = asObject(v, path);
  const at = (key: string): string => child(path, key);
  const optional = (key: string): unknown => get(o, key);
  if (td) {
    for (const key of Object.keys(o)) {
      if (!(TASK_DEFINITION_CONTAINER_FIELDS as readonly string[]).includes(key)) {
        c.check(() => fail(at(key), 'unknown field: not part of an ECS container definition (as the AWS CLI refuses unknown parameters)'));
      }
    }
  } else {
    unknownFields(o, path, CONTAINER_FIELDS, '', opts, false);
  }
  const int = td ? tdInteger : asInteger;

  const nameIn = o['name'];
  const name =
    c.check(() => {
      const s = asString(required(o, 'name', path), at('name'));
      if (!CONTAINER_NAME_RE.test(s)) fail(at('name'), `must be 1-255 letters, digits, '_' or '-' (got ${show(s)})`);
      return s;
    }) ?? (typeof nameIn === 'string' ? nameIn : path);
  const who = `container ${show(name)}`;

  const image = c.check(() => imageReference(required(o, 'image', path), at('image'), td)) ?? '';

  const essentialIn = optional('essential');
  const essential = (essentialIn === undefined ? true : c.check(() => asBoolean(essentialIn, at('essential')))) ?? true;

  const spec: ContainerSpec = {
    name,
    image,
    essential,
    environment: [],
    portMappings: [],
    dependsOn: [],
    dockerLabels: {},
    privileged: false,
    capabilities: { add: [], drop: [] },
  };
  /** Runs the rule of an optional field when the field is set. */
  const field = (key: string, rule: (value: unknown, p: string) => void): void => {
    const value = optional(key);
    if (value !== undefined) c.check(() => rule(value, at(key)));
  };

  field('command', (x, p) => (spec.command = asStringArray(x, p)));
  field('entryPoint', (x, p) => (spec.entryPoint = asStringArray(x, p)));
  field('environment', (x, p) => (spec.environment = environmentList(x, p, opts, td)));
  field('portMappings', (x, p) => (spec.portMappings = portMappingList(x, p, opts, ports, td)));

  // As ECS refuses them in awsvpc mode; in a task definition null, [] and false are "not set".
  const awsvpcOnly = (key: string, why: string) =>
    field(key, (x, p) => {
      if (!td || !(isEmptyValue(x) || x === false)) fail(p, `not allowed in awsvpc mode: ${why}`);
    });
  awsvpcOnly('links', 'the containers share one network namespace and reach each other on localhost');
  awsvpcOnly('hostname', "the hostname comes from the ENI's privateDnsName");

  field('dependsOn', (x, p) => (spec.dependsOn = dependsOnList(x, p, opts, td)));
  field('workingDirectory', (x, p) => {
    const s = asString(x, p);
    if (!s.startsWith('/')) fail(p, `must be an absolute path (got ${show(s)})`);
    spec.workingDirectory = s;
  });
  field('user', (x, p) => (spec.user = asString(x, p)));
  field('cpu', (x, p) => (spec.cpu = int(x, p, 0, Number.MAX_SAFE_INTEGER)));
  // ECS reads an absent cpu as 0 units, which the agent raises to 2 CPU shares; left unset, the engine would
  // give the container 1024. Today's own task format keeps "unset" (the engine's default).
  if (td && spec.cpu === undefined) spec.cpu = 0;
  field('memory', (x, p) => {
    spec.memory = int(x, p, 0, Number.MAX_SAFE_INTEGER);
    if (spec.memory < 6) fail(p, `must be at least 6 MiB, the least Docker accepts (got ${spec.memory})`);
  });
  field('memoryReservation', (x, p) => {
    spec.memoryReservation = int(x, p, 0, Number.MAX_SAFE_INTEGER);
    if (spec.memory !== undefined && spec.memoryReservation > spec.memory) {
      fail(p, `must not exceed memory (${spec.memory} MiB; got ${spec.memoryReservation})`);
    }
  });
  field('stopTimeout', (x, p) => (spec.stopTimeout = int(x, p, 0, 120)));
  field('dockerLabels', (x, p) => (spec.dockerLabels = dockerLabels(x, p)));
  field('privileged', (x, p) => {
    spec.privileged = asBoolean(x, p);
    if (spec.privileged && !opts.allowPrivileged) {
      fail(p, "privileged containers are not allowed by the daemon's configuration");
    }
  });
  field('linuxParameters', (x, p) => linuxParameters(x, p, opts, spec, rules));
  if (!td) return spec;

  awsvpcOnly('dnsServers', 'the name servers come from the ENI (domainNameServers)');
  awsvpcOnly('dnsSearchDomains', 'the search domains come from the ENI (domainName)');
  awsvpcOnly('extraHosts', 'the containers share the task\'s network namespace and its /etc/hosts');
  awsvpcOnly('disableNetworking', 'the task has its network namespace and ENI');

  field('mountPoints', (x, p) => (spec.mountPoints = mountPointList(x, p, rules.volumes)));
  field('volumesFrom', (x, p) => (spec.volumesFrom = volumesFromList(x, p)));
  field('healthCheck', (x, p) => (spec.healthCheck = healthCheck(x, p)));
  field('startTimeout', (x, p) => (spec.startTimeout = tdInteger(x, p, 1, 3600)));
  field('ulimits', (x, p) => (spec.ulimits = ulimitList(x, p)));
  for (const key of ['readonlyRootFilesystem', 'pseudoTerminal', 'interactive'] as const) {
    field(key, (x, p) => (spec[key] = asBoolean(x, p)));
  }
  field('dockerSecurityOptions', (x, p) => (spec.dockerSecurityOptions = securityOptions(x, p, opts)));
  field('logConfiguration', (x, p) => (spec.logConfiguration = logConfiguration(x, p, who, opts)));
  field('systemControls', (x, p) => (spec.systemControls = systemControls(x, p)));
  field('firelensConfiguration', (x, p) => {
    if (isEmptyValue(x)) return;
    const f = asObject(x, p);
    refuseUnknown(f, p, ['type', 'options'], 'a firelensConfiguration');
    tdEnum(required(f, 'type', p), `${p}.type`, ['fluentbit', 'fluentd'] as const);
    const options = get(f, 'options') === undefined ? {} : asStringMap(get(f, 'options'), `${p}.options`);
    // The aws-for-fluent-bit "init" image fetches its configuration from S3 named in these variables.
    const s3Env = spec.environment.find((e) => e.name.toLowerCase().startsWith('aws_fluent_bit_init_s3_'));
    if (s3Env) {
      fail(p, `${who} is a FireLens router whose configuration comes from Amazon S3 (environment ${s3Env.name}=${show(s3Env.value)}); awsvpcd has no S3 access`);
    }
    if (options['config-file-type'] === 's3') {
      fail(`${p}.options`, `${who} loads its FireLens configuration from Amazon S3 (${show(options['config-file-value'] ?? '')}); awsvpcd has no S3 access`);
    }
    c.warn(`${who}: firelensConfiguration is not applied: the log router runs, but awsvpcd generates no FireLens configuration for it`);
  });
  field('secrets', (x, p) => {
    if (isEmptyValue(x)) return;
    const entries = asArray(x, p).map((e, i) => {
      const s = asObject(e, `${p}[${i}]`);
      const n = get(s, 'name');
      return { name: typeof n === 'string' ? show(n) : `#${i}`, service: secretService(String(get(s, 'valueFrom') ?? '')) };
    });
    const services = [...new Set(entries.map((e) => e.service))].join(' and ');
    fail(p, `${who} takes secret${entries.length > 1 ? 's' : ''} ${entries.map((e) => e.name).join(', ')} from ${services}; awsvpcd has no access to AWS services (set the values in environment instead, or remove them)`);
  });
  field('repositoryCredentials', (x, p) => {
    if (isEmptyValue(x)) return;
    const r = asObject(x, p);
    refuseUnknown(r, p, ['credentialsParameter'], 'repositoryCredentials');
    const param = get(r, 'credentialsParameter');
    if (param === undefined || param === '') {
      c.warn(`${who}: repositoryCredentials has an empty credentialsParameter; the image is pulled with the host's own registry credentials`);
      return;
    }
    const s = asString(param, `${p}.credentialsParameter`);
    fail(`${p}.credentialsParameter`, `${who} pulls its image with registry credentials from AWS Secrets Manager (${show(s)}); awsvpcd has no Secrets Manager (log the host's engine in to the registry and remove repositoryCredentials)`);
  });
  field('environmentFiles', (x, p) => {
    if (isEmptyValue(x)) return;
    const values = asArray(x, p).map((e) => (isObj(e) && typeof e['value'] === 'string' ? e['value'] : ''));
    fail(p, `${who} reads environment files from Amazon S3 (${values.map((s) => show(s)).join(', ')}); awsvpcd has no S3 access (put the variables in environment)`);
  });
  field('resourceRequirements', (x, p) => {
    if (isEmptyValue(x)) return;
    const types = asArray(x, p).map((e) => (isObj(e) && typeof e['type'] === 'string' ? show(e['type']) : '?'));
    fail(p, `${who} requires ${types.join(', ')} resources (GPU / InferenceAccelerator), which awsvpcd does not assign`);
  });
  field('credentialSpecs', (x, p) => {
    if (isEmptyValue(x)) return;
    fail(p, `${who} needs a gMSA credential spec (Active Directory, from SSM Parameter Store or S3); awsvpcd has neither`);
  });
  field('versionConsistency', (x, p) => {
    const s = tdEnum(x, p, ['enabled', 'disabled'] as const);
    if (s === 'enabled') c.warn(`${who}: versionConsistency "enabled" is not applied: the image tag is resolved by the engine when the container is created, not pinned to a digest at launch`);
  });
  field('restartPolicy', (x, p) => {
    const r = asObject(x, p);
    refuseUnknown(r, p, ['enabled', 'ignoredExitCodes', 'restartAttemptPeriod'], 'a restartPolicy');
    const enabled = get(r, 'enabled');
    if (enabled !== undefined && asBoolean(enabled, `${p}.enabled`)) {
      fail(`${p}.enabled`, `${who}: container restart policies are not supported; awsvpcd stops the task when an essential container exits`);
    }
  });
  return spec;
}

function secretService(valueFrom: string): string {
  if (/^arn:[^:]*:secretsmanager:/.test(valueFrom)) return 'AWS Secrets Manager';
  if (/^arn:[^:]*:ssm:/.test(valueFrom) || /^\/|^[A-Za-z0-9_.-]+$/.test(valueFrom)) return 'SSM Parameter Store';
  return 'AWS Secrets Manager or SSM Parameter Store';
}

function imageReference(v: unknown, path: string, td: boolean): string {
  const s = asString(v, path);
  if (td && s === '') fail(path, 'is empty: an unrendered placeholder (a render step fills in the image before register-task-definition)');
  if (td && isPlaceholder(s)) placeholderFail(path, s, 'an image reference');
  if (s === '') fail(path, 'must not be empty');
  const bad = IMAGE_FORBIDDEN_RE.exec(s);
  if (bad) {
    fail(path, `must be a docker image reference without whitespace or shell metacharacters (found ${JSON.stringify(bad[0])})`);
  }
  const shape = `must be a docker image reference like [registry[:port]/]repository[:tag][@sha256:digest], with a lowercase repository (got ${show(s)})`;
  if (s.length > MAX_IMAGE_LENGTH) fail(path, shape);
  const m = IMAGE_RE.exec(s);
  if (!m) fail(path, shape);
  if (m[1]!.length > 255) fail(path, `image name must be at most 255 characters (got ${m[1]!.length})`);
  return s;
}

function environmentList(v: unknown, path: string, opts: ValidateOptions, td: boolean): KeyValue[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    unknownFields(o, p, ['name', 'value'], 'an environment entry', opts, td);
    const name = asString(required(o, 'name', p), `${p}.name`);
    if (!ENV_NAME_RE.test(name)) {
      fail(`${p}.name`, `must be an environment variable name: letters, digits and '_', not starting with a digit (got ${show(name)})`);
    }
    const value = asString(required(o, 'value', p), `${p}.value`);
    return { name, value };
  });
}

function portMappingList(v: unknown, path: string, opts: ValidateOptions, ports: Map<string, string>, td: boolean): PortMapping[] {
  const int = td ? tdInteger : asInteger;
  const known = td ? ['containerPort', 'hostPort', 'protocol', 'name', 'appProtocol', 'containerPortRange'] : ['containerPort', 'hostPort', 'protocol'];
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    unknownFields(o, p, known, 'a port mapping', opts, td);
    if (td && get(o, 'containerPortRange') !== undefined) {
      fail(`${p}.containerPortRange`, 'port ranges are not supported by awsvpcd; map each port with containerPort');
    }
    const containerPort = int(required(o, 'containerPort', p), `${p}.containerPort`, 1, 65535);
    const mapping: PortMapping = { containerPort, protocol: 'tcp' };
    const hostPortIn = get(o, 'hostPort');
    if (hostPortIn !== undefined) {
      const hostPort = int(hostPortIn, `${p}.hostPort`, 0, 65535);
      if (hostPort !== containerPort) fail(`${p}.hostPort`, `must equal containerPort (${containerPort}) in awsvpc mode`);
      mapping.hostPort = hostPort;
    }
    const protocolIn = get(o, 'protocol');
    if (protocolIn !== undefined) mapping.protocol = (td ? tdEnum : asEnum)(protocolIn, `${p}.protocol`, ['tcp', 'udp'] as const);
    if (td) {
      const nameIn = get(o, 'name');
      if (nameIn !== undefined) {
        mapping.name = asString(nameIn, `${p}.name`);
        if (!/^[a-z0-9](?:[a-z0-9-]{0,62})$/.test(mapping.name)) {
          fail(`${p}.name`, `must be up to 64 lowercase letters, digits and '-', starting with a letter or digit (got ${show(mapping.name)})`);
        }
      }
      const appIn = get(o, 'appProtocol');
      if (appIn !== undefined) mapping.appProtocol = tdEnum(appIn, `${p}.appProtocol`, ['http', 'http2', 'grpc'] as const);
    }
    const key = `${containerPort}/${mapping.protocol}`;
    const before = ports.get(key);
    if (before !== undefined) {
      fail(`${p}.containerPort`, `port ${key} is already mapped by ${before} (the task's containers share one network namespace)`);
    }
    ports.set(key, p);
    return mapping;
  });
}

function dependsOnList(v: unknown, path: string, opts: ValidateOptions, td: boolean): DependsOn[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    unknownFields(o, p, ['containerName', 'condition'], 'a dependsOn entry', opts, td);
    const containerName = asString(required(o, 'containerName', p), `${p}.containerName`);
    const condition: DependsOnCondition = (td ? tdEnum : asEnum)(required(o, 'condition', p), `${p}.condition`, DEPENDS_ON_CONDITIONS);
    return { containerName, condition };
  });
}

function dockerLabels(v: unknown, path: string): Record<string, string> {
  const o = asObject(v, path);
  const entries = Object.keys(o).map((key): [string, string] => {
    const p = `${path}[${JSON.stringify(key)}]`;
    if (key === '') fail(p, 'label keys must not be empty');
    if (key.includes('\0')) fail(p, 'label keys must not contain NUL characters');
    if (key.toLowerCase().startsWith(DAEMON_LABEL_PREFIX)) {
      fail(p, `label key ${show(key)} is reserved: keys starting with ${DAEMON_LABEL_PREFIX} are the daemon's own labels`);
    }
    return [key, asString(o[key], p)];
  });
  // fromEntries defines own properties, so a "__proto__" label stays a label.
  return Object.fromEntries(entries);
}

const LINUX_PARAMETERS_FIELDS = [
  'capabilities', 'devices', 'initProcessEnabled', 'sharedMemorySize', 'tmpfs', 'maxSwap', 'swappiness',
] as const;

function linuxParameters(v: unknown, path: string, opts: ValidateOptions, spec: ContainerSpec, rules: ContainerRules): void {
  const td = rules.format === 'taskDefinition';
  const { c } = rules;
  const o = asObject(v, path);
  unknownFields(o, path, td ? LINUX_PARAMETERS_FIELDS : ['capabilities'], 'linuxParameters', opts, td);
  c.check(() => (spec.capabilities = capabilities(o, path, opts, td)));
  if (!td) return;
  const field = (key: string, rule: (value: unknown, p: string) => void): void => {
    const value = get(o, key);
    if (value !== undefined) c.check(() => rule(value, `${path}.${key}`));
  };
  field('initProcessEnabled', (x, p) => (spec.initProcessEnabled = asBoolean(x, p)));
  field('sharedMemorySize', (x, p) => (spec.sharedMemorySize = tdInteger(x, p, 1, Number.MAX_SAFE_INTEGER)));
  field('tmpfs', (x, p) => (spec.tmpfs = tmpfsList(x, p)));
  field('devices', (x, p) => (spec.devices = deviceList(x, p, opts)));
  field('maxSwap', (x, p) => {
    spec.maxSwap = tdInteger(x, p, 0, Number.MAX_SAFE_INTEGER);
    if (spec.memory === undefined) fail(p, "needs the container's memory: the engine's swap limit is memory + maxSwap");
  });
  field('swappiness', (x, p) => (spec.swappiness = tdInteger(x, p, 0, 100)));
  if (spec.swappiness !== undefined && get(o, 'maxSwap') === undefined) {
    c.warn(`container ${show(spec.name)}: linuxParameters.swappiness (${spec.swappiness}) is ignored without maxSwap, as ECS ignores it; set maxSwap to apply it`);
  }
}

function capabilities(o: Obj, path: string, opts: ValidateOptions, td: boolean): ContainerSpec['capabilities'] {
  const out = { add: [] as string[], drop: [] as string[] };
  const capsIn = get(o, 'capabilities');
  if (capsIn === undefined) return out;
  const capsPath = `${path}.capabilities`;
  const caps = asObject(capsIn, capsPath);
  unknownFields(caps, capsPath, ['add', 'drop'], 'capabilities', opts, td);
  const allowed = new Set(opts.allowedCapabilities.map(normalizeCapability));
  for (const which of ['add', 'drop'] as const) {
    const listIn = get(caps, which);
    if (listIn === undefined) continue;
    const p = `${capsPath}.${which}`;
    asStringArray(listIn, p).forEach((raw, i) => {
      const cap = normalizeCapability(raw);
      if (cap !== 'ALL' && !LINUX_CAPABILITIES.has(cap)) fail(`${p}[${i}]`, `${show(raw)} is not a Linux capability`);
      if (which === 'add' && !allowed.has(cap) && !allowed.has('ALL')) {
        const list = allowed.size ? [...allowed].join(', ') : 'none';
        fail(`${p}[${i}]`, `adding capability ${cap} is not allowed by the daemon's configuration (allowed: ${list})`);
      }
      if (!out[which].includes(cap)) out[which].push(cap);
    });
  }
  return out;
}

function absolutePath(v: unknown, p: string): string {
  const s = asString(v, p);
  if (!s.startsWith('/')) fail(p, `must be an absolute path (got ${show(s)})`);
  if (s.split('/').includes('..')) fail(p, `must not contain '..' segments (got ${show(s)})`);
  if (/[\n\r,:]/.test(s)) fail(p, `must not contain newlines, ',' or ':' (got ${show(s)})`);
  return s;
}

function tmpfsList(v: unknown, path: string): TmpfsSpec[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    refuseUnknown(o, p, ['containerPath', 'size', 'mountOptions'], 'a tmpfs entry');
    const containerPath = absolutePath(required(o, 'containerPath', p), `${p}.containerPath`);
    const size = tdInteger(required(o, 'size', p), `${p}.size`, 1, Number.MAX_SAFE_INTEGER);
    const optsIn = get(o, 'mountOptions');
    const mountOptions = optsIn === undefined ? [] : asStringArray(optsIn, `${p}.mountOptions`);
    mountOptions.forEach((m, j) => {
      const [key = '', value] = m.split('=', 2);
      if (!TMPFS_OPTIONS.has(key) || (value !== undefined && !/^[A-Za-z0-9:._-]+$/.test(value))) {
        fail(`${p}.mountOptions[${j}]`, `${show(m)} is not a tmpfs mount option ECS accepts`);
      }
    });
    return { containerPath, size, mountOptions };
  });
}

function deviceList(v: unknown, path: string, opts: ValidateOptions): DeviceSpec[] {
  const allowed = opts.allowedDevices ?? [];
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    refuseUnknown(o, p, ['hostPath', 'containerPath', 'permissions'], 'a device');
    const hostPath = absolutePath(required(o, 'hostPath', p), `${p}.hostPath`);
    if (!allowed.includes(hostPath)) {
      fail(`${p}.hostPath`, `device ${show(hostPath)} is not allowed by the daemon's configuration (allowedDevices: ${allowed.length ? allowed.join(', ') : 'none'})`);
    }
    const cpIn = get(o, 'containerPath');
    const containerPath = cpIn === undefined ? hostPath : absolutePath(cpIn, `${p}.containerPath`);
    const permIn = get(o, 'permissions');
    const permissions =
      permIn === undefined
        ? (['read', 'write', 'mknod'] as DeviceSpec['permissions'])
        : asArray(permIn, `${p}.permissions`).map((x, j) => tdEnum(x, `${p}.permissions[${j}]`, ['read', 'write', 'mknod'] as const));
    return { hostPath, containerPath, permissions: [...new Set(permissions)] };
  });
}

function mountPointList(v: unknown, path: string, volumes: ReadonlyMap<string, VolumeSpec> | undefined): MountPointSpec[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    refuseUnknown(o, p, ['sourceVolume', 'containerPath', 'readOnly'], 'a mount point');
    const sourceVolume = asString(required(o, 'sourceVolume', p), `${p}.sourceVolume`);
    if (volumes && !volumes.has(sourceVolume)) {
      fail(`${p}.sourceVolume`, `no volume named ${show(sourceVolume)} in the task definition's volumes`);
    }
    const containerPath = absolutePath(required(o, 'containerPath', p), `${p}.containerPath`);
    const roIn = get(o, 'readOnly');
    return { sourceVolume, containerPath, readOnly: roIn === undefined ? false : asBoolean(roIn, `${p}.readOnly`) };
  });
}

function volumesFromList(v: unknown, path: string): VolumeFromSpec[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    refuseUnknown(o, p, ['sourceContainer', 'readOnly'], 'a volumesFrom entry');
    const sourceContainer = asString(required(o, 'sourceContainer', p), `${p}.sourceContainer`);
    const roIn = get(o, 'readOnly');
    return { sourceContainer, readOnly: roIn === undefined ? false : asBoolean(roIn, `${p}.readOnly`) };
  });
}

/** ECS's health check: its defaults (30 s, 5 s, 3, 0) and ranges, and Docker's three command forms. */
function healthCheck(v: unknown, path: string): HealthCheckSpec {
  const o = asObject(v, path);
  refuseUnknown(o, path, ['command', 'interval', 'timeout', 'retries', 'startPeriod'], 'a healthCheck');
  const cp = `${path}.command`;
  const command = asStringArray(required(o, 'command', path), cp);
  const kind = command[0] ?? '';
  if (kind === 'CMD-SHELL') {
    if (command.length !== 2 || command[1]!.trim() === '') fail(cp, 'CMD-SHELL takes exactly one shell command string: ["CMD-SHELL", "<command>"]');
  } else if (kind === 'CMD') {
    if (command.length < 2 || command[1] === '') fail(cp, 'CMD takes the program and its arguments: ["CMD", "<program>", ...]');
  } else if (kind === 'NONE') {
    if (command.length !== 1) fail(cp, 'NONE takes no arguments: ["NONE"]');
  } else {
    fail(`${cp}[0]`, `must be CMD-SHELL, CMD or NONE (got ${show(kind)}): a health check command is ["CMD-SHELL", "<command>"] or ["CMD", "<program>", ...]`);
  }
  const num = (key: string, dflt: number, min: 0 | 1, lo: number, hi: number): number => {
    const x = get(o, key);
    if (x === undefined) return dflt;
    const n = tdInteger(x, `${path}.${key}`, min, Number.MAX_SAFE_INTEGER);
    if (n < lo || n > hi) fail(`${path}.${key}`, `must be from ${lo} to ${hi} (got ${n}), as ECS allows`);
    return n;
  };
  return {
    command,
    intervalSec: num('interval', 30, 1, 5, 300),
    timeoutSec: num('timeout', 5, 1, 2, 60),
    retries: num('retries', 3, 1, 1, 10),
    startPeriodSec: num('startPeriod', 0, 0, 0, 300),
  };
}

function ulimitList(v: unknown, path: string): UlimitSpec[] {
  const seen = new Set<string>();
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    refuseUnknown(o, p, ['name', 'softLimit', 'hardLimit'], 'a ulimit');
    const name = tdEnum(required(o, 'name', p), `${p}.name`, ULIMIT_NAMES);
    if (seen.has(name)) fail(`${p}.name`, `ulimit ${name} is listed twice`);
    seen.add(name);
    const softLimit = tdInteger(required(o, 'softLimit', p), `${p}.softLimit`, 0, Number.MAX_SAFE_INTEGER);
    const hardLimit = tdInteger(required(o, 'hardLimit', p), `${p}.hardLimit`, 0, Number.MAX_SAFE_INTEGER);
    if (softLimit > hardLimit) fail(`${p}.softLimit`, `must not exceed hardLimit (${hardLimit}; got ${softLimit})`);
    return { name, softLimit, hardLimit };
  });
}

function securityOptions(v: unknown, path: string, opts: ValidateOptions): string[] {
  const allowed = opts.allowedSecurityOptions ?? [];
  return asStringArray(v, path).map((s, i) => {
    const key = s.split(/[:=]/, 1)[0]!;
    if (!allowed.includes(s) && !allowed.includes(key)) {
      fail(`${path}[${i}]`, `security option ${show(s)} is not allowed by the daemon's configuration (allowedSecurityOptions: ${allowed.length ? allowed.join(', ') : 'none'})`);
    }
    return s;
  });
}

function logConfiguration(v: unknown, path: string, who: string, opts: ValidateOptions): LogConfigSpec {
  const o = asObject(v, path);
  refuseUnknown(o, path, ['logDriver', 'options', 'secretOptions'], 'a logConfiguration');
  const driver = tdEnum(required(o, 'logDriver', path), `${path}.logDriver`, LOG_DRIVERS);
  const optsIn = get(o, 'options');
  const options = optsIn === undefined ? {} : asStringMap(optsIn, `${path}.options`);
  const secretOptions = get(o, 'secretOptions');
  if (!isEmptyValue(secretOptions)) {
    const names = asArray(secretOptions, `${path}.secretOptions`).map((e) => (isObj(e) && typeof e['name'] === 'string' ? show(e['name']) : '?'));
    fail(`${path}.secretOptions`, `${who} takes log driver options ${names.join(', ')} from AWS Secrets Manager / SSM Parameter Store; awsvpcd has no access to AWS services`);
  }
  if (driver === 'awslogs' && !options['awslogs-group']) {
    fail(`${path}.options`, `${who}: the awslogs driver requires the awslogs-group option (ECS could not start this container either)`);
  }
  if (driver === 'awslogs' || driver === 'awsfirelens') {
    return { logDriver: opts.localLogDriver ?? 'json-file', options: {}, requested: driver };
  }
  return { logDriver: driver, options };
}

function systemControls(v: unknown, path: string): SysctlSpec[] {
  const seen = new Set<string>();
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    refuseUnknown(o, p, ['namespace', 'value'], 'a systemControls entry');
    const namespace = asString(required(o, 'namespace', p), `${p}.namespace`);
    if (!SYSCTL_RE.test(namespace) || namespace.includes('..')) {
      fail(`${p}.namespace`, `${show(namespace)} is not a namespaced sysctl a container may set (net.*, kernel.msg*/sem/shm*, fs.mqueue.*)`);
    }
    if (seen.has(namespace)) fail(`${p}.namespace`, `${namespace} is set twice`);
    seen.add(namespace);
    const value = asString(required(o, 'value', p), `${p}.value`);
    if (value === '' || /[\n\r]/.test(value)) fail(`${p}.value`, `must be a non-empty single-line value (got ${show(value)})`);
    return { namespace, value };
  });
}
