// The bench's measurements, one function per part (overhead, concurrency, scale, restart). Each takes
// a BenchContext and returns plain figures (ms, MiB, counts) that main.ts prints and writes as JSON.
import path from 'node:path';
import type Docker from 'dockerode';
import { LABEL } from '../../agent/docker/container-config.js';
import { specHash } from '../../agent/task/spec-hash.js';
import { parseTaskDocument, type ValidateOptions } from '../../agent/task/validate/index.js';
import type { CniPlanOptions, PluginSet } from '../../cni/types.js';
import type { BenchDaemon } from './daemon-proc.js';
import { Floor, now, type FloorTask, type Marks } from './floor.js';
import { pool, type BenchHost } from './host.js';
import type { Eni } from '../lib/stand-in.js';
import { cpuMeter } from './cpu.js';
import { median, medianBatch, round, summarize, type BatchFigures, type Summary } from './stats.js';
import { taskArn, taskDoc } from './task-doc.js';
import { gaps, setupTimeline, teardownTimeline, type TaskIds, type Timeline } from './timeline.js';

export interface BenchContext {
  host: BenchHost;
  docker: Docker;
  pluginSet: PluginSet;
  cniPath: string;
  pauseImage: string;
  validate: ValidateOptions;
  /**
   * A new daemon with its own state/run/spool directories under the run's root. `debug` logs every Docker
   * call and plugin run (the per-step times); otherwise it logs at info, the production default.
   */
  newDaemon(name: string, logLevel: 'debug' | 'info', cli?: string): BenchDaemon;
  /** The plan options the daemon derives from its flags (the floor must use the very same). */
  planOptions(d: BenchDaemon): CniPlanOptions;
  log(s: string): void;
  taskTimeoutMs: number;
  settleMs: number;
  rssSettleMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const SETUP_STEPS = (containers: string[], plugins: string[]): string[] => [
  'eni',
  'pauseCreated',
  'pauseStarted',
  ...plugins.map((p) => `cniAdd:${p}`),
  ...containers.flatMap((c) => [`created:${c}`, `started:${c}`]),
  'running',
];

export const TEARDOWN_STEPS = (plugins: string[], ipamRelease: boolean): string[] => [
  'containersStopped',
  'containersRemoved',
  ...plugins.map((p) => `cniDel:${p}`),
  ...(ipamRelease ? ['ipamRelease'] : []),
  'pauseStopped',
  'pauseRemoved',
  'stopped',
];

// ---------- 1 + 2: overhead against the floor ----------

export interface PathFigures {
  setup: Summary;
  teardown: Summary;
  /** Every rep's total, ms, by rep number (the floor's and the daemon's of one rep ran minutes apart at most). */
  samples: { setup: Record<string, number>; teardown: Record<string, number> };
  setupSteps: Record<string, Summary>;
  teardownSteps: Record<string, Summary>;
  /** Daemon only: each step's own external-call time (Docker ms / plugin durationMs). */
  setupCallMs?: Record<string, Summary>;
  teardownCallMs?: Record<string, Summary>;
  /**
   * Daemon only: per rep, the total minus the time spent inside its Docker calls and plugin runs (as it
   * timed them): its own work (API, saves, host commands, waits), untouched by how fast the engine was.
   */
  outsideCallsMs?: { setup: Summary; teardown: Summary };
  failures: string[];
}

export interface OverheadResult {
  reps: number;
  warmup: number;
  daemon: PathFigures;
  floor: PathFigures;
  /** Ratios of medians and p95s, and the median of each rep's own daemon/floor ratio (paired). */
  ratio: { setupMedian: number; setupP95: number; teardownMedian: number; teardownP95: number; setupPairedMedian: number; teardownPairedMedian: number };
  /** Record saves per task (each is a file fsync and a directory fsync). */
  savesPerTask: { toRunning: number | undefined; toStopped: number | undefined };
  /** Daemon CPU for one task's setup and teardown, mean over the reps: its own, and its children's (plugins, mount, nsenter). */
  cpuMsPerTask: { self: number; children: number };
  /**
   * The same build at its default log level (info), paired in the same reps: the daemon as operators run it.
   * `daemon` runs at debug, the only level whose lines carry the per-step breakdown; what debug logging
   * costs shows as the gap between the two.
   */
  shipped: {
    logLevel: 'info';
    figures: PathFigures;
    ratio: OverheadResult['ratio'];
    cpuMsPerTask: { self: number; children: number };
  };
  /** A second daemon build run pairwise with the first (--compare-cli). */
  compared?: {
    cli: string;
    figures: PathFigures;
    ratio: OverheadResult['ratio'];
    savesPerTask: { toRunning: number | undefined; toStopped: number | undefined };
    cpuMsPerTask: { self: number; children: number };
  };
  acceptMs: Summary;
  stepOrder: { setup: string[]; teardown: string[] };
}

class Samples {
  total: number[] = [];
  /** rep -> total, to pair a path's reps with the floor's. */
  byRep = new Map<number, number>();
  steps = new Map<string, number[]>();
  calls = new Map<string, number[]>();
  /** Daemon only: the total minus the time inside its engine calls and plugin runs, per rep. */
  outside: number[] = [];
  add(rep: number, total: number, g: Map<string, number>, calls?: Map<string, number>): void {
    this.total.push(total);
    this.byRep.set(rep, round(total));
    if (calls?.size) this.outside.push(total - [...calls.values()].reduce((a, b) => a + b, 0));
    for (const [k, v] of g) this.steps.set(k, [...(this.steps.get(k) ?? []), v]);
    for (const [k, v] of calls ?? []) this.calls.set(k, [...(this.calls.get(k) ?? []), v]);
  }
}

const summaries = (m: Map<string, number[]>): Record<string, Summary> =>
  Object.fromEntries([...m].map(([k, v]) => [k, summarize(v)]));

async function taskIds(ctx: BenchContext, d: BenchDaemon, id: string, plugins: TaskIds['plugins']): Promise<TaskIds> {
  const t = await d.describe(id);
  const pause = await ctx.docker.getContainer(`awsvpcd-${id}-internalecspause`).inspect();
  return {
    taskId: id,
    taskArn: taskArn(id),
    pauseId: pause.Id,
    containers: t.containers.map((c) => [c.name, c.runtimeId ?? ''] as [string, string]),
    plugins,
  };
}

interface DaemonPath {
  d: BenchDaemon;
  eni: Eni;
  tag: string;
  s: { setup: Samples; teardown: Samples };
  fail: string[];
  accept: number[];
  saves: { running: number[]; stopped: number[] };
  cpu: { self: number[]; children: number[] };
}

/**
 * The floor driver beside daemon `d`: its plan (bridge, IPAM directory) and the same plugins, pause image
 * and engine; its containers carry an owner label of their own, so neither side touches the other's.
 */
export function floorBeside(ctx: BenchContext, d: BenchDaemon): Floor {
  return new Floor({
    docker: ctx.docker,
    pluginSet: ctx.pluginSet,
    plan: ctx.planOptions(d),
    cniPath: ctx.cniPath,
    pauseImage: ctx.pauseImage,
    stopTimeoutSec: 30,
    ownerLabels: { [LABEL.owner]: path.join(path.dirname(d.stateDir), 'floor') },
  });
}

/**
 * Each rep sets a task up and tears it down through the daemon and through the floor (and through a second
 * daemon build with `compareCli`), in an order that rotates per rep so drift in the machine's load falls on
 * every path alike; with a second build the two are compared pairwise in the same minutes.
 */
export async function overhead(ctx: BenchContext, reps: number, warmup: number, compareCli?: string, compareLogLevel: 'debug' | 'info' = 'debug'): Promise<OverheadResult> {
  const { host } = ctx;
  const d = ctx.newDaemon('overhead', 'debug');
  await d.start();
  const shipped = ctx.newDaemon('overhead-info', 'info');
  await shipped.start();
  const b = compareCli ? ctx.newDaemon('overhead-b', compareLogLevel, compareCli) : undefined;
  await b?.start();
  const floor = floorBeside(ctx, d);
  const enis = await host.addEnis(b ? 4 : 3);
  const floorEni = enis[0]!;
  const probe = floor.task(parseTaskDocument(JSON.stringify(taskDoc('probe', floorEni)), ctx.validate), 'x');
  const containers = probe.spec.containers.map((c) => c.name);
  const plugins = { add: probe.plan.add.map((c) => c.plugin), del: probe.plan.del.map((c) => c.plugin), ipamRelease: probe.plan.ipamRelease?.plugin };
  const setupOrder = SETUP_STEPS(containers, plugins.add);
  const teardownOrder = TEARDOWN_STEPS(plugins.del, !!plugins.ipamRelease);

  const newPath = (dp: BenchDaemon, eni: Eni, tag: string): DaemonPath => ({
    d: dp, eni, tag, s: { setup: new Samples(), teardown: new Samples() }, fail: [], accept: [], saves: { running: [], stopped: [] }, cpu: { self: [], children: [] },
  });
  const paths = [newPath(d, enis[1]!, 'd'), newPath(shipped, enis[2]!, 'i'), ...(b ? [newPath(b, enis[3]!, 'b')] : [])];
  const fs = { setup: new Samples(), teardown: new Samples() };
  const fFail: string[] = [];

  const daemonRep = async (p: DaemonPath, i: number, record: boolean): Promise<void> => {
    const id = `${host.prefix}${p.tag}${i}`;
    const arn = taskArn(id);
    host.checkAborted();
    const cpu0 = await p.d.cpuMs();
    const sub = await p.d.submitTimed(taskDoc(id, p.eni));
    const up = await p.d.waitFor(arn, 'RUNNING', ctx.taskTimeoutMs, sub.sentAt);
    if (up.status !== 'RUNNING') {
      p.fail.push(`${id}: ${up.status} ${up.reason ?? ''}`);
      await p.d.stopTask(id).catch(() => undefined);
      await p.d.waitFor(arn, 'STOPPED', ctx.taskTimeoutMs);
      return;
    }
    const ids = await taskIds(ctx, p.d, id, plugins);
    const savedUp = await p.d.saves(id);
    await sleep(ctx.settleMs);
    const stop = await p.d.stopTask(id);
    const down = await p.d.waitFor(arn, 'STOPPED', ctx.taskTimeoutMs, stop.sentAt);
    const t = await p.d.describe(id);
    if (down.status !== 'STOPPED' || t.cleanupErrors?.length) p.fail.push(`${id}: teardown ${down.status} ${t.cleanupErrors?.join('; ') ?? ''}`);
    const cpu1 = await p.d.cpuMs();
    if (!record) return;
    p.cpu.self.push(cpu1.self - cpu0.self);
    p.cpu.children.push(cpu1.children - cpu0.children);
    p.accept.push(sub.acceptedAt - sub.sentAt);
    const su: Timeline = setupTimeline(p.d.lines, ids, sub.sentAt, up.t);
    p.s.setup.add(i, up.t - sub.sentAt, gaps(su.marks, setupOrder, sub.sentAt), su.callMs);
    const td: Timeline = teardownTimeline(p.d.lines, ids, stop.sentAt, down.t);
    p.s.teardown.add(i, down.t - stop.sentAt, gaps(td.marks, teardownOrder, stop.sentAt), td.callMs);
    if (savedUp !== undefined) p.saves.running.push(savedUp);
    const savedDown = await p.d.saves(id);
    if (savedDown !== undefined) p.saves.stopped.push(savedDown);
    p.d.clearLines();
  };

  const floorRep = async (i: number, record: boolean): Promise<void> => {
    const id = `${host.prefix}f${i}`;
    host.checkAborted();
    const spec = parseTaskDocument(JSON.stringify(taskDoc(id, floorEni)), ctx.validate);
    const t = floor.task(spec, specHash(spec));
    let m: Marks;
    let t0 = now();
    try {
      m = await floor.setup(t);
    } catch (err) {
      fFail.push(`${id}: setup ${(err as Error).message}`);
      await floor.teardown(t).catch(() => undefined);
      return;
    }
    const setupMs = m.get('running')! - t0;
    const setupGaps = gaps(m, setupOrder, t0);
    await sleep(ctx.settleMs);
    t0 = now();
    let tm: Marks;
    try {
      tm = await floor.teardown(t);
    } catch (err) {
      fFail.push(`${id}: teardown ${(err as Error).message}`);
      return;
    }
    if (!record) return;
    fs.setup.add(i, setupMs, setupGaps);
    fs.teardown.add(i, tm.get('stopped')! - t0, gaps(tm, teardownOrder, t0));
  };

  const runs: Array<(i: number, record: boolean) => Promise<void>> = [floorRep, ...paths.map((p) => (i: number, r: boolean) => daemonRep(p, i, r))];
  for (let i = 0; i < warmup + reps; i++) {
    const record = i >= warmup;
    for (let k = 0; k < runs.length; k++) {
      await runs[(i + k) % runs.length]!(i, record);
      await sleep(ctx.settleMs);
    }
    if (record) {
      const name = { d: 'daemon', i: 'at info', b: 'compared build' } as Record<string, string>;
      const last = paths.map((p) => `${name[p.tag]} ${p.s.setup.total.at(-1)?.toFixed(0)} ms`).join(', ');
      ctx.log(`  rep ${i - warmup + 1}/${reps}: ${last}, floor ${fs.setup.total.at(-1)?.toFixed(0)} ms`);
    }
  }
  floor.close();
  await d.stop();
  await shipped.stop();
  await b?.stop();
  await host.delEnis(enis);

  const fig = (s: { setup: Samples; teardown: Samples }, failures: string[], calls: boolean): PathFigures => ({
    setup: summarize(s.setup.total),
    teardown: summarize(s.teardown.total),
    samples: { setup: Object.fromEntries(s.setup.byRep), teardown: Object.fromEntries(s.teardown.byRep) },
    setupSteps: summaries(s.setup.steps),
    teardownSteps: summaries(s.teardown.steps),
    ...(calls ? { setupCallMs: summaries(s.setup.calls), teardownCallMs: summaries(s.teardown.calls) } : {}),
    ...(calls && s.setup.outside.length ? { outsideCallsMs: { setup: summarize(s.setup.outside), teardown: summarize(s.teardown.outside) } } : {}),
    failures,
  });
  const fl = fig(fs, fFail, false);
  // Each rep's daemon time over the same rep's floor time: drift in the machine's load over the run cancels.
  const paired = (a: Samples, f: Samples): number =>
    round(median([...a.byRep].filter(([r]) => f.byRep.has(r)).map(([r, v]) => v / f.byRep.get(r)!)), 3);
  const ratio = (x: PathFigures, s: { setup: Samples; teardown: Samples }): OverheadResult['ratio'] => ({
    setupMedian: round(x.setup.median / fl.setup.median, 3),
    setupP95: round(x.setup.p95 / fl.setup.p95, 3),
    teardownMedian: round(x.teardown.median / fl.teardown.median, 3),
    teardownP95: round(x.teardown.p95 / fl.teardown.p95, 3),
    setupPairedMedian: paired(s.setup, fs.setup),
    teardownPairedMedian: paired(s.teardown, fs.teardown),
  });
  const daemon = fig(paths[0]!.s, paths[0]!.fail, true);
  const pi = paths[1]!;
  // Info lines carry the milestones but not the per-call times: totals and milestone steps only.
  const shippedFig = fig(pi.s, pi.fail, false);
  const pb = paths[2];
  const compared = pb ? fig(pb.s, pb.fail, true) : undefined;
  return {
    reps,
    warmup,
    daemon,
    floor: fl,
    ratio: ratio(daemon, paths[0]!.s),
    shipped: { logLevel: 'info', figures: shippedFig, ratio: ratio(shippedFig, pi.s), cpuMsPerTask: cpuOf(pi) },
    ...(compared ? { compared: { cli: compareCli!, figures: compared, ratio: ratio(compared, pb!.s), savesPerTask: savesOf(pb!), cpuMsPerTask: cpuOf(pb!) } } : {}),
    savesPerTask: savesOf(paths[0]!),
    cpuMsPerTask: cpuOf(paths[0]!),
    acceptMs: summarize(paths[0]!.accept),
    stepOrder: { setup: setupOrder, teardown: teardownOrder },
  };
}

function savesOf(p: DaemonPath): { toRunning: number | undefined; toStopped: number | undefined } {
  return { toRunning: summarize(p.saves.running).median, toStopped: summarize(p.saves.stopped).median };
}

/** Means: the counters tick in 10 ms steps, so the mean over the reps says more than any one reading. */
function cpuOf(p: DaemonPath): { self: number; children: number } {
  const mean = (a: number[]): number => round(a.reduce((x, y) => x + y, 0) / a.length, 0);
  return { self: mean(p.cpu.self), children: mean(p.cpu.children) };
}

// ---------- 3: concurrency ----------

export interface ConcurrencyTrial {
  start: BatchFigures;
  stop: BatchFigures;
  /** The floor driver doing the same N at once, right after the daemon in the same trial. */
  floor: { start: BatchFigures; stop: BatchFigures };
}

/**
 * One level, over several trials: one batch of N at once swings by a quarter from run to run on a small
 * host (the engine is the ceiling, and the kernel is still freeing the namespaces of the batch before), so
 * each figure is the median trial's, picked separately for the daemon's starts, its stops and the floor's;
 * failures and errors are those of every trial.
 */
export interface ConcurrencyLevel extends ConcurrencyTrial {
  n: number;
  trials: ConcurrencyTrial[];
}

async function startBatch(ctx: BenchContext, d: BenchDaemon, ids: string[], enis: Eni[], limit = ids.length): Promise<BatchFigures> {
  const cpu = await cpuMeter(d.pid);
  const t0 = Date.now();
  const errors: string[] = [];
  const outs = await pool(ids, limit, async (id, i) => {
    try {
      const sub = await d.submitTimed(taskDoc(id, enis[i]!));
      const o = await d.waitFor(taskArn(id), 'RUNNING', ctx.taskTimeoutMs, sub.sentAt);
      if (o.status !== 'RUNNING') errors.push(`${id}: ${o.status} ${o.reason ?? ''}`);
      return { ok: o.status === 'RUNNING', t: o.t, ms: o.t - sub.sentAt };
    } catch (err) {
      errors.push(`${id}: ${(err as Error).message}`);
      return { ok: false, t: Date.now(), ms: NaN };
    }
  });
  return { ...batch(t0, outs, errors), cpu: await cpu() };
}

async function stopBatch(ctx: BenchContext, d: BenchDaemon, ids: string[]): Promise<BatchFigures> {
  const cpu = await cpuMeter(d.pid);
  const t0 = Date.now();
  const errors: string[] = [];
  const outs = await Promise.all(
    ids.map(async (id) => {
      try {
        const s = await d.stopTask(id);
        const o = await d.waitFor(taskArn(id), 'STOPPED', ctx.taskTimeoutMs, s.sentAt);
        const t = await d.describe(id);
        const ok = o.status === 'STOPPED' && !t.cleanupErrors?.length;
        if (!ok) errors.push(`${id}: ${o.status} ${t.cleanupErrors?.join('; ') ?? ''}`);
        return { ok, t: o.t, ms: o.t - s.sentAt };
      } catch (err) {
        errors.push(`${id}: ${(err as Error).message}`);
        return { ok: false, t: Date.now(), ms: NaN };
      }
    }),
  );
  return { ...batch(t0, outs, errors), cpu: await cpu() };
}

function batch(t0: number, outs: Array<{ ok: boolean; t: number; ms: number }>, errors: string[]): BatchFigures {
  const ok = outs.filter((o) => o.ok);
  const ms = ok.length ? Math.max(...ok.map((o) => o.t)) - t0 : NaN;
  return {
    ms,
    tasksPerSec: round((ok.length / ms) * 1000, 2),
    failures: outs.length - ok.length,
    perTask: summarize(ok.map((o) => o.ms)),
    errors,
  };
}

/**
 * N floor setups at once, then N teardowns at once: what the engine and the plugins manage on this machine
 * with nothing in between, the ceiling for the daemon's throughput at the same N.
 */
async function floorBatch(ctx: BenchContext, floor: Floor, ids: string[], enis: Eni[]): Promise<{ start: BatchFigures; stop: BatchFigures }> {
  const tasks = ids.map((id, i) => {
    const spec = parseTaskDocument(JSON.stringify(taskDoc(id, enis[i]!)), ctx.validate);
    return floor.task(spec, specHash(spec));
  });
  const run = async (fn: (t: FloorTask) => Promise<Marks>, last: string): Promise<BatchFigures> => {
    const errors: string[] = [];
    const cpu = await cpuMeter(process.pid);
    const t0 = now();
    const outs = await Promise.all(
      tasks.map(async (t) => {
        const s = now();
        try {
          const m = await fn(t);
          return { ok: true, t: m.get(last)!, ms: m.get(last)! - s };
        } catch (err) {
          errors.push(`${t.spec.taskId}: ${(err as Error).message}`);
          return { ok: false, t: now(), ms: NaN };
        }
      }),
    );
    return { ...batch(t0, outs, errors), cpu: await cpu() };
  };
  const start = await run((t) => floor.setup(t), 'running');
  await sleep(ctx.settleMs);
  const stop = await run((t) => floor.teardown(t), 'stopped');
  return { start, stop };
}

export async function concurrency(ctx: BenchContext, levels: number[], trials: number): Promise<ConcurrencyLevel[]> {
  const d = ctx.newDaemon('concurrency', 'info');
  await d.start();
  const floor = floorBeside(ctx, d);
  const out: ConcurrencyLevel[] = [];
  for (const n of levels) {
    const enis = await ctx.host.addEnis(n);
    const runs: ConcurrencyTrial[] = [];
    for (let k = 0; k < trials; k++) {
      const ids = enis.map((_, i) => `${ctx.host.prefix}c${n}t${k}x${i}`);
      await sleep(ctx.settleMs);
      const start = await startBatch(ctx, d, ids, enis);
      await sleep(ctx.settleMs);
      const stop = await stopBatch(ctx, d, ids);
      d.clearLines();
      await sleep(ctx.settleMs);
      // The same ENIs, back on the host after the daemon's DEL.
      const fl = await floorBatch(ctx, floor, enis.map((_, i) => `${ctx.host.prefix}c${n}t${k}f${i}`), enis);
      ctx.log(`  ${n} at once, trial ${k + 1}/${trials}: all RUNNING in ${start.ms} ms (${start.tasksPerSec}/s, ${start.failures} failed; floor ${fl.start.ms.toFixed(0)} ms), all STOPPED in ${stop.ms} ms (${stop.failures} failed; floor ${fl.stop.ms.toFixed(0)} ms)`);
      runs.push({ start, stop, floor: fl });
    }
    out.push({
      n,
      start: medianBatch(runs.map((r) => r.start)),
      stop: medianBatch(runs.map((r) => r.stop)),
      floor: { start: medianBatch(runs.map((r) => r.floor.start)), stop: medianBatch(runs.map((r) => r.floor.stop)) },
      trials: runs,
    });
    await ctx.host.delEnis(enis);
  }
  floor.close();
  await d.stop();
  return out;
}

// ---------- 4: scale ----------

export interface ScaleResult {
  n: number;
  setupMs: number[];
  picks: Record<string, number>;
  /** Floor setups at the first, middle and last five tasks (the engine's own creep), ms. */
  floor: { atTask: Record<string, number>; firstFiveMedian: number; middleFiveMedian: number; lastFiveMedian: number; ratioLastFiveToFirstFive: number };
  /** Daemon median / floor median at the first five and the last five. */
  daemonOverFloor: { firstFive: number; lastFive: number };
  /** Medians of the first and last five, which one slow start cannot sway. */
  firstFiveMedian: number;
  lastFiveMedian: number;
  ratioLastToFirst: number;
  ratioLastFiveToFirstFive: number;
  failures: string[];
  /**
   * Settled readings: the last of one reading a second over rssSettleMs of idle (`*Min`: the lowest of them);
   * `atNRightAfter` 2 s after the last start; `peak` sampled every 250 ms over the whole part, and split:
   * while the N start one after another, while all N stop at once, and over the second round.
   */
  rssMiB: { idle: number; atN: number; afterStop: number; idleMin: number; atNMin: number; afterStopMin: number; atNRightAfter: number; peak: number; afterSecondRound: number;
    peakBy: { starting: number; stoppingAll: number; secondRound: number } };
  /**
   * A second round of the same N tasks (8 at a time), all stopped again. The first round's RSS above idle
   * includes one-off costs (code V8 compiles for the paths a task takes, heap pages it keeps); a daemon that
   * leaves something behind per task grows again from round 1 to round 2, one that does not stays level.
   */
  secondRound: { failures: number; stopFailures: number };
  stopAll: BatchFigures;
}

/**
 * RSS once a second over `ms` of idle: V8 keeps a grown young generation until its memory reducer runs,
 * some 10-30 s after a burst of work, so one reading right after a burst shows the burst.
 */
async function settledRss(d: BenchDaemon, ms: number): Promise<{ end: number; min: number }> {
  let min = Infinity;
  let end = NaN;
  for (let waited = 0; ; waited += 1000) {
    end = await d.rssMiB();
    min = Math.min(min, end);
    if (waited >= ms) return { end, min };
    await sleep(1000);
  }
}

export async function scale(ctx: BenchContext, n: number): Promise<ScaleResult> {
  const d = ctx.newDaemon('scale', 'info');
  await d.start();
  const idle = await settledRss(d, ctx.rssSettleMs);
  let peak = idle.end;
  const peakBy = { starting: 0, stoppingAll: 0, secondRound: 0 };
  let stage: keyof typeof peakBy = 'starting';
  const sampler = setInterval(() => void d.rssMiB().then((v) => {
    peak = Math.max(peak, v);
    peakBy[stage] = Math.max(peakBy[stage], v);
  }, () => undefined), 250);
  const setupMs: number[] = [];
  const failures: string[] = [];
  const ids: string[] = [];
  const enis: Eni[] = [];
  // At the first five, middle five and last five tasks a floor setup runs too: if the engine itself slows
  // as containers pile up, the floor shows it, and the daemon's creep is told apart from the engine's.
  const floor = floorBeside(ctx, d);
  const floorEni = await ctx.host.addEni();
  const mid = Math.floor(n / 2);
  const checkpoints = new Set([0, 1, 2, 3, 4, mid - 2, mid - 1, mid, mid + 1, mid + 2, n - 5, n - 4, n - 3, n - 2, n - 1].filter((k) => k >= 0 && k < n));
  const floorMs = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const eni = await ctx.host.addEni();
    enis.push(eni);
    const id = `${ctx.host.prefix}s${i}`;
    ids.push(id);
    const sub = await d.submitTimed(taskDoc(id, eni));
    const o = await d.waitFor(taskArn(id), 'RUNNING', ctx.taskTimeoutMs, sub.sentAt);
    if (o.status !== 'RUNNING') failures.push(`${id}: ${o.status} ${o.reason ?? ''}`);
    setupMs.push(o.t - sub.sentAt);
    if ((i + 1) % 10 === 0) ctx.log(`  ${i + 1}/${n} running; last setup ${setupMs.at(-1)} ms`);
    d.clearLines();
    if (checkpoints.has(i)) {
      await sleep(ctx.settleMs);
      const spec = parseTaskDocument(JSON.stringify(taskDoc(`${ctx.host.prefix}sf${i}`, floorEni)), ctx.validate);
      const t = floor.task(spec, specHash(spec));
      const t0 = now();
      try {
        const m = await floor.setup(t);
        floorMs.set(i, round(m.get('running')! - t0));
      } catch (err) {
        failures.push(`floor at ${i + 1}: ${(err as Error).message}`);
      }
      await floor.teardown(t).catch((err: Error) => failures.push(`floor teardown at ${i + 1}: ${err.message}`));
      await sleep(ctx.settleMs);
    }
  }
  floor.close();
  await sleep(2000);
  const atNRightAfter = await d.rssMiB();
  const atN = await settledRss(d, ctx.rssSettleMs);
  stage = 'stoppingAll';
  const stopAll = await stopBatch(ctx, d, ids);
  d.clearLines();
  const afterStop = await settledRss(d, ctx.rssSettleMs);
  stage = 'secondRound';
  ctx.log(`  second round: ${n} tasks again, 8 at a time, then all stopped`);
  const ids2 = ids.map((id) => `${id}r`);
  const round2 = await startBatch(ctx, d, ids2, enis, 8);
  const stop2 = await stopBatch(ctx, d, ids2);
  failures.push(...round2.errors.map((e) => `second round: ${e}`), ...stop2.errors.map((e) => `second round stop: ${e}`));
  d.clearLines();
  const afterSecondRound = await settledRss(d, ctx.rssSettleMs);
  clearInterval(sampler);
  await d.stop();
  await ctx.host.delEnis([...enis, floorEni]);
  const pickAt = [1, 2, 10, 25, 50, 75, n].filter((k, i, a) => k <= n && a.indexOf(k) === i);
  const first5 = summarize(setupMs.slice(0, 5)).median;
  const last5 = summarize(setupMs.slice(-5)).median;
  const floorOf = (from: number, to: number): number =>
    summarize([...floorMs].filter(([k]) => k >= from && k < to).map(([, v]) => v)).median;
  const floorFirst5 = floorOf(0, 5);
  const floorLast5 = floorOf(n - 5, n);
  return {
    n,
    setupMs,
    floor: {
      atTask: Object.fromEntries([...floorMs].map(([k, v]) => [String(k + 1), v])),
      firstFiveMedian: floorFirst5,
      middleFiveMedian: floorOf(mid - 2, mid + 3),
      lastFiveMedian: floorLast5,
      ratioLastFiveToFirstFive: round(floorLast5 / floorFirst5, 3),
    },
    daemonOverFloor: { firstFive: round(first5 / floorFirst5, 3), lastFive: round(last5 / floorLast5, 3) },
    picks: Object.fromEntries(pickAt.map((k) => [String(k), setupMs[k - 1]!])),
    firstFiveMedian: first5,
    lastFiveMedian: last5,
    ratioLastToFirst: round(setupMs[n - 1]! / setupMs[0]!, 3),
    ratioLastFiveToFirstFive: round(last5 / first5, 3),
    failures,
    rssMiB: {
      idle: idle.end,
      atN: atN.end,
      afterStop: afterStop.end,
      idleMin: idle.min,
      atNMin: atN.min,
      afterStopMin: afterStop.min,
      atNRightAfter,
      peak,
      peakBy,
      afterSecondRound: afterSecondRound.end,
    },
    secondRound: { failures: round2.failures, stopFailures: stop2.failures },
    stopAll,
  };
}

// ---------- 5: restart ----------

export interface RestartResult {
  n: number;
  startAll: BatchFigures;
  shutdownMs: number;
  /** From the new process's spawn. */
  readyMs: number;
  confirmedMs: number;
  runningAfter: number;
  /** Spawn -> the daemon's own log milestones. */
  daemonLog: Record<string, number>;
  restartedContainers: string[];
  containersChecked: number;
  rssMiB: { before: number; after: number };
}

interface Snap {
  id: string;
  startedAt: string;
  restartCount: number;
  pid: number;
}

async function snapshot(docker: Docker, ids: string[]): Promise<Snap[]> {
  const names = ids.flatMap((id) => [`awsvpcd-${id}-internalecspause`, `awsvpcd-${id}-app`, `awsvpcd-${id}-sidecar`]);
  return pool(names, 8, async (name) => {
    const i = await docker.getContainer(name).inspect();
    return { id: i.Id, startedAt: i.State.StartedAt, restartCount: i.RestartCount, pid: i.State.Pid };
  });
}

export async function restart(ctx: BenchContext, n: number): Promise<RestartResult> {
  const d = ctx.newDaemon('restart', 'info');
  await d.start();
  const enis = await ctx.host.addEnis(n);
  const ids = enis.map((_, i) => `${ctx.host.prefix}r${i}`);
  const startAll = await startBatch(ctx, d, ids, enis, 8);
  ctx.log(`  ${n - startAll.failures}/${n} RUNNING; restarting the daemon`);
  const before = await snapshot(ctx.docker, ids);
  await sleep(2000);
  const rssBefore = await d.rssMiB();
  const shutdownMs = await d.stop();
  d.clearLines();
  const { spawnedAt, readyAt } = await d.start();
  const tasks = await d.list();
  const confirmedAt = Date.now();
  const mine = new Set(ids.map(taskArn));
  const runningAfter = tasks.filter((t) => mine.has(t.taskArn) && t.lastStatus === 'RUNNING').length;
  const after = new Map((await snapshot(ctx.docker, ids)).map((s) => [s.id, s]));
  const restartedContainers = before
    .filter((b) => {
      const a = after.get(b.id);
      return !a || a.startedAt !== b.startedAt || a.restartCount !== b.restartCount || a.pid !== b.pid;
    })
    .map((b) => b.id.slice(0, 12));
  const marks: Record<string, number> = {};
  const first = d.lines[0];
  if (first) marks.firstLogLine = first.t - spawnedAt;
  for (const msg of ['state loaded', 'API listening', 'first reconciliation done; ready']) {
    const l = d.lines.find((x) => x.msg === msg);
    if (l) marks[msg] = l.t - spawnedAt;
  }
  await sleep(2000);
  const rssAfter = await d.rssMiB();
  await stopBatch(ctx, d, ids);
  await d.stop();
  await ctx.host.delEnis(enis);
  return {
    n,
    startAll,
    shutdownMs,
    readyMs: readyAt - spawnedAt,
    confirmedMs: confirmedAt - spawnedAt,
    runningAfter,
    daemonLog: marks,
    restartedContainers,
    containersChecked: before.length,
    rssMiB: { before: rssBefore, after: rssAfter },
  };
}
