// The soak's verdict: zero leftovers in every count, no task failed or lost outside an engine restart,
// and fds and RSS within 10% from the middle to the end.
import { render, verdict, type Checkpoint, type Summary } from '../../scripts/lib/soak-report.js';

const zero = { containers: 0, veths: 0, pinnedNamespaces: 0, ipamEntries: 0, stateRecords: 0, enisNotOnHost: 0 };

function cp(label: Checkpoint['label'], rssMiB: number, fds: number, counts = zero): Checkpoint {
  return { label, atSec: 1, pid: 10, rssMiB, fds, tasksDone: 0, tasksSinceDaemonStart: 0, counts, tasksKnown: 0, tasksWithCleanupErrors: 0, tasksNotStopped: 0, engineLostShims: 0 };
}

function summary(checkpoints: Checkpoint[], failed = 0): Omit<Summary, 'verdict'> {
  return {
    meta: {
      date: '', prefix: 's000000', seed: 1, tasks: 10, tasksAsked: 10, concurrency: 2, kills: 1, engineRestarts: 2, containersPerTask: 1,
      holdMs: 0, settleMs: 0, cpus: 2, load: { start: [0, 0, 0], end: [0, 0, 0] }, daemonCli: '', notes: [],
    },
    durationSec: 1,
    checkpoints,
    kills: [],
    engineRestarts: [],
    outcomes: {
      submitted: 10, stoppedOnRequest: 10 - failed, engineStopped: { afterRunning: 0, beforeRunning: 0 }, failed, lost: 0, reachedRunning: 10,
      engineReasons: {}, failureReasons: failed ? { 'Essential container in task exited': failed } : {},
    },
    samples: [],
    enisNotReturned: [],
  };
}

test('zero leftovers and flat figures pass, with the growth given', () => {
  const v = verdict(summary([cp('start', 60, 24), cp('middle', 80, 25), cp('end', 87.9, 27)]));
  expect(v).toEqual({ pass: true, problems: [], fdGrowthPct: 8, rssGrowthPct: 9.9 });
});

test('any leftover count fails and is named', () => {
  const v = verdict(summary([cp('middle', 80, 25), cp('end', 80, 25, { ...zero, ipamEntries: 2, veths: 1 })]));
  expect(v.pass).toBe(false);
  expect(v.problems).toEqual(['leftover veths: 1', 'leftover ipamEntries: 2']);
});

test('a task the daemon still runs at the middle, when the driver holds none, fails the run', () => {
  const v = verdict(summary([{ ...cp('middle', 80, 25), tasksKnown: 2, tasksNotStopped: 2 }, cp('end', 80, 25)]));
  expect(v.pass).toBe(false);
  expect(v.problems).toEqual(['tasks not STOPPED at the middle, with none in flight: 2']);
  // STOPPED tasks still listed at the middle (their records not yet forgotten) are not a problem by themselves.
  expect(verdict(summary([{ ...cp('middle', 80, 25), tasksKnown: 3 }, cp('end', 80, 25)])).pass).toBe(true);
});

test('more than 10% growth of fds or RSS from the middle to the end fails', () => {
  const v = verdict(summary([cp('middle', 80, 20), cp('end', 88.1, 23)]));
  expect(v.pass).toBe(false);
  expect(v.problems).toEqual([
    'open fds grew 15% from the middle to the end (20 -> 23; limit 10%)',
    'RSS grew 10.1% from the middle to the end (80 -> 88.1 MiB; limit 10%)',
  ]);
});

test('a failed task fails the run; without a middle there is no growth check', () => {
  const s = summary([cp('start', 60, 24), cp('end', 200, 90)], 1);
  const v = verdict(s);
  expect(v).toEqual({ pass: false, problems: ['1 tasks failed outside an engine restart'], fdGrowthPct: undefined, rssGrowthPct: undefined });
  expect(render({ ...s, verdict: v })).toMatch(/verdict: FAIL\n {2}- 1 tasks failed outside an engine restart/);
});
