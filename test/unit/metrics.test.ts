// The text served on /metrics (prom-client's, as exposition() serves it), the daemon's metric families, the CNI
// instrumentation and /proc/net/dev parsing.
import { Counter, Gauge, Histogram, Registry, register as globalRegistry } from 'prom-client';
import { DaemonMetrics, holdsLocalAddress } from '../../agent/api/metrics.js';
import { exposition } from '../../agent/metrics/exposition.js';
import { parseNetDev } from '../../agent/metrics/net-dev.js';
import type { TaskRecord, TaskStatus } from '../../agent/model.js';
import { InstrumentedCniInvoker } from '../../cni/instrumented-invoker.js';
import { CniError } from '../../agent/errors.js';
import type { CniInvoker } from '../../cni/types.js';
import { parsePrometheusText, sampleValue } from '../support/prom-parser.js';

function rec(id: string, lastStatus: TaskStatus, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    spec: { taskId: id, taskArn: `arn:aws:ecs:us-east-1:1:task/c/${id}` } as TaskRecord['spec'],
    specHash: 'h',
    source: 'api',
    desiredStatus: 'RUNNING',
    lastStatus,
    attachmentStatus: 'ATTACHED',
    createdAt: '',
    eniDeadline: '',
    startedAt: null,
    stoppingAt: null,
    stoppedAt: null,
    stoppedReason: null,
    cni: [],
    containers: [],
    cleanupErrors: [],
    version: 1,
    ...extra,
  };
}

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0:    1234      10    0    0    0     0          0         0     5678      20    0    0    0     0       0          0
ecs-eth0:     99       1    0    0    0     0          0         0       77       1    0    0    0     0       0          0
`;

describe('exposition', () => {
  test('escaping, HELP/TYPE before samples, cumulative histogram buckets', async () => {
    const r = new Registry();
    const c = new Counter({ name: 'x_total', help: 'a "help"\nwith \\ newline', labelNames: ['path'], registers: [r] });
    c.inc({ path: 'a"b\\c\nd' }, 2);
    const h = new Histogram({ name: 'd_seconds', help: 'durations', labelNames: ['step'], buckets: [0.1, 1], registers: [r] });
    h.observe({ step: 's' }, 0.05);
    h.observe({ step: 's' }, 0.5);
    h.observe({ step: 's' }, 5);
    const text = await exposition(r);
    expect(text).toContain('# HELP x_total a "help"\\nwith \\\\ newline\n# TYPE x_total counter\n');
    expect(text).toContain(`x_total{path="a\\"b\\\\c\\nd"} 2`); // a"b\c<newline>d escaped
    expect(text).toContain('d_seconds_bucket{step="s",le="0.1"} 1\nd_seconds_bucket{step="s",le="1"} 2\nd_seconds_bucket{step="s",le="+Inf"} 3\nd_seconds_sum{step="s"} 5.55\nd_seconds_count{step="s"} 3\n');
    const fams = parsePrometheusText(text);
    expect(fams.get('x_total')!.samples[0]!.labels.path).toBe('a"b\\c\nd');
  });

  test('refuses bad names, negative counter increments and the reserved le label', () => {
    expect(() => new Counter({ name: 'bad-name', help: 'x', registers: [new Registry()] })).toThrow();
    expect(() => new Counter({ name: 'c', help: 'x', registers: [] }).inc({}, -1)).toThrow();
    expect(() => new Histogram({ name: 'h', help: 'x', labelNames: ['le'], buckets: [1], registers: [] })).toThrow();
    expect(() => new Counter<string>({ name: 'c', help: 'x', labelNames: ['a'], registers: [] }).inc({ b: '1' })).toThrow();
  });

  test("prom-client's output as awsvpcd serves it: families back to back, le last, NaN as the format spells it", async () => {
    const r = new Registry();
    const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['step', 'plugin'], buckets: [1], registers: [r] });
    h.observe({ step: 's', plugin: 'a}b,le="9"' }, 0.5);
    new Gauge({ name: 'g', help: 'g', registers: [r] }).set(NaN);
    const text = await exposition(r);
    expect(text).not.toContain('\n\n');
    expect(text).toContain('h_seconds_bucket{step="s",plugin="a}b,le=\\"9\\"",le="1"} 1\n');
    expect(text).toContain('h_seconds_bucket{step="s",plugin="a}b,le=\\"9\\"",le="+Inf"} 1\n');
    expect(text).toContain('\ng NaN\n');
    expect(parsePrometheusText(text).get('h_seconds')!.samples[0]!.labels).toEqual({ step: 's', plugin: 'a}b,le="9"', le: '1' });
  });

  test('the strict parser rejects what Prometheus would', () => {
    expect(() => parsePrometheusText('x 1\n')).toThrow('without a TYPE');
    expect(() => parsePrometheusText('# TYPE x counter\nx{a="b} 1\n')).toThrow('malformed');
    expect(() => parsePrometheusText('# TYPE x counter\nx 1')).toThrow('newline');
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).toThrow('cumulative');
  });
});

describe('DaemonMetrics', () => {
  test('every family renders as valid text; tasks by status, IPAM in use, per-task bytes', async () => {
    const tasks = [
      rec('a', 'RUNNING', { localIpAddress: '169.254.172.2', cni: [{ plugin: 'bridge', ifName: 'ecs-eth0', phase: 'added' }], pause: { runtimeName: 'p', pid: 4242, netnsPath: '/run/awsvpcd/netns/a' } }),
      rec('b', 'PROVISIONING', { attachmentStatus: 'ATTACHING' }),
      rec('c', 'STOPPED', { localIpAddress: '169.254.172.3', cni: [{ plugin: 'bridge', ifName: 'ecs-eth0', phase: 'deleted' }] }),
    ];
    const reads: Array<[number, string]> = [];
    const m = new DaemonMetrics({
      registry: new Registry(),
      tasks: () => tasks,
      pluginSet: 'reference',
      plugins: ['host-device', 'bridge'],
      readNetDev: async (pid, p) => {
        reads.push([pid, p]);
        return parseNetDev(NET_DEV);
      },
    });
    m.observeStep('eni_wait', 1500);
    m.pluginCall('bridge', 'ADD', true, 40);
    m.pluginCall('host-device', 'ADD', false, 10);
    m.reconcileAction('cleanup_retry');
    m.reconciled([{ kind: 'release-netns' }]);
    const fams = parsePrometheusText(await m.render());
    expect(sampleValue(fams, 'awsvpcd_tasks', { status: 'RUNNING' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_tasks', { status: 'DEPROVISIONING' })).toBe(0);
    expect(fams.get('awsvpcd_tasks')!.samples).toHaveLength(5);
    expect(sampleValue(fams, 'awsvpcd_tasks_waiting_for_eni')).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_ipam_addresses_in_use')).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_cni_plugin_calls_total', { plugin: 'bridge', command: 'ADD' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_cni_plugin_calls_total', { plugin: 'bridge', command: 'DEL' })).toBe(0);
    expect(fams.get('awsvpcd_cni_plugin_calls_total')!.samples.some((s) => s.labels.plugin === 'bridge' && s.labels.command === 'DEL')).toBe(true);
    expect(sampleValue(fams, 'awsvpcd_cni_plugin_failures_total', { plugin: 'host-device', command: 'ADD' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_task_setup_step_duration_seconds_count', { step: 'cni_add', plugin: 'bridge' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_task_setup_step_duration_seconds_count', { step: 'cni_add', plugin: 'host-device' })).toBe(0);
    expect(sampleValue(fams, 'awsvpcd_task_setup_step_duration_seconds_sum', { step: 'eni_wait' })).toBe(1.5);
    expect(sampleValue(fams, 'awsvpcd_reconcile_actions_total', { action: 'cleanup_retry' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_reconcile_actions_total', { action: 'release_netns' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_task_network_receive_bytes_total', { task_id: 'a', interface: 'eth0' })).toBe(1234);
    expect(sampleValue(fams, 'awsvpcd_task_network_transmit_bytes_total', { task_id: 'a', interface: 'eth0' })).toBe(5678);
    expect(sampleValue(fams, 'awsvpcd_task_network_transmit_bytes_total', { task_id: 'a', interface: 'ecs-eth0' })).toBe(77);
    expect(reads.every(([pid, p]) => pid === 4242 && p === '/run/awsvpcd/netns/a')).toBe(true); // only the RUNNING task
  });

  test("the daemon's own footprint: RSS, CPU and the V8 heap by space, under prom-client's names", async () => {
    const m = new DaemonMetrics({ registry: new Registry(), tasks: () => [], pluginSet: 'reference', plugins: [] });
    const fams = parsePrometheusText(await m.render());
    const rss = sampleValue(fams, 'process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(Math.abs(rss - process.memoryUsage.rss())).toBeLessThan(64 * 1024 * 1024);
    expect(sampleValue(fams, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(Math.abs(sampleValue(fams, 'process_start_time_seconds') - (Date.now() - process.uptime() * 1000) / 1000)).toBeLessThan(5);
    expect(fams.get('process_cpu_seconds_total')!.type).toBe('counter');
    const used = sampleValue(fams, 'nodejs_heap_space_size_used_bytes', { space: 'old' });
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(sampleValue(fams, 'nodejs_heap_space_size_total_bytes', { space: 'old' }));
    expect(sampleValue(fams, 'nodejs_heap_space_size_total_bytes', { space: 'code' })).toBeGreaterThan(0);
    expect(sampleValue(fams, 'nodejs_external_memory_bytes')).toBeGreaterThan(0);
  });

  test('one registry per daemon: nothing in prom-client\'s global registry, CPU counted from process start, no event-loop lag', async () => {
    const before = process.cpuUsage();
    const m = new DaemonMetrics({ registry: new Registry(), tasks: () => [], pluginSet: 'reference', plugins: ['bridge'] });
    const fams = parsePrometheusText(await m.render());
    const after = process.cpuUsage();
    expect(await globalRegistry.getMetricsAsJSON()).toEqual([]);
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const cpu = sampleValue(fams, 'process_cpu_seconds_total');
    expect(cpu).toBeGreaterThanOrEqual((before.user + before.system) / 1e6);
    expect(cpu).toBeLessThanOrEqual((after.user + after.system) / 1e6 + 1e-6);
    expect(Math.abs(cpu - sampleValue(fams, 'process_cpu_user_seconds_total') - sampleValue(fams, 'process_cpu_system_seconds_total'))).toBeLessThan(1e-3);
    expect([...fams.keys()].filter((n) => n.startsWith('nodejs_eventloop_lag'))).toEqual([]);
    expect([...fams.keys()].slice(0, 10)).toEqual([
      'awsvpcd_tasks',
      'awsvpcd_tasks_waiting_for_eni',
      'awsvpcd_task_setup_step_duration_seconds',
      'awsvpcd_cni_plugin_calls_total',
      'awsvpcd_cni_plugin_failures_total',
      'awsvpcd_ipam_addresses_in_use',
      'awsvpcd_spool_files_refused_total',
      'awsvpcd_reconcile_actions_total',
      'awsvpcd_task_network_receive_bytes_total',
      'awsvpcd_task_network_transmit_bytes_total',
    ]);
    // A second daemon in the same process has a registry of its own.
    const other = new DaemonMetrics({ registry: new Registry(), tasks: () => [], pluginSet: 'reference', plugins: [] });
    other.pluginCall('bridge', 'ADD', false, 1);
    expect(sampleValue(parsePrometheusText(await m.render()), 'awsvpcd_cni_plugin_failures_total', { plugin: 'bridge', command: 'ADD' })).toBe(0);
  });

  test('per-task byte counters are read at each scrape: concurrent scrapes do not add up, a stopped task is gone', async () => {
    const running = rec('a', 'RUNNING', { pause: { runtimeName: 'p', pid: 4242, netnsPath: '/run/awsvpcd/netns/a' } });
    let tasks = [running];
    const m = new DaemonMetrics({
      registry: new Registry(),
      tasks: () => tasks,
      pluginSet: 'reference',
      plugins: [],
      readNetDev: async () => {
        await new Promise((r) => setTimeout(r, 5));
        return parseNetDev(NET_DEV);
      },
    });
    const both = await Promise.all([m.render(), m.render()]);
    for (const text of both) {
      const fams = parsePrometheusText(text);
      expect(sampleValue(fams, 'awsvpcd_task_network_receive_bytes_total', { task_id: 'a', interface: 'eth0' })).toBe(1234);
      expect(sampleValue(fams, 'awsvpcd_task_network_transmit_bytes_total', { task_id: 'a', interface: 'ecs-eth0' })).toBe(77);
      expect(fams.get('awsvpcd_task_network_receive_bytes_total')!.samples).toHaveLength(2);
    }
    tasks = [{ ...running, lastStatus: 'STOPPED' }];
    const fams = parsePrometheusText(await m.render());
    expect(fams.get('awsvpcd_task_network_receive_bytes_total')!.samples).toHaveLength(0);
    expect(sampleValue(fams, 'awsvpcd_tasks', { status: 'STOPPED' })).toBe(1);
    expect(sampleValue(fams, 'awsvpcd_tasks', { status: 'RUNNING' })).toBe(0);
  });

  test('a local address is held until its release (ecs: ecs-ipam release; reference: the bridge DEL)', () => {
    const added = rec('a', 'STOPPED', { localIpAddress: '169.254.172.2', cni: [{ plugin: 'ecs-bridge', ifName: 'ecs-eth0', phase: 'deleted' }] });
    expect(holdsLocalAddress(added, 'ecs')).toBe(true);
    expect(holdsLocalAddress({ ...added, ipamReleased: true }, 'ecs')).toBe(false);
    expect(holdsLocalAddress(added, 'reference')).toBe(false);
    expect(holdsLocalAddress(rec('b', 'RUNNING'), 'reference')).toBe(false);
  });

  test('InstrumentedCniInvoker counts calls and failures and passes results and errors through', async () => {
    const calls: string[] = [];
    const metrics = { pluginCall: (p: string, c: string, ok: boolean, ms: number) => calls.push(`${p} ${c} ${ok} ${ms}`) };
    let t = 0;
    const inner: CniInvoker = {
      add: async () => {
        t += 25;
        return { cniVersion: '1.0.0', interfaces: [], ips: [], routes: [], dns: {} };
      },
      del: async () => {
        throw new CniError({ plugin: 'bridge', command: 'DEL', kind: 'plugin-error', message: 'boom' });
      },
      check: async () => undefined,
      version: async () => ({ cniVersion: '1.0.0', supportedVersions: ['1.0.0'] }),
    };
    const inv = new InstrumentedCniInvoker(inner, metrics, () => t);
    const call = { plugin: 'bridge', ifName: 'ecs-eth0', role: 'bridge' as const, config: {} };
    await expect(inv.add(call, { containerId: 'c', netns: '/n', timeoutMs: 1 })).resolves.toMatchObject({ cniVersion: '1.0.0' });
    await expect(inv.del(call, { containerId: 'c', netns: '/n', timeoutMs: 1 })).rejects.toThrow('boom');
    await inv.version('bridge', 1);
    expect(calls).toEqual(['bridge ADD true 25', 'bridge DEL false 0', 'bridge VERSION true 0']);
  });
});

describe('/proc/net/dev', () => {
  test('parses receive and transmit counters per interface', () => {
    const m = parseNetDev(NET_DEV);
    expect(m.get('eth0')).toEqual({ rxBytes: 1234, rxPackets: 10, txBytes: 5678, txPackets: 20 });
    expect(m.get('ecs-eth0')!.txBytes).toBe(77);
    expect(m.size).toBe(3);
    expect(parseNetDev('header\nheader\ngarbage line\n').size).toBe(0);
  });
});
