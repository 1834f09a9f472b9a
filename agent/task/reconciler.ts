// Compares the daemon's records with what the host really holds (labelled containers, pinned namespaces,
// IPAM entries) and converges: tasks whose record was lost are rebuilt from the pause container's labels,
// everything else no task owns is removed. Outside start-up an orphan must be seen on two passes in a
// row before it is touched, so nothing in flight is ever mistaken for a leak.
import type { Logger } from 'pino';
import type { IpamInventory } from '../../cni/ipam-inventory.js';
import type { ContainerInfo, ContainerRuntime } from '../docker/container-runtime.js';
import { LABEL } from '../docker/container-config.js';
import { VOLUME_LABEL } from '../docker/volumes.js';
import type { TaskNetns } from '../eni/netns.js';
import type { TaskStore } from '../store/task-store.js';
import { errorMessage } from '../errors.js';
import type { TaskRecord, TaskSpec } from '../model.js';
import { newTaskRecord } from './admission.js';
import type { TaskManager } from './task-manager.js';

export type ReconcileAction =
  | { kind: 'rebuild-task'; taskId: string; pauseId: string; reason: string }
  | { kind: 'remove-container'; taskId: string; id: string; name: string; reason: string }
  | { kind: 'remove-volume'; taskId: string; name: string; reason: string }
  | { kind: 'release-netns'; path: string; reason: string }
  | { kind: 'release-ipam'; address: string; containerId: string; reason: string };

export interface ReconcilerDeps {
  manager: TaskManager;
  runtime: ContainerRuntime;
  hostNet: TaskNetns;
  store: TaskStore;
  /** The plugin set's IPAM entries (cni/ipam-inventory); absent: IPAM is not reconciled. */
  ipam?: IpamInventory;
  /** LABEL.owner value of this daemon's containers: only those are reconciled. Absent: every managed container. */
  owner?: string;
  logger: Logger;
  now: () => number;
}

function keyOf(a: ReconcileAction): string {
  switch (a.kind) {
    case 'rebuild-task':
      return `task:${a.taskId}`;
    case 'remove-container':
      return `ctr:${a.id}`;
    case 'remove-volume':
      return `vol:${a.name}`;
    case 'release-netns':
      return `netns:${a.path}`;
    case 'release-ipam':
      return `ipam:${a.address}`;
  }
}

export class Reconciler {
  private readonly log: Logger;
  /** Orphans seen on the previous pass. */
  private seen = new Set<string>();
  actionsTaken = 0;

  constructor(private readonly d: ReconcilerDeps) {
    this.log = d.logger.child({ component: 'reconcile' });
  }

  /** What the host holds that no record accounts for. */
  async plan(): Promise<ReconcileAction[]> {
    const actions: ReconcileAction[] = [];
    // The host first, the records after: a record is always saved before what it names is made, so anything
    // seen on the host that was made in between already has its record in the later snapshot.
    const containers = this.d.owner === undefined
      ? await this.d.runtime.listByLabel(LABEL.managed)
      : await this.d.runtime.listByLabel(LABEL.owner, this.d.owner);
    const volumes = (this.d.owner === undefined
      ? await this.d.runtime.listVolumesByLabel(LABEL.managed)
      : await this.d.runtime.listVolumesByLabel(LABEL.owner, this.d.owner)
    ).filter((v) => v.labels[VOLUME_LABEL.scope] === 'task');
    const pins = await this.d.hostNet.listPinned();
    const ipam = (await this.d.ipam?.list()) ?? [];
    const records = new Map(this.d.manager.all().map((r) => [r.spec.taskId, r]));

    const byTask = new Map<string, ContainerInfo[]>();
    for (const c of containers) {
      const id = c.labels[LABEL.taskId] ?? '';
      byTask.set(id, [...(byTask.get(id) ?? []), c]);
    }
    for (const [taskId, list] of byTask) {
      const rec = records.get(taskId);
      if (!rec) {
        const pause = list.find((c) => c.labels[LABEL.role] === 'pause' && c.labels[LABEL.task]);
        if (pause && taskId) {
          actions.push({ kind: 'rebuild-task', taskId, pauseId: pause.id, reason: 'labelled pause container with no task record (state lost?)' });
        } else {
          for (const c of list) actions.push({ kind: 'remove-container', taskId, id: c.id, name: c.name, reason: 'labelled container with no task' });
        }
        continue;
      }
      const known = new Set<string>();
      if (rec.pause?.runtimeId) known.add(rec.pause.runtimeId);
      if (rec.pause?.runtimeName) known.add(rec.pause.runtimeName);
      for (const st of rec.containers) {
        if (st.runtimeId) known.add(st.runtimeId);
        if (st.runtimeName) known.add(st.runtimeName);
      }
      const stale = rec.lastStatus === 'STOPPED' && !this.d.manager.needsCleanup(rec);
      for (const c of list) {
        if (stale || (!known.has(c.id) && !known.has(c.name))) {
          actions.push({ kind: 'remove-container', taskId, id: c.id, name: c.name, reason: stale ? 'container of a stopped task' : 'container the task record does not name' });
        }
      }
    }

    // What a task about to be rebuilt holds is its own, not an orphan.
    const rebuilding = actions.filter((a): a is Extract<ReconcileAction, { kind: 'rebuild-task' }> => a.kind === 'rebuild-task');

    // A task volume is the task's until its teardown removes it: only one no record (or rebuild) claims is an orphan.
    const rebuildingIds = new Set(rebuilding.map((r) => r.taskId));
    for (const v of volumes) {
      const taskId = v.labels[LABEL.taskId] ?? '';
      if (records.has(taskId) || rebuildingIds.has(taskId)) continue;
      actions.push({ kind: 'remove-volume', taskId, name: v.name, reason: 'task volume with no task' });
    }
    const pinnedByRecord = new Set([...records.values()].map((r) => r.pause?.netnsPath).filter((p): p is string => !!p));
    for (const r of rebuilding) pinnedByRecord.add(this.d.hostNet.netnsPathFor(r.taskId));
    for (const p of pins) {
      if (!pinnedByRecord.has(p)) actions.push({ kind: 'release-netns', path: p, reason: 'pinned namespace no task owns' });
    }

    if (ipam.length) {
      const owners = new Set(
        [...records.values()]
          .filter((r) => r.cni.some((c) => c.phase !== 'deleted'))
          .map((r) => r.pause?.runtimeId)
          .filter((x): x is string => !!x),
      );
      for (const r of rebuilding) owners.add(r.pauseId);
      for (const e of ipam) {
        if (!owners.has(e.containerId)) {
          actions.push({ kind: 'release-ipam', address: e.address, containerId: e.containerId, reason: 'IPAM entry no task owns' });
        }
      }
    }
    return actions;
  }

  /**
   * One pass. At start-up (`immediate`) nothing is in flight, so orphans are handled at once; on the timer
   * an orphan must have been seen on the previous pass too. `dryRun` only reports.
   */
  async run(opts: { immediate: boolean; dryRun?: boolean }): Promise<ReconcileAction[]> {
    const found = await this.plan();
    if (opts.dryRun) return found;
    const due = opts.immediate ? found : found.filter((a) => this.seen.has(keyOf(a)));
    this.seen = new Set(found.map(keyOf));
    for (const a of due) {
      try {
        await this.apply(a);
        this.actionsTaken++;
        this.seen.delete(keyOf(a));
        this.log.warn({ action: a }, 'reconciled');
      } catch (err) {
        this.log.error({ action: a, error: errorMessage(err) }, 'reconcile action failed; will retry');
      }
    }
    return due;
  }

  private async apply(a: ReconcileAction): Promise<void> {
    switch (a.kind) {
      case 'remove-container': {
        const info = await this.d.runtime.inspect(a.id);
        if (info?.running) await this.d.runtime.stop(a.id, 10);
        await this.d.runtime.remove(a.id);
        return;
      }
      case 'remove-volume':
        // Containers go in the same pass, before: a volume still in use fails here and is tried again next pass.
        await this.d.runtime.removeVolume(a.name);
        return;
      case 'release-netns':
        await this.d.hostNet.releaseNetns(a.path);
        return;
      case 'release-ipam':
        await this.d.ipam?.release({ address: a.address, containerId: a.containerId });
        return;
      case 'rebuild-task':
        await this.rebuild(a.taskId, a.pauseId);
        return;
    }
  }

  /** A task whose record was lost: its spec comes back from the pause container's label. */
  private async rebuild(taskId: string, pauseId: string): Promise<void> {
    const pause = await this.d.runtime.inspect(pauseId);
    if (!pause) return;
    const spec = JSON.parse(pause.labels[LABEL.task] ?? '') as TaskSpec;
    if (spec.taskId !== taskId) throw new Error(`pause container ${pause.name} names task ${spec.taskId}, not ${taskId}`);
    const apps = (await this.d.runtime.listByLabel(LABEL.taskId, taskId)).filter((c) => c.labels[LABEL.role] === 'app');
    const now = new Date(this.d.now()).toISOString();
    const netnsPath = this.d.hostNet.netnsPathFor(taskId);
    const pinned = (await this.d.hostNet.listPinned()).includes(netnsPath);
    const plan = this.d.manager.planFor(spec);
    const containers = spec.containers.map((c) => {
      const found = apps.find((a) => a.labels[LABEL.containerName] === c.name);
      return {
        name: c.name,
        runtimeId: found?.id,
        runtimeName: found?.name,
        lastStatus: found?.running ? ('RUNNING' as const) : found ? ('STOPPED' as const) : ('PENDING' as const),
        exitCode: null,
        reason: null,
      };
    });
    const allEssentialRunning = spec.containers.every((c, i) => !c.essential || containers[i]!.lastStatus === 'RUNNING');
    // Where it came from survives in a label; a task made before the label existed came through the API.
    const rec = newTaskRecord(spec, pause.labels[LABEL.source] ?? 'api', new Date(this.d.now()), pause.labels[LABEL.specHash] ?? '');
    Object.assign(rec, {
      desiredStatus: 'RUNNING',
      lastStatus: pause.running && allEssentialRunning ? 'RUNNING' : 'PENDING',
      attachmentStatus: 'ATTACHED',
      createdAt: pause.startedAt ?? now,
      eniDeadline: now,
      startedAt: pause.startedAt ?? null,
      stoppedAt: null,
      stoppedReason: null,
      pause: { runtimeId: pause.id, runtimeName: pause.name, pid: pause.running ? pause.pid : undefined, netnsPath: pinned ? netnsPath : undefined },
      // Every plugin may have run: DEL of one that did not is "already gone", so this is the safe assumption.
      cni: plan.add.map((c) => ({ plugin: c.plugin, ifName: c.ifName, phase: 'added' as const })),
      containers,
      // The task cgroup the daemon made is the pause container's parent: teardown removes it with the task.
      taskCgroup: pause.cgroupParent && (spec.cpu !== undefined || spec.memory !== undefined) ? { parent: pause.cgroupParent } : undefined,
      rebuiltFromEngine: true,
    } satisfies Partial<TaskRecord>);
    await this.d.store.save(rec);
    this.d.manager.adopt(rec);
  }
}
