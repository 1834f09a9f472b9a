// The Docker engine restarted under a running task (a package update or an OOM kill does this on real hosts): the daemon reconnects,
// sees that the task lost its network, and stops it with a reason, releasing everything; it never
// reports a task RUNNING without a network. The test restarts an engine of its own, not the shared one.
import { jest } from '@jest/globals';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc, REPO, Vpc, docker, leaks, requireEnvironment, runPrefix, sh, taskJson } from './harness.js';

jest.setTimeout(240_000);

const prefix = runPrefix();
const engineDir = `/run/${prefix}-engine`;
const engine = `unix://${engineDir}/docker.sock`;
const engineEnv = { AWSVPCD_TEST_ENGINE_DIR: engineDir, PATH: process.env.PATH ?? '/usr/bin:/bin' };
const d = new DaemonProc({ prefix, engine });
let vpc: Vpc;
const id = `${prefix}x`;

async function engineCmd(cmd: string): Promise<void> {
  await sh('bash', [path.join(REPO, 'scripts/engine'), cmd], { env: engineEnv, timeout: 120_000 });
}

beforeAll(async () => {
  await requireEnvironment();
  await engineCmd('start');
  await sh('bash', [path.join(REPO, 'scripts/build-images')], { env: { ...engineEnv, DOCKER_HOST: engine }, timeout: 180_000 });
  vpc = await Vpc.up(prefix, 5);
});

afterAll(async () => {
  await d.kill().catch(() => undefined);
  const ids = (await docker(['ps', '-aq'], false, engine)).stdout.split('\n').filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids], false, engine);
  await d.cleanup([]);
  await vpc?.down();
  await engineCmd('stop').catch(() => undefined);
  await rm(`/var/lib/${prefix}-engine`, { recursive: true, force: true });
  await rm(`/var/log/${prefix}-engine-dockerd.log`, { force: true });
  await rm(engineDir, { recursive: true, force: true });
});

test('a task whose engine restarts is stopped with a reason, not left RUNNING without a network', async () => {
  const eni = await vpc.addEni(`${prefix}e1`, 11);
  await d.start();
  await d.submit(taskJson({ id, eni }));
  await d.waitStatus(id, 'RUNNING');
  await engineCmd('stop');
  await engineCmd('start');
  const t = await d.waitStatus(id, 'STOPPED', 60_000);
  // Which check sees it first depends on timing: the pause container's exit (event or inspect), an essential
  // container's exit, or the periodic network check finding the pause process gone (seen on a loaded DinD
  // runner, where the process was gone before the engine reported the container stopped). Each names the loss.
  expect(t.stoppedReason).toMatch(
    /^(Pause container exited \(code \d+\); the task lost its network namespace|Essential container in task exited|Task network lost: the pause process is gone)/,
  );
  // Teardown may have started while the engine was still going down; what failed then is retried by the
  // reconcile timer once the engine is back, until nothing is left.
  const end = Date.now() + 60_000;
  let last = t;
  while (last.cleanupErrors && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    last = await d.describe(id);
  }
  expect(last.cleanupErrors).toBeUndefined();
  const left = (await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`], false, engine)).stdout.trim();
  expect(left).toBe('');
  // the pinned namespace kept the ENI alive while the engine was down, so DEL could hand it back
  expect(await leaks(d, [], [eni])).toEqual([]);
  // and the daemon is still serving after the engine came back
  expect((await d.api.request('GET', '/healthz')).status).toBe(200);
});
