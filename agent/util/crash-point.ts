// Fault injection for tests: AWSVPCD_CRASH_AT=<point>[,<point>...] makes the daemon die (SIGKILL, no
// cleanup, nothing flushed but what is already on disk) the moment it reaches that point, so tests can
// prove that a crash at every step of setup and teardown loses and leaks nothing.
import type { Logger } from 'pino';

export type CrashPoint = (point: string) => void;

export const NO_CRASH: CrashPoint = () => undefined;

/**
 * The points the manager passes, in the order one setup reaches them when its ENI is on the host already;
 * `<plugin>` and `<name>` are filled in. Setup is a graph (provision.ts): the ENI wait runs beside the
 * host steps and the pause container, so with a late ENI after-eni-found comes after the pause points; the
 * task containers are created while the CNI ADDs run; containers with no dependsOn between them start at once.
 */
export const SETUP_POINTS = [
  'after-eni-found',
  // Only for a task with task-scoped volumes / task-level cpu/memory on a host that allows them.
  'after-task-volumes',
  'after-task-cgroup',
  'after-pause-create',
  'after-pause-start',
  // The namespace pin and the IMDS route run beside the CNI ADDs, so the ADD points can fire while they are
  // in flight; after-netns-pin is where both (and all ADDs) are done.
  'before-cni-add:<plugin>',
  // Beside the ADDs: the first ADD's intent is saved before any create's, so a crash here finds it recorded.
  'after-container-create:<name>',
  'after-cni-add:<plugin>',
  'after-netns-pin',
  'after-container-start:<name>',
  'before-running',
] as const;

export const TEARDOWN_POINTS = [
  'after-deprovisioning',
  'after-containers-stopped',
  'before-cni-del:<plugin>',
  'after-cni-del:<plugin>',
  'after-ipam-release',
  'after-pause-removed',
  // Only for a task with task-scoped volumes.
  'after-volumes-removed',
  'before-stopped',
] as const;

export function crashPointFromEnv(value: string | undefined, log: Logger): CrashPoint {
  const points = new Set((value ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  if (points.size === 0) return NO_CRASH;
  log.warn({ points: [...points] }, 'AWSVPCD_CRASH_AT is set: this daemon will kill itself at those points (tests only)');
  return (point) => {
    if (!points.has(point)) return;
    log.fatal({ point }, 'crash point reached; killing the daemon');
    process.kill(process.pid, 'SIGKILL');
  };
}
