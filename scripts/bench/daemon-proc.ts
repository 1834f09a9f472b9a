// The daemon as a real process. Its JSON log is read line by line as it is written, so the bench learns
// that a task is RUNNING or STOPPED without polling the API, and takes the daemon's per-step times from it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { ApiClient } from '../../agent/cli/client.js';
import type { DescribedTask } from '../../agent/task/describe.js';
import { procCpu } from './cpu.js';

/** The fields of a daemon log line the bench reads; `t` is the line's own timestamp (epoch ms). */
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
  cli: string;
  root: string;
  /** Daemon flags beyond the directories. */
  args: string[];
  /** Flags for node itself (V8 options such as --max-semi-space-size), before the script. */
  nodeArgs?: string[];
  /** Environment beyond the caller's (MALLOC_ARENA_MAX, say). */
  env?: Record<string, string>;
}

const KEEP = ['component', 'taskArn', 'call', 'ms', 'plugin', 'command', 'containerId', 'durationMs', 'cmd', 'reason', 'cleanupErrors'] as const;

export class DaemonProc {
  readonly stateDir: string;
  readonly runDir: string;
  readonly spoolDir: string;
  readonly socket: string;
  readonly logFile: string;
  readonly api: ApiClient;
  lines: LogLine[] = [];
  private proc: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  private log: WriteStream | undefined;
  private readonly running = new Map<string, Outcome>();
  private readonly stopped = new Map<string, Outcome>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly o: DaemonProcOptions) {
    this.stateDir = path.join(o.root, 'state');
    this.runDir = path.join(o.root, 'run');
    this.spoolDir = path.join(o.root, 'spool');
    this.socket = path.join(this.runDir, 'api.sock');
    this.logFile = path.join(o.root, 'daemon.log');
    this.api = new ApiClient(this.socket, 30_000);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Spawns the daemon and waits for /healthz 200. Returns when it was spawned and when it answered (epoch ms). */
  async start(readyTimeoutMs = 60_000): Promise<{ spawnedAt: number; readyAt: number }> {
    await mkdir(this.o.root, { recursive: true, mode: 0o700 });
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    const env: NodeJS.ProcessEnv = {};
    // Only the flags configure it: no AWSVPCD_*/ECS_* variable (a crash point, say) leaks in from the caller.
    for (const [k, v] of Object.entries(process.env)) if (!/^(AWSVPCD_|ECS_|DOCKER_HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
    Object.assign(env, this.o.env);
    const args = [
      ...(this.o.nodeArgs ?? []),
      this.o.cli, 'daemon',
      '--state-dir', this.stateDir,
      '--run-dir', this.runDir,
      '--spool-dir', this.spoolDir,
      ...this.o.args,
    ];
    const spawnedAt = Date.now();
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.proc = proc;
    this.exit = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    readline.createInterface({ input: proc.stdout! }).on('line', (l) => this.onLine(l));
    proc.stderr!.on('data', (c: Buffer) => this.log?.write(c));
    const end = spawnedAt + readyTimeoutMs;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`daemon exited at start (code ${proc.exitCode}); see ${this.logFile}`);
      const r = await this.api.request('GET', '/healthz').catch(() => undefined);
      if (r?.status === 200) return { spawnedAt, readyAt: Date.now() };
      if (Date.now() > end) throw new Error(`daemon not ready within ${readyTimeoutMs} ms; see ${this.logFile}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  }

  private onLine(raw: string): void {
    this.log?.write(raw + '\n');
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
   * Resolves when the task is RUNNING (or STOPPED, a failure) when `want` is RUNNING, or when it is STOPPED.
   * `since` (epoch ms) ignores events from before, e.g. an earlier run of the same task.
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

  async submit(task: Record<string, unknown>): Promise<{ sentAt: number; acceptedAt: number }> {
    const sentAt = Date.now();
    const r = await this.api.request('POST', '/v1/tasks', JSON.stringify(task));
    if (r.status !== 202) throw new Error(`submit: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return { sentAt, acceptedAt: Date.now() };
  }

  async stopTask(taskId: string): Promise<{ sentAt: number; acceptedAt: number }> {
    const sentAt = Date.now();
    const r = await this.api.request('POST', `/v1/tasks/${taskId}/stop`);
    if (r.status !== 202) throw new Error(`stop ${taskId}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return { sentAt, acceptedAt: Date.now() };
  }

  async describe(taskId: string): Promise<DescribedTask> {
    const r = await this.api.request<DescribedTask>('GET', `/v1/tasks/${taskId}`);
    if (r.status !== 200) throw new Error(`describe ${taskId}: HTTP ${r.status}`);
    return r.body;
  }

  async list(): Promise<DescribedTask[]> {
    const r = await this.api.request<{ tasks: DescribedTask[] }>('GET', '/v1/tasks');
    if (r.status !== 200) throw new Error(`list: HTTP ${r.status}`);
    return r.body.tasks;
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

  /**
   * CPU time the daemon has used, ms: its own, and that of the children it has waited for (plugins,
   * mount, nsenter). Less swayed by a busy machine than wall time.
   */
  async cpuMs(): Promise<{ self: number; children: number }> {
    const c = await procCpu(this.pid!);
    return { self: c.self * 1000, children: c.children * 1000 };
  }

  /** VmRSS of the daemon process, MiB. */
  async rssMiB(): Promise<number> {
    const s = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(s)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  }

  /** SIGTERM and wait for the exit (SIGKILL after `timeoutMs`). Returns how long the shutdown took. */
  async stop(timeoutMs = 20_000): Promise<number> {
    const proc = this.proc;
    if (!proc || !this.exit) return 0;
    const t0 = Date.now();
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      const timedOut = await Promise.race([this.exit.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs))]);
      if (timedOut) {
        proc.kill('SIGKILL');
        await this.exit;
      }
    }
    this.proc = undefined;
    return Date.now() - t0;
  }

  kill(): void {
    if (this.proc?.exitCode === null) this.proc.kill('SIGKILL');
  }

  /** Forgets collected log lines (between phases, to keep the bench's own memory flat). */
  clearLines(): void {
    this.lines = [];
  }
}
