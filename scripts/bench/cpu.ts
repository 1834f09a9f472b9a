// CPU time, read from /proc: the whole host's busy time (every process and the kernel's own work: the
// engine, containerd, shims, runc, plugins, namespace setup and cleanup) and one process's. Wall time of a
// batch swings with whatever else the host is doing; CPU time per task says what the batch cost.
import { readFile } from 'node:fs/promises';

/** USER_HZ: /proc reports clock ticks, 100 a second on every Linux architecture the daemon runs on. */
const TICKS = 100;

/** Seconds the host's CPUs have spent busy since boot: user, nice, system, irq, softirq and steal. */
export function parseHostBusy(procStat: string): number {
  const f = /^cpu\s+(.*)$/m.exec(procStat)?.[1]?.trim().split(/\s+/).map(Number);
  if (!f || f.length < 8 || f.some((n) => !Number.isFinite(n))) throw new Error('/proc/stat: no aggregate cpu line');
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/**
 * CPU seconds of one process from /proc/<pid>/stat: its own (utime + stime, fields 14-15) and that of the
 * children it has waited for (cutime + cstime, 16-17). The command name may hold spaces and parentheses,
 * so fields are counted after its last closing parenthesis.
 */
export function parseProcCpu(pidStat: string): { self: number; children: number } {
  const f = pidStat.slice(pidStat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) throw new Error('/proc/<pid>/stat: no utime/stime/cutime/cstime');
  const [utime, stime, cutime, cstime] = f as [number, number, number, number];
  return { self: (utime + stime) / TICKS, children: (cutime + cstime) / TICKS };
}

export async function hostBusySec(): Promise<number> {
  return parseHostBusy(await readFile('/proc/stat', 'utf8'));
}

export async function procCpu(pid: number): Promise<{ self: number; children: number }> {
  return parseProcCpu(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** The process's own CPU seconds, without its children's. */
export async function procCpuSec(pid: number): Promise<number> {
  return (await procCpu(pid)).self;
}

/** Starts a reading; the returned function gives CPU seconds spent since (host, and the process if given). */
export async function cpuMeter(pid?: number): Promise<() => Promise<{ hostSec: number; procSec?: number }>> {
  const [h0, p0] = await Promise.all([hostBusySec(), pid ? procCpuSec(pid) : undefined]);
  return async () => {
    const [h1, p1] = await Promise.all([hostBusySec(), pid ? procCpuSec(pid) : undefined]);
    return { hostSec: round2(h1 - h0), procSec: p0 !== undefined && p1 !== undefined ? round2(p1 - p0) : undefined };
  };
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
