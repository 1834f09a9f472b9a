// Every task definition of ../shared/taskdefs (40 real ones from public repositories), wrapped as a run request
// with one fixed ENI: accepted with its TaskSpec pinned (warnings included), or refused with every reason
// pinned. Goldens live in test/fixtures/taskdefs-golden/<file>; UPDATE_GOLDEN=1 rewrites them (review the diff).
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cniPlanOptions, resolveConfig, validateOptions } from '../../agent/daemon/config.js';
import { ValidationError } from '../../agent/errors.js';
import { CASE_OPTIONS, ENI } from './taskdef-base.js';
import { buildTaskPlan, PAUSE_ID_PLACEHOLDER, type PlanPreviewConfig } from '../../agent/task/plan-preview.js';
import {
  ValidationErrors,
  defaultBindMountDenyList,
  parseTaskDocument,
  taskIdFromFileName,
  validateRunRequestAll,
  type ValidateOptions,
} from '../../agent/task/validate/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TASKDEFS = path.resolve(REPO, '../shared/taskdefs');
const GOLDEN = path.join(REPO, 'test/fixtures/taskdefs-golden');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

// The task-definition cases' options, with the CNI plugin directory on the deny list as the daemon puts it.
export const CORPUS_OPTIONS: ValidateOptions = {
  ...CASE_OPTIONS,
  bindMountDenyList: defaultBindMountDenyList({
    engineSocket: '/var/run/docker.sock',
    stateDir: '/var/lib/awsvpcd',
    runDir: '/run/awsvpcd',
    cniPath: '/amazon-ecs-cni-plugins',
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

test('the same file sent again is the same task; another name, or other content, is another task', () => {
  const file = '22-ecs-exec-gb-units.json';
  const a = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: file });
  const b = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: file });
  expect(a.taskId).toMatch(/^22-ecs-exec-gb-units-[0-9a-f]{8}$/);
  expect(a.taskId).toBe(taskIdFromFileName(file, JSON.parse(runRequestText(file))));
  expect(b.taskArn).toBe(a.taskArn);
  const c = parseTaskDocument(runRequestText(file), CORPUS_OPTIONS, { fileName: 'copy of 22.json' });
  expect(c.taskId).toMatch(/^copy-of-22-[0-9a-f]{8}$/);
  expect(c.taskId.slice(-8)).not.toBe(a.taskId.slice(-8));
  const edited = JSON.parse(runRequestText(file)) as { taskDefinition: { containerDefinitions: Array<{ image: string }> } };
  edited.taskDefinition.containerDefinitions[0]!.image = 'nginx:1.27';
  const d = parseTaskDocument(JSON.stringify(edited), CORPUS_OPTIONS, { fileName: file });
  expect(d.taskId).toMatch(/^22-ecs-exec-gb-units-[0-9a-f]{8}$/);
  expect(d.taskId).not.toBe(a.taskId);
});

// What `run-task --dry-run` prints for each accepted file, with the daemon's default configuration (the ecs
// plugin set, its pause image, ECS's IPAM subnet): pinned whole, so a change to what would be made for a
// real task definition shows up as a golden diff. Goldens: test/fixtures/taskdefs-golden/plans/<file>.
describe('the dry-run plan of every accepted file, with the daemon defaults', () => {
  const cfg = resolveConfig(new Map(), {});
  const planCfg: PlanPreviewConfig = {
    pluginSet: cfg.plugins,
    plan: cniPlanOptions(cfg),
    pauseImage: cfg.pauseImage,
    pauseLabels: cfg.pauseLabels,
    ownerLabels: { 'com.awsvpcd.owner': path.resolve(cfg.stateDir) },
    taskCgroupRoot: cfg.taskCgroupRoot,
    cgroupLimits: { applied: true },
    source: 'api',
  };
  const vopts: ValidateOptions = { ...validateOptions(cfg), hostCpuArchitecture: 'X86_64' };
  const accepted = files.filter((f) => validateRunRequestAll(JSON.parse(runRequestText(f)), vopts, { fileName: f }).spec);

  test('the accepted files are the ones whose golden says so', () => {
    const goldenAccepted = files.filter((f) => 'accepted' in (JSON.parse(readFileSync(path.join(GOLDEN, f), 'utf8')) as object));
    expect(accepted).toEqual(goldenAccepted);
    expect(accepted.length).toBeGreaterThan(0);
  });

  test.each(accepted)('%s', (file) => {
    const spec = parseTaskDocument(runRequestText(file), vopts, { fileName: file });
    const plan = buildTaskPlan(spec, planCfg);
    expect(plan.containers.map((c) => c.createOptions.networkMode)).toEqual(spec.containers.map(() => `container:${PAUSE_ID_PLACEHOLDER}`));
    const goldenFile = path.join(GOLDEN, 'plans', file);
    if (UPDATE) {
      mkdirSync(path.dirname(goldenFile), { recursive: true });
      writeFileSync(goldenFile, `${JSON.stringify(plan, null, 2)}\n`);
    }
    expect(JSON.parse(JSON.stringify(plan))).toEqual(JSON.parse(readFileSync(goldenFile, 'utf8')));
  });
});
