// Nothing from a task reaches a shell: every exec in agent/ and cni/ is an argument array
// with a fixed program, CNI plugin names come from the plan's fixed list, and the invoker runs only
// a file directly inside a CNI_PATH directory, whatever name it is handed.
import { readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CniError } from '../../agent/errors.js';
import { parseTaskDocument } from '../../agent/task/validate/index.js';
import { ExecCniInvoker, type ExecPluginFn } from '../../cni/invoker.js';
import { buildPlan } from '../../cni/plan.js';
import { PLUGIN_SETS, type CniCall } from '../../cni/types.js';
import { fuzzParams } from './fuzz-config.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return readdirSync(path.join(REPO, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

describe('audit: how agent/ and cni/ start processes', () => {
  const files = [...sources('agent'), ...sources('cni')].map((f) => ({ f, text: readFileSync(path.join(REPO, f), 'utf8') }));

  test('the sources were found', () => {
    expect(files.map((x) => x.f)).toEqual(expect.arrayContaining(['cni/invoker.ts', 'agent/eni/netns.ts']));
  });

  test('no child_process, no shell, no command-string APIs', () => {
    const problems: string[] = [];
    for (const { f, text } of files) {
      if (/from ['"](node:)?child_process['"]|require\(['"](node:)?child_process/.test(text)) problems.push(`${f}: imports child_process`);
      if (/\bshell\s*:/.test(text)) problems.push(`${f}: passes a shell option`);
      const imports = /import\s*\{([^}]*)\}\s*from\s*['"]execa['"]/.exec(text)?.[1] ?? '';
      for (const name of imports.split(',').map((s) => s.trim().split(/\s+as\s+/)[0]!).filter(Boolean)) {
        if (name !== 'execa' && !name.startsWith('type ')) problems.push(`${f}: imports ${name} from execa (only execa(file, args) is allowed)`);
      }
      if (/import\s+(\w+|\*\s*as\s+\w+)\s*(,\s*\{[^}]*\})?\s*from\s*['"]execa['"]/.test(text)) problems.push(`${f}: imports execa as a namespace`);
      if (/['"`](\/usr)?(\/bin\/)?(ba|da|z|k|c|tc)?sh['"`]/.test(text)) problems.push(`${f}: names a shell`);
      const usesExeca = /from\s*['"]execa['"]/.test(text);
      if (usesExeca && /\bexeca`|\$`|\$\(|execaCommand|execaSync|execaNode/.test(text)) problems.push(`${f}: uses a template or command-string exec`);
    }
    expect(problems).toEqual([]);
  });

  test('every execa call passes a program and an argument array, never one command string', () => {
    const calls: string[] = [];
    for (const { f, text } of files) {
      for (const m of text.matchAll(/\bexeca\(([^,)]*),\s*([^,)]*)/g)) {
        calls.push(f);
        const [, file, args] = m;
        expect({ f, file: file!.trim() }).toEqual({ f, file: expect.not.stringMatching(/[`'"].*\s.*[`'"]/) });
        // The second argument is an array: a literal, or a parameter typed string[] in the caller.
        expect({ f, args: args!.trim() }).toEqual({ f, args: expect.stringMatching(/^(\[.*|args|argv)$/) });
      }
    }
    expect(calls.length).toBeGreaterThanOrEqual(2);
  });
});

describe('CNI plugin names come from the fixed list in the plan', () => {
  const FIXED = new Set(['ecs-bridge', 'ecs-ipam', 'ecs-eni', 'vpc-eni', 'host-device', 'bridge', 'host-local', 'static']);
  const valid = path.join(REPO, 'test/fixtures/tasks/valid');
  const specs = readdirSync(valid)
    .filter((f) => f.endsWith('.json'))
    .map((f) => parseTaskDocument(readFileSync(path.join(valid, f)), { defaultWaitTimeoutMs: 1000, allowPrivileged: true, allowedCapabilities: ['ALL'] }));

  test.each([...PLUGIN_SETS])('plugin set %s, every valid task, IMDS blocked or not', (set) => {
    expect(specs.length).toBeGreaterThan(3);
    for (const spec of specs) {
      for (const blockImds of [true, false]) {
        const plan = buildPlan(set, spec.eni, {
          blockImds,
          ipamSubnet: '169.254.172.0/22',
          additionalLocalRoutes: [],
          ipamDataDir: '/var/lib/awsvpcd/ipam',
          bridgeName: 'ecs-bridge',
          pluginLogLevel: 'info',
        });
        const calls: CniCall[] = [...plan.add, ...plan.del, ...(plan.ipamRelease ? [plan.ipamRelease] : [])];
        for (const c of calls) {
          expect(FIXED.has(c.plugin)).toBe(true);
          expect(['eth0', 'ecs-eth0']).toContain(c.ifName);
        }
      }
    }
  });
});

describe('the invoker runs only a plain name found directly in a CNI_PATH directory', () => {
  let work: string;
  let binDir: string;
  let otherDir: string;
  const ran: string[] = [];
  const fakeExec: ExecPluginFn = async (file) => {
    ran.push(file);
    return { stdout: '{"cniVersion":"1.0.0"}', stderr: '', exitCode: 0, signal: undefined, timedOut: false };
  };
  const RT = { containerId: 'c0ffee', netns: '/proc/1/ns/net', timeoutMs: 1000 };
  const call = (plugin: string): CniCall => ({ plugin, ifName: 'eth0', role: 'eni', config: { cniVersion: '1.0.0', name: 'n', type: plugin } });

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'awsvpcd-no-shell-'));
    binDir = path.join(work, 'cni', 'bin');
    otherDir = path.join(work, 'other');
    await mkdir(binDir, { recursive: true });
    await mkdir(otherDir, { recursive: true });
    for (const [dir, name] of [[binDir, 'bridge'], [otherDir, 'sh'], [work, 'bridge']] as const) {
      await writeFile(path.join(dir, name), '#!/bin/sh\necho {}\n');
      await chmod(path.join(dir, name), 0o755);
    }
    // A directory named like a plugin, and a link to outside the dir (which root put there: allowed).
    await mkdir(path.join(binDir, 'host-device'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    ran.length = 0;
  });

  async function refused(name: string): Promise<CniError> {
    const inv = new ExecCniInvoker({ cniPath: binDir, exec: fakeExec });
    try {
      await inv.add(call(name), RT);
    } catch (err) {
      expect(err).toBeInstanceOf(CniError);
      return err as CniError;
    }
    throw new Error(`plugin name ${JSON.stringify(name)} was run`);
  }

  test.each([
    '../../bin/sh',
    '../other/sh',
    '/bin/sh',
    '..',
    '.',
    '',
    'sh -c id',
    'bridge;id',
    'bridge && id',
    '$(id)',
    '`id`',
    'bridge\nid',
    'bridge\0',
    'bridge/',
    './bridge',
    ' bridge',
    '-bridge',
    'host-device',
  ])('%j is refused without running anything', async (name) => {
    const err = await refused(name);
    expect(err.kind).toBe('not-found');
    expect(ran).toEqual([]);
  });

  test('a plain name in the directory runs that file, by its absolute path', async () => {
    const inv = new ExecCniInvoker({ cniPath: binDir, exec: fakeExec });
    await inv.add(call('bridge'), RT);
    expect(ran).toEqual([path.join(binDir, 'bridge')]);
  });

  test('a relative CNI_PATH is resolved once, so names are checked against a fixed directory', async () => {
    const cwd = process.cwd();
    process.chdir(work);
    try {
      const inv = new ExecCniInvoker({ cniPath: 'cni/bin', exec: fakeExec });
      process.chdir(otherDir);
      await inv.add(call('bridge'), RT);
    } finally {
      process.chdir(cwd);
    }
    expect(ran).toEqual([path.join(binDir, 'bridge')]);
  });

  const { seed, numRuns, timeoutMs } = fuzzParams(2000, 20261126);

  test(`property: whatever the name, the file run is <dir>/<name> for a plain name, else nothing (${numRuns} runs)`, async () => {
    await symlink(path.join(otherDir, 'sh'), path.join(binDir, 'linked')).catch(() => undefined);
    const inv = new ExecCniInvoker({ cniPath: `${binDir}:${otherDir}`, exec: fakeExec });
    const name = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('bridge', 'sh', 'linked', '..', '../', '/', '%2e%2e', '\\..\\sh', 'bridge\u0000sh'),
      fc.array(fc.constantFrom('..', '.', 'bin', 'sh', 'bridge', 'other', 'cni', ''), { maxLength: 5 }).map((a) => a.join('/')),
    );
    await fc.assert(
      fc.asyncProperty(name, async (n) => {
        ran.length = 0;
        try {
          await inv.add(call(n), RT);
        } catch (err) {
          if (!(err instanceof CniError)) throw err;
          expect(ran).toEqual([]);
          return;
        }
        expect(ran).toHaveLength(1);
        const file = ran[0]!;
        expect(path.basename(file)).toBe(n);
        expect([binDir, otherDir]).toContain(path.dirname(file));
      }),
      { seed, numRuns },
    );
  }, timeoutMs);
});
