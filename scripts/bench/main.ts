#!/usr/bin/env node
// npm run bench: task setup/teardown latency against the floor, concurrency, scale, memory and restart,
// on the real engine with stand-in ENIs. Prints a table and writes the same figures as JSON.
// Run as root. Everything it makes carries a per-run prefix and is removed at the end, also on Ctrl-C.
import { execa } from 'execa';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { Dockerode } from '../../agent/docker/dockerode.js';
import { parseArgs } from 'node:util';
import { dockerConnection } from '../../agent/docker/dockerode-runtime.js';
import { PLUGIN_SETS, type PluginSet } from '../../cni/types.js';
import { BenchDaemon } from './daemon-proc.js';
import { BenchHost } from './host.js';
import { concurrency, overhead, restart, scale, type BenchContext } from './phases.js';
import { CASES, setupCases, type CaseName } from './cases.js';
import { render, targets, type Results } from './report.js';
import { unitEnvironment } from './unit-env.js';
import { BUILT_CLI, REFERENCE_CNI, REPO, TEST_ENGINE } from '../lib/repo.js';
import { runMain, writeJsonFile } from '../lib/host-cleanup.js';
import { run } from '../lib/run.js';
import { runPrefix } from '../lib/run-prefix.js';
import { STAND_IN } from '../lib/stand-in.js';

const UNIT = path.join(REPO, 'systemd/awsvpcd.service');

const PHASES = ['overhead', 'cases', 'concurrency', 'scale', 'restart'] as const;

const USAGE = `usage: npm run bench -- [flags]   (as root)
  --reps N              setup/teardown repetitions against the floor (default 20)
  --warmup N            unrecorded repetitions first (default 1)
  --case-reps N         repetitions of each setup case (two-container, independent, late-eni), daemon and
                        floor in turn (default 10); the last rep's steps are printed as a timeline
  --cases LIST          any of ${CASES.join(',')} (default all)
  --concurrency LIST    tasks submitted at once (default 1,4,16,32)
  --concurrency-trials K  batches per level, daemon then floor each time; the median batch is reported
                        (default 3: one batch of 32 swings by a quarter from run to run on a small host)
  --scale N             tasks started one after another and kept running (default 100)
  --restart-tasks N     tasks running across the daemon restart (default: --scale)
  --phases LIST         any of ${PHASES.join(',')} (default all)
  --plugins SET         ${PLUGIN_SETS.join(' | ')} (default reference)
  --cni-path DIR        plugin binaries (default /usr/lib/cni)
  --docker-host URL     engine (default $AWSVPCD_TEST_ENGINE or unix:///run/awsvpcd-test/docker.sock)
  --pause-image REF     (default awsvpcd/pause:0.1.0)
  --ipam-subnet CIDR    task-local subnet; kept off the default 169.254.172.0/22 so the bench's bridge
                        does not shadow other daemons' on a shared host (default 169.254.176.0/22)
  --settle-ms N         pause between a setup and its teardown, and between runs (default 200)
  --out FILE            JSON results (default build/bench/results.json); daemon logs go beside it
  --root DIR            state/run directories (default /run/awsvpcd-bench-<prefix>)
  --daemon-node-options='FLAGS'  node/V8 flags for the daemon process (default: NODE_OPTIONS from the systemd
                        unit's Environment= lines, which are all passed to the daemon as they are under systemd)
  --no-unit-env         run the daemon as plain node, without the unit's Environment= lines
  --daemon-cli FILE     the daemon build to measure: a dist/agent/cli/main.js (default this one)
  --compare-cli FILE    a second build, run pairwise with the first in the overhead part (before/after)
  --compare-log-level L its log level: debug (default) or info, e.g. to see what debug logging costs
  --rss-settle-ms N     idle time before a settled RSS reading (default 45000: V8 gives a grown heap
                        back 10-30 s after a burst, so a reading right after one shows the burst)
  --engine-pidfile F    the engine's pid file, to tell a run the engine restarted under
                        (default /run/awsvpcd-test/dockerd.pid; ignored when missing)
  small run while developing: npm run bench -- --reps 3 --case-reps 2 --concurrency 1,4 --concurrency-trials 1 --scale 10`;

function flags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      reps: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '1' },
      'case-reps': { type: 'string', default: '10' },
      cases: { type: 'string', default: CASES.join(',') },
      concurrency: { type: 'string', default: '1,4,16,32' },
      'concurrency-trials': { type: 'string', default: '3' },
      scale: { type: 'string', default: '100' },
      'restart-tasks': { type: 'string' },
      phases: { type: 'string', default: PHASES.join(',') },
      plugins: { type: 'string', default: 'reference' },
      'cni-path': { type: 'string', default: REFERENCE_CNI },
      'docker-host': { type: 'string', default: TEST_ENGINE },
      'pause-image': { type: 'string', default: 'awsvpcd/pause:0.1.0' },
      'ipam-subnet': { type: 'string', default: '169.254.176.0/22' },
      'settle-ms': { type: 'string', default: '200' },
      out: { type: 'string', default: path.join(REPO, 'build/bench/results.json') },
      root: { type: 'string' },
      'daemon-node-options': { type: 'string' },
      'no-unit-env': { type: 'boolean', default: false },
      'daemon-cli': { type: 'string', default: BUILT_CLI },
      'compare-cli': { type: 'string' },
      'compare-log-level': { type: 'string', default: 'debug' },
      'rss-settle-ms': { type: 'string', default: '45000' },
      'engine-pidfile': { type: 'string', default: '/run/awsvpcd-test/dockerd.pid' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min} (got ${v})`);
    return n;
  };
  const phases = values.phases.split(',').filter(Boolean);
  for (const p of phases) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`--phases: unknown phase ${p}`);
  if (!PLUGIN_SETS.includes(values.plugins as PluginSet)) throw new Error(`--plugins must be one of ${PLUGIN_SETS.join(', ')}`);
  const scaleN = int('scale', values.scale, 1);
  const cases = values.cases.split(',').filter(Boolean);
  for (const c of cases) if (!(CASES as readonly string[]).includes(c)) throw new Error(`--cases: unknown case ${c}`);
  return {
    help: values.help,
    reps: int('reps', values.reps, 1),
    warmup: int('warmup', values.warmup, 0),
    caseReps: int('case-reps', values['case-reps'], 1),
    cases: cases as CaseName[],
    concurrency: values.concurrency.split(',').map((x) => int('concurrency', x, 1)),
    concurrencyTrials: int('concurrency-trials', values['concurrency-trials'], 1),
    scale: scaleN,
    restartTasks: int('restart-tasks', values['restart-tasks'] ?? String(scaleN), 1),
    phases,
    plugins: values.plugins as PluginSet,
    cniPath: values['cni-path'],
    dockerHost: values['docker-host'],
    pauseImage: values['pause-image'],
    ipamSubnet: values['ipam-subnet'],
    settleMs: int('settle-ms', values['settle-ms'], 0),
    out: path.resolve(values.out),
    root: values.root,
    daemonNodeOptions: values['daemon-node-options']?.split(/\s+/).filter(Boolean),
    unitEnv: !values['no-unit-env'],
    cli: path.resolve(values['daemon-cli']),
    compareCli: values['compare-cli'] ? path.resolve(values['compare-cli']) : undefined,
    compareLogLevel: values['compare-log-level'] === 'info' ? ('info' as const) : ('debug' as const),
    rssSettleMs: int('rss-settle-ms', values['rss-settle-ms'], 0),
    enginePidfile: values['engine-pidfile'],
  };
}

const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);

/** Every requirement is checked and named before anything is made. */
async function preflight(docker: Docker, f: ReturnType<typeof flags>): Promise<string> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (the bench makes namespaces and links)');
  let version = '';
  try {
    version = (await docker.version()).Version;
    for (const img of [f.pauseImage, 'busybox:latest']) {
      await docker.getImage(img).inspect().catch(() => missing.push(`image ${img} in the engine (scripts/build-images)`));
    }
  } catch {
    missing.push(`a Docker engine at ${f.dockerHost} (scripts/engine start)`);
  }
  await run('test', ['-x', STAND_IN]).catch(() => missing.push(STAND_IN));
  for (const cli of [f.cli, ...(f.compareCli ? [f.compareCli] : [])]) {
    await run('test', ['-f', cli]).catch(() => missing.push(`${cli} (npm run build)`));
  }
  if (missing.length) throw new Error(`requirements missing:\n - ${missing.join('\n - ')}`);
  return version;
}

async function main(): Promise<number> {
  const f = flags(process.argv.slice(2));
  const unitEnv = f.unitEnv ? unitEnvironment(await readFile(UNIT, 'utf8')) : {};
  const { NODE_OPTIONS: unitNodeOptions, ...daemonEnv } = unitEnv;
  const nodeArgs = f.daemonNodeOptions ?? (unitNodeOptions ?? '').split(/\s+/).filter(Boolean);
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const docker = new Dockerode(dockerConnection(f.dockerHost));
  const dockerVersion = await preflight(docker, f);
  const prefix = runPrefix('b');
  const root = f.root ?? `/run/awsvpcd-bench-${prefix}`;
  const host = new BenchHost(prefix, root);
  const daemons = new Map<string, BenchDaemon>();
  const logDir = path.join(path.dirname(f.out), 'logs');

  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      host.aborted = true;
      for (const d of daemons.values()) await d.stop(5_000).catch(() => d.kill());
      await mkdir(logDir, { recursive: true });
      for (const [name, d] of daemons) await copyFile(d.logFile, path.join(logDir, `${prefix}-${name}.log`)).catch(() => undefined);
      await host.cleanup(docker, log);
      log(`removed everything under prefix ${prefix}; daemon logs in ${logDir}`);
    })());
  let interrupted = false;
  const onSignal = (sig: string): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping and cleaning up (again to exit at once)`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const stateFs = (await execa('stat', ['-f', '-c', '%T', path.dirname(root)], { reject: false })).stdout.trim() || '?';
  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      prefix,
      pluginSet: f.plugins,
      cniPath: f.cniPath,
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model.trim() ?? '?',
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        kernel: os.release(),
        node: process.version,
        docker: dockerVersion,
        stateFs,
      },
      load: { start: os.loadavg() },
      flags: { ...f },
      notes: [
        'times are from the daemon\'s own log timestamps (ms) against the bench\'s clock at the request; the floor is timed in-process',
        'the floor: the same Docker calls (dockerode, same create bodies) and plugin runs (same binaries, stdin, env) back to back; no state, API, locks, netns pin, bridge address or IMDS route',
      ],
    },
  };
  const ctx: BenchContext = {
    host,
    docker,
    pluginSet: f.plugins,
    cniPath: f.cniPath,
    pauseImage: f.pauseImage,
    validate: { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] },
    newDaemon: (name, logLevel, cli) => {
      const d = new BenchDaemon({
        cli: cli ?? f.cli,
        root: path.join(root, name),
        nodeArgs,
        env: daemonEnv,
        args: [
          '--cni-path', f.cniPath,
          '--plugins', f.plugins,
          '--docker-host', f.dockerHost,
          '--bridge-name', host.bridge,
          '--ipam-subnet', f.ipamSubnet,
          '--pause-image', f.pauseImage,
          '--log-level', logLevel,
          '--image-pull-behavior', 'prefer-cached', // never reach for a registry
        ],
      });
      daemons.set(name, d);
      return d;
    },
    planOptions: (d) => ({
      blockImds: true,
      ipamSubnet: f.ipamSubnet,
      additionalLocalRoutes: [],
      ipamDataDir: path.join(d.stateDir, 'ipam'),
      bridgeName: host.bridge,
      pluginLogLevel: 'debug',
    }),
    log,
    taskTimeoutMs: 120_000,
    settleMs: f.settleMs,
    rssSettleMs: f.rssSettleMs,
  };
  // Another run may restart the shared engine (an engine-restart test): figures across one are void.
  const enginePid = async (): Promise<string> => (await readFile(f.enginePidfile, 'utf8').catch(() => '')).trim();
  const pidAtStart = await enginePid();

  try {
    log(`prefix ${prefix}, root ${root}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    await host.vpcUp();
    if (f.phases.includes('overhead')) {
      results.meta.load.overhead = os.loadavg();
      log(`1-2. setup and teardown against the floor: ${f.reps} reps`);
      results.overhead = await overhead(ctx, f.reps, f.warmup, f.compareCli, f.compareLogLevel);
    }
    if (f.phases.includes('cases')) {
      results.meta.load.cases = os.loadavg();
      log(`2b. setup cases against the floor: ${f.cases.join(', ')}, ${f.caseReps} reps each`);
      results.cases = await setupCases(ctx, f.caseReps, f.cases);
    }
    if (f.phases.includes('concurrency')) {
      results.meta.load.concurrency = os.loadavg();
      log(`3. concurrency: ${f.concurrency.join(', ')}`);
      results.concurrency = await concurrency(ctx, f.concurrency, f.concurrencyTrials);
    }
    if (f.phases.includes('scale')) {
      results.meta.load.scale = os.loadavg();
      log(`4. scale: ${f.scale} tasks one after another`);
      results.scale = await scale(ctx, f.scale);
    }
    if (f.phases.includes('restart')) {
      results.meta.load.restart = os.loadavg();
      log(`5. restart with ${f.restartTasks} tasks running`);
      results.restart = await restart(ctx, f.restartTasks);
    }
    results.meta.load.end = os.loadavg();
    const pidAtEnd = await enginePid();
    if (pidAtStart !== pidAtEnd) results.meta.notes.push(`THE ENGINE RESTARTED during the run (pid ${pidAtStart} -> ${pidAtEnd}): figures are void`);
    if (f.cli !== BUILT_CLI) results.meta.notes.push(`daemon build: ${f.cli}`);
    const envText = Object.entries(daemonEnv).map(([k, v]) => `${k}=${v} `).join('');
    results.meta.notes.push(`daemon run as: ${envText}node ${[...nodeArgs, ''].join(' ')}dist/agent/cli/main.js daemon${f.unitEnv ? ' (environment from systemd/awsvpcd.service)' : ''}`);
    results.targets = targets(results);
    await writeJsonFile(f.out, results);
    process.stdout.write(render(results));
    log(`results written to ${f.out}`);
    return 0;
  } finally {
    await cleanup();
  }
}

runMain(main, log, 1);
