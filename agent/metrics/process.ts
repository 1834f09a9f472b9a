// The daemon's own footprint: prom-client's default process_* and nodejs_* metrics, which dashboards for
// Node services already read. RSS comes from the kernel; the heap figures from V8, split by space, so a climb
// can be told apart: old space (live objects), code space (compiled code), new space (the young
// generation), or outside the V8 heap altogether (buffers, malloc). Two things are set differently from
// prom-client's defaults (README, Metrics):
// - process_cpu_seconds_total (and its _user_/_system_ parts) counts the CPU the process has used since it
//   started, as it always did here: prom-client counts from the call that registers it, so the CPU spent
//   before (loading, preflight) is added once.
// - No nodejs_eventloop_lag_*: Node samples the loop with a timer, which at prom-client's 10 ms wakes the
//   idle daemon a hundred times a second (about 10 ms of CPU a second, measured); every reading also
//   includes the timer's own interval, so at a cost-free interval (1 s, set here) the figures would read
//   1 s plus the lag. The families are taken out of the registry; the sampler ticks once a second unread.
import { collectDefaultMetrics, type Counter, type Registry } from 'prom-client';

const CPU_COUNTERS = { process_cpu_seconds_total: ['user', 'system'], process_cpu_user_seconds_total: ['user'], process_cpu_system_seconds_total: ['system'] } as const;
const EVENT_LOOP_LAG = 'nodejs_eventloop_lag_';
const EVENT_LOOP_SAMPLE_MS = 1000;

export function registerProcessMetrics(registry: Registry): void {
  const before = process.cpuUsage();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  for (const [name, parts] of Object.entries(CPU_COUNTERS)) {
    const c = registry.getSingleMetric(name) as Counter | undefined;
    c?.inc(parts.reduce((s, p) => s + before[p], 0) / 1e6);
  }
  for (const m of registry.getMetricsAsArray()) if (m.name.startsWith(EVENT_LOOP_LAG)) registry.removeSingleMetric(m.name);
}
