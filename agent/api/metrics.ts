// The daemon's Prometheus metrics: what the manager and the CNI invoker report as it happens, and what is
// read from the task records and the task namespaces at scrape time.
import type { SpoolRefusal } from '../spool/spool-watcher.js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CniCommand, CniMetrics } from '../../cni/instrumented-invoker.js';
import type { PluginSet } from '../../cni/types.js';
import { exposition } from '../metrics/exposition.js';
import { readTaskNetDev, type ReadNetDev } from '../metrics/net-dev.js';
import { registerProcessMetrics } from '../metrics/process.js';
import type { ManagerMetrics, ReconcileAction, SetupStep } from '../task/manager-metrics.js';
import { DISK_ERRNOS, type StoreMetrics } from '../store/resilient-task-store.js';
import type { StoreDegraded } from '../store/task-store.js';
import { TASK_STATUSES, type TaskRecord } from '../model.js';

/** Seconds: from a fast plugin call (tens of ms) to a long ENI wait (minutes). */
export const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** The task interfaces whose counters are exported. */
const TASK_INTERFACES = ['eth0', 'ecs-eth0'];
const BRIDGE_IFNAME = 'ecs-eth0';

type NetLabels = { task_id: string; interface: string };

export interface DaemonMetricsOptions {
  /** The daemon's own registry (never prom-client's global one): this daemon's families, and nothing else. */
  registry: Registry;
  /** The manager's records, read at scrape time. */
  tasks: () => TaskRecord[];
  pluginSet: PluginSet;
  /** Plugins of the configured set: their call counters start at 0 so rate() sees them from the start. */
  plugins: string[];
  readNetDev?: ReadNetDev;
  /** Whether the state directory cannot be written now (the task store's degraded state), read at scrape time. */
  storeDegraded?: () => StoreDegraded | undefined;
}

export class DaemonMetrics implements ManagerMetrics, CniMetrics, StoreMetrics {
  readonly contentType: string;
  private readonly registry: Registry;
  private readonly steps: Histogram<'step' | 'plugin'>;
  private readonly pluginCalls: Counter<'plugin' | 'command'>;
  private readonly pluginFailures: Counter<'plugin' | 'command'>;
  private readonly reconcile: Counter<'action'>;
  private readonly spoolRefused: Counter<'reason'>;
  private readonly storeFailures: Counter<'errno'>;

  constructor(o: DaemonMetricsOptions) {
    const registers = [o.registry];
    this.registry = o.registry;
    this.contentType = o.registry.contentType;
    const readNetDev = o.readNetDev ?? readTaskNetDev;
    // Families read at scrape time are reset and refilled in one synchronous step (after any await), so a
    // scrape never shows a series that is gone, and two scrapes at once never add to each other's values.
    new Gauge({
      name: 'awsvpcd_tasks',
      help: 'Tasks the daemon knows, by last status.',
      labelNames: ['status'],
      registers,
      collect() {
        const n = new Map<string, number>(TASK_STATUSES.map((s) => [s, 0]));
        for (const t of o.tasks()) n.set(t.lastStatus, (n.get(t.lastStatus) ?? 0) + 1);
        this.reset();
        for (const [status, value] of n) this.set({ status }, value);
      },
    });
    new Gauge({
      name: 'awsvpcd_tasks_waiting_for_eni',
      help: 'Tasks whose ENI has not appeared on the host yet.',
      registers,
      collect() {
        this.set(o.tasks().filter((t) => t.attachmentStatus === 'ATTACHING').length);
      },
    });
    this.steps = new Histogram({
      name: 'awsvpcd_task_setup_step_duration_seconds',
      help: 'Duration of each successful task setup step: eni_wait (ENI wait time), pause_create, pause_start, cni_add (by plugin), container_create, container_start.',
      labelNames: ['step', 'plugin'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.pluginCalls = new Counter({ name: 'awsvpcd_cni_plugin_calls_total', help: 'CNI plugin runs, by plugin and command.', labelNames: ['plugin', 'command'], registers });
    this.pluginFailures = new Counter({ name: 'awsvpcd_cni_plugin_failures_total', help: 'CNI plugin runs that failed, by plugin and command.', labelNames: ['plugin', 'command'], registers });
    for (const plugin of o.plugins) {
      for (const command of ['ADD', 'DEL']) {
        this.pluginCalls.inc({ plugin, command }, 0);
        this.pluginFailures.inc({ plugin, command }, 0);
      }
    }
    new Gauge({
      name: 'awsvpcd_ipam_addresses_in_use',
      help: 'Task-local (ecs-eth0) addresses held in IPAM: tasks that hold one not yet released.',
      registers,
      collect() {
        this.set(o.tasks().filter((t) => holdsLocalAddress(t, o.pluginSet)).length);
      },
    });
    this.spoolRefused = new Counter({
      name: 'awsvpcd_spool_files_refused_total',
      help: 'Spool task files not run, once per version of a file: unsafe (a symlink, not a regular file, not owned by root or the daemon user, writable by group or others), invalid, not_admitted.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['unsafe', 'invalid', 'not_admitted']) this.spoolRefused.inc({ reason }, 0);
    this.reconcile = new Counter({ name: 'awsvpcd_reconcile_actions_total', help: 'What reconciliation did about drift between the records and the host, by action.', labelNames: ['action'], registers });
    // The kernel keeps these counters: each scrape reads them from the task namespaces.
    const netRows = async (pick: 'rxBytes' | 'txBytes'): Promise<Array<{ labels: NetLabels; value: number }>> => {
      const rows: Array<{ labels: NetLabels; value: number }> = [];
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
    const netCounter = (name: string, help: string, pick: 'rxBytes' | 'txBytes'): void => {
      new Counter({
        name,
        help,
        labelNames: ['task_id', 'interface'],
        registers,
        async collect() {
          const rows = await netRows(pick);
          this.reset();
          for (const r of rows) this.inc(r.labels, r.value);
        },
      });
    };
    netCounter('awsvpcd_task_network_receive_bytes_total', 'Bytes received on the task namespace interfaces (RUNNING tasks).', 'rxBytes');
    netCounter('awsvpcd_task_network_transmit_bytes_total', 'Bytes sent from the task namespace interfaces (RUNNING tasks).', 'txBytes');
    const storeDegraded = o.storeDegraded ?? (() => undefined);
    new Gauge({
      name: 'awsvpcd_state_dir_degraded',
      help: 'Whether the state directory cannot be written now (ENOSPC, EROFS, EIO, EDQUOT): 1 while new tasks are refused, 0 otherwise.',
      registers,
      collect() {
        this.set(storeDegraded() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'awsvpcd_state_records_pending',
      help: 'Task records kept in memory only, waiting for the state directory to take writes again.',
      registers,
      collect() {
        this.set(storeDegraded()?.pending ?? 0);
      },
    });
    this.storeFailures = new Counter({
      name: 'awsvpcd_state_save_failures_total',
      help: 'Task record saves (first tries and retries) the state directory refused, by errno (OTHER: not a disk errno).',
      labelNames: ['errno'],
      registers,
    });
    for (const errno of [...Object.keys(DISK_ERRNOS), 'OTHER']) this.storeFailures.inc({ errno }, 0);
    registerProcessMetrics(o.registry);
  }

  storeSaveFailed(errno: string): void {
    this.storeFailures.inc({ errno });
  }

  observeStep(step: SetupStep, ms: number, plugin = ''): void {
    this.steps.observe({ step, plugin }, Math.max(0, ms) / 1000);
  }

  reconcileAction(action: ReconcileAction): void {
    this.reconcile.inc({ action });
  }

  spoolFileRefused(reason: SpoolRefusal): void {
    this.spoolRefused.inc({ reason });
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
    return exposition(this.registry);
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
