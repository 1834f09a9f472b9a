// The daemon's configuration: one precedence (flag > environment > default), ECS agent variable names
// where they mean the same thing, and a clear error naming the flag or variable for a bad value.
import path from 'node:path';
import { Address4 } from 'ip-address';
import { PLUGIN_SETS, type PluginSet } from '../../cni/types.js';
import { parseLoopbackAddress } from '../api/server.js';
import { maxTaskEnisFor } from '../eni/capacity.js';
import { ConfigError } from '../task/errors.js';
import type { PullBehavior } from '../task/model.js';

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
  /** Also serve the API on this loopback host:port (off unless asked; every local user can reach it). */
  apiTcp: string | undefined;
  /** Task ENIs this host can take; from --max-task-enis, else the instance type's ENI limit minus the primary. */
  maxTaskEnis: number | undefined;
  instanceType: string | undefined;
  /** Link kinds counted as ENI-like for capacity ("device" = a physical NIC such as a real ENI). */
  eniLinkKinds: string[];
  cniAddTimeoutMs: number;
  cniDelTimeoutMs: number;
}

interface Option {
  key: keyof DaemonConfig;
  flag: string;
  env?: string[];
  kind: 'string' | 'bool' | 'int' | 'json-list' | 'json-map' | 'list';
  def: (c: Partial<DaemonConfig>, env: NodeJS.ProcessEnv) => unknown;
  check?: (v: unknown, name: string) => void;
}

const PULL: PullBehavior[] = ['default', 'always', 'once', 'prefer-cached'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'crit'];

function cidr4(v: string, name: string): void {
  if (!Address4.isValid(v) || !v.includes('/')) throw new ConfigError(name, `${JSON.stringify(v)} is not an IPv4 CIDR`);
}

export const OPTIONS: Option[] = [
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
  // Secure by default, unlike the ECS agent: tasks cannot reach the instance's credentials (issue 5).
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
  { key: 'stoppedTaskRetentionMs', flag: '--stopped-task-retention-ms', env: ['AWSVPCD_STOPPED_TASK_RETENTION_MS'], kind: 'int', def: () => 3 * 3600_000 },
  { key: 'allowPrivileged', flag: '--allow-privileged', env: ['AWSVPCD_ALLOW_PRIVILEGED'], kind: 'bool', def: () => false },
  { key: 'allowedCapabilities', flag: '--allowed-capabilities', env: ['AWSVPCD_ALLOWED_CAPABILITIES'], kind: 'list', def: () => [] },
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
  { key: 'eniLinkKinds', flag: '--eni-link-kinds', env: ['AWSVPCD_ENI_LINK_KINDS'], kind: 'list', def: () => ['device'] },
  { key: 'cniAddTimeoutMs', flag: '--cni-add-timeout-ms', env: ['AWSVPCD_CNI_ADD_TIMEOUT_MS'], kind: 'int', def: () => 60_000 },
  { key: 'cniDelTimeoutMs', flag: '--cni-del-timeout-ms', env: ['AWSVPCD_CNI_DEL_TIMEOUT_MS'], kind: 'int', def: () => 30_000 },
];

function parseValue(o: Option, raw: string, name: string): unknown {
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

/** Resolves the configuration from parsed flags and the environment. `flags` maps `--flag` to its value. */
export function resolveConfig(flags: Map<string, string | true>, env: NodeJS.ProcessEnv): DaemonConfig {
  const c: Partial<DaemonConfig> = {};
  const known = new Set(OPTIONS.map((o) => o.flag));
  for (const f of flags.keys()) {
    if (!known.has(f)) throw new ConfigError(f, 'unknown flag');
  }
  for (const o of OPTIONS) {
    let value: unknown;
    const flag = flags.get(o.flag);
    if (flag !== undefined) {
      value = flag === true ? (o.kind === 'bool' ? true : undefined) : parseValue(o, flag, o.flag);
      if (value === undefined) throw new ConfigError(o.flag, 'needs a value');
      o.check?.(value, o.flag);
    } else {
      const envName = o.env?.find((e) => env[e] !== undefined && env[e] !== '');
      if (envName) {
        value = parseValue(o, env[envName]!, envName);
        o.check?.(value, envName);
      } else {
        value = o.def(c, env);
      }
    }
    (c as Record<string, unknown>)[o.key] = value;
  }
  const cfg = c as DaemonConfig;
  cfg.logLevel = cfg.logLevel.toLowerCase() === 'crit' ? 'fatal' : cfg.logLevel.toLowerCase();
  return cfg;
}
