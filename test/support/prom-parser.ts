// A strict parser for the Prometheus text format 0.0.4, for tests: every line must match the grammar,
// every sample must belong to a family declared by # TYPE before it, histograms must be well formed
// (cumulative buckets, +Inf == _count). Throws on the first violation, naming the line.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?Inf|NaN)';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL}=${LABEL_VALUE}(?:,${LABEL}=${LABEL_VALUE})*,?)?\\})? (${VALUE})(?: (-?\\d+))?$`);
const HELP = new RegExp(`^# HELP (${NAME}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const PAIR = new RegExp(`(${LABEL})=(${LABEL_VALUE})`, 'g');

function unescape(s: string): string {
  return s.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function num(s: string): number {
  if (/^[+]?Inf$/.test(s)) return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, MetricFamily>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') throw new Error(`empty ${where}`);
    if (line.startsWith('#')) {
      const h = HELP.exec(line);
      const t = TYPE.exec(line);
      if (h) {
        const f = families.get(h[1]!) ?? { name: h[1]!, type: '', samples: [] };
        if (f.help !== undefined) throw new Error(`second HELP at ${where}`);
        f.help = h[2]!;
        families.set(f.name, f);
      } else if (t) {
        const f = families.get(t[1]!) ?? { name: t[1]!, type: '', samples: [] };
        if (f.type) throw new Error(`second TYPE at ${where}`);
        if (f.samples.length) throw new Error(`TYPE after samples at ${where}`);
        f.type = t[2]!;
        families.set(f.name, f);
      } else if (/^# (HELP|TYPE)/.test(line)) throw new Error(`malformed ${where}`);
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`malformed sample at ${where}`);
    const labels: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(PAIR)) {
      if (p[1]! in labels) throw new Error(`duplicate label ${p[1]} at ${where}`);
      labels[p[1]!] = unescape(p[2]!.slice(1, -1));
    }
    const name = m[1]!;
    const base = [name, name.replace(/_(bucket|sum|count)$/, '')].find((n) => families.get(n)?.type);
    if (!base) throw new Error(`sample without a TYPE declared before it at ${where}`);
    const f = families.get(base)!;
    if (base !== name && f.type !== 'histogram' && f.type !== 'summary') throw new Error(`suffixed sample for a ${f.type} at ${where}`);
    if (name === `${base}_bucket` && !('le' in labels)) throw new Error(`bucket without le at ${where}`);
    f.samples.push({ name, labels, value: num(m[3]!) });
  });
  for (const f of families.values()) {
    if (!f.type) throw new Error(`${f.name}: HELP without TYPE`);
    if (f.type === 'counter' && f.samples.some((s) => s.value < 0)) throw new Error(`${f.name}: negative counter`);
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of f.samples) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, ss] of series) {
      const buckets = ss.filter((s) => s.name === `${f.name}_bucket`);
      const count = ss.find((s) => s.name === `${f.name}_count`);
      if (!count || !ss.some((s) => s.name === `${f.name}_sum`)) throw new Error(`${f.name}${key}: _sum or _count missing`);
      const les = buckets.map((b) => num(b.labels.le!));
      if (les[les.length - 1] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket last`);
      for (let i = 1; i < buckets.length; i++) {
        if (!(les[i]! > les[i - 1]!)) throw new Error(`${f.name}${key}: buckets out of order`);
        if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${f.name}${key}: buckets not cumulative`);
      }
      if (buckets[buckets.length - 1]!.value !== count.value) throw new Error(`${f.name}${key}: +Inf bucket != _count`);
    }
  }
  return families;
}

/** The value of one sample (labels must match exactly those given, plus any not named), or 0 if absent. */
export function sampleValue(fams: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const f = fams.get(name) ?? fams.get(base);
  const hits = (f?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.reduce((a, s) => a + s.value, 0);
}
