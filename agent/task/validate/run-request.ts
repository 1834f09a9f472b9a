// A run request: an ECS task definition (RegisterTaskDefinition input, or describe-task-definition output)
// plus what RunTask adds (the ENI attachment, networkConfiguration, overrides, startedBy/group/tags, an
// optional task ARN). Every field is checked on its own, so all the reasons a definition cannot run are
// reported together; the result is the same TaskSpec today's task document gives.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { ValidationError } from '../../errors.js';
import type { AwsvpcConfiguration, ContainerSpec, DesiredStatus, EniSpec, KeyValue, TaskDefinitionInfo, TaskSpec, VolumeSpec } from '../../model.js';
import { collector, throwCollected, type Collector } from './collect.js';
import { containerSpecs } from './containers.js';
import { eniSpec } from './eni.js';
import type { ValidateOptions } from './options.js';
import { ENV_NAME_RE, FAMILY_RE, TASK_ID_RE } from './patterns.js';
import { asArray, asBoolean, asInteger, asObject, asString, asStringArray, child, fail, get, isObj, required, show, typeName, type Obj } from './readers.js';
import { MAX_WAIT_TIMEOUT_MS, awsvpcConfig, taskArnAndId } from './task.js';
import { isEmptyValue, isPlaceholder, placeholderFail, refuseUnknown, tdEnum, tdInteger } from './taskdef-readers.js';
import { volumeSpecs } from './volumes.js';

export interface RunRequestHint {
  /**
   * The spool file the request came from: without a taskArn the task id is its name plus 8 hex of the request
   * (taskIdFromFileName), so a file rewritten with other content is another task.
   */
  fileName?: string;
}

export const RUN_REQUEST_FIELDS = [
  'taskDefinition', 'taskArn', 'elasticNetworkInterfaces', 'networkConfiguration', 'overrides', 'startedBy', 'group',
  'tags', 'waitTimeoutMs', 'desiredStatus',
] as const;

/** RegisterTaskDefinition's input fields; each has a decision in taskdef-fields.ts. */
export const TASK_DEFINITION_FIELDS = [
  'family', 'taskRoleArn', 'executionRoleArn', 'networkMode', 'containerDefinitions', 'volumes', 'placementConstraints',
  'requiresCompatibilities', 'cpu', 'memory', 'tags', 'pidMode', 'ipcMode', 'proxyConfiguration', 'inferenceAccelerators',
  'ephemeralStorage', 'runtimePlatform', 'enableFaultInjection',
] as const;

/** What describe-task-definition adds: accepted and ignored (revision is kept when family is known). */
export const READ_ONLY_FIELDS = [
  'taskDefinitionArn', 'revision', 'status', 'compatibilities', 'requiresAttributes', 'registeredAt', 'registeredBy',
  'deregisteredAt',
] as const;

const CONTAINER_OVERRIDE_FIELDS = ['name', 'command', 'environment', 'cpu', 'memory', 'memoryReservation'] as const;

/** ECS's names for the host's CPU architecture. */
export function hostCpuArchitecture(arch: string = process.arch): string {
  return arch === 'arm64' ? 'ARM64' : arch === 'x64' ? 'X86_64' : arch.toUpperCase();
}

/** Validates a run request and throws every broken rule (ValidationErrors when more than one). */
export function validateRunRequest(input: unknown, opts: ValidateOptions, hint: RunRequestHint = {}): TaskSpec {
  const c = collector(true);
  const spec = runRequest(input, opts, hint, c);
  throwCollected(c);
  return spec!;
}

/** Every broken rule of a run request, in document order (empty when it is valid), and the spec when it is. */
export function validateRunRequestAll(
  input: unknown,
  opts: ValidateOptions,
  hint: RunRequestHint = {},
): { spec?: TaskSpec; errors: ValidationError[] } {
  const c = collector(true);
  const spec = runRequest(input, opts, hint, c);
  return c.errors.length === 0 && spec ? { spec, errors: [] } : { errors: c.errors };
}

const UNKNOWN = 'unknown field: not part of a run request (as the AWS CLI refuses unknown parameters)';

function refuseEachUnknown(o: Obj, p: string, known: readonly string[], what: string, c: Collector): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) c.check(() => fail(child(p, key), `unknown field: not part of ${what} (as the AWS CLI refuses unknown parameters)`));
  }
}

function runRequest(input: unknown, opts: ValidateOptions, hint: RunRequestHint, c: Collector): TaskSpec | undefined {
  return c.check(() => {
    if (!isObj(input)) fail('', `run request must be a JSON object (got ${typeName(input)})`);
    return build(input, opts, hint, c);
  });
}

function build(input: Obj, opts: ValidateOptions, hint: RunRequestHint, c: Collector): TaskSpec | undefined {
  refuseEachUnknown(input, '', RUN_REQUEST_FIELDS, 'a run request', c);
  // Today's readers report unknown keys through onUnknownField; in a run request that is a refusal.
  const strict: ValidateOptions = { ...opts, onUnknownField: (p) => fail(p, UNKNOWN) };
  const warnings: string[] = [];

  const arnIn = get(input, 'taskArn');
  const arn = arnIn === undefined ? undefined : c.check(() => taskArnAndId(arnIn, 'taskArn'));

  const desiredIn = get(input, 'desiredStatus');
  const desiredStatus: DesiredStatus =
    (desiredIn === undefined ? undefined : c.check(() => tdEnum(desiredIn, 'desiredStatus', ['RUNNING', 'STOPPED'] as const))) ?? 'RUNNING';

  let awsvpcConfiguration: AwsvpcConfiguration | undefined;
  const netConfIn = get(input, 'networkConfiguration');
  if (netConfIn !== undefined) {
    c.check(() => {
      const netConf = asObject(netConfIn, 'networkConfiguration');
      refuseUnknown(netConf, 'networkConfiguration', ['awsvpcConfiguration'], 'a networkConfiguration');
      const awsvpcIn = get(netConf, 'awsvpcConfiguration');
      if (awsvpcIn !== undefined) awsvpcConfiguration = awsvpcConfig(awsvpcIn, 'networkConfiguration.awsvpcConfiguration', strict);
    });
  }

  const waitIn = get(input, 'waitTimeoutMs');
  const waitTimeoutMs =
    (waitIn === undefined ? undefined : c.check(() => tdInteger(waitIn, 'waitTimeoutMs', 1, MAX_WAIT_TIMEOUT_MS))) ?? opts.defaultWaitTimeoutMs;

  const eni = c.check(() => {
    const enisIn = get(input, 'elasticNetworkInterfaces');
    if (enisIn === undefined) fail('elasticNetworkInterfaces', 'is required (a task has exactly one elastic network interface)');
    const enis = asArray(enisIn, 'elasticNetworkInterfaces');
    if (enis.length !== 1) fail('elasticNetworkInterfaces', `a task has exactly one elastic network interface (got ${enis.length})`);
    return eniSpec(enis[0], 'elasticNetworkInterfaces[0]', strict);
  });

  const info: TaskDefinitionInfo = {};
  const startedByIn = get(input, 'startedBy');
  if (startedByIn !== undefined) {
    c.check(() => {
      const s = asString(startedByIn, 'startedBy');
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(s)) fail('startedBy', `must be 1-128 letters, digits, '_' or '-', as RunTask allows (got ${show(s)})`);
      info.startedBy = s;
    });
  }
  const groupIn = get(input, 'group');
  if (groupIn !== undefined) {
    c.check(() => {
      const s = asString(groupIn, 'group');
      if (!/^[A-Za-z0-9_:.-]{1,255}$/.test(s)) fail('group', `must be 1-255 letters, digits, '_', ':', '.' or '-' (got ${show(s)})`);
      info.group = s;
    });
  }
  const tagsIn = get(input, 'tags');
  const requestTags = tagsIn === undefined ? undefined : c.check(() => tagList(tagsIn, 'tags'));

  // The task definition, unwrapped from describe-task-definition output when it comes that way.
  const def = c.check(() => {
    let td = asObject(required(input, 'taskDefinition', ''), 'taskDefinition');
    let p = 'taskDefinition';
    let wrapperTags: Array<{ key: string; value: string }> | undefined;
    if (Object.hasOwn(td, 'taskDefinition')) {
      refuseEachUnknown(td, p, ['taskDefinition', 'tags'], 'describe-task-definition output', c);
      const t = get(td, 'tags');
      if (t !== undefined) wrapperTags = c.check(() => tagList(t, `${p}.tags`));
      td = asObject(td['taskDefinition'], `${p}.taskDefinition`);
      p = `${p}.taskDefinition`;
    }
    return { td, p, wrapperTags };
  });
  if (!def) return undefined;
  const { td, p: tdPath, wrapperTags } = def;
  const at = (key: string): string => child(tdPath, key);
  refuseEachUnknown(td, tdPath, [...TASK_DEFINITION_FIELDS, ...READ_ONLY_FIELDS], 'an ECS task definition', c);

  const family = c.check(() => {
    const s = asString(required(td, 'family', tdPath), at('family'));
    if (isPlaceholder(s)) placeholderFail(at('family'), s, 'a family name');
    if (!FAMILY_RE.test(s)) fail(at('family'), `must be 1-255 letters, digits, '_' or '-' (got ${show(s)})`);
    return s;
  });
  const revisionIn = get(td, 'revision');
  const revision = revisionIn === undefined ? undefined : c.check(() => asInteger(revisionIn, at('revision'), 1, Number.MAX_SAFE_INTEGER));

  c.check(() => {
    const modeIn = get(td, 'networkMode');
    if (modeIn === undefined) {
      fail(at('networkMode'), 'is absent, which ECS reads as "bridge"; awsvpcd runs awsvpc tasks only (set "networkMode": "awsvpc")');
    }
    const mode = asString(modeIn, at('networkMode'));
    if (isPlaceholder(mode)) placeholderFail(at('networkMode'), mode, '"awsvpc"');
    if (mode !== 'awsvpc') {
      fail(at('networkMode'), `${show(mode)}: ECS refuses a network configuration for this mode; awsvpcd runs awsvpc tasks only`);
    }
  });

  const compatIn = get(td, 'requiresCompatibilities');
  if (compatIn !== undefined) {
    c.check(() => {
      const list = asArray(compatIn, at('requiresCompatibilities')).map((e, i) =>
        tdEnum(e, `${at('requiresCompatibilities')}[${i}]`, ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] as const),
      );
      if (list.length > 0 && !list.includes('EC2') && !list.includes('FARGATE')) {
        fail(at('requiresCompatibilities'), `${list.join(', ')} only: awsvpc tasks run on EC2 or FARGATE capacity, which this host stands in for`);
      }
      if (list.length > 0) info.requiresCompatibilities = list;
    });
  }

  const platformIn = get(td, 'runtimePlatform');
  if (platformIn !== undefined) {
    c.check(() => {
      const rp = asObject(platformIn, at('runtimePlatform'));
      refuseUnknown(rp, at('runtimePlatform'), ['cpuArchitecture', 'operatingSystemFamily'], 'a runtimePlatform');
      const osIn = get(rp, 'operatingSystemFamily');
      if (osIn !== undefined) {
        const os = asString(osIn, `${at('runtimePlatform')}.operatingSystemFamily`);
        if (isPlaceholder(os)) placeholderFail(`${at('runtimePlatform')}.operatingSystemFamily`, os, 'LINUX');
        if (os !== 'LINUX') fail(`${at('runtimePlatform')}.operatingSystemFamily`, `${show(os)} does not match this host, which runs LINUX containers`);
      }
      const archIn = get(rp, 'cpuArchitecture');
      if (archIn !== undefined) {
        const arch = tdEnum(archIn, `${at('runtimePlatform')}.cpuArchitecture`, ['X86_64', 'ARM64'] as const);
        const host = opts.hostCpuArchitecture ?? hostCpuArchitecture();
        if (arch !== host) fail(`${at('runtimePlatform')}.cpuArchitecture`, `${arch} does not match this host's CPU architecture (${host})`);
      }
    });
  }

  let cpu = get(td, 'cpu') === undefined ? undefined : c.check(() => taskSize(get(td, 'cpu'), at('cpu'), 'cpu'));
  let memory = get(td, 'memory') === undefined ? undefined : c.check(() => taskSize(get(td, 'memory'), at('memory'), 'memory'));

  const namespaceMode = <T extends string>(key: 'pidMode' | 'ipcMode', values: readonly T[]): T | undefined => {
    const v = get(td, key);
    if (v === undefined || v === '') return undefined;
    return c.check(() => {
      const mode = tdEnum(v, at(key), values);
      if (mode === 'host' && !opts.allowPrivileged) {
        fail(at(key), `"host" shares the host's ${key === 'pidMode' ? 'process' : 'IPC'} namespace, which the daemon's configuration does not allow (allowPrivileged)`);
      }
      return mode;
    });
  };
  const pidMode = namespaceMode('pidMode', ['host', 'task'] as const);
  const ipcMode = namespaceMode('ipcMode', ['host', 'task', 'none'] as const);

  for (const key of ['taskRoleArn', 'executionRoleArn'] as const) {
    const v = get(td, key);
    if (v === undefined) continue;
    c.check(() => {
      const s = asString(v, at(key));
      if (s === '') return;
      warnings.push(
        key === 'taskRoleArn'
          ? `taskRoleArn ${show(s)}: no credentials endpoint serves the task, so its containers get no AWS credentials from the role`
          : `executionRoleArn ${show(s)}: not used; images are pulled with the host engine's own registry credentials and nothing is fetched from AWS for the task`,
      );
    });
  }

  const placementIn = get(td, 'placementConstraints');
  if (placementIn !== undefined) {
    c.check(() => {
      const list = asArray(placementIn, at('placementConstraints'));
      list.forEach((e, i) => {
        const pc = asObject(e, `${at('placementConstraints')}[${i}]`);
        refuseUnknown(pc, `${at('placementConstraints')}[${i}]`, ['type', 'expression'], 'a placement constraint');
      });
      if (list.length > 0) warnings.push(`placementConstraints: not evaluated (${list.length} constraint${list.length > 1 ? 's' : ''}); the task runs on this host`);
    });
  }

  const proxyIn = get(td, 'proxyConfiguration');
  if (!isEmptyValue(proxyIn)) {
    c.check(() => {
      const px = asObject(proxyIn, at('proxyConfiguration'));
      const type = typeof px['type'] === 'string' ? ` ${show(px['type'])}` : '';
      fail(at('proxyConfiguration'), `the${type} proxy configuration needs AWS App Mesh and the ECS agent's traffic redirection; awsvpcd has neither (remove it)`);
    });
  }
  const accelIn = get(td, 'inferenceAccelerators');
  if (!isEmptyValue(accelIn)) {
    c.check(() => {
      asArray(accelIn, at('inferenceAccelerators'));
      fail(at('inferenceAccelerators'), 'Amazon Elastic Inference accelerators are not available to awsvpcd tasks (remove them)');
    });
  }
  const faultIn = get(td, 'enableFaultInjection');
  if (faultIn !== undefined) {
    c.check(() => {
      if (asBoolean(faultIn, at('enableFaultInjection'))) {
        warnings.push('enableFaultInjection: no fault injection endpoint serves the task; the setting has no effect');
      }
    });
  }
  const ephemeralIn = get(td, 'ephemeralStorage');
  if (ephemeralIn !== undefined) {
    c.check(() => {
      const es = asObject(ephemeralIn, at('ephemeralStorage'));
      refuseUnknown(es, at('ephemeralStorage'), ['sizeInGiB'], 'ephemeralStorage');
      const size = tdInteger(required(es, 'sizeInGiB', at('ephemeralStorage')), `${at('ephemeralStorage')}.sizeInGiB`, 1, 200);
      if (size < 21) fail(`${at('ephemeralStorage')}.sizeInGiB`, `must be from 21 to 200, as ECS allows (got ${size})`);
      warnings.push(`ephemeralStorage: ${size} GiB is a Fargate setting; containers use the engine's storage on this host`);
    });
  }
  const tdTagsIn = get(td, 'tags');
  const tdTags = tdTagsIn === undefined ? undefined : c.check(() => tagList(tdTagsIn, at('tags')));

  const volumesIn = get(td, 'volumes');
  const volumes = (volumesIn === undefined ? undefined : c.check(() => volumeSpecs(volumesIn, at('volumes'), opts, c))) ?? [];
  const volumeMap = new Map<string, VolumeSpec>(volumes.map((v) => [v.name, v]));
  const containerRules = { format: 'taskDefinition' as const, c, volumes: volumeMap };
  // A volume that failed its own rules is still a name the mount points may use.
  if (Array.isArray(volumesIn)) {
    for (const v of volumesIn) {
      if (isObj(v) && typeof v['name'] === 'string' && !volumeMap.has(v['name'])) volumeMap.set(v['name'], { name: v['name'], kind: 'scratch' });
    }
  }
  const containers = c.check(() => containerSpecs(required(td, 'containerDefinitions', tdPath), at('containerDefinitions'), opts, containerRules));

  const overridesIn = get(input, 'overrides');
  if (overridesIn !== undefined && containers) {
    c.check(() => {
      const o = asObject(overridesIn, 'overrides');
      refuseEachUnknown(o, 'overrides', ['containerOverrides', 'cpu', 'memory'], 'overrides', c);
      if (get(o, 'cpu') !== undefined) cpu = c.check(() => taskSize(get(o, 'cpu'), 'overrides.cpu', 'cpu')) ?? cpu;
      if (get(o, 'memory') !== undefined) memory = c.check(() => taskSize(get(o, 'memory'), 'overrides.memory', 'memory')) ?? memory;
      const listIn = get(o, 'containerOverrides');
      if (listIn !== undefined) {
        asArray(listIn, 'overrides.containerOverrides').forEach((e, i) => c.check(() => containerOverride(e, `overrides.containerOverrides[${i}]`, containers, c)));
      }
    });
  }

  if (containers) {
    if (cpu !== undefined) {
      const sum = containers.reduce((n, x) => n + (x.cpu ?? 0), 0);
      if (sum > cpu) c.check(() => fail(at('cpu'), `the containers' cpu adds up to ${sum} units, more than the task's ${cpu}`));
    }
    if (memory !== undefined) {
      containers.forEach((x, i) => {
        const need = x.memory ?? x.memoryReservation ?? 0;
        if (need > memory!) {
          c.check(() => fail(`${at('containerDefinitions')}[${i}].${x.memory !== undefined ? 'memory' : 'memoryReservation'}`, `${need} MiB is more than the task's memory (${memory} MiB)`));
        }
      });
    }
  }

  if (c.errors.length > 0 || !eni || !containers || family === undefined) return undefined;

  const { partition, region, account } = arnParts(eni);
  let taskArn: string;
  let taskId: string;
  if (arn) {
    ({ taskArn, taskId } = arn);
  } else {
    // Derived from the whole request except desiredStatus (waitTimeoutMs and overrides included): the same
    // request is the same task; a spool file adds its name (taskIdFromFileName).
    taskId = hint.fileName !== undefined ? taskIdFromFileName(hint.fileName, input) : `td-${requestHash(input).slice(0, 32)}`;
    taskArn = `arn:${partition}:ecs:${region}:${account}:task/default/${taskId}`;
  }
  // describe-task-definition output names its own ARN: kept when it is this family and revision (it says
  // which account registered it); otherwise one is made in the ENI's partition, region and account.
  const ownArn = get(td, 'taskDefinitionArn');
  const ownArnRe = /^arn:aws[a-z-]*:ecs:[a-z]{2}(?:-[a-z]+)+-\d{1,2}:\d{12}:task-definition\/([A-Za-z0-9_-]{1,255}):(\d{1,10})$/;
  const own = typeof ownArn === 'string' ? ownArnRe.exec(ownArn) : null;
  if (own && own[1] === family && (revision === undefined || Number(own[2]) === revision)) info.taskDefinitionArn = ownArn as string;
  else if (revision !== undefined) info.taskDefinitionArn = `arn:${partition}:ecs:${region}:${account}:task-definition/${family}:${revision}`;
  const tags = requestTags ?? wrapperTags ?? tdTags;
  if (tags && tags.length > 0) info.tags = tags;

  const spec: TaskSpec = { taskArn, taskId, family, networkMode: 'awsvpc', desiredStatus, eni, waitTimeoutMs, containers };
  if (revision !== undefined) spec.revision = revision;
  if (awsvpcConfiguration !== undefined) spec.awsvpcConfiguration = awsvpcConfiguration;
  if (volumes.length > 0) spec.volumes = volumes;
  if (cpu !== undefined) spec.cpu = cpu;
  if (memory !== undefined) spec.memory = memory;
  if (pidMode !== undefined) spec.pidMode = pidMode;
  if (ipcMode !== undefined) spec.ipcMode = ipcMode;
  spec.warnings = [...warnings, ...c.warnings];
  spec.definition = info;
  return spec;
}

/** Task cpu (units) or memory (MiB): a number, an integer string, or ECS's unit strings ("1 vCPU", ".5 GB"). */
export function taskSize(v: unknown, p: string, which: 'cpu' | 'memory'): number {
  let n: number;
  if (typeof v === 'number') {
    n = v;
  } else if (typeof v === 'string') {
    if (isPlaceholder(v)) placeholderFail(p, v, `a task ${which} value`);
    const unit = which === 'cpu' ? 'vcpu' : 'gb';
    const m = new RegExp(`^\\s*(\\d+(?:\\.\\d+)?|\\.\\d+)\\s*(${unit})?\\s*$`, 'i').exec(v);
    if (!m) {
      fail(p, `must be ${which === 'cpu' ? 'CPU units or a vCPU count like "1 vCPU"' : 'MiB or a size like "2 GB"'} (got ${show(v)})`);
    }
    n = m[2] ? Number(m[1]) * 1024 : Number(m[1]);
  } else {
    fail(p, `must be a number or a string (got ${typeName(v)})`);
  }
  if (!Number.isSafeInteger(n)) fail(p, `must come to a whole number of ${which === 'cpu' ? 'CPU units' : 'MiB'} (got ${show(String(v))})`);
  if (which === 'cpu' && (n < 128 || n > 196608)) fail(p, `must be from 128 to 196608 CPU units (0.125 to 192 vCPU), as ECS allows (got ${n})`);
  if (which === 'memory' && n < 6) fail(p, `must be at least 6 MiB (got ${n})`);
  return n;
}

function tagList(v: unknown, p: string): Array<{ key: string; value: string }> {
  const list = asArray(v, p);
  if (list.length > 50) fail(p, `at most 50 tags are allowed (got ${list.length})`);
  return list.map((e, i) => {
    const tp = `${p}[${i}]`;
    const o = asObject(e, tp);
    refuseUnknown(o, tp, ['key', 'value'], 'a tag');
    const key = asString(required(o, 'key', tp), `${tp}.key`);
    if (key.length < 1 || key.length > 128) fail(`${tp}.key`, `must be 1-128 characters (got ${key.length})`);
    const valueIn = get(o, 'value');
    const value = valueIn === undefined ? '' : asString(valueIn, `${tp}.value`);
    if (value.length > 256) fail(`${tp}.value`, `must be at most 256 characters (got ${value.length})`);
    return { key, value };
  });
}

function containerOverride(v: unknown, p: string, containers: ContainerSpec[], c: Collector): void {
  const o = asObject(v, p);
  refuseEachUnknown(o, p, CONTAINER_OVERRIDE_FIELDS, 'a container override', c);
  const name = asString(required(o, 'name', p), `${p}.name`);
  const target = containers.find((x) => x.name === name);
  if (!target) fail(`${p}.name`, `no container named ${show(name)} in the task definition`);
  const commandIn = get(o, 'command');
  if (commandIn !== undefined) target.command = asStringArray(commandIn, `${p}.command`);
  const envIn = get(o, 'environment');
  if (envIn !== undefined) {
    const merged: KeyValue[] = target.environment.map((e) => ({ ...e }));
    asArray(envIn, `${p}.environment`).forEach((e, i) => {
      const ep = `${p}.environment[${i}]`;
      const eo = asObject(e, ep);
      refuseUnknown(eo, ep, ['name', 'value'], 'an environment entry');
      const n = asString(required(eo, 'name', ep), `${ep}.name`);
      if (!ENV_NAME_RE.test(n)) fail(`${ep}.name`, `must be an environment variable name: letters, digits and '_', not starting with a digit (got ${show(n)})`);
      const value = asString(required(eo, 'value', ep), `${ep}.value`);
      const existing = merged.find((x) => x.name === n);
      if (existing) existing.value = value;
      else merged.push({ name: n, value });
    });
    target.environment = merged;
  }
  const cpuIn = get(o, 'cpu');
  if (cpuIn !== undefined) target.cpu = tdInteger(cpuIn, `${p}.cpu`, 0, Number.MAX_SAFE_INTEGER);
  const memIn = get(o, 'memory');
  if (memIn !== undefined) {
    target.memory = tdInteger(memIn, `${p}.memory`, 0, Number.MAX_SAFE_INTEGER);
    if (target.memory < 6) fail(`${p}.memory`, `must be at least 6 MiB, the least Docker accepts (got ${target.memory})`);
  }
  const resIn = get(o, 'memoryReservation');
  if (resIn !== undefined) target.memoryReservation = tdInteger(resIn, `${p}.memoryReservation`, 0, Number.MAX_SAFE_INTEGER);
  if (target.memory !== undefined && target.memoryReservation !== undefined && target.memoryReservation > target.memory) {
    fail(p, `container ${show(name)}: memoryReservation (${target.memoryReservation} MiB) must not exceed memory (${target.memory} MiB) after the override`);
  }
}

function arnParts(eni: EniSpec): { partition: string; region: string; account: string } {
  const [, partition = 'aws', , region = '', account = ''] = eni.attachmentArn.split(':');
  return { partition, region, account };
}

/**
 * The task id of a run request without a taskArn that came from a spool file: the file's name (without
 * `.json`, sanitized to the task id rule and cut so the whole id fits in 128 characters) and 8 hex of a
 * sha256 of the file's base name and the canonical request without desiredStatus. The same file read again, also after a restart, is
 * the same task; the file rewritten with other content is another task (the spool stops the old one), and
 * rewritten with only desiredStatus changed is still the same task.
 */
export function taskIdFromFileName(fileName: string, request: unknown): string {
  const base = path.basename(fileName).replace(/\.json$/i, '');
  // The hash covers the file's own name too: two files whose names sanitize alike ("a b.json", "a-b.json")
  // with the same content are two tasks, so removing one never stops the task the other still asks for.
  const hash = sha256(`${path.basename(fileName)}\0${requestHash(request)}`).slice(0, 8);
  const clean = base.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128 - hash.length - 1).replace(/-+$/, '');
  const id = `${clean || 'task'}-${hash}`;
  if (!TASK_ID_RE.test(id)) throw new Error(`task id from a file name broke the task id rule: ${JSON.stringify(id)}`);
  return id;
}

/** sha256 (hex) of the canonical request without desiredStatus: what a derived task id is made from. */
function requestHash(request: unknown): string {
  return sha256(canonicalJson(isObj(request) ? withoutDesired(request) : request));
}

function withoutDesired(input: Obj): Obj {
  const { desiredStatus: _ignored, ...rest } = input;
  return rest;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** JSON with object keys sorted and no whitespace, so the same request in another layout hashes the same. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Obj;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
