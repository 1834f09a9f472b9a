// The recorded outputs of the real Amazon CNI plugins (ecs-eni, ecs-bridge, ecs-ipam, vpc-eni), as the plugin
// contract gives them, through the REAL ExecCniInvoker: test/fixtures/plugins/replay prints each case's exact
// stdout and stderr and exits with its status, and the test checks what the daemon makes of it (a CniResult,
// or a CniError with the plugin's code and message). The bytes come from test/support/plugin-contract.ts at run
// time; they are never copied here. One test per contract case, named after it; the last test fails when the
// contract has a case no test here covers.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describeBuild, parseCapabilitiesFlag, parseVersionFlag, pluginVersionAttribute } from '../../agent/cli/doctor.js';
import { CniError } from '../../agent/errors.js';
import { ExecCniInvoker, isAlreadyGone } from '../../cni/invoker.js';
import { parseCniResult, parseVersionResult, quote } from '../../cni/result.js';
import type { CniCall, CniIpConfig, CniResult, CniRoute, CniRuntime } from '../../cni/types.js';
import { contractCase, loadContract, type ContractCase } from '../support/plugin-contract.js';

const REPLAY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/plugins/replay');
const PLUGINS = ['ecs-eni', 'ecs-bridge', 'ecs-ipam', 'vpc-eni'] as const;
type Plugin = (typeof PLUGINS)[number];
type Command = CniError['command'];

/** The harness's netns (section 1); vpc-eni echoes it as `sandbox`, ecs-bridge names it in errors. */
const NETNS = '/var/run/netns/capt1';
const RT: CniRuntime = { containerId: 'capcid1', netns: NETNS, timeoutMs: 10_000 };
const ENI_MAC = '0a:99:00:00:aa:01';

let work: string;
let bin: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'awsvpcd-contract-'));
  bin = path.join(work, 'bin');
  await mkdir(bin);
  // The replay fixture under each plugin's name, so CniError.plugin and CNI_PATH lookup are the real ones.
  for (const p of PLUGINS) await symlink(REPLAY, path.join(bin, p));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Plumbing

const covered = new Set<string>();

/** test('<case>: <what>'), with the case read from the contract inside the test (a renamed case fails it). */
function caseTest(name: string, what: string, fn: (c: ContractCase, plugin: Plugin) => Promise<void>): void {
  covered.add(name);
  test(`${name}: ${what}`, async () => fn(contractCase(name), pluginFor(name)));
}

function pluginFor(name: string): Plugin {
  if (name.startsWith('eni-')) return 'ecs-eni';
  if (name.startsWith('br-') || name.startsWith('agent-br-')) return 'ecs-bridge';
  if (name.startsWith('ipam-')) return 'ecs-ipam';
  if (name.startsWith('vpc-') || name.startsWith('agent-vpc-')) return 'vpc-eni';
  throw new Error(`no plugin for case ${name}`);
}

/** A config as the daemon sends it; only cniVersion matters to the parser (undefined: left out). */
function call(plugin: Plugin, cniVersion: string | undefined): CniCall {
  const config: Record<string, unknown> = { name: 'network-name', type: plugin };
  if (cniVersion !== undefined) config.cniVersion = cniVersion;
  return { plugin, ifName: plugin === 'ecs-bridge' || plugin === 'ecs-ipam' ? 'ecs-eth0' : 'eth0', role: 'eni', config };
}

/** An invoker whose plugins replay `c` for `key` (a CNI_COMMAND or a flag). */
async function replaying(c: ContractCase, key: Command | '--version' | '--capabilities', stdout = c.stdout): Promise<{ inv: ExecCniInvoker; dir: string }> {
  if (stdout === undefined) throw new Error(`${c.name}: the contract cut this stdout and has no verbatim block`);
  const dir = await mkdtemp(path.join(work, `${c.name}-`));
  await writeFile(path.join(dir, `${key}.stdout`), stdout);
  await writeFile(path.join(dir, `${key}.stderr`), c.stderr);
  await writeFile(path.join(dir, `${key}.exit`), String(c.exit));
  return { inv: new ExecCniInvoker({ cniPath: bin, extraEnv: { REPLAY_DIR: dir } }), dir };
}

const EMPTY_PREV: CniResult = { cniVersion: '0.3.0', interfaces: [], ips: [], routes: [], dns: {} };

async function run(c: ContractCase, plugin: Plugin, command: Exclude<Command, 'VERSION'>, opts: { cniVersion?: string | null; netns?: string; stdout?: string } = {}): Promise<CniResult | undefined> {
  const { inv } = await replaying(c, command, opts.stdout ?? c.stdout);
  const cc = call(plugin, opts.cniVersion === null ? undefined : (opts.cniVersion ?? '0.3.0'));
  const rt = { ...RT, netns: opts.netns ?? RT.netns };
  if (command === 'ADD') return inv.add(cc, rt);
  if (command === 'DEL') await inv.del(cc, rt);
  else await inv.check(cc, rt, EMPTY_PREV);
  return undefined;
}

async function failure(...args: Parameters<typeof run>): Promise<CniError> {
  try {
    await run(...args);
  } catch (err) {
    expect(err).toBeInstanceOf(CniError);
    return err as CniError;
  }
  throw new Error(`${args[0].name}: expected a CniError`);
}

interface Recorded {
  code: number;
  msg: string;
  details?: string;
}

/** The error object the plugin printed, as recorded. */
function recorded(c: ContractCase): Recorded {
  const v = JSON.parse(c.stdout!) as Recorded;
  expect(Object.keys(v).sort()).toEqual(v.details === undefined ? ['code', 'msg'] : ['code', 'details', 'msg']);
  return v;
}

/** What CniError.message says for a code: the spec's text for the well-known ones only. */
const CODE_TEXT: Record<number, string> = {
  1: 'CNI error 1, incompatible CNI version',
  4: 'CNI error 4, invalid environment variables',
  6: 'CNI error 6, failed to decode content',
  100: 'CNI error 100',
  999: 'CNI error 999',
};

/** The CniError keeps the plugin's code and msg whole, a bounded readable message, and details (else stderr). */
function expectPluginError(err: CniError, c: ContractCase, plugin: Plugin, command: Command, code: number): Recorded {
  const rec = recorded(c);
  expect(rec.code).toBe(code);
  expect(err.kind).toBe('plugin-error');
  expect(err.code).toBe('CNI_ERROR');
  expect(err.plugin).toBe(plugin);
  expect(err.command).toBe(command);
  expect(err.cniCode).toBe(code);
  expect(err.cniMsg).toBe(rec.msg);
  expect(err.retriable).toBe(false);
  const exit0 = c.exit === 0 ? '; printed with exit status 0' : '';
  expect(err.message).toBe(`${plugin} ${command}: ${quote(rec.msg)} (${CODE_TEXT[code]}${exit0})`);
  expect(err.details).toBe(rec.details !== undefined ? quote(rec.details) : c.stderr.trim() ? quote(c.stderr) : undefined);
  return rec;
}

/** A failing case replayed as `command`: the CniError, checked as above, plus what `more` says. */
function errorCase(name: string, what: string, command: Exclude<Command, 'VERSION'>, code: number, more: (err: CniError, rec: Recorded) => void, cniVersion: string | null = '0.3.0'): void {
  caseTest(name, `${command} -> plugin-error ${code}, cniMsg = recorded msg; ${what}`, async (c, plugin) => {
    expect(c.exit).toBe(1);
    const err = await failure(c, plugin, command, { cniVersion });
    more(err, expectPluginError(err, c, plugin, command, code));
  });
}

/** A DEL (or CHECK) that exits 0 with nothing on stdout: done. */
function emptySuccess(name: string, what: string, command: 'DEL' | 'CHECK' = 'DEL', cniVersion = '0.3.0'): void {
  caseTest(name, `exit 0, empty stdout -> ${command} succeeds; ${what}`, async (c, plugin) => {
    expect(c.exit).toBe(0);
    expect(c.stdout).toBe('');
    expect(c.stderr).toBe('');
    await expect(run(c, plugin, command, { cniVersion })).resolves.toBeUndefined();
  });
}

/** An ADD success replayed with a config of `cniVersion`: exactly `want`. */
function addCase(name: string, what: string, want: CniResult, cniVersion = '0.3.0'): void {
  caseTest(name, `ADD -> ${what}`, async (c, plugin) => {
    expect(c.exit).toBe(0);
    expect(c.stderr).toBe('');
    const hasVersion = 'cniVersion' in (JSON.parse(c.stdout!) as object);
    // The ECS plugins never print cniVersion; vpc-eni always does, echoing the config.
    expect(hasVersion).toBe(plugin === 'vpc-eni');
    expect(await run(c, plugin, 'ADD', { cniVersion })).toEqual(want);
  });
}

const eniResult = (...addresses: string[]): CniResult => ({
  cniVersion: '0.3.0',
  interfaces: [{ name: 'cape1', mac: ENI_MAC }],
  ips: addresses.map((address) => ({ address })),
  routes: [],
  dns: {},
});

const vpcResult = (cniVersion: string, address: string, gateway: string, ifName = 'eth0'): CniResult => ({
  cniVersion,
  interfaces: [{ name: ifName, mac: ENI_MAC, sandbox: NETNS }],
  ips: [{ address, gateway, interface: 0 }],
  routes: [],
  dns: {},
});

const ipamResult = (address: string, gateway: string, dst = '169.254.170.2/32'): CniResult => ({
  cniVersion: '0.3.0',
  interfaces: [],
  ips: [{ address, gateway }],
  routes: [{ dst }],
  dns: {},
});

const brResult = (bridgeMac: string, veth: string, vethMac: string, ips: CniIpConfig[], routes: CniRoute[]): CniResult => ({
  cniVersion: '0.3.0',
  interfaces: [{ name: 'capbr0', mac: bridgeMac }, { name: veth, mac: vethMac }, { name: 'ecs-eth0' }],
  ips,
  routes,
  dns: {},
});

// ---------------------------------------------------------------------------------------------
// ecs-eni (section 3)

describe('ecs-eni', () => {
  caseTest('eni-add', 'ADD -> the host device and IP, cniVersion read as the config\'s 0.3.0 (the result has none)', async (c, plugin) => {
    expect(c.stdout).not.toContain('cniVersion');
    expect(await run(c, plugin, 'ADD')).toEqual(eniResult('10.99.1.15/24'));
    // What every task hit before: without the config's version the same bytes are unreadable.
    expect(() => parseCniResult(c.stdout!, plugin, 'ADD')).toThrow(expect.objectContaining({ kind: 'bad-output', message: expect.stringContaining('no cniVersion') }) as unknown as Error);
  });
  addCase('eni-add2', 'same result as eni-add', eniResult('10.99.1.15/24'));
  addCase('eni-staydown', 'the IP is listed although nothing was configured (stay-down)', eniResult('10.99.1.15/24'));
  addCase('eni-mtu', 'netlib-style config, same result', eniResult('10.99.1.15/24'));
  addCase('eni-dualstack', 'both families, IPv4 first', eniResult('10.99.1.15/24', '2001:db8:99::15/64'));
  addCase('eni-v6only', 'the IPv6 address only', eniResult('2001:db8:99::15/64'));
  addCase('eni-nogw', 'no gateway anywhere in the result', eniResult('10.99.1.15/24'));

  errorCase('eni-add-again', 'the MAC lookup fails once the ENI has moved', 'ADD', 100, (err) => {
    expect(err.cniMsg).toContain('device with mac address not found');
  });
  errorCase('eni-check', 'CHECK is not supported', 'CHECK', 100, (err) => expect(err.cniMsg).toBe('unknown CNI_COMMAND: CHECK'));
  errorCase('eni-nomac', 'same text as a repeated ADD', 'ADD', 100, (err) => {
    expect(err.cniMsg).toBe(recorded(contractCase('eni-add-again')).msg.replace('0a:99:00:00:aa:01', '0a:99:00:00:bb:02'));
  });
  errorCase('eni-badjson', 'skel cannot decode the config', 'ADD', 100, (err) => expect(err.cniMsg).toContain('unexpected end of JSON input'));
  errorCase('eni-miss-eni', 'missing "eni"', 'ADD', 100, (err) => expect(err.cniMsg).toContain("'eni'"));
  errorCase('eni-miss-mac', 'missing "mac"', 'ADD', 100, (err) => expect(err.cniMsg).toContain("'mac'"));
  errorCase('eni-miss-ips', 'missing "ip-addresses"', 'ADD', 100, (err) => expect(err.cniMsg).toContain("'ip-addresses'"));
  errorCase('eni-bad-mac', 'malformed MAC', 'ADD', 100, (err) => expect(err.cniMsg).toContain('invalid MAC address'));
  errorCase('eni-bad-ip', 'address without prefix length', 'ADD', 100, (err) => expect(err.cniMsg).toContain('malformed IP address'));
  errorCase('eni-no-cniversion', 'config without cniVersion; details kept', 'ADD', 1, (err, rec) => {
    expect(err.message).toContain('incompatible CNI version');
    expect(err.details).toBe(rec.details);
    expect(err.details).toContain('"0.1.0"');
  }, null);
  errorCase('eni-cniversion-040', 'config 0.4.0; details kept', 'ADD', 1, (err) => expect(err.details).toContain('"0.4.0"'), '0.4.0');
  errorCase('eni-cniversion-100', 'config 1.0.0; details kept', 'ADD', 1, (err) => expect(err.details).toContain('"1.0.0"'), '1.0.0');
  errorCase('eni-missing-ifname', 'the stderr line (never JSON) becomes details', 'ADD', 100, (err) => {
    expect(err.cniMsg).toBe('required env variables missing');
    expect(err.details).toBe('CNI_IFNAME env variable missing');
  });
  errorCase('eni-no-command', 'the stderr line becomes details', 'ADD', 100, (err) => expect(err.details).toBe('CNI_COMMAND env variable missing'));
  errorCase('eni-empty-stdin', 'same as malformed JSON', 'ADD', 100, (err) => expect(err.cniMsg).toBe(recorded(contractCase('eni-badjson')).msg));
  errorCase('eni-add-nonetns2', 'the netns is missing', 'ADD', 100, (err) => expect(err.cniMsg).toContain(`failed to Statfs "${NETNS}": no such file or directory`));
  errorCase('eni-add-badgw', 'gateway route failed after the ENI moved', 'ADD', 100, (err) => expect(err.cniMsg).toContain('unable to add the route for the gateway'));
  errorCase('eni-add-badgw-retry', 'the retry cannot find the ENI', 'ADD', 100, (err) => expect(err.cniMsg).toBe(recorded(contractCase('eni-add-again')).msg));
  errorCase('eni-ifname-exists', 'the rename fails in the netns (section 7.1)', 'ADD', 100, (err) => expect(err.cniMsg).toContain('unable to change interface name: file exists'));

  emptySuccess('eni-del', 'DEL is a no-op');
  emptySuccess('eni-del-again', 'repeated DEL');
  emptySuccess('eni-del-nonetns', 'netns gone');

  caseTest('eni-version-cmd', 'VERSION -> 0.3.0 only, through the invoker and parseVersionResult', async (c, plugin) => {
    const want = { cniVersion: '0.3.0', supportedVersions: ['0.3.0'] };
    expect(parseVersionResult(c.stdout!, plugin)).toEqual(want);
    const { inv } = await replaying(c, 'VERSION');
    expect(await inv.version(plugin, 10_000)).toEqual(want);
  });
  caseTest('eni-version-cmd-nostdin', 'VERSION -> the same answer', async (c, plugin) => {
    expect(c.stdout).toBe(contractCase('eni-version-cmd').stdout);
    const { inv } = await replaying(c, 'VERSION');
    expect(await inv.version(plugin, 10_000)).toEqual({ cniVersion: '0.3.0', supportedVersions: ['0.3.0'] });
  });
});

// ---------------------------------------------------------------------------------------------
// ecs-bridge (section 4)

/** What a truncated ecs-bridge ADD cell proves: everything before "routes", which the cut falls inside. */
function throughIps(c: ContractCase): string {
  expect(c.truncated).toBe(true);
  expect(c.stdout).toBeUndefined();
  const at = c.stdoutPrefix.indexOf(',\n    "routes": [');
  expect(at).toBeGreaterThan(0);
  // The recorded bytes up to the end of "ips", closed: still only what the plugin printed, minus the routes.
  return `${c.stdoutPrefix.slice(0, at)}\n}`;
}

/** The prefix, names/MACs/addresses blanked, continues br-add's full (verbatim) stdout: same shape, same order. */
function expectBrAddShape(c: ContractCase): void {
  const blank = (s: string): string =>
    s.replace(/[0-9a-f]{2}(:[0-9a-f]{2}){5}/g, '<mac>').replace(/veth[0-9a-f]{8}/g, '<veth>').replace(/\d+\.\d+\.\d+\.\d+(\/\d+)?/g, '<ip>');
  const whole = contractCase('br-add').stdout!;
  const prefix = c.stdoutPrefix.slice(0, c.stdoutPrefix.lastIndexOf('\n')); // drop the cut line
  expect(blank(whole).startsWith(blank(prefix))).toBe(true);
  expect(c.stdoutPrefix).toContain('"dst": "169.254.170.2/32"');
}

function truncatedBrAdd(name: string, what: string, want: Pick<CniResult, 'interfaces' | 'ips'>): void {
  caseTest(name, `truncated cell, no verbatim block: interfaces and ips from the recorded prefix (routes cut; the full result is covered by br-add); ${what}`, async (c, plugin) => {
    expectBrAddShape(c);
    const r = await run(c, plugin, 'ADD', { stdout: throughIps(c) });
    expect(r).toEqual({ cniVersion: '0.3.0', interfaces: want.interfaces, ips: want.ips, routes: [], dns: {} });
  });
}

describe('ecs-bridge', () => {
  caseTest('br-add', 'ADD (verbatim block) -> bridge, host veth, container veth without mac; ips[].interface 2; both routes; cniVersion from the config', async (c, plugin) => {
    expect(c.truncated).toBe(true);
    expect(c.stdout).not.toContain('cniVersion');
    expect(await run(c, plugin, 'ADD')).toEqual(
      brResult('3e:2b:dc:ce:f2:e7', 'veth36068456', 'fe:af:7b:f3:18:67', [{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 }], [
        { dst: '169.254.170.2/32' },
        { dst: '169.254.172.1/32', gw: '169.254.172.1' },
      ]),
    );
  });
  caseTest('br-dualstack', 'ADD (verbatim block) -> two ips on interface 2, a /128 gateway route for IPv6', async (c, plugin) => {
    expect(c.truncated).toBe(true);
    expect(await run(c, plugin, 'ADD')).toEqual(
      brResult(
        '86:38:e3:b4:01:0a',
        'veth73f0b2ee',
        'b6:b4:f7:8b:cf:7e',
        [
          { address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 },
          { address: 'fd00:ec5::2/64', gateway: 'fd00:ec5::1', interface: 2 },
        ],
        [{ dst: '169.254.170.2/32' }, { dst: 'fd00:ec2::23/128' }, { dst: '169.254.172.1/32', gw: '169.254.172.1' }, { dst: 'fd00:ec5::1/128', gw: 'fd00:ec5::1' }],
      ),
    );
  });
  const containerIf = { name: 'ecs-eth0' };
  truncatedBrAdd('br-add-after-del', 'the allocator moved on to .3', {
    interfaces: [{ name: 'capbr0', mac: '3e:2b:dc:ce:f2:e7' }, { name: 'veth9e90cba7', mac: 'aa:5e:92:76:37:f6' }, containerIf],
    ips: [{ address: '169.254.172.3/22', gateway: '169.254.172.1', interface: 2 }],
  });
  truncatedBrAdd('br-add2', 'a fresh bridge', {
    interfaces: [{ name: 'capbr0', mac: '8a:a1:87:b9:ea:e0' }, { name: 'veth1d6565ad', mac: '62:2d:f3:c3:56:9d' }, containerIf],
    ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 }],
  });
  truncatedBrAdd('br-tiny-1', 'a /30: gateway .1, container .2', {
    interfaces: [{ name: 'capbr0', mac: 'de:9a:0f:96:72:d2' }, { name: 'veth6303d853', mac: '0e:aa:f0:04:75:fe' }, containerIf],
    ips: [{ address: '169.254.99.2/30', gateway: '169.254.99.1', interface: 2 }],
  });
  truncatedBrAdd('agent-br-add', 'the agent-shaped config (section 7.2)', {
    interfaces: [{ name: 'capbr0', mac: '4a:b2:57:1c:b4:89' }, { name: 'veth116e9aba', mac: '22:83:74:c1:86:55' }, containerIf],
    ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 2 }],
  });

  errorCase('br-check', 'CHECK is not supported', 'CHECK', 100, (err) => expect(err.cniMsg).toBe('unknown CNI_COMMAND: CHECK'));
  errorCase('br-add-again', 'the container veth name exists', 'ADD', 100, (err) => expect(err.cniMsg).toContain('container veth name provided (ecs-eth0) already exists'));
  errorCase('br-add-other-ifname', "ecs-ipam's error wrapped by ecs-bridge", 'ADD', 100, (err) => expect(err.cniMsg).toContain('ipstore: id already exists'));
  errorCase('br-badjson', 'skel cannot decode the config', 'ADD', 100, (err) => expect(err.cniMsg).toContain('unexpected end of JSON input'));
  errorCase('br-miss-bridge', 'missing "bridge"', 'ADD', 100, (err) => expect(err.cniMsg).toContain("'bridge'"));
  errorCase('br-miss-ipam', 'missing "ipam"', 'ADD', 100, (err) => expect(err.cniMsg).toContain('no plugin name provided'));
  errorCase('br-ipam-notfound', 'IPAM plugin not in CNI_PATH; quotes kept verbatim', 'ADD', 100, (err) => expect(err.cniMsg).toContain('failed to find plugin "ecs-nosuch"'));
  errorCase('br-notabridge', '"bridge": "lo"', 'ADD', 100, (err) => expect(err.cniMsg).toContain('already exists, but is not a bridge'));
  errorCase('br-no-cniversion', 'config without cniVersion; details kept', 'ADD', 1, (err, rec) => expect(err.details).toBe(rec.details), null);
  errorCase('br-missing-ifname', 'the stderr line becomes details', 'ADD', 100, (err) => expect(err.details).toBe('CNI_IFNAME env variable missing'));
  errorCase('br-add-nonetns', 'raw netns error, no plugin prefix', 'ADD', 100, (err) => expect(err.cniMsg).toBe('failed to Statfs "/var/run/netns/capnope": no such file or directory'));
  errorCase('br-tiny-2', 'subnet exhausted', 'ADD', 100, (err) => expect(err.cniMsg).toContain('failed to find available ip addresses in the subnet'));

  for (const name of ['br-del-nonetns', 'br-del-nonetns-again']) {
    caseTest(name, 'DEL exit 1, our netns is gone -> counted as already gone; for another netns the CniError keeps code 100 and the msg', async (c, plugin) => {
      expect(c.exit).toBe(1);
      await expect(run(c, plugin, 'DEL')).resolves.toBeUndefined();
      const err = await failure(c, plugin, 'DEL', { netns: '/var/run/netns/other' });
      expectPluginError(err, c, plugin, 'DEL', 100);
      expect(err.cniMsg).toBe(`failed to Statfs "${NETNS}": no such file or directory`);
      expect(isAlreadyGone(err, NETNS)).toBe(true);
      expect(isAlreadyGone(err, '/var/run/netns/other')).toBe(false);
    });
  }

  emptySuccess('br-del', 'veth deleted, IPAM released');
  emptySuccess('br-del-again', 'repeated DEL');
  emptySuccess('br-del-other-ifname', 'the leaked veth');
  emptySuccess('br-del-noipam', 'no "ipam" in the config');
  emptySuccess('br-dualstack-del', 'both families released');
  emptySuccess('agent-br-del', 'agent-shaped config (section 7.2)');

  caseTest('br-version-cmd', 'VERSION -> 0.3.0 only', async (c, plugin) => {
    const { inv } = await replaying(c, 'VERSION');
    expect(await inv.version(plugin, 10_000)).toEqual({ cniVersion: '0.3.0', supportedVersions: ['0.3.0'] });
  });
});

// ---------------------------------------------------------------------------------------------
// ecs-ipam (section 5)

describe('ecs-ipam', () => {
  addCase('ipam-add', 'no interfaces; gateway subnet+1; the config route', ipamResult('169.254.172.2/22', '169.254.172.1'));
  addCase('ipam-add-id2', 'the next address', ipamResult('169.254.172.3/22', '169.254.172.1'));
  addCase('ipam-add-explicit', 'the explicit address', ipamResult('169.254.172.50/22', '169.254.172.1'));
  addCase('ipam-add-noid', 'allowed without an id', ipamResult('169.254.172.51/22', '169.254.172.1'));
  addCase('ipam-add-after-del', 'rotation after lastKnownIP', ipamResult('169.254.172.52/22', '169.254.172.1'));
  addCase('ipam-add-nonetns', 'CNI_NETNS is never opened', ipamResult('169.254.172.4/22', '169.254.172.1'));
  addCase('ipam-gw', 'explicit gateway equal to the stored one', ipamResult('169.254.172.5/22', '169.254.172.1'));
  addCase('ipam-tiny-1', 'a /30', ipamResult('169.254.99.2/30', '169.254.99.1'));
  addCase('ipam-v6', 'IPv6 only', ipamResult('fd00:ec5::2/64', 'fd00:ec5::1', 'fd00:ec2::23/128'));
  addCase('ipam-locked-default', 'after waiting for the lock', ipamResult('169.254.172.6/22', '169.254.172.1'));

  errorCase('ipam-check', 'CHECK is not supported', 'CHECK', 100, (err) => expect(err.cniMsg).toBe('unknown CNI_COMMAND: CHECK'));
  errorCase('ipam-add-again', 'the id holds an address already', 'ADD', 100, (err) => expect(err.cniMsg).toContain('ipstore: id already exists'));
  errorCase('ipam-add-explicit-taken', 'libkv wording', 'ADD', 100, (err) => expect(err.cniMsg).toContain('Previous K/V pair exists'));
  errorCase('ipam-del-again', 'NOT counted as already gone; cniMsg carries the fact to judge', 'DEL', 100, (err) => {
    expect(err.cniMsg).toBe('release ipstore: no ip address associated with the given id: 0a:99:00:00:aa:01');
    expect(isAlreadyGone(err, NETNS)).toBe(false);
  });
  errorCase('ipam-del-addr-again', 'release by address, again', 'DEL', 100, (err) => expect(err.cniMsg).toBe('release ipstore: ip does not existed in the db: 169.254.172.50'));
  errorCase('ipam-del-neither', 'neither id nor address', 'DEL', 100, (err) => expect(err.cniMsg).toContain('can not all be empty for deletion'));
  errorCase('ipam-badjson', 'skel cannot decode the config', 'ADD', 100, (err) => expect(err.cniMsg).toContain('unexpected end of JSON input'));
  errorCase('ipam-miss-ipam', 'the msg echoes the whole config, kept whole in cniMsg', 'ADD', 100, (err) => {
    expect(err.cniMsg).toContain('{"cniVersion":"0.3.0","name":"ecs-ipam","type":"ecs-ipam"}');
  });
  errorCase('ipam-miss-subnet', 'no subnet', 'ADD', 100, (err) => expect(err.cniMsg).toContain('at least one subnet'));
  errorCase('ipam-bad-subnet', 'the msg echoes the whole config; cniMsg ends with the cause', 'ADD', 100, (err) => {
    expect(err.cniMsg!.endsWith('invalid CIDR address: not-a-cidr')).toBe(true);
  });
  errorCase('ipam-subnet-31', 'a /31 has no address', 'ADD', 100, (err) => expect(err.cniMsg).toContain('no available ip in the subnet'));
  errorCase('ipam-other-subnet-same-db', 'one gateway per DB', 'ADD', 100, (err) => expect(err.cniMsg).toContain('id: GateWay: ipstore: id already exists'));
  errorCase('ipam-no-cniversion', 'config without cniVersion; details kept', 'ADD', 1, (err, rec) => expect(err.details).toBe(rec.details), null);
  errorCase('ipam-gw-other', 'same text as a second subnet', 'ADD', 100, (err) => expect(err.cniMsg).toBe(recorded(contractCase('ipam-other-subnet-same-db')).msg));
  errorCase('ipam-tiny-2', 'subnet exhausted', 'ADD', 100, (err) => expect(err.cniMsg).toContain('failed to find available ip addresses in the subnet'));
  errorCase('ipam-locked', 'the whole msg is "timeout"', 'ADD', 100, (err) => expect(err.cniMsg).toBe('timeout'));
  errorCase('ipam-bad-timeout', 'bad IPAM_DB_CONNECTION_TIMEOUT', 'ADD', 100, (err) => expect(err.cniMsg).toContain('parsing timeout string failed'));

  emptySuccess('ipam-del', 'release by id');
  emptySuccess('ipam-del-addr', 'release by address');
  emptySuccess('ipam-del-nonetns', 'CNI_NETNS is never opened');
  emptySuccess('ipam-v6-del', 'IPv6 release');

  caseTest('ipam-version-cmd', 'VERSION -> 0.3.0 only', async (c, plugin) => {
    const { inv } = await replaying(c, 'VERSION');
    expect(await inv.version(plugin, 10_000)).toEqual({ cniVersion: '0.3.0', supportedVersions: ['0.3.0'] });
  });
});

// ---------------------------------------------------------------------------------------------
// vpc-eni (sections 6, 7)

describe('vpc-eni', () => {
  const ok = vpcResult('0.3.0', '10.99.1.15/24', '10.99.1.1');
  addCase('vpc-add', 'interfaces[0] is CNI_IFNAME in the netns, ips[0].interface 0, its own cniVersion', ok);
  addCase('vpc-add-after-del', 'a normal-looking success (the netns is not configured: verify it)', ok);
  addCase('vpc-add2', 'same as vpc-add', ok);
  addCase('vpc-add-badgw', 'a success listing the unreachable gateway', vpcResult('0.3.0', '10.99.1.15/24', '10.50.0.1'));
  addCase('vpc-add-100', 'cniVersion 1.0.0, ips[] without version', vpcResult('1.0.0', '10.99.1.15/24', '10.99.1.1'), '1.0.0');
  addCase('vpc-add-031', 'cniVersion 0.3.1 as printed', vpcResult('0.3.1', '10.99.1.15/24', '10.99.1.1'), '0.3.1');
  addCase('vpc-add-opdown', 'claims eth0 with an address', ok);
  addCase('vpc-add-dualstack', 'only the first (IPv4) address reported', ok);
  addCase('vpc-add-v6only', 'version "6"', vpcResult('0.3.0', '2001:db8:99::15/64', '2001:db8:99::1'));
  addCase('vpc-add-noimds', 'same shape', ok);
  addCase('vpc-ifname-exists', 'a success naming the taken ifname (section 7.1)', vpcResult('0.3.0', '10.99.1.15/24', '10.99.1.1', 'capif0'));
  addCase('agent-vpc-add', 'identical to vpc-add (section 7.2)', ok);

  caseTest('vpc-add-nogw', 'exit 0 with an error object (recovered panic) -> plugin-error 100 with cniMsg, the Go stack in details', async (c, plugin) => {
    expect(c.exit).toBe(0);
    expect(c.truncated).toBe(true); // the verbatim block gives the whole stdout
    const err = await failure(c, plugin, 'ADD');
    const rec = expectPluginError(err, c, plugin, 'ADD', 100);
    expect(err.cniMsg).toBe('runtime error: index out of range [0] with length 0');
    expect(err.message).toContain('printed with exit status 0');
    expect(rec.details!.length).toBeGreaterThan(1000);
    expect(err.details!.startsWith('goroutine 1 [running, locked to thread]:')).toBe(true);
    // The same bytes on a DEL are a failure too, never "done".
    expect((await failure(c, plugin, 'DEL')).cniCode).toBe(100);
  });

  errorCase('vpc-check-030', 'CHECK refused below 0.4.0', 'CHECK', 1, (err) => expect(err.cniMsg).toBe('config version does not allow CHECK'));
  errorCase('vpc-add-again', 'misleading "invalid MAC address"', 'ADD', 999, (err) => expect(err.cniMsg).toBe('invalid MAC address'));
  errorCase('vpc-nomac', 'same text as a repeated ADD', 'ADD', 999, (err) => expect(err.cniMsg).toBe(recorded(contractCase('vpc-add-again')).msg));
  errorCase('vpc-badjson', 'decode error', 'ADD', 6, (err) => expect(err.message).toContain('failed to decode content'));
  errorCase('vpc-miss-mac', 'validation', 'ADD', 999, (err) => expect(err.cniMsg).toContain('ENIName or ENIMACAddress'));
  errorCase('vpc-miss-ips', 'validation', 'ADD', 999, (err) => expect(err.cniMsg).toContain('ENIIPAddresses'));
  errorCase('vpc-bad-mac', 'validation', 'ADD', 999, (err) => expect(err.cniMsg).toBe('invalid ENIMACAddress not-a-mac'));
  errorCase('vpc-bad-ip', 'validation', 'ADD', 999, (err) => expect(err.cniMsg).toBe('invalid ENIIPAddress 10.99.1.15'));
  errorCase('vpc-no-cniversion', 'details list the four versions', 'ADD', 1, (err, rec) => expect(err.details).toBe(rec.details), null);
  errorCase('vpc-cniversion-020', 'config 0.2.0', 'ADD', 1, (err) => expect(err.details).toContain('"0.2.0"'), '0.2.0');
  errorCase('vpc-cniversion-110', 'config 1.1.0', 'ADD', 1, (err) => expect(err.details).toContain('"1.1.0"'), '1.1.0');
  errorCase('vpc-missing-ifname', 'code 4, nothing on stderr', 'ADD', 4, (err) => {
    expect(err.message).toContain('invalid environment variables');
    expect(err.details).toBeUndefined();
  });
  errorCase('vpc-empty-stdin', 'decode error', 'ADD', 6, (err) => expect(err.cniMsg).toBe(recorded(contractCase('vpc-badjson')).msg));
  errorCase('vpc-add-nonetns', 'netns missing', 'ADD', 999, (err) => expect(err.cniMsg).toBe(`open ${NETNS}: no such file or directory`));

  emptySuccess('vpc-check-100', 'CHECK at 1.0.0 is a no-op', 'CHECK', '1.0.0');
  emptySuccess('vpc-del', 'ENI back to the host');
  emptySuccess('vpc-del-again', 'repeated DEL');
  emptySuccess('vpc-check-del-missing-netns-env', 'CNI_NETNS unset');
  emptySuccess('vpc-del-nonetns', 'netns gone');
  emptySuccess('vpc-del-opdown', 'exit 0 although nothing was moved');
  emptySuccess('vpc-ifname-exists-del', 'exit 0 although the wrong link was moved (section 7.1)');
  emptySuccess('agent-vpc-del', 'agent-shaped config (section 7.2)');

  caseTest('vpc-no-command', 'exit 0, empty stdout, banner on stderr -> a DEL succeeds; an ADD is bad-output (empty)', async (c, plugin) => {
    expect(c.exit).toBe(0);
    expect(c.stdout).toBe('');
    expect(c.stderr).toContain('vpc-eni');
    await expect(run(c, plugin, 'DEL')).resolves.toBeUndefined();
    const err = await failure(c, plugin, 'ADD');
    expect(err.kind).toBe('bad-output');
    expect(err.cniCode).toBeUndefined();
    expect(err.message).toContain('empty output');
  });

  const vpcVersions = { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] };
  caseTest('vpc-version-cmd', 'VERSION -> 1.0.0 and four versions, through the invoker and parseVersionResult', async (c, plugin) => {
    expect(parseVersionResult(c.stdout!, plugin)).toEqual(vpcVersions);
    const { inv } = await replaying(c, 'VERSION');
    expect(await inv.version(plugin, 10_000)).toEqual(vpcVersions);
  });
  for (const name of ['vpc-version-cmd-100', 'vpc-version-cmd-nostdin']) {
    caseTest(name, 'VERSION -> the same answer', async (c, plugin) => {
      const { inv } = await replaying(c, 'VERSION');
      expect(await inv.version(plugin, 10_000)).toEqual(vpcVersions);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// --version / --capabilities, as doctor reads them (the run itself is replayed, args and all)

async function flag(c: ContractCase, plugin: Plugin, arg: '--version' | '--capabilities'): Promise<string> {
  const { dir } = await replaying(c, arg);
  const r = await execa(path.join(bin, plugin), [arg], { env: { PATH: '/usr/bin:/bin', REPLAY_DIR: dir }, extendEnv: false, stdin: 'ignore', stripFinalNewline: false });
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toBe(c.stdout); // the replay is byte-exact
  expect(await readFile(path.join(dir, `${arg}.stdin-seen`), 'utf8')).toBe('');
  return r.stdout;
}

describe('--version / --capabilities', () => {
  for (const name of ['eni-flag-version', 'br-flag-version', 'ipam-flag-version']) {
    caseTest(name, 'ECS shape {version,dirty,gitShortHash}, empty from a source build -> "(source build, no version)", attribute "@-"', async (c, plugin) => {
      const b = parseVersionFlag(await flag(c, plugin, '--version'));
      expect(b).toEqual({ version: '', gitShortHash: '', dirty: true });
      expect(describeBuild(b!)).toBe('(source build, no version)');
      expect(pluginVersionAttribute(b!)).toBe('@-');
    });
  }
  caseTest('vpc-flag-version', 'vpc shape {version,gitShortHash,built} -> "(source build, no version)", attribute "-"', async (c, plugin) => {
    const b = parseVersionFlag(await flag(c, plugin, '--version'));
    expect(b).toEqual({ version: '', gitShortHash: '', dirty: false, built: '' });
    expect(describeBuild(b!)).toBe('(source build, no version)');
    expect(pluginVersionAttribute(b!)).toBe('-');
  });
  for (const name of ['eni-flag-capabilities', 'br-flag-capabilities', 'ipam-flag-capabilities', 'vpc-flag-capabilities']) {
    caseTest(name, 'lists awsvpc-network-mode', async (c, plugin) => {
      expect(parseCapabilitiesFlag(await flag(c, plugin, '--capabilities'))).toEqual(['awsvpc-network-mode']);
    });
  }
});

// ---------------------------------------------------------------------------------------------

/** A result or an error object (whole, or as far as a cut cell shows). */
function printsResultOrError(c: ContractCase): boolean {
  if (c.stdout === undefined) return /"(code|interfaces|ips)":/.test(c.stdoutPrefix);
  try {
    const v: unknown = JSON.parse(c.stdout);
    return typeof v === 'object' && v !== null && !Array.isArray(v) && ('code' in v || 'interfaces' in v || 'ips' in v);
  } catch {
    return false;
  }
}

test('every contract case is covered by a named test above, each one that prints a result or an error object first of all', () => {
  const all = [...loadContract().values()];
  const parsed = all.filter(printsResultOrError).map((c) => c.name);
  expect(parsed.length).toBeGreaterThan(90);
  expect(parsed.filter((n) => !covered.has(n))).toEqual([]);
  expect(all.map((c) => c.name).filter((n) => !covered.has(n))).toEqual([]);
  // And no test names a case the contract does not have.
  expect([...covered].filter((n) => !loadContract().has(n))).toEqual([]);
});
