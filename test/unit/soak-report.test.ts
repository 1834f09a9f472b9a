// The soak's verdict: zero leftovers in every count, no task failed or lost outside an engine restart,
// and fds, V8 old space and (with 1000 tasks or more between the readings) RSS within 10% from the middle
// to the end.
import { engineHeld, render, verdict, type Checkpoint, type Summary } from '../../scripts/lib/soak-report.js';

const zero = { containers: 0, veths: 0, pinnedNamespaces: 0, ipamEntries: 0, stateRecords: 0, enisNotOnHost: 0 };

function cp(label: Checkpoint['label'], rssMiB: number, fds: number, counts = zero, over: Partial<Checkpoint> = {}): Checkpoint {
  const tasksDone = { start: 0, middle: 1000, end: 2000 }[label];
  return {
    label, atSec: 1, pid: 10, rssMiB, fds, tasksDone, tasksSinceDaemonStart: 0, counts, tasksKnown: 0, tasksWithCleanupErrors: 0, tasksNotStopped: 0, engineLostShims: 0,
    heapTotalMiB: 20, heapUsedMiB: 16, oldSpaceUsedMiB: 12.5, externalMiB: 2.5, ...over,
  };
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
  expect(v).toEqual({ pass: true, problems: [], fdGrowthPct: 8, rssGrowthPct: 9.9, heapGrowthPct: 0, rssJudged: true });
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
  expect(v).toEqual({ pass: false, problems: ['1 tasks failed outside an engine restart'], fdGrowthPct: undefined, rssGrowthPct: undefined, heapGrowthPct: undefined, rssJudged: undefined });
  expect(render({ ...s, verdict: v })).toMatch(/verdict: FAIL\n {2}- 1 tasks failed outside an engine restart/);
});

test('RSS is judged only with 1000 tasks or more between the readings; V8 old space and fds always', () => {
  const short = (label: 'middle' | 'end', rss: number, old: number) => cp(label, rss, 25, zero, { tasksDone: label === 'middle' ? 100 : 200, oldSpaceUsedMiB: old });
  // The CI run that failed: RSS +14.2% over 100 tasks, old space flat.
  const v = verdict(summary([short('middle', 70.6, 12.6), short('end', 80.6, 12.7)]));
  expect(v).toMatchObject({ pass: true, problems: [], rssGrowthPct: 14.2, heapGrowthPct: 0.8, rssJudged: false });
  expect(render({ ...summary([short('middle', 70.6, 12.6), short('end', 80.6, 12.7)]), verdict: v })).toMatch(
    /verdict: PASS .*V8 old space \+0\.8%, RSS \+14\.2% \(not judged: fewer than 1000 tasks between the readings\)/,
  );
  // 999 apart: still not judged; 1000 apart: judged.
  const apart = (n: number) => verdict(summary([cp('middle', 70, 25, zero, { tasksDone: 0 }), cp('end', 80, 25, zero, { tasksDone: n })]));
  expect(apart(999).pass).toBe(true);
  expect(apart(1000).problems).toEqual(['RSS grew 14.3% from the middle to the end (70 -> 80 MiB; limit 10%)']);
  // old space growth fails a short run too, when it is beyond both 10% and 2 MiB (the readings' noise)
  const leak = verdict(summary([short('middle', 70, 12), short('end', 70, 14.1)]));
  expect(leak.problems).toEqual(['V8 old space in use grew 17.5% from the middle to the end (12 -> 14.1 MiB; limit 10% and 2 MiB)']);
  expect(verdict(summary([short('middle', 70, 12), short('end', 70, 14)])).pass).toBe(true); // +16.7% but 2 MiB
  expect(verdict(summary([short('middle', 70, 30), short('end', 70, 32.9)])).pass).toBe(true); // +2.9 MiB but 9.7%
});

test('a reading without the heap figures (no /metrics) fails the run rather than passing it unjudged', () => {
  const v = verdict(summary([cp('middle', 70, 25, zero, { oldSpaceUsedMiB: undefined }), cp('end', 70, 25)]));
  expect(v.problems).toEqual(["V8 old space in use could not be read from the daemon's /metrics at the middle and the end"]);
});

describe('leftovers the engine holds', () => {
  const busy = 'pause container: docker remove 64b8e355be37: container 64b8e355be37d42e: driver "overlay2" failed to remove root filesystem: unlinkat /var/lib/e/docker/overlay2/0b38/merged: device or resource busy';

  test('a STOPPED task whose every cleanup error is the engine refusing a busy rootfs is the engine\'s', () => {
    expect(engineHeld([{ lastStatus: 'STOPPED', cleanupErrors: [busy] }])).toEqual({ tasks: 1, containers: 1 });
    expect(engineHeld([{ lastStatus: 'STOPPED', cleanupErrors: [busy, busy.replace('pause', 'app')] }])).toEqual({ tasks: 1, containers: 2 });
    // any other error, a task not STOPPED, or no errors: not the engine's
    expect(engineHeld([{ lastStatus: 'STOPPED', cleanupErrors: [busy, 'bridge DEL: exit 1'] }])).toEqual({ tasks: 0, containers: 0 });
    expect(engineHeld([{ lastStatus: 'RUNNING', cleanupErrors: [busy] }])).toEqual({ tasks: 0, containers: 0 });
    expect(engineHeld([{ lastStatus: 'STOPPED' }])).toEqual({ tasks: 0, containers: 0 });
    expect(engineHeld([{ lastStatus: 'STOPPED', cleanupErrors: ['pause container: docker remove x: device or resource busy'] }])).toEqual({ tasks: 0, containers: 0 });
  });

  test('its container and record are allowed for and named; the run passes', () => {
    const end = { ...cp('end', 70, 25, { ...zero, containers: 1, stateRecords: 1 }), tasksKnown: 1, tasksWithCleanupErrors: 1, engineHeld: { tasks: 1, containers: 1 } };
    const v = verdict(summary([cp('middle', 70, 25), end]));
    expect(v.problems).toEqual([]);
    expect(render({ ...summary([cp('middle', 70, 25), end]), verdict: v })).toMatch(/ {2}of them held by the engine +0 +1\n/);
  });

  test('anything beyond what the engine holds still fails, and says how much was the engine\'s', () => {
    const end = { ...cp('end', 70, 25, { ...zero, containers: 2, stateRecords: 2, veths: 1 }), tasksKnown: 2, tasksWithCleanupErrors: 2, engineHeld: { tasks: 1, containers: 1 } };
    expect(verdict(summary([cp('middle', 70, 25), end])).problems).toEqual([
      "leftover containers: 2 (1 of them the engine's)",
      'leftover veths: 1',
      "leftover stateRecords: 2 (1 of them the engine's)",
      'tasks still known to the daemon: 2 (0 not STOPPED, 2 with cleanup errors, 1 held by the engine)',
    ]);
  });
});
