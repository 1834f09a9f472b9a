// The fixed pieces the task-definition unit tests build on: one valid ENI, the options, a minimal definition.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultBindMountDenyList, type ValidateOptions } from '../../agent/task/validate/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const ENI = JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/tasks/valid/spec-example.json'), 'utf8'))
  .elasticNetworkInterfaces[0] as Record<string, unknown>;

export const CASE_OPTIONS: ValidateOptions = {
  defaultWaitTimeoutMs: 180000,
  allowPrivileged: false,
  allowedCapabilities: [],
  hostCpuArchitecture: 'X86_64',
  bindMountDenyList: defaultBindMountDenyList({ engineSocket: '/var/run/docker.sock', stateDir: '/var/lib/awsvpcd', runDir: '/run/awsvpcd' }),
};

export function baseTaskDefinition(): Record<string, unknown> {
  return { family: 'web', networkMode: 'awsvpc', containerDefinitions: [{ name: 'app', image: 'busybox' }] };
}
