#!/usr/bin/env node
// awsvpcd: the daemon and its client commands. Client commands talk only to the daemon's API.
import { open } from 'node:fs/promises';
import { OPTIONS } from '../daemon/config.js';
import { loadConfig } from '../daemon/config-file.js';
import { cniConfigCommand } from './cni-config.js';
import { configCommand } from './config-command.js';
import { doctorCommand } from './doctor.js';
import { execCommand } from './exec.js';
import { AwsvpcdError } from '../task/errors.js';
import type { DescribedTask } from '../task/describe.js';
import { MAX_TASK_DOCUMENT_BYTES } from '../task/validate/index.js';
import { ApiClient, ApiUnreachableError } from './client.js';

export const EXIT = { OK: 0, TASK_STOPPED: 1, USAGE: 2, NOT_FOUND: 3, CONFLICT: 4, UNREACHABLE: 5, INTERNAL: 6 } as const;

const USAGE = `usage: awsvpcd <command> [flags]

commands:
  daemon                 run the daemon (flags below, each also an environment variable)
  config [--json]        print the resolved daemon configuration and where each value came from
  doctor [--json]        check this host (root, namespaces, engine, plugins, pause image, state dir); exit 1 if not ready
  cni-config --file F [--plugins SET] [--netns P] [--container-id ID] [--command add|del|all] [--json]
                         print the exact plugin calls (environment, stdin) the daemon would run for a task; runs nothing
  exec TASK -- CMD...    run a command in the task's network namespace (root, on the daemon's host)
  run-task --file F [--wait] [--wait-timeout-ms N]
  stop-task ARN|ID [--wait]
  describe-tasks [ARN|ID ...] [--json] [--show-environment]   (environment values are "[redacted]" unless asked for)
  list-tasks [--json]
  reconcile [--dry-run]  compare state with the engine, namespaces and IPAM; fix (or only print) differences
every client command takes --socket (default /run/awsvpcd/api.sock, env AWSVPCD_SOCKET)

daemon flags (precedence: flag > environment > --config-file JSON > /etc/ecs/ecs.config > default):
${OPTIONS.map((o) => `  ${o.flag.padEnd(28)} env ${(o.env ?? []).join(', ')}`).join('\n')}
`;

const BOOL_FLAGS = new Set(['--show-environment', '--dry-run', '--wait', '--json', '--pretty', '--block-imds', '--allow-privileged', '--help']);

export function parseArgs(argv: string[]): { positional: string[]; flags: Map<string, string | true> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(0, eq), a.slice(eq + 1));
      else if (BOOL_FLAGS.has(a)) {
        // A boolean flag may still take an explicit value: --block-imds false
        const next = argv[i + 1];
        if (next !== undefined && /^(true|false)$/i.test(next)) {
          flags.set(a, next);
          i++;
        } else flags.set(a, true);
      } else {
        const v = argv[i + 1];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        flags.set(a, v);
        i++;
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

class UsageError extends Error {}

/** A boolean flag given bare or as true (`--flag false` is off). */
function flagOn(flags: Map<string, string | true>, name: string): boolean {
  const v = flags.get(name);
  return v === true || (typeof v === 'string' && /^true$/i.test(v));
}

/**
 * The task file's bytes, or why it is refused: not a regular file (a FIFO or /dev/zero would never
 * end) or over 1 MiB, which the daemon would refuse anyway. Checked before the file is read whole.
 */
async function readTaskFile(file: string): Promise<Buffer | string> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    return `cannot read task file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return `task file ${file} is not a regular file`;
    if (st.size > MAX_TASK_DOCUMENT_BYTES) return `task file is larger than 1 MiB (${st.size} bytes)`;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function idOf(arnOrId: string): string {
  return arnOrId.split('/').pop() ?? arnOrId;
}

function client(flags: Map<string, string | true>): ApiClient {
  const s = flags.get('--socket');
  return new ApiClient(typeof s === 'string' ? s : (process.env.AWSVPCD_SOCKET ?? '/run/awsvpcd/api.sock'));
}

function errorExit(body: unknown, status: number): number {
  const e = (body as { error?: { code?: string; message?: string } })?.error;
  process.stderr.write(`awsvpcd: ${e?.message ?? `HTTP ${status}`}\n`);
  if (status === 400) return EXIT.USAGE;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.CONFLICT;
  return EXIT.INTERNAL;
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

/** Polls until the task reaches `until` (or STOPPED), printing each status change. */
async function waitFor(api: ApiClient, id: string, until: 'RUNNING' | 'STOPPED', timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await api.request<DescribedTask>('GET', `/v1/tasks/${encodeURIComponent(id)}`);
    if (r.status !== 200) return errorExit(r.body, r.status);
    const t = r.body;
    if (t.lastStatus !== last) {
      last = t.lastStatus;
      process.stderr.write(`${new Date().toISOString()} ${id} ${t.lastStatus}\n`);
    }
    if (t.lastStatus === until) {
      if (until === 'STOPPED' && t.stoppedReason) process.stderr.write(`stoppedReason: ${t.stoppedReason}\n`);
      return EXIT.OK;
    }
    if (t.lastStatus === 'STOPPED') {
      process.stderr.write(`task stopped: ${t.stoppedReason ?? 'no reason given'}\n`);
      return EXIT.TASK_STOPPED;
    }
    if (Date.now() > end) {
      process.stderr.write(`timed out after ${timeoutMs} ms waiting for ${until} (last status ${t.lastStatus})\n`);
      return EXIT.TASK_STOPPED;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? EXIT.OK : EXIT.USAGE;
  }
  const { positional, flags } = parseArgs(rest);
  const waitMs = Number(flags.get('--wait-timeout-ms') ?? 600_000);
  switch (cmd) {
    case 'daemon': {
      const { startDaemon } = await import('../daemon/daemon.js');
      const { config: cfg } = await loadConfig(flags, process.env);
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
    case 'config': {
      return configCommand(flags, process.env, process.stdout);
    }
    case 'run-task': {
      const file = flags.get('--file');
      if (typeof file !== 'string') throw new UsageError('run-task needs --file F');
      const body = await readTaskFile(file);
      if (typeof body === 'string') {
        process.stderr.write(`awsvpcd: ${body}\n`);
        return EXIT.USAGE;
      }
      const api = client(flags);
      const r = await api.request<DescribedTask>('POST', '/v1/tasks', body);
      if (r.status !== 200 && r.status !== 202) return errorExit(r.body, r.status);
      process.stdout.write(`${r.body.taskArn}\n`);
      if (flags.has('--wait')) return waitFor(api, idOf(r.body.taskArn), 'RUNNING', waitMs);
      return EXIT.OK;
    }
    case 'stop-task': {
      const arn = positional[0];
      if (!arn) throw new UsageError('stop-task needs a task ARN or id');
      const api = client(flags);
      const r = await api.request('POST', `/v1/tasks/${encodeURIComponent(idOf(arn))}/stop`);
      if (r.status !== 202) return errorExit(r.body, r.status);
      if (flags.has('--wait')) return waitFor(api, idOf(arn), 'STOPPED', waitMs);
      return EXIT.OK;
    }
    case 'describe-tasks': {
      const api = client(flags);
      const tasks: DescribedTask[] = [];
      const failures: Array<{ arn: string; reason: string }> = [];
      const showEnv = flagOn(flags, '--show-environment') ? '?showEnvironment=true' : '';
      if (positional.length === 0) {
        const r = await api.request<{ tasks: DescribedTask[] }>('GET', `/v1/tasks${showEnv}`);
        if (r.status !== 200) return errorExit(r.body, r.status);
        tasks.push(...r.body.tasks);
      }
      for (const arn of positional) {
        const r = await api.request<DescribedTask>('GET', `/v1/tasks/${encodeURIComponent(idOf(arn))}${showEnv}`);
        if (r.status === 200) tasks.push(r.body);
        else if (r.status === 404) failures.push({ arn, reason: 'MISSING' });
        else return errorExit(r.body, r.status);
      }
      if (flags.has('--json')) process.stdout.write(JSON.stringify({ tasks, failures }, null, 2) + '\n');
      else {
        process.stdout.write(table(tasks));
        for (const f of failures) process.stdout.write(`${f.arn}: ${f.reason}\n`);
      }
      return failures.length ? EXIT.NOT_FOUND : EXIT.OK;
    }
    case 'reconcile': {
      const dry = flags.has('--dry-run');
      const r = await client(flags).request<{ actions: Array<Record<string, string>> }>('POST', `/v1/reconcile?dryRun=${dry}`);
      if (r.status !== 200) return errorExit(r.body, r.status);
      if (r.body.actions.length === 0) process.stdout.write('nothing to reconcile\n');
      for (const a of r.body.actions) {
        const what = a.kind === 'release-netns' ? a.path : a.kind === 'release-ipam' ? `${a.address} (container ${String(a.containerId).slice(0, 12)})` : `${a.name ?? a.taskId}`;
        process.stdout.write(`${dry ? 'would ' : ''}${a.kind} ${what}: ${a.reason}\n`);
      }
      return EXIT.OK;
    }
    case 'list-tasks': {
      const r = await client(flags).request<{ tasks: DescribedTask[] }>('GET', '/v1/tasks');
      if (r.status !== 200) return errorExit(r.body, r.status);
      if (flags.has('--json')) process.stdout.write(JSON.stringify({ taskArns: r.body.tasks.map((t) => t.taskArn) }, null, 2) + '\n');
      else for (const t of r.body.tasks) process.stdout.write(`${t.taskArn}  ${t.lastStatus}\n`);
      return EXIT.OK;
    }
    case 'doctor':
      return doctorCommand(flags, process.env, process.stdout);
    case 'cni-config':
      return cniConfigCommand(flags, process.env, process.stdout);
    case 'exec':
      return execCommand(client(flags), positional[0], positional.slice(1));
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`awsvpcd: ${err.message}\n\n${USAGE}`);
      process.exitCode = EXIT.USAGE;
    } else if (err instanceof ApiUnreachableError) {
      process.stderr.write(`awsvpcd: ${err.message}\n`);
      process.exitCode = EXIT.UNREACHABLE;
    } else if (err instanceof AwsvpcdError) {
      process.stderr.write(`awsvpcd: ${err.message}\n`);
      process.exitCode = err.code === 'CONFIG_ERROR' ? EXIT.USAGE : EXIT.INTERNAL;
    } else {
      process.stderr.write(`awsvpcd: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = EXIT.INTERNAL;
    }
  },
);
