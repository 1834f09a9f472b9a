// The setup cases of issue 16, each against the same floor in the same run: the two-container task (the
// sidecar dependsOn app START), `independent` (app + two sidecars, no dependsOn), and `late-eni` (the
// two-container task whose stand-in ENI appears 2 s after the daemon accepted it: what an EC2 attach
// looks like; timed from the ENI's appearance to RUNNING, for the daemon and for the floor, whose driver
// starts with the same ENI wait and then issues its calls back to back). For one run of each case, where
// each step started and ended (a timeline), for the daemon and the floor.
import { readFile } from 'node:fs/promises';
import { specHash } from '../../agent/task/spec-hash.js';
import { parseTaskDocument } from '../../agent/task/validate/index.js';
import type { BenchDaemon } from './daemon-proc.js';
import { now, type Marks } from './floor.js';
import { floorBeside, type BenchContext } from './phases.js';
import { round, summarize, type Summary } from './stats.js';
import { taskArn, taskDoc, type TaskShape } from './task-doc.js';
import type { Eni } from '../lib/stand-in.js';

export const CASES = ['two-container', 'independent', 'late-eni'] as const;
export type CaseName = (typeof CASES)[number];

/** How long after the task is accepted the late ENI appears. */
export const LATE_ENI_MS = 2_000;

/** One step of a timeline: ms from the case's zero (the request, or the late ENI's appearance). Negative: before it. */
export interface Span {
  step: string;
  startMs: number;
  endMs: number;
}

export interface CaseResult {
  name: CaseName;
  /** What the times are measured from. */
  from: 'request' | 'eni-appeared';
  reps: number;
  daemon: Summary;
  floor: Summary;
  /** Median over median, and the median of each rep's own daemon/floor ratio. */
  ratio: { median: number; pairedMedian: number };
  failures: string[];
  /** The last rep's steps, daemon (from its 'setup step' log lines) and floor (its calls, one after another). */
  timeline: { daemon: Span[]; floor: Span[] };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const shapeOf = (c: CaseName): TaskShape => (c === 'independent' ? 'independent' : 'two-container');

/** The daemon's setup steps for one task, read from its log file (debug 'setup step' lines: the step and how long it ran). */
async function daemonSpans(d: BenchDaemon, arn: string, zero: number): Promise<Span[]> {
  const text = await readFile(d.logFile, 'utf8');
  const out: Span[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.includes('"setup step"') || !raw.includes(arn)) continue;
    const j = JSON.parse(raw) as { time: string | number; step: string; ms: number; taskArn?: string };
    if (j.taskArn !== arn) continue;
    const end = typeof j.time === 'number' ? j.time : Date.parse(j.time);
    out.push({ step: j.step, startMs: round(end - j.ms - zero), endMs: round(end - zero) });
  }
  return out.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
}

/** The floor's calls run one after another: each step starts where the one before it ended. */
function floorSpans(m: Marks, started: number, zero: number): Span[] {
  const out: Span[] = [];
  let prev = started;
  for (const [step, t] of m) {
    if (step === 'running') continue;
    out.push({ step, startMs: round(prev - zero), endMs: round(t - zero) });
    prev = t;
  }
  return out;
}

export async function setupCases(ctx: BenchContext, reps: number, which: readonly CaseName[] = CASES): Promise<CaseResult[]> {
  const d = ctx.newDaemon('cases', 'debug');
  await d.start();
  const floor = floorBeside(ctx, d);
  const out: CaseResult[] = [];
  try {
    for (const name of which) {
      const late = name === 'late-eni';
      const dMs: number[] = [];
      const fMs: number[] = [];
      const paired: number[] = [];
      const failures: string[] = [];
      let timeline: CaseResult['timeline'] = { daemon: [], floor: [] };
      // The ENIs: for a late one, a fresh one each run, put on the host 2 s in; otherwise one per side, reused.
      const standing = late ? [] : await ctx.host.addEnis(2);
      for (let i = 0; i < reps; i++) {
        ctx.host.checkAborted();
        // The daemon's run.
        const dEni: Eni = late ? ctx.host.reserveEni() : standing[0]!;
        const id = `${ctx.host.prefix}k${name[0]}${i}`;
        const arn = taskArn(id);
        let dTotal = NaN;
        let dZero = 0;
        try {
          const sub = await d.submitTimed(taskDoc(id, dEni, shapeOf(name)));
          dZero = sub.sentAt;
          if (late) {
            await sleep(Math.max(0, sub.acceptedAt + LATE_ENI_MS - Date.now()));
            await ctx.host.plugEni(dEni);
            dZero = Date.now();
          }
          const up = await d.waitFor(arn, 'RUNNING', ctx.taskTimeoutMs, sub.sentAt);
          if (up.status !== 'RUNNING') failures.push(`daemon ${id}: ${up.status} ${up.reason ?? ''}`);
          else dTotal = up.t - dZero;
          await d.stopTask(id).catch(() => undefined);
          const down = await d.waitFor(arn, 'STOPPED', ctx.taskTimeoutMs);
          // Read once the task has stopped: the log file is written behind the lines the bench reads live.
          if (i === reps - 1) timeline.daemon = await daemonSpans(d, arn, dZero);
          const t = await d.describe(id);
          if (down.status !== 'STOPPED' || t.cleanupErrors?.length) failures.push(`daemon ${id}: teardown ${down.status} ${t.cleanupErrors?.join('; ') ?? ''}`);
        } catch (err) {
          failures.push(`daemon ${id}: ${(err as Error).message}`);
        }
        d.clearLines();
        if (late) await ctx.host.delEnis([dEni]);
        await sleep(ctx.settleMs);

        // The floor's run, on its own ENI.
        const fEni: Eni = late ? ctx.host.reserveEni() : standing[1]!;
        const fid = `${ctx.host.prefix}kf${name[0]}${i}`;
        const spec = parseTaskDocument(JSON.stringify(taskDoc(fid, fEni, shapeOf(name))), ctx.validate);
        const ft = floor.task(spec, specHash(spec));
        let fTotal = NaN;
        try {
          const started = now();
          const setup = floor.setup(ft, { waitEniMs: late ? LATE_ENI_MS + 30_000 : 0 });
          let fZero = started;
          if (late) {
            await sleep(LATE_ENI_MS);
            await ctx.host.plugEni(fEni);
            fZero = now();
          }
          const m = await setup;
          fTotal = m.get('running')! - fZero;
          if (i === reps - 1) timeline.floor = floorSpans(m, started, fZero);
        } catch (err) {
          failures.push(`floor ${fid}: ${(err as Error).message}`);
        }
        await sleep(ctx.settleMs);
        await floor.teardown(ft).catch((err: Error) => failures.push(`floor ${fid}: teardown ${err.message}`));
        if (late) await ctx.host.delEnis([fEni]);
        await sleep(ctx.settleMs);

        if (!Number.isNaN(dTotal)) dMs.push(dTotal);
        if (!Number.isNaN(fTotal)) fMs.push(fTotal);
        if (!Number.isNaN(dTotal) && !Number.isNaN(fTotal)) paired.push(dTotal / fTotal);
        ctx.log(`  ${name} rep ${i + 1}/${reps}: daemon ${dTotal.toFixed(0)} ms, floor ${fTotal.toFixed(0)} ms${late ? ' (from the ENI appearing)' : ''}`);
      }
      if (standing.length) await ctx.host.delEnis(standing);
      const ds = summarize(dMs);
      const fs = summarize(fMs);
      out.push({
        name,
        from: late ? 'eni-appeared' : 'request',
        reps,
        daemon: ds,
        floor: fs,
        ratio: { median: round(ds.median / fs.median, 3), pairedMedian: round(summarize(paired).median, 3) },
        failures,
        timeline,
      });
      timeline = { daemon: [], floor: [] };
    }
  } finally {
    floor.close();
    await d.stop();
  }
  return out;
}
