// What the soak makes on the host, all named with one per-run prefix so that it can all be found and
// removed: an engine of its own (scripts/engine under /run/<prefix>-engine, restarted during the run, never
// the shared one), a "VPC subnet" namespace, a pool of stand-in ENIs that tasks take in turn, the task
// bridge, pinned namespaces, containers and the daemon's directories. It also counts what a task could
// leave behind.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { REPO } from './repo.js';
import { deleteLinksNamed, mountPoints, unmountUnder } from './host-cleanup.js';
import { run } from './run.js';
import { eniAdd, eniDel, vpcDown, vpcUp, type Eni } from './stand-in.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ENGINE_SCRIPT = path.join(REPO, 'scripts/engine');
const BUILD_IMAGES = path.join(REPO, 'scripts/build-images');

/** The label the daemon puts on every container it makes (agent/docker/container-config.ts LABEL.taskId). */
const TASK_ID_LABEL = 'com.awsvpcd.task-id';

/** The engine the soak restarts: scripts/engine with AWSVPCD_TEST_ENGINE_DIR=/run/<prefix>-engine. */
export class SoakEngine {
  readonly dir: string;
  readonly host: string;
  readonly dataRoot: string;
  readonly logFile: string;

  constructor(prefix: string) {
    this.dir = `/run/${prefix}-engine`;
    this.host = `unix://${this.dir}/docker.sock`;
    this.dataRoot = `/var/lib/${prefix}-engine`;
    this.logFile = `/var/log/${prefix}-engine-dockerd.log`;
  }

  private env(): Record<string, string> {
    return { AWSVPCD_TEST_ENGINE_DIR: this.dir, PATH: process.env.PATH ?? '/usr/bin:/bin' };
  }

  private async script(file: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<void> {
    const r = await execa('bash', [file, ...args], { env, extendEnv: false, timeout: timeoutMs, reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} failed (exit ${r.exitCode}): ${String(r.stderr).trim().split('\n').slice(-15).join('\n')}`);
  }

  async start(): Promise<void> {
    await this.script(ENGINE_SCRIPT, ['start'], this.env(), 120_000);
  }

  /** SIGTERM to dockerd (SIGKILL after scripts/engine's stop timeout): without live-restore its containers die with it. */
  async stop(): Promise<void> {
    await this.script(ENGINE_SCRIPT, ['stop'], this.env(), 120_000);
  }

  /** The pause and busybox images, imported from tarballs (no registry). */
  async loadImages(): Promise<void> {
    await this.script(BUILD_IMAGES, [], { ...this.env(), DOCKER_HOST: this.host }, 300_000);
  }

  docker(args: string[], timeoutMs = 60_000): Promise<string> {
    return run('docker', ['--host', this.host, ...args], timeoutMs);
  }

  /** The engine's pid (its pid file), or undefined when it is not running. */
  async pid(): Promise<number | undefined> {
    const n = Number((await readFile(path.join(this.dir, 'dockerd.pid'), 'utf8').catch(() => '')).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  /**
   * containerd shims of this engine (found by its exec root in their command line) that the engine has lost,
   * with their children. A dockerd stopped while it was creating or starting containers can leave a shim and
   * its `runc init` behind: the containerd it restarts forgets them, and they outlive the engine. Lost means:
   * the engine does not list the shim's container at all, or the shim is older than the engine process now
   * running (so it is from before a restart, which without live-restore leaves no container running) and the
   * engine does not list its container as running. (Ending them was first tried as the cure for a rootfs
   * the engine refused to remove as busy; it was not: that mount is one the next dockerd covers, see
   * unmountStale.) Every pid is this engine's; none is looked up by a broad name.
   */
  async lostShims(): Promise<Array<{ pid: number; containerId: string; children: number[] }>> {
    // The process table first: a shim that starts after it is read is not judged by lists read later.
    const procs = await procTable();
    const enginePid = await this.pid();
    const engineStart = procs.find((p) => p.pid === enginePid)?.start;
    const ids = async (all: boolean): Promise<Set<string>> => new Set((await this.docker(['ps', all ? '-aq' : '-q', '--no-trunc'])).split('\n').filter(Boolean));
    let engine: EngineView | undefined;
    if (engineStart !== undefined) {
      try {
        const [listed, running] = await Promise.all([ids(true), ids(false)]);
        engine = { start: engineStart, listed, running };
      } catch {
        return []; // a running engine that does not answer: no shim can be judged lost (all would look it)
      }
    }
    const out: Array<{ pid: number; containerId: string; children: number[] }> = [];
    for (const p of procs) {
      if (!p.cmd.includes('containerd-shim') || !p.cmd.includes(`${this.dir}/exec/`)) continue;
      const id = /-id ([0-9a-f]{64})/.exec(p.cmd)?.[1] ?? '';
      if (!shimLost(id, p.start, engine)) continue;
      out.push({ pid: p.pid, containerId: id, children: procs.filter((c) => c.ppid === p.pid).map((c) => c.pid) });
    }
    return out;
  }

  /** Ends the shims the engine has lost (lostShims), children first. Returns how many there were. */
  async endLostShims(): Promise<number> {
    const lost = await this.lostShims();
    for (const s of lost) {
      for (const pid of [...s.children, s.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    }
    return lost.length;
  }

  /**
   * With the engine stopped: unmounts whatever is still mounted under its data root (and, with `runDir`,
   * its run directory), deepest first, in passes until nothing is left or a pass frees nothing. dockerd
   * bind-mounts its data root onto itself and undoes that when it stops; a `docker start` the stop cut off
   * can mount a container's rootfs after that, on the bare directory. The next dockerd's bind then covers
   * that mount: the path no longer reaches it (umount: "not mounted"), yet the directory is a mountpoint,
   * so the engine's removal of that container fails "device or resource busy" for as long as it runs.
   * Only while no dockerd covers it can it be unmounted. Returns how many mounts were removed.
   */
  async unmountStale(runDir = false): Promise<number> {
    const under = (m: string): boolean => m === this.dataRoot || m.startsWith(this.dataRoot + '/') || (runDir && m.startsWith(this.dir + '/'));
    const list = (): Promise<string[]> => mountPoints(under);
    let removed = 0;
    for (let pass = 0; pass < 4; pass++) {
      const before = await list();
      if (!before.length) break;
      for (const m of before) await run('umount', [m]).catch(() => run('umount', ['-l', m]).catch(() => undefined));
      const freed = before.length - (await list()).length;
      removed += freed;
      if (freed <= 0) break;
    }
    return removed;
  }

  /** Stops the engine and removes its data root, run directory and log (the log copied to `keepLogAs` first). */
  async remove(keepLogAs?: string): Promise<void> {
    await this.stop().catch(() => undefined);
    // With the engine gone, every shim of it is lost.
    await this.endLostShims();
    await this.unmountStale(true);
    if (keepLogAs) await copyFile(this.logFile, keepLogAs).catch(() => undefined);
    await rm(this.dataRoot, { recursive: true, force: true });
    await rm(this.logFile, { force: true });
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** What a task could leave behind, counted on the host, the engine and in the daemon's directories. */
export interface Counts {
  /** Containers on the soak's engine with the daemon's task-id label. */
  containers: number;
  /** Links whose master is the task bridge (the host ends of the tasks' veth pairs). */
  veths: number;
  /** Entries in the daemon's <run dir>/netns. */
  pinnedNamespaces: number;
  /** host-local's allocations under <state dir>/ipam (one file per address). */
  ipamEntries: number;
  /** Task records in <state dir>/tasks. */
  stateRecords: number;
  /** Stand-in ENIs of the pool that are not back on the host (still in a task namespace, or gone). */
  enisNotOnHost: number;
}

export const LEFTOVER_KEYS: ReadonlyArray<keyof Counts> = ['containers', 'veths', 'pinnedNamespaces', 'ipamEntries', 'stateRecords', 'enisNotOnHost'];

/** The host end of a stand-in is on the host, with its MAC, under its own name. */
export async function eniOnHost(e: Eni): Promise<boolean> {
  const r = await execa('ip', ['-o', 'link', 'show', 'dev', e.dev], { reject: false, timeout: 10_000, stdin: 'ignore' });
  return r.exitCode === 0 && String(r.stdout).toLowerCase().includes(e.mac);
}

/**
 * Stand-in ENIs that tasks take in turn. A task's ENI goes back to the pool only once it is on the host
 * again (the reference set's host-device DEL moves it back); one that does not come back within the
 * deadline is counted and replaced, so the run goes on and the count says what was lost.
 */
export class EniPool {
  private readonly free: Eni[] = [];
  private readonly waiters: Array<(e: Eni) => void> = [];
  private readonly all = new Map<string, Eni>();
  private count = 0;
  /** ENIs that did not come back to the host within returnTimeoutMs after their task STOPPED. */
  readonly notReturned: string[] = [];
  aborted = false;

  constructor(
    private readonly prefix: string,
    private readonly vpcNs: string,
    private readonly macBase: string,
    readonly gateway: string,
    private readonly returnTimeoutMs: number,
  ) {}

  /** Makes `n` ENIs, four at a time. */
  async fill(n: number): Promise<void> {
    const made: Eni[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        made.push(await this.make());
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, n) }, worker));
    for (const e of made) this.put(e);
  }

  private async make(): Promise<Eni> {
    if (this.aborted) throw new Error('soak interrupted');
    const n = this.count++;
    const e: Eni = {
      dev: `${this.prefix}e${n}`,
      mac: `${this.macBase}:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`,
      ip: `10.97.${1 + Math.floor(n / 250)}.${2 + (n % 250)}`,
      gateway: this.gateway,
    };
    this.all.set(e.dev, e);
    await eniAdd(this.vpcNs, e.dev, e.mac);
    return e;
  }

  private put(e: Eni): void {
    const w = this.waiters.shift();
    if (w) w(e);
    else this.free.push(e);
  }

  take(): Promise<Eni> {
    if (this.aborted) return Promise.reject(new Error('soak interrupted'));
    const e = this.free.shift();
    if (e) return Promise.resolve(e);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Hands the ENI of a STOPPED task back: to the pool once it is on the host, else a new one in its place. */
  async give(e: Eni): Promise<void> {
    const end = Date.now() + this.returnTimeoutMs;
    while (!(await eniOnHost(e))) {
      if (this.aborted) return;
      if (Date.now() > end) {
        this.notReturned.push(e.dev);
        this.put(await this.make());
        return;
      }
      await sleep(250);
    }
    this.put(e);
  }

  /** How many of the pool's ENIs are not on the host now. */
  async notOnHost(): Promise<number> {
    let n = 0;
    for (const e of this.all.values()) if (!(await eniOnHost(e))) n++;
    return n;
  }

  get size(): number {
    return this.all.size;
  }

  devices(): string[] {
    return [...this.all.keys()];
  }
}

async function countDir(dir: string, match: (name: string) => boolean = () => true): Promise<number> {
  return (await readdir(dir).catch(() => [] as string[])).filter(match).length;
}

export class SoakHost {
  readonly vpcNs: string;
  readonly bridge: string;
  readonly engine: SoakEngine;
  readonly pool: EniPool;
  readonly gateway = '10.97.0.1/16';

  constructor(
    readonly prefix: string,
    /** The daemon's state/, run/ and spool/ go under it. */
    readonly root: string,
    eniReturnTimeoutMs: number,
  ) {
    this.vpcNs = `${prefix}-vpc`;
    this.bridge = `${prefix}-br`;
    this.engine = new SoakEngine(prefix);
    const b = randomBytes(3).toString('hex').match(/../g)!;
    this.pool = new EniPool(prefix, this.vpcNs, `0a:${b.join(':')}`, this.gateway, eniReturnTimeoutMs);
  }

  async vpcUp(): Promise<void> {
    await vpcUp(this.vpcNs, this.gateway);
  }

  async counts(stateDir: string, runDir: string): Promise<Counts> {
    const containers = (await this.engine.docker(['ps', '-aq', '--filter', `label=${TASK_ID_LABEL}`]).catch(() => '?'))
      .split('\n')
      .filter(Boolean);
    const veths = (await run('ip', ['-o', 'link', 'show', 'master', this.bridge]).catch(() => '')).split('\n').filter(Boolean).length;
    let ipamEntries = 0;
    for (const net of await readdir(path.join(stateDir, 'ipam')).catch(() => [] as string[])) {
      ipamEntries += await countDir(path.join(stateDir, 'ipam', net), (f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    }
    return {
      containers: containers[0] === '?' ? NaN : containers.length,
      veths,
      pinnedNamespaces: await countDir(path.join(runDir, 'netns')),
      ipamEntries,
      stateRecords: await countDir(path.join(stateDir, 'tasks'), (f) => f.endsWith('.json')),
      enisNotOnHost: await this.pool.notOnHost(),
    };
  }

  /**
   * For each container of the run still on the engine: which processes see its root filesystem mounted
   * (any line of /proc/PID/mountinfo naming its overlay directory), with their mount namespace, command
   * and whether that namespace is the engine's. An answer for the operator reading a failed run, when the
   * engine cannot remove a container because its rootfs is "busy".
   */
  async leftoverMountHolders(): Promise<string[]> {
    const ids = (await this.engine.docker(['ps', '-aq', '--no-trunc', '--filter', `label=${TASK_ID_LABEL}`]).catch(() => '')).split('\n').filter(Boolean);
    if (!ids.length) return [];
    const nsOf = (pid: number | string): Promise<string> => readlink(`/proc/${pid}/ns/mnt`).catch(() => '?');
    const enginePid = await this.engine.pid();
    const engineNs = enginePid ? await nsOf(enginePid) : '?';
    const out: string[] = [];
    for (const id of ids) {
      const merged = (await this.engine.docker(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', id]).catch(() => '')).trim();
      const layer = path.basename(path.dirname(merged));
      if (!/^[0-9a-f]{64}$/.test(layer)) {
        out.push(`container ${id.slice(0, 12)}: no overlay directory known (${merged || 'inspect failed'})`);
        continue;
      }
      const holders: string[] = [];
      for (const e of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(e)) continue;
        const lines = (await readFile(`/proc/${e}/mountinfo`, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes(layer));
        if (!lines.length) continue;
        const ns = await nsOf(e);
        const comm = (await readFile(`/proc/${e}/comm`, 'utf8').catch(() => '?')).trim();
        holders.push(`pid ${e} (${comm}) ${ns}${ns === engineNs ? ' [engine ns]' : ''}: ${lines.map((l) => l.split(' ')[4]).join(', ')}`);
      }
      // Processes share namespaces: one line per namespace is enough.
      const byNs = new Map<string, string>();
      for (const h of holders) {
        const ns = /(mnt:\[\d+\])/.exec(h)?.[1] ?? h;
        if (!byNs.has(ns)) byNs.set(ns, `${h}${holders.filter((x) => x.includes(ns)).length > 1 ? ` (+${holders.filter((x) => x.includes(ns)).length - 1} more in that namespace)` : ''}`);
      }
      out.push(`container ${id.slice(0, 12)} (overlay ${layer.slice(0, 12)}): ${byNs.size ? [...byNs.values()].join('; ') : 'mounted in no process\'s namespace'}`);
    }
    return out;
  }

  /**
   * Removes everything the run made, whatever state it is in; safe to call twice. The daemon must be
   * stopped first. The engine's log is kept as `engineLogCopy` when given.
   */
  async cleanup(log: (s: string) => void, engineLogCopy?: string): Promise<void> {
    this.pool.aborted = true;
    const problems: string[] = [];
    // The soak's engine is its own: every container on it is the run's.
    if (await this.engine.pid()) {
      const ids = (await this.engine.docker(['ps', '-aq']).catch((err: Error) => (problems.push(err.message), ''))).split('\n').filter(Boolean);
      for (let i = 0; i < ids.length; i += 50) {
        await this.engine.docker(['rm', '-f', '-v', ...ids.slice(i, i + 50)], 120_000).catch((err: Error) => problems.push(err.message));
      }
      if (ids.length) log(`removed ${ids.length} containers`);
    }
    // Pinned namespaces (bind mounts) under the root.
    const unmounted = await unmountUnder(this.root, problems);
    if (unmounted) log(`unmounted ${unmounted} pinned namespaces`);
    for (const dev of this.pool.devices()) await eniDel(this.vpcNs, dev).catch(() => undefined);
    await vpcDown(this.vpcNs).catch((err: Error) => problems.push(err.message));
    // Host ends whose pair vpc-down did not take, and the task bridge.
    await deleteLinksNamed(this.prefix);
    await this.engine.remove(engineLogCopy).catch((err: Error) => problems.push(`engine: ${err.message}`));
    await rm(this.root, { recursive: true, force: true });
    if (problems.length) log(`cleanup problems:\n - ${problems.join('\n - ')}`);
  }
}

/** What the running engine said: its process start time (clock ticks since boot), every container it lists, the running ones. */
export interface EngineView {
  start: number;
  listed: Set<string>;
  running: Set<string>;
}

/**
 * Whether a shim (its container id and start time) is one the engine has lost: with no engine running,
 * every shim; else a shim whose container the engine does not list, or one from before the engine's start
 * whose container is not running (without live-restore a restart leaves none running).
 */
export function shimLost(containerId: string, shimStart: number, engine: EngineView | undefined): boolean {
  if (!engine) return true;
  if (!engine.listed.has(containerId)) return true;
  return shimStart < engine.start && !engine.running.has(containerId);
}

/** Every process: pid, parent, command line, and start time (clock ticks since boot, /proc/PID/stat field 22). */
async function procTable(): Promise<Array<{ pid: number; ppid: number; cmd: string; start: number }>> {
  const out: Array<{ pid: number; ppid: number; cmd: string; start: number }> = [];
  for (const e of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(e)) continue;
    const [cmd, stat] = await Promise.all([
      readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => ''),
      readFile(`/proc/${e}/stat`, 'utf8').catch(() => ''),
    ]);
    // After the command name in parentheses: field 3 (state) is index 0, so field N is index N - 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ pid: Number(e), ppid: Number(fields[1]), cmd: cmd.replace(/\0/g, ' '), start: Number(fields[19]) });
  }
  return out;
}

/** VmRSS of a process, MiB (one decimal). */
export async function rssMiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(s)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Open file descriptors of a process. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}
