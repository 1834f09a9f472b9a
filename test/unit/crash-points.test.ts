// The crash-point lists the crash tests run (test/support/crash-points.ts) against the agent's own
// (agent/util/crash-point.ts): every point a test names is one the daemon has, and every point the daemon
// has is tried, but for those that only fire for features the tests' tasks do not use.
import { SETUP_POINTS, TEARDOWN_POINTS } from '../../agent/util/crash-point.js';
import { REFERENCE_PLUGINS, setupPoints, teardownPoints, templateOf } from '../support/crash-points.js';

const ONLY_WITH_FEATURES = new Set(['after-task-volumes', 'after-task-cgroup', 'after-volumes-removed']);

describe('crash points the tests run', () => {
  const plans = [
    { set: 'reference', plugins: REFERENCE_PLUGINS, containers: ['app', 'probe'] },
    { set: 'ecs', plugins: ['ecs-eni', 'ecs-bridge'] as const, containers: ['app'], ipamRelease: true },
    { set: 'vpc', plugins: ['vpc-eni', 'ecs-bridge'] as const, containers: ['app'], ipamRelease: true },
  ];

  test.each(plans)('$set set: each point is one of the agent\'s, and each of the agent\'s is tried', (plan) => {
    const setup = setupPoints(plan);
    const teardown = teardownPoints(plan);
    for (const p of setup) expect(SETUP_POINTS as readonly string[]).toContain(templateOf(p));
    for (const p of teardown) expect(TEARDOWN_POINTS as readonly string[]).toContain(templateOf(p));
    const tried = new Set([...setup, ...teardown].map(templateOf));
    const untried = [...SETUP_POINTS, ...TEARDOWN_POINTS].filter((t) => !tried.has(t) && !ONLY_WITH_FEATURES.has(t));
    // The reference set has no IPAM release of its own (static IPAM goes with the bridge DEL).
    expect(untried).toEqual(plan.ipamRelease ? [] : ['after-ipam-release']);
    expect(new Set(setup).size).toBe(setup.length);
    expect(new Set(teardown).size).toBe(teardown.length);
  });

  test('a point the agent does not have has no template', () => {
    expect(templateOf('after-cni-add:bridge')).toBe('after-cni-add:<plugin>');
    expect(templateOf('after-eni-found')).toBe('after-eni-found');
    expect(templateOf('after-cni-ad:bridge')).toBeUndefined();
    expect(templateOf('after-everything')).toBeUndefined();
  });
});
