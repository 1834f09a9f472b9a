// A small Prometheus registry writing the text exposition format 0.0.4: counters, histograms, and families
// whose samples are collected at scrape time (gauges, or counters kept by the kernel). No dependency: the
// format is small, and writing it here keeps every escaping rule in one readable place.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

export type Labels = Record<string, string>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** HELP text: backslash and newline escaped. */
export function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Label values: backslash, double quote and newline escaped. */
export function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], labels: Labels, extra?: [string, string]): string {
  const pairs = names.map((n) => `${n}="${escapeLabelValue(labels[n] ?? '')}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  samples(): Promise<string[]>;
}

abstract class Labeled<T> {
  protected readonly children = new Map<string, { labels: Labels; data: T }>();
  constructor(readonly labelNames: readonly string[]) {
    for (const n of labelNames) {
      if (!LABEL_NAME.test(n) || n.startsWith('__') || n === 'le') throw new Error(`bad label name ${JSON.stringify(n)}`);
    }
  }
  protected child(labels: Labels, make: () => T): T {
    const clean: Labels = {};
    for (const n of this.labelNames) clean[n] = labels[n] ?? '';
    for (const k of Object.keys(labels)) if (!this.labelNames.includes(k)) throw new Error(`unknown label ${k}`);
    const key = JSON.stringify(this.labelNames.map((n) => clean[n]));
    let c = this.children.get(key);
    if (!c) {
      c = { labels: clean, data: make() };
      this.children.set(key, c);
    }
    return c.data;
  }
}

export class Counter extends Labeled<{ v: number }> implements Family {
  readonly type = 'counter' as const;
  constructor(readonly name: string, readonly help: string, labelNames: readonly string[] = []) {
    super(labelNames);
  }
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error('a counter only goes up');
    this.child(labels, () => ({ v: 0 })).v += by;
  }
  /** Makes the series exist (at 0) before its first increment, so rate() sees it start. */
  init(labels: Labels = {}): void {
    this.child(labels, () => ({ v: 0 }));
  }
  get(labels: Labels = {}): number {
    return this.child(labels, () => ({ v: 0 })).v;
  }
  async samples(): Promise<string[]> {
    return [...this.children.values()].map((c) => `${this.name}${labelText(this.labelNames, c.labels)} ${formatValue(c.data.v)}`);
  }
}

interface HistogramData {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Labeled<HistogramData> implements Family {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  constructor(readonly name: string, readonly help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(labelNames);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) throw new Error('buckets must be distinct finite numbers');
    this.buckets = sorted;
  }
  observe(labels: Labels, v: number): void {
    const d = this.child(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    // Per-bucket counts here; the cumulative form is built at render time.
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) d.counts[i]!++;
    d.sum += v;
    d.count++;
  }
  async samples(): Promise<string[]> {
    const out: string[] = [];
    for (const { labels, data } of this.children.values()) {
      let cum = 0;
      this.buckets.forEach((b, i) => {
        cum += data.counts[i]!;
        out.push(`${this.name}_bucket${labelText(this.labelNames, labels, ['le', formatValue(b)])} ${cum}`);
      });
      out.push(`${this.name}_bucket${labelText(this.labelNames, labels, ['le', '+Inf'])} ${data.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, labels)} ${formatValue(data.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, labels)} ${data.count}`);
    }
    return out;
  }
}

export type Collect = () => Promise<Array<{ labels: Labels; value: number }>> | Array<{ labels: Labels; value: number }>;

/** Samples read fresh at every scrape (task counts, the kernel's interface counters). */
export class Collected implements Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter',
    readonly labelNames: readonly string[],
    private readonly collect: Collect,
  ) {}
  async samples(): Promise<string[]> {
    const rows = await this.collect();
    return rows.map((r) => `${this.name}${labelText(this.labelNames, r.labels)} ${formatValue(r.value)}`);
  }
}

export class Registry {
  private readonly families: Family[] = [];

  register<F extends Family>(f: F): F {
    if (!METRIC_NAME.test(f.name)) throw new Error(`bad metric name ${JSON.stringify(f.name)}`);
    if (this.families.some((x) => x.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
    return f;
  }

  /** The whole exposition: HELP and TYPE before each family's samples, a newline at the end. */
  async render(): Promise<string> {
    const lines: string[] = [];
    for (const f of this.families) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
      lines.push(...(await f.samples()));
    }
    return lines.join('\n') + '\n';
  }
}
