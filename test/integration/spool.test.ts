// The spool directory as a task source: drop a file to run a task; remove it, or rewrite it with
// desiredStatus STOPPED, to stop it; a file removed while the daemon is down stops its task at start.
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { chmod, chown, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, DaemonProc, Vpc, docker, leaks, requireEnvironment, runPrefix, taskJson, type Eni } from './harness.js';
import { parsePrometheusText, sampleValue } from '../support/prom-parser.js';

jest.setTimeout(180_000);

const prefix = runPrefix();
const d = new DaemonProc({ prefix });
let vpc: Vpc;
let e1: Eni;
let e2: Eni;
const ids = [`${prefix}s1`, `${prefix}s2`, `${prefix}s3`];
const QUICK = [{ name: 'app', image: 'busybox:latest', essential: true, command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'] }];

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 4);
  e1 = await vpc.addEni(`${prefix}e1`, 11);
  e2 = await vpc.addEni(`${prefix}e2`, 12);
  await d.start();
});

afterAll(async () => {
  await d.cleanup(ids);
  await vpc?.down();
});

test('a dropped file runs its task; rewriting it with desiredStatus STOPPED stops it', async () => {
  const task = taskJson({ id: ids[0]!, eni: e1, containers: QUICK });
  await d.writeSpool('one.json', task);
  await d.waitStatus(ids[0]!, 'RUNNING', 30_000).catch(async (err) => {
    throw new Error(`${err}\n${await d.logTail()}`);
  });
  await d.writeSpool('one.json', { ...task, desiredStatus: 'STOPPED' });
  const t = await d.waitStatus(ids[0]!, 'STOPPED', 30_000);
  expect(t.stoppedReason).toBe('Task file one.json asks for desiredStatus STOPPED');
  expect(await leaks(d, [ids[0]!], [e1])).toEqual([]);
});

test('removing the file stops its task', async () => {
  await d.writeSpool('two.json', taskJson({ id: ids[1]!, eni: e2, containers: QUICK }));
  await d.waitStatus(ids[1]!, 'RUNNING', 30_000);
  await rm(path.join(d.spoolDir, 'two.json'));
  const t = await d.waitStatus(ids[1]!, 'STOPPED', 30_000);
  expect(t.stoppedReason).toBe('Task file two.json was removed from the spool directory');
  expect(await leaks(d, [ids[1]!], [e2])).toEqual([]);
});

test('an invalid file is refused with its error in the log and runs nothing', async () => {
  const bad = taskJson({ id: `${prefix}bad`, eni: e1, containers: QUICK });
  (bad.elasticNetworkInterfaces as Array<Record<string, unknown>>)[0]!.macAddress = 'not-a-mac';
  await d.writeSpool('bad.json', bad);
  const deadline = Date.now() + 10_000;
  let log = '';
  while (Date.now() < deadline) {
    log = await d.logTail(400);
    if (log.includes('spool task file refused')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(log).toMatch(/"file":"bad\.json","error":"elasticNetworkInterfaces\[0\]\.macAddress: (?:[^"\\]|\\.)+","code":"INVALID_TASK"/);
  const r = await d.api.request('GET', `/v1/tasks/${prefix}bad`);
  expect(r.status).toBe(404);
  await rm(path.join(d.spoolDir, 'bad.json'));
});

test('a file removed while the daemon was down stops its task when it starts again', async () => {
  await d.writeSpool('three.json', taskJson({ id: ids[2]!, eni: e1, containers: QUICK }));
  await d.waitStatus(ids[2]!, 'RUNNING', 30_000);
  await d.stop();
  await rm(path.join(d.spoolDir, 'three.json'));
  await d.start();
  const t = await d.waitStatus(ids[2]!, 'STOPPED', 30_000);
  expect(t.stoppedReason).toBe('Task file was removed from the spool directory while the daemon was down');
  expect(await leaks(d, [ids[2]!], [e1])).toEqual([]);
});

test('a file another user owns is never run; owned by root it runs', async () => {
  const id = `${prefix}u1`;
  const tmp = path.join(d.spoolDir, '.theirs.json.tmp');
  await writeFile(tmp, JSON.stringify(taskJson({ id, eni: e1, containers: QUICK })));
  await chown(tmp, 65534, 65534);
  await rename(tmp, path.join(d.spoolDir, 'theirs.json'));
  const deadline = Date.now() + 10_000;
  let log = '';
  while (Date.now() < deadline && !log.includes('"file":"theirs.json"')) {
    log = await d.logTail(400);
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(log).toContain('"file":"theirs.json","error":"task file is owned by uid 65534, not by root or the daemon\'s user; refused"');
  expect((await d.api.request('GET', `/v1/tasks/${id}`)).status).toBe(404);
  const m = await d.api.request<string>('GET', '/metrics');
  expect(sampleValue(parsePrometheusText(m.body), 'awsvpcd_spool_files_refused_total', { reason: 'unsafe' })).toBe(1);
  await chown(path.join(d.spoolDir, 'theirs.json'), 0, 0);
  await d.waitStatus(id, 'RUNNING', 30_000);
  await rm(path.join(d.spoolDir, 'theirs.json'));
  await d.waitStatus(id, 'STOPPED', 30_000);
  expect(await leaks(d, [id], [e1])).toEqual([]);
});

test('a spool directory others can write: the daemon refuses to start, names it, and runs nothing', async () => {
  const p = new DaemonProc({ prefix: `${prefix}w` });
  try {
    await mkdir(p.spoolDir, { recursive: true });
    await chmod(p.spoolDir, 0o777);
    await writeFile(path.join(p.spoolDir, 'one.json'), JSON.stringify(taskJson({ id: `${prefix}w1`, eni: e2, containers: QUICK })));
    const r = await execa('node', [CLI, ...p.args()], { reject: false, timeout: 30_000, stdin: 'ignore' });
    expect({ exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({
      exitCode: 2,
      stderr: `awsvpcd: --spool-dir: ${p.spoolDir} is writable by group or others (mode 777); fix it with chmod 0700`,
    });
    // Refused before any state was read or written, and before anything reached the engine.
    await expect(readdir(path.join(p.stateDir, 'tasks'))).rejects.toThrow(/ENOENT/);
    expect((await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${prefix}w1`])).stdout.trim()).toBe('');
  } finally {
    await rm(p.root, { recursive: true, force: true });
  }
});
