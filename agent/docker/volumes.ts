// Task volumes on the engine: their names and labels (pure), and the host side of a bind mount (its real
// path checked against the deny list at start, a missing directory made as the engine's Binds would).
import { createHash } from 'node:crypto';
import { mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { TaskSpec, VolumeSpec } from '../model.js';
import { HOST_BIND_MOUNT_DENY_LIST, denyingEntry } from '../task/validate/volumes.js';
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
export async function resolveHostPath(p: string): Promise<{ real: string; exists: boolean }> {
  const abs = path.resolve('/', p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = await realpath(cur);
      return { real: path.join(real, ...rest.reverse()), exists: rest.length === 0 };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || cur === '/') throw err;
      rest.push(path.basename(cur));
      cur = path.dirname(cur);
    }
  }
}

/**
 * A bind mount's source checked where it really leads now (a symlink placed after validation counts), and
 * made (0755) when missing, as the engine's Binds would. Throws with a reason a person can act on.
 */
export async function prepareBindSource(sourcePath: string, deny: readonly string[], allowed: readonly string[] = []): Promise<string> {
  const { real, exists } = await resolveHostPath(sourcePath);
  for (const p of new Set([path.resolve('/', sourcePath), real])) {
    const by = deniedBy(p, deny, allowed);
    if (by) {
      const via = p === real && real !== path.resolve('/', sourcePath) ? ` (it resolves to ${real})` : '';
      throw new Error(`host path ${sourcePath}${via} is on, inside or above ${by}, which the daemon's bind mount deny list protects`);
    }
  }
  if (!exists) await mkdir(real, { recursive: true, mode: 0o755 });
  return real;
}
