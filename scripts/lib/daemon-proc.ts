// The daemon as a real process, for the bench and the integration tests: its own state, run and spool
// directories under one root, ready once /healthz answers 200, stopped with SIGTERM or crashed with SIGKILL
// at any point and started again on the same state. Its JSON log goes to daemon.log and is also read line
// by line as it is written, so a caller learns that a task is RUNNING or STOPPED without polling the API
// (and the bench takes the daemon's per-step times from the lines).
import { execa, type ResultPromise } from 'execa';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { ApiClient } from '../../agent/cli/client.js';
import type { DescribedTask } from '../../agent/task/describe.js';

/** The fields of a daemon log line that are kept; `t` is the line's own timestamp (epoch ms). */
export interface LogLine {
  t: number;
  level: number;
  msg: string;
  component?: string;
  taskArn?: string;
  call?: string;
  ms?: number;
  plugin?: string;
  command?: string;
  containerId?: string;
  durationMs?: number;
  cmd?: string[];
  reason?: string;
  cleanupErrors?: string[];
}

export interface Outcome {
  status: 'RUNNING' | 'STOPPED' | 'TIMEOUT';
  /** Daemon clock, epoch ms. */
  t: number;
  reason?: string;
}

export interface DaemonProcOptions {
  /** The daemon build to run: a dist/agent/cli/main.js. */
  cli: string;
  /** state/, run/, spool/ and daemon.log go under it. */
  root: string;
  /** Daemon flags beyond the directories. */
  args?: string[];
  /** Flags for node itself (V8 options such as --max-semi-space-size), before the script. */
  nodeArgs?: string[];
  /** Environment beyond the caller's (MALLOC_ARENA_MAX, say). */
  env?: Record<string, string>;
  /**
   * Pass on none of the caller's AWSVPCD_*, ECS_*, DOCKER_HOST and NODE_OPTIONS, so that only the flags and
   * `env` configure the daemon (a crash point meant for another process cannot leak in). Otherwise the
   * caller's environment goes to the daemon whole, `env` over it.
   */
  isolateEnv?: boolean;
  /** Deadline of each API request (default 30 s). */
  apiTimeoutMs?: number;
  /** How long start() waits for /healthz 200 (default 60 s), and how often it asks (default every 10 ms). */
  readyTimeoutMs?: number;
  readyPollMs?: number;
  /** How long stop() waits for the exit after SIGTERM before it sends SIGKILL (default 20 s). */
  stopTimeoutMs?: number;
  /** SIGKILL this long after any SIGTERM the daemon has not exited on, however long stop() would wait (default never). */
  forceKillAfterMs?: number;
}

const KEEP = ['component', 'taskArn', 'call', 'ms', 'plugin', 'command', 'containerId', 'durationMs', 'cmd', 'reason', 'cleanupErrors'] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The caller's environment without what configures a daemon behind its flags' back. */
function isolatedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(AWSVPCD_|ECS_|DOCKER_HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return env;
}

export class DaemonProc {
  readonly root: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly spoolDir: string;
  readonly socket: string;
  readonly logFile: string;
  readonly api: ApiClient;
  /** The log lines read since the start, or since clearLines(). */
  lines: LogLine[] = [];
  private proc: ResultPromise | undefined;
  /** Resolves once the process has exited, its output has ended and all of it is in daemon.log. */
  private done: Promise<unknown> | undefined;
  private readonly running = new Map<string, Outcome>();
  private readonly stopped = new Map<string, Outcome>();
  private readonly waiters = new Set<() => void>();

  constructor(protected readonly settings: DaemonProcOptions) {
    this.root = settings.root;
    this.stateDir = path.join(this.root, 'state');
    this.runDir = path.join(this.root, 'run');
    this.spoolDir = path.join(this.root, 'spool');
    this.socket = path.join(this.runDir, 'api.sock');
    this.logFile = path.join(this.root, 'daemon.log');
    this.api = new ApiClient(this.socket, settings.apiTimeoutMs ?? 30_000);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The daemon's arguments after the script: `daemon`, its directories, then flags(). */
  args(): string[] {
    return ['daemon', '--state-dir', this.stateDir, '--run-dir', this.runDir, '--spool-dir', this.spoolDir, ...this.flags()];
  }

  /** Daemon flags beyond the directories, read at every start. */
  protected flags(): string[] {
    return this.settings.args ?? [];
  }

  /** Environment beyond the caller's, read at every start. */
  protected extraEnv(): Record<string, string> {
    return { ...this.settings.env };
  }

  /** Spawns the daemon and waits for /healthz 200. Returns when it was spawned and when it answered (epoch ms). */
  async start(readyTimeoutMs = this.settings.readyTimeoutMs ?? 60_000): Promise<{ spawnedAt: number; readyAt: number }> {
    // A process still running from before (a test that failed before its stop) would be lost track of and
    // outlive the run, holding the test runner open: it goes first.
    if (this.proc) await this.kill();
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const isolate = this.settings.isolateEnv ?? false;
    const spawnedAt = Date.now();
    const proc = execa(process.execPath, [...(this.settings.nodeArgs ?? []), this.settings.cli, ...this.args()], {
      reject: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      env: isolate ? { ...isolatedEnv(), ...this.extraEnv() } : this.extraEnv(),
      extendEnv: !isolate,
      // Killed with this process if it dies first (a test worker that crashes leaves no daemon behind).
      cleanup: true,
      forceKillAfterDelay: this.settings.forceKillAfterMs ?? false,
    });
    this.proc = proc;
    readline.createInterface({ input: proc.stdout }).on('line', (l) => {
      log.write(l + '\n');
      this.onLine(l);
    });
    proc.stderr.on('data', (c: Buffer) => log.write(c));
    // 'close' comes after stdout's last line and stderr's last chunk.
    proc.once('close', () => log.end());
    this.done = Promise.all([proc, once(log, 'close')]);
    await this.waitReady(readyTimeoutMs);
    return { spawnedAt, readyAt: Date.now() };
  }

  /** Resolves once /healthz answers 200; rejects, with the log's tail, if the daemon exits or stays unready. */
  async waitReady(timeoutMs = this.settings.readyTimeoutMs ?? 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc && this.proc.exitCode !== null) {
        throw new Error(`daemon exited early (code ${this.proc.exitCode}); ${this.logFile}:\n${await this.logTail()}`);
      }
      const r = await this.api.request('GET', '/healthz').catch(() => undefined); // not listening yet
      if (r?.status === 200) return;
      if (Date.now() > end) throw new Error(`daemon not ready within ${timeoutMs} ms; ${this.logFile}:\n${await this.logTail()}`);
      await sleep(this.settings.readyPollMs ?? 10);
    }
  }

  private onLine(raw: string): void {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return;
    }
    const line: LogLine = { t: Date.parse(String(j.time)), level: Number(j.level), msg: String(j.msg ?? '') };
    for (const k of KEEP) if (j[k] !== undefined) (line as unknown as Record<string, unknown>)[k] = j[k];
    this.lines.push(line);
    if (line.taskArn && line.msg === 'task RUNNING') this.running.set(line.taskArn, { status: 'RUNNING', t: line.t });
    else if (line.taskArn && line.msg === 'task STOPPED') this.stopped.set(line.taskArn, { status: 'STOPPED', t: line.t, reason: line.reason });
    else return;
    for (const w of [...this.waiters]) w();
  }

  /**
   * From the log: resolves when the task is RUNNING (or STOPPED, a failure) when `want` is RUNNING, or when
   * it is STOPPED. `since` (epoch ms) ignores events from before, e.g. an earlier run of the same task.
   */
  waitFor(taskArn: string, want: 'RUNNING' | 'STOPPED', timeoutMs: number, since = 0): Promise<Outcome> {
    const check = (): Outcome | undefined => {
      const s = this.stopped.get(taskArn);
      if (s && s.t >= since) return s;
      const r = this.running.get(taskArn);
      if (want === 'RUNNING' && r && r.t >= since) return r;
      return undefined;
    };
    const now = check();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = (o: Outcome): void => {
        clearTimeout(timer);
        this.waiters.delete(w);
        resolve(o);
      };
      const w = (): void => {
        const o = check();
        if (o) done(o);
      };
      const timer = setTimeout(() => done({ status: 'TIMEOUT', t: Date.now() }), timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Forgets collected log lines (between the bench's phases, to keep its own memory flat). */
  clearLines(): void {
    this.lines = [];
  }

  /** The task as accepted: 202 for a new one, 200 for one the daemon already holds. */
  async submit(task: Record<string, unknown>): Promise<DescribedTask> {
    const r = await this.api.request<DescribedTask>('POST', '/v1/tasks', JSON.stringify(task));
    if (r.status !== 202 && r.status !== 200) throw new Error(`submit failed: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** A new task (202 only), and when the request went out and when it was accepted (epoch ms). */
  async submitTimed(task: Record<string, unknown>): Promise<{ sentAt: number; acceptedAt: number }> {
    const sentAt = Date.now();
    const r = await this.api.request('POST', '/v1/tasks', JSON.stringify(task));
    if (r.status !== 202) throw new Error(`submit: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return { sentAt, acceptedAt: Date.now() };
  }

  /** Asks for the task to stop; when the request went out and when it was accepted (epoch ms). */
  async stopTask(taskId: string): Promise<{ sentAt: number; acceptedAt: number }> {
    const sentAt = Date.now();
    const r = await this.api.request('POST', `/v1/tasks/${taskId}/stop`);
    if (r.status !== 202) throw new Error(`stop ${taskId}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return { sentAt, acceptedAt: Date.now() };
  }

  async describe(id: string): Promise<DescribedTask> {
    const r = await this.api.request<DescribedTask>('GET', `/v1/tasks/${id}`);
    if (r.status !== 200) throw new Error(`describe ${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /**
   * The daemon's memory as V8 and Node count it, from its /metrics (prom-client's nodejs_* families), in
   * MiB: the heap V8 holds from the system and the part of it in use (live objects and garbage not yet
   * collected), old space in use, and memory outside the heap that Node tracks (buffers). RSS adds what
   * none of them sees: the allocator's free lists, Node's and V8's own native memory.
   */
  async memory(): Promise<DaemonMemory> {
    const r = await this.api.request<string>('GET', '/metrics');
    if (r.status !== 200 || typeof r.body !== 'string') throw new Error(`metrics: HTTP ${r.status}`);
    return parseMemory(r.body);
  }

  async list(): Promise<DescribedTask[]> {
    const r = await this.api.request<{ tasks: DescribedTask[] }>('GET', '/v1/tasks');
    if (r.status !== 200) throw new Error(`list: HTTP ${r.status}`);
    return r.body.tasks;
  }

  /** Polls the API until the task's lastStatus is `want`; a STOPPED task fails any other wait at once. */
  async waitStatus(id: string, want: string, timeoutMs = 60_000): Promise<DescribedTask> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      // A task from the spool directory is unknown until the next scan picks its file up.
      const r = await this.api.request<DescribedTask>('GET', `/v1/tasks/${id}`);
      if (r.status === 404 && Date.now() < end) {
        await sleep(150);
        continue;
      }
      if (r.status !== 200) throw new Error(`describe ${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      const t = r.body;
      if (t.lastStatus === want) return t;
      if (t.lastStatus === 'STOPPED' && want !== 'STOPPED') {
        throw new Error(`task ${id} STOPPED while waiting for ${want}: ${t.stoppedReason}\n${await this.logTail()}`);
      }
      if (Date.now() > end) throw new Error(`task ${id} still ${t.lastStatus} after ${timeoutMs} ms (wanted ${want})\n${await this.logTail()}`);
      await sleep(150);
    }
  }

  /** Waits for the task's ENI attachment status (after STOPPED it reads DELETED once the ENI is back on the host). */
  async waitAttachment(id: string, want: string, timeoutMs = 30_000): Promise<DescribedTask> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const t = await this.describe(id);
      if (t.attachments[0]?.status === want) return t;
      if (Date.now() > end) throw new Error(`task ${id} attachment still ${t.attachments[0]?.status} after ${timeoutMs} ms (wanted ${want})`);
      await sleep(150);
    }
  }

  /** Drops a task file into the spool directory the way a producer must: written aside, then renamed in. */
  async writeSpool(name: string, task: Record<string, unknown>): Promise<void> {
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.spoolDir, `.${name}.tmp`);
    await writeFile(tmp, JSON.stringify(task));
    await rename(tmp, path.join(this.spoolDir, name));
  }

  /** How many times the daemon saved this task's record (the record's version counts them). */
  async saves(taskId: string): Promise<number | undefined> {
    try {
      const rec = JSON.parse(await readFile(path.join(this.stateDir, 'tasks', `${taskId}.json`), 'utf8')) as { version?: number };
      return rec.version;
    } catch {
      return undefined;
    }
  }

  async logTail(lines = 60): Promise<string> {
    try {
      return (await readFile(this.logFile, 'utf8')).split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** The same build's CLI against this daemon's socket. */
  cli(args: string[], reject = false) {
    return execa(process.execPath, [this.settings.cli, ...args, '--socket', this.socket], { reject, timeout: 120_000, stdin: 'ignore' });
  }

  /** Whether the process ended by itself (e.g. killed at a crash point) within the time. */
  async exited(timeoutMs = 30_000): Promise<boolean> {
    if (!this.done) return false;
    const r = await this.settles(this.done, timeoutMs);
    if (r) this.forget();
    return r;
  }

  /** SIGTERM and wait for the exit (SIGKILL after `timeoutMs`). Returns how long the shutdown took, ms. */
  async stop(timeoutMs = this.settings.stopTimeoutMs ?? 20_000): Promise<number> {
    const { proc, done } = this;
    if (!proc || !done) return 0;
    const t0 = Date.now();
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      if (!(await this.settles(done, timeoutMs))) await this.kill();
    }
    this.forget();
    return Date.now() - t0;
  }

  /** SIGKILL: a crash, with no chance to save anything. */
  async kill(): Promise<void> {
    const { proc, done } = this;
    if (!proc || !done) return;
    proc.kill('SIGKILL');
    await done;
    this.forget();
  }

  private forget(): void {
    this.proc = undefined;
    this.done = undefined;
  }

  private async settles(p: Promise<unknown>, timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([p.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs)))]);
    clearTimeout(timer);
    return r;
  }
}

export interface DaemonMemory {
  heapTotalMiB: number;
  heapUsedMiB: number;
  oldSpaceUsedMiB: number;
  externalMiB: number;
}

/** DaemonProc.memory's figures from a /metrics text (Prometheus exposition of prom-client's defaults). */
export function parseMemory(text: string): DaemonMemory {
  const read = (re: RegExp): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`metrics: no ${re.source}`);
    return Math.round((Number(m[1]) / 1048576) * 10) / 10;
  };
  return {
    heapTotalMiB: read(/^nodejs_heap_size_total_bytes (\S+)$/m),
    heapUsedMiB: read(/^nodejs_heap_size_used_bytes (\S+)$/m),
    oldSpaceUsedMiB: read(/^nodejs_heap_space_size_used_bytes\{space="old"\} (\S+)$/m),
    externalMiB: read(/^nodejs_external_memory_bytes (\S+)$/m),
  };
}
