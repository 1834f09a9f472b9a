// The bench's daemon: the shared DaemonProc (scripts/lib) configured by its flags and the environment the
// bench gives it (the systemd unit's) and nothing else from the caller, plus the two readings the bench
// takes of the process itself: CPU time and resident memory.
import { readFile } from 'node:fs/promises';
import { DaemonProc, type DaemonProcOptions } from '../lib/daemon-proc.js';
import { procCpu } from './cpu.js';

export class BenchDaemon extends DaemonProc {
  constructor(o: Omit<DaemonProcOptions, 'isolateEnv'>) {
    super({ ...o, isolateEnv: true });
  }

  /**
   * CPU time the daemon has used, ms: its own, and that of the children it has waited for (plugins,
   * mount, nsenter). Less swayed by a busy machine than wall time.
   */
  async cpuMs(): Promise<{ self: number; children: number }> {
    const c = await procCpu(this.pid!);
    return { self: c.self * 1000, children: c.children * 1000 };
  }

  /** VmRSS of the daemon process, MiB. */
  async rssMiB(): Promise<number> {
    const s = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(s)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  }
}
