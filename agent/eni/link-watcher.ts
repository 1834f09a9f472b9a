// Finds host links by MAC: a netlink dump to list, link events to wake waiters, and a periodic re-list
// in case an event is missed (the ECS agent re-lists every 30 s; we re-list every second while someone waits).
import { createRtNetlink, Protocol, RawNetlinkSocket, rt, type RtNetlinkSocket } from 'netlink';
import type { Logger } from 'pino';
import { DeadlineError } from '../errors.js';
import { withDeadline } from '../util/deadline.js';
import { Mutex } from '../util/mutex.js';

export interface HostLink {
  name: string;
  index: number;
  /** Lowercase, colon separated. */
  mac: string;
  /** rtnetlink link kind (veth, bridge, ...); undefined for physical devices such as a real ENI. */
  kind?: string;
  up: boolean;
  /** ifindex of the bridge (or bond) this link is a port of. */
  master?: number;
}

export interface LinkWatcher {
  list(): Promise<HostLink[]>;
  findByMac(mac: string): Promise<HostLink | undefined>;
  /** Resolves when a link with this MAC is on the host; rejects with DeadlineError at `deadline`. */
  waitForMac(mac: string, deadline: number, signal?: AbortSignal): Promise<HostLink>;
  close(): void;
}

const LIST_TIMEOUT_MS = 5_000;

function macOf(buf: unknown): string {
  if (!(buf instanceof Uint8Array) || buf.length !== 6) return '';
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** IFLA_INFO_KIND (nested attribute 1 of IFLA_LINKINFO), e.g. "veth" or "bridge". */
function linkKind(info: unknown): string | undefined {
  if (!(info instanceof Uint8Array)) return undefined;
  const b = Buffer.from(info.buffer, info.byteOffset, info.byteLength);
  for (let off = 0; off + 4 <= b.length; ) {
    const len = b.readUInt16LE(off);
    const type = b.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) break;
    if (type === 1) return b.subarray(off + 4, off + len).toString('utf8').replace(/\0+$/, '');
    off += (len + 3) & ~3;
  }
  return undefined;
}

export class NetlinkLinkWatcher implements LinkWatcher {
  private readonly requests: RtNetlinkSocket;
  /**
   * Link events only wake waiters, so they are read raw and never parsed: every daemon on the host gets
   * every link event of every task (veths made, moved, deleted), and parsing them cost more than the dump
   * that finds the ENI (CPU profile: ~8 ms a task). The group is joined only while someone waits.
   */
  private events: RawNetlinkSocket | undefined;
  private watching = 0;
  private readonly waiters = new Set<() => void>();
  private readonly log: Logger;
  private readonly relistMs: number;
  /**
   * One dump at a time on the request socket: a second dump sent while one is answered fails with EBUSY or
   * "Multipart message not terminated properly" (8 at once: 141 of 160 failed), and tasks set up side by side,
   * an admission's capacity check and the ENI waits of a restart all list links.
   */
  private readonly dumps = new Mutex();

  constructor(opts: { logger: Logger; relistMs?: number }) {
    this.log = opts.logger;
    this.relistMs = opts.relistMs ?? 1_000;
    this.requests = createRtNetlink();
    this.requests.socket.unref();
  }

  async list(): Promise<HostLink[]> {
    const msgs = await this.dumps.run(() => withDeadline(this.requests.getLinks(), LIST_TIMEOUT_MS, 'netlink link dump'));
    return msgs.map((m) => ({
      name: String(m.attrs.ifname ?? ''),
      index: m.data.index ?? 0,
      mac: macOf(m.attrs.address),
      kind: linkKind(m.attrs.linkinfo),
      up: Boolean(m.data.flags?.up),
      master: typeof m.attrs.master === 'number' ? m.attrs.master : undefined,
    }));
  }

  async findByMac(mac: string): Promise<HostLink | undefined> {
    const want = mac.toLowerCase();
    return (await this.list()).find((l) => l.mac === want);
  }

  async waitForMac(mac: string, deadline: number, signal?: AbortSignal): Promise<HostLink> {
    // Joined before the first dump, so an event between that dump and the wait below is not missed.
    this.watch(+1);
    try {
      return await this.waitLoop(mac, deadline, signal);
    } finally {
      this.watch(-1);
    }
  }

  private async waitLoop(mac: string, deadline: number, signal?: AbortSignal): Promise<HostLink> {
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const found = await this.findByMac(mac);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new DeadlineError(`waiting for a link with MAC ${mac}`, deadline - started);
      // Sleep until a link event, the re-list tick, the deadline or an abort, whichever is first.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, this.relistMs));
        this.waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Counts waiters; the first joins the link event group (opening the socket once), the last leaves it. */
  private watch(delta: 1 | -1): void {
    this.watching += delta;
    const first = delta > 0 && this.watching === 1;
    if (!first && this.watching !== 0) return;
    if (first && !this.events) this.openEvents();
    try {
      if (first) this.events?.addMembership(rt.MulticastGroups.LINK);
      else this.events?.dropMembership(rt.MulticastGroups.LINK);
    } catch (err) {
      // Polling still finds the link; events only make it faster.
      this.log.warn({ err }, 'netlink link events: membership change failed; polling only');
    }
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  private openEvents(): void {
    try {
      const sock = new RawNetlinkSocket(Protocol.ROUTE);
      sock.on('message', () => this.wakeAll());
      sock.on('error', (err) => {
        // ENOBUFS: events were dropped, so a waiter may have missed its link; waking them all re-lists.
        this.wakeAll();
        if (err.code !== 'ENOBUFS') this.log.warn({ err }, 'netlink link events socket error');
      });
      sock.unref();
      this.events = sock;
    } catch (err) {
      // Polling still finds the link; events only make it faster.
      this.log.warn({ err }, 'netlink link events unavailable; falling back to polling');
    }
  }

  close(): void {
    this.wakeAll();
    this.events?.close();
    this.requests.socket.close();
  }
}
