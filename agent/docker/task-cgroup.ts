// A cgroup parent per task holding the task-level cpu/memory limits (as the ECS agent does with task limits
// on): the daemon makes <root>/<taskId> and writes the limits, every container of the task gets it as
// CgroupParent, and it is removed once every container is gone. Only where the engine's cgroupfs driver
// puts containers under a plain path; a systemd driver wants slices, so the task runs without it.
import { access, mkdir, readdir, readFile, rmdir, writeFile, constants } from 'node:fs/promises';
import path from 'node:path';
import type { TaskSpec } from '../model.js';
import type { EngineInfo } from './container-runtime.js';

export const DEFAULT_TASK_CGROUP_ROOT = '/awsvpcd';
/** The CFS period ECS uses; the quota is cpu units * period / 1024. */
export const CFS_PERIOD_US = 100_000;
/** The kernel's smallest CFS quota. */
const MIN_QUOTA_US = 1_000;

export interface TaskCgroupPlan {
  /** "<root>/<taskId>": the CgroupParent of every container of the task. */
  parent: string;
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  memoryBytes?: number;
}

/** The task's cgroup parent and limits (pure); undefined when the task sets neither cpu nor memory. */
export function taskCgroupPlan(spec: Pick<TaskSpec, 'taskId' | 'cpu' | 'memory'>, root = DEFAULT_TASK_CGROUP_ROOT): TaskCgroupPlan | undefined {
  if (spec.cpu === undefined && spec.memory === undefined) return undefined;
  const plan: TaskCgroupPlan = { parent: path.posix.join('/', root, spec.taskId) };
  if (spec.cpu !== undefined) {
    plan.cpuPeriodUs = CFS_PERIOD_US;
    plan.cpuQuotaUs = Math.max(MIN_QUOTA_US, Math.floor((spec.cpu * CFS_PERIOD_US) / 1024));
  }
  if (spec.memory !== undefined) plan.memoryBytes = spec.memory * 1024 * 1024;
  return plan;
}

/** The files to write, relative to the cgroup fs root, in order (pure). */
export function limitWrites(version: 1 | 2, plan: TaskCgroupPlan): Array<{ file: string; value: string }> {
  const rel = plan.parent.replace(/^\//, '');
  const w: Array<{ file: string; value: string }> = [];
  if (version === 1) {
    if (plan.memoryBytes !== undefined) w.push({ file: `memory/${rel}/memory.limit_in_bytes`, value: String(plan.memoryBytes) });
    if (plan.cpuQuotaUs !== undefined) {
      w.push({ file: `cpu/${rel}/cpu.cfs_period_us`, value: String(plan.cpuPeriodUs) });
      w.push({ file: `cpu/${rel}/cpu.cfs_quota_us`, value: String(plan.cpuQuotaUs) });
    }
  } else {
    if (plan.memoryBytes !== undefined) w.push({ file: `${rel}/memory.max`, value: String(plan.memoryBytes) });
    if (plan.cpuQuotaUs !== undefined) w.push({ file: `${rel}/cpu.max`, value: `${plan.cpuQuotaUs} ${plan.cpuPeriodUs}` });
  }
  return w;
}

export type CgroupSupport = { ok: true; version: 1 | 2; detail: string } | { ok: false; why: string };

/** The file operations used, so tests can record them without a cgroup fs. */
export interface CgroupFs {
  exists(p: string): Promise<boolean>;
  writable(p: string): Promise<boolean>;
  mkdir(p: string): Promise<void>;
  write(p: string, value: string): Promise<void>;
  read(p: string): Promise<string>;
  /** A missing directory is not an error. */
  rmdir(p: string): Promise<void>;
  list(p: string): Promise<string[]>;
}

export const NODE_CGROUP_FS: CgroupFs = {
  exists: (p) => access(p).then(() => true, () => false),
  writable: (p) => access(p, constants.W_OK).then(() => true, () => false),
  mkdir: async (p) => void (await mkdir(p, { recursive: true, mode: 0o755 })),
  write: (p, v) => writeFile(p, v),
  read: (p) => readFile(p, 'utf8'),
  rmdir: (p) =>
    rmdir(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    }),
  list: (p) => readdir(p),
};

export interface TaskCgroups {
  /** Whether task limits can be applied on this host, and why not. */
  support(): Promise<CgroupSupport>;
  /** Makes the task's cgroup with its limits (idempotent). */
  create(plan: TaskCgroupPlan): Promise<void>;
  /** Removes the task's cgroup in every hierarchy (idempotent; fails while a process is still in it). */
  remove(parent: string): Promise<void>;
}

/** Task cgroups on the host's cgroup fs (v1: one directory per controller hierarchy; v2: one tree). */
export class FsTaskCgroups implements TaskCgroups {
  private readonly fsRoot: string;
  private readonly fs: CgroupFs;

  constructor(private readonly o: { engineInfo: () => Promise<EngineInfo>; fsRoot?: string; fs?: CgroupFs }) {
    this.fsRoot = o.fsRoot ?? '/sys/fs/cgroup';
    this.fs = o.fs ?? NODE_CGROUP_FS;
  }

  async support(): Promise<CgroupSupport> {
    const version = await this.hostVersion();
    if (!version) return { ok: false, why: `${this.fsRoot} holds neither a cgroup v2 tree (cgroup.controllers) nor a v1 memory hierarchy` };
    let info: EngineInfo;
    try {
      info = await this.o.engineInfo();
    } catch (err) {
      return { ok: false, why: `the engine's cgroup driver could not be read: ${(err as Error).message}` };
    }
    if (info.cgroupDriver && info.cgroupDriver !== 'cgroupfs') {
      return { ok: false, why: `the engine uses the ${info.cgroupDriver} cgroup driver, which takes a slice as parent, not a path (limits need --exec-opt native.cgroupdriver=cgroupfs)` };
    }
    if (info.cgroupVersion && info.cgroupVersion !== String(version)) {
      return { ok: false, why: `the engine reports cgroup v${info.cgroupVersion} but ${this.fsRoot} here is v${version} (the daemon sees another cgroup fs than the engine)` };
    }
    const dirs = version === 1 ? ['memory', 'cpu'].map((c) => path.join(this.fsRoot, c)) : [this.fsRoot];
    for (const d of dirs) {
      if (!(await this.fs.writable(d))) return { ok: false, why: `${d} is not writable by the daemon (read-only cgroup fs, or not root)` };
    }
    return { ok: true, version, detail: `cgroup v${version}, ${info.cgroupDriver ?? 'cgroupfs'} driver, ${dirs.join(' and ')} writable` };
  }

  private async hostVersion(): Promise<1 | 2 | undefined> {
    if (await this.fs.exists(path.join(this.fsRoot, 'cgroup.controllers'))) return 2;
    if (await this.fs.exists(path.join(this.fsRoot, 'memory'))) return 1;
    return undefined;
  }

  async create(plan: TaskCgroupPlan): Promise<void> {
    const version = await this.hostVersion();
    if (!version) throw new Error(`no cgroup fs at ${this.fsRoot}`);
    const rel = plan.parent.replace(/^\//, '');
    if (version === 1) {
      for (const c of ['memory', 'cpu']) await this.fs.mkdir(path.join(this.fsRoot, c, rel));
    } else {
      // Each level hands cpu and memory down to the next, down to the task's own children (the containers).
      const parts = rel.split('/');
      await this.fs.mkdir(path.join(this.fsRoot, rel));
      for (let i = 0; i <= parts.length; i++) {
        const dir = path.join(this.fsRoot, ...parts.slice(0, i));
        await this.fs.write(path.join(dir, 'cgroup.subtree_control'), '+cpu +memory');
      }
    }
    for (const w of limitWrites(version, plan)) await this.fs.write(path.join(this.fsRoot, w.file), w.value);
  }

  async remove(parent: string): Promise<void> {
    const rel = parent.replace(/^\//, '');
    const version = await this.hostVersion();
    if (version === 2) return this.fs.rmdir(path.join(this.fsRoot, rel));
    // The engine made the parent in every v1 hierarchy it uses (blkio, pids, ...): each one goes.
    const errors: string[] = [];
    for (const h of await this.fs.list(this.fsRoot)) {
      if (h === 'unified') continue;
      await this.fs.rmdir(path.join(this.fsRoot, h, rel)).catch((err: Error) => void errors.push(`${h}: ${err.message}`));
    }
    if (errors.length) throw new Error(`task cgroup ${parent} not removed: ${errors.join('; ')}`);
  }
}
