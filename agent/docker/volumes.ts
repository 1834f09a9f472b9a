// Task volumes on the engine: their names and labels (pure), and the host side of a bind mount (its real
// path checked against the deny list at start, a missing directory made as the engine's Binds would).
import { createHash } from 'node:crypto';
import { mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { TaskSpec, VolumeSpec } from '../model.js';
import { HOST_BIND_MOUNT_DENY_LIST, denyingEntry } from '../task/validate/volumes.js';
import { DeadlineError } from '../errors.js';
import { withDeadline } from '../util/deadline.js';
import { LABEL } from './container-config.js';

export const VOLUME_LABEL = {
  /** The task's volume name (the engine name may be sanitized). */
  volumeName: 'com.awsvpcd.volume-name',
  /** "task": made for the task and removed with it; "shared": outlives it and is never removed by the daemon. */
  scope: 'com.awsvpcd.volume-scope',
} as const;

/** Deny list used when the manager's config gives none: the host's own plumbing. */
export const DEFAULT_BIND_MOUNT_DENY_LIST = HOST_BIND_MOUNT_DENY_LIST;

/** `awsvpcd-<taskId>-<volName>`; a name the engine would refuse is sanitized and made unique with a hash. */
export function taskVolumeName(taskId: string, volName: string): string {
  const clean = volName.replace(/[^A-Za-z0-9_.-]/g, '-');
  const suffix = clean === volName ? clean : `${clean}-${createHash('sha256').update(volName).digest('hex').slice(0, 8)}`;
  return `awsvpcd-${taskId}-${suffix}`;
}

/** Volumes the daemon makes for the task and removes with it. */
export function isTaskScoped(v: VolumeSpec): boolean {
  return v.kind === 'scratch' || (v.kind === 'docker' && v.scope === 'task');
}

/** The name the engine knows a volume by (host volumes have none: they are bind mounts). */
export function engineVolumeName(taskId: string, v: VolumeSpec): string | undefined {
  if (v.kind === 'host') return undefined;
  return isTaskScoped(v) ? taskVolumeName(taskId, v.name) : v.name;
}

/** Labels of a task-scoped volume: found again by task id and owner after a crash, as the containers are. */
export function taskVolumeLabels(spec: TaskSpec, v: VolumeSpec, ownerLabels: Record<string, string> = {}): Record<string, string> {
  const own = v.kind === 'docker' ? v.labels : {};
  return {
    ...own,
    ...ownerLabels,
    [LABEL.managed]: 'true',
    [LABEL.taskId]: spec.taskId,
    [LABEL.taskArn]: spec.taskArn,
    [VOLUME_LABEL.volumeName]: v.name,
    [VOLUME_LABEL.scope]: 'task',
  };
}

/** Labels of a shared volume the daemon autoprovisions: no task id or owner, so no teardown or reconcile removes it. */
export function sharedVolumeLabels(v: Extract<VolumeSpec, { kind: 'docker' }>): Record<string, string> {
  return { ...v.labels, [LABEL.managed]: 'true', [VOLUME_LABEL.volumeName]: v.name, [VOLUME_LABEL.scope]: 'shared' };
}

/**
 * Whether a host path is denied: on, inside or above a deny-list entry ("/" denies only itself, as every path
 * is inside it), unless an allowed entry is the path or holds it. Returns the entry that denies it.
 */
export function deniedBy(p: string, deny: readonly string[], allowed: readonly string[] = []): string | undefined {
  return denyingEntry(path.resolve('/', p), deny, allowed)?.entry;
}

/** The real path of `p`: realpath of its nearest existing ancestor, with the missing rest appended. */
export async function resolveHostPath(p: string, fs: Pick<HostPathFs, 'realpath'> = { realpath }): Promise<{ real: string; exists: boolean }> {
  const abs = path.resolve('/', p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = await fs.realpath(cur);
      return { real: path.join(real, ...rest.reverse()), exists: rest.length === 0 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || cur === '/') throw err;
      rest.push(path.basename(cur));
      cur = path.dirname(cur);
    }
  }
}

/** How long one bind source's host calls (realpath, mkdir) may take: a hung NFS/FUSE path fails the task, not provisioning. */
export const BIND_SOURCE_TIMEOUT_MS = 10_000;

/** The host calls prepareBindSource makes (tests pass their own). */
export interface HostPathFs {
  realpath: (p: string) => Promise<string>;
  mkdir: (p: string, o: { recursive: true; mode: number }) => Promise<unknown>;
}

/** Every form of the list's entries: each as given and where it really leads (a /var/run -> /run symlink counts). */
async function entryForms(list: readonly string[], fs: HostPathFs): Promise<string[]> {
  const out = new Set<string>();
  for (const e of list) {
    out.add(path.resolve('/', e));
    out.add((await resolveHostPath(e, fs)).real);
  }
  return [...out];
}

/**
 * A bind mount's source checked where it really leads now (a symlink placed after validation counts), and
 * made (0755) when missing, as the engine's Binds would. The path as given and its real path are both held
 * against every deny and allow entry both as given and at its real path. The host calls run under
 * BIND_SOURCE_TIMEOUT_MS. Throws with a reason a person can act on.
 */
export async function prepareBindSource(
  sourcePath: string,
  deny: readonly string[],
  allowed: readonly string[] = [],
  o: { timeoutMs?: number; fs?: HostPathFs } = {},
): Promise<string> {
  const timeoutMs = o.timeoutMs ?? BIND_SOURCE_TIMEOUT_MS;
  try {
    return await withDeadline(checkBindSource(sourcePath, deny, allowed, o.fs ?? { realpath, mkdir }), timeoutMs, `host path ${sourcePath}`);
  } catch (err) {
    if (err instanceof DeadlineError) {
      throw new Error(`host path ${sourcePath} could not be checked within ${timeoutMs} ms (a hung network or FUSE mount?)`, { cause: err });
    }
    throw err;
  }
}

async function checkBindSource(sourcePath: string, deny: readonly string[], allowed: readonly string[], fs: HostPathFs): Promise<string> {
  const { real, exists } = await resolveHostPath(sourcePath, fs);
  const denyForms = await entryForms(deny, fs);
  const allowForms = await entryForms(allowed, fs);
  const given = path.resolve('/', sourcePath);
  // Allowed only when no form of the path is denied: an allow entry must cover the form a deny entry covers.
  for (const p of new Set([given, real])) {
    const by = deniedBy(p, denyForms, allowForms);
    if (by) {
      const via = p === real && real !== given ? ` (it resolves to ${real})` : '';
      throw new Error(`host path ${sourcePath}${via} is on, inside or above ${by}, which the daemon's bind mount deny list protects`);
    }
  }
  if (!exists) await fs.mkdir(real, { recursive: true, mode: 0o755 });
  return real;
}
