// The results as a text table (the JSON holds the same figures) and the performance targets checked against them.
import type { ConcurrencyLevel, ConcurrencyTrial, OverheadResult, RestartResult, ScaleResult } from './phases.js';
import type { CaseResult, Span } from './cases.js';
import { median, type BatchFigures, type Summary } from './stats.js';

export interface Meta {
  date: string;
  prefix: string;
  pluginSet: string;
  cniPath: string;
  machine: { cpus: number; model: string; memGiB: number; kernel: string; node: string; docker: string; stateFs: string };
  /** 1/5/15-minute load averages when each part started and when the run ended. */
  load: Record<string, number[]>;
  flags: Record<string, unknown>;
  notes: string[];
}

export interface Results {
  meta: Meta;
  overhead?: OverheadResult;
  cases?: CaseResult[];
  concurrency?: ConcurrencyLevel[];
  scale?: ScaleResult;
  restart?: RestartResult;
  targets?: Target[];
}

export interface Target {
  name: string;
  value: number | string;
  limit: string;
  ok: boolean;
}

const STEP_LABEL: Record<string, string> = {
  eni: 'ENI found',
  pauseCreated: 'pause created',
  pauseStarted: 'pause started',
  running: 'RUNNING',
  containersStopped: 'containers stopped',
  containersRemoved: 'containers removed',
  ipamRelease: 'IPAM release',
  pauseStopped: 'pause stopped',
  pauseRemoved: 'pause removed',
  stopped: 'STOPPED',
};

function label(step: string): string {
  if (STEP_LABEL[step]) return STEP_LABEL[step]!;
  const [kind, name] = step.split(':');
  return kind === 'cniAdd' ? `CNI ADD ${name}` : kind === 'cniDel' ? `CNI DEL ${name}` : `${name} ${kind}`;
}

const f = (v: number | undefined, d = 1): string => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));

function table(rows: string[][], indent = '  '): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd()).join('\n');
}

export function targets(r: Results): Target[] {
  const t: Target[] = [];
  const o = r.overhead;
  if (o) {
    // The daemon as shipped (log level info, the default); the debug run beside it is for the breakdown.
    const r = o.shipped?.ratio ?? o.ratio;
    t.push({ name: `setup: median daemon / median floor (one task, log level ${o.shipped ? 'info' : 'debug'})`, value: r.setupMedian, limit: '<= 1.10', ok: r.setupMedian <= 1.1 });
  }
  // Issue 16: the setup graph against the calls back to back.
  const CASE_LIMIT: Record<string, number> = { 'two-container': 0.9, independent: 0.75, 'late-eni': 0.6 };
  for (const k of r.cases ?? []) {
    const what = k.from === 'eni-appeared' ? 'ENI appeared -> RUNNING' : 'setup';
    const lim = CASE_LIMIT[k.name]!;
    t.push({ name: `case ${k.name}: median ${what}, daemon / floor`, value: k.ratio.median, limit: `<= ${lim.toFixed(2)}`, ok: k.ratio.median <= lim });
    t.push({ name: `case ${k.name}: failures`, value: k.failures.length, limit: '0', ok: k.failures.length === 0 });
  }
  const c = r.concurrency;
  if (c?.length) {
    const fails = c.reduce((s, l) => s + l.start.failures + l.stop.failures, 0);
    t.push({ name: `concurrency: failures at ${c.map((l) => l.n).join('/')} at once`, value: fails, limit: '0', ok: fails === 0 });
    const top = c[c.length - 1]!;
    // One at a time: the overhead part's median setup at the level the concurrency daemon runs at (info).
    const single = o ? 1000 / (o.shipped?.figures ?? o.daemon).setup.median : c.find((l) => l.n === 1)?.start.tasksPerSec;
    if (single) {
      const x = top.start.tasksPerSec / single;
      t.push({ name: `concurrency: ${top.n} at once, throughput / one-at-a-time (${single.toFixed(2)}/s)`, value: Math.round(x * 100) / 100, limit: '>= 2', ok: x >= 2 });
      const fx = top.floor.start.tasksPerSec / (o ? 1000 / o.floor.setup.median : top.floor.start.tasksPerSec);
      if (o) t.push({ name: `  (for reference, the floor: ${top.n} at once / one at a time)`, value: Math.round(fx * 100) / 100, limit: '-', ok: true });
    }
  }
  const s = r.scale;
  if (s) {
    t.push({ name: `scale: setup of task ${s.n} / task 1`, value: s.ratioLastToFirst, limit: '<= 1.3', ok: s.ratioLastToFirst <= 1.3 });
    t.push({ name: `scale: median of last 5 / first 5`, value: s.ratioLastFiveToFirstFive, limit: '<= 1.3', ok: s.ratioLastFiveToFirstFive <= 1.3 });
    t.push({ name: 'scale: failures', value: s.failures.length, limit: '0', ok: s.failures.length === 0 });
    t.push({ name: 'RSS idle (MiB, settled)', value: s.rssMiB.idle, limit: '<= 70', ok: s.rssMiB.idle <= 70 });
    t.push({ name: `RSS at ${s.n} tasks (MiB, settled)`, value: s.rssMiB.atN, limit: '<= 120', ok: s.rssMiB.atN <= 120 });
    // The first round: N started one after another, then all stopped at once (the second round, 8 at a
    // time, is there to tell warm-up from growth and is reported beside it, not held to this).
    const peak = s.rssMiB.peakBy ? Math.max(s.rssMiB.peakBy.starting, s.rssMiB.peakBy.stoppingAll) : s.rssMiB.peak;
    t.push({ name: `RSS peak while starting and stopping ${s.n} (MiB)`, value: peak, limit: '<= 120', ok: peak <= 120 });
    const lim = Math.round(s.rssMiB.idle * 1.1 * 10) / 10;
    t.push({ name: 'RSS after all stopped (MiB, settled)', value: s.rssMiB.afterStop, limit: `<= idle + 10% (${lim})`, ok: s.rssMiB.afterStop <= lim });
  }
  const x = r.restart;
  if (x) {
    t.push({ name: `restart with ${x.n} RUNNING: spawn -> ready and all confirmed (ms)`, value: x.confirmedMs, limit: '<= 3000', ok: x.confirmedMs <= 3000 });
    t.push({ name: 'restart: tasks RUNNING after / before', value: `${x.runningAfter}/${x.n - x.startAll.failures}`, limit: 'all', ok: x.runningAfter === x.n - x.startAll.failures });
    t.push({ name: 'restart: containers restarted', value: x.restartedContainers.length, limit: '0', ok: x.restartedContainers.length === 0 });
  }
  return t;
}

function steps(o: OverheadResult, which: 'setup' | 'teardown'): string {
  const order = o.stepOrder[which];
  const d = which === 'setup' ? o.daemon.setupSteps : o.daemon.teardownSteps;
  const fl = which === 'setup' ? o.floor.setupSteps : o.floor.teardownSteps;
  const calls = (which === 'setup' ? o.daemon.setupCallMs : o.daemon.teardownCallMs) ?? {};
  const rows = [['step (time since the previous step, ms)', 'daemon med', 'p95', 'floor med', 'p95', 'daemon call', 'daemon - floor']];
  for (const s of order) {
    const a: Summary | undefined = d[s];
    const b: Summary | undefined = fl[s];
    rows.push([label(s), f(a?.median), f(a?.p95), f(b?.median), f(b?.p95), f(calls[s]?.median), f(a && b ? a.median - b.median : undefined)]);
  }
  return table(rows, '    ');
}

/** Two timelines side by side: each step's start and end, and a bar over the run's span (the daemon's steps overlap). */
function timeline(daemon: Span[], floor: Span[]): string {
  const all = [...daemon, ...floor];
  if (!all.length) return '    (no steps recorded)';
  const lo = Math.min(0, ...all.map((x) => x.startMs));
  const hi = Math.max(...all.map((x) => x.endMs));
  const W = 40;
  const bar = (x: Span): string => {
    const a = Math.floor(((x.startMs - lo) / (hi - lo || 1)) * W);
    const b = Math.max(a + 1, Math.ceil(((x.endMs - lo) / (hi - lo || 1)) * W));
    return ' '.repeat(a) + '#'.repeat(b - a) + ' '.repeat(Math.max(0, W - b));
  };
  const rows = [['', 'step', 'start', 'end', `|${' '.repeat(W)}|`]];
  for (const [who, spans] of [['daemon', daemon], ['floor', floor]] as const) {
    spans.forEach((x, i) => rows.push([i === 0 ? who : '', x.step, f(x.startMs, 0), f(x.endMs, 0), `|${bar(x)}|`]));
  }
  return table(rows, '    ');
}

export function render(r: Results): string {
  const m = r.meta;
  const out: string[] = [];
  const load = (k: string): string => (m.load[k] ? m.load[k]!.map((x) => x.toFixed(2)).join(' ') : '-');
  out.push(`awsvpcd bench ${m.date}  prefix ${m.prefix}  plugin set ${m.pluginSet} (${m.cniPath})`);
  out.push(`machine: ${m.machine.cpus} x ${m.machine.model}, ${m.machine.memGiB} GiB, Linux ${m.machine.kernel}, node ${m.machine.node}, Docker ${m.machine.docker}; state dir on ${m.machine.stateFs}`);
  out.push(`load average (1/5/15 min): start ${load('start')}, end ${load('end')}`);
  for (const n of m.notes) out.push(`note: ${n}`);
  const o = r.overhead;
  if (o) {
    out.push('');
    out.push(`1. Setup: API request -> RUNNING, two-container task, ${o.reps} reps (+${o.warmup} warm-up), ms   [load at start ${load('overhead')}]`);
    out.push(table([
      ['', 'median', 'p95', 'min', 'max'],
      ['daemon', f(o.daemon.setup.median), f(o.daemon.setup.p95), f(o.daemon.setup.min), f(o.daemon.setup.max)],
      ['floor', f(o.floor.setup.median), f(o.floor.setup.p95), f(o.floor.setup.min), f(o.floor.setup.max)],
      ['daemon / floor', f(o.ratio.setupMedian, 3), f(o.ratio.setupP95, 3), '', ''],
    ]));
    out.push(`  median of each rep's daemon/floor (paired, so load drift over the run cancels): ${f(o.ratio.setupPairedMedian, 3)}`);
    if (o.shipped) {
      const x = o.shipped;
      out.push(`  the daemon above logs at debug, for the breakdown below; the same build at info (the default), in the same reps:`);
      out.push(`    median ${f(x.figures.setup.median)} ms, p95 ${f(x.figures.setup.p95)} ms; daemon / floor ${f(x.ratio.setupMedian, 3)} (paired ${f(x.ratio.setupPairedMedian, 3)}); teardown median ${f(x.figures.teardown.median)} ms, ratio ${f(x.ratio.teardownMedian, 3)}; CPU per task ${f(x.cpuMsPerTask.self, 0)} ms (debug: ${f(o.cpuMsPerTask.self, 0)} ms)`);
    }
    if (o.daemon.outsideCallsMs) {
      out.push(`  daemon time outside its Docker calls and plugin runs (API, saves, host commands): median ${f(o.daemon.outsideCallsMs.setup.median)} ms, p95 ${f(o.daemon.outsideCallsMs.setup.p95)} ms`);
    }
    const cmp = o.compared;
    if (cmp) {
      out.push(`  compared build ${cmp.cli}, run pairwise in the same reps:`);
      out.push(table([
        ['', 'setup med', 'p95', '/ floor', 'paired', 'outside calls', 'teardown med', 'p95', '/ floor', 'paired', 'outside calls', 'saves', 'cpu ms self', 'children'],
        ['this build', f(o.daemon.setup.median), f(o.daemon.setup.p95), f(o.ratio.setupMedian, 3), f(o.ratio.setupPairedMedian, 3), f(o.daemon.outsideCallsMs?.setup.median), f(o.daemon.teardown.median), f(o.daemon.teardown.p95), f(o.ratio.teardownMedian, 3), f(o.ratio.teardownPairedMedian, 3), f(o.daemon.outsideCallsMs?.teardown.median), `${o.savesPerTask.toRunning}/${o.savesPerTask.toStopped}`, f(o.cpuMsPerTask.self, 0), f(o.cpuMsPerTask.children, 0)],
        ['compared build', f(cmp.figures.setup.median), f(cmp.figures.setup.p95), f(cmp.ratio.setupMedian, 3), f(cmp.ratio.setupPairedMedian, 3), f(cmp.figures.outsideCallsMs?.setup.median), f(cmp.figures.teardown.median), f(cmp.figures.teardown.p95), f(cmp.ratio.teardownMedian, 3), f(cmp.ratio.teardownPairedMedian, 3), f(cmp.figures.outsideCallsMs?.teardown.median), `${cmp.savesPerTask.toRunning}/${cmp.savesPerTask.toStopped}`, f(cmp.cpuMsPerTask.self, 0), f(cmp.cpuMsPerTask.children, 0)],
      ]));
    }
    out.push(`  API accept (request -> 202): median ${f(o.acceptMs.median)} ms; record saves per task: ${o.savesPerTask.toRunning} to RUNNING, ${o.savesPerTask.toStopped} to STOPPED (each = 2 fsyncs)`);
    out.push(`  daemon CPU per task (setup + teardown, mean): ${f(o.cpuMsPerTask.self, 0)} ms its own, ${f(o.cpuMsPerTask.children, 0)} ms its children's (plugins, mount, nsenter)`);
    out.push(steps(o, 'setup'));
    out.push("  (the daemon's setup steps overlap (a graph): a gap above is from the mark before it in this order, not a step's own time; part 2b has each step's start and end)");
    out.push('');
    out.push(`2. Teardown: stop request -> STOPPED, ms (containers trap SIGTERM and exit at once; stopTimeout 2 s in both paths)`);
    out.push(table([
      ['', 'median', 'p95', 'min', 'max'],
      ['daemon', f(o.daemon.teardown.median), f(o.daemon.teardown.p95), f(o.daemon.teardown.min), f(o.daemon.teardown.max)],
      ['floor', f(o.floor.teardown.median), f(o.floor.teardown.p95), f(o.floor.teardown.min), f(o.floor.teardown.max)],
      ['daemon / floor', f(o.ratio.teardownMedian, 3), f(o.ratio.teardownP95, 3), '', ''],
    ]));
    out.push(`  median of each rep's daemon/floor (paired): ${f(o.ratio.teardownPairedMedian, 3)}`);
    if (o.daemon.outsideCallsMs) {
      out.push(`  daemon time outside its Docker calls and plugin runs: median ${f(o.daemon.outsideCallsMs.teardown.median)} ms, p95 ${f(o.daemon.outsideCallsMs.teardown.p95)} ms`);
    }
    out.push(steps(o, 'teardown'));
    const fails = [...o.daemon.failures.map((x) => `daemon ${x}`), ...(o.shipped?.figures.failures ?? []).map((x) => `daemon at info ${x}`), ...o.floor.failures.map((x) => `floor ${x}`)];
    if (fails.length) out.push(`  failures:\n    ${fails.join('\n    ')}`);
  }
  if (r.cases?.length) {
    out.push('');
    out.push(`2b. Setup cases, daemon (log level debug) and floor (its calls back to back, today's order) in turn, ms   [load at start ${load('cases')}]`);
    const rows = [['case', 'from', 'reps', 'daemon med', 'p95', 'floor med', 'p95', 'daemon / floor', 'paired', 'failed']];
    for (const k of r.cases) {
      rows.push([k.name, k.from === 'eni-appeared' ? 'ENI appeared' : 'request', String(k.reps), f(k.daemon.median), f(k.daemon.p95), f(k.floor.median), f(k.floor.p95), f(k.ratio.median, 3), f(k.ratio.pairedMedian, 3), String(k.failures.length)]);
    }
    out.push(table(rows));
    for (const k of r.cases) {
      out.push(`  timeline of one run, ${k.name} (ms from ${k.from === 'eni-appeared' ? 'the ENI appearing; negative: before it' : 'the request'}):`);
      out.push(timeline(k.timeline.daemon, k.timeline.floor));
      for (const e of k.failures) out.push(`  failure: ${e}`);
    }
  }
  const c = r.concurrency;
  if (c?.length) {
    out.push('');
    out.push(`3. Concurrency: N tasks submitted at once, each with its own ENI   [load at start ${load('concurrency')}]`);
    const rows = [['N', 'all RUNNING ms', 'tasks/s', 'per-task med', 'p95', 'failed', 'floor ms', 'floor/s', 'all STOPPED ms', 'tasks/s', 'failed', 'floor ms', 'floor/s']];
    for (const l of c) {
      rows.push([
        String(l.n), f(l.start.ms, 0), f(l.start.tasksPerSec, 2), f(l.start.perTask.median, 0), f(l.start.perTask.p95, 0), String(l.start.failures),
        f(l.floor.start.ms, 0), f(l.floor.start.tasksPerSec, 2),
        f(l.stop.ms, 0), f(l.stop.tasksPerSec, 2), String(l.stop.failures),
        f(l.floor.stop.ms, 0), f(l.floor.stop.tasksPerSec, 2),
      ]);
    }
    out.push(table(rows));
    out.push(`  each figure is the median of ${c[0]!.trials.length} trial(s) (batches), daemon and floor picked separately; failures are of every trial`);
    out.push('  floor: the floor driver doing the same N setups (teardowns) at once, the ceiling this engine allows');
    const top = c[c.length - 1]!;
    if (top.trials.length > 1) {
      const per = (pick: (t: ConcurrencyTrial) => BatchFigures): string => top.trials.map((t) => f(pick(t).tasksPerSec, 2)).join(', ');
      out.push(`  ${top.n} at once, tasks/s by trial: daemon ${per((t) => t.start)}; floor ${per((t) => t.floor.start)}`);
    }
    const cpuMs = (pick: (t: ConcurrencyTrial) => BatchFigures, of: 'hostSec' | 'procSec'): string =>
      f(median(top.trials.map((t) => ((pick(t).cpu?.[of] ?? NaN) * 1000) / top.n)), 0);
    if (top.trials.some((t) => t.start.cpu)) {
      out.push(`  ${top.n} at once, CPU per task started (median of trials): whole host ${cpuMs((t) => t.start, 'hostSec')} ms, of it the daemon ${cpuMs((t) => t.start, 'procSec')} ms; floor batch: whole host ${cpuMs((t) => t.floor.start, 'hostSec')} ms, of it the bench (the floor driver) ${cpuMs((t) => t.floor.start, 'procSec')} ms`);
      out.push(`  ${top.n} at once, CPU per task stopped: whole host ${cpuMs((t) => t.stop, 'hostSec')} ms, of it the daemon ${cpuMs((t) => t.stop, 'procSec')} ms; floor batch ${cpuMs((t) => t.floor.stop, 'hostSec')} ms`);
    }
    for (const l of c) for (const e of [...l.start.errors, ...l.stop.errors]) out.push(`  failure: ${e}`);
    for (const l of c) for (const e of [...l.floor.start.errors, ...l.floor.stop.errors]) out.push(`  floor failure: ${e}`);
  }
  const s = r.scale;
  if (s) {
    out.push('');
    out.push(`4. Scale: ${s.n} tasks started one after another and kept running   [load at start ${load('scale')}]`);
    out.push(table([['task #', ...Object.keys(s.picks)], ['setup ms', ...Object.values(s.picks).map((v) => f(v, 0))]]));
    out.push(`  median of first 5 ${f(s.firstFiveMedian, 0)} ms, last 5 ${f(s.lastFiveMedian, 0)} ms; ratio ${f(s.ratioLastFiveToFirstFive, 2)} (task ${s.n}/task 1: ${f(s.ratioLastToFirst, 2)})`);
    out.push(`  floor setup beside them: first 5 ${f(s.floor.firstFiveMedian, 0)} ms, middle 5 ${f(s.floor.middleFiveMedian, 0)} ms, last 5 ${f(s.floor.lastFiveMedian, 0)} ms (ratio ${f(s.floor.ratioLastFiveToFirstFive, 2)}); daemon / floor: first 5 ${f(s.daemonOverFloor.firstFive, 2)}, last 5 ${f(s.daemonOverFloor.lastFive, 2)}`);
    out.push(`  daemon RSS after ${m.flags.rssSettleMs} ms idle (lowest reading in that time): idle ${f(s.rssMiB.idle)} (${f(s.rssMiB.idleMin)}) MiB, at ${s.n} tasks ${f(s.rssMiB.atN)} (${f(s.rssMiB.atNMin)}) MiB, after all stopped ${f(s.rssMiB.afterStop)} (${f(s.rssMiB.afterStopMin)}) MiB`);
    if (s.rssMiB.afterSecondRound !== undefined) {
      out.push(`  after a second round of ${s.n} (8 at a time, ${s.secondRound.failures} failed to start, ${s.secondRound.stopFailures} to stop), all stopped: ${f(s.rssMiB.afterSecondRound)} MiB, ${f(s.rssMiB.afterSecondRound - s.rssMiB.afterStop)} MiB from round 1 (one-off warm-up costs show in round 1 only; what a task leaves behind shows in both)`);
    }
    out.push(`  daemon RSS, unsettled: 2 s after task ${s.n} started ${f(s.rssMiB.atNRightAfter)} MiB; peak over the whole part ${f(s.rssMiB.peak)} MiB${s.rssMiB.peakBy ? ` (while starting ${s.n} one after another and settling ${f(s.rssMiB.peakBy.starting)}, stopping all at once and settling ${f(s.rssMiB.peakBy.stoppingAll)}, second round ${f(s.rssMiB.peakBy.secondRound)})` : ''}`);
    out.push(`  stopping all ${s.n} at once: ${f(s.stopAll.ms, 0)} ms (${f(s.stopAll.tasksPerSec, 2)}/s, ${s.stopAll.failures} failed)`);
    for (const e of [...s.failures, ...s.stopAll.errors]) out.push(`  failure: ${e}`);
  }
  const x = r.restart;
  if (x) {
    out.push('');
    out.push(`5. Restart with ${x.n} tasks RUNNING (SIGTERM, start again)   [load at start ${load('restart')}]`);
    out.push(`  started ${x.n} (8 at a time) in ${f(x.startAll.ms, 0)} ms, ${x.startAll.failures} failed; shutdown took ${x.shutdownMs} ms`);
    out.push(`  new process spawned -> /healthz 200: ${x.readyMs} ms; -> all ${x.runningAfter} confirmed RUNNING through the API: ${x.confirmedMs} ms`);
    out.push(`  daemon log, ms after spawn: ${Object.entries(x.daemonLog).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    out.push(`  containers restarted: ${x.restartedContainers.length} of ${x.containersChecked} (same id, StartedAt, RestartCount, pid)${x.restartedContainers.length ? ': ' + x.restartedContainers.join(' ') : ''}`);
    out.push(`  daemon RSS with ${x.n} tasks: before restart ${f(x.rssMiB.before)} MiB, after ${f(x.rssMiB.after)} MiB`);
  }
  const t = r.targets ?? [];
  if (t.length) {
    out.push('');
    out.push('Targets');
    out.push(table([['', 'value', 'target', ''], ...t.map((x) => [x.name, String(x.value), x.limit, x.ok ? 'ok' : 'MISSED'])]));
  }
  return out.join('\n') + '\n';
}
