// The CLI's argument parsing (commander, program.ts and cli.ts), run in-process: what moving from the
// hand-written parser could have changed. Flag spellings (`--flag=value`, `--block-imds false`), the
// help, the usage errors and their exit codes, where each value comes from, and the client commands'
// requests and exit codes against a fake API on a unix socket.
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cli } from '../../agent/cli/cli.js';
import { flagOf } from '../../agent/cli/program.js';
import { buildRunRequest } from '../../agent/cli/run-request.js';
import { OPTIONS } from '../../agent/daemon/config.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI with `argv` and only `env`; the config files are empty ones unless `env` names others. */
async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let out = '';
  let err = '';
  const io = {
    out: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream,
    err: { write: (s: string) => ((err += s), true) } as unknown as NodeJS.WritableStream,
    env: { AWSVPCD_CONFIG_FILE: EMPTY_JSON, AWSVPCD_ECS_CONFIG_FILE: EMPTY_ECS, ...env },
  };
  const code = await cli(argv, io);
  return { code, out, err };
}

let dir: string;
let EMPTY_JSON: string;
let EMPTY_ECS: string;
let sock: string;
let server: http.Server;
/** The fake API's requests since the last reset, "METHOD path". */
let requests: string[] = [];
/** The bodies POSTed to /v1/tasks since the last reset. */
let posted: string[] = [];

const task = (id: string, lastStatus: string) => ({
  taskArn: `arn:aws:ecs:us-east-1:1:task/c/${id}`,
  lastStatus,
  desiredStatus: 'RUNNING',
  attachments: [],
  containers: [{ name: 'app', lastStatus }],
  ...(lastStatus === 'STOPPED' ? { stoppedReason: 'done' } : {}),
});

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'awsvpcd-cli-'));
  // So that this host's /etc/awsvpcd/config.json or /etc/ecs/ecs.config never count: files that set nothing.
  EMPTY_JSON = path.join(dir, 'empty.json');
  EMPTY_ECS = path.join(dir, 'empty.config');
  await writeFile(EMPTY_JSON, '{}');
  await writeFile(EMPTY_ECS, '');
  sock = path.join(dir, 'api.sock');
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = req.url ?? '';
      requests.push(`${req.method} ${u}`);
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && /^\/v1\/tasks(\?|$)/.test(u)) {
        // run-task: the body is kept; a posted taskArn ending in t400 is refused with two reasons, t2 stops.
        const text = Buffer.concat(chunks).toString('utf8');
        posted.push(text);
        if (u.endsWith('?dryRun=true')) return send(200, { dryRun: true, taskId: 'planned', warnings: [] });
        const pid = String((JSON.parse(text) as { taskArn?: string }).taskArn ?? 't1').split('/').pop()!;
        if (pid === 't400') {
          const errors = [{ field: 'a', message: 'a: first' }, { field: 'b', message: 'second' }, { field: '', message: 'third' }];
          return send(400, { error: { code: 'INVALID_TASK', field: 'a', message: 'a: first (and 2 more: b: second; third)' }, errors });
        }
        return send(202, task(pid, 'PENDING'));
      }
      const id = /^\/v1\/tasks\/([^/?]+)/.exec(u)?.[1];
      // Status by task id: t400, t409, t500 answer with that status; nope is unknown.
      const status = id === 'nope' ? 404 : id && /^t(\d{3})$/.test(id) ? Number(id.slice(1)) : 0;
      if (status) return send(status, { error: { message: `answer ${status} for ${id}` } });
      if (req.method === 'POST' && u.startsWith('/v1/reconcile')) return send(200, { actions: [] });
      if (req.method === 'POST' && u.endsWith('/stop')) return send(202, {});
      if (u.endsWith('/netns')) return send(409, { error: { message: `task ${id} has no network namespace` } });
      if (id) return send(200, task(id, id === 't2' ? 'STOPPED' : 'RUNNING'));
      return send(200, { tasks: [task('t1', 'RUNNING')] });
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

let stderrWrite: typeof process.stderr.write;
beforeEach(() => {
  requests = [];
  posted = [];
  // exec writes the API's refusal to the process's stderr itself
  stderrWrite = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
});
afterEach(() => {
  process.stderr.write = stderrWrite;
});

/** `awsvpcd config --json` with `args`: the resolved config and sources. */
async function config(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await run(['config', '--json', ...args], env);
  expect(r).toMatchObject({ code: 0, err: '' });
  return JSON.parse(r.out) as { config: Record<string, unknown>; sources: Record<'blockImds' | 'runDir' | 'stateDir' | 'logLevel' | 'pullBehavior' | 'plugins' | 'configFile', { text: string }> };
}

describe('flag spellings', () => {
  test.each([
    [['--block-imds', 'false'], false],
    [['--block-imds', 'FALSE'], false],
    [['--block-imds=false'], false],
    [['--block-imds=off'], false],
    [['--block-imds'], true],
    [['--block-imds', 'true'], true],
  ])('config %j: blockImds %s, from the flag', async (args, want) => {
    const r = await config(args, { ECS_AWSVPC_BLOCK_IMDS: want ? 'false' : 'true' });
    expect(r.config.blockImds).toBe(want);
    expect(r.sources.blockImds.text).toBe('flag --block-imds');
  });

  test('a boolean flag takes only true or false after it; any other word stays an argument', async () => {
    const r = await config(['--block-imds', 'maybe', '--pretty']);
    expect(r.config).toMatchObject({ blockImds: true, pretty: true });
    // and the same on a client command: `--show-environment t1` describes t1
    const d = await run(['describe-tasks', '--show-environment', 't1', '--socket', sock]);
    expect(d.code).toBe(0);
    expect(requests).toEqual(['GET /v1/tasks/t1?showEnvironment=true']);
    requests = [];
    expect((await run(['describe-tasks', '--show-environment', 'false', 't1', '--json', '--socket', sock])).code).toBe(0);
    expect(requests).toEqual(['GET /v1/tasks/t1']);
  });

  test('--flag=value and --flag value; the last one wins; a value may start with --', async () => {
    expect((await config(['--state-dir=/a'])).config.stateDir).toBe('/a');
    expect((await config(['--state-dir', '/a', '--state-dir', '/b'])).config.stateDir).toBe('/b');
    expect((await config(['--state-dir', '--pretty'])).config).toMatchObject({ stateDir: '--pretty', pretty: false });
  });

  test('every daemon flag is taken by daemon, config, doctor and cni-config (the options come from OPTIONS)', async () => {
    const r = await run(['daemon', '--help']);
    for (const o of OPTIONS) expect(r.out).toMatch(new RegExp(`^ {2}${o.flag} .*env ${o.env!.join(', ')}$`, 'm'));
    for (const cmd of ['config', 'doctor', 'cni-config']) {
      const h = (await run([cmd, '--help'])).out;
      for (const o of OPTIONS) expect(h).toContain(`  ${o.flag} `);
    }
  });

  test('after -- nothing is a flag', async () => {
    expect((await config(['--', '--state-dir', '/x'])).config.stateDir).toBe('/var/lib/awsvpcd');
    const r = await run(['exec', '--socket', sock, 't1', '--', 'ip', '--socket', 'x']);
    expect(r).toEqual({ code: 4, out: '', err: '' });
    expect(requests).toEqual(['GET /v1/tasks/t1/netns']);
  });
});

describe('where each value came from, through the CLI', () => {
  test('flag > environment > config.json > ecs.config > default, each named', async () => {
    const json = path.join(dir, 'c.json');
    const ecs = path.join(dir, 'ecs.config');
    await writeFile(json, '{\n  "logLevel": "warn",\n  "cniPath": "/from-json"\n}\n');
    await writeFile(ecs, 'ECS_LOGLEVEL=debug\nECS_CNI_PLUGINS_PATH=/from-ecs\nECS_IMAGE_PULL_BEHAVIOR=once\n');
    const env = { AWSVPCD_CONFIG_FILE: json, AWSVPCD_ECS_CONFIG_FILE: ecs, AWSVPCD_STATE_DIR: '/from-env', AWSVPCD_RUN_DIR: '/env-run' };
    const r = await config(['--run-dir', '/flag-run'], env);
    expect(r.config).toMatchObject({ runDir: '/flag-run', stateDir: '/from-env', logLevel: 'warn', cniPath: '/from-json', pullBehavior: 'once', plugins: 'ecs' });
    expect(r.sources.runDir.text).toBe('flag --run-dir');
    expect(r.sources.stateDir.text).toBe('environment AWSVPCD_STATE_DIR');
    expect(r.sources.logLevel.text).toBe(`${json}:2 logLevel`);
    expect(r.sources.pullBehavior.text).toBe(`${ecs}:3 ECS_IMAGE_PULL_BEHAVIOR`);
    expect(r.sources.plugins.text).toBe('default');
    expect(r.sources.configFile.text).toBe('environment AWSVPCD_CONFIG_FILE');
    const table = await run(['config', '--config-file', json], env);
    expect(table.out).toMatch(/^configFile +\S+ +flag --config-file$/m);
  });
});

describe('usage errors: exit 2, naming the flag', () => {
  test.each([
    ['config', ['config', '--foo', 'bar']],
    ['config', ['config', '--foo=bar']],
    ['daemon', ['daemon', '--foo', 'x']],
    ['doctor', ['doctor', '--foo']],
    ['cni-config', ['cni-config', '--file', 'x', '--foo', 'x']],
    ['a client command', ['list-tasks', '--foo', '--socket', 'SOCK']],
    ['exec, before the task', ['exec', '--foo', 't1', '--', 'true']],
  ])('an unknown flag (%s)', async (_what, argv) => {
    const r = await run(argv.map((a) => (a === 'SOCK' ? sock : a)));
    expect(r).toEqual({ code: 2, out: '', err: 'awsvpcd: --foo: unknown flag\n' });
    expect(requests).toEqual([]);
  });

  test('a flag without its value: the message, then the command usage', async () => {
    for (const [cmd, flag] of [['config', '--state-dir'], ['daemon', '--cni-path'], ['run-task', '--file'], ['describe-tasks', '--socket'], ['stop-task', '--wait-timeout-ms']]) {
      const r = await run([cmd!, flag!]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(new RegExp(`^awsvpcd: ${flag} needs a value\\n\\nUsage: awsvpcd ${cmd} `));
    }
  });

  test('an unknown command, or a flag where the command should be', async () => {
    for (const [argv, name] of [[['foo'], 'foo'], [['--socket', 'x', 'list-tasks'], '--socket'], [['--version'], '--version']] as const) {
      const r = await run([...argv]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(new RegExp(`^awsvpcd: unknown command "${name}"\\n\\nUsage: awsvpcd <command> \\[flags\\]\\n`));
    }
  });

  test("a command's own missing argument: its message and its usage", async () => {
    const r = await run(['stop-task', '--socket', sock]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^awsvpcd: stop-task needs a task ARN or id\n\nUsage: awsvpcd stop-task ARN\|ID \[--wait\]\n/);
    expect((await run(['run-task', '--socket', sock])).err).toMatch(/^awsvpcd: run-task needs --file F \(a task document\) or --task-definition F --eni-file E\n\nUsage: awsvpcd run-task /);
  });

  test('a bad value is a ConfigError: exit 2 with the flag and the reason, no usage', async () => {
    expect(await run(['config', '--log-level', 'loud'])).toEqual({
      code: 2,
      out: '',
      err: 'awsvpcd: --log-level: must be one of trace, debug, info, warn, error, fatal, silent, crit\n',
    });
    expect((await run(['config', '--block-imds=maybe'])).err).toBe('awsvpcd: --block-imds: must be true or false (got "maybe")\n');
    expect((await run(['config'], { ECS_LOGLEVEL: 'loud' })).err).toMatch(/^awsvpcd: ECS_LOGLEVEL \(environment\): must be one of/);
    expect((await run(['daemon', '--api-tcp', '0.0.0.0:1'])).code).toBe(2);
  });

  test("commander's messages still give the flag", () => {
    expect(flagOf("error: option '--state-dir <value>' argument missing")).toBe('--state-dir');
    expect(flagOf("error: unknown option '--foo=bar'")).toBe('--foo');
    expect(flagOf("error: unknown option '-x'")).toBe('-x');
  });
});

describe('help', () => {
  test('--help, -h and help: exit 0 on stdout; no command at all: the same help, exit 2', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.err).toBe('');
    for (const argv of [['-h'], ['help'], ['help', 'nope']]) expect(await run(argv)).toEqual(help);
    expect(await run([])).toEqual({ ...help, code: 2 });
  });

  test('the help lists each command with its usage and description, --socket and the daemon flags with their variables', async () => {
    const { out } = await run(['--help']);
    expect(out).toMatch(/^Usage: awsvpcd <command> \[flags\]$/m);
    for (const line of [
      'daemon [flags]         run the daemon (flags below, each also an environment',
      'config [--json]        print the resolved daemon configuration and where each',
      'doctor [--json]        check this host (root, namespaces, engine, plugins,',
      'cni-config --file F [--plugins SET] [--netns P] [--container-id ID] [--command add|del|all] [--json]',
      'exec TASK -- CMD...    run a command in the task',
      'run-task --file F | --task-definition F --eni-file E [--overrides F] [--task-arn ARN] [--started-by S] [--group G] [--wait] [--wait-timeout-ms N] [--dry-run]',
      'stop-task ARN|ID [--wait]',
      'describe-tasks [ARN|ID ...] [--json] [--show-environment]',
      'list-tasks [--json]',
      'reconcile [--dry-run]  compare state with the engine, namespaces and IPAM; fix',
      'every client command takes --socket (default /run/awsvpcd/api.sock, env AWSVPCD_SOCKET)',
      'daemon flags (precedence: flag > environment > --config-file JSON > /etc/ecs/ecs.config > default):',
    ]) {
      expect(out).toContain(line);
    }
    expect(out).toContain('"[redacted]" unless asked for');
    for (const o of OPTIONS) expect(out).toContain(`  ${o.flag.padEnd(28)} env ${o.env!.join(', ')}\n`);
  });

  test.each(['daemon', 'config', 'doctor', 'cni-config', 'exec', 'run-task', 'stop-task', 'describe-tasks', 'list-tasks', 'reconcile'])(
    '%s --help: its usage and flags, exit 0, nothing run',
    async (cmd) => {
      const r = await run([cmd, '--help', '--socket', sock]);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      expect(r.out).toMatch(new RegExp(`^Usage: awsvpcd ${cmd} `));
      expect(requests).toEqual([]);
      expect(await run(['help', cmd])).toEqual(r);
    },
  );
});

describe('client commands: requests and exit codes', () => {
  test('presence flags and arguments reach the API as before', async () => {
    expect((await run(['reconcile', '--dry-run', '--socket', sock])).code).toBe(0);
    expect((await run(['list-tasks', '--json', `--socket=${sock}`])).out).toContain('"taskArns"');
    const d = await run(['describe-tasks', '--json', 't1', 'nope', '--socket', sock]);
    expect(d.code).toBe(3);
    expect(JSON.parse(d.out).failures).toEqual([{ arn: 'nope', reason: 'MISSING' }]);
    const s = await run(['stop-task', '--wait', 't2', '--socket', sock]);
    expect(s.code).toBe(0);
    expect(s.err).toMatch(/ t2 STOPPED\nstoppedReason: done\n$/);
    expect(requests).toEqual(['POST /v1/reconcile?dryRun=true', 'GET /v1/tasks', 'GET /v1/tasks/t1', 'GET /v1/tasks/nope', 'POST /v1/tasks/t2/stop', 'GET /v1/tasks/t2']);
  });

  test('the socket: flag, then AWSVPCD_SOCKET, then the default', async () => {
    expect((await run(['list-tasks'], { AWSVPCD_SOCKET: sock })).code).toBe(0);
    expect(requests).toEqual(['GET /v1/tasks']);
    const missing = await run(['list-tasks'], { AWSVPCD_SOCKET: path.join(dir, 'none.sock') });
    expect(missing.code).toBe(5);
    expect(missing.err).toMatch(/^awsvpcd: cannot reach awsvpcd at .*none\.sock: ENOENT/);
  });

  test.each([
    ['t400', 2],
    ['nope', 3],
    ['t409', 4],
    ['t500', 6],
  ])('an API answer for %s exits %i with its message', async (id, want) => {
    const r = await run(['stop-task', id, '--socket', sock]);
    expect(r.code).toBe(want);
    expect(r.err).toBe(`awsvpcd: answer ${id === 'nope' ? 404 : id.slice(1)} for ${id}\n`);
  });

  test("exec: the command's own flags pass through, with or without --", async () => {
    for (const argv of [['t1', 'ping', '-c', '1'], ['t1', '--', 'ping', '-c', '1']]) {
      expect(await run(['exec', '--socket', sock, ...argv])).toEqual({ code: 4, out: '', err: '' });
    }
    expect(requests).toEqual(['GET /v1/tasks/t1/netns', 'GET /v1/tasks/t1/netns']);
  });
});

describe('run-task with an ECS task definition', () => {
  const TD = { family: 'web', networkMode: 'awsvpc', containerDefinitions: [{ name: 'app', image: 'busybox' }] };
  const ENI = { attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/a1', ec2Id: 'eni-1', macAddress: '0a:58:a9:fe:ac:10' };
  const OVERRIDES = { containerOverrides: [{ name: 'app', command: ['sleep', '60'] }] };
  let td: string;
  let eni: string;
  let ov: string;
  beforeAll(async () => {
    td = path.join(dir, 'td.json');
    eni = path.join(dir, 'eni.json');
    ov = path.join(dir, 'overrides.json');
    await writeFile(td, JSON.stringify(TD));
    await writeFile(eni, JSON.stringify(ENI));
    await writeFile(ov, JSON.stringify(OVERRIDES));
  });

  test('buildRunRequest: the ENI object becomes elasticNetworkInterfaces[0]; absent parts are left out', () => {
    expect(buildRunRequest({ taskDefinition: TD, eni: ENI })).toEqual({ taskDefinition: TD, elasticNetworkInterfaces: [ENI] });
    expect(buildRunRequest({ taskDefinition: TD, eni: ENI, overrides: OVERRIDES, taskArn: 'A', startedBy: 'me', group: 'g' })).toEqual({
      taskDefinition: TD,
      taskArn: 'A',
      elasticNetworkInterfaces: [ENI],
      overrides: OVERRIDES,
      startedBy: 'me',
      group: 'g',
    });
  });

  test('the files and flags become one run request POSTed to /v1/tasks; the task ARN is printed', async () => {
    const arn = 'arn:aws:ecs:us-east-1:111122223333:task/default/t1';
    const r = await run(['run-task', '--task-definition', td, '--eni-file', eni, '--overrides', ov, '--task-arn', arn, '--started-by', 'ci', '--group', 'family:web', '--socket', sock]);
    expect(r).toEqual({ code: 0, out: 'arn:aws:ecs:us-east-1:1:task/c/t1\n', err: '' });
    expect(requests).toEqual(['POST /v1/tasks']);
    expect(JSON.parse(posted[0]!)).toEqual({
      taskDefinition: TD,
      taskArn: arn,
      elasticNetworkInterfaces: [ENI],
      overrides: OVERRIDES,
      startedBy: 'ci',
      group: 'family:web',
    });
  });

  test('describe-task-definition output is sent as the file holds it (the daemon unwraps it)', async () => {
    const wrapped = path.join(dir, 'described.json');
    await writeFile(wrapped, JSON.stringify({ taskDefinition: { ...TD, revision: 4, status: 'ACTIVE' }, tags: [] }));
    expect((await run(['run-task', '--task-definition', wrapped, '--eni-file', eni, '--socket', sock])).code).toBe(0);
    expect(JSON.parse(posted[0]!)).toEqual({ taskDefinition: { taskDefinition: { ...TD, revision: 4, status: 'ACTIVE' }, tags: [] }, elasticNetworkInterfaces: [ENI] });
  });

  test('--dry-run asks for ?dryRun=true and prints the plan as JSON; a task document can be dry run too', async () => {
    const r = await run(['run-task', '--task-definition', td, '--eni-file', eni, '--dry-run', '--socket', sock]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ dryRun: true, taskId: 'planned', warnings: [] });
    const f = await run(['run-task', '--file', td, '--dry-run', '--socket', sock]);
    expect(f.code).toBe(0);
    expect(requests).toEqual(['POST /v1/tasks?dryRun=true', 'POST /v1/tasks?dryRun=true']);
    expect(posted[1]).toBe(JSON.stringify(TD)); // the task file as is
  });

  test('--wait: exit 0 once RUNNING, 1 with the stoppedReason once STOPPED', async () => {
    const ok = await run(['run-task', '--task-definition', td, '--eni-file', eni, '--wait', '--socket', sock]);
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/ t1 RUNNING\n$/);
    const stopped = await run(['run-task', '--task-definition', td, '--eni-file', eni, '--task-arn', 'arn:aws:ecs:us-east-1:1:task/default/t2', '--wait', '--wait-timeout-ms', '5000', '--socket', sock]);
    expect(stopped.code).toBe(1);
    expect(stopped.err).toMatch(/ t2 STOPPED\ntask stopped: done\n$/);
  });

  test('a refusal with several reasons prints each one, exit 2', async () => {
    const r = await run(['run-task', '--task-definition', td, '--eni-file', eni, '--task-arn', 'x/t400', '--socket', sock]);
    expect(r).toEqual({ code: 2, out: '', err: 'awsvpcd: refused for 3 reasons:\n  a: first\n  b: second\n  third\n' });
  });

  test.each([
    [['--task-definition', 'TD'], /^awsvpcd: --task-definition needs --eni-file E/],
    [['--file', 'TD', '--task-definition', 'TD'], /^awsvpcd: run-task takes --file F \(a task document\) or --task-definition F/],
    [['--file', 'TD', '--eni-file', 'ENI'], /^awsvpcd: --eni-file goes with --task-definition/],
    [['--task-definition', 'TD', '--eni-file', 'ENI', '--dry-run', '--wait'], /^awsvpcd: --dry-run creates nothing to wait for/],
    [[], /^awsvpcd: run-task needs --file F \(a task document\) or --task-definition F --eni-file E/],
  ])('usage: %j exits 2 with the command help, nothing sent', async (args, message) => {
    const argv = args.map((a) => (a === 'TD' ? td : a === 'ENI' ? eni : a));
    const r = await run(['run-task', ...argv, '--socket', sock]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toContain('Usage: awsvpcd run-task');
    expect(requests).toEqual([]);
  });

  test('each file problem names what the file is for, and its path; nothing is sent', async () => {
    const bad = path.join(dir, 'bad.json');
    const arr = path.join(dir, 'array.json');
    const big = path.join(dir, 'big.json');
    await writeFile(bad, '{"family": ');
    await writeFile(arr, JSON.stringify([ENI]));
    await writeFile(big, Buffer.alloc(1024 * 1024 + 1, 0x20));
    const missing = path.join(dir, 'missing.json');
    const cases: Array<[string[], string]> = [
      [['--task-definition', missing, '--eni-file', eni], `awsvpcd: cannot read task definition file ${missing}: ENOENT\n`],
      [['--task-definition', td, '--eni-file', arr], `awsvpcd: ENI file ${arr} must hold one JSON object (one ENI attachment, the shape of elasticNetworkInterfaces[0]), not an array\n`],
      [['--task-definition', td, '--eni-file', eni, '--overrides', big], 'awsvpcd: overrides file is larger than 1 MiB (1048577 bytes)\n'],
      [['--task-definition', dir, '--eni-file', eni], `awsvpcd: task definition file ${dir} is not a regular file\n`],
      // --file as before, word for word (test/integration/hostile-input pins it).
      [['--file', big], 'awsvpcd: task file is larger than 1 MiB (1048577 bytes)\n'],
      [['--file', missing], `awsvpcd: cannot read task file ${missing}: ENOENT\n`],
    ];
    for (const [argv, err] of cases) expect(await run(['run-task', ...argv, '--socket', sock])).toEqual({ code: 2, out: '', err });
    const r = await run(['run-task', '--task-definition', bad, '--eni-file', eni, '--socket', sock]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^awsvpcd: task definition file ${bad.replace(/[.]/g, '\\.')} is not valid JSON: `));
    expect(requests).toEqual([]);
  });
});
