// Why a live task lost its network, in words that say what happened to the host: the engine restarted
// under it (its event stream broke), the host restarted (pause container exited and the pinned namespace
// gone), the engine restarted while awsvpcd was down (pause exited, the pin still there), an ENI was
// detached. Pure: the facts are gathered by health.ts and resume.ts.
import type { ContainerInfo } from '../docker/container-runtime.js';
import type { EngineOutage } from '../docker/engine-outages.js';
import type { EniSpec } from '../model.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** "exited (code 0)" / "was removed outside awsvpcd", as the reasons have always said it. */
export function pauseState(info: ContainerInfo | undefined): string {
  return info ? `exited (code ${info.exitCode})` : 'was removed outside awsvpcd';
}

/** The reason given when nothing more is known about a lost pause container. */
export function pauseLostReason(info: ContainerInfo | undefined): string {
  return `Pause container ${pauseState(info)}; the task lost its network namespace`;
}

/** What the engine's outage looked like from here, for the head of a reason. */
export function engineRestartHead(o: EngineOutage): string {
  const back = o.backAt === undefined ? 'not back yet' : `back at ${iso(o.backAt)}`;
  const lr = o.liveRestore === true ? '; live-restore is on, yet the task did not survive it' : '';
  return `Docker engine restarted (event stream lost at ${iso(o.lostAt)}, ${back}${lr})`;
}

/** What was lost, said after the engine restart head. */
export type LossDetail =
  | { kind: 'pause'; info: ContainerInfo | undefined }
  | { kind: 'essential'; container: string; exitCode: number | null | undefined; removed: boolean }
  | { kind: 'network'; lost: string }
  /** A setup that failed while the engine was away (or moments after it came back): the step's own error. */
  | { kind: 'setup'; failure: string };

export function lossDetail(d: LossDetail): string {
  switch (d.kind) {
    case 'pause':
      return `the pause container ${pauseState(d.info)} and the task lost its network namespace`;
    case 'essential':
      return d.removed
        ? `essential container ${d.container} was removed`
        : `essential container ${d.container} exited${d.exitCode === null || d.exitCode === undefined ? '' : ` (code ${d.exitCode})`}`;
    case 'network':
      return `the task network was lost: ${d.lost}`;
    case 'setup':
      return `the task's setup failed: ${d.failure}`;
  }
}

export function engineRestartReason(o: EngineOutage, d: LossDetail): string {
  return `${engineRestartHead(o)}; ${lossDetail(d)}`;
}

/**
 * A pause container found dead by the first look after the daemon started, its death earlier than that
 * start: the pinned namespace tells a host restart (gone with /run) from an engine restart (or an outside
 * stop) while awsvpcd was down (still there). `pinned` undefined: no pin was recorded.
 */
export function diedWhileDownReason(info: ContainerInfo | undefined, netnsPath: string | undefined, pinned: boolean | undefined): string {
  const state = info ? `is exited (code ${info.exitCode}${info.finishedAt ? `, at ${info.finishedAt}` : ''})` : 'is gone';
  if (netnsPath && pinned === false) {
    return `Host restarted: the pause container ${state} and the task's pinned namespace ${netnsPath} is gone`;
  }
  if (netnsPath && pinned === true) {
    return `Docker engine restarted while awsvpcd was down (or the pause container was stopped outside awsvpcd): the pause container ${state} but the task's pinned namespace ${netnsPath} is still there; the task lost its network namespace`;
  }
  return `Pause container ${state}, since before awsvpcd started; the task lost its network namespace`;
}

/** Whether a reason is one of the host-restart ones (for tests and describe). */
export const HOST_RESTARTED = /^Host restarted/;

/** The task's ENI is no longer in its namespace: named by MAC, interface, and the ids the spec carries. */
export function eniDetachedReason(eni: Pick<EniSpec, 'macAddress' | 'ec2Id' | 'attachmentId'>, ifName: string): string {
  const ids = [eni.ec2Id, eni.attachmentId ? `attachment ${eni.attachmentId}` : ''].filter(Boolean).join(', ');
  return `ENI ${eni.macAddress} (${ifName}${ids ? `; ${ids}` : ''}) was detached from the task: it is no longer in the task namespace`;
}

/** Whether a pause container's death (its State.FinishedAt) came before `sinceMs`. Unknown time: false. */
export function diedBefore(info: ContainerInfo | undefined, sinceMs: number): boolean {
  const t = info?.finishedAt ? Date.parse(info.finishedAt) : NaN;
  // The engine reports "0001-01-01T00:00:00Z" for a container that never finished: not a death.
  return !Number.isNaN(t) && t > 0 && t < sinceMs;
}
