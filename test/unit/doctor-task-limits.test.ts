// doctor's one line on task-level limits (a feature, never a reason the host fails), and the option that
// says where task cgroups go.
import { formatReport, runDoctor, type DoctorDeps } from '../../agent/cli/doctor.js';
import { resolveConfig } from '../../agent/daemon/config.js';
import type { CgroupSupport } from '../../agent/docker/task-cgroup.js';

function deps(support: () => Promise<CgroupSupport>): DoctorDeps {
  return {
    uid: 1000,
    exec: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    engine: { version: async () => ({ version: '20.10.24', apiVersion: '1.41' }), imageExists: async () => true },
    cni: { version: async () => ({ cniVersion: '0.4.0', supportedVersions: ['0.4.0'] }) },
    path: [],
    taskCgroups: { support },
  };
}

describe('doctor: task limits', () => {
  const cfg = resolveConfig(new Map([['--task-cgroup-root', '/limits']]), {});

  test('supported: says so, with the setup and where the parents go', async () => {
    const r = await runDoctor(cfg, deps(async () => ({ ok: true, version: 1, detail: 'cgroup v1, cgroupfs driver' })));
    const c = r.checks.find((x) => x.name === 'task limits')!;
    expect(c).toEqual({ name: 'task limits', ok: true, detail: 'task cpu/memory limits can be applied (cgroup v1, cgroupfs driver; parents under /limits)' });
    expect(formatReport(cfg, r)).toMatch(/^ {2}ok {4}task limits\s+task cpu\/memory limits can be applied/m);
  });

  test('not supported: a warning line that says why, and the host is not failed for it', async () => {
    const r = await runDoctor(cfg, deps(async () => ({ ok: false, why: 'the engine uses the systemd cgroup driver' })));
    const c = r.checks.find((x) => x.name === 'task limits')!;
    expect(c.ok).toBe(true);
    expect(c.warn).toBe(true);
    expect(c.detail).toBe('task cpu/memory limits cannot be applied: the engine uses the systemd cgroup driver; tasks that set them run with a warning');
    expect(formatReport(cfg, r)).toMatch(/^ {2}warn {2}task limits\s+task cpu\/memory limits cannot be applied/m);
  });

  test('a failing probe is a warning too', async () => {
    const r = await runDoctor(cfg, deps(async () => Promise.reject(new Error('EACCES'))));
    expect(r.checks.find((x) => x.name === 'task limits')).toMatchObject({ ok: true, warn: true, detail: expect.stringContaining('EACCES') });
  });
});

describe('--task-cgroup-root', () => {
  test('default /awsvpcd', () => {
    expect(resolveConfig(new Map(), {}).taskCgroupRoot).toBe('/awsvpcd');
    expect(resolveConfig(new Map(), { AWSVPCD_TASK_CGROUP_ROOT: '/a/b' }).taskCgroupRoot).toBe('/a/b');
  });
  test.each(['awsvpcd', '/a/../b', '/a b', '/', '/a/', '/-x'])('%j is refused', (v) => {
    expect(() => resolveConfig(new Map([['--task-cgroup-root', v]]), {})).toThrow(/--task-cgroup-root.*absolute cgroup path/);
  });
});
