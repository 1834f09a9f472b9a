// A validated task -> what the daemon would make for it (dry run, pure): the engine create options of the
// pause container and of each container in start order, the volumes, the task's cgroup parent and the CNI ADDs.
// Built from the same functions provisioning uses, so the preview cannot drift from what is run.
import { createHash } from 'node:crypto';
import { buildPlan } from '../../cni/plan.js';
import type { CniPlanOptions, PluginSet } from '../../cni/types.js';
import type { CreateContainerOptions } from '../docker/container-runtime.js';
import { appCreateOptions, pauseCreateOptions, startOrder } from '../docker/container-config.js';
import type { TaskSpec, VolumeSpec } from '../model.js';
import { REDACTED } from './describe.js';
import { specHash } from './spec-hash.js';

/** Where the pause container's id goes in the preview (it is known only once the pause container exists). */
export const PAUSE_ID_PLACEHOLDER = '<pause>';
export const DEFAULT_TASK_CGROUP_ROOT = '/awsvpcd';
/** cpu.cfs_period_us the daemon writes with the quota (the kernel's default period). */
export const CFS_PERIOD_US = 100_000;
/** The kernel's smallest CFS quota. */
const MIN_QUOTA_US = 1_000;

export interface PlanPreviewConfig {
  pluginSet: PluginSet;
  plan: CniPlanOptions;
  pauseImage: string;
  pauseLabels: Record<string, string>;
  ownerLabels?: Record<string, string>;
  /** Parent of every task's cgroup (default /awsvpcd). */
  taskCgroupRoot?: string;
  /** Whether this host lets the daemon write task limits (cgroupfs driver, writable cgroup fs: doctor's check), and why not. */
  cgroupLimits: { applied: boolean; why?: string };
  /** The source the task would be submitted under (labels carry it). */
  source?: string;
}

export interface PlannedVolume {
  name: string;
  /** The engine's volume name (task-scoped volumes are named per task; shared ones as given). */
  engineName?: string;
  kind: VolumeSpec['kind'];
  action: 'create' | 'use-existing' | 'create-if-missing' | 'bind';
  hostPath?: string;
}

export interface PlannedCgroup {
  parent: string;
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  memoryBytes?: number;
  applied: boolean;
  why?: string;
}

export interface TaskPlan {
  dryRun: true;
  taskArn: string;
  taskId: string;
  warnings: string[];
  pause: CreateContainerOptions;
  containers: Array<{ name: string; createOptions: CreateContainerOptions }>;
  volumes: PlannedVolume[];
  cgroup: PlannedCgroup | null;
  cniCalls: Array<{ command: 'ADD'; plugin: string; ifName: string; config: Record<string, unknown> }>;
}

/**
 * The engine's name for a task-scoped volume, `awsvpcd-<taskId>-<volName>`; a name the engine would refuse is
 * sanitized and made unique with a hash. TODO(issue 13): the engine's taskVolumeName (agent/docker/volumes.ts)
 * replaces this copy once that branch lands; they must stay the same.
 */
export function taskVolumeName(taskId: string, volumeName: string): string {
  const clean = volumeName.replace(/[^A-Za-z0-9_.-]/g, '-');
  const suffix = clean === volumeName ? clean : `${clean}-${createHash('sha256').update(volumeName).digest('hex').slice(0, 8)}`;
  return `awsvpcd-${taskId}-${suffix}`;
}

export function planVolume(taskId: string, v: VolumeSpec): PlannedVolume {
  switch (v.kind) {
    case 'host':
      return { name: v.name, kind: v.kind, action: 'bind', hostPath: v.sourcePath };
    case 'scratch':
      return { name: v.name, kind: v.kind, engineName: taskVolumeName(taskId, v.name), action: 'create' };
    case 'docker':
      if (v.scope === 'task') return { name: v.name, kind: v.kind, engineName: taskVolumeName(taskId, v.name), action: 'create' };
      return { name: v.name, kind: v.kind, engineName: v.name, action: v.autoprovision ? 'create-if-missing' : 'use-existing' };
  }
}

/**
 * The task's cgroup parent and limits (ECS: quota = cpu units * period / 1024), or null without task cpu/memory.
 * TODO(issue 13): the engine's taskCgroupPlan (agent/docker/task-cgroup.ts) gives parent and limits once it lands.
 */
export function planCgroup(spec: TaskSpec, cfg: Pick<PlanPreviewConfig, 'taskCgroupRoot' | 'cgroupLimits'>): PlannedCgroup | null {
  if (spec.cpu === undefined && spec.memory === undefined) return null;
  const out: PlannedCgroup = { parent: `${cfg.taskCgroupRoot ?? DEFAULT_TASK_CGROUP_ROOT}/${spec.taskId}`, applied: cfg.cgroupLimits.applied };
  if (spec.cpu !== undefined) {
    out.cpuQuotaUs = Math.max(MIN_QUOTA_US, Math.floor((spec.cpu * CFS_PERIOD_US) / 1024));
    out.cpuPeriodUs = CFS_PERIOD_US;
  }
  if (spec.memory !== undefined) out.memoryBytes = spec.memory * 1024 * 1024;
  if (!cfg.cgroupLimits.applied && cfg.cgroupLimits.why) out.why = cfg.cgroupLimits.why;
  return out;
}

/** `showEnvironment`: environment values as given; otherwise "NAME=[redacted]", as describe-tasks shows them. */
export function buildTaskPlan(spec: TaskSpec, cfg: PlanPreviewConfig, opts: { showEnvironment?: boolean } = {}): TaskPlan {
  const hash = specHash(spec);
  const redact = (o: CreateContainerOptions): CreateContainerOptions =>
    opts.showEnvironment || !o.env ? o : { ...o, env: o.env.map((e) => `${e.slice(0, e.indexOf('='))}=${REDACTED}`) };
  const cni = buildPlan(cfg.pluginSet, spec.eni, cfg.plan);
  return {
    dryRun: true,
    taskArn: spec.taskArn,
    taskId: spec.taskId,
    warnings: [...(spec.warnings ?? [])],
    pause: pauseCreateOptions(spec, hash, cfg.pauseImage, { ...cfg.pauseLabels, ...cfg.ownerLabels }, cfg.source),
    containers: startOrder(spec.containers).map((c) => ({
      name: c.name,
      createOptions: redact(appCreateOptions(spec, hash, c, PAUSE_ID_PLACEHOLDER, cfg.ownerLabels, cfg.source)),
    })),
    volumes: (spec.volumes ?? []).map((v) => planVolume(spec.taskId, v)),
    cgroup: planCgroup(spec, cfg),
    cniCalls: cni.add.map((c) => ({ command: 'ADD' as const, plugin: c.plugin, ifName: c.ifName, config: c.config })),
  };
}
