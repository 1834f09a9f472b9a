// `awsvpcd cni-config --file task.json`: the exact plugin calls (environment and stdin JSON) and host steps
// the daemon would run to set the task up and tear it down, printed without running anything.
// Built from the same pieces the daemon uses: the task validator, cni/plan.ts buildPlan and the invoker's pluginEnv.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pluginEnv } from '../../cni/invoker.js';
import { locatePlugin, resolveCniPath } from '../../cni/locate.js';
import { buildPlan } from '../../cni/plan.js';
import type { CniCall } from '../../cni/types.js';
import { cniPlanOptions, validateOptions, type DaemonConfig } from '../daemon/config.js';
import { loadConfig } from '../daemon/config-file.js';
import { ValidationError } from '../errors.js';
import { MAX_TASK_DOCUMENT_BYTES, parseTaskDocument } from '../task/validate/index.js';

export interface PluginInvocation {
  command: 'ADD' | 'DEL';
  plugin: string;
  ifName: string;
  /** The binary the daemon would run: the first CNI_PATH directory holding it (or the first directory if none does). */
  path: string;
  found: boolean;
  /** The plugin's whole environment (it gets nothing else). */
  env: Record<string, string>;
  /** The network configuration on stdin (the daemon writes it as one line of JSON). */
  stdin: Record<string, unknown>;
}

/** A step the daemon does itself between plugin calls (reference set: bridge address, metadata blackholes; vpc dual-stack: the IPv6 default route). */
export interface HostStep {
  after: string;
  argv: string[];
  note: string;
}

export interface CniConfigPlan {
  taskArn: string;
  pluginSet: string;
  containerId: string;
  netns: string;
  add: PluginInvocation[];
  addTimeoutMs: number;
  hostSteps: HostStep[];
  del: PluginInvocation[];
  delTimeoutMs: number;
  ipamRelease?: PluginInvocation;
  ipamReleaseTimeoutMs: number;
}

export const PLACEHOLDER_CONTAINER_ID = '<pause-container-id>';
export const PLACEHOLDER_NETNS = '/proc/<pause-pid>/ns/net';

async function locate(dirs: string[], plugin: string): Promise<{ path: string; found: boolean }> {
  const file = await locatePlugin(plugin, dirs);
  return file ? { path: file, found: true } : { path: path.join(dirs[0] ?? '.', plugin), found: false };
}

/** Everything the daemon would run for `taskDocument`, with the pause container's id and netns given or as placeholders. */
export async function cniConfigPlan(
  taskDocument: Buffer | string,
  cfg: DaemonConfig,
  where: { containerId?: string; netns?: string } = {},
): Promise<CniConfigPlan> {
  const spec = parseTaskDocument(taskDocument, validateOptions(cfg));
  const planOptions = cniPlanOptions(cfg);
  const plan = buildPlan(cfg.plugins, spec.eni, planOptions);
  const dirs = resolveCniPath(cfg.cniPath);
  const cniPath = dirs.join(':');
  const containerId = where.containerId ?? PLACEHOLDER_CONTAINER_ID;
  const netns = where.netns ?? PLACEHOLDER_NETNS;
  const inv = async (call: CniCall, command: 'ADD' | 'DEL'): Promise<PluginInvocation> => ({
    command,
    plugin: call.plugin,
    ifName: call.ifName,
    ...(await locate(dirs, call.plugin)),
    env: pluginEnv(call, command, { containerId, netns }, cniPath),
    stdin: call.config,
  });
  const eniAdd = `${plan.add.find((c) => c.role === 'eni')?.plugin ?? 'eni'} ADD`;
  const hostSteps: HostStep[] = plan.hostSteps.map((h): HostStep => {
    switch (h.kind) {
      case 'bridge-address':
        return {
          after: `${plan.add.find((c) => c.role === 'bridge')?.plugin ?? 'bridge'} ADD`,
          argv: ['ip', 'addr', 'add', h.cidr, 'dev', h.bridge],
          note: 'the bridge plugin runs with isGateway=false, so the daemon puts the gateway address on the bridge ("File exists" is fine)',
        };
      case 'imds-blackhole':
        return {
          after: 'the pause container starts',
          argv: ['nsenter', `--net=${netns}`, '--', 'ip', 'route', 'replace', 'blackhole', h.dst],
          note: `the reference plugins cannot block instance metadata, so the daemon adds the blackhole route for ${h.dst}, beside the ADDs and before any task container starts`,
        };
      case 'default-route':
        return {
          after: eniAdd,
          argv: ['nsenter', `--net=${netns}`, '--', 'ip', '-6', 'route', 'replace', 'default', 'via', h.gateway, 'dev', h.dev],
          note: `the ENI plugin is sent the IPv4 gateway only (as the ECS agent sends it), so the daemon adds the IPv6 default route via ${h.gateway}`,
        };
    }
  });
  const out: CniConfigPlan = {
    taskArn: spec.taskArn,
    pluginSet: plan.set,
    containerId,
    netns,
    add: await Promise.all(plan.add.map((c) => inv(c, 'ADD'))),
    addTimeoutMs: cfg.cniAddTimeoutMs,
    hostSteps,
    del: await Promise.all(plan.del.map((c) => inv(c, 'DEL'))),
    delTimeoutMs: cfg.cniDelTimeoutMs,
    ipamReleaseTimeoutMs: 5_000,
  };
  if (plan.ipamRelease) out.ipamRelease = await inv(plan.ipamRelease, 'DEL');
  return out;
}

/** POSIX shell single quoting. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function shellCall(i: PluginInvocation): string {
  const env = Object.entries(i.env).map(([k, v]) => `${k}=${shQuote(v)}`);
  const missing = i.found ? '' : `# NOTE: ${i.plugin} is not in CNI_PATH on this host\n`;
  return `${missing}env -i ${env.join(' ')} \\\n  ${shQuote(i.path)} <<'AWSVPCD_JSON'\n${JSON.stringify(i.stdin, null, 2)}\nAWSVPCD_JSON\n`;
}

/** The plan as a shell script a person can read, and run section by section. */
export function formatShell(p: CniConfigPlan, sections: 'add' | 'del' | 'all' = 'all'): string {
  const lines: string[] = [
    '#!/bin/sh',
    `# awsvpcd cni-config: what the daemon would run for task ${p.taskArn} (plugin set ${p.pluginSet}). Nothing was run.`,
    `# CNI_CONTAINERID is the pause container's id (${p.containerId}), CNI_NETNS its network namespace (${p.netns});`,
    '# --container-id and --netns fill them in. The daemon writes each stdin JSON on one line.',
    '',
  ];
  if (sections !== 'del') {
    lines.push(`# ---- setup: ADD in this order (the daemon allows ${p.addTimeoutMs} ms for the whole sequence) ----`);
    const daemonSteps = (after: string): void => {
      for (const h of p.hostSteps.filter((h) => h.after === after)) lines.push(`# daemon step: ${h.note}`, `${h.argv.map(shQuote).join(' ')}\n`);
    };
    daemonSteps('the pause container starts');
    p.add.forEach((i, n) => {
      lines.push(`# ${n + 1}/${p.add.length} ${i.plugin} ADD on ${i.ifName}`, shellCall(i));
      daemonSteps(`${i.plugin} ADD`);
    });
  }
  if (sections !== 'add') {
    lines.push(`# ---- teardown: DEL in this order, each with ${p.delTimeoutMs} ms, going on past failures ----`);
    p.del.forEach((i, n) => lines.push(`# ${n + 1}/${p.del.length} ${i.plugin} DEL on ${i.ifName}`, shellCall(i)));
    if (p.ipamRelease) {
      lines.push(`# then, once the task is STOPPED, the ecs-eth0 address is released (${p.ipamReleaseTimeoutMs} ms)`, shellCall(p.ipamRelease));
    }
  }
  return lines.join('\n');
}

/** The task file, refused before reading if it is not a regular file or is over the API's 1 MiB. */
export async function readTaskFile(file: string): Promise<Buffer> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new ValidationError('', `cannot read task file ${file}: ${err.code ?? err.message}`);
  });
  if (!st.isFile()) throw new ValidationError('', `task file ${file} is not a regular file`);
  if (st.size > MAX_TASK_DOCUMENT_BYTES) throw new ValidationError('', `task file is larger than 1 MiB (${st.size} bytes)`);
  return readFile(file);
}

/** cni-config's own flags (the daemon's come separately). */
export interface CniConfigArgs {
  file?: string;
  netns?: string;
  containerId?: string;
  command?: string;
  json: boolean;
}

/** `awsvpcd cni-config --file task.json [--plugins SET] [--netns PATH] [--container-id ID] [--command add|del|all] [--json]` */
export async function cniConfigCommand(flags: Map<string, string | true>, args: CniConfigArgs, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const { file } = args;
  const command = args.command ?? 'all';
  if (typeof file !== 'string' || !['add', 'del', 'all'].includes(command)) {
    process.stderr.write('awsvpcd: usage: awsvpcd cni-config --file task.json [--plugins SET] [--netns PATH] [--container-id ID] [--command add|del|all] [--json]\n');
    return 2;
  }
  const { config } = await loadConfig(flags, env);
  const plan = await cniConfigPlan(await readTaskFile(file), config, { containerId: args.containerId, netns: args.netns });
  if (args.json) {
    const pick = command === 'add' ? { ...plan, del: [], ipamRelease: undefined } : command === 'del' ? { ...plan, add: [], hostSteps: [] } : plan;
    out.write(JSON.stringify(pick, null, 2) + '\n');
  } else out.write(formatShell(plan, command as 'add' | 'del' | 'all'));
  return 0;
}
