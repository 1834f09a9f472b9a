// Runs CNI plugin binaries: env + stdin in, result or typed error out, each run under a deadline.
import { execa } from 'execa';
import type { Logger } from 'pino';
import { CniError, DeadlineError } from '../agent/errors.js';
import { locatePlugin, PLUGIN_NAME, resolveCniPath } from './locate.js';
import { errorObjectOnSuccess, parseCniErrorOutput, parseCniResult, parseVersionResult, quote } from './result.js';
import type { CniCall, CniInvoker, CniResult, CniRuntime } from './types.js';

type Command = CniError['command'];

/** What one plugin run produced. `spawnError` is set when it could not be started at all. */
export interface PluginOutput {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  signal: string | undefined;
  /** Killed at the deadline. */
  timedOut: boolean;
  spawnError?: string;
}

export type ExecPluginFn = (file: string, stdinJson: string, env: Record<string, string>, timeoutMs: number, cwd?: string) => Promise<PluginOutput>;

/** Plugins get this instead of the daemon's environment (which may hold secrets and proxies). */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
};

const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * The lowest seam: run one plugin file with an argument array (no shell) and a deadline.
 * The plugin runs in its own process group, and at the deadline the whole group gets SIGKILL:
 * ecs-bridge runs ecs-ipam as a child, and a child left alive would keep stdout open and the
 * call hanging. (execa's `timeout` + killSignal SIGKILL reach only the leader; forceKillAfterDelay
 * only follows a SIGTERM, so it has nothing to add here.) Never rejects.
 */
export const execPlugin: ExecPluginFn = async (file, stdinJson, env, timeoutMs, cwd) => {
  const deadline = Math.max(1, Math.floor(timeoutMs));
  let killedAtDeadline = false;
  const sub = execa(file, [], {
    input: stdinJson,
    env,
    // A plugin writes relative paths here, never into the daemon's own directory (vpc-eni without
    // VPC_CNI_LOG_FILE makes a `C:\ProgramData` folder in its working directory).
    ...(cwd !== undefined ? { cwd } : {}),
    extendEnv: false,
    reject: false,
    detached: true,
    timeout: deadline,
    killSignal: 'SIGKILL',
    maxBuffer: MAX_OUTPUT_BYTES,
    stripFinalNewline: false,
  });
  const pid = sub.pid;
  const timer = setTimeout(() => {
    killedAtDeadline = true;
    killGroup(pid);
  }, deadline);
  const r = await sub;
  clearTimeout(timer);
  const timedOut = killedAtDeadline || r.timedOut;
  if (timedOut) killGroup(pid); // anything the leader left behind
  const out: PluginOutput = {
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut,
  };
  if (!timedOut && r.failed && r.exitCode === undefined && r.signal === undefined) {
    out.spawnError = r.isMaxBuffer ? `output larger than ${MAX_OUTPUT_BYTES} bytes` : r.shortMessage;
  }
  return out;
};

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

export interface ExecCniInvokerOptions {
  /** CNI_PATH: one directory or a ':'-separated list, searched in order. */
  cniPath: string;
  logger?: Logger;
  /** Added to every plugin's environment (below the call's own env and the CNI_* variables). */
  extraEnv?: Record<string, string>;
  /** Replaces execPlugin (tests). */
  exec?: ExecPluginFn;
  /** The plugins' working directory (must exist); default: the daemon's. */
  workDir?: string;
}


/**
 * DEL failures that mean "already gone", so DEL counts as done. Exactly these:
 * - CNI error code 3, "container unknown or does not exist" (the spec: no cleanup needed);
 * - the netns path is missing: the message names CNI_NETNS and says "no such file or directory"
 *   (containernetworking/plugins ns.GetNS: `failed to Statfs "<path>": no such file or directory`,
 *   as host-device and ecs-bridge report it when the pause process and its netns are gone);
 * - "link not found" in any case (netlink's "Link not found", and containernetworking ip.ErrLinkNotFound
 *   "link not found"): the interface to remove is not there any more.
 */
export function isAlreadyGone(err: CniError, netns: string): boolean {
  if (err.kind !== 'plugin-error') return false;
  if (err.cniCode === 3) return true;
  const text = `${err.cniMsg ?? ''}\n${err.message}\n${err.details ?? ''}`;
  if (netns !== '' && text.includes(netns) && /no such file or directory/i.test(text)) return true;
  return /link not found/i.test(text);
}

/**
 * The whole environment a plugin runs with for one call. Exported so `awsvpcd cni-config` prints exactly
 * what the daemon would run. `cniPath` is the resolved ':'-joined CNI_PATH.
 */
export function pluginEnv(call: CniCall, command: Command, rt: Pick<CniRuntime, 'containerId' | 'netns'>, cniPath: string, extraEnv: Record<string, string> = {}): Record<string, string> {
  return {
    ...BASE_ENV,
    ...extraEnv,
    ...(call.env ?? {}),
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: call.ifName,
    CNI_PATH: cniPath,
    CNI_ARGS: 'IgnoreUnknown=1',
  };
}

export { resolveCniPath } from './locate.js';

export class ExecCniInvoker implements CniInvoker {
  private readonly dirs: string[];
  private readonly cniPath: string;
  private readonly log: Logger | undefined;
  private readonly extraEnv: Record<string, string>;
  private readonly exec: ExecPluginFn;
  private readonly workDir: string | undefined;

  constructor(opts: ExecCniInvokerOptions) {
    this.dirs = resolveCniPath(opts.cniPath);
    if (this.dirs.length === 0) throw new Error('cniPath is empty');
    this.cniPath = this.dirs.join(':');
    this.log = opts.logger;
    this.extraEnv = { ...(opts.extraEnv ?? {}) };
    this.exec = opts.exec ?? execPlugin;
    this.workDir = opts.workDir;
  }

  async add(call: CniCall, rt: CniRuntime): Promise<CniResult> {
    const out = await this.run(call, 'ADD', rt, call.config);
    // The Amazon ECS plugins print no cniVersion: libcni reads the result as the config's version.
    const configVersion = typeof call.config.cniVersion === 'string' ? call.config.cniVersion : undefined;
    return parseCniResult(out.stdout, call.plugin, 'ADD', configVersion);
  }

  async del(call: CniCall, rt: CniRuntime): Promise<void> {
    try {
      await this.run(call, 'DEL', rt, call.config);
    } catch (err) {
      if (err instanceof CniError && isAlreadyGone(err, rt.netns)) {
        this.log?.debug({ plugin: call.plugin, ifName: call.ifName, netns: rt.netns, err: err.message }, 'CNI DEL: already gone, counted as done');
        return;
      }
      throw err;
    }
  }

  async check(call: CniCall, rt: CniRuntime, prevResult: CniResult): Promise<void> {
    const cniVersion = typeof call.config.cniVersion === 'string' ? call.config.cniVersion : prevResult.cniVersion;
    await this.run(call, 'CHECK', rt, { ...call.config, prevResult: toPrevResult(prevResult, cniVersion) });
  }

  async version(plugin: string, timeoutMs: number): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    const file = await this.resolve(plugin, 'VERSION');
    const stdin = JSON.stringify({ cniVersion: '1.0.0' });
    const env = { ...BASE_ENV, ...this.extraEnv, CNI_COMMAND: 'VERSION', CNI_PATH: this.cniPath };
    const out = await this.execChecked(plugin, 'VERSION', file, stdin, env, timeoutMs, {});
    return parseVersionResult(out.stdout, plugin);
  }

  private async run(call: CniCall, command: Command, rt: CniRuntime, config: Record<string, unknown>): Promise<PluginOutput> {
    const file = await this.resolve(call.plugin, command);
    const env = pluginEnv(call, command, rt, this.cniPath, this.extraEnv);
    const stdin = JSON.stringify(config);
    return this.execChecked(call.plugin, command, file, stdin, env, rt.timeoutMs, {
      ifName: call.ifName,
      containerId: rt.containerId,
      netns: rt.netns,
      stdin: config,
    });
  }

  /**
   * Runs the plugin; resolves only on exit 0 without an error object on stdout, otherwise throws the
   * CniError that says why. Exit 0 with empty stdout resolves (DEL and CHECK print nothing; an ADD's
   * empty stdout is the result parser's bad-output). Exit 0 with an error object is a failure: vpc-eni
   * prints its recovered panics that way.
   */
  private async execChecked(
    plugin: string,
    command: Command,
    file: string,
    stdin: string,
    env: Record<string, string>,
    timeoutMs: number,
    logFields: Record<string, unknown>,
  ): Promise<PluginOutput> {
    const started = Date.now();
    const out = await this.exec(file, stdin, env, timeoutMs, this.workDir);
    const fields = { plugin, command, ...logFields, durationMs: Date.now() - started };
    if (out.timedOut) {
      this.log?.debug({ ...fields, stderr: quote(out.stderr) }, 'CNI plugin killed at its deadline');
      throw new CniError({
        plugin,
        command,
        kind: 'timeout',
        message: `killed after ${timeoutMs} ms`,
        details: out.stderr.trim() ? quote(out.stderr) : undefined,
        cause: new DeadlineError(`${plugin} ${command}`, timeoutMs),
      });
    }
    if (out.spawnError !== undefined) {
      this.log?.debug({ ...fields, error: out.spawnError }, 'CNI plugin could not be run');
      throw new CniError({ plugin, command, kind: 'exec-failed', message: out.spawnError });
    }
    if (out.exitCode !== 0) {
      this.log?.debug({ ...fields, exitCode: out.exitCode, signal: out.signal, stdout: quote(out.stdout), stderr: quote(out.stderr) }, 'CNI plugin failed');
      if (out.exitCode === undefined) {
        throw new CniError({ plugin, command, kind: 'exec-failed', message: `terminated by ${out.signal ?? 'a signal'}`, details: out.stderr.trim() ? quote(out.stderr) : undefined });
      }
      throw parseCniErrorOutput(out.stdout, out.stderr, out.exitCode, plugin, command);
    }
    const failed = errorObjectOnSuccess(out.stdout, out.stderr, plugin, command);
    if (failed) {
      this.log?.debug({ ...fields, exitCode: 0, stdout: quote(out.stdout), stderr: quote(out.stderr) }, 'CNI plugin exited 0 with an error object');
      throw failed;
    }
    this.log?.debug({ ...fields, result: quote(out.stdout, 4000) }, 'CNI plugin call');
    return out;
  }

  /** `<dir>/<plugin>` for the first CNI_PATH directory that holds it as an executable file. */
  private async resolve(plugin: string, command: Command): Promise<string> {
    if (!PLUGIN_NAME.test(plugin)) {
      throw new CniError({ plugin, command, kind: 'not-found', message: `not a plugin name: ${JSON.stringify(plugin)}` });
    }
    const file = await locatePlugin(plugin, this.dirs, (f, why) => this.log?.trace({ plugin, file: f, err: why }, 'CNI plugin candidate skipped'));
    if (!file) throw new CniError({ plugin, command, kind: 'not-found', message: `no executable ${plugin} in ${this.cniPath}` });
    return file;
  }
}

/** A CniResult in the shape a plugin of `cniVersion` parses as prevResult (0.3/0.4 want ips[].version). */
export function toPrevResult(r: CniResult, cniVersion: string): Record<string, unknown> {
  const legacyIps = /^0\.[34]\./.test(cniVersion);
  return {
    cniVersion,
    interfaces: r.interfaces.map((i) => ({ ...i })),
    ips: r.ips.map((ip) => (legacyIps ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : { ...ip })),
    routes: r.routes.map((rt) => ({ ...rt })),
    dns: { ...r.dns },
  };
}
