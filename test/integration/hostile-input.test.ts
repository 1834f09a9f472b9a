// Every invalid task of the corpus (test/fixtures/tasks/invalid, plus generated oversize,
// 10000-deep and NUL-byte bodies) through all three sources of one real daemon: the API (400 with its
// exact error), the spool directory (logged as refused, no task) and `run-task --file` (non-zero exit,
// its exact message). Afterwards the daemon still answers, its state is byte-for-byte what it was, and
// it created no container.
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc, REPO, docker, requireEnvironment, runPrefix } from './harness.js';

jest.setTimeout(180_000);

const prefix = runPrefix();
// The corpus's expected messages assume the unit tests' options: SYS_PTRACE is the one capability allowed.
const d = new DaemonProc({ prefix, args: ['--allowed-capabilities', 'CAP_SYS_PTRACE'] });
const INVALID = path.join(REPO, 'test/fixtures/tasks/invalid');
const VALID_EXAMPLE = path.join(REPO, 'test/fixtures/tasks/valid/spec-example.json');
const seedId = `${prefix}seed`;

interface Expect {
  field: string;
  message: string;
  /** A run request refused for several reasons: each one (the API lists them, the CLI prints one a line). */
  errors?: Array<{ field: string; message: string }>;
}

/** One hostile input and what each source must answer. */
interface Case {
  name: string;
  file: string;
  api: Expect;
  spool: Expect;
  cli: string;
}

const cases: Case[] = [];
let startedAt: number;
let stateBefore: string;
let stateTopBefore: string[];

/** Every path under dir with its type, mode, size and content hash (or link target), in a stable order. */
async function treeDigest(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(dir, rel);
    const st = await lstat(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      lines.push(`d ${rel} ${mode}`);
      for (const e of (await readdir(abs)).sort()) await walk(path.join(rel, e));
    } else if (st.isSymbolicLink()) {
      lines.push(`l ${rel} -> ${await readlink(abs)}`);
    } else {
      lines.push(`f ${rel} ${mode} ${st.size} ${createHash('sha256').update(await readFile(abs)).digest('hex')}`);
    }
  };
  await walk('.');
  return lines.join('\n');
}

interface LogLine {
  level?: number;
  msg?: string;
  component?: string;
  file?: string;
  error?: string;
  call?: string;
  [k: string]: unknown;
}

async function logLines(): Promise<LogLine[]> {
  const text = await readFile(d.logFile, 'utf8').catch(() => '');
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      /* a partial last line */
    }
  }
  return out;
}

/** Runs fn over items, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

async function buildCases(): Promise<void> {
  const expected = JSON.parse(await readFile(path.join(INVALID, 'expected.json'), 'utf8')) as Record<string, Expect>;
  const files = (await readdir(INVALID)).filter((f) => f.endsWith('.json') && f !== 'expected.json').sort();
  expect(Object.keys(expected).sort()).toEqual(files);
  for (const f of files) {
    const e = expected[f]!;
    const cli = e.errors ? `refused for ${e.errors.length} reasons:\n${e.errors.map((x) => `  ${x.message}`).join('\n')}` : e.message;
    cases.push({ name: f, file: path.join(INVALID, f), api: e, spool: e, cli });
  }

  // Generated bodies, too large or odd to keep as fixtures.
  const gen = path.join(d.root, 'generated');
  await mkdir(gen, { recursive: true, mode: 0o700 });
  const oversize = Buffer.concat([Buffer.from('{'), Buffer.alloc(1024 * 1024, 0x20)]); // 1 MiB + 1, not even JSON
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);
  const example = await readFile(VALID_EXAMPLE, 'utf8');
  const at = example.indexOf('prod');
  const nul = Buffer.concat([Buffer.from(example.slice(0, at)), Buffer.from([0]), Buffer.from(example.slice(at))]);
  const generated: Array<[string, Buffer | string, Expect, Expect, string]> = [
    [
      'generated-oversize.json',
      oversize,
      { field: '', message: 'request body is larger than 1 MiB (1048577 bytes)' },
      { field: '', message: 'task file is larger than 1 MiB (1048577 bytes)' },
      'task file is larger than 1 MiB (1048577 bytes)',
    ],
    ['generated-deep.json', deep, ...same('task document is nested deeper than 32 levels')],
    ['generated-nul.json', nul, ...same(`task document contains a NUL byte (at offset ${Buffer.byteLength(example.slice(0, at))})`)],
  ];
  for (const [name, body, api, spool, cli] of generated) {
    const file = path.join(gen, name);
    await writeFile(file, body);
    cases.push({ name, file, api, spool, cli });
  }
}

function same(message: string): [Expect, Expect, string] {
  return [{ field: '', message }, { field: '', message }, message];
}

/** Task ids the corpus files name (loosely: anything after task/), to look for containers by label. */
async function corpusTaskIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const c of cases) {
    const text = (await readFile(c.file)).subarray(0, 64 * 1024).toString('latin1');
    for (const m of text.matchAll(/:task\/(?:[^"/\\]*\/)?([^"/\\]+)"/g)) ids.add(m[1]!);
  }
  return ids;
}

beforeAll(async () => {
  await requireEnvironment();
  startedAt = Date.now();
  await d.start();
  await buildCases();

  // One valid record in the state, so "unchanged" means more than "still empty". Submitted STOPPED:
  // it needs no ENI and starts nothing.
  const seed = JSON.parse(await readFile(VALID_EXAMPLE, 'utf8')) as Record<string, any>;
  seed.taskArn = `arn:aws:ecs:us-east-1:111122223333:task/test/${seedId}`;
  seed.desiredStatus = 'STOPPED';
  const r = await d.api.request('POST', '/v1/tasks', JSON.stringify(seed));
  expect(r.status).toBe(202);
  // Let any follow-up write of the seed land, then take the picture.
  await new Promise((res) => setTimeout(res, 2500));
  stateBefore = await treeDigest(path.join(d.stateDir, 'tasks'));
  stateTopBefore = (await readdir(d.stateDir)).sort();
  expect(stateBefore).toContain(`${seedId}.json`);
});

afterAll(async () => {
  await d.cleanup([seedId]);
});

test('the corpus has every fixture and the generated bodies', () => {
  expect(cases.length).toBeGreaterThanOrEqual(108 + 3);
  expect(new Set(cases.map((c) => c.api.message)).size).toBe(cases.length);
});

test('API: each is answered 400 {error: {code: INVALID_TASK, field, message}} with its own error', async () => {
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  for (const c of cases) {
    const r = await d.api.request('POST', '/v1/tasks', await readFile(c.file));
    got[c.name] = { status: r.status, body: r.body };
    const body: Record<string, unknown> = { error: { code: 'INVALID_TASK', field: c.api.field, message: c.api.message } };
    if (c.api.errors) body.errors = c.api.errors;
    want[c.name] = { status: 400, body };
  }
  expect(got).toEqual(want);
  expect((await d.api.request('GET', '/healthz')).status).toBe(200);
});

test('CLI: run-task --file exits 2 with exactly its message on stderr', async () => {
  const results = await pool(cases, 8, async (c) => {
    const r = await d.cli(['run-task', '--file', c.file]);
    return [c.name, { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }] as const;
  });
  const got = Object.fromEntries(results);
  const want = Object.fromEntries(cases.map((c) => [c.name, { exitCode: 2, stdout: '', stderr: `awsvpcd: ${c.cli}` }]));
  expect(got).toEqual(want);
});

test('spool: each file is logged as refused with its own error, once, and no task is created', async () => {
  await mkdir(d.spoolDir, { recursive: true, mode: 0o700 });
  const stage = path.join(d.root, 'spool-stage');
  await mkdir(stage, { recursive: true, mode: 0o700 });
  // Whole files only: written beside the spool directory, then renamed in.
  for (const c of cases) {
    await writeFile(path.join(stage, c.name), await readFile(c.file));
    await rename(path.join(stage, c.name), path.join(d.spoolDir, c.name));
  }
  const refused = async (): Promise<LogLine[]> =>
    (await logLines()).filter((l) => l.component === 'spool' && l.msg === 'spool task file refused');
  const end = Date.now() + 30_000;
  while ((await refused()).length < cases.length && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  // Two more scan intervals (2 s each): nothing may be picked up late, nor refused again.
  await new Promise((r) => setTimeout(r, 4_500));

  const lines = await refused();
  const got = Object.fromEntries(lines.map((l) => [l.file, { error: l.error, code: l.code }]));
  const want = Object.fromEntries(cases.map((c) => [c.name, { error: c.spool.message, code: 'INVALID_TASK' }]));
  expect(got).toEqual(want);
  expect(lines).toHaveLength(cases.length);

  const tasks = await d.api.request<{ tasks: Array<{ taskArn: string }> }>('GET', '/v1/tasks');
  expect(tasks.body.tasks.map((t) => t.taskArn.split('/').pop())).toEqual([seedId]);
});

test('afterwards: the daemon answers, the state is byte-for-byte unchanged, no container was created', async () => {
  expect((await d.api.request('GET', '/healthz')).status).toBe(200);
  expect(await treeDigest(path.join(d.stateDir, 'tasks'))).toBe(stateBefore);
  expect((await readdir(d.stateDir)).sort()).toEqual(stateTopBefore);

  const log = await logLines();
  // The engine adapter logs every call at debug: no create, no start.
  expect(log.filter((l) => typeof l.call === 'string' && /^(create|start) /.test(l.call))).toEqual([]);
  // No request ended in a 500, nothing fatal.
  expect(log.filter((l) => l.msg === 'request failed' || (l.level ?? 0) >= 60)).toEqual([]);

  const ids = await corpusTaskIds();
  expect(ids.size).toBeGreaterThan(0);
  const ps = await docker(['ps', '-a', '--filter', 'label=com.awsvpcd.managed', '--format', '{{.ID}} {{.Label "com.awsvpcd.task-id"}}']);
  const suspects = ps.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, id]) => id === seedId || ids.has(id ?? ''));
  for (const [cid] of suspects) {
    const created = Date.parse((await docker(['inspect', '--format', '{{.Created}}', cid!])).stdout.trim());
    expect({ cid, createdDuringTest: created >= startedAt }).toEqual({ cid, createdDuringTest: false });
  }
});
