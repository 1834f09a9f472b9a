// The bench's task: two busybox containers that exit at once on SIGTERM, so a stop measures the
// machinery and not the stop timeout (both paths use the same containers and the same stopTimeout).
import type { Eni } from '../lib/stand-in.js';
import { taskArn as arnIn, taskDocument } from '../lib/task-doc.js';

/**
 * Idle until SIGTERM: `wait` is interrupted by the signal, so the trap runs at once, and the shell is PID 1,
 * so its exit ends the sleep too. The sleep is long on purpose: a loop of `sleep 1` forks once a second per
 * container, and with 100 two-container tasks kept running that is 200 forks a second on the host, load the
 * scale part would then blame on the task count (it made the floor's own setup 1.75x slower by task 100).
 */
const IDLE_UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 86400 & wait $!; done';
export const STOP_TIMEOUT_SEC = 2;

/** The task shapes the bench sets up: app + sidecar (dependsOn app START), or app + two sidecars with no dependsOn. */
export type TaskShape = 'two-container' | 'independent';

/** Fresh objects each time: a caller may change the document it gets. */
const containers = (shape: TaskShape = 'two-container'): unknown[] => shape === 'independent' ? independent() : [
  {
    name: 'app',
    image: 'busybox:latest',
    essential: true,
    command: ['sh', '-c', IDLE_UNTIL_TERM],
    environment: [{ name: 'MODE', value: 'bench' }],
    stopTimeout: STOP_TIMEOUT_SEC,
  },
  {
    name: 'sidecar',
    image: 'busybox:latest',
    essential: false,
    command: ['sh', '-c', IDLE_UNTIL_TERM],
    stopTimeout: STOP_TIMEOUT_SEC,
    dependsOn: [{ containerName: 'app', condition: 'START' }],
  },
];

const independent = (): unknown[] => [
  { name: 'app', image: 'busybox:latest', essential: true, command: ['sh', '-c', IDLE_UNTIL_TERM], environment: [{ name: 'MODE', value: 'bench' }], stopTimeout: STOP_TIMEOUT_SEC },
  ...['sidecar-a', 'sidecar-b'].map((name) => ({ name, image: 'busybox:latest', essential: false, command: ['sh', '-c', IDLE_UNTIL_TERM], stopTimeout: STOP_TIMEOUT_SEC })),
];

export function taskArn(id: string): string {
  return arnIn('bench', id);
}

/** The bench's subnet is 10.98.0.0/16 (BenchHost), its DNS server the VPC's .2. */
export function taskDoc(id: string, eni: Eni, shape: TaskShape = 'two-container'): Record<string, unknown> {
  return taskDocument({ id, eni, cluster: 'bench', family: 'bench', revision: 1, dns: '10.98.0.2', waitTimeoutMs: 30_000, containers: containers(shape) });
}
