// `awsvpcd doctor` against the recorded `--version`, `--capabilities` and CNI VERSION answers of the real Amazon
// plugins (plugin contract cases *-flag-version, *-flag-capabilities, *-version-cmd), replayed byte for byte by
// test/fixtures/plugins/replay under each plugin's name. The ECS plugins and vpc-eni print two different
// --version shapes, and a source build prints empty strings; doctor must take all of them.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pino from 'pino';
import { parseCapabilitiesFlag, parseVersionFlag, pluginsOf, runDoctor, type DoctorDeps, type DoctorReport } from '../../agent/cli/doctor.js';
import { resolveConfig } from '../../agent/daemon/config.js';
import { ExecCniInvoker } from '../../cni/invoker.js';
import { contractCase } from '../support/plugin-contract.js';

const REPLAY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/plugins/replay');
const silent = pino({ level: 'silent' });

/** The contract's case-name prefix for each plugin. */
const PREFIX: Record<string, string> = { 'ecs-eni': 'eni', 'ecs-bridge': 'br', 'ecs-ipam': 'ipam', 'vpc-eni': 'vpc' };

interface Output {
  stdout: string;
  stderr?: string;
  exit?: number;
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'awsvpcd-doctor-contract-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What a recorded case printed. */
function recorded(name: string): Output {
  const c = contractCase(name);
  if (c.stdout === undefined) throw new Error(`${name}: stdout not recorded whole`);
  return { stdout: c.stdout, stderr: c.stderr, exit: c.exit };
}

/** The contract's answers of `plugin` to --version, --capabilities and CNI VERSION, with overrides. */
function answers(plugin: string, over: Partial<Record<'--version' | '--capabilities' | 'VERSION', Output>> = {}): Record<string, Output> {
  const p = PREFIX[plugin]!;
  return {
    '--version': recorded(`${p}-flag-version`),
    '--capabilities': recorded(`${p}-flag-capabilities`),
    VERSION: recorded(`${p}-version-cmd`),
    ...over,
  };
}

/** A CNI path of replaying plugins: REPLAY_DIR/<plugin>/<key>.{stdout,stderr,exit}. */
async function host(plugins: Record<string, Record<string, Output>>): Promise<{ cni: string; replayDir: string }> {
  const root = await mkdtemp(path.join(work, 'host-'));
  const cni = path.join(root, 'cni');
  const replayDir = path.join(root, 'replay');
  await mkdir(cni);
  for (const [plugin, keys] of Object.entries(plugins)) {
    await symlink(REPLAY, path.join(cni, plugin));
    await mkdir(path.join(replayDir, plugin), { recursive: true });
    for (const [key, out] of Object.entries(keys)) {
      await writeFile(path.join(replayDir, plugin, `${key}.stdout`), out.stdout);
      await writeFile(path.join(replayDir, plugin, `${key}.stderr`), out.stderr ?? '');
      await writeFile(path.join(replayDir, plugin, `${key}.exit`), String(out.exit ?? 0));
    }
  }
  return { cni, replayDir };
}

function deps(cni: string, replayDir: string): DoctorDeps {
  return {
    uid: 0,
    // doctor's own environment for the flags, plus where the replay finds its bytes.
    exec: async (file, args, opts) => {
      if (file === 'unshare') return { exitCode: 0, stdout: '', stderr: '' };
      const r = await execa(file, args, { env: { ...opts?.env, REPLAY_DIR: replayDir }, extendEnv: false, reject: false, stdin: 'ignore' });
      return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    engine: { version: async () => ({ version: '20.10.24', apiVersion: '1.41' }), imageExists: async () => true },
    cni: new ExecCniInvoker({ cniPath: cni, logger: silent, extraEnv: { REPLAY_DIR: replayDir } }),
    path: ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
  };
}

async function doctor(set: 'ecs' | 'vpc', plugins: Record<string, Record<string, Output>>): Promise<DoctorReport> {
  const { cni, replayDir } = await host(plugins);
  const cfg = resolveConfig(new Map([['--cni-path', cni], ['--plugins', set], ['--state-dir', path.join(work, 'state')]]), {});
  expect(new Set(pluginsOf(cfg).keys())).toEqual(new Set(Object.keys(plugins)));
  return runDoctor(cfg, deps(cni, replayDir));
}

const pluginCheck = (r: DoctorReport, plugin: string) => r.checks.find((c) => c.name === `plugin ${plugin}`)!;

describe('doctor with the recorded answers of the real plugins', () => {
  test('ecs set (eni-/br-/ipam-flag-version, -flag-capabilities, -version-cmd): every plugin passes, source build shown as such', async () => {
    const r = await doctor('ecs', { 'ecs-eni': answers('ecs-eni'), 'ecs-bridge': answers('ecs-bridge'), 'ecs-ipam': answers('ecs-ipam') });
    for (const p of ['ecs-eni', 'ecs-bridge', 'ecs-ipam']) {
      const c = pluginCheck(r, p);
      expect(c.ok).toBe(true);
      expect(c.detail).toContain('CNI 0.3.0');
      expect(c.detail).toContain('version (source build, no version)');
      expect(c.detail).toContain('capabilities awsvpc-network-mode');
    }
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    // The ECS agent's cniPluginVersion.str() of {"version":"","dirty":true,"gitShortHash":""}.
    expect(r.attributes).toContain('ecs.capability.cni-plugin-version=@-');
  });

  test('vpc set (vpc-flag-version with its {version,gitShortHash,built} shape, vpc-flag-capabilities, vpc-version-cmd)', async () => {
    const r = await doctor('vpc', { 'vpc-eni': answers('vpc-eni'), 'ecs-bridge': answers('ecs-bridge'), 'ecs-ipam': answers('ecs-ipam') });
    const c = pluginCheck(r, 'vpc-eni');
    expect(c.ok).toBe(true);
    expect(c.detail).toContain('CNI 0.3.0,0.3.1,0.4.0,1.0.0');
    expect(c.detail).toContain('version (source build, no version)');
    expect(c.detail).toContain('capabilities awsvpc-network-mode');
    expect(r.checks.filter((x) => !x.ok)).toEqual([]);
    expect(r.attributes).toContain('ecs.capability.cni-plugin-version=-');
  });

  test('release builds of both shapes: version, hash, dirty and build time shown; the agent\'s attribute value', async () => {
    const r = await doctor('vpc', {
      'vpc-eni': answers('vpc-eni', { '--version': { stdout: '{"version":"1.3","gitShortHash":"be521435","built":"2023-08-25T10:00:00Z"}\n' } }),
      'ecs-bridge': answers('ecs-bridge', { '--version': { stdout: '{"version":"2024.09.0","dirty":true,"gitShortHash":"55b2ae77"}\n' } }),
      'ecs-ipam': answers('ecs-ipam', { '--version': { stdout: '{"version":"2024.09.0","dirty":false,"gitShortHash":"55b2ae77"}\n' } }),
    });
    expect(pluginCheck(r, 'vpc-eni').detail).toContain('version 1.3 (git be521435, built 2023-08-25T10:00:00Z)');
    expect(pluginCheck(r, 'ecs-bridge').detail).toContain('version 2024.09.0 (git 55b2ae77, dirty)');
    expect(pluginCheck(r, 'ecs-ipam').detail).toContain('version 2024.09.0 (git 55b2ae77)');
    expect(r.attributes).toContain('ecs.capability.cni-plugin-version=be521435-1.3');
  });

  test('no awsvpc-network-mode, a failing or unreadable --version / --capabilities: that plugin fails, with what it printed', async () => {
    const r = await doctor('ecs', {
      'ecs-eni': answers('ecs-eni', { '--capabilities': { stdout: '{"capabilities":["something-else"]}\n' } }),
      'ecs-bridge': answers('ecs-bridge', { '--version': { stdout: 'ecs-bridge version 2024.09.0\n' } }),
      'ecs-ipam': answers('ecs-ipam', { '--capabilities': { ...recorded('ipam-flag-capabilities'), exit: 1 } }),
    });
    expect(pluginCheck(r, 'ecs-eni')).toMatchObject({ ok: false, detail: expect.stringContaining('does not list awsvpc-network-mode') });
    expect(pluginCheck(r, 'ecs-bridge')).toMatchObject({ ok: false, detail: expect.stringContaining('--version did not print') });
    expect(pluginCheck(r, 'ecs-bridge').detail).toContain('ecs-bridge version 2024.09.0');
    expect(pluginCheck(r, 'ecs-ipam')).toMatchObject({ ok: false, detail: expect.stringContaining('(exit 1)') });
    expect(r.taskEni).toBe(false);
    expect(r.attributes).toEqual([]);
  });

  test('--version exit 1, or a version of the wrong type: fails', async () => {
    const r = await doctor('ecs', {
      'ecs-eni': answers('ecs-eni', { '--version': { ...recorded('eni-flag-version'), exit: 1 } }),
      'ecs-bridge': answers('ecs-bridge', { '--version': { stdout: '{"version":2024,"dirty":false,"gitShortHash":"x"}\n' } }),
      'ecs-ipam': answers('ecs-ipam'),
    });
    expect(pluginCheck(r, 'ecs-eni').ok).toBe(false);
    expect(pluginCheck(r, 'ecs-bridge').ok).toBe(false);
    expect(pluginCheck(r, 'ecs-ipam').ok).toBe(true);
  });
});

describe('the flag parsers on the recorded bytes', () => {
  test.each(['eni-flag-version', 'br-flag-version', 'ipam-flag-version'])('%s: ECS shape', (name) => {
    expect(parseVersionFlag(recorded(name).stdout)).toEqual({ version: '', gitShortHash: '', dirty: true });
  });
  test('vpc-flag-version: vpc shape', () => {
    expect(parseVersionFlag(recorded('vpc-flag-version').stdout)).toEqual({ version: '', gitShortHash: '', dirty: false, built: '' });
  });
  test.each(['eni-flag-capabilities', 'br-flag-capabilities', 'ipam-flag-capabilities', 'vpc-flag-capabilities'])('%s', (name) => {
    expect(parseCapabilitiesFlag(recorded(name).stdout)).toEqual(['awsvpc-network-mode']);
  });
  test('not a --version answer', () => {
    for (const s of ['', 'null', '[]', '"1.0"', '{}', '{"version":null}', '{"version":"1","dirty":"yes"}', '{"version":"1","gitShortHash":7}', '{"version":"1","built":0}']) {
      expect(parseVersionFlag(s)).toBeUndefined();
    }
  });
  test('not a --capabilities answer', () => {
    for (const s of ['', 'awsvpc-network-mode', '{}', '{"capabilities":"awsvpc-network-mode"}', '{"capabilities":[1]}', '[]']) {
      expect(parseCapabilitiesFlag(s)).toBeUndefined();
    }
  });
});
