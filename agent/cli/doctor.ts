// `awsvpcd doctor`: checks that this host can run awsvpc tasks with the configured plugin set, says what to
// fix, and whether the host qualifies for the ECS attribute ecs.capability.task-eni. The plugin checks are
// the ECS agent's start-up checks (agent/app/agent_unix.go): each plugin answers `--capabilities` with
// awsvpc-network-mode and `--version`; on top, every plugin (IPAM ones included) must answer CNI VERSION
// with the spec version the daemon sends it.
import { constants } from 'node:fs';
import { access, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { Dockerode } from '../docker/dockerode.js';
import { execa } from 'execa';
import pino from 'pino';
import { ExecCniInvoker, resolveCniPath } from '../../cni/invoker.js';
import { buildPlan } from '../../cni/plan.js';
import type { CniCall } from '../../cni/types.js';
import { cniPlanOptions, type DaemonConfig } from '../daemon/config.js';
import { loadConfig } from '../daemon/config-file.js';
import { DockerodeRuntime, dockerConnection } from '../docker/dockerode-runtime.js';
import { errorMessage } from '../task/errors.js';
import { PROBE_ENI } from '../task/task-manager.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
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
  const plan = buildPlan(cfg.plugins, PROBE_ENI, cniPlanOptions(cfg));
  const out = new Map<string, string>();
  const add = (c: CniCall): void => {
    const v = String(c.config.cniVersion ?? '');
    out.set(c.plugin, v);
    const ipam = (c.config.ipam as { type?: unknown } | undefined)?.type;
    if (typeof ipam === 'string' && !out.has(ipam)) out.set(ipam, v);
  };
  for (const c of [...plan.add, ...plan.del, ...(plan.ipamRelease ? [plan.ipamRelease] : [])]) add(c);
  return out;
}

function pluginFix(cfg: DaemonConfig): string {
  return cfg.plugins === 'reference'
    ? `install the reference CNI plugins (apt-get install containernetworking-plugins puts them in /usr/lib/cni) and point --cni-path (ECS_CNI_PLUGINS_PATH) at them; now ${cfg.cniPath}`
    : `install the Amazon ${cfg.plugins === 'ecs' ? 'ecs-eni, ecs-bridge and ecs-ipam (amazon-ecs-cni-plugins)' : 'vpc-eni (amazon-vpc-cni-plugins) with ecs-bridge and ecs-ipam'} into ${cfg.cniPath}, or set --cni-path / ECS_CNI_PLUGINS_PATH; --plugins reference uses Debian's plugins instead`;
}

async function checkPlugin(cfg: DaemonConfig, d: DoctorDeps, plugin: string, cniVersion: string): Promise<{ check: DoctorCheck; version?: string }> {
  const name = `plugin ${plugin}`;
  let file: string | undefined;
  for (const dir of resolveCniPath(cfg.cniPath)) {
    if (await isExecutable(path.join(dir, plugin))) {
      file = path.join(dir, plugin);
      break;
    }
  }
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
  try {
    const j = JSON.parse(ver.stdout) as { version?: unknown; dirty?: unknown; gitShortHash?: unknown };
    if (ver.exitCode !== 0 || typeof j.version !== 'string') throw new Error('no version');
    version = `${j.dirty === true ? '@' : ''}${String(j.gitShortHash ?? '')}-${j.version}`;
    parts.push(`version ${version}`);
  } catch {
    return { check: { name, ok: false, detail: `${file} --version did not print {"version",...} (exit ${ver.exitCode}): ${(ver.stdout || ver.stderr).trim().slice(0, 200)}`, fix: pluginFix(cfg) } };
  }
  const caps = await d.exec(file, ['--capabilities'], { env, timeoutMs: PLUGIN_TIMEOUT_MS });
  let list: unknown;
  try {
    list = (JSON.parse(caps.stdout) as { capabilities?: unknown }).capabilities;
  } catch {
    list = undefined;
  }
  if (caps.exitCode !== 0 || !Array.isArray(list) || !list.includes(AWSVPC_CAPABILITY)) {
    return {
      check: { name, ok: false, detail: `${file} --capabilities does not list ${AWSVPC_CAPABILITY} (exit ${caps.exitCode}): ${(caps.stdout || caps.stderr).trim().slice(0, 200)}`, fix: `install a release of ${plugin} built with awsvpc support` },
      version,
    };
  }
  parts.push(`capabilities ${list.join(',')}`);
  return { check: { name, ok: true, detail: parts.join(', ') }, version };
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
    lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(w)}  ${c.detail}`);
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
  });
  out.write(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(cfg, report));
  return report.ok ? 0 : 1;
}
