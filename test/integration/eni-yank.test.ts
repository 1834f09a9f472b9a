// An ENI detached from under a RUNNING task (a force-detach, an instance event): the stand-in ENI is deleted
// inside the task's namespace (its veth peer in the VPC goes with it). The periodic check sees eth0 gone
// within the reconcile interval and stops the task with a reason naming the ENI; everything else the task
// held is released.
import { jest } from '@jest/globals';
import path from 'node:path';
import { DaemonProc, Vpc, leaks, requireEnvironment, runPrefix, sh, taskJson } from './harness.js';

jest.setTimeout(120_000);

const prefix = runPrefix();
const RECONCILE_MS = 2000;
/** A check pass, the stop's request and a scheduling hiccup on a loaded runner. */
const SLACK_MS = 3000;
const d = new DaemonProc({ prefix, args: ['--reconcile-interval-ms', String(RECONCILE_MS)] });
let vpc: Vpc;
const id = `${prefix}x`;

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 9);
});

afterAll(async () => {
  await d.cleanup([id]);
  await vpc?.down();
});

test('an ENI deleted under a RUNNING task: STOPPED within the reconcile interval, the reason names the ENI, nothing left', async () => {
  const eni = await vpc.addEni(`${prefix}e1`, 21);
  await d.start();
  await d.submit(taskJson({ id, eni }));
  await d.waitStatus(id, 'RUNNING', 60_000);
  const pin = path.join(d.runDir, 'netns', id);
  // the ENI is in the task's namespace under eth0, with its MAC
  expect((await sh('nsenter', [`--net=${pin}`, 'ip', '-o', 'link', 'show', 'dev', 'eth0'])).stdout).toContain(eni.mac);
  const yanked = Date.now();
  await sh('nsenter', [`--net=${pin}`, 'ip', 'link', 'del', 'eth0']);
  let t = await d.describe(id);
  while (t.desiredStatus !== 'STOPPED' && Date.now() - yanked < RECONCILE_MS + SLACK_MS + 5_000) {
    await new Promise((r) => setTimeout(r, 100));
    t = await d.describe(id);
  }
  const noticedMs = Date.now() - yanked;
  expect(t.desiredStatus).toBe('STOPPED');
  expect(noticedMs).toBeLessThanOrEqual(RECONCILE_MS + SLACK_MS);
  t = await d.waitStatus(id, 'STOPPED', 30_000);
  expect(t.stoppedReason).toMatch(new RegExp(`^ENI ${eni.mac} \\(eth0; eni-[0-9a-f]+, attachment [^)]+\\) was detached from the task: it is no longer in the task namespace$`));
  expect(t.cleanupErrors).toBeUndefined();
  // the ENI is gone (detached), so it is not expected back on the host: everything else is released
  expect(await leaks(d, [id], [])).toEqual([]);
  await vpc.removeEni(eni.dev);
  console.log(`eni-yank: the stop was asked ${noticedMs} ms after the ENI was deleted (reconcile interval ${RECONCILE_MS} ms)`);
  await d.stop();
});
