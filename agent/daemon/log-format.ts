// --pretty: pino's JSON lines made readable on a terminal. JSON stays the default (journald, log shippers).
// A few lines here instead of pino-pretty and its dozen dependencies: we only need one fixed layout.
//   12:03:04.567 INFO  task-manager  CNI ADD done  plugin=bridge ifName=ecs-eth0 ips=["169.254.172.2/22"]

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields the layout already shows, or that add nothing on a terminal. */
const SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'err']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line -> one readable line (plus an error's stack, indented). Anything not JSON passes through. */
export function formatLogLine(line: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof o.level === 'number' ? o.level : 30;
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  let name = (LEVELS[level] ?? String(level)).padEnd(5);
  if (color) name = `\x1b[${COLORS[level] ?? '0'}m${name}\x1b[0m`;
  const parts = [time, name];
  if (typeof o.component === 'string') parts.push(o.component.padEnd(12));
  parts.push(String(o.msg ?? ''));
  const fields = Object.entries(o)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${value(v)}`);
  let out = parts.join(' ') + (fields.length ? `  ${fields.join(' ')}` : '');
  const err = o.err as { message?: string; stack?: string } | undefined;
  if (err && typeof err === 'object') {
    out += `  err=${value(err.message ?? '')}`;
    if (typeof err.stack === 'string') out += `\n    ${err.stack.split('\n').join('\n    ')}`;
  }
  return `${out}\n`;
}

/** A pino destination that writes formatted lines to `out`. */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean }): { write(chunk: string): void } {
  const color = out.isTTY === true && !process.env.NO_COLOR;
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line) out.write(formatLogLine(line, color));
    },
  };
}
