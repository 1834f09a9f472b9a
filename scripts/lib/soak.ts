#!/usr/bin/env node
// scripts/soak: a long soak. N task starts and stops through ONE daemon on the reference plugin set, with
// stand-in ENIs reused from task to task, while the daemon is killed with SIGKILL at random moments (and
// started again at once, on the same state) and the soak's own engine is restarted without live-restore.
// RSS and open file descriptors of the daemon are read at the start, the middle and the end; at the middle
// and the end, after the load has drained and settled, everything a task could leave behind is counted.
// Prints a table (and --json FILE), exits 1 when anything is left over, a task failed outside an engine
// restart, or fds or RSS grew more than 10% from the middle to the end. Everything it makes is removed at
// the end, also on failure or Ctrl-C. Run as root, through scripts/soak.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiUnreachableError } from '../../agent/cli/client.js';
import type { DescribedTask } from '../../agent/task/describe.js';
import { unitEnvironment } from '../bench/unit-env.js';
import { DaemonProc, type Outcome } from './daemon-proc.js';
import { BUILT_CLI, REFERENCE_CNI, REPO } from './repo.js';
import { runMain, writeJsonFile } from './host-cleanup.js';
import { run } from './run.js';
import { runPrefix } from './run-prefix.js';
import { STAND_IN } from './stand-in.js';
import { fdCount, rssMiB, SoakHost } from './soak-host.js';
import { engineHeld, render, verdict, type Checkpoint, type EngineRestartEvent, type KillEvent, type Outcomes, type Summary } from './soak-report.js';
import { taskArn as arnIn, taskDocument } from './task-doc.js';
import type { Eni } from './stand-in.js';

const USAGE = `usage: scripts/soak [flags]   (as root)
  --tasks N             task starts and stops (default 2000)
  --concurrency C       tasks in flight at once (default 16)
  --kills K             kill -9 of the daemon at random moments, each followed at once by a start
                        (default 5 per 2000 tasks, at least 1)
  --engine-restarts R   restarts of the soak's own engine, without live-restore (default 2)
  --containers N        containers per task besides the pause container (default 1)
  --hold-ms N           a RUNNING task is stopped after a random 0..N ms (default 1000)
  --settle-ms N         idle time before the middle and end readings (default 20000: stopped tasks are
                        forgotten after 5 s, the daemon's idle GC runs 5 s after the work settles)
  --leftover-wait-ms N  at the end, how long leftovers may take to go after the settle (default 60000)
  --engine-grace-ms N   after an engine restart, how long a task stop still counts as caused by it (default 15000)
  --task-timeout-ms N   deadline for each task to reach RUNNING, and again to reach STOPPED (default 180000)
  --time-limit-min M    take no new task after M minutes: the load drains and the end is read as usual,
                        the summary says how many tasks ran (default none)
  --seed S              seed of the random moments (default random; printed, to repeat a schedule)
  --json FILE           write the summary as JSON
  --log-dir DIR         the daemon's and the engine's logs are copied there (default build/soak)
  --no-middle           no middle checkpoint (and so no growth check)
  --daemon-cli FILE     the daemon build (default dist/agent/cli/main.js)
  --prefix P            the run's prefix (default s + 6 hex digits)
  --cleanup-only        remove what a run with --prefix P left behind, and exit`;

const log = (s: string): void => void process.stderr.write(`soak: ${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function flags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '16' },
      kills: { type: 'string' },
      'engine-restarts': { type: 'string', default: '2' },
      containers: { type: 'string', default: '1' },
      'hold-ms': { type: 'string', default: '1000' },
      'settle-ms': { type: 'string', default: '20000' },
      'leftover-wait-ms': { type: 'string', default: '60000' },
      'engine-grace-ms': { type: 'string', default: '15000' },
      'task-timeout-ms': { type: 'string', default: '180000' },
      seed: { type: 'string' },
      'time-limit-min': { type: 'string' },
      json: { type: 'string' },
      'log-dir': { type: 'string', default: path.join(REPO, 'build/soak') },
      'no-middle': { type: 'boolean', default: false },
      'daemon-cli': { type: 'string', default: BUILT_CLI },
      prefix: { type: 'string' },
      'cleanup-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max} (got ${v})`);
    return n;
  };
  const tasks = int('tasks', values.tasks, 1, 100_000);
  if (values.prefix !== undefined && !/^[a-z][a-z0-9]{1,7}$/.test(values.prefix)) throw new Error(`--prefix must be a lowercase letter and 1-7 letters or digits (got ${values.prefix})`);
  if (values['cleanup-only'] && !values.prefix) throw new Error('--cleanup-only needs --prefix');
  return {
    help: values.help,
    tasks,
    concurrency: int('concurrency', values.concurrency, 1, 64),
    kills: int('kills', values.kills ?? String(Math.max(1, Math.round((tasks * 5) / 2000))), 0, 1000),
    engineRestarts: int('engine-restarts', values['engine-restarts'], 0, 100),
    containers: int('containers', values.containers, 1, 4),
    holdMs: int('hold-ms', values['hold-ms'], 0),
    settleMs: int('settle-ms', values['settle-ms'], 0),
    leftoverWaitMs: int('leftover-wait-ms', values['leftover-wait-ms'], 0),
    engineGraceMs: int('engine-grace-ms', values['engine-grace-ms'], 0),
    taskTimeoutMs: int('task-timeout-ms', values['task-timeout-ms'], 1000),
    timeLimitMin: values['time-limit-min'] ? int('time-limit-min', values['time-limit-min'], 1) : undefined,
    seed: int('seed', values.seed ?? String(Math.floor(Math.random() * 2 ** 31)), 0, 2 ** 31),
    json: values.json ? path.resolve(values.json) : undefined,
    logDir: path.resolve(values['log-dir']),
    middle: !values['no-middle'] && tasks >= 2,
    cli: path.resolve(values['daemon-cli']),
    prefix: values.prefix,
    cleanupOnly: values['cleanup-only'],
  };
}
type Flags = ReturnType<typeof flags>;

/** mulberry32: a small seeded generator, so a schedule of kill moments can be repeated with --seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Idle until SIGTERM (as the bench's task): a stop measures the machinery, not the stop timeout. */
const IDLE_UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 86400 & wait $!; done';

function containers(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => ({
    name: i === 0 ? 'app' : `side${i}`,
    image: 'busybox:latest',
    essential: i === 0,
    command: ['sh', '-c', IDLE_UNTIL_TERM],
    stopTimeout: 2,
    ...(i === 0 ? { environment: [{ name: 'MODE', value: 'soak' }] } : { dependsOn: [{ containerName: 'app', condition: 'START' }] }),
  }));
}

const taskArn = (id: string): string => arnIn('soak', id);

function taskDoc(id: string, eni: Eni, n: number): Record<string, unknown> {
  return taskDocument({ id, eni, cluster: 'soak', family: 'soak', revision: 1, dns: '10.97.0.2', waitTimeoutMs: 60_000, containers: containers(n) });
}

/** The reason the daemon gives when the soak stops a task (agent/api/server.ts). */
const STOP_REASON = 'Task stopped by user';

async function preflight(f: Flags): Promise<void> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (the soak makes namespaces, links and an engine)');
  for (const [file, why] of [
    [f.cli, 'npm run build'],
    [STAND_IN, 'scripts/stand-in-eni'],
    ...['host-device', 'static', 'bridge', 'host-local'].map((p) => [path.join(REFERENCE_CNI, p), 'apt-get install containernetworking-plugins']),
  ] as Array<[string, string]>) {
    await run('test', ['-e', file]).catch(() => missing.push(`${file} (${why})`));
  }
  for (const prog of ['dockerd', 'docker', 'ip', 'curl']) await run('sh', ['-c', `command -v ${prog}`]).catch(() => missing.push(`${prog} on PATH (bash scripts/setup)`));
  if (missing.length) throw new Error(`requirements missing:\n - ${missing.join('\n - ')}`);
}

interface TaskRow {
  i: number;
  id: string;
  submittedAt: number;
  runningAt?: number;
  stoppedAt?: number;
  reason?: string;
  status: 'RUNNING' | 'STOPPED' | 'TIMEOUT' | 'LOST' | 'REFUSED' | 'PENDING';
  stopRequested: boolean;
}

class Soak {
  readonly rows: TaskRow[] = [];
  readonly kills: KillEvent[] = [];
  readonly engineRestarts: EngineRestartEvent[] = [];
  /** [from, to] epoch ms: a task STOPPED within one was stopped by the engine restart. */
  readonly engineWindows: Array<[number, number]> = [];
  readonly checkpoints: Checkpoint[] = [];
  readonly samples: Summary['samples'] = [];
  next = 0;
  inFlight = 0;
  done = 0;
  /** Tasks submitted since the daemon's last start. */
  sinceStart = 0;
  private midPassed: boolean;
  private releaseMid!: () => void;
  private readonly midGate = new Promise<void>((r) => (this.releaseMid = r));
  readonly mid: number;
  t0 = Date.now();
  aborted = false;

  constructor(
    readonly f: Flags,
    readonly host: SoakHost,
    readonly d: DaemonProc,
  ) {
    this.mid = Math.floor(f.tasks / 2);
    this.midPassed = !f.middle;
  }

  elapsedSec(at = Date.now()): number {
    return Math.round((at - this.t0) / 100) / 10;
  }

  /** Set when --time-limit-min runs out: no new task is taken. */
  cutOff = false;

  /** Whether the workers are held at the middle gate, the middle reading not yet taken. */
  heldAtMiddle(): boolean {
    return !this.midPassed && this.next >= this.mid;
  }

  private async claim(): Promise<number | undefined> {
    while (this.heldAtMiddle()) await this.midGate;
    if (this.f.timeLimitMin && Date.now() - this.t0 > this.f.timeLimitMin * 60_000) this.cutOff = true;
    if (this.aborted || this.cutOff || this.next >= this.f.tasks) return undefined;
    return this.next++;
  }

  /** Retries an API call while the daemon is down (a kill) or not ready (HTTP 503), until the deadline. */
  private async api<T>(fn: () => Promise<T>, what: string, deadline: number): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const retry = err instanceof ApiUnreachableError || /HTTP 503/.test((err as Error).message);
        if (!retry || Date.now() > deadline || this.aborted) throw new Error(`${what}: ${(err as Error).message}`);
        await sleep(300);
      }
    }
  }

  /**
   * The task's next final status: from the daemon's log lines as they arrive, and from the API every few
   * seconds (a log line lost to a kill -9, a RUNNING the daemon confirmed after a restart without a new line).
   */
  private async waitTask(id: string, want: 'RUNNING' | 'STOPPED', since: number, deadline: number): Promise<Outcome | { status: 'LOST' }> {
    const arn = taskArn(id);
    for (;;) {
      const o = await this.d.waitFor(arn, want, 3_000, since);
      if (o.status !== 'TIMEOUT') return o;
      const r = await this.d.api.request<DescribedTask>('GET', `/v1/tasks/${id}`).catch(() => undefined);
      if (r?.status === 200) {
        const t = r.body;
        if (t.lastStatus === 'STOPPED') return { status: 'STOPPED', t: t.stoppedAt ? Date.parse(t.stoppedAt) : Date.now(), reason: t.stoppedReason ?? undefined };
        if (want === 'RUNNING' && t.lastStatus === 'RUNNING') return { status: 'RUNNING', t: Date.now() };
      } else if (r?.status === 404) {
        // Forgotten after its stop (the STOPPED line was lost to a kill), or never held: a lost submit.
        const s = await this.d.waitFor(arn, 'STOPPED', 0, since);
        if (s.status === 'STOPPED') return s;
        if (want === 'STOPPED') return { status: 'STOPPED', t: Date.now(), reason: '(forgotten before its STOPPED was seen)' };
        return { status: 'LOST' };
      }
      if (Date.now() > deadline || this.aborted) return { status: 'TIMEOUT', t: Date.now() };
    }
  }

  private async runTask(i: number, random: () => number): Promise<void> {
    const id = `${this.host.prefix}t${i}`;
    const eni = await this.host.pool.take();
    const row: TaskRow = { i, id, submittedAt: Date.now(), status: 'PENDING', stopRequested: false };
    this.rows.push(row);
    const to = this.f.taskTimeoutMs;
    try {
      try {
        // One document for every attempt: a retry after a kill resubmits exactly what the killed daemon may hold.
        const doc = taskDoc(id, eni, this.f.containers);
        await this.api(() => this.d.submit(doc), `submit ${id}`, Date.now() + to);
        this.sinceStart++;
      } catch (err) {
        row.status = 'REFUSED';
        row.reason = (err as Error).message;
        row.stoppedAt = Date.now();
        return;
      }
      const o = await this.waitTask(id, 'RUNNING', row.submittedAt - 1000, Date.now() + to);
      if (o.status === 'RUNNING') {
        row.runningAt = o.t;
        row.status = 'RUNNING';
        await sleep(Math.floor(random() * this.f.holdMs));
        row.stopRequested = true;
        try {
          await this.api(() => this.d.stopTask(id), `stop ${id}`, Date.now() + to);
        } catch (err) {
          // 404: the task already STOPPED on its own and was forgotten; waitTask finds its line.
          if (!/HTTP 404/.test((err as Error).message)) throw err;
        }
        const s = await this.waitTask(id, 'STOPPED', row.submittedAt - 1000, Date.now() + to);
        row.status = s.status;
        if (s.status === 'STOPPED') [row.stoppedAt, row.reason] = [s.t, s.reason];
      } else {
        row.status = o.status;
        if (o.status === 'STOPPED') [row.stoppedAt, row.reason] = [o.t, o.reason];
      }
    } catch (err) {
      row.status = 'LOST';
      row.reason = (err as Error).message;
    } finally {
      // The ENI back on the host before the next task takes it (or replaced and counted).
      await this.host.pool.give(eni);
      this.done++;
    }
  }

  async worker(random: () => number): Promise<void> {
    for (;;) {
      const i = await this.claim();
      if (i === undefined) return;
      this.inFlight++;
      try {
        await this.runTask(i, random);
      } finally {
        this.inFlight--;
      }
    }
  }

  async waitIdle(): Promise<void> {
    while (this.inFlight > 0 && !this.aborted) await sleep(100);
  }

  async checkpoint(label: Checkpoint['label'], settleMs: number, leftoverWaitMs = 0): Promise<Checkpoint> {
    await sleep(settleMs);
    const d = this.d;
    let counts = await this.host.counts(d.stateDir, d.runDir);
    const end = Date.now() + leftoverWaitMs;
    const zero = (): boolean => Object.values(counts).every((v) => v === 0);
    while (!zero() && Date.now() < end && !this.aborted) {
      await sleep(2_000);
      counts = await this.host.counts(d.stateDir, d.runDir);
    }
    const tasks = await this.api(() => d.list(), 'list tasks', Date.now() + 60_000);
    const pid = d.pid!;
    const cp: Checkpoint = {
      label,
      atSec: this.elapsedSec(),
      pid,
      rssMiB: await rssMiB(pid),
      ...(await d.memory().catch(() => ({}))),
      fds: await fdCount(pid),
      tasksDone: this.done,
      tasksSinceDaemonStart: this.sinceStart,
      counts,
      tasksKnown: tasks.length,
      tasksWithCleanupErrors: tasks.filter((t) => t.cleanupErrors?.length).length,
      tasksNotStopped: tasks.filter((t) => t.lastStatus !== 'STOPPED').length,
      engineHeld: engineHeld(tasks),
      engineLostShims: (await this.host.engine.lostShims()).length,
    };
    this.checkpoints.push(cp);
    log(`${label}: pid ${cp.pid}, RSS ${cp.rssMiB} MiB, ${cp.fds} fds, counts ${JSON.stringify(counts)}, ${cp.tasksKnown} tasks listed, ${cp.engineLostShims} shims the engine lost`);
    return cp;
  }

  async kill(random: () => number): Promise<void> {
    // A random moment, not the instant the threshold was crossed; and one with tasks in flight (not
    // while the load drains for the middle reading, unless the run is over). When the workers already wait
    // at the middle gate (an engine restart before this kill failed the tasks fast, and they ran up to the
    // middle), no task will be in flight until the middle event, which comes after this one: the kill is
    // made at idle instead of waiting for ever (a 200-task run with 8 restarts hung there).
    await sleep(Math.floor(random() * 3_000));
    while (this.inFlight === 0 && this.done < this.f.tasks && !this.heldAtMiddle() && !this.cutOff && !this.aborted) await sleep(50);
    const pidBefore = this.d.pid!;
    const [rss, fds] = await Promise.all([rssMiB(pidBefore), fdCount(pidBefore)]);
    const ev = { atSec: this.elapsedSec(), tasksClaimed: this.next, inFlight: this.inFlight, pidBefore, rssMiBBefore: rss, fdsBefore: fds };
    await this.d.kill();
    const t = Date.now();
    this.sinceStart = 0;
    await this.d.start(120_000);
    const k: KillEvent = { ...ev, pidAfter: this.d.pid!, readyMs: Date.now() - t };
    this.kills.push(k);
    log(`kill -9 #${this.kills.length} at ${k.atSec} s (${k.inFlight} in flight): pid ${k.pidBefore} -> ${k.pidAfter}, ready in ${k.readyMs} ms`);
  }

  async restartEngine(): Promise<void> {
    const e = this.host.engine;
    const from = Date.now();
    const window: [number, number] = [from - 1_000, Number.MAX_SAFE_INTEGER];
    this.engineWindows.push(window);
    const ev = { atSec: this.elapsedSec(), tasksClaimed: this.next, inFlight: this.inFlight, enginePidBefore: await e.pid() };
    await e.stop();
    const stopped = Date.now();
    // What the stop left mounted under the data root, unmounted while no dockerd covers it (unmountStale):
    // a rootfs mounted by a start the stop cut off would otherwise be unremovable by the next engine.
    const staleMounts = await e.unmountStale();
    await e.start();
    const started = Date.now();
    window[1] = started + this.f.engineGraceMs;
    // What the stop leaked: shims (and their runc init) of containers being created or started, which the
    // new engine's containerd forgot. The engine's leak, not the daemon's; ended and counted.
    const lostShimsEnded = await e.endLostShims();
    const r: EngineRestartEvent = { ...ev, stopMs: stopped - from, startMs: started - stopped, enginePidAfter: await e.pid(), lostShimsEnded, staleMounts };
    this.engineRestarts.push(r);
    log(`engine restart #${this.engineRestarts.length} at ${r.atSec} s (${r.inFlight} in flight): stop ${r.stopMs} ms, start ${r.startMs} ms, ${staleMounts} stale mounts removed while stopped, ${lostShimsEnded} lost shims ended`);
  }

  passMiddle(): void {
    this.midPassed = true;
    this.releaseMid();
  }

  inEngineWindow(t: number | undefined): boolean {
    return t !== undefined && this.engineWindows.some(([a, b]) => t >= a && t <= b);
  }

  outcomes(): Outcomes {
    const o: Outcomes = {
      submitted: this.rows.filter((r) => r.status !== 'REFUSED').length,
      stoppedOnRequest: 0,
      engineStopped: { afterRunning: 0, beforeRunning: 0 },
      failed: 0,
      lost: 0,
      reachedRunning: this.rows.filter((r) => r.runningAt !== undefined).length,
      engineReasons: {},
      failureReasons: {},
    };
    // Reasons grouped without the ids and pids in them.
    const bump = (m: Record<string, number>, k: string): void => {
      const key = k.replace(/\b[0-9a-f]{12,64}\b/g, '<id>').replace(/\/proc\/\d+\//g, '/proc/<pid>/').replace(new RegExp(`\\b${this.host.prefix}t\\d+\\b`, 'g'), '<task>');
      m[key] = (m[key] ?? 0) + 1;
    };
    for (const r of this.rows) {
      const reason = r.reason ?? '(no reason)';
      if (r.status === 'STOPPED' && r.runningAt !== undefined && r.reason === STOP_REASON) o.stoppedOnRequest++;
      else if (r.status === 'STOPPED' && (this.inEngineWindow(r.stoppedAt) || /engine/i.test(reason))) {
        if (r.runningAt !== undefined) o.engineStopped.afterRunning++;
        else o.engineStopped.beforeRunning++;
        bump(o.engineReasons, reason);
      } else if (r.status === 'REFUSED' && this.inEngineWindow(r.stoppedAt)) {
        o.engineStopped.beforeRunning++;
        bump(o.engineReasons, `refused: ${reason}`);
      } else if (r.status === 'STOPPED' || r.status === 'REFUSED') {
        o.failed++;
        bump(o.failureReasons, `${r.status === 'REFUSED' ? 'refused: ' : ''}${reason}`);
      } else {
        o.lost++;
        bump(o.failureReasons, `${r.status}: ${r.id}${r.reason ? ` ${r.reason}` : ''}`);
      }
    }
    return o;
  }
}

interface ScheduledEvent {
  at: number;
  kind: 'kill' | 'engine' | 'middle';
}

function schedule(f: Flags, random: () => number): ScheduledEvent[] {
  const ev: ScheduledEvent[] = [];
  const n = f.tasks;
  // Engine restarts spread evenly (a quarter and three quarters in with two), kills at random task counts.
  for (let k = 0; k < f.engineRestarts; k++) ev.push({ at: Math.floor((n * (k + 0.5)) / f.engineRestarts), kind: 'engine' });
  // A kill just before the middle would fall into its drain (nothing in flight): moved past it instead.
  const mid = Math.floor(n / 2);
  for (let k = 0; k < f.kills; k++) {
    let at = Math.floor(n * (0.05 + 0.9 * random()));
    if (f.middle && at > mid - 2 * f.concurrency && at <= mid) at = Math.min(n - 1, mid + 2 * f.concurrency);
    ev.push({ at, kind: 'kill' });
  }
  if (f.middle) ev.push({ at: Math.floor(n / 2), kind: 'middle' });
  return ev.sort((a, b) => a.at - b.at || (a.kind === 'middle' ? -1 : b.kind === 'middle' ? 1 : 0));
}

async function main(): Promise<number> {
  const f = flags(process.argv.slice(2));
  if (f.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const prefix = f.prefix ?? runPrefix('s');
  const root = `/run/awsvpcd-soak-${prefix}`;
  const host = new SoakHost(prefix, root, 60_000);
  if (f.cleanupOnly) {
    await host.cleanup(log);
    log(`removed whatever remained under prefix ${prefix}`);
    return 0;
  }
  await preflight(f);
  const unitEnv = unitEnvironment(await readFile(path.join(REPO, 'systemd/awsvpcd.service'), 'utf8'));
  const { NODE_OPTIONS: unitNodeOptions, ...daemonEnv } = unitEnv;
  const d = new DaemonProc({
    cli: f.cli,
    root,
    isolateEnv: true,
    env: daemonEnv,
    nodeArgs: (unitNodeOptions ?? '').split(/\s+/).filter(Boolean),
    apiTimeoutMs: 30_000,
    readyTimeoutMs: 120_000,
    readyPollMs: 100,
    stopTimeoutMs: 20_000,
    args: [
      '--cni-path', REFERENCE_CNI,
      '--plugins', 'reference',
      '--docker-host', host.engine.host,
      '--bridge-name', host.bridge,
      // Off the default 169.254.172.0/22 and the bench's 176, so this bridge shadows no other daemon's.
      '--ipam-subnet', '169.254.180.0/22',
      '--log-level', 'info',
      '--image-pull-behavior', 'prefer-cached',
      '--reconcile-interval-ms', '2000',
      // STOPPED tasks are forgotten (their records removed) 5 s after the stop once nothing is left to clean.
      '--stopped-task-retention-ms', '5000',
    ],
  });
  const random = rng(f.seed);
  const soak = new Soak(f, host, d);

  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      soak.aborted = true;
      host.pool.aborted = true;
      await d.stop(10_000).catch(() => d.kill());
      await mkdir(f.logDir, { recursive: true });
      await copyFile(d.logFile, path.join(f.logDir, `${prefix}-daemon.log`)).catch(() => undefined);
      await host.cleanup(log, path.join(f.logDir, `${prefix}-engine.log`));
      log(`removed everything under prefix ${prefix}; logs in ${f.logDir}/${prefix}-*.log`);
    })());
  let interrupted = 0;
  const onSignal = (sig: string): void => {
    // A Ctrl-C reaches this process and scripts/soak at once, and scripts/soak then sends SIGTERM: one
    // signal, not two. A second one some seconds later exits at once (scripts/soak then cleans up).
    if (interrupted && Date.now() - interrupted > 3_000) process.exit(130);
    if (interrupted) return;
    interrupted = Date.now();
    log(`${sig}: stopping and cleaning up (another signal after 3 s exits at once)`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  const loadStart = os.loadavg();
  try {
    log(`prefix ${prefix}, root ${root}, seed ${f.seed}: ${f.tasks} tasks, ${f.concurrency} at a time, ${f.kills} kills, ${f.engineRestarts} engine restarts`);
    await host.engine.start();
    await host.engine.loadImages();
    await host.vpcUp();
    await host.pool.fill(f.concurrency + 2);
    await d.start();
    soak.t0 = Date.now();
    await soak.checkpoint('start', 3_000);

    const events = schedule(f, random);
    let finished = false;
    const workers = Promise.all(Array.from({ length: f.concurrency }, () => soak.worker(random))).finally(() => (finished = true));
    const sampler = (async () => {
      let lastLog = 0;
      while (!finished && !soak.aborted) {
        const pid = d.pid;
        if (pid) {
          const s = await Promise.all([rssMiB(pid), fdCount(pid)]).catch(() => undefined);
          if (s) soak.samples.push({ atSec: soak.elapsedSec(), pid, rssMiB: s[0], fds: s[1], inFlight: soak.inFlight, done: soak.done });
          if (s && Date.now() - lastLog > 15_000) {
            lastLog = Date.now();
            log(`${soak.done}/${f.tasks} done, ${soak.inFlight} in flight, pid ${pid} RSS ${s[0]} MiB ${s[1]} fds, ${soak.kills.length}/${f.kills} kills, ${soak.engineRestarts.length}/${f.engineRestarts} engine restarts, load ${os.loadavg()[0]!.toFixed(1)}`);
          }
        }
        d.clearLines(); // the outcomes are kept apart from the lines; the lines themselves are not needed
        await sleep(5_000);
      }
    })();
    const controller = (async () => {
      for (const ev of events) {
        while (soak.next < ev.at && !finished && !soak.aborted) await sleep(50);
        if (soak.aborted || soak.cutOff) return;
        if (ev.kind === 'middle') {
          await soak.waitIdle();
          await soak.checkpoint('middle', f.settleMs);
          soak.passMiddle();
        } else if (ev.kind === 'kill') await soak.kill(random);
        else await soak.restartEngine();
      }
    })();
    await Promise.all([workers, controller]);
    await sampler;
    await soak.checkpoint('end', f.settleMs, f.leftoverWaitMs);
    for (const line of await host.leftoverMountHolders()) log(`leftover ${line}`);
    const notes: string[] = [];
    const held = soak.checkpoints[soak.checkpoints.length - 1]!.engineHeld;
    if (held?.tasks) notes.push(`at the end the engine still held ${held.containers} container rootfs busy (${held.tasks} tasks)`);
    const durationSec = soak.elapsedSec();
    if (soak.cutOff) notes.push(`--time-limit-min ${f.timeLimitMin} ran out: ${soak.next} of ${f.tasks} tasks taken; events after that were not run`);
    const mid = soak.checkpoints.find((c) => c.label === 'middle');
    const end = soak.checkpoints.find((c) => c.label === 'end');
    if (mid && end && mid.pid !== end.pid) notes.push(`the daemon was killed and restarted between the middle and the end: the two readings are of different processes (end pid had ${end.tasksSinceDaemonStart} tasks)`);
    const partial: Omit<Summary, 'verdict'> = {
      meta: {
        date: new Date(soak.t0).toISOString(),
        prefix,
        seed: f.seed,
        tasks: soak.next,
        tasksAsked: f.tasks,
        concurrency: f.concurrency,
        kills: f.kills,
        engineRestarts: f.engineRestarts,
        containersPerTask: f.containers,
        holdMs: f.holdMs,
        settleMs: f.settleMs,
        cpus: os.cpus().length,
        load: { start: loadStart, end: os.loadavg() },
        daemonCli: f.cli,
        notes,
      },
      durationSec,
      checkpoints: soak.checkpoints,
      kills: soak.kills,
      engineRestarts: soak.engineRestarts,
      outcomes: soak.outcomes(),
      samples: soak.samples,
      enisNotReturned: host.pool.notReturned,
    };
    const summary: Summary = { ...partial, verdict: verdict(partial) };
    if (f.json) {
      await writeJsonFile(f.json, summary);
      log(`summary written to ${f.json}`);
    }
    process.stdout.write(render(summary));
    return summary.verdict.pass ? 0 : 1;
  } finally {
    await cleanup();
  }
}

runMain(main, log, 2);
