// agent/docker/dockerode.ts keeps gRPC (BuildKit sessions) and ssh2 (the ssh:// transport) out of the
// daemon's memory until something calls them. Jest gives modules its own require and module cache, where
// the deferral cannot take effect, so the module is checked in a plain node process: transpiled on the spot
// into build/ (so it resolves this repository's node_modules), imported there, and asked what got loaded.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import ts from 'typescript';

const repo = path.resolve(import.meta.dirname, '../..');
let dir: string;
let modFile: string;

beforeAll(async () => {
  await mkdir(path.join(repo, 'build'), { recursive: true });
  dir = await mkdtemp(path.join(repo, 'build', 'unit-dockerode-'));
  modFile = path.join(dir, 'dockerode.mjs');
  const src = await readFile(path.join(repo, 'agent/docker/dockerode.ts'), 'utf8');
  const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  await writeFile(modFile, out.outputText);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `body` in a fresh node with `m` (the module) and `loaded(re)` (matching files in node's CommonJS cache). */
async function probe(body: string): Promise<Record<string, unknown>> {
  const script = `
    import { createRequire } from 'node:module';
    const m = await import(${JSON.stringify(modFile)});
    const req = createRequire(${JSON.stringify(modFile)});
    const loaded = (re) => Object.keys(req.cache).filter((k) => re.test(k));
    const out = {};
    ${body}
    process.stdout.write(JSON.stringify(out));`;
  const r = await execa(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, reject: false });
  if (r.exitCode !== 0) throw new Error(`probe failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('dockerode without its unused transports', () => {
  it('loads dockerode and docker-modem, but neither gRPC, protobufjs nor ssh2', async () => {
    const out = await probe(`
      out.deferred = m.DEFERRED;
      const docker = new m.Dockerode({ socketPath: '/nonexistent/docker.sock' });
      out.hasModem = typeof docker.modem?.dial === 'function';
      out.dockerode = loaded(/node_modules\\/dockerode\\/lib\\/docker\\.js$/).length;
      out.modem = loaded(/node_modules\\/docker-modem\\/lib\\/modem\\.js$/).length;
      out.heavy = loaded(/node_modules\\/(@grpc|protobufjs|ssh2)\\//);`);
    expect(out.deferred).toEqual([
      expect.stringMatching(/\/dockerode\/lib\/session\.js$/),
      expect.stringMatching(/\/docker-modem\/lib\/ssh\.js$/),
    ]);
    expect(out).toMatchObject({ hasModem: true, dockerode: 1, modem: 1, heavy: [] });
  });

  it('loads the real module on its first call, so a caller that uses it sees no difference', async () => {
    const out = await probe(`
      const { Agent } = await import('node:http');
      const sshAgent = req(m.DEFERRED[1]);
      out.before = { name: sshAgent.name, ssh2: loaded(/node_modules\\/ssh2\\//).length };
      const agent = sshAgent({ host: '127.0.0.1', port: 1 }); // builds an agent; it connects only when used
      out.isAgent = agent instanceof Agent;
      agent.destroy();
      out.after = { name: req(m.DEFERRED[1]).name, ssh2: loaded(/node_modules\\/ssh2\\//).length > 0 };`);
    expect(out.before).toEqual({ name: 'deferred', ssh2: 0 });
    expect(out.isAgent).toBe(true);
    // From then on the cache holds the real module.
    expect(out.after).toEqual({ name: '', ssh2: true });
  });
});
