// awsvpcd: the daemon and its client commands, declared with commander. Client commands talk only to the
// daemon's API. The daemon's flags come from its option table (config.ts OPTIONS), see program.ts.
import { Option, type Command } from 'commander';
import { loadConfig } from '../daemon/config-file.js';
import { cniConfigCommand } from './cni-config.js';
import { configCommand } from './config-command.js';
import { doctorCommand } from './doctor.js';
import { execCommand } from './exec.js';
import { AwsvpcdError } from '../errors.js';
import type { DescribedTask } from '../task/describe.js';
import { ApiClient, ApiUnreachableError } from './client.js';
import { readInputFile, runRequestFromFiles } from './run-request.js';
import { addDaemonOptions, addHelpCommand, boolOption, createProgram, daemonFlags, EXIT, run, UsageError, type Io } from './program.js';

export { EXIT } from './program.js';

/** A boolean flag given bare or as true (`--flag false` is off). */
function flagOn(v: unknown): boolean {
  return typeof v === 'string' && /^true$/i.test(v);
}

function idOf(arnOrId: string): string {
  return arnOrId.split('/').pop() ?? arnOrId;
}

function table(tasks: DescribedTask[]): string {
  const rows = [['TASK', 'LAST', 'DESIRED', 'ENI', 'IPV4', 'CONTAINERS', 'REASON']];
  for (const t of tasks) {
    const d = Object.fromEntries(t.attachments[0]?.details.map((x) => [x.name, x.value]) ?? []);
    rows.push([
      t.taskArn.split('/').pop() ?? '',
      t.lastStatus,
      t.desiredStatus,
      `${d.networkInterfaceId ?? ''} ${t.attachments[0]?.status ?? ''}`,
      d.privateIPv4Address ?? '',
      t.containers.map((c) => `${c.name}:${c.lastStatus}`).join(','),
      t.stoppedReason ?? '',
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

interface RunTaskOptions {
  file?: string;
  taskDefinition?: string;
  eniFile?: string;
  overrides?: string;
  taskArn?: string;
  startedBy?: string;
  group?: string;
  wait?: string;
  dryRun?: string;
  waitTimeoutMs?: string;
}

/** The request body run-task sends: the task file as is, or the run request built from its parts. */
async function runTaskBody(o: RunTaskOptions): Promise<{ body: Buffer | string } | { error: string }> {
  const partFlags = (['eniFile', 'overrides', 'taskArn', 'startedBy', 'group'] as const).filter((k) => o[k] !== undefined);
  const flag = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (o.dryRun !== undefined && o.wait !== undefined) throw new UsageError('--dry-run creates nothing to wait for; drop --wait');
  if (o.file !== undefined && o.taskDefinition !== undefined) throw new UsageError('run-task takes --file F (a task document) or --task-definition F (with --eni-file), not both');
  if (o.file !== undefined) {
    if (partFlags.length) throw new UsageError(`${flag(partFlags[0]!)} goes with --task-definition; a task document (--file) carries its own`);
    const body = await readInputFile(o.file, 'task file');
    return typeof body === 'string' ? { error: body } : { body };
  }
  if (o.taskDefinition === undefined) throw new UsageError('run-task needs --file F (a task document) or --task-definition F --eni-file E');
  if (o.eniFile === undefined) throw new UsageError('--task-definition needs --eni-file E (one ENI attachment, the shape of elasticNetworkInterfaces[0])');
  return runRequestFromFiles({ ...o, taskDefinition: o.taskDefinition, eniFile: o.eniFile });
}

/** The client commands: what they print and the exit code for each API answer. */
class Client {
  readonly api: ApiClient;

  constructor(
    socket: unknown,
    private readonly io: Io,
  ) {
    this.api = new ApiClient(typeof socket === 'string' ? socket : (io.env.AWSVPCD_SOCKET ?? '/run/awsvpcd/api.sock'));
  }

  errorExit(body: unknown, status: number): number {
    const b = body as { error?: { code?: string; message?: string }; errors?: Array<{ field?: string; message?: string }> } | undefined;
    const e = b?.error;
    if (Array.isArray(b?.errors) && b.errors.length > 1) {
      // Several reasons (a run request refused for more than one field): each on its own line, naming its field.
      this.io.err.write(`awsvpcd: refused for ${b.errors.length} reasons:\n`);
      for (const x of b.errors) {
        const m = String(x.message ?? '');
        this.io.err.write(`  ${x.field && !m.startsWith(`${x.field}: `) ? `${x.field}: ` : ''}${m}\n`);
      }
    } else this.io.err.write(`awsvpcd: ${e?.message ?? `HTTP ${status}`}\n`);
    if (status === 400) return EXIT.USAGE;
    if (status === 404) return EXIT.NOT_FOUND;
    if (status === 409) return EXIT.CONFLICT;
    return EXIT.INTERNAL;
  }

  /** Polls until the task reaches `until` (or STOPPED), printing each status change. */
  async waitFor(id: string, until: 'RUNNING' | 'STOPPED', timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = await this.api.request<DescribedTask>('GET', `/v1/tasks/${encodeURIComponent(id)}`);
      if (r.status !== 200) return this.errorExit(r.body, r.status);
      const t = r.body;
      if (t.lastStatus !== last) {
        last = t.lastStatus;
        this.io.err.write(`${new Date().toISOString()} ${id} ${t.lastStatus}\n`);
      }
      if (t.lastStatus === until) {
        if (until === 'STOPPED' && t.stoppedReason) this.io.err.write(`stoppedReason: ${t.stoppedReason}\n`);
        return EXIT.OK;
      }
      if (t.lastStatus === 'STOPPED') {
        this.io.err.write(`task stopped: ${t.stoppedReason ?? 'no reason given'}\n`);
        return EXIT.TASK_STOPPED;
      }
      if (Date.now() > end) {
        this.io.err.write(`timed out after ${timeoutMs} ms waiting for ${until} (last status ${t.lastStatus})\n`);
        return EXIT.TASK_STOPPED;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * run-task: a task document (--file), or a run request built from --task-definition and --eni-file (with
   * --overrides, --task-arn, --started-by, --group). --dry-run prints the daemon's plan and creates nothing.
   */
  async runTask(o: RunTaskOptions): Promise<number> {
    const body = await runTaskBody(o);
    if ('error' in body) {
      this.io.err.write(`awsvpcd: ${body.error}\n`);
      return EXIT.USAGE;
    }
    const dryRun = o.dryRun !== undefined;
    const r = await this.api.request<DescribedTask>('POST', dryRun ? '/v1/tasks?dryRun=true' : '/v1/tasks', body.body);
    if (dryRun) {
      if (r.status !== 200) return this.errorExit(r.body, r.status);
      this.io.out.write(`${JSON.stringify(r.body, null, 2)}\n`);
      return EXIT.OK;
    }
    if (r.status !== 200 && r.status !== 202) return this.errorExit(r.body, r.status);
    this.io.out.write(`${r.body.taskArn}\n`);
    if (o.wait !== undefined) return this.waitFor(idOf(r.body.taskArn), 'RUNNING', waitMs(o));
    return EXIT.OK;
  }

  async stopTask(arn: string | undefined, o: { wait?: string; waitTimeoutMs?: string }): Promise<number> {
    if (!arn) throw new UsageError('stop-task needs a task ARN or id');
    const r = await this.api.request('POST', `/v1/tasks/${encodeURIComponent(idOf(arn))}/stop`);
    if (r.status !== 202) return this.errorExit(r.body, r.status);
    if (o.wait !== undefined) return this.waitFor(idOf(arn), 'STOPPED', waitMs(o));
    return EXIT.OK;
  }

  async describeTasks(arns: string[], o: { json?: string; showEnvironment?: string }): Promise<number> {
    const tasks: DescribedTask[] = [];
    const failures: Array<{ arn: string; reason: string }> = [];
    const showEnv = flagOn(o.showEnvironment) ? '?showEnvironment=true' : '';
    if (arns.length === 0) {
      const r = await this.api.request<{ tasks: DescribedTask[] }>('GET', `/v1/tasks${showEnv}`);
      if (r.status !== 200) return this.errorExit(r.body, r.status);
      tasks.push(...r.body.tasks);
    }
    for (const arn of arns) {
      const r = await this.api.request<DescribedTask>('GET', `/v1/tasks/${encodeURIComponent(idOf(arn))}${showEnv}`);
      if (r.status === 200) tasks.push(r.body);
      else if (r.status === 404) failures.push({ arn, reason: 'MISSING' });
      else return this.errorExit(r.body, r.status);
    }
    if (o.json !== undefined) this.io.out.write(JSON.stringify({ tasks, failures }, null, 2) + '\n');
    else {
      this.io.out.write(table(tasks));
      for (const f of failures) this.io.out.write(`${f.arn}: ${f.reason}\n`);
    }
    return failures.length ? EXIT.NOT_FOUND : EXIT.OK;
  }

  async reconcile(o: { dryRun?: string }): Promise<number> {
    const dry = o.dryRun !== undefined;
    const r = await this.api.request<{ actions: Array<Record<string, string>> }>('POST', `/v1/reconcile?dryRun=${dry}`);
    if (r.status !== 200) return this.errorExit(r.body, r.status);
    if (r.body.actions.length === 0) this.io.out.write('nothing to reconcile\n');
    for (const a of r.body.actions) {
      const what = a.kind === 'release-netns' ? a.path : a.kind === 'release-ipam' ? `${a.address} (container ${String(a.containerId).slice(0, 12)})` : `${a.name ?? a.taskId}`;
      this.io.out.write(`${dry ? 'would ' : ''}${a.kind} ${what}: ${a.reason}\n`);
    }
    return EXIT.OK;
  }

  async listTasks(o: { json?: string }): Promise<number> {
    const r = await this.api.request<{ tasks: DescribedTask[] }>('GET', '/v1/tasks');
    if (r.status !== 200) return this.errorExit(r.body, r.status);
    if (o.json !== undefined) this.io.out.write(JSON.stringify({ taskArns: r.body.tasks.map((t) => t.taskArn) }, null, 2) + '\n');
    else for (const t of r.body.tasks) this.io.out.write(`${t.taskArn}  ${t.lastStatus}\n`);
    return EXIT.OK;
  }
}

/** --wait-timeout-ms, read as the hand-written parser did (Number of whatever was given). */
function waitMs(o: { waitTimeoutMs?: string }): number {
  return Number(o.waitTimeoutMs ?? 600_000);
}

async function daemon(cmd: Command, io: Io): Promise<number> {
  const { startDaemon } = await import('../daemon/daemon.js');
  const { config: cfg } = await loadConfig(daemonFlags(cmd), io.env);
  const d = await startDaemon(cfg);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => {
      d.logger.info({ signal: sig }, 'shutting down');
      void d.stop().then(resolve);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  return EXIT.OK;
}

const socketOption = (): Option => new Option('--socket <path>', "the daemon's API socket (default /run/awsvpcd/api.sock, env AWSVPCD_SOCKET)");
const jsonOption = (what: string): Option => boolOption('--json', what, { presence: true });
const waitTimeoutOption = (): Option => new Option('--wait-timeout-ms <n>', 'how long --wait waits (default 600000)');

/** Runs the CLI with `argv` (without node and the script) and returns the exit code. */
export async function cli(argv: string[], io: Io = { out: process.stdout, err: process.stderr, env: process.env }): Promise<number> {
  let code: number = EXIT.OK;
  /** The action for commander: the handler's exit code is the CLI's. */
  const act =
    (handler: (cmd: Command) => Promise<number>) =>
    async (...args: unknown[]): Promise<void> => {
      code = await handler(args[args.length - 1] as Command);
    };
  const client = (cmd: Command): Client => new Client(cmd.opts().socket, io);

  const program = createProgram(io);

  addDaemonOptions(program.command('daemon').usage('[flags]').description('run the daemon (flags below, each also an environment variable)'))
    .allowExcessArguments()
    .action(act((cmd) => daemon(cmd, io)));

  addDaemonOptions(
    program
      .command('config')
      .usage('[--json]')
      .description('print the resolved daemon configuration and where each value came from')
      .addOption(jsonOption('{config, sources} as JSON')),
  )
    .allowExcessArguments()
    .action(act((cmd) => configCommand(daemonFlags(cmd), cmd.opts().json !== undefined, io.env, io.out)));

  addDaemonOptions(
    program
      .command('doctor')
      .usage('[--json]')
      .description('check this host (root, namespaces, engine, plugins, pause image, state dir); exit 1 if not ready')
      .addOption(jsonOption('the report as JSON')),
  )
    .allowExcessArguments()
    .action(act((cmd) => doctorCommand(daemonFlags(cmd), cmd.opts().json !== undefined, io.env, io.out)));

  addDaemonOptions(
    program
      .command('cni-config')
      .usage('--file F [--plugins SET] [--netns P] [--container-id ID] [--command add|del|all] [--json]')
      .description('print the exact plugin calls (environment, stdin) the daemon would run for a task; runs nothing')
      .option('--file <F>', 'the task file')
      .option('--netns <P>', "the pause container's network namespace (default a placeholder)")
      .option('--container-id <ID>', "the pause container's id (default a placeholder)")
      .option('--command <add|del|all>', 'which calls to print (default all)')
      .addOption(jsonOption('the plan as JSON instead of a shell script')),
  )
    .allowExcessArguments()
    .action(
      act((cmd) => {
        const o = cmd.opts<{ file?: string; netns?: string; containerId?: string; command?: string; json?: string }>();
        return cniConfigCommand(daemonFlags(cmd), { ...o, json: o.json !== undefined }, io.env, io.out);
      }),
    );

  program
    .command('exec')
    .usage('TASK -- CMD...')
    .description("run a command in the task's network namespace (root, on the daemon's host)")
    .argument('[task]', "the task's ARN or id")
    .argument('[command...]', 'the command and its arguments')
    .addOption(socketOption())
    // The command's own flags pass through, `--` or not (`exec TASK ping -c 1 10.0.0.1`).
    .allowUnknownOption()
    .action(
      act(async (cmd) => {
        const [task, ...argv] = cmd.args;
        // A flag where the task should be is one of ours, mistyped.
        if (task?.startsWith('-')) {
          io.err.write(`awsvpcd: ${task.split('=')[0]}: unknown flag\n`);
          return EXIT.USAGE;
        }
        return execCommand(client(cmd).api, task, argv);
      }),
    );

  program
    .command('run-task')
    .usage('--file F | --task-definition F --eni-file E [--overrides F] [--task-arn ARN] [--started-by S] [--group G] [--wait] [--wait-timeout-ms N] [--dry-run]')
    .description('run a task: a task document, or an ECS task definition with its ENI; with --wait, exit 0 once it is RUNNING, 1 with the stoppedReason')
    .option('--file <F>', 'the task file (JSON, at most 1 MiB)')
    .option('--task-definition <F>', 'an ECS task definition (register-task-definition input or describe-task-definition output; at most 1 MiB)')
    .option('--eni-file <F>', 'the ENI attachment for --task-definition: one object, the shape of elasticNetworkInterfaces[0]')
    .option('--overrides <F>', 'RunTask overrides for --task-definition (containerOverrides, cpu, memory)')
    .option('--task-arn <ARN>', "the task's ARN (default: derived from the whole request except desiredStatus, so the same request is the same task)")
    .option('--started-by <S>', 'startedBy, as RunTask takes it')
    .option('--group <G>', 'group, as RunTask takes it')
    .addOption(boolOption('--wait', 'wait until the task is RUNNING, printing each status', { presence: true }))
    .addOption(waitTimeoutOption())
    .addOption(boolOption('--dry-run', "print the daemon's plan (create options, volumes, plugin calls, warnings); create nothing", { presence: true }))
    .addOption(socketOption())
    .allowExcessArguments()
    .action(act((cmd) => client(cmd).runTask(cmd.opts())));

  program
    .command('stop-task')
    .usage('ARN|ID [--wait]')
    .description('stop a task')
    .argument('[task]', "the task's ARN or id")
    .addOption(boolOption('--wait', 'wait until the task is STOPPED', { presence: true }))
    .addOption(waitTimeoutOption())
    .addOption(socketOption())
    .allowExcessArguments()
    .action(act((cmd) => client(cmd).stopTask(cmd.args[0], cmd.opts())));

  program
    .command('describe-tasks')
    .usage('[ARN|ID ...] [--json] [--show-environment]')
    .description('describe all tasks or the ones named (environment values are "[redacted]" unless asked for)')
    .argument('[tasks...]', 'task ARNs or ids (default all)')
    .addOption(jsonOption('DescribeTasks JSON instead of a table'))
    .addOption(boolOption('--show-environment', 'show environment values (unix socket only)'))
    .addOption(socketOption())
    .action(act((cmd) => client(cmd).describeTasks(cmd.args, cmd.opts())));

  program
    .command('list-tasks')
    .usage('[--json]')
    .description('list the tasks and their last status')
    .addOption(jsonOption('the task ARNs as JSON'))
    .addOption(socketOption())
    .allowExcessArguments()
    .action(act((cmd) => client(cmd).listTasks(cmd.opts())));

  program
    .command('reconcile')
    .usage('[--dry-run]')
    .description('compare state with the engine, namespaces and IPAM; fix (or only print) differences')
    .addOption(boolOption('--dry-run', 'only print the differences', { presence: true }))
    .addOption(socketOption())
    .allowExcessArguments()
    .action(act((cmd) => client(cmd).reconcile(cmd.opts())));

  addHelpCommand(program);

  try {
    return await run(program, argv, io, () => code);
  } catch (err) {
    if (err instanceof ApiUnreachableError) {
      io.err.write(`awsvpcd: ${err.message}\n`);
      return EXIT.UNREACHABLE;
    }
    if (err instanceof AwsvpcdError) {
      io.err.write(`awsvpcd: ${err.message}\n`);
      return err.code === 'CONFIG_ERROR' ? EXIT.USAGE : EXIT.INTERNAL;
    }
    io.err.write(`awsvpcd: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.INTERNAL;
  }
}
