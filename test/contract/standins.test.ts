// The plugin stand-ins (test/fixtures/cni-standins) against the plugin contract, in "sim" mode (no root,
// no real links): every case of sections 3-7 is run with the exact stdin and environment of section 9, in
// the order and on the setup the contract's harness used, and its exit status, stdout and stderr are
// compared byte for byte with what the real binary printed (contractCase). After the key cases the
// simulated world is compared with the contract's "State after" snapshots (parsed from the contract:
// links, admin state, MTU, master, deterministic MACs, non-link-local addresses, non-kernel routes, and the
// IPAM DB's keys with their libkv index).
//
// Normalised before comparing (values the real binaries make at random): the bridge MAC and the host veth
// name and MAC of ecs-bridge results, veth names and random MACs in state snapshots, and the CNI_PATH
// directory (the contract writes it as `$CNI_PATH`). Cells the table cut (br-add-after-del, br-add2,
// br-tiny-1, agent-br-add) are compared on their recorded prefix, and in full against the verbatim br-add
// result with this case's addresses.
//
// Cases not reproduced: none. Every case of sections 3-7 runs here. Two deviations of the harness, by
// design of the stand-ins: ipam-locked / ipam-locked-default hold the stand-in's DB lock file (the
// stand-in's lock, see lib/ipam-db.mjs) instead of a flock on a bolt file; and the namespace paths are only
// keys of the simulated world.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { contractCase, contractPath, loadContract, type ContractCase } from '../support/plugin-contract.js';
import {
  acquireLock,
  addHostEni,
  addVethPair,
  createNetns,
  ipamLockPath,
  netnsOf,
  readIpamDb,
  readWorld,
  releaseLock,
  removeNetnsPath,
  setupStandinDir,
  updateWorld,
  writeWorld,
  newWorld,
  STANDINS_DIR,
  type CallRecord,
  type IpamEntry,
  type Netns,
  type StandinConfig,
  type World,
} from '../fixtures/cni-standins/lib/world.mjs';
import type { EniSpec } from '../../agent/model.js';
import { buildPlan } from '../../cni/plan.js';

// ---- the contract: inputs (section 9), base configs (section 1), state snapshots ---------------------

const MD = readFileSync(contractPath(), 'utf8');
const LINES = MD.split('\n');

interface CaseInput {
  name: string;
  plugin: string;
  args: string[];
  /** Variables set (beyond the harness's) and whether the CNI_* defaults apply. */
  env: Record<string, string>;
  cniEnv: boolean;
  unset: string[];
  stdin: string;
}

const BASE_CONFIGS: Record<string, string> = {};
for (const l of LINES) {
  const m = /^\* (ecs-eni|ecs-bridge|ecs-ipam|vpc-eni): `([^`]+)`/.exec(l);
  if (m) BASE_CONFIGS[m[1]!] = m[2]!;
}

const DEFAULTS: Record<string, string> = {};
{
  const m = /^Defaults unless listed: `([^`]+)`/m.exec(MD);
  if (!m) throw new Error('contract: no "Defaults unless listed" line in section 9');
  for (const kv of m[1]!.split(' ')) {
    const i = kv.indexOf('=');
    DEFAULTS[kv.slice(0, i)] = kv.slice(i + 1);
  }
}

const INPUTS = new Map<string, CaseInput>();
for (const l of LINES) {
  const m = /^- \*\*([a-z0-9-]+)\*\*: `([^`]+)`(.*?); stdin: (.*)$/.exec(l);
  if (!m) continue;
  const [cmd, ...args] = m[2]!.split(' ');
  const rest = m[3]!;
  const env: Record<string, string> = {};
  for (const kv of rest.replace(/\(.*?\)/g, '').trim().split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const unset = /\(unset: ([^)]*)\)/.exec(rest)?.[1]?.split(/,\s*/) ?? [];
  const s = m[4]!.trim();
  let stdin: string;
  if (s === '(empty)') stdin = '';
  else if (/^\(base (\S+) config of section 1\)$/.test(s)) stdin = BASE_CONFIGS[/^\(base (\S+) config/.exec(s)![1]!]!;
  else if (/^`.*`$/.test(s)) stdin = s.slice(1, -1);
  else throw new Error(`contract section 9: cannot read the stdin of ${m[1]}: ${s}`);
  INPUTS.set(m[1]!, { name: m[1]!, plugin: cmd!, args, env, cniEnv: !rest.includes('(no CNI_* env)'), unset, stdin });
}

interface LinkSnap {
  name: string;
  mac?: string;
  up: boolean;
  mtu: number;
  master?: string;
  addrs: string[];
}
interface NsSnap {
  links: LinkSnap[];
  routes: string[];
}
interface StateSnap {
  ns: Record<string, NsSnap>;
  db?: Record<string, IpamEntry>;
}

function normRoute(line: string, fam: 4 | 6): string | undefined {
  if (/proto kernel/.test(line)) return undefined;
  if (fam === 6 && /^fe80::/.test(line)) return undefined;
  return line.replace(/ metric \d+/, '').replace(/ pref \w+/, '').replace(/ linkdown/, '').trim().replace(/\s+/g, ' ');
}

function parseNsBlock(block: string[]): NsSnap {
  let mode = '';
  const links: LinkSnap[] = [];
  const addrs = new Map<string, string[]>();
  const routes: string[] = [];
  for (let i = 0; i < block.length; i++) {
    const line = block[i]!;
    if (line.startsWith('# ')) {
      mode = line.startsWith('# ip link') ? 'link' : line.startsWith('# ip -br addr') ? 'addr' : line.startsWith('# ip -4 route') ? 'r4' : line.startsWith('# ip -6 route') ? 'r6' : 'other';
      continue;
    }
    if (mode === 'link') {
      const m = /^\d+: ([^:@\s]+)(?:@[^:\s]+)?: <([^>]*)> mtu (\d+)(.*)$/.exec(line);
      if (!m) continue;
      const mac = /link\/\S+ (\S+)/.exec(block[i + 1] ?? '')?.[1];
      const master = / master (\S+)/.exec(m[4]!)?.[1];
      const l: LinkSnap = { name: m[1]!, up: m[2]!.split(',').includes('UP'), mtu: Number(m[3]), addrs: [] };
      if (mac) l.mac = mac;
      if (master) l.master = master;
      links.push(l);
    } else if (mode === 'addr') {
      const m = /^(\S+)\s+\S+\s*(.*)$/.exec(line);
      if (m) addrs.set(m[1]!.split('@')[0]!, m[2]!.trim().split(/\s+/).filter((a) => a !== '' && !/^fe80:/i.test(a)));
    } else if (mode === 'r4' || mode === 'r6') {
      const r = normRoute(line, mode === 'r4' ? 4 : 6);
      if (r) routes.push(r);
    }
  }
  for (const l of links) l.addrs = addrs.get(l.name) ?? [];
  return { links: links.filter((l) => l.name !== 'lo'), routes };
}

function decodeDbValue(s: string): IpamEntry {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x') {
      bytes.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (s[i] === '\\') {
      bytes.push(s.charCodeAt(i + 1));
      i += 1;
    } else {
      bytes.push(...Buffer.from(s[i]!, 'utf8'));
    }
  }
  let index = 0;
  for (let k = 7; k >= 0; k--) index = index * 256 + bytes[k]!;
  return { index, value: Buffer.from(bytes.slice(8)).toString('utf8') };
}

function parseStates(): Map<string, StateSnap> {
  const out = new Map<string, StateSnap>();
  let cur: StateSnap | undefined;
  let label = '';
  for (let i = 0; i < LINES.length; i++) {
    const line = LINES[i]!;
    const head = /^\*\*State (?:after|at) `([a-z0-9-]+)`\*\*/.exec(line);
    if (head) {
      cur = { ns: {} };
      out.set(head[1]!, cur);
      continue;
    }
    if (/^#{2,3} |^\| case/.test(line)) {
      cur = undefined;
      continue;
    }
    if (!cur) continue;
    if (/^_host netns/.test(line)) label = 'host';
    else if (/^_target netns (\S+)_/.test(line)) label = /^_target netns (\S+)_/.exec(line)![1]!;
    else if (/^_IPAM DB dir/.test(line)) label = 'db';
    else if (line === '```' && label) {
      const block: string[] = [];
      for (i++; i < LINES.length && LINES[i] !== '```'; i++) block.push(LINES[i]!);
      if (label === 'db') {
        const db: Record<string, IpamEntry> = {};
        for (const b of block) {
          const m = /^\s+"([^"]*)" => "(.*)"$/.exec(b);
          if (m) db[m[1]!] = decodeDbValue(m[2]!);
        }
        cur.db = db;
      } else {
        cur.ns[label] = parseNsBlock(block);
      }
      label = '';
    }
  }
  return out;
}
const STATES = parseStates();

// ---- running the stand-ins ---------------------------------------------------------------------------

let TMP = '';
let CNI_DIR = '';
let WORLD = '';
let CALLS = '';
let dbDir = '';
let dbSerial = 0;

beforeAll(() => {
  TMP = mkdtempSync(path.join(tmpdir(), 'awsvpcd-standins-'));
  CNI_DIR = path.join(TMP, 'cni');
  WORLD = path.join(TMP, 'world.json');
  CALLS = path.join(TMP, 'calls.jsonl');
  dbDir = path.join(TMP, 'ipam-0');
});

const ENI_MAC = '0a:99:00:00:aa:01';
/** Per-test timeout: every test starts node processes (an ecs-bridge ADD three), and CI hosts are busy. */
const SLOW = 30_000;
const CAPT1 = '/var/run/netns/capt1';
const CAPT2 = '/var/run/netns/capt2';

function configure(extra: Partial<StandinConfig> = {}): void {
  setupStandinDir(CNI_DIR, { world: WORLD, calls: CALLS, ...extra });
}

afterAll(() => {
  if (TMP) rmSync(TMP, { recursive: true, force: true });
});

interface RunResult {
  exit: number;
  stdout: string;
  stderr: string;
}

function harnessEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: path.join(TMP, 'home'),
    ECS_CNI_LOG_FILE: path.join(TMP, 'ecs-cni.log'),
    ECS_CNI_LOGLEVEL: 'debug',
    VPC_CNI_LOG_FILE: path.join(TMP, 'vpc-cni.log'),
    VPC_CNI_LOG_LEVEL: 'debug',
    IPAM_DB_PATH: path.join(dbDir, 'eni-ipam.db'),
  };
}

/** The environment, argv and stdin of a case as section 9 gives them. */
function invocation(name: string, over: { env?: Record<string, string>; stdin?: string } = {}) {
  const input = INPUTS.get(name);
  if (!input) throw new Error(`section 9 has no input for ${name}`);
  const env: Record<string, string> = { ...harnessEnv() };
  const subst = (v: string) => v.replace('<ipam-db-dir>', dbDir).replace('$CNI_PATH', CNI_DIR);
  if (input.cniEnv) for (const [k, v] of Object.entries(DEFAULTS)) env[k] = subst(v);
  for (const [k, v] of Object.entries(input.env)) env[k] = subst(v);
  for (const k of input.unset) delete env[k];
  Object.assign(env, over.env ?? {});
  return { file: path.join(CNI_DIR, input.plugin), args: input.args, env, stdin: over.stdin ?? input.stdin };
}

function runCase(name: string, over: { env?: Record<string, string>; stdin?: string } = {}): RunResult {
  const inv = invocation(name, over);
  const r = spawnSync(inv.file, inv.args, { input: inv.stdin, env: inv.env, cwd: TMP, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { exit: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function runCaseAsync(name: string): Promise<RunResult> {
  const inv = invocation(name);
  return new Promise((resolve) => {
    const child = execFile(inv.file, inv.args, { env: inv.env, cwd: TMP, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ exit: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(inv.stdin);
  });
}

// ---- comparing ---------------------------------------------------------------------------------------

interface BridgeRandoms {
  bridgeMac: string;
  veth: string;
  vethMac: string;
}

function bridgeRandoms(stdout: string): BridgeRandoms | undefined {
  const m = /^\{\n {4}"interfaces": \[\n {8}\{\n {12}"name": "[^"]*",\n {12}"mac": "([0-9a-f:]{17})"\n {8}\},\n {8}\{\n {12}"name": "(veth[0-9a-f]{8})",\n {12}"mac": "([0-9a-f:]{17})"/.exec(stdout);
  return m ? { bridgeMac: m[1]!, veth: m[2]!, vethMac: m[3]! } : undefined;
}

function normalise(stdout: string): string {
  let s = stdout.split(CNI_DIR).join('$CNI_PATH');
  const r = bridgeRandoms(s);
  if (r) s = s.split(r.bridgeMac).join('<bridge-mac>').split(r.veth).join('<host-veth>').split(r.vethMac).join('<host-veth-mac>');
  return s;
}

function isLocalUnicastMac(mac: string): boolean {
  const b0 = parseInt(mac.slice(0, 2), 16);
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) && (b0 & 0x02) === 2 && (b0 & 0x01) === 0;
}

/** The br-add verbatim result with another case's addresses (for cells the table cut). */
function bridgeResultLike(address: string, gateway: string): string {
  const full = contractCase('br-add').stdout;
  if (full === undefined) throw new Error('the contract has no verbatim br-add result');
  return normalise(full).split('169.254.172.2/22').join(address).split('169.254.172.1').join(gateway);
}

/** Compares one run with the contract's row. */
function expectMatches(name: string, got: RunResult, opts: { fullLike?: string } = {}): void {
  const c: ContractCase = contractCase(name);
  const exp = { exit: c.exit, stderr: c.stderr };
  expect({ exit: got.exit, stderr: got.stderr }).toEqual(exp);
  const ours = normalise(got.stdout);
  if (c.stdout !== undefined) {
    expect(ours).toBe(normalise(c.stdout));
  } else {
    expect(c.truncated).toBe(true);
    expect(ours.startsWith(normalise(c.stdoutPrefix))).toBe(true);
    if (!opts.fullLike) throw new Error(`${name}: a cut cell needs the full text it should equal`);
    expect(ours).toBe(opts.fullLike);
  }
  const r = bridgeRandoms(got.stdout);
  if (r) {
    expect(isLocalUnicastMac(r.bridgeMac)).toBe(true);
    expect(isLocalUnicastMac(r.vethMac)).toBe(true);
  }
}

function nsSnap(ns: Netns): NsSnap {
  return {
    links: ns.links.map((l) => {
      const s: LinkSnap = { name: l.name, mac: l.mac, up: l.up, mtu: l.mtu, addrs: l.addrs.filter((a) => !/^fe80:/i.test(a)) };
      if (l.master) s.master = l.master;
      return s;
    }),
    routes: [...ns.routes],
  };
}

/** Veth names and random MACs out; stable order. */
function comparable(expected: NsSnap, actual: NsSnap): [unknown, unknown] {
  const veth = (n: string) => (/^veth[0-9a-f]{8}$/.test(n) ? 'veth<random>' : n);
  const fix = (s: NsSnap, ref: NsSnap) => ({
    links: s.links
      .map((l) => {
        const r = ref.links.find((x) => veth(x.name) === veth(l.name));
        const keepMac = r?.mac !== undefined && /^0a:(99|58):/.test(r.mac);
        const o: Record<string, unknown> = { name: veth(l.name), up: l.up, mtu: l.mtu, addrs: [...l.addrs].sort() };
        if (keepMac) o.mac = l.mac;
        if (l.master) o.master = l.master;
        return o;
      })
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    routes: [...s.routes].sort(),
  });
  return [fix(expected, expected), fix(actual, expected)];
}

/** The simulated world (and IPAM DB) equals the contract's snapshot `state`, for every part it shows. */
function expectState(state: string, paths: Record<string, string> = { capt1: CAPT1, capt2: CAPT2 }): void {
  const snap = STATES.get(state);
  if (!snap) throw new Error(`the contract has no state snapshot ${state}`);
  const world = readWorld(WORLD);
  for (const [label, exp] of Object.entries(snap.ns)) {
    const ns = label === 'host' ? world.host : netnsOf(world, paths[label] ?? `/var/run/netns/${label}`);
    if (!ns) throw new Error(`${state}: the sim has no namespace ${label}`);
    const [e, a] = comparable(exp, nsSnap(ns));
    expect({ [label]: a }).toEqual({ [label]: e });
  }
  if (snap.db) expect(readIpamDb(path.join(dbDir, 'eni-ipam.db'))).toEqual(snap.db);
}

// ---- worlds the harness had ----------------------------------------------------------------------------

/** cape1 (the veth stand-in ENI, destroyed with a namespace) in the host, and the empty namespace capt1. */
function eniWorld(opts: { eni?: boolean; capt1?: boolean; capt2?: boolean } = {}): void {
  const w: World = newWorld();
  if (opts.eni ?? true) addHostEni(w, { name: 'cape1', mac: ENI_MAC, returns: false });
  if (opts.capt1 ?? true) createNetns(w, 'capt1', [CAPT1]);
  if (opts.capt2) createNetns(w, 'capt2', [CAPT2]);
  writeWorld(WORLD, w);
}

function freshDb(): void {
  dbSerial += 1;
  dbDir = path.join(TMP, `ipam-${dbSerial}`);
}

/** A test per case, named after it, comparing with the contract. */
function contractTest(name: string, opts: { before?: () => void; after?: () => void; fullLike?: () => string } = {}): void {
  test(
    name,
    () => {
      opts.before?.();
      const got = runCase(name);
      expectMatches(name, got, { fullLike: opts.fullLike?.() });
      opts.after?.();
    },
    SLOW,
  );
}

const ALL_RUN = new Set<string>();
const track = (name: string) => {
  ALL_RUN.add(name);
  return name;
};
function ct(name: string, opts: Parameters<typeof contractTest>[1] = {}): void {
  contractTest(track(name), opts);
}

beforeAll(() => {
  configure();
});

// ---- section 3: ecs-eni ------------------------------------------------------------------------------

describe('3. ecs-eni', () => {
  beforeAll(() => {
    configure();
    freshDb();
    eniWorld();
  });
  test('state eni-pre', () => expectState('eni-pre'));
  for (const n of ['eni-flag-version', 'eni-flag-capabilities', 'eni-version-cmd', 'eni-version-cmd-nostdin']) ct(n);
  ct('eni-add', { after: () => expectState('eni-add') });
  ct('eni-add-again');
  ct('eni-check');
  ct('eni-del', { after: () => expectState('eni-del') });
  ct('eni-del-again');
  for (const n of ['eni-nomac', 'eni-badjson', 'eni-miss-eni', 'eni-miss-mac', 'eni-miss-ips', 'eni-bad-mac', 'eni-bad-ip']) ct(n);
  for (const n of ['eni-no-cniversion', 'eni-cniversion-040', 'eni-cniversion-100', 'eni-missing-ifname', 'eni-no-command', 'eni-empty-stdin']) ct(n);
  ct('eni-add2', { before: () => eniWorld() });
  test('state eni-after-netns-del (the veth stand-in goes with the namespace)', () => {
    updateWorld(WORLD, (w) => removeNetnsPath(w, CAPT1));
    expectState('eni-after-netns-del');
  });
  ct('eni-del-nonetns');
  ct('eni-add-nonetns2', {
    before: () => eniWorld({ capt1: false }),
    after: () => expect(readWorld(WORLD).host.links.map((l) => l.name)).toEqual(['cape1']),
  });
  ct('eni-add-badgw', { before: () => eniWorld(), after: () => expectState('eni-add-badgw') });
  ct('eni-add-badgw-retry');
  ct('eni-staydown', { before: () => eniWorld(), after: () => expectState('eni-staydown') });
  ct('eni-mtu', { before: () => eniWorld(), after: () => expectState('eni-mtu') });
  ct('eni-dualstack', { before: () => eniWorld(), after: () => expectState('eni-dualstack') });
  ct('eni-v6only', { before: () => eniWorld(), after: () => expectState('eni-v6only') });
  ct('eni-nogw', { before: () => eniWorld(), after: () => expectState('eni-nogw') });
});

// ---- section 4: ecs-bridge with ecs-ipam -------------------------------------------------------------

describe('4. ecs-bridge (with ecs-ipam as its IPAM)', () => {
  let firstBridgeMac = '';
  beforeAll(() => {
    configure();
    freshDb();
    eniWorld({ eni: false });
  });
  test('state br-pre', () => expectState('br-pre'));
  for (const n of ['br-flag-version', 'br-flag-capabilities', 'br-version-cmd', 'br-check']) ct(n);
  ct('br-add', {
    after: () => {
      expectState('br-add');
      const w = readWorld(WORLD);
      firstBridgeMac = w.host.links.find((l) => l.name === 'capbr0')!.mac;
      const eth0 = netnsOf(w, CAPT1)!.links.find((l) => l.name === 'ecs-eth0')!;
      expect(w.host.links.find((l) => l.name === eth0.peer?.name)?.master).toBe('capbr0');
    },
  });
  ct('br-add-again', { after: () => expect(readIpamDb(path.join(dbDir, 'eni-ipam.db'))).toEqual(STATES.get('br-add')!.db) });
  ct('br-add-other-ifname', { after: () => expectState('br-add-other-ifname') });
  ct('br-del', { after: () => expectState('br-del') });
  ct('br-del-again');
  ct('br-del-other-ifname', { after: () => expectState('br-del-other-ifname') });
  ct('br-add-after-del', {
    fullLike: () => bridgeResultLike('169.254.172.3/22', '169.254.172.1'),
    after: () => expect(readWorld(WORLD).host.links.find((l) => l.name === 'capbr0')!.mac).toBe(firstBridgeMac),
  });
  ct('br-del-noipam', { after: () => expectState('br-del-noipam') });
  for (const n of ['br-badjson', 'br-miss-bridge']) ct(n);
  ct('br-miss-ipam', { after: () => expectState('br-miss-ipam') });
  ct('br-ipam-notfound', { after: () => expect(netnsOf(readWorld(WORLD), CAPT1)!.links.map((l) => l.name).sort()).toEqual(['ecs-eth2', 'ecs-eth3']) });
  for (const n of ['br-notabridge', 'br-no-cniversion', 'br-missing-ifname', 'br-add-nonetns']) ct(n);
  ct('br-add2', {
    before: () => {
      freshDb();
      eniWorld({ eni: false });
    },
    fullLike: () => bridgeResultLike('169.254.172.2/22', '169.254.172.1'),
  });
  test('state br-after-netns-del (the veth goes with the namespace, the host end too)', () => {
    updateWorld(WORLD, (w) => removeNetnsPath(w, CAPT1));
    expectState('br-after-netns-del');
  });
  ct('br-del-nonetns', { after: () => expectState('br-del-nonetns') });
  ct('br-del-nonetns-again', { after: () => expectState('br-del-nonetns') });
  ct('br-tiny-1', {
    before: () => {
      freshDb();
      eniWorld({ eni: false, capt2: true });
    },
    fullLike: () => bridgeResultLike('169.254.99.2/30', '169.254.99.1'),
  });
  ct('br-tiny-2', { after: () => expectState('br-tiny-2') });
  ct('br-dualstack', {
    before: () => {
      freshDb();
      eniWorld({ eni: false });
    },
    after: () => expectState('br-dualstack'),
  });
  ct('br-dualstack-del', { after: () => expectState('br-dualstack-del') });
});

// ---- section 5: ecs-ipam alone -----------------------------------------------------------------------

describe('5. ecs-ipam alone', () => {
  beforeAll(() => {
    configure();
    freshDb();
    eniWorld({ eni: false });
  });
  for (const n of ['ipam-flag-version', 'ipam-flag-capabilities', 'ipam-version-cmd', 'ipam-check']) ct(n);
  ct('ipam-add', { after: () => expectState('ipam-add') });
  for (const n of ['ipam-add-again', 'ipam-add-id2', 'ipam-add-explicit', 'ipam-add-explicit-taken']) ct(n);
  ct('ipam-add-noid', { after: () => expectState('ipam-add-noid') });
  ct('ipam-del', { after: () => expectState('ipam-del') });
  for (const n of ['ipam-del-again', 'ipam-del-addr', 'ipam-del-addr-again', 'ipam-del-neither']) ct(n);
  ct('ipam-add-after-del', { after: () => expectState('ipam-add-after-del') });
  for (const n of ['ipam-del-nonetns', 'ipam-add-nonetns', 'ipam-badjson', 'ipam-miss-ipam', 'ipam-miss-subnet', 'ipam-bad-subnet', 'ipam-subnet-31']) ct(n);
  for (const n of ['ipam-other-subnet-same-db', 'ipam-no-cniversion', 'ipam-gw', 'ipam-gw-other']) ct(n);
  ct('ipam-tiny-1', { after: () => expect(existsSync(path.join(dbDir, 'tiny', 'eni-ipam.db'))).toBe(true) });
  ct('ipam-tiny-2');
  ct('ipam-v6');
  ct('ipam-v6-del', {
    after: () =>
      expect(readIpamDb(path.join(dbDir, 'v6', 'eni-ipam.db'))).toEqual({
        '6fd00:ec5::1': { index: 1, value: 'GateWayV6' },
        lastKnownIPv6: { index: 1, value: 'fd00:ec5::2' },
      }),
  });
  test(track('ipam-locked'), () => {
    const lock = ipamLockPath(path.join(dbDir, 'eni-ipam.db'));
    expect(acquireLock(lock, 1000)).toBe(true);
    try {
      const t0 = Date.now();
      const got = runCase('ipam-locked');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expectMatches('ipam-locked', got);
    } finally {
      releaseLock(lock);
    }
  }, SLOW);
  test(track('ipam-locked-default'), async () => {
    const lock = ipamLockPath(path.join(dbDir, 'eni-ipam.db'));
    expect(acquireLock(lock, 1000)).toBe(true);
    const t0 = Date.now();
    const pending = runCaseAsync('ipam-locked-default');
    await new Promise((r) => setTimeout(r, 1500));
    releaseLock(lock);
    const got = await pending;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expectMatches('ipam-locked-default', got);
  }, 20_000);
  ct('ipam-bad-timeout');
});

// ---- section 6: vpc-eni ------------------------------------------------------------------------------

describe('6. vpc-eni', () => {
  beforeAll(() => {
    configure();
    freshDb();
    eniWorld();
  });
  test('state vpc-pre', () => expectState('vpc-pre'));
  for (const n of ['vpc-flag-version', 'vpc-flag-capabilities', 'vpc-version-cmd', 'vpc-version-cmd-100', 'vpc-version-cmd-nostdin', 'vpc-check-030']) ct(n);
  ct('vpc-add', { after: () => expectState('vpc-add') });
  ct('vpc-add-again');
  ct('vpc-check-100');
  ct('vpc-del', { after: () => expectState('vpc-del') });
  ct('vpc-del-again', { after: () => expectState('vpc-del') });
  ct('vpc-add-after-del', { after: () => expectState('vpc-add-after-del') });
  for (const n of ['vpc-nomac', 'vpc-badjson', 'vpc-miss-mac', 'vpc-miss-ips', 'vpc-bad-mac', 'vpc-bad-ip']) ct(n);
  for (const n of ['vpc-no-cniversion', 'vpc-cniversion-020', 'vpc-cniversion-110', 'vpc-missing-ifname', 'vpc-no-command', 'vpc-empty-stdin']) ct(n);
  ct('vpc-check-del-missing-netns-env');
  ct('vpc-add2', { before: () => eniWorld() });
  ct('vpc-del-nonetns', { before: () => updateWorld(WORLD, (w) => removeNetnsPath(w, CAPT1)) });
  ct('vpc-add-nonetns', {
    before: () => eniWorld({ capt1: false }),
    after: () => expect(readWorld(WORLD).host.links.map((l) => `${l.name} ${l.up}`)).toEqual(['cape1 false']),
  });
  ct('vpc-add-nogw', { before: () => eniWorld(), after: () => expectState('vpc-add-nogw') });
  ct('vpc-add-badgw', { before: () => eniWorld(), after: () => expectState('vpc-add-badgw') });
  ct('vpc-add-100', { before: () => eniWorld() });
  ct('vpc-add-031', { before: () => eniWorld() });
  ct('vpc-add-opdown', { before: () => eniWorld(), after: () => expectState('vpc-add-opdown') });
  ct('vpc-del-opdown', { after: () => expectState('vpc-del-opdown') });
  ct('vpc-add-dualstack', { before: () => eniWorld(), after: () => expectState('vpc-add-dualstack') });
  ct('vpc-add-v6only', { before: () => eniWorld(), after: () => expectState('vpc-add-v6only') });
  ct('vpc-add-noimds', {
    before: () => eniWorld(),
    after: () => expect(netnsOf(readWorld(WORLD), CAPT1)!.routes).toEqual(['default via 10.99.1.1 dev eth0']),
  });
});

// ---- section 7: cross-plugin runs ----------------------------------------------------------------------

describe('7.1 CNI_IFNAME already taken in the target netns', () => {
  const withCapif = () => {
    eniWorld();
    updateWorld(WORLD, (w) => addVethPair(w, { netns: 'capt1', name: 'capif1' }, { netns: 'capt1', name: 'capif0' }));
  };
  beforeAll(() => configure());
  ct('eni-ifname-exists', { before: withCapif, after: () => expectState('eni-ifname-exists') });
  ct('vpc-ifname-exists', { before: withCapif, after: () => expectState('vpc-ifname-exists') });
  ct('vpc-ifname-exists-del', {
    after: () => {
      expectState('vpc-ifname-exists-del');
      // the link moved out is the pre-existing veth: its peer capif1 now points at the host
      const w = readWorld(WORLD);
      expect(netnsOf(w, CAPT1)!.links.find((l) => l.name === 'capif1')!.peer).toEqual({ netns: 'host', name: 'ecsa990' });
    },
  });
});

describe('7.2 agent sequence with agent-shaped configs', () => {
  beforeAll(() => {
    configure();
    freshDb();
    eniWorld();
  });
  ct('agent-vpc-add');
  ct('agent-br-add', { fullLike: () => bridgeResultLike('169.254.172.2/22', '169.254.172.1'), after: () => expectState('agent-br-add') });
  ct('agent-br-del');
  ct('agent-vpc-del', { after: () => expectState('agent-vpc-del') });
});

describe('coverage of the contract', () => {
  test('every case of sections 3-7 has a test above', () => {
    // sections 3-7 hold every case of the contract (1, 2, 8 and 9 have none)
    const all = [...loadContract().keys()];
    expect(all.length).toBeGreaterThan(130);
    expect(all.filter((n) => !ALL_RUN.has(n))).toEqual([]);
  });
});

// ---- faults ------------------------------------------------------------------------------------------

const FAULT_CASES: Record<string, string[]> = {
  'ecs-eni': [
    'eni-badjson', 'eni-empty-stdin', 'eni-no-cniversion', 'eni-cniversion-040', 'eni-cniversion-100', 'eni-missing-ifname', 'eni-no-command',
    'eni-check', 'eni-miss-eni', 'eni-miss-mac', 'eni-miss-ips', 'eni-add-again', 'eni-nomac', 'eni-add-badgw-retry', 'eni-add-nonetns2',
    'eni-add-badgw', 'eni-ifname-exists', 'eni-staydown', 'eni-del', 'eni-del-again', 'eni-del-nonetns',
  ],
  'ecs-bridge': [
    'br-badjson', 'br-no-cniversion', 'br-missing-ifname', 'br-check', 'br-miss-bridge', 'br-add-again', 'br-notabridge', 'br-add-nonetns',
    'br-add-other-ifname', 'br-miss-ipam', 'br-ipam-notfound', 'br-tiny-2', 'br-del-nonetns', 'br-del-nonetns-again', 'br-del-noipam',
  ],
  'ecs-ipam': [
    'ipam-badjson', 'ipam-no-cniversion', 'ipam-check', 'ipam-miss-subnet', 'ipam-subnet-31', 'ipam-bad-timeout', 'ipam-locked',
    'ipam-add-again', 'ipam-other-subnet-same-db', 'ipam-gw-other', 'ipam-tiny-2', 'ipam-del-again', 'ipam-del-addr-again', 'ipam-del-neither',
  ],
  'vpc-eni': [
    'vpc-badjson', 'vpc-empty-stdin', 'vpc-miss-mac', 'vpc-miss-ips', 'vpc-no-cniversion', 'vpc-cniversion-020', 'vpc-cniversion-110',
    'vpc-missing-ifname', 'vpc-no-command', 'vpc-check-030', 'vpc-check-100', 'vpc-add-again', 'vpc-nomac', 'vpc-add-nonetns', 'vpc-add-nogw',
    'vpc-add-badgw', 'vpc-ifname-exists', 'vpc-add-after-del', 'vpc-add-opdown', 'vpc-del-again', 'vpc-del-nonetns', 'vpc-del-opdown',
  ],
};

/** Everything works here: both ENIs in the host, every namespace the inputs name exists, an empty DB. */
function healthyWorld(): void {
  const w = newWorld();
  addHostEni(w, { name: 'cape1', mac: ENI_MAC, returns: false });
  addHostEni(w, { name: 'cape2', mac: '0a:99:00:00:bb:02', returns: false });
  for (const id of ['capt1', 'capt2', 'capnope']) createNetns(w, id, [`/var/run/netns/${id}`]);
  writeWorld(WORLD, w);
}

describe('faults: a healthy world, the case input, and the fault => the recorded output', () => {
  for (const [plugin, cases] of Object.entries(FAULT_CASES)) {
    for (const name of cases) {
      test(`${plugin} fault ${name}`, () => {
        freshDb();
        healthyWorld();
        const inv = invocation(name);
        configure({ faults: { [`${plugin}:${inv.env.CNI_COMMAND ?? ''}`]: name } });
        expectMatches(name, runCase(name));
      }, SLOW);
    }
  }
});

describe('faults: side effects as the contract records them', () => {
  afterEach(() => configure());

  test('ecs-eni:ADD = eni-add-badgw with a good config: moved, addressed, UP, IMDS blocked, then fails', () => {
    freshDb();
    eniWorld();
    configure({ faults: { 'ecs-eni:ADD': 'eni-add-badgw' } });
    expectMatches('eni-add-badgw', runCase('eni-add'));
    expectState('eni-add-badgw');
    // and a retry cannot find the ENI, as recorded
    configure();
    expectMatches('eni-add-badgw-retry', runCase('eni-add'));
  }, SLOW);

  test('ecs-bridge:ADD = br-tiny-2 with a good config: the veth pair stays, attached; the DB is untouched', () => {
    freshDb();
    eniWorld({ eni: false });
    configure({ faults: { 'ecs-bridge:ADD': 'br-tiny-2' } });
    expectMatches('br-tiny-2', runCase('br-add'));
    const w = readWorld(WORLD);
    const eth0 = netnsOf(w, CAPT1)!.links.find((l) => l.name === 'ecs-eth0')!;
    expect(eth0.addrs).toEqual([]);
    expect(w.host.links.find((l) => l.name === eth0.peer!.name)!.master).toBe('capbr0');
    expect(readIpamDb(path.join(dbDir, 'eni-ipam.db'))).toEqual({});
  }, SLOW);

  test('ecs-bridge:DEL = br-del-nonetns after a good ADD: IPAM released, veth kept, exit 1 with the Statfs error', () => {
    freshDb();
    eniWorld({ eni: false });
    configure();
    expect(runCase('br-add').exit).toBe(0);
    configure({ faults: { 'ecs-bridge:DEL': 'br-del-nonetns' } });
    expectMatches('br-del-nonetns', runCase('br-del'));
    expect(readIpamDb(path.join(dbDir, 'eni-ipam.db'))).toEqual(STATES.get('br-del-nonetns')!.db);
    expect(netnsOf(readWorld(WORLD), CAPT1)!.links.map((l) => l.name)).toEqual(['ecs-eth0']);
  }, SLOW);

  test('vpc-eni:ADD = vpc-add-nogw with a good config: configured without default route, panic object, exit 0', () => {
    freshDb();
    eniWorld();
    configure({ faults: { 'vpc-eni:ADD': 'vpc-add-nogw' } });
    expectMatches('vpc-add-nogw', runCase('vpc-add'));
    expectState('vpc-add-nogw');
  }, SLOW);

  test('vpc-eni:ADD = vpc-add-after-del with a good config: a success result, the ENI only moved and renamed', () => {
    freshDb();
    eniWorld();
    configure({ faults: { 'vpc-eni:ADD': 'vpc-add-after-del' } });
    expectMatches('vpc-add', runCase('vpc-add'));
    const ns = netnsOf(readWorld(WORLD), CAPT1)!;
    expect(ns.links.map((l) => [l.name, l.up, l.addrs])).toEqual([['eth0', false, []]]);
    expect(ns.routes).toEqual([]);
  }, SLOW);

  test('ecs-ipam:ADD = ipam-add-again on an empty DB: the recorded error, nothing allocated', () => {
    freshDb();
    configure({ faults: { 'ecs-ipam:ADD': 'ipam-add-again' } });
    expectMatches('ipam-add-again', runCase('ipam-add'));
    expect(readIpamDb(path.join(dbDir, 'eni-ipam.db'))).toEqual({});
  }, SLOW);

  test('an unsupported fault fails loudly (exit 97)', () => {
    freshDb();
    eniWorld();
    configure({ faults: { 'ecs-eni:ADD': 'vpc-add-nogw' } });
    const got = runCase('eni-add');
    expect(got.exit).toBe(97);
    expect(got.stderr).toContain('fault "vpc-add-nogw" is not supported for ecs-eni:ADD');
  }, SLOW);
});

// ---- the machinery ---------------------------------------------------------------------------------------

describe('stand-in machinery', () => {
  beforeAll(() => configure());

  test('every call is logged, one JSON line each', () => {
    rmSync(CALLS, { force: true });
    freshDb();
    eniWorld({ eni: false });
    runCase('br-add');
    runCase('br-flag-version');
    const lines = readFileSync(CALLS, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CallRecord);
    // the bridge's IPAM child logs itself too, and finishes first
    expect(lines.map((l) => `${l.plugin} ${l.command} ${l.exit}`)).toEqual(['ecs-ipam ADD 0', 'ecs-bridge ADD 0', 'ecs-bridge --version 0']);
    const br = lines[1]!;
    expect(br).toMatchObject({ ifName: 'ecs-eth0', netns: CAPT1, containerId: 'capcid1', ipamId: ENI_MAC, stderr: '' });
    expect(br.stdout.startsWith('{\n    "interfaces"')).toBe(true);
    expect(typeof br.ts).toBe('string');
  }, SLOW);

  test('vpc-eni without VPC_CNI_LOG_FILE makes `C:\\ProgramData` in its working directory and logs there', () => {
    const cwd = mkdtempSync(path.join(TMP, 'cwd-'));
    eniWorld();
    const inv = invocation('vpc-add');
    delete inv.env.VPC_CNI_LOG_FILE;
    const r = spawnSync(inv.file, inv.args, { input: inv.stdin, env: inv.env, cwd, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(readdirSync(cwd)).toEqual(['C:\\ProgramData']);
    const [log] = readdirSync(path.join(cwd, 'C:\\ProgramData'));
    expect(log).toMatch(/^Amazon\\ECS\\log\\cni\\vpc-eni\.log\.\d{4}-\d\d-\d\d-\d\d$/);
  }, SLOW);

  test('ecs-bridge DEL with "ipam": {} (as the ECS agent sends it) deletes the veth but releases nothing', () => {
    freshDb();
    eniWorld({ eni: false });
    expect(runCase('br-add').exit).toBe(0);
    const before = readIpamDb(path.join(dbDir, 'eni-ipam.db'));
    const stdin = JSON.stringify({ ...JSON.parse(BASE_CONFIGS['ecs-bridge']!), ipam: {} });
    const log = path.join(TMP, 'ecs-cni.log');
    rmSync(log, { force: true });
    const got = runCase('br-del', { stdin });
    expect(got).toEqual({ exit: 0, stdout: '', stderr: '' });
    expect(netnsOf(readWorld(WORLD), CAPT1)!.links).toEqual([]);
    expect(readIpamDb(path.join(dbDir, 'eni-ipam.db'))).toEqual(before);
    expect(readFileSync(log, 'utf8')).toContain('no plugin name provided');
  }, SLOW);

  test('ECS plugins log to ECS_CNI_LOG_FILE', () => {
    const log = path.join(TMP, 'ecs-cni.log');
    rmSync(log, { force: true });
    eniWorld();
    runCase('eni-add');
    expect(readFileSync(log, 'utf8')).toContain('cape1');
  }, SLOW);

  test('updateWorld is safe between concurrent processes', async () => {
    const file = path.join(TMP, 'counter-world.json');
    writeWorld(file, newWorld());
    const worldMjs = path.join(STANDINS_DIR, 'lib', 'world.mjs');
    const script = `import { updateWorld } from ${JSON.stringify(worldMjs)};
for (let i = 0; i < 25; i++) updateWorld(${JSON.stringify(file)}, (w) => { w.host.routes.push('r'); });`;
    const scriptFile = path.join(TMP, 'bump.mjs');
    writeFileSync(scriptFile, script);
    await Promise.all(
      Array.from({ length: 6 }, () => new Promise<void>((resolve, reject) => execFile(process.execPath, [scriptFile], (err) => (err ? reject(err) : resolve())))),
    );
    expect(readWorld(file).host.routes.length).toBe(150);
  }, 60_000);

  test('a namespace destroyed with a returning ENI gives it back to the host (renamed on a clash)', () => {
    const w = newWorld();
    addHostEni(w, { name: 'eth1', mac: '0a:99:00:00:cc:01', returns: true });
    createNetns(w, 'n1', ['/run/netns/n1']);
    writeWorld(WORLD, w);
    mkdirSync(path.join(TMP, 'x'), { recursive: true });
    updateWorld(WORLD, (x) => {
      const eni = x.host.links.pop()!;
      eni.name = 'eth0';
      eni.up = true;
      eni.addrs = ['10.0.0.5/24'];
      x.netns.n1!.links.push(eni);
      addHostEni(x, { name: 'eth0', mac: '0a:99:00:00:cc:02' });
      removeNetnsPath(x, '/run/netns/n1');
    });
    const after = readWorld(WORLD);
    expect(after.netns).toEqual({});
    expect(after.host.links.map((l) => [l.name, l.mac, l.up, l.addrs])).toEqual([
      ['eth0', '0a:99:00:00:cc:02', false, []],
      ['dev2', '0a:99:00:00:cc:01', false, []],
    ]);
  });
});

// ---- the daemon's own configs for dual-stack and IPv6-only ENIs -----------------------------------------

describe("the daemon's ENI configs for IPv6 (plan -> stand-in) get the contract's answers", () => {
  beforeAll(() => configure());
  const base: EniSpec = {
    attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/a1',
    attachmentId: 'a1',
    ec2Id: 'eni-0a1b2c3d4e5f60718',
    macAddress: ENI_MAC,
    ipv4Addresses: [{ primary: true, privateAddress: '10.99.1.15' }],
    ipv6Addresses: [{ address: '2001:db8:99::15' }],
    subnetGatewayIpv4Address: '10.99.1.1/24',
    subnetGatewayIpv6Address: '2001:db8:99::1/64',
    domainNameServers: [],
    domainName: [],
  };
  const { subnetGatewayIpv4Address: _drop, ...noV4 } = base;
  const v6only: EniSpec = { ...noV4, ipv4Addresses: [] };
  const opts = { blockImds: true, ipamSubnet: '169.254.172.0/22', additionalLocalRoutes: [], ipamDataDir: '/x', bridgeName: 'capbr0', pluginLogLevel: 'debug' };
  const cases: Array<[string, 'ecs' | 'vpc', EniSpec]> = [
    ['eni-dualstack', 'ecs', base],
    ['eni-v6only', 'ecs', v6only],
    ['vpc-add-dualstack', 'vpc', base],
    ['vpc-add-v6only', 'vpc', v6only],
  ];
  for (const [name, set, eni] of cases) {
    test(`${name}: ${set} plan's ENI ADD config, through the stand-in, prints the contract's bytes and leaves its state`, () => {
      eniWorld();
      const stdin = JSON.stringify(buildPlan(set, eni, opts).add[0]!.config);
      expectMatches(name, runCase(name, { stdin }));
      expectState(name);
    }, SLOW);
  }
});
