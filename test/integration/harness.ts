// Integration harness: a real engine, real plugins, stand-in ENIs in namespaces the test makes, and the
// daemon as a real process. Everything is named with a per-run prefix and removed afterwards, also on failure.
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc as Daemon } from '../../scripts/lib/daemon-proc.js';
import { BUILT_CLI, REFERENCE_CNI, REPO, TEST_ENGINE } from '../../scripts/lib/repo.js';
import { runPrefix as prefixTagged } from '../../scripts/lib/run-prefix.js';
import { STAND_IN, eniAdd, eniDel, vpcDown, vpcUp, type Eni, type Vpc6 } from '../../scripts/lib/stand-in.js';
import { taskDocument } from '../../scripts/lib/task-doc.js';

export { REFERENCE_CNI, REPO, STAND_IN, type Eni };
export const ENGINE = TEST_ENGINE;
export const CLI = BUILT_CLI;

/** This run's prefix: `t` (a test run) and six hex digits. */
export function runPrefix(): string {
  return prefixTagged('t');
}

export async function sh(file: string, args: string[], opts: { reject?: boolean; timeout?: number; env?: Record<string, string> } = {}) {
  return execa(file, args, { reject: opts.reject ?? true, timeout: opts.timeout ?? 60_000, env: opts.env, stdin: 'ignore' });
}

export function docker(args: string[], reject = true, engine = ENGINE) {
  return sh('docker', ['--host', engine, ...args], { reject });
}

/** Every requirement is checked and named; in CI a missing one fails the suite rather than skipping it. */
export async function requireEnvironment(): Promise<void> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (integration tests create namespaces and links)');
  const ping = await sh('docker', ['--host', ENGINE, 'version', '--format', '{{.Server.APIVersion}}'], { reject: false });
  if (ping.exitCode !== 0) missing.push(`a Docker engine at ${ENGINE} (start it with scripts/engine start)`);
  else {
    for (const img of ['awsvpcd/pause:0.1.0', 'busybox:latest']) {
      const r = await docker(['image', 'inspect', img], false);
      if (r.exitCode !== 0) missing.push(`image ${img} (run scripts/build-images)`);
    }
  }
  for (const p of ['host-device', 'static', 'bridge', 'host-local']) {
    const r = await sh('test', ['-x', path.join(REFERENCE_CNI, p)], { reject: false });
    if (r.exitCode !== 0) missing.push(`${REFERENCE_CNI}/${p} (apt-get install containernetworking-plugins)`);
  }
  const built = await sh('test', ['-f', CLI], { reject: false });
  if (built.exitCode !== 0) missing.push(`${CLI} (npm run build)`);
  if (missing.length) throw new Error(`integration requirements missing:\n - ${missing.join('\n - ')}`);
}

export interface AddEniOptions {
  /**
   * Run `stand-in-eni eni-watch` beside the stand-in, so it behaves like an EC2 ENA device: when the namespace it
   * was moved into is destroyed, the pair is re-created on the host (same MAC, down, no address) and plugged into
   * the VPC again. Stopped by removeEni/down, and by itself if this process dies.
   */
  returning?: boolean;
  /** The watcher's --interval-ms (its polling interval; default the script's). */
  watchIntervalMs?: number;
}

/** The name of a stand-in's end inside the VPC namespace (scripts/stand-in-eni: v-<md5(DEV)[0..8]>). */
export function vpcEndOf(dev: string): string {
  return `v-${createHash('md5').update(dev).digest('hex').slice(0, 8)}`;
}

/** A running `stand-in-eni eni-watch` for one stand-in ENI; its stderr lines are kept. */
export class EniWatcher {
  readonly lines: string[] = [];
  private partial = '';
  private exitCode: number | undefined | null;
  private readonly done: Promise<void>;

  private constructor(
    readonly vpcNs: string,
    readonly eni: Eni,
    private readonly proc: ResultPromise,
  ) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.done = proc.then(
      (r) => void (this.exitCode = r.exitCode ?? null),
      () => void (this.exitCode = null),
    );
  }

  /** Starts the watcher and resolves once it watches (rejects with its output if it refuses or exits). */
  static async start(vpcNs: string, eni: Eni, intervalMs?: number, timeoutMs = 10_000): Promise<EniWatcher> {
    const args = ['eni-watch', '--ns', vpcNs, '--dev', eni.dev, '--mac', eni.mac, '--while-pid', String(process.pid)];
    if (intervalMs !== undefined) args.push('--interval-ms', String(intervalMs));
    const proc = execa(STAND_IN, args, { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: false, cleanup: true });
    const w = new EniWatcher(vpcNs, eni, proc);
    const end = Date.now() + timeoutMs;
    while (!w.lines.some((l) => l.includes(`eni-watch ${eni.dev}: watching `))) {
      if (!w.running || Date.now() > end) {
        await w.stop();
        throw new Error(`eni-watch for ${eni.dev} did not start:\n${w.output()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return w;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** How many times the pair was re-created (one stderr line each). */
  get recreations(): number {
    return this.lines.filter((l) => / re-created #\d+: /.test(l)).length;
  }

  output(): string {
    return [...this.lines, this.partial].filter(Boolean).join('\n');
  }

  /** Resolves when the watcher has re-created the pair n times in all. */
  async waitForRecreations(n: number, timeoutMs = 5_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.recreations < n) {
      if (Date.now() > end) throw new Error(`eni-watch ${this.eni.dev}: ${this.recreations} re-creations after ${timeoutMs} ms, wanted ${n}:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves when the process has exited (false if still running after timeoutMs). */
  async exited(timeoutMs = 10_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.done.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs)))]);
    clearTimeout(timer);
    return r;
  }

  /** SIGTERM (the watcher exits cleanly and removes its pid files), SIGKILL if it does not within timeoutMs. */
  async stop(timeoutMs = 7_000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    if (await this.exited(timeoutMs)) return;
    this.proc.kill('SIGKILL');
    await this.exited(5_000);
  }
}

export interface HostLink {
  name: string;
  mac: string;
  /** The administrative UP flag. */
  up: boolean;
  operstate: string;
  /** Every address on the link (IPv4 and IPv6, with prefix length). */
  addresses: string[];
}

/** Links in the host namespace whose MAC is mac. */
export async function hostLinksWithMac(mac: string): Promise<HostLink[]> {
  const r = await sh('ip', ['-j', 'addr', 'show'], { timeout: 10_000 });
  const links = JSON.parse(r.stdout) as Array<{
    ifname: string;
    address?: string;
    flags?: string[];
    operstate?: string;
    addr_info?: Array<{ local?: string; prefixlen?: number }>;
  }>;
  return links
    .filter((l) => l.address?.toLowerCase() === mac.toLowerCase())
    .map((l) => ({
      name: l.ifname,
      mac: l.address!.toLowerCase(),
      up: (l.flags ?? []).includes('UP'),
      operstate: l.operstate ?? '',
      addresses: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
    }));
}

/** Resolves with the link once a link with that MAC is (back) in the host namespace; rejects after timeoutMs. */
export async function waitForHostMac(mac: string, timeoutMs = 5_000): Promise<HostLink> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = await hostLinksWithMac(mac);
    if (found.length) return found[0]!;
    if (Date.now() > end) throw new Error(`no link with MAC ${mac} in the host namespace after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A "VPC subnet" namespace with a gateway and a peer host, plus stand-in ENIs plugged into it. */
export class Vpc {
  readonly enis: Eni[] = [];
  private readonly watchers = new Map<string, EniWatcher>();
  private constructor(
    readonly ns: string,
    readonly gatewayCidr: string,
    readonly peer: string,
    /** With { ipv6: true }: the subnet's IPv6 side, 2001:db8:<subnet>::/64 (documentation prefix, this namespace only). */
    readonly v6?: Vpc6,
  ) {}

  static async up(prefix: string, subnet = 1, opts: { ipv6?: boolean } = {}): Promise<Vpc> {
    const v6 = opts.ipv6 ? { gateway6: `2001:db8:${subnet}::1/64`, peer6: `2001:db8:${subnet}::10` } : undefined;
    const v = new Vpc(`${prefix}-vpc${subnet}`, `10.99.${subnet}.1/24`, `10.99.${subnet}.10`, v6);
    await vpcUp(v.ns, v.gatewayCidr, v.peer, v6);
    return v;
  }

  /** family: the ENI's addresses (dual-stack and IPv6-only need a VPC made with { ipv6: true }). */
  async addEni(dev: string, hostPart: number, opts: AddEniOptions & { family?: 'ipv4' | 'dual-stack' | 'ipv6-only' } = {}): Promise<Eni> {
    const mac = `0a:58:${randomBytes(4).toString('hex').match(/../g)!.join(':')}`;
    const family = opts.family ?? 'ipv4';
    if (family !== 'ipv4' && !this.v6) throw new Error(`${this.ns} has no IPv6 side for a ${family} ENI`);
    await eniAdd(this.ns, dev, mac);
    const net = this.gatewayCidr.split('.').slice(0, 3).join('.');
    const e: Eni = family === 'ipv6-only' ? { dev, mac, ip: '', gateway: '' } : { dev, mac, ip: `${net}.${hostPart}`, gateway: this.gatewayCidr };
    if (family !== 'ipv4') {
      e.ip6 = `${this.v6!.gateway6.split("::")[0]}::${hostPart}`;
      e.gateway6 = this.v6!.gateway6;
    }
    this.enis.push(e);
    // Listed before the watcher starts, so down() removes the stand-in even if the watcher fails to.
    if (opts.returning) this.watchers.set(dev, await EniWatcher.start(this.ns, e, opts.watchIntervalMs));
    return e;
  }

  /** The eni-watch of a stand-in added with { returning: true } (undefined otherwise, or once removed). */
  watcher(dev: string): EniWatcher | undefined {
    return this.watchers.get(dev);
  }

  async removeEni(dev: string): Promise<void> {
    // eni-del stops the stand-in's watcher itself before deleting anything; stop() then only reaps it.
    await eniDel(this.ns, dev).catch(() => undefined);
    await this.stopWatcher(dev);
    const i = this.enis.findIndex((e) => e.dev === dev);
    if (i >= 0) this.enis.splice(i, 1);
  }

  private async stopWatcher(dev: string): Promise<void> {
    const w = this.watchers.get(dev);
    this.watchers.delete(dev);
    await w?.stop().catch(() => undefined);
  }

  /** Runs a command inside the VPC namespace (the peer host's side). */
  exec(argv: string[], reject = true) {
    return sh('ip', ['netns', 'exec', this.ns, ...argv], { reject, timeout: 20_000 });
  }

  async down(): Promise<void> {
    for (const e of this.enis) await eniDel(this.ns, e.dev).catch(() => undefined);
    for (const dev of [...this.watchers.keys()]) await this.stopWatcher(dev);
    await vpcDown(this.ns).catch(() => undefined);
  }
}

/** Fresh objects each time: a caller may change the document it gets. */
const testContainers = (): unknown[] => [
  {
    name: 'app',
    image: 'busybox:latest',
    essential: true,
    command: ['sh', '-c', 'mkdir -p /www && echo app-ok > /www/index.html && exec httpd -f -p 8080 -h /www'],
    environment: [{ name: 'MODE', value: 'prod' }],
    portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
    // PID 1 in these containers ignores SIGTERM, so a stop waits the whole stop timeout: keep it short.
    stopTimeout: 1,
  },
  {
    name: 'probe',
    image: 'busybox:latest',
    essential: false,
    command: ['sh', '-c', 'exec sleep 3600'],
    stopTimeout: 1,
    dependsOn: [{ containerName: 'app', condition: 'START' }],
  },
];

/** The tests' task: family web, ECS's networkConfiguration, an httpd app and a probe unless `containers` says otherwise. */
export function taskJson(o: {
  id: string;
  eni: Eni;
  containers?: unknown[];
  waitTimeoutMs?: number;
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  return taskDocument({
    id: o.id,
    eni: o.eni,
    cluster: 'test',
    family: 'web',
    revision: 3,
    dns: '10.99.0.2',
    networkConfiguration: {
      awsvpcConfiguration: { subnets: ['subnet-0a1b2c3d4e5f60718'], securityGroups: ['sg-0123456789abcdef0'], assignPublicIp: 'DISABLED' },
    },
    waitTimeoutMs: o.waitTimeoutMs ?? 20_000,
    containers: o.containers ?? testContainers(),
    extra: o.extra,
  });
}

export interface DaemonOptions {
  prefix: string;
  plugins?: 'reference' | 'ecs' | 'vpc';
  cniPath?: string;
  env?: Record<string, string>;
  args?: string[];
  /** Another engine than the shared test engine (e.g. one the test restarts). */
  engine?: string;
}

/**
 * The shared daemon process (scripts/lib/daemon-proc.ts) as the tests run it: under /run/awsvpcd-test/<prefix>,
 * its own task bridge, debug logs, flags and environment read from `o` at every start (a test may change them
 * between starts), and the caller's environment passed on.
 */
export class DaemonProc extends Daemon {
  readonly bridge: string;

  constructor(readonly o: DaemonOptions) {
    super({
      cli: CLI,
      root: `/run/awsvpcd-test/${o.prefix}`,
      apiTimeoutMs: 10_000,
      readyTimeoutMs: 30_000,
      readyPollMs: 100,
      stopTimeoutMs: 15_000,
      // What execa has always done here: a daemon that has not exited 5 s after SIGTERM is killed.
      forceKillAfterMs: 5_000,
    });
    this.bridge = `${o.prefix}-br`;
  }

  protected override flags(): string[] {
    return [
      '--cni-path', this.o.cniPath ?? REFERENCE_CNI,
      '--plugins', this.o.plugins ?? 'reference',
      '--docker-host', this.o.engine ?? ENGINE,
      '--bridge-name', this.bridge,
      '--log-level', 'debug',
      '--image-pull-behavior', 'prefer-cached', // never reach for a registry from a test
      '--reconcile-interval-ms', '2000',
      ...(this.o.args ?? []),
    ];
  }

  protected override extraEnv(): Record<string, string> {
    return { ...this.o.env };
  }

  /** Removes everything this run made: containers, pinned namespaces, the bridge, the directory. */
  async cleanup(taskIds: string[]): Promise<void> {
    await this.kill().catch(() => undefined);
    for (const id of taskIds) {
      const ids = (await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`], false)).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-f', ...ids], false);
    }
    const pins = await sh('sh', ['-c', `ls ${this.runDir}/netns 2>/dev/null || true`], { reject: false });
    for (const p of pins.stdout.split('\n').filter(Boolean)) {
      await sh('umount', [path.join(this.runDir, 'netns', p)], { reject: false });
    }
    await sh('ip', ['link', 'del', this.bridge], { reject: false });
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Runs a command in a container's network namespace through the engine. */
export async function execIn(container: string, argv: string[]): Promise<string> {
  const r = await docker(['exec', container, ...argv]);
  return r.stdout;
}

/** host-local's allocations under the daemon's state dir: one file per address. */
export async function ipamAddresses(d: DaemonProc): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const base = path.join(d.stateDir, 'ipam');
  const out: string[] = [];
  for (const net of await readdir(base).catch(() => [] as string[])) {
    for (const f of await readdir(path.join(base, net)).catch(() => [] as string[])) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(f)) out.push(f);
    }
  }
  return out;
}

/**
 * Everything a task could leave behind, as a list of findings (empty = nothing leaked): containers,
 * pinned namespaces, IPAM entries, ports on the task bridge, the ENI not back on the host, teardown errors.
 */
export async function leaks(d: DaemonProc, taskIds: string[], enis: Eni[]): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const found: string[] = [];
  for (const id of taskIds) {
    const c = (await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`], false)).stdout.trim();
    if (c) found.push(`containers of ${id}: ${c.replace(/\n/g, ' ')}`);
  }
  const pins = await readdir(path.join(d.runDir, 'netns')).catch(() => [] as string[]);
  if (pins.length) found.push(`pinned namespaces: ${pins.join(' ')}`);
  const ips = await ipamAddresses(d);
  if (ips.length) found.push(`IPAM entries: ${ips.join(' ')}`);
  const ports = (await sh('ip', ['-o', 'link', 'show', 'master', d.bridge], { reject: false })).stdout.trim();
  if (ports) found.push(`ports on ${d.bridge}: ${ports.split('\n').length}`);
  for (const e of enis) {
    const l = await sh('ip', ['-o', 'link', 'show', 'dev', e.dev], { reject: false });
    if (l.exitCode !== 0 || !l.stdout.includes(e.mac)) found.push(`ENI ${e.dev} (${e.mac}) is not back on the host`);
  }
  return found;
}

/**
 * An engine of the test's own (scripts/engine in /run/<prefix>-engine), for tests that stop, restart or kill
 * one: the shared engine is never touched. up() starts it and loads the images; remove() leaves nothing.
 */
export class OwnEngine {
  readonly dir: string;
  readonly host: string;

  constructor(readonly prefix: string) {
    this.dir = `/run/${prefix}-engine`;
    this.host = `unix://${this.dir}/docker.sock`;
  }

  private env(extra: Record<string, string> = {}): Record<string, string> {
    return { AWSVPCD_TEST_ENGINE_DIR: this.dir, PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra };
  }

  /** scripts/engine start|stop; `liveRestore` for a start, `stopTimeoutS` for a stop. */
  async cmd(cmd: 'start' | 'stop', o: { liveRestore?: boolean; stopTimeoutS?: number } = {}): Promise<void> {
    const extra: Record<string, string> = { AWSVPCD_TEST_ENGINE_LIVE_RESTORE: o.liveRestore ? '1' : '0' };
    if (o.stopTimeoutS !== undefined) extra.AWSVPCD_TEST_ENGINE_STOP_TIMEOUT = String(o.stopTimeoutS);
    await sh('bash', [path.join(REPO, 'scripts/engine'), cmd], { env: this.env(extra), timeout: 120_000 });
  }

  /** Started, with the pause and busybox images loaded; returns how long each part took. */
  async up(): Promise<{ startMs: number; imagesMs: number }> {
    const t0 = Date.now();
    await this.cmd('start');
    const t1 = Date.now();
    await sh('bash', [path.join(REPO, 'scripts/build-images')], { env: this.env({ DOCKER_HOST: this.host }), timeout: 180_000 });
    return { startMs: t1 - t0, imagesMs: Date.now() - t1 };
  }

  docker(args: string[]) {
    return docker(args, false, this.host);
  }

  /** Every container removed, the engine stopped, its data root (mounted on itself after live-restore), log and directory gone. */
  async remove(): Promise<void> {
    const ids = (await this.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await this.docker(['rm', '-f', ...ids]);
    await this.cmd('stop').catch(() => undefined);
    await sh('umount', [`/var/lib/${this.prefix}-engine/docker`], { reject: false });
    await rm(`/var/lib/${this.prefix}-engine`, { recursive: true, force: true });
    await rm(`/var/log/${this.prefix}-engine-dockerd.log`, { force: true });
    await rm(this.dir, { recursive: true, force: true });
  }
}
