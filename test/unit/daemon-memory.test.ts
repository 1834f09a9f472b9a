// The soak's memory readings come from the daemon's /metrics: parsed from what the daemon's own registry
// renders (prom-client's defaults as registerProcessMetrics sets them up), so a renamed family fails here.
import v8 from 'node:v8';
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../../agent/metrics/process.js';
import { parseMemory } from '../../scripts/lib/daemon-proc.js';

test('heap in use, old space in use and external memory, in MiB, from a real registry', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const m = parseMemory(await registry.metrics());
  const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size / 1048576;
  expect(m.heapUsedMiB).toBeGreaterThan(1);
  expect(m.heapTotalMiB).toBeGreaterThanOrEqual(m.heapUsedMiB);
  expect(m.oldSpaceUsedMiB).toBeGreaterThan(old / 2);
  expect(m.oldSpaceUsedMiB).toBeLessThanOrEqual(m.heapUsedMiB);
  expect(m.externalMiB).toBeGreaterThanOrEqual(0);
  registry.clear();
});

test('a text without the families is an error that names the missing one', () => {
  expect(() => parseMemory('process_resident_memory_bytes 1\n')).toThrow(/nodejs_heap_size_total_bytes/);
});

test('values are bytes, given in MiB to one decimal', () => {
  const text = ['nodejs_heap_size_total_bytes 20971520', 'nodejs_heap_size_used_bytes 10485760', 'nodejs_heap_space_size_used_bytes{space="old"} 5242880', 'nodejs_external_memory_bytes 1572864'].join('\n');
  expect(parseMemory(text)).toEqual({ heapTotalMiB: 20, heapUsedMiB: 10, oldSpaceUsedMiB: 5, externalMiB: 1.5 });
});
