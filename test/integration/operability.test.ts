// Operability on the real engine: /metrics parses as Prometheus text and its counters move when a task runs
// and when one fails; the loopback metrics port; task metadata v4; awsvpcd exec in the task namespace;
// doctor on a host with and without plugins; and cni-config's output, run by hand against the real
// plugins, sets a namespace up the way the daemon sets up a task.
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { CniConfigPlan, PluginInvocation } from '../../agent/cli/cni-config.js';
import { parsePrometheusText, sampleValue, type MetricFamily } from '../support/prom-parser.js';
import { CLI, DaemonProc, ENGINE, REFERENCE_CNI, Vpc, requireEnvironment, runPrefix, sh, taskJson, type Eni } from './harness.js';

jest.setTimeout(180_000);

const prefix = runPrefix();
const work = `/run/awsvpcd-test/${prefix}-ops`;
const cniDir = path.join(work, 'cni');
let metricsPort = 0;
const d = new DaemonProc({ prefix, cniPath: cniDir, args: [] });
let vpc: Vpc;
let eOk: Eni;
let eFail: Eni;
let eHand: Eni;
const ids = [`${prefix}ok`, `${prefix}bad`];
const handNs = `${prefix}-hand`;
const handBridge = `${prefix}-bh`;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  await requireEnvironment();
  await mkdir(cniDir, { recursive: true, mode: 0o700 });
  // The real reference plugins, except that host-device fails ADD for an address ending in .66: a task
  // that fails in its plugin chain, without touching anything the other tasks use.
  for (const p of ['bridge', 'static', 'host-local', 'loopback']) await symlink(path.join(REFERENCE_CNI, p), path.join(cniDir, p));
  await writeFile(
    path.join(cniDir, 'host-device'),
    `#!/bin/sh
in=$(cat)
if [ "$CNI_COMMAND" = ADD ] && printf '%s' "$in" | grep -q '10\\.99\\.[0-9]*\\.66/'; then
  printf '{"cniVersion":"1.0.0","code":999,"msg":"injected failure for the test"}'
  exit 1
fi
printf '%s' "$in" | exec ${REFERENCE_CNI}/host-device
`,
  );
  await chmod(path.join(cniDir, 'host-device'), 0o755);
  vpc = await Vpc.up(prefix, 3);
  eOk = await vpc.addEni(`${prefix}e1`, 15);
  eFail = await vpc.addEni(`${prefix}e2`, 66);
  eHand = await vpc.addEni(`${prefix}e3`, 17);
  metricsPort = await freePort();
  d.o.args!.push('--metrics-listen', `127.0.0.1:${metricsPort}`);
  await d.start();
});

afterAll(async () => {
  // Each step runs even when one before it threw (a daemon cleanup that failed once left /run/awsvpcd-test/<prefix>-ops behind).
  try {
    await d.cleanup(ids);
  } finally {
    await sh('ip', ['netns', 'del', handNs], { reject: false });
    await sh('ip', ['link', 'del', handBridge], { reject: false });
    try {
      await vpc?.down();
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
});

async function scrape(): Promise<Map<string, MetricFamily>> {
  const r = await d.api.request<string>('GET', '/metrics');
  expect(r.status).toBe(200);
  return parsePrometheusText(r.body);
}

function awsvpcd(args: string[]) {
  return execa('node', [CLI, ...args], { reject: false, timeout: 60_000, stdin: 'ignore' });
}

describe('metrics', () => {
  test('the counters move when a task runs, and the per-task byte counters follow its traffic', async () => {
    const before = await scrape();
    expect(sampleValue(before, 'awsvpcd_tasks', { status: 'RUNNING' })).toBe(0);
    expect(sampleValue(before, 'awsvpcd_cni_plugin_calls_total', { plugin: 'host-device', command: 'ADD' })).toBe(0);

    await d.submit(taskJson({ id: ids[0]!, eni: eOk }));
    await d.waitStatus(ids[0]!, 'RUNNING');
    const after = await scrape();
    expect(sampleValue(after, 'awsvpcd_tasks', { status: 'RUNNING' })).toBe(1);
    for (const plugin of ['host-device', 'bridge']) {
      expect(sampleValue(after, 'awsvpcd_cni_plugin_calls_total', { plugin, command: 'ADD' })).toBe(1);
      expect(sampleValue(after, 'awsvpcd_task_setup_step_duration_seconds_count', { step: 'cni_add', plugin })).toBe(1);
    }
    for (const step of ['eni_wait', 'pause_create', 'pause_start']) {
      expect(sampleValue(after, 'awsvpcd_task_setup_step_duration_seconds_count', { step })).toBe(1);
    }
    expect(sampleValue(after, 'awsvpcd_task_setup_step_duration_seconds_count', { step: 'container_start' })).toBe(2);
    expect(sampleValue(after, 'awsvpcd_ipam_addresses_in_use')).toBe(1);
    expect(sampleValue(after, 'awsvpcd_cni_plugin_failures_total')).toBe(0);

    const rx0 = sampleValue(after, 'awsvpcd_task_network_receive_bytes_total', { task_id: ids[0]!, interface: 'eth0' });
    const tx0 = sampleValue(after, 'awsvpcd_task_network_transmit_bytes_total', { task_id: ids[0]!, interface: 'eth0' });
    for (let i = 0; i < 3; i++) expect((await vpc.exec(['busybox', 'wget', '-qO-', `http://${eOk.ip}:8080/`])).stdout).toBe('app-ok');
    const traffic = await scrape();
    expect(sampleValue(traffic, 'awsvpcd_task_network_receive_bytes_total', { task_id: ids[0]!, interface: 'eth0' })).toBeGreaterThan(rx0);
    expect(sampleValue(traffic, 'awsvpcd_task_network_transmit_bytes_total', { task_id: ids[0]!, interface: 'eth0' })).toBeGreaterThan(tx0 + 3 * 'app-ok'.length);
  });

  test('the counters move when a task fails in its plugin chain', async () => {
    const before = await scrape();
    await d.submit(taskJson({ id: ids[1]!, eni: eFail }));
    const t = await d.waitStatus(ids[1]!, 'STOPPED');
    expect(t.stoppedReason).toContain('injected failure for the test');
    const after = await scrape();
    expect(sampleValue(after, 'awsvpcd_cni_plugin_failures_total', { plugin: 'host-device', command: 'ADD' })).toBe(1);
    expect(sampleValue(after, 'awsvpcd_cni_plugin_calls_total', { plugin: 'host-device', command: 'ADD' })).toBe(
      sampleValue(before, 'awsvpcd_cni_plugin_calls_total', { plugin: 'host-device', command: 'ADD' }) + 1,
    );
    // the rollback ran DEL for the step that had started; the failed ADD is not a timed step
    expect(sampleValue(after, 'awsvpcd_cni_plugin_calls_total', { plugin: 'host-device', command: 'DEL' })).toBeGreaterThan(0);
    expect(sampleValue(after, 'awsvpcd_task_setup_step_duration_seconds_count', { step: 'cni_add', plugin: 'host-device' })).toBe(1);
    expect(sampleValue(after, 'awsvpcd_tasks', { status: 'STOPPED' })).toBe(1);
    expect(sampleValue(after, 'awsvpcd_tasks', { status: 'RUNNING' })).toBe(1);
  });

  test('the loopback metrics port serves /metrics and nothing else', async () => {
    const get = (p: string) =>
      new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: metricsPort, path: p, timeout: 5_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
        }).on('error', reject);
      });
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(sampleValue(parsePrometheusText(m.body), 'awsvpcd_tasks', { status: 'RUNNING' })).toBe(1);
    expect((await get('/v1/tasks')).status).toBe(404);
  });
});

describe('task metadata and exec', () => {
  test('GET /v1/tasks/{id}/metadata gives the networks with the v4 keys', async () => {
    const r = await d.api.request<{ Networks: Array<Record<string, unknown>>; Containers: Array<{ Networks: unknown[] }> }>('GET', `/v1/tasks/${ids[0]}/metadata`);
    expect(r.status).toBe(200);
    expect(r.body.Networks).toEqual([
      {
        NetworkMode: 'awsvpc',
        IPv4Addresses: [eOk.ip],
        AttachmentIndex: 0,
        MACAddress: eOk.mac,
        IPv4SubnetCIDRBlock: '10.99.3.0/24',
        DomainNameServers: ['10.99.0.2'],
        DomainNameSearchList: ['ec2.internal'],
        PrivateDNSName: `ip-${eOk.ip.split('.').join('-')}.ec2.internal`,
        SubnetGatewayIpv4Address: '10.99.3.1/24',
      },
    ]);
    for (const c of r.body.Containers) expect(c.Networks).toEqual(r.body.Networks);
    expect((await d.api.request('GET', '/v1/tasks/nope/metadata')).status).toBe(404);
  });

  test('awsvpcd exec runs a command in the task namespace and returns its exit code', async () => {
    const r = await awsvpcd(['exec', '--socket', d.socket, ids[0]!, '--', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`inet ${eOk.ip}/24`);
    expect((await awsvpcd(['exec', '--socket', d.socket, ids[0]!, '--', 'sh', '-c', 'exit 3'])).exitCode).toBe(3);
    const stopped = await awsvpcd(['exec', '--socket', d.socket, ids[1]!, '--', 'true']);
    expect(stopped.exitCode).toBe(4);
    expect(stopped.stderr).toContain('has no network namespace');
    expect((await awsvpcd(['exec', '--socket', d.socket, 'nope', '--', 'true'])).exitCode).toBe(3);
  });
});

describe('doctor', () => {
  test('passes on this host with the reference plugins', async () => {
    const r = await awsvpcd(['doctor', '--plugins', 'reference', '--cni-path', REFERENCE_CNI, '--docker-host', ENGINE, '--state-dir', path.join(work, 'doctor-state')]);
    expect(r.stdout).toContain('ecs.capability.task-eni: yes');
    expect(r.exitCode).toBe(0);
  });

  test('without plugins it names each missing piece and exits non-zero', async () => {
    const empty = path.join(work, 'no-plugins');
    await mkdir(empty, { recursive: true });
    const r = await awsvpcd(['doctor', '--plugins', 'reference', '--cni-path', empty, '--docker-host', ENGINE, '--pause-image', 'awsvpcd/not-loaded:0', '--state-dir', path.join(work, 'doctor-state')]);
    expect(r.exitCode).toBe(1);
    for (const p of ['host-device', 'bridge', 'static', 'host-local']) expect(r.stdout).toMatch(new RegExp(`FAIL  plugin ${p} +no executable ${p} in ${empty}`));
    expect(r.stdout).toMatch(/FAIL {2}pause image +awsvpcd\/not-loaded:0 is not loaded/);
    expect(r.stdout).toContain('fix: ');
    expect(r.stdout).toContain('ecs.capability.task-eni: no, 5 checks failed');
    const ecs = await awsvpcd(['doctor', '--plugins', 'ecs', '--cni-path', empty, '--docker-host', ENGINE]);
    expect(ecs.exitCode).toBe(1);
    for (const p of ['ecs-eni', 'ecs-bridge', 'ecs-ipam']) expect(ecs.stdout).toContain(`FAIL  plugin ${p}`);
  });
});

describe('cni-config, fed by hand to the plugins', () => {
  const state = path.join(work, 'hand-state');
  const netns = `/run/netns/${handNs}`;

  async function plan(command: 'add' | 'del'): Promise<CniConfigPlan> {
    const file = path.join(work, 'hand-task.json');
    await writeFile(file, JSON.stringify(taskJson({ id: `${prefix}hand`, eni: eHand })));
    // Same daemon settings as the running daemon except its own bridge, local subnet and state, so the
    // two never share an address or an IPAM file.
    const r = await awsvpcd([
      'cni-config', '--file', file, '--plugins', 'reference', '--cni-path', REFERENCE_CNI, '--state-dir', state,
      '--bridge-name', handBridge, '--ipam-subnet', '169.254.176.0/22', '--netns', netns, '--container-id', `${prefix}hand`,
      '--command', command, '--json',
    ]);
    expect(r.exitCode).toBe(0);
    return JSON.parse(r.stdout) as CniConfigPlan;
  }

  async function run(i: PluginInvocation): Promise<void> {
    const r = await execa(i.path, [], { input: JSON.stringify(i.stdin), env: i.env, extendEnv: false, reject: false, timeout: 30_000 });
    if (r.exitCode !== 0) throw new Error(`${i.plugin} ${i.command} failed: ${r.stdout} ${r.stderr}`);
  }

  /** Routes and addresses with the per-task parts replaced, so two tasks' namespaces compare equal. */
  function normalize(text: string, eniIp: string): string[] {
    return text
      .split('\n')
      .map((l) => l.trim().replace(/\s+/g, ' '))
      .filter(Boolean)
      .map((l) =>
        l
          .replaceAll(eniIp, 'ENI_IP')
          .replace(/169\.254\.17[2-9]\.0\/22/g, 'LOCAL_NET')
          .replace(/169\.254\.17[26]\.1\b/g, 'LOCAL_GW')
          .replace(/169\.254\.17[2-9]\.\d+/g, 'LOCAL_IP')
          // `ip -o addr` starts each line with the interface index, which differs between namespaces:
          // drop it before sorting, or the order depends on the numbers (it flipped in the DinD runner).
          .replace(/^\d+: /, ''),
      )
      .sort();
  }

  async function daemonView(cmd: string[]): Promise<string> {
    const r = await awsvpcd(['exec', '--socket', d.socket, ids[0]!, '--', ...cmd]);
    expect(r.exitCode).toBe(0);
    return r.stdout;
  }

  test('ADD by hand gives the namespace the same interfaces, addresses and routes as a daemon task, and DEL returns the ENI', async () => {
    await sh('ip', ['netns', 'add', handNs]);
    // What the engine does for the pause container (network mode none) before the daemon's first plugin call.
    await sh('ip', ['netns', 'exec', handNs, 'ip', 'link', 'set', 'lo', 'up']);
    const add = await plan('add');
    expect(add.add.map((i) => i.plugin)).toEqual(['host-device', 'bridge']);
    for (const h of add.hostSteps.filter((s) => s.after === 'the pause container starts')) await sh(h.argv[0]!, h.argv.slice(1));
    for (const i of add.add) {
      await run(i);
      for (const h of add.hostSteps.filter((s) => s.after === `${i.plugin} ADD`)) await sh(h.argv[0]!, h.argv.slice(1));
    }

    const inHand = (cmd: string[]) => sh('ip', ['netns', 'exec', handNs, ...cmd]).then((r) => r.stdout);
    const views: string[][] = [
      ['ip', '-4', 'route', 'show', 'table', 'main'],
      ['ip', '-4', '-o', 'addr', 'show'],
    ];
    for (const v of views) {
      const mine = normalize(await inHand(v), eHand.ip).map((l) => l.replace(/^\d+: /, ''));
      const theirs = normalize(await daemonView(v), eOk.ip).map((l) => l.replace(/^\d+: /, ''));
      expect(mine.map((l) => l.replace(/ valid_lft.*$/, ''))).toEqual(theirs.map((l) => l.replace(/ valid_lft.*$/, '')));
    }
    expect((await inHand(['cat', '/sys/class/net/eth0/address'])).trim()).toBe(eHand.mac);
    expect(await inHand(['ip', 'route', 'show', 'table', 'all'])).toMatch(/^blackhole 169\.254\.169\.254\b/m);
    // and the namespace works as a task's does: the VPC peer answers through eth0
    expect(await inHand(['busybox', 'wget', '-qO-', `http://${vpc.peer}/`])).toContain('peer-ok');

    const del = await plan('del');
    expect(del.del.map((i) => i.plugin)).toEqual(['bridge', 'host-device']);
    for (const i of del.del) await run(i);
    const link = await sh('ip', ['-o', 'link', 'show', 'dev', eHand.dev]);
    expect(link.stdout).toContain(eHand.mac);
    const leftover = await readdir(path.join(state, 'ipam', 'awsvpcd')).catch(() => [] as string[]);
    expect(leftover.filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
  });
});
