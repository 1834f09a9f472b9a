// systemd's notify protocol (sd_notify(3)) for a Type=notify unit: READY=1 after the first
// reconciliation, STOPPING=1 at shutdown, WATCHDOG=1 at half of WATCHDOG_USEC.
//
// Why `systemd-notify` through execa: Node has no unix datagram sockets, and the protocol needs one.
// systemd-notify is systemd's own client, installed wherever systemd runs; it speaks every NOTIFY_SOCKET
// form (a path, an abstract "@name", vsock), and it waits until the manager has read the message (BARRIER=1),
// so nothing is lost when it exits. Run as root it sends with our PID as the sender (it reports for its
// parent), so systemd counts the message as the main process's; the unit still sets NotifyAccess=all so a
// non-root run works too. The npm alternatives are native addons (sd-notify needs libsystemd headers and a
// compiler at install; unix-dgram has gone years between releases): a build step on every host for one
// datagram now and then is a worse trade than one short-lived process.
import { execa } from 'execa';
import type { Logger } from 'pino';

export type NotifyExec = (args: string[], env: Record<string, string>, timeoutMs: number) => Promise<{ exitCode: number | undefined; stderr: string }>;

const execNotify: NotifyExec = async (args, env, timeoutMs) => {
  const r = await execa('systemd-notify', args, { env, extendEnv: false, timeout: timeoutMs, reject: false, stdin: 'ignore' });
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  return { exitCode: r.exitCode, stderr: r.failed && r.exitCode === undefined ? `${r.shortMessage} ${stderr}`.trim() : stderr };
};

/** The variables systemd hands a notify service; taken out of the environment so children never inherit them. */
const NOTIFY_VARS = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

const SEND_TIMEOUT_MS = 10_000;

export class SystemdNotifier {
  private queue: Promise<void> = Promise.resolve();
  private watchdog: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    /** NOTIFY_SOCKET; undefined: not run by systemd (or not Type=notify), every call is a no-op. */
    readonly socket: string | undefined,
    /** Half of this is the ping interval; undefined: no watchdog. */
    readonly watchdogUsec: number | undefined,
    private readonly log: Logger,
    private readonly exec: NotifyExec = execNotify,
  ) {}

  /**
   * Reads (and, with unset, removes) NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. A WATCHDOG_PID that is
   * not ours means the watchdog is meant for another process (sd_watchdog_enabled(3)).
   */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger, opts: { unset?: boolean; pid?: number; exec?: NotifyExec } = {}): SystemdNotifier {
    const socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const wpid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : undefined;
    const mine = wpid === undefined || wpid === (opts.pid ?? process.pid);
    const watchdogUsec = Number.isSafeInteger(usec) && usec > 0 && mine ? usec : undefined;
    if (opts.unset) for (const v of NOTIFY_VARS) delete env[v];
    return new SystemdNotifier(socket, watchdogUsec, log, opts.exec);
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** The watchdog ping interval in ms (half the timeout, as sd_watchdog_enabled(3) advises). */
  get watchdogIntervalMs(): number | undefined {
    return this.watchdogUsec === undefined ? undefined : Math.max(1, Math.floor(this.watchdogUsec / 2000));
  }

  ready(status: string): Promise<void> {
    return this.send(['READY=1', `STATUS=${status}`]);
  }

  stopping(): Promise<void> {
    this.stopWatchdog();
    return this.send(['STOPPING=1', 'STATUS=stopping; tasks keep running']);
  }

  /**
   * Pings WATCHDOG=1 every half interval. The timer runs on the event loop, so a ping proves the loop is
   * alive; a daemon stuck in a synchronous loop stops pinging and systemd restarts it.
   */
  startWatchdog(): void {
    const every = this.watchdogIntervalMs;
    if (!this.enabled || every === undefined || this.watchdog) return;
    this.watchdog = setInterval(() => void this.send(['WATCHDOG=1']), every);
    this.watchdog.unref();
    void this.send(['WATCHDOG=1']);
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** Messages go out one at a time, in order; a failure is logged (systemd then times the unit out) and never thrown. */
  private send(lines: string[]): Promise<void> {
    if (!this.socket) return Promise.resolve();
    const socket = this.socket;
    const next = this.queue.then(async () => {
      try {
        const r = await this.exec(lines, { NOTIFY_SOCKET: socket, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, SEND_TIMEOUT_MS);
        if (r.exitCode === 0) {
          this.log.debug({ message: lines }, 'sd_notify sent');
          return;
        }
        throw new Error(r.stderr.trim() || `systemd-notify exited ${r.exitCode}`);
      } catch (err) {
        // Logged in full for the first few; a watchdog failing every few seconds must not flood the journal.
        if (++this.failures <= 3) this.log.error({ err, message: lines, socket }, 'could not notify systemd');
      }
    });
    this.queue = next;
    return next;
  }
}
