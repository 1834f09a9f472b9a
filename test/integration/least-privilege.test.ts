// On the real engine: least privilege for tasks and secrets out of logs.
// - privileged and NET_ADMIN/SYS_ADMIN are refused by default, with their messages;
// - capabilities as the engine and the kernel report them: the pause container has none at all, a task
//   container has neither NET_ADMIN nor SYS_ADMIN;
// - the IMDS blackhole route is there by default and absent with --block-imds false (read from the route
//   table; nothing is ever sent to 169.254.169.254);
// - the task cannot reach the API: the socket is not in its filesystem, and 127.0.0.1:PORT of the
//   --api-tcp listener is the task's own loopback, where nothing listens;
// - an environment value never appears in the daemon's debug log, in describe-tasks or in labels, only
//   in the engine's container config, in the 0600 state file, and when explicitly asked for.
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc, Vpc, docker, execIn, requireEnvironment, runPrefix, sh, taskJson, type Eni } from './harness.js';
import { freePort, logLines, logText } from './security-helpers.js';

jest.setTimeout(180_000);

const prefix = runPrefix();
const SECRET = `s3cr3t-${randomBytes(12).toString('hex')}`;
const ids = { caps: `${prefix}a`, spool: `${prefix}b`, open: `${prefix}c`, refused: `${prefix}r` };
const allIds = Object.values(ids);
let apiPort: number;
let d: DaemonProc;
let open: DaemonProc | undefined;
let vpc: Vpc;
let eni1: Eni;
let eni2: Eni;
let eni3: Eni;
/** Everything the daemon answered that could have carried the secret. */
const answers: string[] = [];

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;

function caps(status: string): Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', bigint> {
  const out: Record<string, bigint> = {};
  for (const m of status.matchAll(/^(Cap\w+):\s*([0-9a-f]+)$/gm)) out[m[1]!] = BigInt(`0x${m[2]}`);
  expect(Object.keys(out).sort()).toEqual(['CapAmb', 'CapBnd', 'CapEff', 'CapInh', 'CapPrm']);
  return out as ReturnType<typeof caps>;
}

const has = (set: bigint, bit: bigint): boolean => ((set >> bit) & 1n) === 1n;

/** A one-container task: sleeps, with MY_SECRET in its environment. */
function sleeper(id: string, eni: Eni, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return taskJson({
    id,
    eni,
    containers: [
      {
        name: 'app',
        image: 'busybox:latest',
        essential: true,
        command: ['sleep', '3600'],
        environment: [{ name: 'MODE', value: 'prod' }, { name: 'MY_SECRET', value: SECRET }],
        stopTimeout: 1,
        ...extra,
      },
    ],
  });
}

async function inspect(name: string): Promise<any> {
  return JSON.parse((await docker(['inspect', name])).stdout)[0];
}

beforeAll(async () => {
  await requireEnvironment();
  apiPort = await freePort();
  d = new DaemonProc({ prefix, args: ['--api-tcp', `127.0.0.1:${apiPort}`] });
  vpc = await Vpc.up(prefix, 3);
  eni1 = await vpc.addEni(`${prefix}e1`, 21);
  eni2 = await vpc.addEni(`${prefix}e2`, 22);
  eni3 = await vpc.addEni(`${prefix}e3`, 23);
  await d.start();
});

afterAll(async () => {
  await docker(['rm', '-f', `${prefix}-capctl`], false);
  await d?.cleanup(allIds);
  await open?.cleanup(allIds);
  await vpc?.down();
});

describe('refused by default', () => {
  test.each([
    ['privileged', { privileged: true }, "containers[0].privileged: privileged containers are not allowed by the daemon's configuration"],
    [
      'NET_ADMIN',
      { linuxParameters: { capabilities: { add: ['NET_ADMIN'] } } },
      "containers[0].linuxParameters.capabilities.add[0]: adding capability NET_ADMIN is not allowed by the daemon's configuration (allowed: none)",
    ],
    [
      'SYS_ADMIN',
      { linuxParameters: { capabilities: { add: ['CAP_SYS_ADMIN'] } } },
      "containers[0].linuxParameters.capabilities.add[0]: adding capability SYS_ADMIN is not allowed by the daemon's configuration (allowed: none)",
    ],
  ])('a task asking for %s: 400 from the API, exit 2 from the CLI, no task', async (_name, extra, message) => {
    const task = sleeper(ids.refused, eni1, extra);
    const r = await d.api.request('POST', '/v1/tasks', JSON.stringify(task));
    expect({ status: r.status, body: r.body }).toEqual({
      status: 400,
      body: { error: { code: 'INVALID_TASK', field: message.slice(0, message.indexOf(': ')), message } },
    });
    const file = path.join(d.root, `refused-${_name}.json`);
    await writeFile(file, JSON.stringify(task));
    const cli = await d.cli(['run-task', '--file', file]);
    expect({ exitCode: cli.exitCode, stderr: cli.stderr }).toEqual({ exitCode: 2, stderr: `awsvpcd: ${message}` });
    expect((await d.api.request('GET', `/v1/tasks/${ids.refused}`)).status).toBe(404);
  });
});

describe('a running task (default config)', () => {
  const app = () => `awsvpcd-${ids.caps}-app`;
  const pause = () => `awsvpcd-${ids.caps}-internalecspause`;

  beforeAll(async () => {
    const r = await d.api.request('POST', '/v1/tasks', JSON.stringify(sleeper(ids.caps, eni1)));
    expect(r.status).toBe(202);
    answers.push(JSON.stringify(r.body));
    await d.waitStatus(ids.caps, 'RUNNING');
  });

  test('the pause container: not privileged, no added capabilities, all dropped; the kernel agrees (CapEff 0)', async () => {
    const i = await inspect(pause());
    expect({ privileged: i.HostConfig.Privileged, capAdd: i.HostConfig.CapAdd ?? [], capDrop: i.HostConfig.CapDrop }).toEqual({
      privileged: false,
      capAdd: [],
      capDrop: ['ALL'],
    });
    // The pause image has no shell or cat: read its PID 1's status from the host.
    const c = caps(await readFile(`/proc/${i.State.Pid}/status`, 'utf8'));
    expect({ eff: c.CapEff, prm: c.CapPrm, bnd: c.CapBnd, amb: c.CapAmb }).toEqual({ eff: 0n, prm: 0n, bnd: 0n, amb: 0n });
  });

  test('the task container: not privileged, nothing added; no NET_ADMIN or SYS_ADMIN, not even in its bounding set', async () => {
    const i = await inspect(app());
    expect({ privileged: i.HostConfig.Privileged, capAdd: i.HostConfig.CapAdd ?? [] }).toEqual({ privileged: false, capAdd: [] });
    const c = caps(await execIn(app(), ['cat', '/proc/1/status']));
    expect(c.CapEff).not.toBe(0n); // the engine's default set: the reading below means something
    for (const [name, bit] of [['NET_ADMIN', CAP_NET_ADMIN], ['SYS_ADMIN', CAP_SYS_ADMIN]] as const) {
      expect({ name, eff: has(c.CapEff, bit), bnd: has(c.CapBnd, bit) }).toEqual({ name, eff: false, bnd: false });
    }
  });

  test('control: the same reading does see NET_ADMIN and SYS_ADMIN when a container has them', async () => {
    const r = await docker(['run', '--rm', '--name', `${prefix}-capctl`, '--network', 'none', '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN', 'busybox:latest', 'cat', '/proc/1/status']);
    const c = caps(r.stdout);
    expect([has(c.CapEff, CAP_NET_ADMIN), has(c.CapEff, CAP_SYS_ADMIN)]).toEqual([true, true]);
  });

  test('instance metadata is blackholed by default', async () => {
    const routes = await execIn(app(), ['ip', 'route', 'show', 'table', 'all']);
    expect(routes).toMatch(/^blackhole 169\.254\.169\.254\b/m);
  });

  test('the API socket is not in the task filesystem, and nothing of the host is mounted', async () => {
    for (const p of [d.socket, path.dirname(d.socket), '/run/awsvpcd/api.sock', '/var/run/awsvpcd/api.sock']) {
      const r = await docker(['exec', app(), 'ls', '-la', p], false);
      expect({ p, exitCode: r.exitCode }).toEqual({ p, exitCode: 1 });
    }
    for (const name of [app(), pause()]) expect((await inspect(name)).Mounts).toEqual([]);
  });

  test("127.0.0.1:PORT inside the task is the task's own loopback: refused there, while the host's answers", async () => {
    const host = await sh('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${apiPort}/healthz`]);
    expect(JSON.parse(host.stdout)).toEqual({ ready: true });
    const inTask = await docker(['exec', app(), 'wget', '-qO-', `http://127.0.0.1:${apiPort}/healthz`], false);
    expect(inTask.exitCode).not.toBe(0);
    expect(inTask.stderr).toMatch(/Connection refused|can't connect/i);
    // Nor through the host's side of the task bridge: the listener is on loopback only.
    const gateway = /^169\.254\.170\.2 via (\S+) dev ecs-eth0/m.exec(await execIn(app(), ['ip', 'route']))?.[1];
    expect(gateway).toMatch(/^169\.254\.17[2-5]\.\d+$/);
    const viaBridge = await docker(['exec', app(), 'timeout', '3', 'wget', '-qO-', `http://${gateway}:${apiPort}/healthz`], false);
    expect(viaBridge.exitCode).not.toBe(0);
    expect(viaBridge.stdout).not.toContain('ready');
  });
});

describe('secrets stay out of logs and describe-tasks', () => {
  beforeAll(async () => {
    // A second task through the spool, whose start fails (unknown user): the error paths log too.
    const stage = path.join(d.root, 'stage');
    await mkdir(stage, { recursive: true, mode: 0o700 });
    await mkdir(d.spoolDir, { recursive: true, mode: 0o700 });
    await writeFile(path.join(stage, 'secret.json'), JSON.stringify(sleeper(ids.spool, eni2, { user: `nosuchuser${prefix}` })));
    await rename(path.join(stage, 'secret.json'), path.join(d.spoolDir, 'secret.json'));
    const end = Date.now() + 60_000;
    for (;;) {
      const r = await d.api.request<{ lastStatus: string }>('GET', `/v1/tasks/${ids.spool}`);
      if (r.status === 200 && r.body.lastStatus === 'STOPPED') break;
      if (Date.now() > end) throw new Error(`spool task not STOPPED: ${JSON.stringify(r.body)}\n${await d.logTail()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  });

  test('the value did reach the engine (so its absence below means something)', async () => {
    const env: string[] = (await inspect(`awsvpcd-${ids.caps}-app`)).Config.Env;
    expect(env).toContain(`MY_SECRET=${SECRET}`);
    expect((await d.describe(ids.spool)).stoppedReason).toMatch(/nosuchuser/);
  });

  test('describe-tasks shows "[redacted]": API and CLI, one task and all, JSON and table; TCP refuses to show it', async () => {
    const one = await d.api.request<any>('GET', `/v1/tasks/${ids.caps}`);
    expect(one.body.containers[0].environment).toEqual([
      { name: 'MODE', value: '[redacted]' },
      { name: 'MY_SECRET', value: '[redacted]' },
    ]);
    answers.push(JSON.stringify(one.body));
    answers.push(JSON.stringify((await d.api.request('GET', '/v1/tasks')).body));
    answers.push(JSON.stringify((await d.api.request('GET', `/v1/tasks/${ids.caps}?showEnvironment=1`)).body));
    for (const args of [['describe-tasks', '--json'], ['describe-tasks'], ['describe-tasks', ids.caps, ids.spool, '--json'], ['list-tasks', '--json']]) {
      const r = await d.cli(args);
      expect(r.exitCode).toBe(0);
      answers.push(r.stdout, r.stderr);
    }
    const tcp = await sh('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${apiPort}/v1/tasks/${ids.caps}?showEnvironment=true`]);
    expect(JSON.parse(tcp.stdout).error.code).toBe('FORBIDDEN');
    answers.push(tcp.stdout);
    const labels = JSON.stringify([(await inspect(`awsvpcd-${ids.caps}-internalecspause`)).Config.Labels, (await inspect(`awsvpcd-${ids.caps}-app`)).Config.Labels]);
    answers.push(labels);
    for (const a of answers) expect(a).not.toContain(SECRET);
  });

  test('only when asked for over the unix socket: API ?showEnvironment=true and CLI --show-environment', async () => {
    const api = await d.api.request<any>('GET', `/v1/tasks/${ids.caps}?showEnvironment=true`);
    expect(api.body.containers[0].environment).toEqual([
      { name: 'MODE', value: 'prod' },
      { name: 'MY_SECRET', value: SECRET },
    ]);
    const cli = await d.cli(['describe-tasks', ids.caps, '--json', '--show-environment']);
    expect(JSON.parse(cli.stdout).tasks[0].containers[0].environment[1]).toEqual({ name: 'MY_SECRET', value: SECRET });
    const all = await d.cli(['describe-tasks', '--json', '--show-environment']);
    expect(all.stdout).toContain(SECRET);
  });

  test('the state keeps it (to re-create containers), in 0600 files inside 0700 directories', async () => {
    const tasks = path.join(d.stateDir, 'tasks');
    expect(await readFile(path.join(tasks, `${ids.caps}.json`), 'utf8')).toContain(SECRET);
    for (const dir of [d.stateDir, tasks]) expect({ dir, mode: ((await lstat(dir)).mode & 0o777).toString(8) }).toEqual({ dir, mode: '700' });
    const files = await readdir(tasks);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const st = await lstat(path.join(tasks, f));
      expect({ f, mode: (st.mode & 0o777).toString(8), uid: st.uid }).toEqual({ f, mode: '600', uid: 0 });
    }
  });

  test('stopping the task, then: the whole debug log never held the value', async () => {
    const r = await d.cli(['stop-task', ids.caps, '--wait']);
    expect(r.exitCode).toBe(0);
    answers.push(r.stdout, r.stderr);
    const log = await logText(d);
    const lines = await logLines(d);
    expect(lines.filter((l) => l.level === 20).length).toBeGreaterThan(20); // debug really was on
    expect(lines.some((l) => l.component === 'cni')).toBe(true); // and the plugin calls were logged
    expect(log.includes(SECRET)).toBe(false);
    for (const a of answers) expect(a).not.toContain(SECRET);
  });
});

describe('--block-imds false', () => {
  test('the task has no blackhole route for 169.254.169.254 (and nothing else for it)', async () => {
    // One daemon at a time on the task bridge subnet: the first one and its tasks go first.
    await d.cleanup(allIds);
    open = new DaemonProc({ prefix: `${prefix}o`, args: ['--block-imds', 'false'] });
    await open.start();
    await open.submit(sleeper(ids.open, eni3));
    await open.waitStatus(ids.open, 'RUNNING');
    const routes = await execIn(`awsvpcd-${ids.open}-app`, ['ip', 'route', 'show', 'table', 'all']);
    expect(routes).toMatch(/^default via /m); // a real route table was read
    expect(routes).not.toMatch(/169\.254\.169\.254/);
    const r = await open.cli(['stop-task', ids.open, '--wait']);
    expect(r.exitCode).toBe(0);
  });
});
