// `awsvpcd doctor`: checks that this host can run awsvpc tasks with the configured plugin set, says what to
// fix, and whether the host qualifies for the ECS attribute ecs.capability.task-eni. The plugin checks are
// the ECS agent's start-up checks (agent/app/agent_unix.go): each plugin answers `--capabilities` with
// awsvpc-network-mode and `--version`; on top, every plugin (IPAM ones included) must answer CNI VERSION
// with the spec version the daemon sends it.
import { constants } from 'node:fs';
import { access, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { Dockerode } from '../docker/dockerode.js';
import { execa } from 'execa';
import pino from 'pino';
import { ExecCniInvoker } from '../../cni/invoker.js';
import { locatePlugin } from '../../cni/locate.js';
import { pluginsOf as cniPluginsOf } from '../../cni/plan.js';
import { cniPlanOptions, type DaemonConfig } from '../daemon/config.js';
import { loadConfig } from '../daemon/config-file.js';
import { DockerodeRuntime, dockerConnection } from '../docker/dockerode-runtime.js';
import { FsTaskCgroups, type TaskCgroups } from '../docker/task-cgroup.js';
import { errorMessage } from '../errors.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** Passes, yet says a feature is off here (printed "warn"; the host still qualifies). */
  warn?: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  ok: boolean;
  /** Whether the ECS agent would register ecs.capability.task-eni here (all checks pass). */
  taskEni: boolean;
  attributes: string[];
}

export type DoctorExec = (file: string, args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }) => Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;

export interface DoctorDeps {
  uid: number;
  exec: DoctorExec;
  engine: { version(): Promise<{ version: string; apiVersion: string }>; imageExists(ref: string): Promise<boolean> };
  cni: { version(plugin: string, timeoutMs: number): Promise<{ cniVersion: string; supportedVersions: string[] }> };
  /** Directories searched for ip, nsenter, mount. */
  path: string[];
  /** Whether task-level cpu/memory limits (a cgroup parent per task) can be applied; absent: not checked. */
  taskCgroups?: Pick<TaskCgroups, 'support'>;
  /** The text of /proc/sys/net/ipv6/conf/all/disable_ipv6, undefined when it does not exist; absent: not checked. */
  hostIpv6?: () => Promise<string | undefined>;
}

export const HOST_IPV6_SYSCTL = '/proc/sys/net/ipv6/conf/all/disable_ipv6';

/**
 * IPv6 on the host: what dual-stack and IPv6-only tasks need. Never a failure (IPv4 tasks do not need it),
 * a warning where those tasks cannot run, or run only because their namespace turns IPv6 on for itself.
 */
export function hostIpv6Check(text: string | undefined): DoctorCheck {
  const name = 'host IPv6';
  if (text === undefined) {
    return {
      name,
      ok: true,
      warn: true,
      detail: `${HOST_IPV6_SYSCTL} does not exist: this kernel has no IPv6 (booted with ipv6.disable=1?), so dual-stack and IPv6-only tasks fail; IPv4 tasks are not affected`,
      fix: 'boot without ipv6.disable=1 to run tasks with IPv6 addresses',
    };
  }
  const v = text.trim();
  if (v === '0') return { name, ok: true, detail: 'IPv6 enabled (net.ipv6.conf.all.disable_ipv6=0): dual-stack and IPv6-only tasks can run' };
  return {
    name,
    ok: true,
    warn: true,
    detail: `IPv6 is off in the host namespace (net.ipv6.conf.all.disable_ipv6=${v}); each IPv6 task's namespace turns it on for itself (the pause container's sysctl), so dual-stack and IPv6-only tasks still run`,
  };
}

/** ecs-init turns task ENIs off below this Docker API version (ecs-init/docker/docker.go). */
export const MIN_DOCKER_API = '1.25';
export const AWSVPC_CAPABILITY = 'awsvpc-network-mode';
const PLUGIN_TIMEOUT_MS = 5_000;
const HOST_TOOLS = ['ip', 'nsenter', 'mount', 'umount'];

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Each plugin binary the set runs, with the CNI version the daemon sends it; IPAM plugins run by another plugin included. */
export function pluginsOf(cfg: DaemonConfig): Map<string, string> {
  return cniPluginsOf(cfg.plugins, cniPlanOptions(cfg));
}

function pluginFix(cfg: DaemonConfig): string {
  return cfg.plugins === 'reference'
    ? `install the reference CNI plugins (apt-get install containernetworking-plugins puts them in /usr/lib/cni) and point --cni-path (ECS_CNI_PLUGINS_PATH) at them; now ${cfg.cniPath}`
    : `install the Amazon ${cfg.plugins === 'ecs' ? 'ecs-eni, ecs-bridge and ecs-ipam (amazon-ecs-cni-plugins)' : 'vpc-eni (amazon-vpc-cni-plugins) with ecs-bridge and ecs-ipam'} into ${cfg.cniPath}, or set --cni-path / ECS_CNI_PLUGINS_PATH; --plugins reference uses Debian's plugins instead`;
}

async function checkPlugin(cfg: DaemonConfig, d: DoctorDeps, plugin: string, cniVersion: string): Promise<{ check: DoctorCheck; version?: string }> {
  const name = `plugin ${plugin}`;
  const file = await locatePlugin(plugin, cfg.cniPath);
  if (!file) return { check: { name, ok: false, detail: `no executable ${plugin} in ${cfg.cniPath}`, fix: pluginFix(cfg) } };
  const parts = [file];
  try {
    const v = await d.cni.version(plugin, PLUGIN_TIMEOUT_MS);
    if (cniVersion && !v.supportedVersions.includes(cniVersion)) {
      return {
        check: { name, ok: false, detail: `${file} supports CNI ${v.supportedVersions.join(', ')}, not ${cniVersion} which the daemon sends`, fix: 'install a plugin release that supports that spec version' },
      };
    }
    parts.push(`CNI ${v.supportedVersions.join(',')}`);
  } catch (err) {
    return { check: { name, ok: false, detail: `${file} does not answer CNI VERSION: ${errorMessage(err)}`, fix: 'reinstall the plugin; it must be a CNI plugin built for this architecture' } };
  }
  if (cfg.plugins === 'reference') return { check: { name, ok: true, detail: parts.join(', ') } };

  // The Amazon plugins' own flags, as the ECS agent runs them at start-up.
  let version: string | undefined;
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  const ver = await d.exec(file, ['--version'], { env, timeoutMs: PLUGIN_TIMEOUT_MS });
  const build = ver.exitCode === 0 ? parseVersionFlag(ver.stdout) : undefined;
  if (!build) {
    return {
      check: { name, ok: false, detail: `${file} --version did not print {"version","gitShortHash",...} (exit ${ver.exitCode}): ${shown(ver)}`, fix: pluginFix(cfg) },
    };
  }
  version = pluginVersionAttribute(build);
  parts.push(`version ${describeBuild(build)}`);
  const caps = await d.exec(file, ['--capabilities'], { env, timeoutMs: PLUGIN_TIMEOUT_MS });
  const list = caps.exitCode === 0 ? parseCapabilitiesFlag(caps.stdout) : undefined;
  if (!list || !list.includes(AWSVPC_CAPABILITY)) {
    return {
      check: { name, ok: false, detail: `${file} --capabilities does not list ${AWSVPC_CAPABILITY} (exit ${caps.exitCode}): ${shown(caps)}`, fix: `install a release of ${plugin} built with awsvpc support` },
      version,
    };
  }
  parts.push(`capabilities ${list.join(',')}`);
  return { check: { name, ok: true, detail: parts.join(', ') }, version };
}

function shown(r: { stdout: string; stderr: string }): string {
  return JSON.stringify((r.stdout || r.stderr).trim().slice(0, 200));
}

/** A flag's stdout as a JSON object; undefined when it is not JSON or not an object (an array, null, a scalar). */
function parseJsonObject(stdout: string): Record<string, unknown> | undefined {
  let j: unknown;
  try {
    j = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return undefined;
  return j as Record<string, unknown>;
}

/**
 * What an Amazon plugin's `--version` prints. Two shapes, both accepted:
 * - ecs-eni, ecs-bridge, ecs-ipam: `{"version","dirty","gitShortHash"}`;
 * - vpc-eni: `{"version","gitShortHash","built"}`.
 * A build from source without the release -ldflags prints empty strings (and `dirty: true`).
 */
export interface PluginBuild {
  version: string;
  gitShortHash: string;
  dirty: boolean;
  /** vpc-eni's build time stamp; undefined for the ECS plugins. */
  built?: string;
}

/** `--version` stdout -> PluginBuild; undefined unless it is a JSON object with a string `version` and the other keys of the right types. */
export function parseVersionFlag(stdout: string): PluginBuild | undefined {
  const o = parseJsonObject(stdout);
  if (o === undefined || typeof o.version !== 'string') return undefined;
  if (o.gitShortHash !== undefined && typeof o.gitShortHash !== 'string') return undefined;
  if (o.dirty !== undefined && typeof o.dirty !== 'boolean') return undefined;
  if (o.built !== undefined && typeof o.built !== 'string') return undefined;
  const out: PluginBuild = { version: o.version, gitShortHash: o.gitShortHash ?? '', dirty: o.dirty === true };
  if (typeof o.built === 'string') out.built = o.built;
  return out;
}

/** For people: "2020.09.0 (git 55b2ae77)", "... dirty", "... built <time>", or "(source build, no version)" when it says nothing. */
export function describeBuild(b: PluginBuild): string {
  if (b.version === '' && b.gitShortHash === '' && !b.built) return '(source build, no version)';
  const extra = [b.gitShortHash && `git ${b.gitShortHash}`, b.dirty && 'dirty', b.built && `built ${b.built}`].filter(Boolean);
  return `${b.version || '(no version)'}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/**
 * The value the ECS agent registers as ecs.capability.cni-plugin-version (agent/ecscni cniPluginVersion.str()):
 * `[@]<gitShortHash>-<version>`, "@" when dirty. A source build gives "@-" or "-", as it would for the agent.
 */
export function pluginVersionAttribute(b: PluginBuild): string {
  return `${b.dirty ? '@' : ''}${b.gitShortHash}-${b.version}`;
}

/** `--capabilities` stdout -> the list; undefined unless it is `{"capabilities": [strings]}`. */
export function parseCapabilitiesFlag(stdout: string): string[] | undefined {
  const list = parseJsonObject(stdout)?.capabilities;
  if (!Array.isArray(list) || !list.every((c) => typeof c === 'string')) return undefined;
  return list as string[];
}

async function checkStateDir(dir: string, pid: number): Promise<DoctorCheck> {
  const name = 'state dir';
  const fix = `make ${dir} a directory root can write (or set --state-dir / AWSVPCD_STATE_DIR)`;
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return { name, ok: false, detail: `${dir} is not a directory`, fix };
    const probe = path.join(dir, `.awsvpcd-doctor-${pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
    return { name, ok: true, detail: `${dir} is writable` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { name, ok: false, detail: `${dir}: ${errorMessage(err)}`, fix };
  }
  // Not there yet: the daemon creates it, so its nearest existing parent must be writable.
  let parent = path.dirname(dir);
  for (;;) {
    try {
      await stat(parent);
      break;
    } catch {
      const up = path.dirname(parent);
      if (up === parent) break;
      parent = up;
    }
  }
  try {
    await access(parent, constants.W_OK);
    return { name, ok: true, detail: `${dir} does not exist yet; the daemon will create it under ${parent}` };
  } catch {
    return { name, ok: false, detail: `${dir} does not exist and ${parent} is not writable`, fix };
  }
}

/** Task-level limits are a feature, not a requirement of task ENIs: a host without them still qualifies. */
async function checkTaskLimits(cfg: DaemonConfig, cgroups: Pick<TaskCgroups, 'support'>): Promise<DoctorCheck> {
  const name = 'task limits';
  try {
    const s = await cgroups.support();
    return s.ok
      ? { name, ok: true, detail: `task cpu/memory limits can be applied (${s.detail}; parents under ${cfg.taskCgroupRoot})` }
      : { name, ok: true, warn: true, detail: `task cpu/memory limits cannot be applied: ${s.why}; tasks that set them run with a warning` };
  } catch (err) {
    return { name, ok: true, warn: true, detail: `task cpu/memory limits: the cgroup setup could not be read: ${errorMessage(err)}` };
  }
}

export async function runDoctor(cfg: DaemonConfig, d: DoctorDeps): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  checks.push(
    d.uid === 0
      ? { name: 'root', ok: true, detail: 'running as uid 0' }
      : { name: 'root', ok: false, detail: `running as uid ${d.uid}`, fix: 'run the daemon (and doctor) as root: it moves links between namespaces and bind-mounts them' },
  );

  // Network namespaces: the kernel must have them, and this process must be allowed to make one.
  const nsFix = 'the kernel needs network namespaces (CONFIG_NET_NS); inside a container, run it with CAP_SYS_ADMIN and CAP_NET_ADMIN';
  let hasNs = true;
  try {
    await stat('/proc/self/ns/net');
  } catch {
    hasNs = false;
  }
  if (!hasNs) checks.push({ name: 'network namespaces', ok: false, detail: '/proc/self/ns/net is missing', fix: nsFix });
  else if (d.uid !== 0) checks.push({ name: 'network namespaces', ok: true, detail: '/proc/self/ns/net present (not root: creating one was not tried)' });
  else {
    const r = await d.exec('unshare', ['--net', 'true'], { timeoutMs: 10_000 });
    checks.push(
      r.exitCode === 0
        ? { name: 'network namespaces', ok: true, detail: 'a new network namespace can be created' }
        : { name: 'network namespaces', ok: false, detail: `unshare --net failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`, fix: nsFix },
    );
  }

  const missingTools: string[] = [];
  for (const t of HOST_TOOLS) {
    let found = false;
    for (const dir of d.path) if (!found && (await isExecutable(path.join(dir, t)))) found = true;
    if (!found) missingTools.push(t);
  }
  checks.push(
    missingTools.length
      ? { name: 'host tools', ok: false, detail: `not found: ${missingTools.join(', ')}`, fix: 'apt-get install iproute2 util-linux mount' }
      : { name: 'host tools', ok: true, detail: HOST_TOOLS.join(', ') },
  );

  let engineUp = false;
  try {
    const v = await d.engine.version();
    engineUp = true;
    const okApi = versionAtLeast(v.apiVersion, MIN_DOCKER_API);
    checks.push({
      name: 'docker engine',
      ok: okApi,
      detail: `Docker ${v.version}, API ${v.apiVersion} at ${cfg.dockerHost}`,
      ...(okApi ? {} : { fix: `task ENIs need Docker API ${MIN_DOCKER_API} or later (ecs-init turns them off below it): upgrade the engine` }),
    });
  } catch (err) {
    checks.push({ name: 'docker engine', ok: false, detail: `no engine answers at ${cfg.dockerHost}: ${errorMessage(err)}`, fix: 'start Docker (systemctl start docker), or point --docker-host / DOCKER_HOST at it' });
  }

  const plugins = pluginsOf(cfg);
  let eniPluginVersion: string | undefined;
  for (const [plugin, v] of plugins) {
    const r = await checkPlugin(cfg, d, plugin, v);
    checks.push(r.check);
    if (r.version && (plugin === 'ecs-eni' || plugin === 'vpc-eni')) eniPluginVersion = r.version;
  }

  if (!engineUp) {
    checks.push({ name: 'pause image', ok: false, detail: `${cfg.pauseImage}: cannot check without the engine`, fix: 'start the engine first' });
  } else {
    try {
      const has = await d.engine.imageExists(cfg.pauseImage);
      checks.push(
        has
          ? { name: 'pause image', ok: true, detail: `${cfg.pauseImage} is loaded` }
          : { name: 'pause image', ok: false, detail: `${cfg.pauseImage} is not loaded (it is never pulled)`, fix: 'run scripts/install (it builds and loads it), or docker load -i /opt/awsvpcd/images/pause.tar' },
      );
    } catch (err) {
      checks.push({ name: 'pause image', ok: false, detail: `${cfg.pauseImage}: ${errorMessage(err)}`, fix: 'check the engine' });
    }
  }

  checks.push(await checkStateDir(cfg.stateDir, process.pid));
  if (d.taskCgroups) checks.push(await checkTaskLimits(cfg, d.taskCgroups));
  if (d.hostIpv6) checks.push(hostIpv6Check(await d.hostIpv6()));

  const ok = checks.every((c) => c.ok);
  const attributes: string[] = [];
  if (ok) {
    attributes.push('ecs.capability.task-eni');
    if (eniPluginVersion) attributes.push(`ecs.capability.cni-plugin-version=${eniPluginVersion}`);
    if (cfg.blockImds) attributes.push('ecs.capability.task-eni-block-instance-metadata');
  }
  return { checks, ok, taskEni: ok, attributes };
}

export function formatReport(cfg: DaemonConfig, r: DoctorReport): string {
  const lines = [`awsvpcd doctor: plugin set ${cfg.plugins}, CNI path ${cfg.cniPath}, engine ${cfg.dockerHost}`];
  const w = Math.max(...r.checks.map((c) => c.name.length));
  for (const c of r.checks) {
    lines.push(`  ${!c.ok ? 'FAIL' : c.warn ? 'warn' : 'ok  '}  ${c.name.padEnd(w)}  ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`        ${' '.repeat(w)}  fix: ${c.fix}`);
  }
  const failed = r.checks.filter((c) => !c.ok).length;
  lines.push(
    r.taskEni
      ? `ecs.capability.task-eni: yes, this host qualifies (${r.attributes.join(', ')})${cfg.plugins === 'reference' ? '; with the reference plugin set, through awsvpcd (the ECS agent itself needs the Amazon plugins)' : ''}`
      : `ecs.capability.task-eni: no, ${failed} check${failed === 1 ? '' : 's'} failed (FAIL above)`,
  );
  return lines.join('\n') + '\n';
}

const execDoctor: DoctorExec = async (file, args, opts = {}) => {
  const r = await execa(file, args, { env: opts.env, extendEnv: opts.env === undefined, timeout: opts.timeoutMs ?? 10_000, reject: false, stdin: 'ignore' });
  const text = (x: unknown): string => (typeof x === 'string' ? x : '');
  return { exitCode: r.exitCode, stdout: text(r.stdout), stderr: text(r.stderr) || (r.exitCode === undefined ? (r.shortMessage ?? '') : '') };
};

/** The real checks with the daemon's configuration (flags, environment, config files); exit 0 only if all pass. */
export async function doctorCommand(flags: Map<string, string | true>, json: boolean, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const { config: cfg } = await loadConfig(flags, env);
  const silent = pino({ level: 'silent' });
  const runtime = new DockerodeRuntime({ docker: new Dockerode(dockerConnection(cfg.dockerHost)), logger: silent, timeouts: { apiMs: 5_000 } });
  const sbin = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  const report = await runDoctor(cfg, {
    uid: process.getuid?.() ?? -1,
    exec: execDoctor,
    engine: runtime,
    cni: new ExecCniInvoker({ cniPath: cfg.cniPath, logger: silent }),
    path: [...new Set([...(env.PATH ?? '').split(':').filter(Boolean), ...sbin])],
    taskCgroups: new FsTaskCgroups({ engineInfo: () => runtime.info() }),
    hostIpv6: () => readFile(HOST_IPV6_SYSCTL, 'utf8').catch(() => undefined),
  });
  out.write(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(cfg, report));
  return report.ok ? 0 : 1;
}
