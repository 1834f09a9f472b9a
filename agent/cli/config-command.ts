// `awsvpcd config`: the resolved daemon configuration and where each value came from.
import { describeSource, OPTIONS, type ResolvedConfig } from '../daemon/config.js';
import { loadConfig } from '../daemon/config-file.js';

function show(v: unknown): string {
  if (v === undefined) return '(unset)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function formatConfig(r: ResolvedConfig): string {
  const rows = [['KEY', 'VALUE', 'SOURCE'], ...OPTIONS.map((o) => [o.key, show(r.config[o.key]), describeSource(r.sources[o.key])])];
  const w0 = Math.max(...rows.map((x) => x[0]!.length));
  const w1 = Math.min(60, Math.max(...rows.map((x) => x[1]!.length)));
  return rows.map(([k, v, s]) => `${k!.padEnd(w0)}  ${v!.padEnd(w1)}  ${s}`).join('\n') + '\n';
}

/** Prints the table, or with --json {config, sources}. `flags`: the daemon flags given. A bad value anywhere fails here as it would at start-up. */
export async function configCommand(flags: Map<string, string | true>, json: boolean, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const r = await loadConfig(flags, env);
  if (json) {
    const sources = Object.fromEntries(Object.entries(r.sources).map(([k, s]) => [k, { ...s, text: describeSource(s) }]));
    out.write(JSON.stringify({ config: r.config, sources }, null, 2) + '\n');
  } else out.write(formatConfig(r));
  return 0;
}
