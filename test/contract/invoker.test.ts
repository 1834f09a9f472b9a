// ExecCniInvoker against tiny fake plugins (test/fixtures/plugins) and, for VERSION only, the real
// reference plugins in /usr/lib/cni. No root, no namespaces: nothing here touches the network.
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniError } from '../../agent/errors.js';
import { ExecCniInvoker, isAlreadyGone } from '../../cni/invoker.js';
import type { CniCall, CniResult, CniRuntime } from '../../cni/types.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/plugins');
const REFERENCE_DIR = '/usr/lib/cni';

const RT: CniRuntime = { containerId: 'c0ffee1234', netns: '/proc/4242/ns/net', timeoutMs: 5000 };

function call(plugin: string, extra: Partial<CniCall> = {}): CniCall {
  return {
    plugin,
    ifName: 'ecs-eth0',
    role: 'bridge',
    config: { cniVersion: '0.3.0', name: 'network-name', type: plugin, bridge: 'ecs-bridge', ipam: { type: 'ecs-ipam', id: '0a:58:a9:fe:ac:10' } },
    ...extra,
  };
}

async function caught(p: Promise<unknown>): Promise<CniError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CniError);
    return err as CniError;
  }
  throw new Error('expected a CniError');
}

/** A pid is gone when /proc has no entry for it, or only a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'awsvpcd-invoker-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('ADD', () => {
  test('passes CNI_* env, the call env and stdin; the daemon environment stays out', async () => {
    const inv = new ExecCniInvoker({ cniPath: `/nonexistent-dir:${FIXTURES}`, extraEnv: { EXTRA_FROM_DAEMON: 'x' } });
    const c = call('echo-env', { env: { IPAM_DB_PATH: '/var/lib/awsvpcd/ipam/eni-ipam.db', ECS_CNI_LOGLEVEL: 'info' } });
    const r = await inv.add(c, RT);

    expect(r.interfaces).toEqual([{ name: 'ecs-eth0', mac: '0a:58:a9:fe:ac:10', sandbox: '/proc/4242/ns/net' }]);
    expect(r.ips).toEqual([{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 0 }]);

    const env = Object.fromEntries(
      (r.dns.options ?? []).map((b) => {
        const s = Buffer.from(b, 'base64').toString('utf8');
        const i = s.indexOf('=');
        return [s.slice(0, i), s.slice(i + 1)];
      }),
    );
    expect(env).toMatchObject({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c0ffee1234',
      CNI_NETNS: '/proc/4242/ns/net',
      CNI_IFNAME: 'ecs-eth0',
      CNI_PATH: `/nonexistent-dir:${FIXTURES}`,
      CNI_ARGS: 'IgnoreUnknown=1',
      IPAM_DB_PATH: '/var/lib/awsvpcd/ipam/eni-ipam.db',
      ECS_CNI_LOGLEVEL: 'info',
      EXTRA_FROM_DAEMON: 'x',
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    });
    // Only what we set, plus what bash itself exports (PWD, SHLVL, _).
    const expected = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH', 'CNI_ARGS', 'IPAM_DB_PATH', 'ECS_CNI_LOGLEVEL', 'EXTRA_FROM_DAEMON', 'PATH'];
    expect(Object.keys(env).filter((k) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(k)).sort()).toEqual([...expected].sort());
    expect(env.HOME).toBeUndefined();
    expect(env.NODE_OPTIONS).toBeUndefined();

    const stdin: unknown = JSON.parse(Buffer.from(r.dns.domain ?? '', 'base64').toString('utf8'));
    expect(stdin).toEqual(c.config);
  });

  test('the CNI_* variables cannot be overridden by call env', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const r = await inv.add(call('echo-env', { env: { CNI_COMMAND: 'DEL', CNI_IFNAME: 'evil' } }), RT);
    expect(r.interfaces[0]!.name).toBe('ecs-eth0');
  });

  test('spec error JSON with code 11 -> plugin-error, retriable, with details', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const err = await caught(inv.add(call('cni-error'), RT));
    expect(err.kind).toBe('plugin-error');
    expect(err.cniCode).toBe(11);
    expect(err.retriable).toBe(true);
    expect(err.command).toBe('ADD');
    expect(err.message).toBe('cni-error ADD: ipam store is locked (CNI error 11, try again later)');
    expect(err.details).toBe('held by another process');
  });

  test('exit 0 with garbage -> bad-output', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const err = await caught(inv.add(call('garbage'), RT));
    expect(err.kind).toBe('bad-output');
    expect(err.message).toContain('Setting up network');
  });

  test('non-zero exit without an error object quotes stderr', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const err = await caught(inv.add(call('crash'), RT));
    expect(err.kind).toBe('plugin-error');
    expect(err.cniCode).toBeUndefined();
    expect(err.message).toContain('exited with code 2');
    expect(err.message).toContain('nil pointer dereference');
  });

  test('a hanging plugin and its child are killed at the deadline', async () => {
    const pidfile = path.join(work, 'hang.pids');
    const inv = new ExecCniInvoker({ cniPath: FIXTURES, extraEnv: { HANG_PIDFILE: pidfile } });
    const started = Date.now();
    const err = await caught(inv.add(call('hang'), { ...RT, timeoutMs: 400 }));
    const took = Date.now() - started;
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('hang ADD: killed after 400 ms');
    expect(err.cause).toMatchObject({ code: 'TIMEOUT', timeoutMs: 400 });
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(3000);

    const pids = (await readFile(pidfile, 'utf8')).trim().split(' ').map(Number);
    expect(pids).toHaveLength(2);
    // The orphaned child is reaped by init a moment later; give it a little time.
    for (let i = 0; i < 50 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 20));
    expect(pids.filter(alive)).toEqual([]);
  });

  test('plugin not on the path, not executable, or not a plain name -> not-found', async () => {
    const dir = path.join(work, 'bin');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(path.join(dir, 'noexec'), '#!/bin/sh\necho {}\n');
    await chmod(path.join(dir, 'noexec'), 0o644);
    const inv = new ExecCniInvoker({ cniPath: `${dir}:${FIXTURES}` });
    for (const name of ['missing-plugin', 'noexec', '../plugins/echo-env', '.', '..', 'echo-env/', '']) {
      const err = await caught(inv.add(call(name), RT));
      expect(err.kind).toBe('not-found');
    }
    // A directory with the plugin's name is skipped, not run.
    await mkdir(path.join(dir, 'echo-env'));
    await expect(inv.add(call('echo-env'), RT)).resolves.toBeDefined();
  });
});

describe('DEL', () => {
  test('exit 0 is done, with the DEL env and the config on stdin', async () => {
    const dump = await mkdtemp(path.join(work, 'dump-'));
    const inv = new ExecCniInvoker({ cniPath: FIXTURES, extraEnv: { ECHO_DUMP_DIR: dump } });
    const c = call('echo-env');
    await expect(inv.del(c, RT)).resolves.toBeUndefined();
    expect(JSON.parse(await readFile(path.join(dump, 'DEL.json'), 'utf8'))).toEqual(c.config);
  });

  test('a missing netns counts as already gone', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    await expect(inv.del(call('missing-netns'), { ...RT, netns: '/proc/999999999/ns/net' })).resolves.toBeUndefined();
  });

  test('"Link not found" and code 3 count as already gone', async () => {
    const link = new ExecCniInvoker({ cniPath: FIXTURES, extraEnv: { FAKE_CNI_CODE: '999', FAKE_CNI_MSG: 'failed to find \\"eth0\\": Link not found' } });
    await expect(link.del(call('cni-error'), RT)).resolves.toBeUndefined();
    const unknown = new ExecCniInvoker({ cniPath: FIXTURES, extraEnv: { FAKE_CNI_CODE: '3', FAKE_CNI_MSG: 'no such container' } });
    await expect(unknown.del(call('cni-error'), RT)).resolves.toBeUndefined();
  });

  test('other failures are thrown', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    expect((await caught(inv.del(call('cni-error'), RT))).cniCode).toBe(11);
    expect((await caught(inv.del(call('crash'), RT))).kind).toBe('plugin-error');
    // The missing-netns text about some other path is not "our netns is gone".
    expect((await caught(inv.del(call('missing-netns'), { ...RT, netns: '' }))).kind).toBe('plugin-error');
  });

  test('a hanging DEL is killed too', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const err = await caught(inv.del(call('hang'), { ...RT, timeoutMs: 200 }));
    expect(err.kind).toBe('timeout');
    expect(err.command).toBe('DEL');
  });
});

describe('CHECK', () => {
  test('passes prevResult in the config, shaped for the config cniVersion', async () => {
    const dump = await mkdtemp(path.join(work, 'dump-'));
    const inv = new ExecCniInvoker({ cniPath: FIXTURES, extraEnv: { ECHO_DUMP_DIR: dump } });
    const prev: CniResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'ecs-eth0', sandbox: '/proc/4242/ns/net' }],
      ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 0 }],
      routes: [{ dst: '169.254.170.2/32' }],
      dns: {},
    };
    const c = call('echo-env', { config: { cniVersion: '0.4.0', name: 'n', type: 'echo-env' } });
    await inv.check(c, RT, prev);
    expect(JSON.parse(await readFile(path.join(dump, 'CHECK.json'), 'utf8'))).toEqual({
      cniVersion: '0.4.0',
      name: 'n',
      type: 'echo-env',
      prevResult: {
        cniVersion: '0.4.0',
        interfaces: [{ name: 'ecs-eth0', sandbox: '/proc/4242/ns/net' }],
        ips: [{ version: '4', address: '169.254.172.2/22', gateway: '169.254.172.1', interface: 0 }],
        routes: [{ dst: '169.254.170.2/32' }],
        dns: {},
      },
    });
    expect(c.config.prevResult).toBeUndefined(); // the plan's call is not modified
  });

  test('a CHECK failure is thrown', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const prev: CniResult = { cniVersion: '1.0.0', interfaces: [], ips: [], routes: [], dns: {} };
    expect((await caught(inv.check(call('cni-error'), RT, prev))).command).toBe('CHECK');
  });
});

describe('VERSION', () => {
  const haveReference = existsSync(path.join(REFERENCE_DIR, 'static'));

  (haveReference ? test : test.skip)('real reference plugins (static, host-device, bridge, host-local) report 1.0.0 support', async () => {
    const inv = new ExecCniInvoker({ cniPath: REFERENCE_DIR });
    for (const plugin of ['static', 'host-device', 'bridge', 'host-local']) {
      const v = await inv.version(plugin, 5000);
      expect(v.supportedVersions).toEqual(expect.arrayContaining(['0.3.0', '0.4.0', '1.0.0']));
      expect(v.cniVersion).toBe('1.0.0');
    }
  });

  test('a plugin that answers VERSION with garbage -> bad-output', async () => {
    const inv = new ExecCniInvoker({ cniPath: FIXTURES });
    const err = await caught(inv.version('garbage', 2000));
    expect(err.kind).toBe('bad-output');
    expect(err.command).toBe('VERSION');
  });
});

describe('results and errors as libcni reads them (replay fixture)', () => {
  /** An invoker whose plugin `name` (the replay fixture) prints these bytes for `key` and exits with `exit`. */
  async function replay(name: string, key: string, stdout: string, exit = 0, stderr = ''): Promise<ExecCniInvoker> {
    const dir = await mkdtemp(path.join(work, 'replay-'));
    await mkdir(path.join(dir, 'bin'));
    await symlink(path.join(FIXTURES, 'replay'), path.join(dir, 'bin', name));
    await writeFile(path.join(dir, `${key}.stdout`), stdout);
    await writeFile(path.join(dir, `${key}.stderr`), stderr);
    await writeFile(path.join(dir, `${key}.exit`), String(exit));
    return new ExecCniInvoker({ cniPath: path.join(dir, 'bin'), extraEnv: { REPLAY_DIR: dir } });
  }
  const ecsResult = JSON.stringify({ ips: [{ version: '4', address: '169.254.172.2/22', gateway: '169.254.172.1' }], routes: [{ dst: '169.254.170.2/32' }], dns: {} }, null, 4);

  test('an ADD result without cniVersion is read as the version of the config sent', async () => {
    const inv = await replay('ecs-ipam', 'ADD', ecsResult);
    const r = await inv.add(call('ecs-ipam'), RT);
    expect(r).toEqual({ cniVersion: '0.3.0', interfaces: [], ips: [{ address: '169.254.172.2/22', gateway: '169.254.172.1' }], routes: [{ dst: '169.254.170.2/32' }], dns: {} });
    // A config without cniVersion gives nothing to read it as.
    const { cniVersion: _, ...noVersion } = call('ecs-ipam').config;
    expect((await caught(inv.add(call('ecs-ipam', { config: noVersion }), RT))).kind).toBe('bad-output');
  });

  test('exit 0 with an error object is a failure on every command, with code and msg kept', async () => {
    const body = JSON.stringify({ code: 100, msg: 'runtime error: index out of range [0] with length 0', details: 'goroutine 1 [running]:' }, null, 4);
    for (const command of ['ADD', 'DEL', 'CHECK'] as const) {
      const inv = await replay('vpc-eni', command, body);
      const c = call('vpc-eni');
      const p = command === 'ADD' ? inv.add(c, RT) : command === 'DEL' ? inv.del(c, RT) : inv.check(c, RT, { cniVersion: '0.3.0', interfaces: [], ips: [], routes: [], dns: {} });
      const err = await caught(p);
      expect(err).toMatchObject({ kind: 'plugin-error', command, cniCode: 100, cniMsg: 'runtime error: index out of range [0] with length 0', details: 'goroutine 1 [running]:' });
      expect(err.message).toContain('exit status 0');
    }
    const v = await replay('vpc-eni', 'VERSION', '{"code":1,"msg":"incompatible CNI versions"}');
    expect(await caught(v.version('vpc-eni', 5000))).toMatchObject({ kind: 'plugin-error', command: 'VERSION', cniCode: 1 });
  });

  test('exit 0 with empty stdout: DEL and CHECK succeed, ADD is bad-output', async () => {
    await expect((await replay('ecs-eni', 'DEL', '')).del(call('ecs-eni'), RT)).resolves.toBeUndefined();
    const prev: CniResult = { cniVersion: '1.0.0', interfaces: [], ips: [], routes: [], dns: {} };
    await expect((await replay('vpc-eni', 'CHECK', '')).check(call('vpc-eni'), RT, prev)).resolves.toBeUndefined();
    const err = await caught((await replay('ecs-eni', 'ADD', '')).add(call('ecs-eni'), RT));
    expect(err.kind).toBe('bad-output');
    expect(err.message).toContain('empty output');
  });

  test('exit 1: the error object on stdout, the stderr lines as details', async () => {
    const inv = await replay('ecs-eni', 'ADD', '{\n    "code": 100,\n    "msg": "required env variables missing"\n}', 1, 'CNI_IFNAME env variable missing\n');
    const err = await caught(inv.add(call('ecs-eni'), RT));
    expect(err).toMatchObject({ kind: 'plugin-error', cniCode: 100, cniMsg: 'required env variables missing', details: 'CNI_IFNAME env variable missing' });
    expect(err.message).toBe('ecs-eni ADD: required env variables missing (CNI error 100)');
  });
});

test('isAlreadyGone only trusts plugin errors', () => {
  const timeout = new CniError({ plugin: 'x', command: 'DEL', kind: 'timeout', message: 'Link not found' });
  expect(isAlreadyGone(timeout, '/proc/1/ns/net')).toBe(false);
});

test('plugins run in the working directory the daemon chooses: vpc-eni without VPC_CNI_LOG_FILE writes its relative C:\\ProgramData folder there', async () => {
  // The vpc-eni stand-in does what the real binary was seen doing (contract, section 1, "Harness").
  const { setupStandinDir, newWorld, writeWorld } = await import('../fixtures/cni-standins/lib/world.mjs');
  const dir = await mkdtemp(path.join(tmpdir(), 'awsvpcd-cwd-'));
  const cniDir = path.join(dir, 'cni');
  const workDir = path.join(dir, 'work');
  await mkdir(workDir);
  const world = path.join(dir, 'world.json');
  writeWorld(world, newWorld());
  setupStandinDir(cniDir, { world });
  try {
    const inv = new ExecCniInvoker({ cniPath: cniDir, workDir });
    const c: CniCall = {
      plugin: 'vpc-eni',
      ifName: 'eth0',
      role: 'eni',
      config: { blockInstanceMetadata: true, cniVersion: '0.3.0', dns: {}, eniIPAddresses: ['10.99.1.15/24'], eniMACAddress: '0a:99:00:00:aa:01', eniName: '', gatewayIPAddresses: ['10.99.1.1'], name: 'network-name', type: 'vpc-eni', useExistingNetwork: false },
    };
    await inv.del(c, { containerId: 'c1', netns: '', timeoutMs: 10_000 });
    expect(existsSync(path.join(workDir, 'C:\\ProgramData'))).toBe(true);
    expect(existsSync(path.join(process.cwd(), 'C:\\ProgramData'))).toBe(false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
