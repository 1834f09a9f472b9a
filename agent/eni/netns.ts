// Host-side network operations that are not a CNI plugin's job: keeping a task's network namespace
// alive independently of its pause process, running a command inside it, and host bridge addressing.
import { execa } from 'execa';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { Address6 } from 'ip-address';
import { DeadlineError } from '../errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface TaskNetns {
  /**
   * Bind-mounts /proc/<pid>/ns/net at <runDir>/netns/<name>, as `ip netns` does, so the namespace
   * (and the ENI inside it) outlives a pause container killed from outside, and CNI DEL can still run.
   */
  pinNetns(pid: number, name: string): Promise<string>;
  /** Where pinNetns(…, name) puts the namespace (saved as intent before pinning). */
  netnsPathFor(name: string): string;
  /** Every pinned namespace path under the run dir (for orphan reconciliation). */
  listPinned(): Promise<string[]>;
  /** Unmounts and removes a pinned namespace; a missing one is not an error. */
  releaseNetns(netnsPath: string): Promise<void>;
  /** Whether a path still refers to a network namespace. */
  netnsAlive(netnsPath: string): Promise<boolean>;
  execInNetns(netnsPath: string, argv: string[], timeoutMs?: number): Promise<ExecResult>;
  /**
   * What the namespace of `pid` holds, read from /proc (no exec, cheap enough for every reconcile pass):
   * interface names with their rx/tx byte counters, the local IPv4 addresses (fib_trie) and the IPv6
   * addresses with their DAD state (if_inet6).
   */
  readNetns(pid: number): Promise<NetnsSnapshot | undefined>;
  /**
   * Links (name, MAC, state, addresses) and routes of both families inside a namespace, read with `ip -j`:
   * what a CNI ADD claims is checked against this, since some plugins report work they did not do.
   * undefined: the path holds no namespace.
   */
  inspectNetns(netnsPath: string): Promise<NetnsDetail | undefined>;
  /** The namespace's identity (nsfs device and inode), to tell whether two paths hold the same one. */
  netnsIdentity(netnsPath: string): Promise<string | undefined>;
  /** `ip route replace blackhole <dst>` inside the namespace (idempotent). */
  addBlackholeRoute(netnsPath: string, dst: string): Promise<void>;
  /** `ip -6 route replace default via <gateway> dev <dev>` inside the namespace (idempotent). */
  addIpv6DefaultRoute(netnsPath: string, gateway: string, dev: string): Promise<void>;
  /** Puts `cidr` on `bridge` in the host namespace unless it is already there (idempotent). */
  ensureBridgeAddress(bridge: string, cidr: string): Promise<void>;
}

export interface NetnsSnapshot {
  interfaces: Map<string, { rxBytes: number; txBytes: number }>;
  /** Local addresses of both families (IPv6 in canonical form, link-local left out). */
  addresses: Set<string>;
  /** IPv6 addresses still in duplicate address detection (IFA_F_TENTATIVE), not usable yet. */
  tentative?: Set<string>;
  /** IPv6 addresses whose duplicate address detection failed (IFA_F_DADFAILED): never usable. */
  dadFailed?: Set<string>;
}

export interface NetnsLink {
  name: string;
  mac: string;
  up: boolean;
  /** "address/prefix", both families, link-local IPv6 left out. */
  addrs: string[];
}

export interface NetnsRoute {
  /** "default", or a CIDR (a host route as "a.b.c.d/32"). */
  dst: string;
  type: string;
  gateway?: string;
  dev?: string;
}

export interface NetnsDetail {
  links: NetnsLink[];
  routes: NetnsRoute[];
}

const IP_TIMEOUT_MS = 10_000;

/** `ip -j addr` and `ip -j route` (both families) output -> NetnsDetail. */
export function parseNetnsDetail(addrJson: string, routeJson4: string, routeJson6: string): NetnsDetail {
  const links: NetnsLink[] = [];
  for (const l of asArray(JSON.parse(addrJson || '[]'))) {
    const addrs: string[] = [];
    for (const a of asArray(l.addr_info)) {
      if (typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
      if (a.scope === 'link' || a.scope === 'host') continue;
      addrs.push(`${a.local}/${a.prefixlen}`);
    }
    const flags = Array.isArray(l.flags) ? (l.flags as unknown[]) : [];
    links.push({ name: String(l.ifname ?? ''), mac: String(l.address ?? '').toLowerCase(), up: flags.includes('UP'), addrs });
  }
  const routes: NetnsRoute[] = [];
  for (const [json, family] of [[routeJson4, 4], [routeJson6, 6]] as const) {
    for (const r of asArray(JSON.parse(json || '[]'))) {
      let dst = String(r.dst ?? '');
      if (dst !== 'default' && !dst.includes('/')) dst = `${dst}/${family === 4 ? 32 : 128}`;
      const route: NetnsRoute = { dst, type: typeof r.type === 'string' ? r.type : 'unicast' };
      if (typeof r.gateway === 'string') route.gateway = r.gateway;
      if (typeof r.dev === 'string') route.dev = r.dev;
      routes.push(route);
    }
  }
  return { links, routes };
}

function asArray(v: unknown): Array<Record<string, unknown> & { addr_info?: unknown }> {
  return Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as Array<Record<string, unknown>>) : [];
}

const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

/**
 * /proc/net/if_inet6: one line per IPv6 address, "<32 hex> <ifindex> <prefix> <scope> <flags> <ifname>",
 * all hex. Link-local (scope 0x20) and loopback (0x10) addresses are left out.
 */
export function parseIfInet6(text: string): { addresses: Set<string>; tentative: Set<string>; dadFailed: Set<string> } {
  const addresses = new Set<string>();
  const tentative = new Set<string>();
  const dadFailed = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !/^[0-9a-f]{32}$/i.test(f[0]!)) continue;
    const scope = parseInt(f[3]!, 16);
    if (scope === 0x20 || scope === 0x10) continue;
    const flags = parseInt(f[4]!, 16);
    const a = new Address6(f[0]!.match(/.{4}/g)!.join(':')).correctForm();
    addresses.add(a);
    if (flags & IFA_F_TENTATIVE) tentative.add(a);
    if (flags & IFA_F_DADFAILED) dadFailed.add(a);
  }
  return { addresses, tentative, dadFailed };
}

/** Parses /proc/<pid>/net/dev and /proc/<pid>/net/fib_trie (and /proc/<pid>/net/if_inet6 when IPv6 is there). */
export function parseNetnsSnapshot(dev: string, fibTrie: string, ifInet6 = ''): NetnsSnapshot {
  const interfaces = new Map<string, { rxBytes: number; txBytes: number }>();
  for (const line of dev.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    interfaces.set(m[1]!, { rxBytes: f[0] ?? 0, txBytes: f[8] ?? 0 });
  }
  const addresses = new Set<string>();
  const lines = fibTrie.split('\n');
  for (let i = 1; i < lines.length; i++) {
    if (/\/32 host LOCAL/.test(lines[i]!)) {
      const m = /\|-- (\d+\.\d+\.\d+\.\d+)/.exec(lines[i - 1]!);
      if (m) addresses.add(m[1]!);
    }
  }
  const v6 = parseIfInet6(ifInet6);
  for (const a of v6.addresses) addresses.add(a);
  return { interfaces, addresses, tentative: v6.tentative, dadFailed: v6.dadFailed };
}

export class IpTaskNetns implements TaskNetns {
  private readonly netnsDir: string;
  private readonly log: Logger;

  constructor(opts: { runDir: string; logger: Logger }) {
    this.netnsDir = path.join(opts.runDir, 'netns');
    this.log = opts.logger;
  }

  private async run(file: string, args: string[], timeoutMs = IP_TIMEOUT_MS): Promise<ExecResult> {
    const r = await execa(file, args, { reject: false, timeout: timeoutMs, killSignal: 'SIGKILL', stdin: 'ignore' });
    if (r.timedOut) throw new DeadlineError(`${file} ${args.join(' ')}`, timeoutMs);
    this.log.debug({ cmd: [file, ...args], exitCode: r.exitCode }, 'host command');
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }

  private async must(file: string, args: string[]): Promise<ExecResult> {
    const r = await this.run(file, args);
    if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
    return r;
  }

  netnsPathFor(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(name)) throw new Error(`unsafe netns name ${JSON.stringify(name)}`);
    return path.join(this.netnsDir, name);
  }

  async listPinned(): Promise<string[]> {
    try {
      return (await readdir(this.netnsDir)).map((n) => path.join(this.netnsDir, n));
    } catch {
      return [];
    }
  }

  async pinNetns(pid: number, name: string): Promise<string> {
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`cannot pin the namespace of pid ${pid}`);
    const target = this.netnsPathFor(name);
    await mkdir(this.netnsDir, { recursive: true, mode: 0o700 });
    // A leftover of a crash between pin and save is released first; a path that does not exist has no mount.
    if (await this.mounted(target) !== undefined) await this.releaseNetns(target);
    await writeFile(target, '', { mode: 0o400 });
    await this.must('mount', ['--bind', `/proc/${pid}/ns/net`, target]);
    return target;
  }

  async releaseNetns(netnsPath: string): Promise<void> {
    if (path.dirname(netnsPath) !== this.netnsDir) throw new Error(`refusing to release ${netnsPath}: not under ${this.netnsDir}`);
    // Unmount until nothing is mounted there (a path may have been pinned twice by a crash in between).
    for (let i = 0; i < 4 && (await this.mounted(netnsPath)); i++) {
      const r = await this.run('umount', [netnsPath]);
      if (r.exitCode !== 0) break;
    }
    await rm(netnsPath, { force: true });
  }

  /**
   * Whether something is mounted on `p` (a pinned namespace lives on nsfs, another device than its
   * directory), read with stat so the common cases spawn no umount that can only fail.
   * undefined: `p` does not exist.
   */
  private async mounted(p: string): Promise<boolean | undefined> {
    try {
      const [file, dir] = await Promise.all([stat(p), stat(path.dirname(p))]);
      return file.dev !== dir.dev;
    } catch {
      return undefined;
    }
  }

  async netnsAlive(netnsPath: string): Promise<boolean> {
    try {
      await stat(netnsPath);
    } catch {
      return false;
    }
    const r = await this.run('nsenter', [`--net=${netnsPath}`, 'true']);
    return r.exitCode === 0;
  }

  execInNetns(netnsPath: string, argv: string[], timeoutMs = IP_TIMEOUT_MS): Promise<ExecResult> {
    return this.run('nsenter', [`--net=${netnsPath}`, '--', ...argv], timeoutMs);
  }

  async readNetns(pid: number): Promise<NetnsSnapshot | undefined> {
    try {
      const [dev, fib, inet6] = await Promise.all([
        readFile(`/proc/${pid}/net/dev`, 'utf8'),
        readFile(`/proc/${pid}/net/fib_trie`, 'utf8'),
        // Absent where IPv6 is off in the namespace (or the kernel has none).
        readFile(`/proc/${pid}/net/if_inet6`, 'utf8').catch(() => ''),
      ]);
      return parseNetnsSnapshot(dev, fib, inet6);
    } catch {
      return undefined; // the process is gone
    }
  }

  async inspectNetns(netnsPath: string): Promise<NetnsDetail | undefined> {
    if (!(await this.netnsIdentity(netnsPath))) return undefined;
    const [addr, r4, r6] = await Promise.all([
      this.execInNetns(netnsPath, ['ip', '-j', 'addr', 'show']),
      this.execInNetns(netnsPath, ['ip', '-j', '-4', 'route', 'show', 'table', 'main']),
      this.execInNetns(netnsPath, ['ip', '-j', '-6', 'route', 'show', 'table', 'main']),
    ]);
    for (const r of [addr, r4, r6]) {
      if (r.exitCode !== 0) throw new Error(`reading the namespace ${netnsPath} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
    }
    return parseNetnsDetail(addr.stdout, r4.stdout, r6.stdout);
  }

  async netnsIdentity(netnsPath: string): Promise<string | undefined> {
    try {
      const st = await stat(netnsPath);
      // A pinned path that lost its mount is an empty file on the run dir's filesystem, not an nsfs inode.
      if (st.size !== 0 || st.isDirectory()) return undefined;
      const dir = await stat(path.dirname(netnsPath));
      if (st.dev === dir.dev && !netnsPath.startsWith('/proc/')) return undefined;
      return `${st.dev}:${st.ino}`;
    } catch {
      return undefined;
    }
  }

  async addBlackholeRoute(netnsPath: string, dst: string): Promise<void> {
    const r = await this.execInNetns(netnsPath, ['ip', 'route', 'replace', 'blackhole', dst]);
    if (r.exitCode !== 0) throw new Error(`adding blackhole route ${dst} failed: ${r.stderr.trim()}`);
  }

  async addIpv6DefaultRoute(netnsPath: string, gateway: string, dev: string): Promise<void> {
    const r = await this.execInNetns(netnsPath, ['ip', '-6', 'route', 'replace', 'default', 'via', gateway, 'dev', dev]);
    if (r.exitCode !== 0) throw new Error(`adding the IPv6 default route via ${gateway} failed: ${r.stderr.trim()}`);
  }

  async ensureBridgeAddress(bridge: string, cidr: string): Promise<void> {
    // Every task after the first finds it there, with no process to start. Only links that are up are
    // listed, so a link that is down (or an address not shown) just falls through to ip.
    if (networkInterfaces()[bridge]?.some((a) => a.family === 'IPv4' && a.cidr === cidr)) return;
    const r = await this.run('ip', ['addr', 'add', cidr, 'dev', bridge]);
    // EEXIST is success: another task (or an earlier start) put it there (CNI plugins PR #366).
    if (r.exitCode !== 0 && !/File exists|already assigned/i.test(r.stderr)) {
      throw new Error(`ip addr add ${cidr} dev ${bridge} failed: ${r.stderr.trim()}`);
    }
  }
}
