// The crash points one task reaches, in the order the setup graph and the teardown reach them with the ENI
// already on the host, for the crash tests of every tier. Built from agent/util/crash-point.ts's templates
// (test/unit/crash-points.test.ts checks each point against them), so a point added there shows up here.
import { SETUP_POINTS, TEARDOWN_POINTS } from '../../agent/util/crash-point.js';

export interface CrashPlan {
  /** The ENI plugin, then the bridge plugin: host-device and bridge for the reference set. */
  plugins: readonly [string, string];
  /** The task's containers in start order (a probe that dependsOn the app START comes after it). */
  containers: readonly string[];
  /** Whether teardown releases the address through the IPAM plugin itself (the ecs set). */
  ipamRelease?: boolean;
}

/**
 * Setup: the pause container beside the ENI wait; the first ADD's intent saved before any create, the
 * creates beside the ADDs; the namespace pin and the IMDS route beside them too (after-netns-pin is where all
 * are done); the starts only after the network is set up.
 */
export function setupPoints(p: CrashPlan): string[] {
  const [eni, bridge] = p.plugins;
  return [
    'after-eni-found',
    'after-pause-create',
    'after-pause-start',
    `before-cni-add:${eni}`,
    ...p.containers.map((c) => `after-container-create:${c}`),
    `after-cni-add:${eni}`,
    `before-cni-add:${bridge}`,
    `after-cni-add:${bridge}`,
    'after-netns-pin',
    ...p.containers.map((c) => `after-container-start:${c}`),
    'before-running',
  ];
}

/** Teardown: containers, then the DELs in reverse (bridge first), the IPAM release, the pause container. */
export function teardownPoints(p: Pick<CrashPlan, 'plugins' | 'ipamRelease'>): string[] {
  const [eni, bridge] = p.plugins;
  return [
    'after-deprovisioning',
    'after-containers-stopped',
    `before-cni-del:${bridge}`,
    `after-cni-del:${bridge}`,
    `before-cni-del:${eni}`,
    `after-cni-del:${eni}`,
    ...(p.ipamRelease ? ['after-ipam-release'] : []),
    'after-pause-removed',
    'before-stopped',
  ];
}

/** The agent's template a point fills in ('before-cni-add:bridge' -> 'before-cni-add:<plugin>'), or undefined. */
export function templateOf(point: string): string | undefined {
  const all: readonly string[] = [...SETUP_POINTS, ...TEARDOWN_POINTS];
  if (all.includes(point)) return point;
  const head = point.slice(0, point.indexOf(':') + 1);
  return head ? all.find((t) => t.startsWith(head) && /:<\w+>$/.test(t)) : undefined;
}

/** The reference set's plugins, as the integration tests run them. */
export const REFERENCE_PLUGINS = ['host-device', 'bridge'] as const;
