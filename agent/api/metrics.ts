// The daemon's Prometheus metrics: what the manager and the CNI invoker report as it happens, and what is
// read from the task records and the task namespaces at scrape time.
import type { CniCommand, CniMetrics } from '../../cni/instrumented-invoker.js';
import type { PluginSet } from '../../cni/types.js';
import { Collected, Counter, Histogram, Registry, CONTENT_TYPE, type Labels } from '../metrics/prom-text.js';
import { readTaskNetDev, type ReadNetDev } from '../metrics/net-dev.js';
import { processFamilies } from '../metrics/process.js';
import type { ManagerMetrics, ReconcileAction, SetupStep } from '../task/manager-metrics.js';
import { TASK_STATUSES, type TaskRecord } from '../task/model.js';

/** Seconds: from a fast plugin call (tens of ms) to a long ENI wait (minutes). */
export const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** The task interfaces whose counters are exported. */
const TASK_INTERFACES = ['eth0', 'ecs-eth0'];
const BRIDGE_IFNAME = 'ecs-eth0';

export interface DaemonMetricsOptions {
  /** The manager's records, read at scrape time. */
  tasks: () => TaskRecord[];
  pluginSet: PluginSet;
  /** Plugins of the configured set: their call counters start at 0 so rate() sees them from the start. */
  plugins: string[];
  readNetDev?: ReadNetDev;
}

export class DaemonMetrics implements ManagerMetrics, CniMetrics {
  readonly contentType = CONTENT_TYPE;
  private readonly registry = new Registry();
  private readonly steps: Histogram;
  private readonly pluginCalls: Counter;
  private readonly pluginFailures: Counter;
  private readonly reconcile: Counter;

  constructor(private readonly o: DaemonMetricsOptions) {
    const r = this.registry;
    const readNetDev = o.readNetDev ?? readTaskNetDev;
    r.register(
      new Collected('awsvpcd_tasks', 'Tasks the daemon knows, by last status.', 'gauge', ['status'], () => {
        const n = new Map<string, number>(TASK_STATUSES.map((s) => [s, 0]));
        for (const t of o.tasks()) n.set(t.lastStatus, (n.get(t.lastStatus) ?? 0) + 1);
        return [...n].map(([status, value]) => ({ labels: { status }, value }));
      }),
    );
    r.register(
      new Collected('awsvpcd_tasks_waiting_for_eni', 'Tasks whose ENI has not appeared on the host yet.', 'gauge', [], () => [
        { labels: {}, value: o.tasks().filter((t) => t.attachmentStatus === 'ATTACHING').length },
      ]),
    );
    this.steps = r.register(
      new Histogram(
        'awsvpcd_task_setup_step_duration_seconds',
        'Duration of each successful task setup step: eni_wait (ENI wait time), pause_create, pause_start, cni_add (by plugin), container_create, container_start.',
        ['step', 'plugin'],
        STEP_BUCKETS,
      ),
    );
    this.pluginCalls = r.register(new Counter('awsvpcd_cni_plugin_calls_total', 'CNI plugin runs, by plugin and command.', ['plugin', 'command']));
    this.pluginFailures = r.register(new Counter('awsvpcd_cni_plugin_failures_total', 'CNI plugin runs that failed, by plugin and command.', ['plugin', 'command']));
    for (const plugin of o.plugins) {
      for (const command of ['ADD', 'DEL']) {
        this.pluginCalls.init({ plugin, command });
        this.pluginFailures.init({ plugin, command });
      }
    }
    r.register(
      new Collected('awsvpcd_ipam_addresses_in_use', 'Task-local (ecs-eth0) addresses held in IPAM: tasks that hold one not yet released.', 'gauge', [], () => [
        { labels: {}, value: o.tasks().filter((t) => holdsLocalAddress(t, o.pluginSet)).length },
      ]),
    );
    this.reconcile = r.register(new Counter('awsvpcd_reconcile_actions_total', 'What reconciliation did about drift between the records and the host, by action.', ['action']));
    const netRows = async (pick: 'rxBytes' | 'txBytes'): Promise<Array<{ labels: Labels; value: number }>> => {
      const rows: Array<{ labels: Labels; value: number }> = [];
      for (const t of o.tasks()) {
        if (t.lastStatus !== 'RUNNING' || !t.pause?.pid || !t.pause.netnsPath) continue;
        const dev = await readNetDev(t.pause.pid, t.pause.netnsPath);
        for (const ifName of TASK_INTERFACES) {
          const c = dev?.get(ifName);
          if (c) rows.push({ labels: { task_id: t.spec.taskId, interface: ifName }, value: c[pick] });
        }
      }
      return rows;
    };
    r.register(new Collected('awsvpcd_task_network_receive_bytes_total', 'Bytes received on the task namespace interfaces (RUNNING tasks).', 'counter', ['task_id', 'interface'], () => netRows('rxBytes')));
    r.register(new Collected('awsvpcd_task_network_transmit_bytes_total', 'Bytes sent from the task namespace interfaces (RUNNING tasks).', 'counter', ['task_id', 'interface'], () => netRows('txBytes')));
    for (const f of processFamilies()) r.register(f);
  }

  observeStep(step: SetupStep, ms: number, plugin = ''): void {
    this.steps.observe({ step, plugin }, Math.max(0, ms) / 1000);
  }

  reconcileAction(action: ReconcileAction): void {
    this.reconcile.inc({ action });
  }

  /** Actions the host reconciler carried out (rebuild-task, remove-container, ...); returns them unchanged. */
  reconciled<T extends { kind: string }>(done: T[]): T[] {
    for (const a of done) this.reconcile.inc({ action: a.kind.replace(/-/g, '_') });
    return done;
  }

  pluginCall(plugin: string, command: CniCommand, ok: boolean, ms: number): void {
    this.pluginCalls.inc({ plugin, command });
    if (!ok) this.pluginFailures.inc({ plugin, command });
    if (ok && command === 'ADD') this.observeStep('cni_add', ms, plugin);
  }

  render(): Promise<string> {
    return this.registry.render();
  }
}

/**
 * A task holds a local address from the bridge ADD until it is released: ecs-ipam's separate release
 * (ecs, vpc), or the bridge DEL that runs host-local's DEL (reference).
 */
export function holdsLocalAddress(t: TaskRecord, set: PluginSet): boolean {
  if (!t.localIpAddress || t.ipamReleased) return false;
  const bridge = t.cni.find((c) => c.ifName === BRIDGE_IFNAME);
  if (!bridge) return false;
  return set === 'reference' ? bridge.phase !== 'deleted' : true;
}
