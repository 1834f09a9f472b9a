// Task volumes of an ECS task definition: host bind mounts (checked against the deny list), Docker-managed
// scratch volumes in their three spellings, dockerVolumeConfiguration; EFS and FSx need AWS and are refused.

import path from 'node:path';
import type { VolumeSpec } from '../../model.js';
import { uniquelyNamed, type Collector } from './collect.js';
import { DAEMON_LABEL_PREFIX } from './containers.js';
import type { ValidateOptions } from './options.js';
import { asArray, asBoolean, asObject, asString, child, fail, get, required, show } from './readers.js';
import { asStringMap, isEmptyValue, isPlaceholder, placeholderFail, refuseUnknown, tdEnum } from './taskdef-readers.js';

const VOLUME_FIELDS = [
  'name', 'host', 'dockerVolumeConfiguration', 'efsVolumeConfiguration', 'fsxWindowsFileServerVolumeConfiguration',
  'configuredAtLaunch',
] as const;
const DOCKER_VOLUME_FIELDS = ['scope', 'autoprovision', 'driver', 'driverOpts', 'labels'] as const;
/** Volume drivers a task may name when the daemon's configuration says nothing. */
export const DEFAULT_ALLOWED_VOLUME_DRIVERS: readonly string[] = ['local'];
/** The engine names of the daemon's task-scoped volumes start with this (docker/volumes.ts taskVolumeName). */
export const TASK_VOLUME_PREFIX = 'awsvpcd-';
export const VOLUME_NAME_RE = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * The host's own plumbing, denied on every host: the root, the engine's usual sockets (both spellings: /var/run
 * is often a symlink to /run), kernel and host config trees, the host's executables and libraries, root's home,
 * and the engines' state.
 */
export const HOST_BIND_MOUNT_DENY_LIST: readonly string[] = [
  '/', '/var/run/docker.sock', '/run/docker.sock', '/run/containerd', '/proc', '/sys', '/dev', '/etc', '/boot',
  '/usr', '/bin', '/sbin', '/lib', '/lib64', '/root', '/var/lib/docker', '/var/lib/containerd',
];

/**
 * The paths no task may bind-mount by default: the host's plumbing, the configured engine socket, the daemon's
 * own state and run directories, and its CNI plugin directory (a task that could write there runs as root on the host).
 */
export function defaultBindMountDenyList(o: { engineSocket?: string; stateDir: string; runDir: string; cniPath?: string }): string[] {
  const list = [HOST_BIND_MOUNT_DENY_LIST[0]!];
  if (o.engineSocket) list.push(o.engineSocket.replace(/^unix:\/\//, ''));
  list.push(...HOST_BIND_MOUNT_DENY_LIST.slice(1), o.stateDir, o.runDir);
  if (o.cniPath) list.push(o.cniPath);
  return [...new Set(list)];
}

/**
 * The deny-list entry that covers `hostPath` (a normal absolute path): the path is the entry, lies inside it
 * (not inside "/", which would be every path), or contains it; undefined when none does or an allowed entry
 * is the path or holds it. The one rule for the validator and for the provisioner's real-path check.
 */
export function denyingEntry(hostPath: string, deny: readonly string[], allowed: readonly string[] = []): { entry: string; how: 'on' | 'inside' | 'contains' } | undefined {
  const norm = (p: string) => {
    const n = path.posix.normalize(p);
    return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
  };
  if (allowed.map(norm).some((a) => hostPath === a || within(hostPath, a))) return undefined;
  for (const entry of deny.map(norm)) {
    if (hostPath === entry) return { entry, how: 'on' };
    if (within(hostPath, entry)) return { entry, how: 'inside' };
    if (hostPath === '/' || within(entry, hostPath)) return { entry, how: 'contains' };
  }
  return undefined;
}

/** p lies strictly inside dir ("/" counts only as itself: every path lies inside it). */
function within(p: string, dir: string): boolean {
  return dir !== '/' && p.startsWith(`${dir}/`);
}

/** The host path in normal form, or a failure naming why it is not one (relative, '..', NUL). */
export function normalizeHostPath(s: string, at: string): string {
  if (s.includes('\0')) fail(at, 'must not contain NUL characters');
  if (!s.startsWith('/')) fail(at, `must be an absolute host path (got ${show(s)})`);
  if (s.split('/').includes('..')) fail(at, `must not contain '..' segments (got ${show(s)})`);
  const n = path.posix.normalize(s);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * Why the daemon refuses to bind-mount `hostPath`, or undefined. A path is refused when it is an entry of the
 * deny list, lies inside one (except inside "/", which would be every path), or contains one, unless an entry of
 * allowedBindMounts is the path or contains it. Symlinks are not resolved here (validation is pure).
 */
export function bindMountProblem(hostPath: string, opts: ValidateOptions): string | undefined {
  const d = denyingEntry(hostPath, opts.bindMountDenyList ?? [], opts.allowedBindMounts ?? []);
  if (!d) return undefined;
  if (d.how === 'on') return `host path ${show(hostPath)} is on the daemon's bind mount deny list`;
  if (d.how === 'inside') return `host path ${show(hostPath)} lies inside ${show(d.entry)}, which is on the daemon's bind mount deny list`;
  return `host path ${show(hostPath)} contains ${show(d.entry)}, which is on the daemon's bind mount deny list`;
}

export function volumeSpecs(v: unknown, p: string, opts: ValidateOptions, c: Collector): VolumeSpec[] {
  return uniquelyNamed(asArray(v, p), p, 'volume', c, (e, at) => volumeSpec(e, at, opts)).items;
}

function volumeSpec(v: unknown, p: string, opts: ValidateOptions): VolumeSpec {
  const o = asObject(v, p);
  refuseUnknown(o, p, VOLUME_FIELDS, 'an ECS volume');
  const at = (k: string) => child(p, k);
  const name = asString(required(o, 'name', p), at('name'));
  if (!VOLUME_NAME_RE.test(name)) fail(at('name'), `must be 1-255 letters, digits, '_' or '-' (got ${show(name)})`);

  const efs = get(o, 'efsVolumeConfiguration');
  if (!isEmptyValue(efs)) {
    const id = typeof efs === 'object' && efs !== null ? (efs as Record<string, unknown>)['fileSystemId'] : undefined;
    const fsId = typeof id === 'string' ? ` ${show(id)}` : '';
    fail(at('efsVolumeConfiguration'), `volume ${show(name)} is an Amazon EFS file system${fsId}; awsvpcd has no EFS (use a host path volume instead)`);
  }
  const fsx = get(o, 'fsxWindowsFileServerVolumeConfiguration');
  if (!isEmptyValue(fsx)) {
    fail(at('fsxWindowsFileServerVolumeConfiguration'), `volume ${show(name)} is an Amazon FSx for Windows File Server share; awsvpcd runs Linux tasks without FSx`);
  }
  const atLaunch = get(o, 'configuredAtLaunch');
  if (atLaunch !== undefined && asBoolean(atLaunch, at('configuredAtLaunch'))) {
    fail(at('configuredAtLaunch'), `volume ${show(name)} is configured at launch by the ECS service (EBS); awsvpcd has no ECS service to configure it`);
  }

  const hostIn = get(o, 'host');
  const dockerIn = get(o, 'dockerVolumeConfiguration');
  if (hostIn !== undefined && !isEmptyValue(dockerIn)) {
    fail(p, `volume ${show(name)} has both host and dockerVolumeConfiguration; a volume is one kind`);
  }
  if (!isEmptyValue(dockerIn)) return dockerVolume(name, dockerIn, at('dockerVolumeConfiguration'), opts, at('name'));
  if (hostIn === undefined) return { name, kind: 'scratch' };
  const host = asObject(hostIn, at('host'));
  refuseUnknown(host, at('host'), ['sourcePath'], 'a host volume');
  const sourceIn = get(host, 'sourcePath');
  if (sourceIn === undefined) return { name, kind: 'scratch' };
  const sp = `${at('host')}.sourcePath`;
  const raw = asString(sourceIn, sp);
  if (isPlaceholder(raw)) placeholderFail(sp, raw, 'a host path');
  const sourcePath = normalizeHostPath(raw, sp);
  const problem = bindMountProblem(sourcePath, opts);
  if (problem) fail(sp, `${problem} (allowedBindMounts in the daemon's configuration can allow it)`);
  return { name, kind: 'host', sourcePath };
}

/** The tmpfs mount options a local-driver volume may carry (key=value ones with the shape of their value). */
const TMPFS_FLAGS = new Set(['noexec', 'nosuid', 'nodev', 'ro', 'rw', 'exec', 'suid', 'dev']);
const TMPFS_VALUED: Record<string, RegExp> = {
  size: /^[0-9]+[kKmMgG%]?$/,
  nr_inodes: /^[0-9]+[kKmMgG]?$/,
  mode: /^[0-7]{3,4}$/,
  uid: /^[0-9]+$/,
  gid: /^[0-9]+$/,
};

/**
 * The local driver's driverOpts are mount(8) arguments the engine runs on the host: type none + o bind mounts
 * any host path (past the deny list), nfs/cifs mount from the host's network. Only a tmpfs is allowed, unless
 * the daemon's configuration allows local driverOpts whole.
 */
function localDriverOpts(opts: Record<string, string>, p: string, o: ValidateOptions): void {
  if (o.allowLocalVolumeDriverOpts || Object.keys(opts).length === 0) return;
  const why = "the local driver's driverOpts may only describe a tmpfs (allowLocalVolumeDriverOpts in the daemon's configuration can allow others)";
  for (const k of Object.keys(opts)) {
    if (k !== 'type' && k !== 'device' && k !== 'o') fail(child(p, k), `option ${show(k)} is not allowed: ${why}`);
  }
  for (const k of ['type', 'device'] as const) {
    if (opts[k] !== 'tmpfs') fail(child(p, k), `must be "tmpfs" (got ${opts[k] === undefined ? 'nothing' : show(opts[k])}): ${why}`);
  }
  const o2 = opts['o'];
  for (const opt of o2 === undefined || o2 === '' ? [] : o2.split(',')) {
    const eq = opt.indexOf('=');
    const ok = eq < 0 ? TMPFS_FLAGS.has(opt) : TMPFS_VALUED[opt.slice(0, eq)]?.test(opt.slice(eq + 1)) === true;
    if (!ok) fail(child(p, 'o'), `mount option ${show(opt)} is not a tmpfs option the daemon allows (size=, mode=, uid=, gid=, nr_inodes=, noexec, nosuid, nodev, ro, rw): ${why}`);
  }
}

function dockerVolume(name: string, v: unknown, p: string, opts: ValidateOptions, nameAt: string): VolumeSpec {
  const o = asObject(v, p);
  refuseUnknown(o, p, DOCKER_VOLUME_FIELDS, 'a dockerVolumeConfiguration');
  const scopeIn = get(o, 'scope');
  const scope = scopeIn === undefined ? 'task' : tdEnum(scopeIn, child(p, 'scope'), ['task', 'shared'] as const);
  // The engine names every task's own volumes awsvpcd-<taskId>-<name>: a shared volume must not reach into one.
  if (scope === 'shared' && name.toLowerCase().startsWith(TASK_VOLUME_PREFIX)) {
    fail(nameAt, `shared volume name ${show(name)} is reserved: names starting with ${TASK_VOLUME_PREFIX} are the daemon's task volumes`);
  }
  const autoIn = get(o, 'autoprovision');
  const autoprovision = autoIn === undefined ? false : asBoolean(autoIn, child(p, 'autoprovision'));
  if (autoprovision && scope === 'task') {
    fail(child(p, 'autoprovision'), 'autoprovision is only for scope "shared" (a task-scoped volume is always made for the task), as ECS says');
  }
  const driverIn = get(o, 'driver');
  let driver = 'local';
  if (driverIn !== undefined) {
    driver = asString(driverIn, child(p, 'driver'));
    if (isPlaceholder(driver)) placeholderFail(child(p, 'driver'), driver, 'a volume driver name');
    if (!/^[A-Za-z0-9][A-Za-z0-9_./:-]{0,254}$/.test(driver)) fail(child(p, 'driver'), `must be a Docker volume driver name (got ${show(driver)})`);
  }
  const drivers = opts.allowedVolumeDrivers ?? DEFAULT_ALLOWED_VOLUME_DRIVERS;
  if (!drivers.includes(driver)) {
    fail(driverIn === undefined ? p : child(p, 'driver'), `volume driver ${show(driver)} is not allowed (allowedVolumeDrivers in the daemon's configuration: ${drivers.join(', ') || 'none'})`);
  }
  const optsIn = get(o, 'driverOpts');
  const driverOpts = optsIn === undefined ? {} : asStringMap(optsIn, child(p, 'driverOpts'));
  if (driver === 'local') localDriverOpts(driverOpts, child(p, 'driverOpts'), opts);
  const labelsIn = get(o, 'labels');
  const labels = labelsIn === undefined ? {} : asStringMap(labelsIn, child(p, 'labels'));
  for (const key of Object.keys(labels)) {
    if (key.toLowerCase().startsWith(DAEMON_LABEL_PREFIX)) {
      fail(child(child(p, 'labels'), key), `label key ${show(key)} is reserved: keys starting with ${DAEMON_LABEL_PREFIX} are the daemon's own labels`);
    }
  }
  return { name, kind: 'docker', scope, autoprovision, driver, driverOpts, labels };
}
