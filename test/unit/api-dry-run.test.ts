// POST /v1/tasks?dryRun=true in process with fakes behind it: validated and planned, nothing created; and the
// 400 body, which lists every reason when the validator gives several.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ApiTaskSource } from '../../agent/api/api-source.js';
import { createApiServer, errorBody, listenUnix } from '../../agent/api/server.js';
import { NotFoundError, ValidationError } from '../../agent/errors.js';
import type { TaskPlan } from '../../agent/task/plan-preview.js';
import { rig, TEST_CONFIG } from './fakes.js';

const example = JSON.parse(readFileSync(path.join(import.meta.dirname, '../fixtures/tasks/valid/spec-example.json'), 'utf8')) as Record<string, any>;
const ID = example.taskArn.split('/').pop() as string;

function post(socketPath: string, p: string, body: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path: p, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let dir: string;
let socketPath: string;
let server: http.Server;
const r = rig();
const api = new ApiTaskSource();

beforeAll(async () => {
  await api.start(r.manager);
  dir = await mkdtemp(path.join(tmpdir(), 'awsvpcd-dry-'));
  socketPath = path.join(dir, 'run', 'api.sock');
  server = createApiServer({
    tasks: api,
    validate: { defaultWaitTimeoutMs: 1000, allowPrivileged: false, allowedCapabilities: [] },
    plan: { pluginSet: 'reference', plan: TEST_CONFIG.plan, pauseImage: 'pause:dry', pauseLabels: {}, source: 'api' },
    cgroupLimits: async () => ({ applied: true }),
    logger: pino({ level: 'silent' }),
    isReady: () => true,
  });
  await listenUnix(server, socketPath);
});

afterAll(async () => {
  r.manager.close();
  await new Promise((res) => server.close(res));
  server.closeAllConnections();
  await rm(dir, { recursive: true, force: true });
});

describe('POST /v1/tasks?dryRun=true', () => {
  test('answers 200 with the plan of a task document and creates nothing', async () => {
    const res = await post(socketPath, '/v1/tasks?dryRun=true', JSON.stringify(example));
    expect(res.status).toBe(200);
    const plan = res.body as TaskPlan;
    expect(plan).toMatchObject({ dryRun: true, taskArn: example.taskArn, taskId: ID, warnings: [], cgroup: null });
    expect(plan.pause.image).toBe('pause:dry');
    expect(plan.containers.map((c) => [c.name, c.createOptions.networkMode])).toEqual([
      ['app', 'container:<pause>'],
      ['probe', 'container:<pause>'],
    ]);
    expect(plan.containers[0]!.createOptions.env).toEqual(['MODE=[redacted]']);
    expect(plan.cniCalls.map((c) => c.plugin)).toEqual(['host-device', 'bridge']);
    expect(r.manager.get(ID)).toBeUndefined();
    expect(r.manager.list()).toEqual([]);
    expect(r.journal).toEqual([]);
  });

  test('?showEnvironment=true shows the values in the plan (the unix socket only, as for describe)', async () => {
    const res = await post(socketPath, '/v1/tasks?dryRun=true&showEnvironment=true', JSON.stringify(example));
    expect(res.body.containers[0].createOptions.env).toEqual(['MODE=prod']);
  });

  test('an invalid task is a 400 as without dryRun; dryRun=false runs the task', async () => {
    const bad = { ...example, containers: [] };
    const res = await post(socketPath, '/v1/tasks?dryRun=true', JSON.stringify(bad));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'INVALID_TASK', field: 'containers' });
    const run = await post(socketPath, '/v1/tasks?dryRun=false', JSON.stringify(example));
    expect(run.status).toBe(202);
    expect(r.manager.get(ID)).toBeDefined();
  });
});

describe('POST /v1/tasks query: dryRun and showEnvironment are exactly "true" or "false"; anything else is a 400', () => {
  const cases: Array<[string, string, string]> = [
    ['?dryRun=1', '?dryRun', 'query parameter must be exactly "true" or "false" (got "1")'],
    ['?dryRun', '?dryRun', 'query parameter must be exactly "true" or "false" (got "")'],
    ['?dryRun=True', '?dryRun', 'query parameter must be exactly "true" or "false" (got "True")'],
    ['?dryRun=yes', '?dryRun', 'query parameter must be exactly "true" or "false" (got "yes")'],
    ['?dryrun=true', '?dryrun', 'unknown query parameter for POST /v1/tasks (it takes dryRun and showEnvironment, each "true" or "false")'],
    ['?dry_run=true', '?dry_run', 'unknown query parameter for POST /v1/tasks (it takes dryRun and showEnvironment, each "true" or "false")'],
    ['?dryRun=true&showEnvironment=1', '?showEnvironment', 'query parameter must be exactly "true" or "false" (got "1")'],
    ['?dryRun=true&dryRun=false', '?dryRun', 'query parameter given 2 times; give it once, "true" or "false"'],
  ];
  test.each(cases)('%s: 400 naming %s, and nothing is submitted', async (query, field, message) => {
    const doc = { ...example, taskArn: example.taskArn.replace(ID, 'qcheck1') };
    const res = await post(socketPath, `/v1/tasks${query}`, JSON.stringify(doc));
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'INVALID_TASK', field, message: `${field}: ${message}` });
    expect(r.manager.get('qcheck1')).toBeUndefined();
  });

  test('a bad query is refused before the body is judged (an invalid body with ?dryRun=1 names dryRun)', async () => {
    const res = await post(socketPath, '/v1/tasks?dryRun=1', JSON.stringify({ ...example, containers: [] }));
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('?dryRun');
  });

  test('dryRun=false&showEnvironment=false submits as without a query', async () => {
    const doc = { ...example, taskArn: example.taskArn.replace(ID, 'qcheck2') };
    const res = await post(socketPath, '/v1/tasks?dryRun=false&showEnvironment=false', JSON.stringify(doc));
    expect(res.status).toBe(202);
    expect(r.manager.get('qcheck2')).toBeDefined();
  });
});

describe('400 bodies', () => {
  test('one reason: {error: {code, field, message}} as before', () => {
    expect(errorBody(new ValidationError('containers[0].image', 'required'))).toEqual({
      error: { code: 'INVALID_TASK', field: 'containers[0].image', message: 'containers[0].image: required' },
    });
    expect(errorBody(new NotFoundError('task x is not known'))).toEqual({ error: { code: 'NOT_FOUND', field: undefined, message: 'task x is not known' } });
  });

  test('several reasons (an aggregate ValidationError whose .errors are ValidationErrors): the first as error, all of them as errors', () => {
    const reasons = [
      new ValidationError('taskDefinition.containerDefinitions[0].secrets', 'needs AWS Secrets Manager'),
      new ValidationError('taskDefinition.networkMode', '"bridge": awsvpcd runs awsvpc tasks only'),
    ];
    const err = Object.assign(new ValidationError(reasons[0]!.field, 'needs AWS Secrets Manager (and 1 more)'), { errors: reasons });
    expect(errorBody(err)).toEqual({
      error: { code: 'INVALID_TASK', field: reasons[0]!.field, message: `${reasons[0]!.field}: needs AWS Secrets Manager (and 1 more)` },
      errors: [
        { field: 'taskDefinition.containerDefinitions[0].secrets', message: 'taskDefinition.containerDefinitions[0].secrets: needs AWS Secrets Manager' },
        { field: 'taskDefinition.networkMode', message: 'taskDefinition.networkMode: "bridge": awsvpcd runs awsvpc tasks only' },
      ],
    });
    // Plain {field, message} objects work too.
    expect(errorBody(Object.assign(new ValidationError('a', 'x'), { errors: [{ field: 'a', message: 'x' }] })).errors).toEqual([{ field: 'a', message: 'x' }]);
  });
});
