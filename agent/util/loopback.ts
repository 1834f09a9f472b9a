// Loopback-only listen addresses (the opt-in TCP API and metrics listeners), checked the same everywhere.

/** host:port of a loopback address (127.0.0.0/8 or [::1]) and a fixed port, or undefined. */
export function parseLoopbackAddress(s: string): { host: string; port: number } | undefined {
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  if (host !== '::1' && host.split('.').some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith('0')))) return undefined;
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}
