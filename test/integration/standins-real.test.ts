// The plugin stand-ins (test/fixtures/cni-standins) in "real" mode: real namespaces, a veth stand-in ENI,
// real links, addresses and routes made with iproute2, compared with the plugin contract (outputs byte for
// byte; the resulting state as the contract's snapshots show it, read with `ip -j`). Root only.
// Everything is named with a per-run prefix and lives in namespaces this test makes, including the
// "host" (standin.json hostNetns, like `caphost` in the contract's harness), so the real root namespace
// is never touched; nothing ever sends a packet. afterAll deletes every namespace (and with them every
// link) it made, also after a failure.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { contractCase, contractPath } from '../support/plugin-contract.js';
import { readIpamDb, setupStandinDir } from '../fixtures/cni-standins/lib/world.mjs';

const P = `sr${randomBytes(2).toString('hex')}`;
const NS = { host: `${P}h`, vpc: `${P}v`, t1: `${P}t1`, t2: `${P}t2`, t3: `${P}t3` };
const NETNS = (n: string) => `/var/run/netns/${n}`;
const ENI = `${P}e1`;
const ENI_PEER = `${P}p1`;
const ENI_MAC = '0a:99:00:00:aa:01';
const BRIDGE = `${P}br`;

let TMP = '';
let CNI_DIR = '';
let DB = '';

const MD = readFileSync(contractPath(), 'utf8');
function baseConfig(plugin: string): Record<string, unknown> {
  const m = new RegExp(`^\\* ${plugin}: \`([^\`]+)\``, 'm').exec(MD);
  if (!m) throw new Error(`contract: no base config for ${plugin}`);
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

function sh(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
function ipj<T = Record<string, unknown>[]>(ns: string, args: string[]): T {
  return JSON.parse(sh('ip', ['-n', ns, '-j', ...args]) || '[]') as T;
}

interface LinkJ {
  ifname: string;
  address: string;
  flags: string[];
  mtu: number;
  master?: string;
}
interface AddrJ {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}
interface RouteJ {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
}

function links(ns: string): LinkJ[] {
  return ipj<LinkJ[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo');
}
function link(ns: string, name: string): LinkJ | undefined {
  return links(ns).find((l) => l.ifname === name);
}
function addrs(ns: string, name: string): string[] {
  const a = ipj<AddrJ[]>(ns, ['addr', 'show', 'dev', name])[0];
  return (a?.addr_info ?? []).filter((x) => x.scope !== 'link' && x.scope !== 'host').map((x) => `${x.local}/${x.prefixlen}`);
}
/** Routes as `ip route` prints them, without the kernel's own (connected, fe80). */
function routes(ns: string): string[] {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    for (const r of ipj<RouteJ[]>(ns, [fam, 'route', 'show'])) {
      if (r.protocol === 'kernel') continue;
      const dst = r.dst;
      if (r.type === 'blackhole') out.push(fam === '-6' ? `blackhole ${dst} dev lo` : `blackhole ${dst}`);
      else out.push(`${dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`);
    }
  }
  return out.sort();
}

interface Run {
  exit: number;
  stdout: string;
  stderr: string;
}
function run(plugin: string, command: string, netns: string, ifName: string, config: unknown): Run {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: `${P}cid`,
    CNI_NETNS: netns,
    CNI_IFNAME: ifName,
    CNI_PATH: `${CNI_DIR}/`,
    CNI_ARGS: 'IgnoreUnknown=1',
    IPAM_DB_PATH: DB,
    ECS_CNI_LOG_FILE: path.join(TMP, 'ecs.log'),
    VPC_CNI_LOG_FILE: path.join(TMP, 'vpc.log'),
  };
  const r = spawnSync(path.join(CNI_DIR, plugin), [], { input: JSON.stringify(config), env, cwd: TMP, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { exit: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The contract's row, with this run's names in place of the recorded ones. */
function expected(name: string, swaps: [string, string][]): { exit: number; stdout: string; stderr: string } {
  const c = contractCase(name);
  let stdout = c.stdout ?? '';
  for (const [from, to] of swaps) stdout = stdout.split(from).join(to);
  return { exit: c.exit, stdout, stderr: c.stderr };
}

function addEni(): void {
  sh('ip', ['-n', NS.host, 'link', 'add', ENI, 'address', ENI_MAC, 'type', 'veth', 'peer', 'name', ENI_PEER, 'netns', NS.vpc]);
  sh('ip', ['-n', NS.vpc, 'link', 'set', ENI_PEER, 'up']);
}

function cleanup(): void {
  for (const n of Object.values(NS)) spawnSync('ip', ['netns', 'del', n]);
  // nothing of ours may be left in the root namespace
  for (const l of JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout || '[]') as LinkJ[]) {
    if (l.ifname.startsWith(P)) spawnSync('ip', ['link', 'del', l.ifname]);
  }
}

const eniConfig = baseConfig('ecs-eni');
const bridgeConfig = { ...baseConfig('ecs-bridge'), bridge: BRIDGE };
const vpcConfig = baseConfig('vpc-eni');

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('integration requirement missing: root (this test creates namespaces and links)');
  TMP = mkdtempSync(path.join(tmpdir(), 'awsvpcd-standins-real-'));
  CNI_DIR = path.join(TMP, 'cni');
  DB = path.join(TMP, 'ipam', 'eni-ipam.db');
  for (const n of Object.values(NS)) sh('ip', ['netns', 'add', n]);
  sh('ip', ['-n', NS.host, 'link', 'set', 'lo', 'up']);
  addEni();
  setupStandinDir(CNI_DIR, { calls: path.join(TMP, 'calls.jsonl'), hostNetns: NETNS(NS.host) });
});

afterAll(() => {
  cleanup();
  if (TMP) rmSync(TMP, { recursive: true, force: true });
});

describe('stand-ins in real mode', () => {
  // Links in the root namespace that this test's stand-ins could have made or moved there: by name, by the
  // ENI's MAC, or on this test's bridge. (Other processes may add and remove their own links meanwhile.)
  const oursInRoot = () =>
    (JSON.parse(sh('ip', ['-j', 'link', 'show'])) as Array<LinkJ & { address?: string; master?: string }>)
      .filter((l) => l.ifname.startsWith(P) || l.ifname === BRIDGE || l.master === BRIDGE || l.address === ENI_MAC)
      .map((l) => l.ifname);
  beforeAll(() => {
    expect(oursInRoot()).toEqual([]);
  });

  test('ecs-eni ADD moves the ENI into the netns as eth0 and configures it; the result is eni-add', () => {
    const got = run('ecs-eni', 'ADD', NETNS(NS.t1), 'eth0', eniConfig);
    expect(got).toEqual(expected('eni-add', [['cape1', ENI]]));
    expect(link(NS.host, ENI)).toBeUndefined();
    const eth0 = link(NS.t1, 'eth0')!;
    expect({ mac: eth0.address, up: eth0.flags.includes('UP'), mtu: eth0.mtu }).toEqual({ mac: ENI_MAC, up: true, mtu: 1500 });
    expect(addrs(NS.t1, 'eth0')).toEqual(['10.99.1.15/24']);
    expect(routes(NS.t1)).toEqual(['blackhole 169.254.169.254', 'blackhole fd00:ec2::254 dev lo', 'default via 10.99.1.1 dev eth0']);
  });

  test('ecs-eni ADD again: eni-add-again', () => {
    expect(run('ecs-eni', 'ADD', NETNS(NS.t1), 'eth0', eniConfig)).toEqual(expected('eni-add-again', []));
  });

  test('ecs-eni DEL: a no-op, exit 0 (eni-del); the ENI stays configured', () => {
    expect(run('ecs-eni', 'DEL', NETNS(NS.t1), 'eth0', eniConfig)).toEqual(expected('eni-del', []));
    expect(addrs(NS.t1, 'eth0')).toEqual(['10.99.1.15/24']);
  });

  test('ecs-bridge + ecs-ipam ADD: bridge, veth pair, addresses and routes as in br-add', () => {
    const got = run('ecs-bridge', 'ADD', NETNS(NS.t1), 'ecs-eth0', bridgeConfig);
    expect(got.exit).toBe(0);
    expect(got.stderr).toBe('');
    const result = JSON.parse(got.stdout) as { interfaces: { name: string; mac?: string }[] };
    const [br, veth] = result.interfaces;
    expect(veth!.name).toMatch(/^veth[0-9a-f]{8}$/);
    const swaps: [string, string][] = [
      ['capbr0', BRIDGE],
      ['3e:2b:dc:ce:f2:e7', br!.mac!],
      ['veth36068456', veth!.name],
      ['fe:af:7b:f3:18:67', veth!.mac!],
    ];
    expect(got.stdout).toBe(expected('br-add', swaps).stdout);

    const bridge = link(NS.host, BRIDGE)!;
    expect({ mac: bridge.address, up: bridge.flags.includes('UP'), mtu: bridge.mtu }).toEqual({ mac: br!.mac, up: true, mtu: 1500 });
    expect(addrs(NS.host, BRIDGE)).toEqual(['169.254.172.1/22']);
    const hostVeth = link(NS.host, veth!.name)!;
    expect({ master: hostVeth.master, up: hostVeth.flags.includes('UP'), mac: hostVeth.address }).toEqual({ master: BRIDGE, up: true, mac: veth!.mac });
    const cont = link(NS.t1, 'ecs-eth0')!;
    expect({ mac: cont.address, up: cont.flags.includes('UP') }).toEqual({ mac: '0a:58:a9:fe:ac:02', up: true });
    expect(addrs(NS.t1, 'ecs-eth0')).toEqual(['169.254.172.2/22']);
    expect(routes(NS.t1)).toEqual(
      [
        'blackhole 169.254.169.254',
        'blackhole fd00:ec2::254 dev lo',
        'default via 10.99.1.1 dev eth0',
        '169.254.170.2 via 169.254.172.1 dev ecs-eth0',
        '169.254.172.1 via 169.254.172.1 dev ecs-eth0',
      ].sort(),
    );
    // no connected route for the container end (deleted, as the real plugin does)
    const connected = ipj<RouteJ[]>(NS.t1, ['-4', 'route', 'show', 'dev', 'ecs-eth0']).filter((r) => !r.gateway);
    expect(connected).toEqual([]);
    expect(readIpamDb(DB)).toEqual({
      '169.254.172.1': { index: 1, value: 'GateWay' },
      '169.254.172.2': { index: 2, value: ENI_MAC },
      lastKnownIP: { index: 3, value: '169.254.172.2' },
    });
  });

  test('ecs-bridge DEL: veth pair gone, bridge and its address stay, the address released (br-del)', () => {
    expect(run('ecs-bridge', 'DEL', NETNS(NS.t1), 'ecs-eth0', bridgeConfig)).toEqual(expected('br-del', []));
    expect(link(NS.t1, 'ecs-eth0')).toBeUndefined();
    expect(links(NS.host).map((l) => l.ifname)).toEqual([BRIDGE]);
    expect(addrs(NS.host, BRIDGE)).toEqual(['169.254.172.1/22']);
    expect(readIpamDb(DB)).toEqual({ '169.254.172.1': { index: 1, value: 'GateWay' }, lastKnownIP: { index: 1, value: '169.254.172.2' } });
  });

  test('ecs-bridge DEL after the netns is gone: exit 1 with the Statfs error every time, the IPAM release happens once', () => {
    const add = run('ecs-bridge', 'ADD', NETNS(NS.t2), 'ecs-eth0', bridgeConfig);
    expect(add.exit).toBe(0);
    expect(JSON.parse(add.stdout).ips[0].address).toBe('169.254.172.3/22');
    sh('ip', ['netns', 'del', NS.t2]);
    // the veth went with the namespace, its host end too
    expect(links(NS.host).map((l) => l.ifname)).toEqual([BRIDGE]);
    const msg = expected('br-del-nonetns', [['/var/run/netns/capt1', NETNS(NS.t2)]]);
    expect(run('ecs-bridge', 'DEL', NETNS(NS.t2), 'ecs-eth0', bridgeConfig)).toEqual(msg);
    expect(readIpamDb(DB)).toEqual({ '169.254.172.1': { index: 1, value: 'GateWay' }, lastKnownIP: { index: 1, value: '169.254.172.3' } });
    expect(run('ecs-bridge', 'DEL', NETNS(NS.t2), 'ecs-eth0', bridgeConfig)).toEqual(expected('br-del-nonetns-again', [['/var/run/netns/capt1', NETNS(NS.t2)]]));
  });

  test('vpc-eni ADD (vpc-add) and DEL: the ENI goes back to the host netns as ecsa990, DOWN, without addresses', () => {
    // a fresh ENI: the one ecs-eni attached is destroyed with its namespace (a veth stand-in)
    sh('ip', ['netns', 'del', NS.t1]);
    expect(links(NS.vpc)).toEqual([]);
    addEni();
    const got = run('vpc-eni', 'ADD', NETNS(NS.t3), 'eth0', vpcConfig);
    expect(got).toEqual(expected('vpc-add', [['/var/run/netns/capt1', NETNS(NS.t3)]]));
    expect(link(NS.host, ENI)).toBeUndefined();
    const eth0 = link(NS.t3, 'eth0')!;
    expect({ mac: eth0.address, up: eth0.flags.includes('UP') }).toEqual({ mac: ENI_MAC, up: true });
    expect(addrs(NS.t3, 'eth0')).toEqual(['10.99.1.15/24']);
    expect(routes(NS.t3)).toEqual(['blackhole 169.254.169.254', 'blackhole fd00:ec2::254 dev lo', 'default via 10.99.1.1 dev eth0']);

    expect(run('vpc-eni', 'DEL', NETNS(NS.t3), 'eth0', vpcConfig)).toEqual(expected('vpc-del', []));
    const back = link(NS.host, 'ecsa990')!;
    expect({ mac: back.address, up: back.flags.includes('UP'), mtu: back.mtu }).toEqual({ mac: ENI_MAC, up: false, mtu: 1500 });
    expect(addrs(NS.host, 'ecsa990')).toEqual([]);
    expect(links(NS.t3)).toEqual([]);
    expect(routes(NS.t3)).toEqual(['blackhole 169.254.169.254', 'blackhole fd00:ec2::254 dev lo']);
    // and again: exit 0, nothing to do (vpc-del-again)
    expect(run('vpc-eni', 'DEL', NETNS(NS.t3), 'eth0', vpcConfig)).toEqual(expected('vpc-del-again', []));
  });

  test('the root namespace was never touched', () => {
    expect(oursInRoot()).toEqual([]);
  });
});
