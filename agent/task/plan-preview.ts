// A validated task -> what the daemon would make for it (dry run, pure): the engine create options of the
// pause container and of each container in start order, the volumes, the task's cgroup parent and the CNI ADDs.
// Built from the same functions provisioning uses, so the preview cannot drift from what is run.
import { buildPlan } from '../../cni/plan.js';
import type { CniPlanOptions, PluginSet } from '../../cni/types.js';
import type { CreateContainerOptions } from '../docker/container-runtime.js';
import { appCreateOptions, pauseCreateOptions, startOrder, type TaskRuntimeOptions } from '../docker/container-config.js';
import { taskCgroupPlan } from '../docker/task-cgroup.js';
import { engineVolumeName, isTaskScoped } from '../docker/volumes.js';
import type { TaskSpec, VolumeSpec } from '../model.js';
import { REDACTED } from './describe.js';
import { specHash } from './spec-hash.js';

/** Where the pause container's id goes in the preview (it is known only once the pause container exists). */
export const PAUSE_ID_PLACEHOLDER = '<pause>';

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

export function planVolume(taskId: string, v: VolumeSpec): PlannedVolume {
  switch (v.kind) {
    case 'host':
      return { name: v.name, kind: v.kind, action: 'bind', hostPath: v.sourcePath };
    case 'scratch':
      return { name: v.name, kind: v.kind, engineName: engineVolumeName(taskId, v)!, action: 'create' };
    case 'docker':
      if (isTaskScoped(v)) return { name: v.name, kind: v.kind, engineName: engineVolumeName(taskId, v)!, action: 'create' };
      return { name: v.name, kind: v.kind, engineName: engineVolumeName(taskId, v)!, action: v.autoprovision ? 'create-if-missing' : 'use-existing' };
  }
}

/** The task's cgroup parent and limits (the engine's taskCgroupPlan), whether this host applies them, or null without task cpu/memory. */
export function planCgroup(spec: TaskSpec, cfg: Pick<PlanPreviewConfig, 'taskCgroupRoot' | 'cgroupLimits'>): PlannedCgroup | null {
  const plan = taskCgroupPlan(spec, cfg.taskCgroupRoot);
  if (!plan) return null;
  const out: PlannedCgroup = { ...plan, applied: cfg.cgroupLimits.applied };
  if (!cfg.cgroupLimits.applied && cfg.cgroupLimits.why) out.why = cfg.cgroupLimits.why;
  return out;
}

/** `showEnvironment`: environment values as given; otherwise "NAME=[redacted]", as describe-tasks shows them. */
export function buildTaskPlan(spec: TaskSpec, cfg: PlanPreviewConfig, opts: { showEnvironment?: boolean } = {}): TaskPlan {
  const hash = specHash(spec);
  const cgroup = planCgroup(spec, cfg);
  // As provisioning: the cgroup parent goes on every container only where the limits are applied.
  const rt: TaskRuntimeOptions = cgroup?.applied ? { cgroupParent: cgroup.parent } : {};
  const redact = (o: CreateContainerOptions): CreateContainerOptions =>
    opts.showEnvironment || !o.env ? o : { ...o, env: o.env.map((e) => `${e.slice(0, e.indexOf('='))}=${REDACTED}`) };
  const cni = buildPlan(cfg.pluginSet, spec.eni, cfg.plan);
  return {
    dryRun: true,
    taskArn: spec.taskArn,
    taskId: spec.taskId,
    warnings: [...(spec.warnings ?? [])],
    pause: pauseCreateOptions(spec, hash, cfg.pauseImage, { ...cfg.pauseLabels, ...cfg.ownerLabels }, cfg.source, rt),
    containers: startOrder(spec.containers).map((c) => ({
      name: c.name,
      createOptions: redact(appCreateOptions(spec, hash, c, PAUSE_ID_PLACEHOLDER, cfg.ownerLabels, cfg.source, rt)),
    })),
    volumes: (spec.volumes ?? []).map((v) => planVolume(spec.taskId, v)),
    cgroup,
    cniCalls: cni.add.map((c) => ({ command: 'ADD' as const, plugin: c.plugin, ifName: c.ifName, config: c.config })),
  };
}
