// The operability pieces that need no root and no engine: task metadata v4 mapping, the notify protocol's sequencing,
// --pretty lines, cni-config's exact calls, doctor against fake plugins, exec's API use, and the manager's
// metric hooks.
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { networkMetadata, networkOf, taskMetadata } from '../../agent/api/metadata.js';
import { opsRoutes } from '../../agent/api/ops-routes.js';
import { cniConfigPlan, formatShell, shQuote } from '../../agent/cli/cni-config.js';
import { pluginsOf, runDoctor, type DoctorDeps } from '../../agent/cli/doctor.js';
import { execCommand } from '../../agent/cli/exec.js';
import type { ApiClient } from '../../agent/cli/client.js';
import { resolveConfig } from '../../agent/daemon/config.js';
import { formatLogLine } from '../../agent/daemon/log-format.js';
import { SystemdNotifier } from '../../agent/daemon/notify.js';
import { MemoryTaskStore } from '../../agent/store/memory-task-store.js';
import type { EniSpec, TaskRecord } from '../../agent/model.js';
import { TaskManager } from '../../agent/task/task-manager.js';
import { validateTask } from '../../agent/task/validate/index.js';
import { ExecCniInvoker, pluginEnv } from '../../cni/invoker.js';
import { buildPlan } from '../../cni/plan.js';
import { FakeCni, FakeHostNet, FakeLinks, FakeRuntime, TEST_CONFIG } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8'));
const VOPTS = { defaultWaitTimeoutMs: 180_000, allowPrivileged: false, allowedCapabilities: [] };
const silent = pino({ level: 'silent' });

const ENI: EniSpec = {
  attachmentArn: 'arn:aws:ecs:us-east-1:111122223333:attachment/att-1',
  attachmentId: 'att-1',
  ec2Id: 'eni-0abc',
  macAddress: '0a:58:a9:fe:ac:10',
  ipv4Addresses: [
    { primary: false, privateAddress: '10.0.1.20' },
    { primary: true, privateAddress: '10.0.1.15' },
  ],
  ipv6Addresses: [],
  subnetGatewayIpv4Address: '10.0.1.1/24',
  domainNameServers: ['10.0.0.2'],
  domainName: ['us-west-2.compute.internal'],
  privateDnsName: 'ip-10-0-1-15.us-west-2.compute.internal',
};

describe('task metadata v4', () => {
  test('network keys and values as ECS task metadata v4 gives them', () => {
    expect(networkMetadata(ENI)).toEqual({
      NetworkMode: 'awsvpc',
      IPv4Addresses: ['10.0.1.15', '10.0.1.20'],
      AttachmentIndex: 0,
      MACAddress: '0a:58:a9:fe:ac:10',
      IPv4SubnetCIDRBlock: '10.0.1.0/24',
      DomainNameServers: ['10.0.0.2'],
      DomainNameSearchList: ['us-west-2.compute.internal'],
      PrivateDNSName: 'ip-10-0-1-15.us-west-2.compute.internal',
      SubnetGatewayIpv4Address: '10.0.1.1/24',
    });
  });

  test('empty fields are left out (omitempty); AttachmentIndex stays; IPv6 listed when present', () => {
    const n = networkMetadata({ ...ENI, domainNameServers: [], domainName: [], privateDnsName: undefined, ipv6Addresses: [{ address: '2600:1f14::5' }] });
    expect(n).not.toHaveProperty('DomainNameServers');
    expect(n).not.toHaveProperty('DomainNameSearchList');
    expect(n).not.toHaveProperty('PrivateDNSName');
    expect(n.AttachmentIndex).toBe(0);
    expect(n.IPv6Addresses).toEqual(['2600:1f14::5']);
  });

  test('IPv4SubnetCIDRBlock is the network of the gateway CIDR', () => {
    expect(networkOf('10.0.1.1/24')).toBe('10.0.1.0/24');
    expect(networkOf('172.31.37.129/20')).toBe('172.31.32.0/20');
    expect(networkOf('10.0.0.1')).toBeUndefined();
  });

  test('the task response: every container carries the task network; ports map host=container', () => {
    const spec = validateTask(structuredClone(example), VOPTS);
    const rec = {
      spec,
      desiredStatus: 'RUNNING',
      lastStatus: 'RUNNING',
      containers: [{ name: spec.containers[0]!.name, lastStatus: 'RUNNING', runtimeId: 'abc123', runtimeName: 'awsvpcd-x-app', exitCode: null, reason: null }],
    } as unknown as TaskRecord;
    const m = taskMetadata(rec);
    expect(m.TaskARN).toBe(spec.taskArn);
    expect(m.KnownStatus).toBe('RUNNING');
    if (spec.revision !== undefined) expect(m.Revision).toBe(String(spec.revision));
    expect(m.Networks).toEqual([networkMetadata(spec.eni)]);
    for (const c of m.Containers) expect(c.Networks).toEqual(m.Networks);
    expect(m.Containers[0]!.DockerId).toBe('abc123');
    for (const c of m.Containers) for (const p of c.Ports ?? []) expect(p.HostPort).toBe(p.ContainerPort);
  });

  test('routes: metadata for a known task, 404 for an unknown one, netns only over the unix socket', async () => {
    const spec = validateTask(structuredClone(example), VOPTS);
    const rec = { spec, lastStatus: 'RUNNING', desiredStatus: 'RUNNING', containers: [], pause: { runtimeName: 'p', pid: 77, netnsPath: '/run/awsvpcd/netns/x' } } as unknown as TaskRecord;
    const routes = opsRoutes({ tasks: { get: (id) => (id === spec.taskId ? rec : undefined) } });
    const unix = { method: 'GET', socket: {} } as never;
    const tcp = { method: 'GET', socket: { remoteAddress: '127.0.0.1' } } as never;
    const md = await routes(unix, `/v1/tasks/${spec.taskId}/metadata`);
    expect(JSON.parse(md!.body).Networks[0].NetworkMode).toBe('awsvpc');
    const ns = await routes(unix, `/v1/tasks/${spec.taskId}/netns`);
    expect(JSON.parse(ns!.body)).toEqual({ taskArn: spec.taskArn, lastStatus: 'RUNNING', netnsPath: '/run/awsvpcd/netns/x', pausePid: 77 });
    await expect(routes(tcp, `/v1/tasks/${spec.taskId}/netns`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(routes(unix, '/v1/tasks/nope/metadata')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await routes(unix, '/v1/other')).toBeUndefined();
    expect(await routes(unix, '/metrics')).toBeUndefined(); // no metrics configured
  });
});

describe('systemd notify', () => {
  test('no NOTIFY_SOCKET: nothing is sent', async () => {
    const sent: string[][] = [];
    const n = SystemdNotifier.fromEnv({}, silent, { exec: async (a) => (sent.push(a), { exitCode: 0, stderr: '' }) });
    await n.ready('x');
    n.startWatchdog();
    await n.stopping();
    expect(sent).toEqual([]);
  });

  test('READY, watchdog pings at half WATCHDOG_USEC, STOPPING; the variables are taken out of the environment', async () => {
    const sent: Array<{ args: string[]; env: Record<string, string> }> = [];
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/n.sock', WATCHDOG_USEC: '60000', WATCHDOG_PID: '4242', KEEP: '1' };
    const n = SystemdNotifier.fromEnv(env, silent, { unset: true, pid: 4242, exec: async (args, e) => (sent.push({ args, env: e }), { exitCode: 0, stderr: '' }) });
    expect(env).toEqual({ KEEP: '1' });
    expect(n.watchdogIntervalMs).toBe(30);
    await n.ready('ready; 0 tasks');
    n.startWatchdog();
    await new Promise((r) => setTimeout(r, 100));
    await n.stopping();
    const count = sent.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(sent.length).toBe(count); // the watchdog stopped with STOPPING
    expect(sent[0]).toEqual({ args: ['READY=1', 'STATUS=ready; 0 tasks'], env: expect.objectContaining({ NOTIFY_SOCKET: '/run/n.sock' }) });
    expect(sent.filter((s) => s.args[0] === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(2);
    expect(sent[sent.length - 1]!.args[0]).toBe('STOPPING=1');
  });

  test("a WATCHDOG_PID that is not ours means no watchdog; a failing systemd-notify is logged, never thrown", async () => {
    const n = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' }, silent, { pid: 2, exec: async () => ({ exitCode: 1, stderr: 'refused' }) });
    expect(n.watchdogIntervalMs).toBeUndefined();
    await expect(n.ready('x')).resolves.toBeUndefined();
  });
});

describe('--pretty', () => {
  test('a pino line becomes time, level, component, message and fields; an error shows its stack', () => {
    const line = JSON.stringify({ level: 30, time: '2026-01-02T03:04:05.678Z', pid: 1, component: 'task', msg: 'CNI ADD done', plugin: 'bridge', ips: ['169.254.172.2/22'], note: 'two words' });
    expect(formatLogLine(line)).toBe('03:04:05.678 INFO  task         CNI ADD done  plugin=bridge ips=["169.254.172.2/22"] note="two words"\n');
    const err = JSON.stringify({ level: 50, time: '2026-01-02T03:04:05.678Z', msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n    at x' } });
    expect(formatLogLine(err)).toBe('03:04:05.678 ERROR failed  err=boom\n    Error: boom\n        at x\n');
    expect(formatLogLine('not json')).toBe('not json\n');
  });
});

describe('cni-config', () => {
  const task = JSON.stringify(example);
  const cfg = resolveConfig(new Map([['--plugins', 'reference'], ['--cni-path', '/usr/lib/cni:/opt/cni/bin'], ['--state-dir', '/var/lib/x']]), {});

  test('prints exactly the env and stdin the daemon would give each plugin, in plan order', async () => {
    const p = await cniConfigPlan(task, cfg, { containerId: 'c0ffee', netns: '/run/netns/t1' });
    const spec = validateTask(structuredClone(example), VOPTS);
    const plan = buildPlan('reference', spec.eni, { blockImds: true, ipamSubnet: '169.254.172.0/22', additionalLocalRoutes: [], ipamDataDir: '/var/lib/x/ipam', bridgeName: 'ecs-bridge', pluginLogLevel: 'info' });
    expect(p.add.map((i) => i.plugin)).toEqual(plan.add.map((c) => c.plugin));
    expect(p.del.map((i) => i.plugin)).toEqual(plan.del.map((c) => c.plugin));
    p.add.forEach((i, n) => {
      expect(i.stdin).toEqual(plan.add[n]!.config);
      expect(i.env).toEqual(pluginEnv(plan.add[n]!, 'ADD', { containerId: 'c0ffee', netns: '/run/netns/t1' }, '/usr/lib/cni:/opt/cni/bin'));
    });
    expect(p.del[0]!.env.CNI_COMMAND).toBe('DEL');
    expect(p.hostSteps.map((h) => h.argv.join(' '))).toEqual([
      'ip addr add 169.254.172.1/22 dev ecs-bridge',
      'nsenter --net=/run/netns/t1 -- ip route replace blackhole 169.254.169.254/32',
    ]);
  });

  test('the ecs set has the separate IPAM release; placeholders stand in for the pause container', async () => {
    const ecs = resolveConfig(new Map([['--plugins', 'ecs'], ['--cni-path', '/amazon-ecs-cni-plugins']]), {});
    const p = await cniConfigPlan(task, ecs);
    expect(p.add.map((i) => i.plugin)).toEqual(['ecs-eni', 'ecs-bridge']);
    expect(p.ipamRelease!.plugin).toBe('ecs-ipam');
    expect(p.add[0]!.env.CNI_CONTAINERID).toBe('<pause-container-id>');
    expect(p.add[1]!.env.IPAM_DB_PATH).toBe('/var/lib/awsvpcd/ipam/eni-ipam.db');
    expect(p.add[0]!.found).toBe(false);
    const sh = formatShell(p);
    expect(sh).toContain("CNI_CONTAINERID='<pause-container-id>'");
    expect(sh).toContain('# NOTE: ecs-eni is not in CNI_PATH on this host');
    expect(sh.indexOf('ecs-eni ADD')).toBeLessThan(sh.indexOf('ecs-bridge ADD'));
    expect(sh.indexOf('ecs-bridge DEL')).toBeLessThan(sh.indexOf('ecs-eni DEL'));
  });

  test('an invalid task is refused with the validation error', async () => {
    await expect(cniConfigPlan(JSON.stringify({ ...example, networkMode: 'bridge' }), cfg)).rejects.toMatchObject({ code: 'INVALID_TASK' });
  });

  test('shell quoting', () => {
    expect(shQuote('a b')).toBe("'a b'");
    expect(shQuote("it's")).toBe("'it'\\''s'");
    expect(shQuote('/usr/lib/cni')).toBe('/usr/lib/cni');
  });
});

describe('doctor', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'awsvpcd-doctor-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fake Amazon plugin: --version, --capabilities and CNI VERSION, as the real ones answer them. */
  async function fakePlugin(cni: string, name: string, caps = '["awsvpc-network-mode"]'): Promise<void> {
    await mkdir(cni, { recursive: true });
    const f = path.join(cni, name);
    await writeFile(
      f,
      `#!/bin/sh
case "$1" in
  --version) echo '{"version":"2020.09.0","dirty":false,"gitShortHash":"55b2ae77"}'; exit 0 ;;
  --capabilities) echo '{"capabilities":${caps}}'; exit 0 ;;
esac
[ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"0.3.1","supportedVersions":["0.3.0","0.3.1"]}'; exit 0; }
exit 1
`,
    );
    await chmod(f, 0o755);
  }

  function deps(cniPath: string, over: Partial<DoctorDeps> = {}): DoctorDeps {
    return {
      uid: 0,
      exec: async (file, args, opts) => {
        if (file === 'unshare') return { exitCode: 0, stdout: '', stderr: '' };
        const { execa } = await import('execa');
        const r = await execa(file, args, { env: opts?.env, extendEnv: false, reject: false });
        return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
      },
      engine: { version: async () => ({ version: '20.10.24', apiVersion: '1.41' }), imageExists: async () => true },
      cni: new ExecCniInvoker({ cniPath, logger: silent }),
      path: ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
      ...over,
    };
  }

  test('a host with every piece qualifies for ecs.capability.task-eni', async () => {
    const cni = path.join(dir, 'good');
    for (const p of ['ecs-eni', 'ecs-bridge', 'ecs-ipam']) await fakePlugin(cni, p);
    const cfg = resolveConfig(new Map([['--cni-path', cni], ['--state-dir', path.join(dir, 'state')]]), {});
    expect([...pluginsOf(cfg).keys()]).toEqual(['ecs-eni', 'ecs-bridge', 'ecs-ipam']);
    const r = await runDoctor(cfg, deps(cni));
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.taskEni).toBe(true);
    expect(r.attributes).toEqual(['ecs.capability.task-eni', 'ecs.capability.cni-plugin-version=55b2ae77-2020.09.0', 'ecs.capability.task-eni-block-instance-metadata']);
  });

  test('each missing piece is named with what to fix, and the host does not qualify', async () => {
    const cni = path.join(dir, 'partial');
    await fakePlugin(cni, 'ecs-eni');
    await fakePlugin(cni, 'ecs-bridge', '["something-else"]');
    const notADir = path.join(dir, 'a-file');
    await writeFile(notADir, '');
    const cfg = resolveConfig(new Map([['--cni-path', cni], ['--state-dir', notADir]]), {});
    const r = await runDoctor(cfg, deps(cni, { uid: 1000, engine: { version: async () => ({ version: '1.12', apiVersion: '1.24' }), imageExists: async () => false } }));
    const failed = Object.fromEntries(r.checks.filter((c) => !c.ok).map((c) => [c.name, c]));
    expect(Object.keys(failed).sort()).toEqual(['docker engine', 'pause image', 'plugin ecs-bridge', 'plugin ecs-ipam', 'root', 'state dir'].sort());
    expect(failed['plugin ecs-ipam']!.detail).toContain(`no executable ecs-ipam in ${cni}`);
    expect(failed['plugin ecs-ipam']!.fix).toContain('ECS_CNI_PLUGINS_PATH');
    expect(failed['plugin ecs-bridge']!.detail).toContain('does not list awsvpc-network-mode');
    expect(failed['docker engine']!.fix).toContain('1.25');
    expect(failed['state dir']!.detail).toContain('is not a directory');
    expect(r.taskEni).toBe(false);
    expect(r.attributes).toEqual([]);
  });

  test('an engine that does not answer is a failure, and the pause image cannot be checked', async () => {
    const cni = path.join(dir, 'good');
    const cfg = resolveConfig(new Map([['--cni-path', cni], ['--state-dir', path.join(dir, 'state')]]), {});
    const r = await runDoctor(cfg, deps(cni, { engine: { version: async () => Promise.reject(new Error('ECONNREFUSED')), imageExists: async () => true } }));
    expect(r.checks.find((c) => c.name === 'docker engine')).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
    expect(r.checks.find((c) => c.name === 'pause image')!.ok).toBe(false);
  });
});

describe('exec', () => {
  test('asks the API for the pinned namespace and runs the command there, returning its exit code', async () => {
    const asked: string[] = [];
    const api = { request: async (_m: string, p: string) => (asked.push(p), { status: 200, body: { netnsPath: '/run/awsvpcd/netns/t1' } }) } as unknown as ApiClient;
    const ran: Array<[string, string[]]> = [];
    const code = await execCommand(api, 'arn:aws:ecs:us-east-1:1:task/c/t1', ['ip', 'addr'], async (ns, argv) => (ran.push([ns, argv]), 7));
    expect(asked).toEqual(['/v1/tasks/t1/netns']);
    expect(ran).toEqual([['/run/awsvpcd/netns/t1', ['ip', 'addr']]]);
    expect(code).toBe(7);
  });

  test('an unknown task or one without a namespace maps to the CLI exit codes; nothing is run', async () => {
    for (const [status, want] of [[404, 3], [409, 4]] as const) {
      const api = { request: async () => ({ status, body: { error: { message: 'no' } } }) } as unknown as ApiClient;
      const stderr = process.stderr.write;
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        expect(await execCommand(api, 't1', ['true'], async () => 99)).toBe(want);
      } finally {
        process.stderr.write = stderr;
      }
    }
  });
});

describe('task manager metric hooks', () => {
  test('setup steps are timed and a retried cleanup is counted', async () => {
    const journal: string[] = [];
    const steps: string[] = [];
    const actions: string[] = [];
    const links = new FakeLinks(journal);
    const manager = new TaskManager({
      store: new MemoryTaskStore(),
      runtime: new FakeRuntime(journal),
      links,
      cni: new FakeCni(journal),
      hostNet: new FakeHostNet(journal),
      logger: silent,
      now: Date.now,
      config: TEST_CONFIG,
      metrics: { observeStep: (s, ms) => void steps.push(`${s}${ms >= 0 ? '' : ' negative'}`), reconcileAction: (a) => void actions.push(a) },
    });
    const spec = validateTask(structuredClone(example), VOPTS);
    links.present.add(spec.eni.macAddress);
    await manager.submit(spec, 'api');
    await manager.settled(spec.taskId);
    expect(manager.get(spec.taskId)!.lastStatus).toBe('RUNNING');
    const app = spec.containers.length;
    // The setup graph overlaps the steps (the pause container comes up while the ENI is awaited, containers are
    // created during the ADDs): every step is timed once per container, in whatever order they ended.
    expect([...steps].sort()).toEqual(['eni_wait', 'pause_create', 'pause_start', ...Array.from({ length: app }, () => ['container_create', 'container_start']).flat()].sort());
    expect(actions).toEqual([]);
  });
});
