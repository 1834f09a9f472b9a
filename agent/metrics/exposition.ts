// GET /metrics: prom-client's text exposition (format 0.0.4), with three differences from its output taken
// out, so what is served stays what awsvpcd has always served and what a strict parser of the format accepts:
// - no blank line between families (prom-client puts one; the format allows it, but nothing needs it);
// - in a histogram bucket, the series' own labels first and `le` last (prom-client puts `le` first), so a
//   bucket line reads like its series' _sum and _count lines;
// - NaN spelled `NaN`, as the format says (prom-client writes `Nan`; Prometheus reads either, other parsers
//   do not). Node reports the mean of an event-loop delay histogram with no samples yet as NaN.
// Label values and HELP text are escaped by prom-client, with the same rules (backslash, newline, and the
// double quote in label values): no line of its output holds a newline, so the output is fixed line by line.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
import type { Registry } from 'prom-client';

/** `name_bucket{le="0.1",a="x"} 3`: the bucket's `le` and the series' labels behind it. */
const LE_FIRST = /^([^{ ]+_bucket)\{(le="[^"]*"),(.+)\}( \S+)$/;

/** The registry's families as text, HELP and TYPE before each family's samples, a newline at the end. */
export async function exposition(registry: Registry): Promise<string> {
  const lines: string[] = [];
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      lines.push(line);
      continue;
    }
    const sample = line.replace(LE_FIRST, '$1{$3,$2}$4');
    lines.push(sample.endsWith(' Nan') ? `${sample.slice(0, -3)}NaN` : sample);
  }
  return lines.join('\n') + '\n';
}
