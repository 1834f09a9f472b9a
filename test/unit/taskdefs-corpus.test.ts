// Every task definition of ../shared/taskdefs (40 real ones from public repositories), wrapped as a run request
// with one fixed ENI: accepted with its TaskSpec pinned (warnings included), or refused with every reason
// pinned. Goldens live in test/fixtures/taskdefs-golden/<file>; UPDATE_GOLDEN=1 rewrites them (review the diff).
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../agent/errors.js';
import {
  ValidationErrors,
  defaultBindMountDenyList,
  parseTaskDocument,
  validateRunRequestAll,
  type ValidateOptions,
} from '../../agent/task/validate/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TASKDEFS = path.resolve(REPO, '../shared/taskdefs');
const GOLDEN = path.join(REPO, 'test/fixtures/taskdefs-golden');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

const ENI = JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/tasks/valid/spec-example.json'), 'utf8'))
  .elasticNetworkInterfaces[0] as Record<string, unknown>;

export const CORPUS_OPTIONS: ValidateOptions = {
  defaultWaitTimeoutMs: 180000,
  allowPrivileged: false,
  allowedCapabilities: [],
  hostCpuArchitecture: 'X86_64',
  bindMountDenyList: defaultBindMountDenyList({
    engineSocket: '/var/run/docker.sock',
    stateDir: '/var/lib/awsvpcd',
    runDir: '/run/awsvpcd',
  }),
};

/** The file as a run request: its text embedded as it is (quirks such as tabs and leading newlines kept). */
function runRequestText(file: string): string {
  const td = readFileSync(path.join(TASKDEFS, file), 'utf8');
  return `{"taskDefinition": ${td}, "elasticNetworkInterfaces": [${JSON.stringify(ENI)}]}`;
}

const files = existsSync(TASKDEFS) ? readdirSync(TASKDEFS).filter((f) => f.endsWith('.json')).sort() : [];

test('the corpus is there (../shared/taskdefs, 40 files)', () => {
  expect(files).toHaveLength(40);
});

describe.each(files)('%s', (file) => {
  test('is accepted with its spec pinned, or refused with every reason pinned', () => {
    const request = JSON.parse(runRequestText(file)) as unknown;
    let outcome: unknown;
    try {
      const { spec, errors } = validateRunRequestAll(request, CORPUS_OPTIONS, { fileName: file });
      outcome = spec ? { accepted: spec } : { refused: errors.map((e) => ({ field: e.field, message: e.message })) };
    } catch (err) {
      throw new Error(`the validator crashed on ${file}: ${String(err)}`);
    }
    const goldenFile = path.join(GOLDEN, file);
    if (UPDATE) {
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(goldenFile, `${JSON.stringify(outcome, null, 2)}\n`);
    }
    expect(outcome).toEqual(JSON.parse(readFileSync(goldenFile, 'utf8')));
  });

  test('parseTaskDocument gives the same outcome from the text (one error, or all of them with the first one\'s field)', () => {
    const { spec, errors } = validateRunRequestAll(JSON.parse(runRequestText(file)), CORPUS_OPTIONS, { fileName: file });
    let thrown: unknown;
    let parsed: unknown;
    try {
      parsed = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: file });
    } catch (err) {
      thrown = err;
    }
    if (spec) {
      expect(thrown).toBeUndefined();
      expect(parsed).toEqual(spec);
      return;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    const err = thrown as ValidationError;
    expect(err.code).toBe('INVALID_TASK');
    expect(err.field).toBe(errors[0]!.field);
    if (errors.length === 1) {
      expect(err.message).toBe(errors[0]!.message);
    } else {
      expect(err).toBeInstanceOf(ValidationErrors);
      expect((err as ValidationErrors).errors.map((e) => e.message)).toEqual(errors.map((e) => e.message));
      expect(err.message.startsWith(errors[0]!.message)).toBe(true);
    }
  });
});

test('the same file sent again is the same task; another name is another task', () => {
  const file = '22-ecs-exec-gb-units.json';
  const a = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: file });
  const b = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: file });
  expect(a.taskId).toBe('22-ecs-exec-gb-units');
  expect(b.taskArn).toBe(a.taskArn);
  const c = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: 'copy of 22.json' });
  expect(c.taskId).toMatch(/^copy-of-22-[0-9a-f]{8}$/);
});
