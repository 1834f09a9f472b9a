// The task's top-level rules (ARN and task id, family, revision, network mode, desired status,
// awsvpcConfiguration, wait timeout), then the ENI and the containers by their own rule files.

import type { AwsvpcConfiguration, DesiredStatus, TaskSpec } from '../../model.js';
import { containerSpecs } from './containers.js';
import { eniSpec } from './eni.js';
import type { ValidateOptions } from './options.js';
import { CLUSTER_RE, FAMILY_RE, SG_ID_RE, SUBNET_ID_RE, TASK_ID_RE, checkRegionAccount } from './patterns.js';
import {
  asArray,
  asEnum,
  asInteger,
  asObject,
  asString,
  child,
  fail,
  get,
  isObj,
  reportUnknown,
  required,
  show,
  typeName,
} from './readers.js';

export const MAX_WAIT_TIMEOUT_MS = 3_600_000;

const TASK_FIELDS = [
  'taskArn', 'family', 'revision', 'networkMode', 'desiredStatus', 'networkConfiguration',
  'elasticNetworkInterfaces', 'waitTimeoutMs', 'containers',
] as const;

/** Every rule in a fixed order (top-level fields, the ENI, the containers): a task's first fault is always the one reported. */
export function validateTask(input: unknown, opts: ValidateOptions): TaskSpec {
  if (!isObj(input)) fail('', `task must be a JSON object (got ${typeName(input)})`);
  reportUnknown(input, '', TASK_FIELDS, opts);

  const { taskArn, taskId } = taskArnAndId(required(input, 'taskArn', ''), 'taskArn');

  let family: string | undefined;
  const familyIn = get(input, 'family');
  if (familyIn !== undefined) {
    family = asString(familyIn, 'family');
    if (!FAMILY_RE.test(family)) fail('family', `must be 1-255 letters, digits, '_' or '-' (got ${show(family)})`);
  }

  const revisionIn = get(input, 'revision');
  const revision = revisionIn === undefined ? undefined : asInteger(revisionIn, 'revision', 1, Number.MAX_SAFE_INTEGER);

  const networkModeIn = get(input, 'networkMode');
  if (networkModeIn === undefined) fail('networkMode', 'is required and must be "awsvpc"');
  const networkMode = asString(networkModeIn, 'networkMode');
  if (networkMode !== 'awsvpc') {
    fail('networkMode', `must be "awsvpc", the only network mode awsvpcd runs (got ${show(networkMode)})`);
  }

  const desiredIn = get(input, 'desiredStatus');
  const desiredStatus: DesiredStatus =
    desiredIn === undefined ? 'RUNNING' : asEnum(desiredIn, 'desiredStatus', ['RUNNING', 'STOPPED'] as const);

  let awsvpcConfiguration: AwsvpcConfiguration | undefined;
  const netConfIn = get(input, 'networkConfiguration');
  if (netConfIn !== undefined) {
    const netConf = asObject(netConfIn, 'networkConfiguration');
    reportUnknown(netConf, 'networkConfiguration', ['awsvpcConfiguration'], opts);
    const awsvpcIn = get(netConf, 'awsvpcConfiguration');
    if (awsvpcIn !== undefined) {
      awsvpcConfiguration = awsvpcConfig(awsvpcIn, 'networkConfiguration.awsvpcConfiguration', opts);
    }
  }

  const waitIn = get(input, 'waitTimeoutMs');
  const waitTimeoutMs =
    waitIn === undefined ? opts.defaultWaitTimeoutMs : asInteger(waitIn, 'waitTimeoutMs', 1, MAX_WAIT_TIMEOUT_MS);

  const enisIn = get(input, 'elasticNetworkInterfaces');
  if (enisIn === undefined) {
    fail('elasticNetworkInterfaces', 'is required (a task has exactly one elastic network interface)');
  }
  const enis = asArray(enisIn, 'elasticNetworkInterfaces');
  if (enis.length !== 1) {
    fail('elasticNetworkInterfaces', `a task has exactly one elastic network interface (got ${enis.length})`);
  }
  const eni = eniSpec(enis[0], 'elasticNetworkInterfaces[0]', opts);

  const containers = containerSpecs(required(input, 'containers', ''), 'containers', opts);

  const spec: TaskSpec = { taskArn, taskId, networkMode: 'awsvpc', desiredStatus, eni, waitTimeoutMs, containers };
  if (family !== undefined) spec.family = family;
  if (revision !== undefined) spec.revision = revision;
  if (awsvpcConfiguration !== undefined) spec.awsvpcConfiguration = awsvpcConfiguration;
  return spec;
}

export function taskArnAndId(v: unknown, path: string): { taskArn: string; taskId: string } {
  const arn = asString(v, path);
  const m = /^arn:aws[a-z-]*:ecs:([^:]*):([^:]*):task\/(.*)$/s.exec(arn);
  if (!m) {
    fail(path, `must be an ECS task ARN like arn:aws:ecs:<region>:<account>:task/<cluster>/<task id> (got ${show(arn)})`);
  }
  const [, region = '', account = '', resource = ''] = m;
  checkRegionAccount(region, account, path);
  const parts = resource.split('/');
  if (parts.some((p) => p === '.' || p === '..')) fail(path, `must not contain "." or ".." path segments (got ${show(arn)})`);
  if (parts.length > 2) {
    fail(path, `must end in task/<task id> or task/<cluster>/<task id> (got ${parts.length} segments after task/)`);
  }
  if (parts.length === 2 && !CLUSTER_RE.test(parts[0]!)) {
    fail(path, `cluster name ${show(parts[0]!)} must be 1-255 letters, digits, '_' or '-'`);
  }
  const taskId = parts[parts.length - 1]!;
  if (!TASK_ID_RE.test(taskId)) {
    fail(
      path,
      `task id ${show(taskId)} must be 1-128 letters, digits, '_' or '-', starting with a letter or digit ` +
        '(it becomes part of container names, file names and labels)',
    );
  }
  return { taskArn: arn, taskId };
}

export function awsvpcConfig(v: unknown, path: string, opts: ValidateOptions): AwsvpcConfiguration {
  const o = asObject(v, path);
  reportUnknown(o, path, ['subnets', 'securityGroups', 'assignPublicIp'], opts);
  const ids = (key: string, re: RegExp, max: number, what: string, shape: string): string[] => {
    const raw = get(o, key);
    if (raw === undefined) return [];
    const p = child(path, key);
    const list = asArray(raw, p);
    if (list.length > max) fail(p, `at most ${max} ${what} are allowed (got ${list.length})`);
    return list.map((e, i) => {
      const s = asString(e, `${p}[${i}]`);
      if (!re.test(s)) fail(`${p}[${i}]`, `must look like ${shape} (got ${show(s)})`);
      return s;
    });
  };
  const subnets = ids('subnets', SUBNET_ID_RE, 10, 'subnets', "'subnet-' followed by 8 or 17 lowercase hex digits");
  const securityGroups = ids('securityGroups', SG_ID_RE, 5, 'security groups', "'sg-' followed by 8 or 17 lowercase hex digits");
  const ipIn = get(o, 'assignPublicIp');
  const assignPublicIp =
    ipIn === undefined ? 'DISABLED' : asEnum(ipIn, child(path, 'assignPublicIp'), ['ENABLED', 'DISABLED'] as const);
  return { subnets, securityGroups, assignPublicIp };
}
