// The container rules: each container's fields, and the rules across containers (unique names, one
// mapping per port in the shared namespace, at least one essential, dependsOn targets without cycles).

import type { ContainerSpec, DependsOn, DependsOnCondition, KeyValue, PortMapping } from '../../model.js';
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
  reportUnknown,
  required,
  show,
} from './readers.js';

export const MAX_CONTAINERS = 10;
export const DAEMON_LABEL_PREFIX = 'com.awsvpcd.';

const CONTAINER_FIELDS = [
  'name', 'image', 'essential', 'command', 'entryPoint', 'environment', 'portMappings', 'links', 'hostname',
  'dependsOn', 'workingDirectory', 'user', 'cpu', 'memory', 'memoryReservation', 'stopTimeout', 'dockerLabels',
  'privileged', 'linuxParameters',
] as const;

const DEPENDS_ON_CONDITIONS = ['START', 'COMPLETE', 'SUCCESS', 'HEALTHY'] as const;

export function containerSpecs(v: unknown, path: string, opts: ValidateOptions): ContainerSpec[] {
  const list = asArray(v, path);
  if (list.length < 1 || list.length > MAX_CONTAINERS) {
    fail(path, `a task has 1 to ${MAX_CONTAINERS} containers (got ${list.length})`);
  }
  const indexByName = new Map<string, number>();
  // Containers share the task's network namespace, so a port can be mapped once per task.
  const ports = new Map<string, string>();
  const containers = list.map((e, i) => {
    const c = containerSpec(e, `${path}[${i}]`, opts, ports);
    const before = indexByName.get(c.name);
    if (before !== undefined) fail(`${path}[${i}].name`, `duplicate container name ${show(c.name)} (also ${path}[${before}])`);
    indexByName.set(c.name, i);
    return c;
  });

  if (!containers.some((c) => c.essential)) {
    fail(path, 'at least one container must be essential (essential defaults to true)');
  }

  containers.forEach((c, i) => {
    c.dependsOn.forEach((d, j) => {
      const p = `${path}[${i}].dependsOn[${j}]`;
      if (d.containerName === c.name) fail(`${p}.containerName`, 'a container cannot depend on itself');
      const target = indexByName.get(d.containerName);
      if (target === undefined) fail(`${p}.containerName`, `no container named ${show(d.containerName)} in this task`);
      // As in ECS: the task stops when an essential container exits, so nothing can wait for that.
      if ((d.condition === 'COMPLETE' || d.condition === 'SUCCESS') && containers[target]!.essential) {
        fail(
          `${p}.condition`,
          `${d.condition} cannot be used on essential container ${show(d.containerName)}: the task stops when an essential container exits`,
        );
      }
    });
  });

  const cycle = dependencyCycle(containers);
  if (cycle) fail(`${path}[${indexByName.get(cycle[0]!)}].dependsOn`, `dependency cycle ${cycle.join(' -> ')}`);
  return containers;
}

/** The first cycle in dependsOn (by container order), as a path that ends where it starts. */
function dependencyCycle(containers: ContainerSpec[]): string[] | undefined {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const d of byName.get(name)?.dependsOn ?? []) {
      const s = state.get(d.containerName);
      if (s === 'visiting') return [...stack.slice(stack.indexOf(d.containerName)), d.containerName];
      if (s === undefined) {
        const found = visit(d.containerName);
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

function containerSpec(v: unknown, path: string, opts: ValidateOptions, ports: Map<string, string>): ContainerSpec {
  const o = asObject(v, path);
  reportUnknown(o, path, CONTAINER_FIELDS, opts);
  const at = (key: string): string => child(path, key);
  const optional = (key: string): unknown => get(o, key);

  const name = asString(required(o, 'name', path), at('name'));
  if (!CONTAINER_NAME_RE.test(name)) fail(at('name'), `must be 1-255 letters, digits, '_' or '-' (got ${show(name)})`);

  const image = imageReference(required(o, 'image', path), at('image'));

  const essentialIn = optional('essential');
  const essential = essentialIn === undefined ? true : asBoolean(essentialIn, at('essential'));

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

  const command = optional('command');
  if (command !== undefined) spec.command = asStringArray(command, at('command'));
  const entryPoint = optional('entryPoint');
  if (entryPoint !== undefined) spec.entryPoint = asStringArray(entryPoint, at('entryPoint'));

  const environment = optional('environment');
  if (environment !== undefined) spec.environment = environmentList(environment, at('environment'), opts);

  const portMappings = optional('portMappings');
  if (portMappings !== undefined) spec.portMappings = portMappingList(portMappings, at('portMappings'), opts, ports);

  if (optional('links') !== undefined) {
    fail(at('links'), 'not allowed in awsvpc mode: the containers share one network namespace and reach each other on localhost');
  }
  if (optional('hostname') !== undefined) {
    fail(at('hostname'), "not allowed in awsvpc mode: the hostname comes from the ENI's privateDnsName");
  }

  const dependsOn = optional('dependsOn');
  if (dependsOn !== undefined) spec.dependsOn = dependsOnList(dependsOn, at('dependsOn'), opts);

  const workingDirectory = optional('workingDirectory');
  if (workingDirectory !== undefined) {
    const s = asString(workingDirectory, at('workingDirectory'));
    if (!s.startsWith('/')) fail(at('workingDirectory'), `must be an absolute path (got ${show(s)})`);
    spec.workingDirectory = s;
  }

  const user = optional('user');
  if (user !== undefined) spec.user = asString(user, at('user'));

  const cpu = optional('cpu');
  if (cpu !== undefined) spec.cpu = asInteger(cpu, at('cpu'), 0, Number.MAX_SAFE_INTEGER);
  const memory = optional('memory');
  if (memory !== undefined) {
    spec.memory = asInteger(memory, at('memory'), 0, Number.MAX_SAFE_INTEGER);
    if (spec.memory < 6) fail(at('memory'), `must be at least 6 MiB, the least Docker accepts (got ${spec.memory})`);
  }
  const memoryReservation = optional('memoryReservation');
  if (memoryReservation !== undefined) {
    spec.memoryReservation = asInteger(memoryReservation, at('memoryReservation'), 0, Number.MAX_SAFE_INTEGER);
    if (spec.memory !== undefined && spec.memoryReservation > spec.memory) {
      fail(at('memoryReservation'), `must not exceed memory (${spec.memory} MiB; got ${spec.memoryReservation})`);
    }
  }

  const stopTimeout = optional('stopTimeout');
  if (stopTimeout !== undefined) spec.stopTimeout = asInteger(stopTimeout, at('stopTimeout'), 0, 120);

  const labels = optional('dockerLabels');
  if (labels !== undefined) spec.dockerLabels = dockerLabels(labels, at('dockerLabels'));

  const privileged = optional('privileged');
  if (privileged !== undefined) {
    spec.privileged = asBoolean(privileged, at('privileged'));
    if (spec.privileged && !opts.allowPrivileged) {
      fail(at('privileged'), "privileged containers are not allowed by the daemon's configuration");
    }
  }

  const linuxParameters = optional('linuxParameters');
  if (linuxParameters !== undefined) {
    spec.capabilities = capabilities(linuxParameters, at('linuxParameters'), opts);
  }
  return spec;
}

function imageReference(v: unknown, path: string): string {
  const s = asString(v, path);
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

function environmentList(v: unknown, path: string, opts: ValidateOptions): KeyValue[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    reportUnknown(o, p, ['name', 'value'], opts);
    const name = asString(required(o, 'name', p), `${p}.name`);
    if (!ENV_NAME_RE.test(name)) {
      fail(`${p}.name`, `must be an environment variable name: letters, digits and '_', not starting with a digit (got ${show(name)})`);
    }
    const value = asString(required(o, 'value', p), `${p}.value`);
    return { name, value };
  });
}

function portMappingList(v: unknown, path: string, opts: ValidateOptions, ports: Map<string, string>): PortMapping[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    reportUnknown(o, p, ['containerPort', 'hostPort', 'protocol'], opts);
    const containerPort = asInteger(required(o, 'containerPort', p), `${p}.containerPort`, 1, 65535);
    const mapping: PortMapping = { containerPort, protocol: 'tcp' };
    const hostPortIn = get(o, 'hostPort');
    if (hostPortIn !== undefined) {
      const hostPort = asInteger(hostPortIn, `${p}.hostPort`, 0, 65535);
      if (hostPort !== containerPort) fail(`${p}.hostPort`, `must equal containerPort (${containerPort}) in awsvpc mode`);
      mapping.hostPort = hostPort;
    }
    const protocolIn = get(o, 'protocol');
    if (protocolIn !== undefined) mapping.protocol = asEnum(protocolIn, `${p}.protocol`, ['tcp', 'udp'] as const);
    const key = `${containerPort}/${mapping.protocol}`;
    const before = ports.get(key);
    if (before !== undefined) {
      fail(`${p}.containerPort`, `port ${key} is already mapped by ${before} (the task's containers share one network namespace)`);
    }
    ports.set(key, p);
    return mapping;
  });
}

function dependsOnList(v: unknown, path: string, opts: ValidateOptions): DependsOn[] {
  return asArray(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = asObject(e, p);
    reportUnknown(o, p, ['containerName', 'condition'], opts);
    const containerName = asString(required(o, 'containerName', p), `${p}.containerName`);
    const condition: DependsOnCondition = asEnum(required(o, 'condition', p), `${p}.condition`, DEPENDS_ON_CONDITIONS);
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

function capabilities(v: unknown, path: string, opts: ValidateOptions): ContainerSpec['capabilities'] {
  const o = asObject(v, path);
  reportUnknown(o, path, ['capabilities'], opts);
  const out = { add: [] as string[], drop: [] as string[] };
  const capsIn = get(o, 'capabilities');
  if (capsIn === undefined) return out;
  const capsPath = `${path}.capabilities`;
  const caps = asObject(capsIn, capsPath);
  reportUnknown(caps, capsPath, ['add', 'drop'], opts);
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
