// The daemon's own footprint, under the names Prometheus client libraries use (process_*, nodejs_*), so
// the dashboards operators already have read them. RSS comes from the kernel; the heap figures from V8,
// split by space, so a climb can be told apart: old space (live objects), code space (compiled code),
// new space (the young generation), or outside the V8 heap altogether (buffers, malloc).
import { getHeapSpaceStatistics } from 'node:v8';
import { Collected, type Family } from './prom-text.js';

const startSeconds = Math.round(performance.timeOrigin / 1000);

export function processFamilies(): Family[] {
  return [
    new Collected('process_resident_memory_bytes', 'Resident memory size in bytes.', 'gauge', [], () => [
      { labels: {}, value: process.memoryUsage.rss() },
    ]),
    new Collected('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', 'counter', [], () => {
      const u = process.cpuUsage();
      return [{ labels: {}, value: (u.user + u.system) / 1e6 }];
    }),
    new Collected('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', 'gauge', [], () => [
      { labels: {}, value: startSeconds },
    ]),
    new Collected('nodejs_external_memory_bytes', 'Memory V8 accounts for outside its heap (buffers, mostly), in bytes.', 'gauge', [], () => [
      { labels: {}, value: process.memoryUsage().external },
    ]),
    new Collected('nodejs_heap_space_size_total_bytes', 'Size of each V8 heap space, in bytes.', 'gauge', ['space'], () =>
      getHeapSpaceStatistics().map((s) => ({ labels: { space: spaceName(s.space_name) }, value: s.space_size })),
    ),
    new Collected('nodejs_heap_space_size_used_bytes', 'Bytes in use in each V8 heap space.', 'gauge', ['space'], () =>
      getHeapSpaceStatistics().map((s) => ({ labels: { space: spaceName(s.space_name) }, value: s.space_used_size })),
    ),
  ];
}

/** "old_space" -> "old", as prom-client labels them. */
function spaceName(v8Name: string): string {
  return v8Name.replace(/_space$/, '');
}
