// Helpers for the security integration tests: the daemon's log as JSON lines, its pid, the TCP sockets
// it listens on (read from /proc, no tools needed), raw socket clients, and a free loopback port.
import { readFile, readdir, readlink } from 'node:fs/promises';
import net from 'node:net';
import type { DaemonProc } from './harness.js';

export interface LogLine {
  level?: number;
  msg?: string;
  pid?: number;
  component?: string;
  [k: string]: unknown;
}

export async function logText(d: DaemonProc): Promise<string> {
  return readFile(d.logFile, 'utf8').catch(() => '');
}

export async function logLines(d: DaemonProc): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for (const line of (await logText(d)).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      /* a partial last line */
    }
  }
  return out;
}

/** The daemon's pid, from the pino `pid` field of its latest log line. */
export async function daemonPid(d: DaemonProc): Promise<number> {
  const pids = (await logLines(d)).map((l) => l.pid).filter((p): p is number => typeof p === 'number');
  const pid = pids[pids.length - 1];
  if (pid === undefined) throw new Error(`no pid in ${d.logFile}`);
  return pid;
}

/** "0100007F:1F90" (/proc/net/tcp, little-endian words) -> "127.0.0.1:8080"; IPv6 as [hex groups]. */
function procAddress(hex: string): string {
  const [addr, port] = hex.split(':') as [string, string];
  const p = parseInt(port, 16);
  if (addr.length === 8) {
    const b = Buffer.from(addr, 'hex');
    return `${b[3]}.${b[2]}.${b[1]}.${b[0]}:${p}`;
  }
  const words = addr.match(/.{8}/g)!.map((w) => Buffer.from(w, 'hex').reverse().toString('hex'));
  const groups = words.join('').match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
  return `[${groups.join(':')}]:${p}`;
}

/** Local addresses of the TCP sockets in LISTEN state that `pid` holds (IPv4 and IPv6). */
export async function tcpListeners(pid: number): Promise<string[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const out: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length < 10 || f[3] !== '0A') continue;
      if (inodes.has(f[9]!)) out.push(procAddress(f[1]!));
    }
  }
  return out.sort();
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Opens a raw connection, writes `data` and then nothing more; resolves with how long the server kept
 * it open and what it answered (undefined when it closed without an answer).
 */
export function stallingClient(connect: net.NetConnectOpts, data: string): Promise<{ closedAfterMs: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect(connect, () => {
      if (data) s.write(data);
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    s.on('close', () => resolve({ closedAfterMs: Date.now() - started, answer: Buffer.concat(chunks).toString('utf8') }));
  });
}

/** One request over a raw socket: what the server sent back before it closed or `waitMs` passed. */
export function rawRequest(connect: net.NetConnectOpts, data: Buffer | string, waitMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(connect, () => s.end(data));
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
