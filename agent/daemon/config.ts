// The daemon's configuration: one precedence, ECS agent variable names where they mean the same thing,
// and a clear error naming the flag or variable (and the file and line) for a bad value.
//
// Precedence, highest first: flag > environment > awsvpcd config file (--config-file, JSON) >
// /etc/ecs/ecs.config (the ECS agent's KEY=VALUE file, ECS_* names only) > default.
// Our own file outranks ecs.config: it is written for this daemon, while ecs.config is shared with the
// agent, so a value an operator sets for awsvpcd specifically must not be overridden by the agent's file.
// Every value present in any source is checked, also one a higher source overrides: a bad value is an
// error where it is written, not later when the override goes away.
import path from 'node:path';
import { Address4 } from 'ip-address';
import { PLUGIN_SETS, type CniPlanOptions, type PluginSet } from '../../cni/types.js';
import { parseLoopbackAddress } from '../util/loopback.js';
import { maxTaskEnisFor } from '../eni/capacity.js';
import { ConfigError } from '../errors.js';
import type { PullBehavior } from '../model.js';
import { DEFAULT_ALLOWED_VOLUME_DRIVERS, defaultBindMountDenyList, type ValidateOptions } from '../task/validate/index.js';

export interface DaemonConfig {
  stateDir: string;
  runDir: string;
  socket: string;
  spoolDir: string;
  cniPath: string;
  plugins: PluginSet;
  dockerHost: string;
  logLevel: string;
  pretty: boolean;
  blockImds: boolean;
  additionalLocalRoutes: string[];
  ipamSubnet: string;
  bridgeName: string;
  pauseImage: string;
  pauseLabels: Record<string, string>;
  containerStopTimeoutSec: number;
  pullBehavior: PullBehavior;
  defaultWaitTimeoutMs: number;
  reconcileIntervalMs: number;
  stoppedTaskRetentionMs: number;
  allowPrivileged: boolean;
  allowedCapabilities: string[];
  /** dockerSecurityOptions a task may use (whole, or by the part before ':' / '='). */
  allowedSecurityOptions: string[];
  /**
   * Host paths no bind mount may be, lie inside or contain, in addition to the built-in list (defaultBindMountDenyList,
   * which an operator adding one path must not lose); bindMountDenyListOf(cfg) is the whole list.
   */
  bindMountDenyList: string[];
  /** Host paths a bind mount may use although the deny list covers them (the path or inside it). */
  allowedBindMounts: string[];
  /** Host device paths linuxParameters.devices may name. */
  allowedDevices: string[];
  /** Volume drivers dockerVolumeConfiguration.driver may name. */
  allowedVolumeDrivers: string[];
  /** The local volume driver's driverOpts may be more than a tmpfs (a bind of any host path, NFS/CIFS from the host). */
  allowLocalVolumeDriverOpts: boolean;
  /** The engine's log driver that replaces awslogs and awsfirelens (a warning on the task says so). */
  localLogDriver: string;
  /** Also serve the API on this loopback host:port (off unless asked; every local user can reach it). */
  apiTcp: string | undefined;
  /** Task ENIs this host can take; from --max-task-enis, else the instance type's ENI limit minus the primary. */
  maxTaskEnis: number | undefined;
  instanceType: string | undefined;
  /** Link kinds counted as ENI-like for capacity ("device" = a physical NIC such as a real ENI). */
  eniLinkKinds: string[];
  /** Only links whose names match this regular expression count as ENI-like (default: every name). */
  eniLinkPattern: string | undefined;
  cniAddTimeoutMs: number;
  cniDelTimeoutMs: number;
  /** After STOPPED, how long the attachment waits for the ENI's MAC back on the host before it reads DELETED anyway. */
  eniReturnTimeoutMs: number;
  /** Teardown attempts (the first plus reconciliation's retries) before a task's leftovers are left for an operator. */
  cleanupMaxAttempts: number;
  /** Wait before a stopped task's cleanup is retried, doubling with each pass that left something (at most 32×); 0: every reconcile pass. */
  cleanupRetryBackoffMs: number;
  /** Where each task's cgroup parent (task-level cpu/memory limits) is made: <root>/<taskId>. */
  taskCgroupRoot: string;
  /** The awsvpcd JSON config file (a missing default is skipped). Flag or environment only. */
  configFile: string;
  /** The ECS agent's config file, read for the ECS_* variables we share (a missing default is skipped). */
  ecsConfigFile: string;
  /** Also serve GET /metrics on this loopback host:port (off unless asked). */
  metricsListen: string | undefined;
}

/** One daemon option: its flag, environment variables and config-file key. The CLI builds its commander options from these. */
export interface ConfigOption {
  key: keyof DaemonConfig;
  flag: string;
  env?: string[];
  kind: 'string' | 'bool' | 'int' | 'json-list' | 'json-map' | 'list';
  def: (c: Partial<DaemonConfig>, env: NodeJS.ProcessEnv) => unknown;
  check?: (v: unknown, name: string) => void;
  /** Only from a flag or the environment (the config files' own paths). */
  notInFiles?: true;
}

const PULL: PullBehavior[] = ['default', 'always', 'once', 'prefer-cached'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'crit'];

/** The engine's unix socket path from --docker-host (unix:///p or a bare /p); undefined for a TCP engine. */
export function engineSocketPath(dockerHost: string): string | undefined {
  if (dockerHost.startsWith('unix://')) return dockerHost.slice('unix://'.length) || undefined;
  return dockerHost.startsWith('/') ? dockerHost : undefined;
}

function absolutePaths(v: unknown, name: string): void {
  for (const p of v as string[]) {
    if (!path.isAbsolute(p)) throw new ConfigError(name, `${JSON.stringify(p)} is not an absolute path`);
  }
}

function cidr4(v: string, name: string): void {
  if (!Address4.isValid(v) || !v.includes('/')) throw new ConfigError(name, `${JSON.stringify(v)} is not an IPv4 CIDR`);
}

export const OPTIONS: ConfigOption[] = [
  { key: 'stateDir', flag: '--state-dir', env: ['AWSVPCD_STATE_DIR'], kind: 'string', def: () => '/var/lib/awsvpcd' },
  { key: 'runDir', flag: '--run-dir', env: ['AWSVPCD_RUN_DIR'], kind: 'string', def: () => '/run/awsvpcd' },
  { key: 'socket', flag: '--socket', env: ['AWSVPCD_SOCKET'], kind: 'string', def: (c) => path.join(c.runDir ?? '/run/awsvpcd', 'api.sock') },
  { key: 'spoolDir', flag: '--spool-dir', env: ['AWSVPCD_SPOOL_DIR'], kind: 'string', def: () => '/etc/awsvpcd/tasks.d' },
  { key: 'cniPath', flag: '--cni-path', env: ['ECS_CNI_PLUGINS_PATH'], kind: 'string', def: () => '/amazon-ecs-cni-plugins' },
  {
    key: 'plugins', flag: '--plugins', env: ['AWSVPCD_PLUGINS'], kind: 'string', def: () => 'ecs',
    check: (v, n) => { if (!PLUGIN_SETS.includes(v as PluginSet)) throw new ConfigError(n, `must be one of ${PLUGIN_SETS.join(', ')} (got ${JSON.stringify(v)})`); },
  },
  { key: 'dockerHost', flag: '--docker-host', env: ['DOCKER_HOST'], kind: 'string', def: () => 'unix:///var/run/docker.sock' },
  {
    key: 'logLevel', flag: '--log-level', env: ['ECS_LOGLEVEL'], kind: 'string', def: () => 'info',
    check: (v, n) => { if (!LEVELS.includes(String(v).toLowerCase())) throw new ConfigError(n, `must be one of ${LEVELS.join(', ')}`); },
  },
  { key: 'pretty', flag: '--pretty', env: ['AWSVPCD_PRETTY_LOGS'], kind: 'bool', def: () => false },
  // Secure by default, unlike the ECS agent: tasks cannot reach the instance's credentials.
  { key: 'blockImds', flag: '--block-imds', env: ['ECS_AWSVPC_BLOCK_IMDS'], kind: 'bool', def: () => true },
  {
    key: 'additionalLocalRoutes', flag: '--additional-local-routes', env: ['ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES'], kind: 'json-list', def: () => [],
    check: (v, n) => (v as string[]).forEach((r) => cidr4(r, n)),
  },
  { key: 'ipamSubnet', flag: '--ipam-subnet', env: ['AWSVPCD_IPAM_SUBNET'], kind: 'string', def: () => '169.254.172.0/22', check: (v, n) => cidr4(String(v), n) },
  {
    key: 'bridgeName', flag: '--bridge-name', env: ['AWSVPCD_BRIDGE_NAME'], kind: 'string', def: () => 'ecs-bridge',
    check: (v, n) => { if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(String(v))) throw new ConfigError(n, 'must be a valid interface name (at most 15 characters)'); },
  },
  { key: 'pauseImage', flag: '--pause-image', env: ['AWSVPCD_PAUSE_IMAGE'], kind: 'string', def: () => 'awsvpcd/pause:0.1.0' },
  { key: 'pauseLabels', flag: '--pause-labels', env: ['ECS_PAUSE_LABELS'], kind: 'json-map', def: () => ({}) },
  {
    key: 'containerStopTimeoutSec', flag: '--container-stop-timeout', env: ['ECS_CONTAINER_STOP_TIMEOUT'], kind: 'int', def: () => 30,
    check: (v, n) => { if ((v as number) < 1) throw new ConfigError(n, 'must be at least 1 second'); },
  },
  {
    key: 'pullBehavior', flag: '--image-pull-behavior', env: ['ECS_IMAGE_PULL_BEHAVIOR'], kind: 'string', def: () => 'default',
    check: (v, n) => { if (!PULL.includes(v as PullBehavior)) throw new ConfigError(n, `must be one of ${PULL.join(', ')}`); },
  },
  { key: 'defaultWaitTimeoutMs', flag: '--eni-wait-timeout-ms', env: ['AWSVPCD_ENI_WAIT_TIMEOUT_MS'], kind: 'int', def: () => 180_000 },
  { key: 'reconcileIntervalMs', flag: '--reconcile-interval-ms', env: ['AWSVPCD_RECONCILE_INTERVAL_MS'], kind: 'int', def: () => 30_000 },
  { key: 'eniReturnTimeoutMs', flag: '--eni-return-timeout-ms', env: ['AWSVPCD_ENI_RETURN_TIMEOUT_MS'], kind: 'int', def: () => 10_000 },
  {
    key: 'cleanupMaxAttempts', flag: '--cleanup-max-attempts', env: ['AWSVPCD_CLEANUP_MAX_ATTEMPTS'], kind: 'int', def: () => 10,
    check: (v, n) => { if ((v as number) < 1) throw new ConfigError(n, 'must be at least 1'); },
  },
  { key: 'cleanupRetryBackoffMs', flag: '--cleanup-retry-backoff-ms', env: ['AWSVPCD_CLEANUP_RETRY_BACKOFF_MS'], kind: 'int', def: () => 10_000 },
  { key: 'stoppedTaskRetentionMs', flag: '--stopped-task-retention-ms', env: ['AWSVPCD_STOPPED_TASK_RETENTION_MS'], kind: 'int', def: () => 3 * 3600_000 },
  { key: 'allowPrivileged', flag: '--allow-privileged', env: ['AWSVPCD_ALLOW_PRIVILEGED'], kind: 'bool', def: () => false },
  { key: 'allowedCapabilities', flag: '--allowed-capabilities', env: ['AWSVPCD_ALLOWED_CAPABILITIES'], kind: 'list', def: () => [] },
  { key: 'allowedSecurityOptions', flag: '--allowed-security-options', env: ['AWSVPCD_ALLOWED_SECURITY_OPTIONS'], kind: 'list', def: () => ['no-new-privileges'] },
  // Added to the built-in list (bindMountDenyListOf), never replacing it: --allow-bind-mounts opens a covered path.
  { key: 'bindMountDenyList', flag: '--bind-mount-deny', env: ['AWSVPCD_BIND_MOUNT_DENY'], kind: 'list', def: () => [], check: absolutePaths },
  { key: 'allowedBindMounts', flag: '--allow-bind-mounts', env: ['AWSVPCD_ALLOW_BIND_MOUNTS'], kind: 'list', def: () => [], check: absolutePaths },
  { key: 'allowedDevices', flag: '--allowed-devices', env: ['AWSVPCD_ALLOWED_DEVICES'], kind: 'list', def: () => [], check: absolutePaths },
  {
    key: 'allowedVolumeDrivers', flag: '--allowed-volume-drivers', env: ['AWSVPCD_ALLOWED_VOLUME_DRIVERS'], kind: 'list', def: () => [...DEFAULT_ALLOWED_VOLUME_DRIVERS],
    check: (v, n) => {
      for (const d of v as string[]) {
        if (!/^[A-Za-z0-9][A-Za-z0-9_./:-]{0,254}$/.test(d)) throw new ConfigError(n, `${JSON.stringify(d)} is not a volume driver name`);
      }
    },
  },
  { key: 'allowLocalVolumeDriverOpts', flag: '--allow-local-volume-driver-opts', env: ['AWSVPCD_ALLOW_LOCAL_VOLUME_DRIVER_OPTS'], kind: 'bool', def: () => false },
  {
    key: 'localLogDriver', flag: '--local-log-driver', env: ['AWSVPCD_LOCAL_LOG_DRIVER'], kind: 'string', def: () => 'json-file',
    check: (v, n) => {
      if (!/^[a-z0-9][a-z0-9_.:/-]*$/.test(String(v))) throw new ConfigError(n, `${JSON.stringify(v)} is not a log driver name`);
      if (v === 'awslogs' || v === 'awsfirelens') throw new ConfigError(n, `must be a local driver (json-file, local, journald, ...), not ${v}, which it replaces`);
    },
  },
  {
    key: 'apiTcp', flag: '--api-tcp', env: ['AWSVPCD_API_TCP'], kind: 'string', def: () => undefined,
    check: (v, n) => {
      if (!parseLoopbackAddress(String(v))) {
        throw new ConfigError(n, `must be a loopback address and port, 127.0.0.1:PORT or [::1]:PORT (got ${JSON.stringify(v)}): the API runs tasks as root and is never served beyond this host`);
      }
    },
  },
  {
    key: 'instanceType', flag: '--instance-type', env: ['AWSVPCD_INSTANCE_TYPE'], kind: 'string', def: () => undefined,
    check: (v, n) => { if (maxTaskEnisFor(String(v)) === undefined) throw new ConfigError(n, `unknown instance type ${JSON.stringify(v)}; give --max-task-enis instead`); },
  },
  {
    key: 'maxTaskEnis', flag: '--max-task-enis', env: ['AWSVPCD_MAX_TASK_ENIS'], kind: 'int',
    def: (c) => (c.instanceType ? maxTaskEnisFor(c.instanceType) : undefined),
    check: (v, n) => { if ((v as number) < 1) throw new ConfigError(n, 'must be at least 1'); },
  },
  {
    key: 'eniLinkPattern', flag: '--eni-link-pattern', env: ['AWSVPCD_ENI_LINK_PATTERN'], kind: 'string', def: () => undefined,
    check: (v, n) => {
      try {
        new RegExp(String(v));
      } catch {
        throw new ConfigError(n, `is not a valid regular expression: ${JSON.stringify(v)}`);
      }
    },
  },
  { key: 'eniLinkKinds', flag: '--eni-link-kinds', env: ['AWSVPCD_ENI_LINK_KINDS'], kind: 'list', def: () => ['device'] },
  { key: 'cniAddTimeoutMs', flag: '--cni-add-timeout-ms', env: ['AWSVPCD_CNI_ADD_TIMEOUT_MS'], kind: 'int', def: () => 60_000 },
  { key: 'cniDelTimeoutMs', flag: '--cni-del-timeout-ms', env: ['AWSVPCD_CNI_DEL_TIMEOUT_MS'], kind: 'int', def: () => 30_000 },
  {
    key: 'taskCgroupRoot', flag: '--task-cgroup-root', env: ['AWSVPCD_TASK_CGROUP_ROOT'], kind: 'string', def: () => '/awsvpcd',
    check: (v, n) => {
      // A path below every cgroup hierarchy, so only plain name segments: no "..", nothing an engine reads as a slice.
      if (!/^(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$/.test(String(v)) || String(v).split('/').includes('..')) {
        throw new ConfigError(n, `must be an absolute cgroup path of plain names, e.g. /awsvpcd (got ${JSON.stringify(v)})`);
      }
    },
  },
  { key: 'configFile', flag: '--config-file', env: ['AWSVPCD_CONFIG_FILE'], kind: 'string', def: () => DEFAULT_CONFIG_FILE, notInFiles: true },
  { key: 'ecsConfigFile', flag: '--ecs-config-file', env: ['AWSVPCD_ECS_CONFIG_FILE'], kind: 'string', def: () => DEFAULT_ECS_CONFIG_FILE, notInFiles: true },
  {
    key: 'metricsListen', flag: '--metrics-listen', env: ['AWSVPCD_METRICS_LISTEN'], kind: 'string', def: () => undefined,
    check: (v, n) => {
      if (!parseLoopbackAddress(String(v))) {
        throw new ConfigError(n, `must be a loopback address and port, 127.0.0.1:PORT or [::1]:PORT (got ${JSON.stringify(v)}): metrics are never served beyond this host`);
      }
    },
  },
];

export const DEFAULT_CONFIG_FILE = '/etc/awsvpcd/config.json';
export const DEFAULT_ECS_CONFIG_FILE = '/etc/ecs/ecs.config';

function parseValue(o: ConfigOption, raw: string, name: string): unknown {
  switch (o.kind) {
    case 'string':
      if (raw === '') throw new ConfigError(name, 'must not be empty');
      return raw;
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      throw new ConfigError(name, `must be true or false (got ${JSON.stringify(raw)})`);
    case 'int': {
      // ECS accepts durations like "30s" for the stop timeout; plain numbers are taken in the option's unit.
      const m = /^(\d+)(ms|s|m)?$/.exec(raw.trim());
      if (!m) throw new ConfigError(name, `must be a whole number (got ${JSON.stringify(raw)})`);
      const n = Number(m[1]);
      const unit = m[2];
      if (!unit) return n;
      const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000;
      return o.key.endsWith('Sec') ? Math.round(ms / 1000) : ms;
    }
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'json-list': {
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch {
        throw new ConfigError(name, 'must be a JSON array of strings');
      }
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError(name, 'must be a JSON array of strings');
      return v;
    }
    case 'json-map': {
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch {
        throw new ConfigError(name, 'must be a JSON object of string values');
      }
      if (!v || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
        throw new ConfigError(name, 'must be a JSON object of string values');
      }
      return v;
    }
  }
}

/** Where a value came from. `name` is the flag, the variable or the config-file key. */
export interface ConfigSource {
  kind: 'flag' | 'environment' | 'config-file' | 'ecs-config' | 'default';
  name?: string;
  file?: string;
  line?: number;
}

/** One config file's values, read by config-file.ts: key (or variable) -> raw value and its line. */
export interface ConfigFileValues<V> {
  path: string;
  values: Map<string, { value: V; line: number }>;
}

export interface ConfigFiles {
  /** The awsvpcd JSON file: DaemonConfig keys with JSON values (or strings, parsed as the environment's). */
  json?: ConfigFileValues<unknown>;
  /** /etc/ecs/ecs.config: ECS_* variables with string values. */
  ecs?: ConfigFileValues<string>;
}

export interface ResolvedConfig {
  config: DaemonConfig;
  sources: Record<keyof DaemonConfig, ConfigSource>;
}

export function describeSource(s: ConfigSource): string {
  switch (s.kind) {
    case 'flag':
      return `flag ${s.name}`;
    case 'environment':
      return `environment ${s.name}`;
    case 'config-file':
    case 'ecs-config':
      return `${s.file}${s.line ? `:${s.line}` : ''} ${s.name}`;
    case 'default':
      return 'default';
  }
}

/** Re-raises a bad value's error with the place it was written. */
function at<T>(source: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError && source && !err.source) throw new ConfigError(err.variable, err.reason, source);
    throw err;
  }
}

/** A JSON config-file value: the option's JSON type, or a string read as the environment's would be. */
function fromJson(o: ConfigOption, v: unknown, name: string): unknown {
  if (typeof v === 'string') return parseValue(o, v, name);
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((e) => typeof e === 'string');
  switch (o.kind) {
    case 'bool':
      if (typeof v === 'boolean') return v;
      throw new ConfigError(name, `must be true or false (got ${JSON.stringify(v)})`);
    case 'int':
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
      throw new ConfigError(name, `must be a whole number (got ${JSON.stringify(v)})`);
    case 'list':
    case 'json-list':
      if (strings(v)) return [...v];
      throw new ConfigError(name, 'must be an array of strings');
    case 'json-map':
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return { ...v };
      throw new ConfigError(name, 'must be an object of string values');
    case 'string':
      throw new ConfigError(name, `must be a string (got ${JSON.stringify(v)})`);
  }
}

/** The variables of an option that /etc/ecs/ecs.config may set: the ECS agent's own names. */
export function ecsVariables(o: Pick<ConfigOption, 'env' | 'notInFiles'>): string[] {
  return o.notInFiles ? [] : (o.env ?? []).filter((e) => e.startsWith('ECS_'));
}

/** The config-file keys: DaemonConfig's own names (configFile and ecsConfigFile excepted). */
export const FILE_KEYS: ReadonlySet<string> = new Set(OPTIONS.filter((o) => !o.notInFiles).map((o) => o.key));

/** Resolves the configuration. `flags` maps `--flag` to its value; `files` are the config files already read. */
export function resolveConfigSources(flags: Map<string, string | true>, env: NodeJS.ProcessEnv, files: ConfigFiles = {}): ResolvedConfig {
  const c: Partial<DaemonConfig> = {};
  const sources = {} as Record<keyof DaemonConfig, ConfigSource>;
  const known = new Set(OPTIONS.map((o) => o.flag));
  for (const f of flags.keys()) {
    if (!known.has(f)) throw new ConfigError(f, 'unknown flag');
  }
  if (files.json) {
    for (const [key, { line }] of files.json.values) {
      if (!FILE_KEYS.has(key)) throw new ConfigError(key, `not a configuration key (keys are the names \`awsvpcd config\` prints)`, `${files.json.path}:${line}`);
    }
  }
  for (const o of OPTIONS) {
    // Every source that has a value, highest first; each is checked, the first one wins.
    const found: Array<{ value: unknown; source: ConfigSource }> = [];
    const flag = flags.get(o.flag);
    if (flag !== undefined) {
      const value = flag === true ? (o.kind === 'bool' ? true : undefined) : parseValue(o, flag, o.flag);
      if (value === undefined) throw new ConfigError(o.flag, 'needs a value');
      o.check?.(value, o.flag);
      found.push({ value, source: { kind: 'flag', name: o.flag } });
    }
    for (const e of o.env ?? []) {
      const raw = env[e];
      if (raw === undefined || raw === '') continue;
      const value = at('environment', () => parseValue(o, raw, e));
      at('environment', () => o.check?.(value, e));
      found.push({ value, source: { kind: 'environment', name: e } });
    }
    const j = o.notInFiles ? undefined : files.json?.values.get(o.key);
    if (j && files.json) {
      const where = `${files.json.path}:${j.line}`;
      const value = at(where, () => fromJson(o, j.value, o.key));
      at(where, () => o.check?.(value, o.key));
      found.push({ value, source: { kind: 'config-file', name: o.key, file: files.json.path, line: j.line } });
    }
    for (const e of files.ecs ? ecsVariables(o) : []) {
      const v = files.ecs!.values.get(e);
      if (!v || v.value === '') continue;
      const where = `${files.ecs!.path}:${v.line}`;
      const value = at(where, () => parseValue(o, v.value, e));
      at(where, () => o.check?.(value, e));
      found.push({ value, source: { kind: 'ecs-config', name: e, file: files.ecs!.path, line: v.line } });
    }
    const first = found[0];
    (c as Record<string, unknown>)[o.key] = first ? first.value : o.def(c, env);
    sources[o.key] = first ? first.source : { kind: 'default' };
  }
  const cfg = c as DaemonConfig;
  cfg.logLevel = cfg.logLevel.toLowerCase() === 'crit' ? 'fatal' : cfg.logLevel.toLowerCase();
  return { config: cfg, sources };
}

/** The plan options the daemon builds every task's CNI calls with (also what cni-config and doctor use). */
export function cniPlanOptions(cfg: DaemonConfig): CniPlanOptions {
  return {
    blockImds: cfg.blockImds,
    ipamSubnet: cfg.ipamSubnet,
    additionalLocalRoutes: cfg.additionalLocalRoutes,
    ipamDataDir: path.join(cfg.stateDir, 'ipam'),
    bridgeName: cfg.bridgeName,
    pluginLogLevel: cfg.logLevel,
  };
}

/** The whole bind mount deny list: the built-in one (engine socket, state, run and CNI plugin directories of this config) and the operator's additions. */
export function bindMountDenyListOf(cfg: Pick<DaemonConfig, 'dockerHost' | 'stateDir' | 'runDir' | 'cniPath' | 'bindMountDenyList'>): string[] {
  const builtIn = defaultBindMountDenyList({ engineSocket: engineSocketPath(cfg.dockerHost), stateDir: cfg.stateDir, runDir: cfg.runDir, cniPath: cfg.cniPath });
  return [...new Set([...builtIn, ...cfg.bindMountDenyList])];
}

/** What the daemon's configuration decides about the tasks it accepts (API, spool, cni-config). */
export function validateOptions(cfg: DaemonConfig): ValidateOptions {
  return {
    defaultWaitTimeoutMs: cfg.defaultWaitTimeoutMs,
    allowPrivileged: cfg.allowPrivileged,
    allowedCapabilities: cfg.allowedCapabilities,
    allowedSecurityOptions: cfg.allowedSecurityOptions,
    bindMountDenyList: bindMountDenyListOf(cfg),
    allowedBindMounts: cfg.allowedBindMounts,
    allowedDevices: cfg.allowedDevices,
    allowedVolumeDrivers: cfg.allowedVolumeDrivers,
    allowLocalVolumeDriverOpts: cfg.allowLocalVolumeDriverOpts,
    localLogDriver: cfg.localLogDriver,
  };
}

/** Flags and environment only (no files); see loadConfig in config-file.ts for the daemon's full resolution. */
export function resolveConfig(flags: Map<string, string | true>, env: NodeJS.ProcessEnv, files: ConfigFiles = {}): DaemonConfig {
  return resolveConfigSources(flags, env, files).config;
}
