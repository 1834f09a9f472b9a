// DockerodeRuntime.pullImage's two ways to end early: its own deadline (a DeadlineError naming the pull) and
// the setup's signal (a failure elsewhere: that signal's reason, not a deadline), over an engine whose pull
// stream never ends.
import { PassThrough } from 'node:stream';
import pino from 'pino';
import type Docker from 'dockerode';
import { DockerodeRuntime } from '../../agent/docker/dockerode-runtime.js';
import { DeadlineError } from '../../agent/errors.js';

function hangingEngine(): { docker: Docker; pulls: AbortSignal[] } {
  const pulls: AbortSignal[] = [];
  const docker = {
    pull: async (_ref: string, o: { abortSignal: AbortSignal }) => {
      pulls.push(o.abortSignal);
      return new PassThrough(); // progress that never ends
    },
    modem: { followProgress: () => undefined },
  } as unknown as Docker;
  return { docker, pulls };
}

const runtime = (docker: Docker) => new DockerodeRuntime({ docker, logger: pino({ level: 'silent' }) });

test('a pull past its deadline is a DeadlineError naming the pull, and the request is aborted', async () => {
  const e = hangingEngine();
  const err = await runtime(e.docker).pullImage('busybox:latest', 50).catch((x: unknown) => x);
  expect(err).toBeInstanceOf(DeadlineError);
  expect((err as Error).message).toMatch(/docker pull busybox:latest/);
  expect(e.pulls[0]!.aborted).toBe(true);
});

test('a pull ended by the setup throws the setup\'s reason, not a deadline, and the request is aborted', async () => {
  const e = hangingEngine();
  const setup = new AbortController();
  const pulling = runtime(e.docker).pullImage('busybox:latest', 60_000, setup.signal).catch((x: unknown) => x);
  await new Promise((r) => setTimeout(r, 20));
  const why = new Error('pause container failed to start');
  setup.abort(why);
  expect(await pulling).toBe(why);
  expect(e.pulls[0]!.aborted).toBe(true);
});
