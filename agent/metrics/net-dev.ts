// A task's interface counters, read from /proc/<pause pid>/net/dev: that file shows the network namespace
// of the process, so no nsenter (and no process per scrape) is needed. The pid is trusted only while its
// namespace is the one the daemon pinned for the task, so a reused pid never reports another's traffic.
import { readFile, stat } from 'node:fs/promises';

export interface InterfaceCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** Parses /proc/net/dev (two header lines, then "name: rx_bytes rx_packets ... tx_bytes tx_packets ..."). */
export function parseNetDev(text: string): Map<string, InterfaceCounters> {
  const out = new Map<string, InterfaceCounters>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (!name || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out.set(name, { rxBytes: f[0]!, rxPackets: f[1]!, txBytes: f[8]!, txPackets: f[9]! });
  }
  return out;
}

export type ReadNetDev = (pid: number, netnsPath: string) => Promise<Map<string, InterfaceCounters> | undefined>;

/** The counters of the namespace `pid` is in, if that is the namespace pinned at `netnsPath`; else undefined. */
export const readTaskNetDev: ReadNetDev = async (pid, netnsPath) => {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const [a, b] = await Promise.all([stat(`/proc/${pid}/ns/net`), stat(netnsPath)]);
    if (a.ino !== b.ino || a.dev !== b.dev) return undefined;
    return parseNetDev(await readFile(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined; // the task is going away
  }
};
