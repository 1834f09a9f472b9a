// The daemon's per-step times for one task, read from its debug log: every Docker call is logged with
// `call` and `ms` when it returns, every plugin run with `plugin`, `command`, `containerId` and
// `durationMs`, the task's milestones with its taskArn. A step's mark is when its external call
// returned, the same point the floor marks, so the gaps between marks compare one to one.
import type { LogLine } from '../lib/daemon-proc.js';
import type { Marks } from './floor.js';

export interface TaskIds {
  taskId: string;
  taskArn: string;
  pauseId: string;
  /** Container name -> runtime id, in start order. */
  containers: Array<[string, string]>;
  plugins: { add: string[]; del: string[]; ipamRelease?: string };
}

/** Marks plus each step's own external-call time (ms), so gap minus call time is the daemon's overhead. */
export interface Timeline {
  marks: Marks;
  callMs: Map<string, number>;
}

function inWindow(lines: LogLine[], from: number, to: number): LogLine[] {
  return lines.filter((l) => l.t >= from - 1 && l.t <= to + 1);
}

function dockerCall(lines: LogLine[], call: string): LogLine | undefined {
  return lines.find((l) => l.msg === 'docker call' && l.call === call);
}

function cniCall(lines: LogLine[], plugin: string, command: string, containerId: string): LogLine | undefined {
  return lines.find((l) => l.msg === 'CNI plugin call' && l.plugin === plugin && l.command === command && l.containerId === containerId);
}

export function setupTimeline(all: LogLine[], ids: TaskIds, from: number, to: number): Timeline {
  const lines = inWindow(all, from, to);
  const marks: Marks = new Map();
  const callMs = new Map<string, number>();
  const put = (step: string, l: LogLine | undefined, ms?: number): void => {
    if (!l) return;
    marks.set(step, l.t);
    if (ms !== undefined) callMs.set(step, ms);
  };
  put('eni', lines.find((l) => l.msg === 'ENI found on host' && l.taskArn === ids.taskArn));
  const pc = dockerCall(lines, `create awsvpcd-${ids.taskId}-internalecspause`);
  put('pauseCreated', pc, pc?.ms);
  const ps = dockerCall(lines, `start ${ids.pauseId.slice(0, 12)}`);
  put('pauseStarted', ps, ps?.ms);
  for (const p of ids.plugins.add) {
    const c = cniCall(lines, p, 'ADD', ids.pauseId);
    put(`cniAdd:${p}`, c, c?.durationMs);
  }
  for (const [name, id] of ids.containers) {
    const cr = dockerCall(lines, `create awsvpcd-${ids.taskId}-${name}`);
    put(`created:${name}`, cr, cr?.ms);
    const st = dockerCall(lines, `start ${id.slice(0, 12)}`);
    put(`started:${name}`, st, st?.ms);
  }
  put('running', lines.find((l) => l.msg === 'task RUNNING' && l.taskArn === ids.taskArn));
  return { marks, callMs };
}

export function teardownTimeline(all: LogLine[], ids: TaskIds, from: number, to: number): Timeline {
  const lines = inWindow(all, from, to);
  const marks: Marks = new Map();
  const callMs = new Map<string, number>();
  // The task's containers are stopped and removed in parallel: the step ends with the last of them.
  const last = (step: string, found: Array<LogLine | undefined>): void => {
    const ls = found.filter((l): l is LogLine => !!l);
    if (!ls.length) return;
    marks.set(step, Math.max(...ls.map((l) => l.t)));
    callMs.set(step, Math.max(...ls.map((l) => l.ms ?? 0)));
  };
  last('containersStopped', ids.containers.map(([, id]) => dockerCall(lines, `stop ${id.slice(0, 12)}`)));
  last('containersRemoved', ids.containers.map(([, id]) => dockerCall(lines, `remove ${id.slice(0, 12)}`)));
  for (const p of ids.plugins.del) {
    const c = cniCall(lines, p, 'DEL', ids.pauseId);
    if (c) {
      marks.set(`cniDel:${p}`, c.t);
      callMs.set(`cniDel:${p}`, c.durationMs ?? 0);
    }
  }
  if (ids.plugins.ipamRelease) {
    const c = cniCall(lines.filter((l) => l.t >= (marks.get(`cniDel:${ids.plugins.del.at(-1)}`) ?? 0)), ids.plugins.ipamRelease, 'DEL', ids.pauseId);
    if (c) {
      marks.set('ipamRelease', c.t);
      callMs.set('ipamRelease', c.durationMs ?? 0);
    }
  }
  last('pauseStopped', [dockerCall(lines, `stop ${ids.pauseId.slice(0, 12)}`)]);
  last('pauseRemoved', [dockerCall(lines, `remove ${ids.pauseId.slice(0, 12)}`)]);
  const stopped = lines.find((l) => l.msg === 'task STOPPED' && l.taskArn === ids.taskArn);
  if (stopped) marks.set('stopped', stopped.t);
  return { marks, callMs };
}

/**
 * Gaps between consecutive marks in `order`, starting at `t0`: how long each step took including
 * whatever ran before its call. Steps with no mark are left out (their time falls to the next step).
 */
export function gaps(marks: Marks, order: string[], t0: number): Map<string, number> {
  const out = new Map<string, number>();
  let prev = t0;
  for (const step of order) {
    const t = marks.get(step);
    if (t === undefined) continue;
    out.set(step, t - prev);
    prev = t;
  }
  return out;
}
