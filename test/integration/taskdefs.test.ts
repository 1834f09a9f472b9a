// ECS task definitions on the real engine with stand-in ENIs: corpus files from ../shared/taskdefs that need
// no AWS service (their images replaced by the local busybox, and containerOverrides.command where the image
// lacks the program), and task definitions written for these tests. Each test looks inside the containers
// (or at the engine and the host's cgroup files) to see that a field took effect, not only that it was accepted.
import { jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { taskIdFromFileName } from '../../agent/task/validate/index.js';
import { DaemonProc, REPO, Vpc, docker, execIn, leaks, requireEnvironment, runPrefix, sh, taskJson, type Eni } from './harness.js';

jest.setTimeout(180_000);

const TASKDEFS = path.resolve(REPO, '../shared/taskdefs');
const prefix = runPrefix();
const cgroupRoot = `/awsvpcd-${prefix}`;
// Corpus containers keep ECS's default stop timeout (30 s) and run programs that ignore SIGTERM: a short
// daemon-wide timeout keeps the stops quick.
const d = new DaemonProc({ prefix, args: ['--task-cgroup-root', cgroupRoot, '--container-stop-timeout', '2'] });
const binds = `/run/awsvpcd-test/${prefix}-binds`;
let vpc: Vpc;
const enis: Eni[] = [];
const ids: string[] = [];

const arn = (id: string): string => `arn:aws:ecs:us-east-1:111122223333:task/test/${id}`;

/** The ENI attachment object of the tests' task documents (the shape --eni-file holds). */
function eniObject(id: string, eni: Eni): Record<string, unknown> {
  return (taskJson({ id, eni }).elasticNetworkInterfaces as Array<Record<string, unknown>>)[0]!;
}

async function corpus(file: string): Promise<Record<string, unknown>> {
  const name = (await readdir(TASKDEFS)).find((f) => f.startsWith(file));
  if (!name) throw new Error(`no ${file}* in ${TASKDEFS}`);
  return JSON.parse(await readFile(path.join(TASKDEFS, name), 'utf8')) as Record<string, unknown>;
}

/** The corpus file's container definitions (inside the describe-task-definition wrapper when it has one). */
function containerDefs(td: Record<string, unknown>): Array<Record<string, unknown>> {
  const inner = (td.taskDefinition ?? td) as Record<string, unknown>;
  return inner.containerDefinitions as Array<Record<string, unknown>>;
}

function newTask(n: number): { id: string; eni: Eni } {
  const id = `${prefix}${String.fromCharCode(97 + n)}`;
  ids.push(id);
  return { id, eni: enis[n]! };
}

function runRequest(id: string, eni: Eni, taskDefinition: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { taskDefinition, taskArn: arn(id), elasticNetworkInterfaces: [eniObject(id, eni)], waitTimeoutMs: 20_000, ...extra };
}

const c = (id: string, name: string): string => `awsvpcd-${id}-${name}`;

async function inspect(container: string): Promise<Record<string, any>> {
  const r = await docker(['inspect', container]);
  return (JSON.parse(r.stdout) as Array<Record<string, any>>)[0]!;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms\n${await d.logTail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function taskVolumes(id: string): Promise<string[]> {
  const r = await docker(['volume', 'ls', '-q', '--filter', `label=com.awsvpcd.task-id=${id}`], false);
  return r.stdout.split('\n').filter(Boolean);
}

/** The cgroup v1 hierarchies, or the v2 root; which one this host has decides where the limits are read. */
function cgroupVersion(): 1 | 2 {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
}

beforeAll(async () => {
  await requireEnvironment();
  vpc = await Vpc.up(prefix, 1);
  for (let i = 0; i < 10; i++) enis.push(await vpc.addEni(`${prefix}e${i}`, 20 + i));
  await mkdir(binds, { recursive: true });
  await d.start();
});

afterAll(async () => {
  await d.cleanup(ids);
  for (const id of ids) {
    const vols = await taskVolumes(id);
    if (vols.length) await docker(['volume', 'rm', '-f', ...vols], false);
  }
  await vpc?.down();
  await rm(binds, { recursive: true, force: true });
  for (const ctl of cgroupVersion() === 1 ? ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'devices', 'freezer', 'systemd'] : ['']) {
    const base = path.join('/sys/fs/cgroup', ctl, cgroupRoot);
    for (const id of ids) await sh('rmdir', [path.join(base, id)], { reject: false });
    await sh('rmdir', [base], { reject: false });
  }
});

describe('corpus 22 (ECS Exec, ".25 vcpu" / ".5 gb", initProcessEnabled) in two commands', () => {
  let id: string;
  let eni: Eni;

  test('run-task --task-definition --eni-file --overrides --wait reaches RUNNING', async () => {
    ({ id, eni } = newTask(0));
    const td = await corpus('22-');
    containerDefs(td)[0]!.image = 'busybox:latest';
    const dir = path.join(d.root, 'c22');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'td.json'), JSON.stringify(td));
    await writeFile(path.join(dir, 'eni.json'), JSON.stringify(eniObject(id, eni)));
    await writeFile(
      path.join(dir, 'o.json'),
      JSON.stringify({
        containerOverrides: [
          { name: 'nginx-container', command: ['sh', '-c', 'mkdir -p /www && echo nginx-ok > /www/index.html && exec httpd -f -p 80 -h /www'] },
        ],
      }),
    );
    const r = await d.cli([
      'run-task', '--task-definition', path.join(dir, 'td.json'), '--eni-file', path.join(dir, 'eni.json'),
      '--overrides', path.join(dir, 'o.json'), '--task-arn', arn(id), '--wait',
    ]);
    expect(`${r.stdout}\n${r.stderr}`).toContain('RUNNING');
    expect(r.exitCode).toBe(0);
  });

  test('describe-tasks shows the task-level cpu and memory in ECS units, and the role warnings', async () => {
    const t = (await d.describe(id)) as Record<string, any>;
    expect(t.lastStatus).toBe('RUNNING');
    expect(t.cpu).toBe('256');
    expect(t.memory).toBe('512');
    const warnings = (t.warnings as string[]).join('\n');
    expect(warnings).toMatch(/taskRoleArn/);
    expect(warnings).toMatch(/executionRoleArn/);
  });

  test('initProcessEnabled: PID 1 is the engine init, and the override command runs under it', async () => {
    const cmdline = await execIn(c(id, 'nginx-container'), ['cat', '/proc/1/cmdline']);
    expect(cmdline.split('\0')[0]).toBe('/sbin/docker-init');
    expect(cmdline).toContain('httpd');
  });

  test('the peer host in the VPC reaches the task on its ENI address', async () => {
    const fromPeer = await vpc.exec(['busybox', 'wget', '-qO-', `http://${eni.ip}:80/`]);
    expect(fromPeer.stdout).toBe('nginx-ok');
  });

  test(`task cpu/memory are limits on the task's cgroup parent (cgroup v${cgroupVersion()}, cgroupfs driver)`, async () => {
    const info = await docker(['info', '--format', '{{.CgroupDriver}} {{.CgroupVersion}}']);
    expect(info.stdout.trim()).toBe(`cgroupfs ${cgroupVersion()}`);
    for (const name of ['nginx-container']) {
      const ins = await inspect(c(id, name));
      expect(ins.HostConfig.CgroupParent).toBe(`${cgroupRoot}/${id}`);
      const pid = ins.State.Pid as number;
      const cg = await readFile(`/proc/${pid}/cgroup`, 'utf8');
      if (cgroupVersion() === 1) {
        expect(cg).toMatch(new RegExp(`:memory:${cgroupRoot}/${id}/[0-9a-f]{64}$`, 'm'));
        const parent = path.join('/sys/fs/cgroup/memory', cgroupRoot, id);
        expect((await readFile(path.join(parent, 'memory.limit_in_bytes'), 'utf8')).trim()).toBe(String(512 * 1024 * 1024));
        const cpu = path.join('/sys/fs/cgroup/cpu', cgroupRoot, id);
        expect((await readFile(path.join(cpu, 'cpu.cfs_period_us'), 'utf8')).trim()).toBe('100000');
        expect((await readFile(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('25000');
        // Inside the container: the kernel's effective limit, which the task's parent sets.
        const stat = await execIn(c(id, name), ['cat', '/sys/fs/cgroup/memory/memory.stat']);
        expect(stat).toMatch(new RegExp(`^hierarchical_memory_limit ${512 * 1024 * 1024}$`, 'm'));
      } else {
        expect(cg).toContain(`${cgroupRoot}/${id}/`);
        const parent = path.join('/sys/fs/cgroup', cgroupRoot, id);
        expect((await readFile(path.join(parent, 'memory.max'), 'utf8')).trim()).toBe(String(512 * 1024 * 1024));
        expect((await readFile(path.join(parent, 'cpu.max'), 'utf8')).trim()).toBe('25000 100000');
      }
    }
    // The pause container is in the task's cgroup too (it is part of the task, as with the agent).
    expect((await inspect(`awsvpcd-${id}-internalecspause`)).HostConfig.CgroupParent).toBe(`${cgroupRoot}/${id}`);
  });
});

describe('corpus 36 (describe-task-definition output, awslogs) through the API', () => {
  let id: string;
  let request: Record<string, unknown>;

  test('is accepted once: the same request again is the same task (200), not a second one', async () => {
    let eni: Eni;
    ({ id, eni } = newTask(1));
    const td = await corpus('36-');
    containerDefs(td)[0]!.image = 'busybox:latest';
    request = runRequest(id, eni, td, {
      overrides: {
        containerOverrides: [{ name: 'whoami', command: ['sh', '-c', 'echo whoami-log-line; exec httpd -f -p 80 -h /'] }],
      },
      startedBy: 'integration',
      group: 'family:TestTask',
    });
    const first = await d.api.request('POST', '/v1/tasks', JSON.stringify(request));
    expect(first.status).toBe(202);
    const again = await d.api.request<Record<string, any>>('POST', '/v1/tasks', JSON.stringify(request));
    expect(again.status).toBe(200);
    expect(again.body.taskArn).toBe(arn(id));
    await d.waitStatus(id, 'RUNNING', 30_000);
  });

  test('describe-tasks carries the definition ARN, startedBy, group and ONE awslogs warning', async () => {
    const t = (await d.describe(id)) as Record<string, any>;
    expect(t.taskDefinitionArn).toBe('arn:aws:ecs:us-east-1:717999153688:task-definition/TestTask:4');
    expect(t.startedBy).toBe('integration');
    expect(t.group).toBe('family:TestTask');
    const awslogs = (t.warnings as string[]).filter((w) => /awslogs/.test(w));
    expect(awslogs).toHaveLength(1);
    expect(awslogs[0]).toMatch(/whoami/);
  });

  test('awslogs ran as the local driver: the engine keeps the log, docker logs reads it', async () => {
    const ins = await inspect(c(id, 'whoami'));
    expect(ins.HostConfig.LogConfig.Type).toBe('json-file');
    const logs = await until('the log line', async () => {
      const r = await docker(['logs', c(id, 'whoami')], false);
      return r.stdout.includes('whoami-log-line') ? r.stdout : undefined;
    });
    expect(logs).toContain('whoami-log-line');
  });

  test('the same request with other content is a conflict (409), and nothing changes', async () => {
    const changed = structuredClone(request) as Record<string, any>;
    changed.startedBy = 'someone-else';
    const r = await d.api.request<Record<string, any>>('POST', '/v1/tasks', JSON.stringify(changed));
    expect(r.status).toBe(409);
    expect(((await d.describe(id)) as Record<string, any>).startedBy).toBe('integration');
  });
});

describe('written: a bind mount and a scratch volume shared by two containers', () => {
  let id: string;

  test('reaches RUNNING', async () => {
    let eni: Eni;
    ({ id, eni } = newTask(2));
    await writeFile(path.join(binds, 'from-host.txt'), 'host-wrote-this\n');
    const td = {
      family: 'volumes',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['EC2'],
      volumes: [{ name: 'scratch' }, { name: 'hostdir', host: { sourcePath: binds } }],
      containerDefinitions: [
        {
          name: 'writer',
          image: 'busybox:latest',
          essential: true,
          command: ['sh', '-c', 'echo from-writer > /scratch/w.txt && echo from-task > /host/t.txt && exec sleep 3600'],
          mountPoints: [
            { sourceVolume: 'scratch', containerPath: '/scratch' },
            { sourceVolume: 'hostdir', containerPath: '/host' },
          ],
          stopTimeout: 1,
        },
        {
          name: 'reader',
          image: 'busybox:latest',
          essential: false,
          command: ['sleep', '3600'],
          dependsOn: [{ containerName: 'writer', condition: 'START' }],
          mountPoints: [
            { sourceVolume: 'scratch', containerPath: '/data', readOnly: true },
            { sourceVolume: 'hostdir', containerPath: '/host', readOnly: true },
          ],
          stopTimeout: 1,
        },
      ],
    };
    await d.submit(runRequest(id, eni, td));
    await d.waitStatus(id, 'RUNNING', 30_000);
  });

  test('the scratch volume is one Docker volume made for the task, seen by both containers', async () => {
    const vols = await taskVolumes(id);
    expect(vols).toHaveLength(1);
    const seen = await until('w.txt in the reader', async () => {
      const s = await execIn(c(id, 'reader'), ['cat', '/data/w.txt']);
      return s.trim() || undefined;
    });
    expect(seen).toBe('from-writer');
    const mounts = (await inspect(c(id, 'reader'))).Mounts as Array<Record<string, any>>;
    const scratch = mounts.find((m) => m.Destination === '/data')!;
    expect(scratch).toMatchObject({ Type: 'volume', Name: vols[0], RW: false });
  });

  test('readOnly holds: the reader cannot write to either mount', async () => {
    for (const p of ['/data/x', '/host/x']) {
      const r = await docker(['exec', c(id, 'reader'), 'touch', p], false);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/Read-only file system/);
    }
  });

  test('the bind mount is the host directory both ways', async () => {
    expect((await execIn(c(id, 'reader'), ['cat', '/host/from-host.txt'])).trim()).toBe('host-wrote-this');
    const onHost = await until('t.txt on the host', async () => (await readFile(path.join(binds, 't.txt'), 'utf8')).trim() || undefined);
    expect(onHost).toBe('from-task');
  });

  test('after stop the scratch volume is removed with the task; the host directory stays', async () => {
    await d.stopTask(id);
    await d.waitStatus(id, 'STOPPED', 30_000);
    await until('the task volume removed', async () => ((await taskVolumes(id)).length === 0 ? true : undefined));
    expect(existsSync(path.join(binds, 't.txt'))).toBe(true);
  });
});

describe('written: healthCheck (CMD-SHELL and CMD) with dependsOn HEALTHY', () => {
  let id: string;

  test('the dependent starts only after the dependency is healthy', async () => {
    let eni: Eni;
    ({ id, eni } = newTask(3));
    const td = {
      family: 'ordering-healthy',
      networkMode: 'awsvpc',
      containerDefinitions: [
        {
          name: 'dependent',
          image: 'busybox:latest',
          essential: false,
          command: ['sh', '-c', 'touch /tmp/ready && exec sleep 3600'],
          dependsOn: [{ containerName: 'dependency', condition: 'HEALTHY' }],
          healthCheck: { command: ['CMD', 'test', '-f', '/tmp/ready'], interval: 5, retries: 2 },
          stopTimeout: 1,
        },
        {
          name: 'dependency',
          image: 'busybox:latest',
          essential: true,
          command: ['sh', '-c', 'touch /tmp/ready && exec sleep 3600'],
          healthCheck: { command: ['CMD-SHELL', 'test -f /tmp/ready || exit 1'], interval: 5, timeout: 3, retries: 3, startPeriod: 1 },
          stopTimeout: 1,
        },
      ],
    };
    await d.submit(runRequest(id, eni, td));
    await d.waitStatus(id, 'RUNNING', 60_000);
    const dep = await inspect(c(id, 'dependency'));
    const firstHealthy = (dep.State.Health.Log as Array<{ End: string; ExitCode: number }>).find((l) => l.ExitCode === 0)!;
    const dependent = await until('the dependent container', () => inspect(c(id, 'dependent')));
    expect(Date.parse(dependent.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(firstHealthy.End));
  });

  test('the engine runs each check in ECS form with ECS defaults where the definition is silent', async () => {
    expect((await inspect(c(id, 'dependency'))).Config.Healthcheck).toEqual({
      Test: ['CMD-SHELL', 'test -f /tmp/ready || exit 1'],
      Interval: 5e9,
      Timeout: 3e9,
      Retries: 3,
      StartPeriod: 1e9,
    });
    expect((await inspect(c(id, 'dependent'))).Config.Healthcheck).toEqual({
      Test: ['CMD', 'test', '-f', '/tmp/ready'],
      Interval: 5e9,
      Timeout: 5e9,
      Retries: 2,
    });
  });

  test('describe-tasks reports each container healthy, and the task too', async () => {
    const t = await until('both healthy in describe', async () => {
      const t = (await d.describe(id)) as Record<string, any>;
      const all = (t.containers as Array<Record<string, any>>).every((x) => x.healthStatus === 'HEALTHY');
      return all && t.healthStatus === 'HEALTHY' ? t : undefined;
    });
    expect(t.healthStatus).toBe('HEALTHY');
  });
});

describe('written: an init container with dependsOn COMPLETE (the shape of corpus 18, without its download)', () => {
  let id: string;

  test('the init container runs to completion first and hands its output over a "host": {} scratch volume', async () => {
    let eni: Eni;
    ({ id, eni } = newTask(4));
    const td = {
      family: 'init-complete',
      networkMode: 'awsvpc',
      volumes: [{ name: 'data', host: {} }],
      containerDefinitions: [
        {
          name: 'download-config',
          image: 'busybox:latest',
          essential: false,
          command: ['sh', '-c', 'sleep 1 && echo config-ready > /data/envoy.yaml'],
          mountPoints: [{ sourceVolume: 'data', containerPath: '/data' }],
        },
        {
          name: 'envoy',
          image: 'busybox:latest',
          essential: true,
          command: ['sh', '-c', 'cat /data/envoy.yaml > /tmp/seen && exec sleep 3600'],
          dependsOn: [{ containerName: 'download-config', condition: 'COMPLETE' }],
          mountPoints: [{ sourceVolume: 'data', containerPath: '/data', readOnly: true }],
          stopTimeout: 1,
        },
      ],
    };
    await d.submit(runRequest(id, eni, td));
    await d.waitStatus(id, 'RUNNING', 30_000);
    expect((await execIn(c(id, 'envoy'), ['cat', '/tmp/seen'])).trim()).toBe('config-ready');
    const t = await until('the init container reported STOPPED', async () => {
      const t = (await d.describe(id)) as Record<string, any>;
      const init = (t.containers as Array<Record<string, any>>).find((x) => x.name === 'download-config');
      return init?.lastStatus === 'STOPPED' ? t : undefined;
    });
    expect(t.lastStatus).toBe('RUNNING');
    expect((t.containers as Array<Record<string, any>>).find((x) => x.name === 'download-config')!.exitCode).toBe(0);
  });
});

describe('written: ulimits, linuxParameters and the other container fields (the shapes of corpus 29 and 39)', () => {
  let id: string;
  const name = 'fields';

  test('reaches RUNNING', async () => {
    let eni: Eni;
    ({ id, eni } = newTask(5));
    const td = {
      family: 'fields',
      networkMode: 'awsvpc',
      containerDefinitions: [
        {
          name,
          image: 'busybox:latest',
          essential: true,
          command: ['sleep', '3600'],
          user: '1000:1000',
          workingDirectory: '/tmp',
          environment: [{ name: 'MODE', value: 'fields' }],
          memory: 256,
          ulimits: [{ name: 'nofile', softLimit: 123, hardLimit: 234 }],
          readonlyRootFilesystem: true,
          dockerLabels: { 'com.example.team': 'net' },
          systemControls: [{ namespace: 'net.ipv4.tcp_keepalive_time', value: '600' }],
          linuxParameters: {
            initProcessEnabled: true,
            sharedMemorySize: 128,
            tmpfs: [{ containerPath: '/scratchfs', size: 100, mountOptions: ['noexec'] }],
            maxSwap: 512,
            swappiness: 10,
            capabilities: { drop: ['NET_RAW'] },
          },
          stopTimeout: 1,
        },
      ],
    };
    await d.submit(runRequest(id, eni, td));
    await d.waitStatus(id, 'RUNNING', 30_000);
  });

  test('ulimits: nofile soft 123, hard 234 (read from PID 1: docker exec gives its own processes other limits)', async () => {
    const limits = await execIn(c(id, name), ['cat', '/proc/1/limits']);
    expect(limits).toMatch(/^Max open files\s+123\s+234\s+files/m);
  });

  test('user, working directory and environment', async () => {
    expect((await execIn(c(id, name), ['id', '-u'])).trim()).toBe('1000');
    expect((await execIn(c(id, name), ['pwd'])).trim()).toBe('/tmp');
    expect((await execIn(c(id, name), ['sh', '-c', 'echo $MODE'])).trim()).toBe('fields');
  });

  test('linuxParameters: init, /dev/shm size, tmpfs with its options, dropped capability', async () => {
    expect((await execIn(c(id, name), ['cat', '/proc/1/cmdline'])).split('\0')[0]).toBe('/sbin/docker-init');
    const mounts = await execIn(c(id, name), ['cat', '/proc/mounts']);
    expect(mounts).toMatch(/^shm \/dev\/shm tmpfs \S*size=131072k/m);
    const tmpfs = mounts.split('\n').find((l) => l.split(' ')[1] === '/scratchfs')!;
    expect(tmpfs.split(' ')[3]!.split(',')).toEqual(expect.arrayContaining(['noexec', 'size=102400k']));
    const capBnd = (await execIn(c(id, name), ['sh', '-c', 'grep CapBnd /proc/self/status'])).trim().split(/\s+/)[1]!;
    const CAP_NET_RAW = 13n;
    expect((BigInt(`0x${capBnd}`) >> CAP_NET_RAW) & 1n).toBe(0n);
  });

  test('readonlyRootFilesystem: the root is read-only', async () => {
    const r = await docker(['exec', c(id, name), 'touch', '/rootfile'], false);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  test('maxSwap and swappiness (this host has no swap: read from the engine HostConfig)', async () => {
    const hc = (await inspect(c(id, name))).HostConfig;
    expect(hc.Memory).toBe(256 * 1024 * 1024);
    expect(hc.MemorySwap).toBe((256 + 512) * 1024 * 1024);
    expect(hc.MemorySwappiness).toBe(10);
  });

  test('systemControls net.* applies to the task network namespace; dockerLabels are on the container', async () => {
    expect((await execIn(c(id, name), ['cat', '/proc/sys/net/ipv4/tcp_keepalive_time'])).trim()).toBe('600');
    expect((await inspect(`awsvpcd-${id}-internalecspause`)).HostConfig.Sysctls).toMatchObject({ 'net.ipv4.tcp_keepalive_time': '600' });
    expect((await inspect(c(id, name))).Config.Labels['com.example.team']).toBe('net');
  });
});

describe('dry run, refusals and the spool', () => {
  test('run-task --dry-run prints the plan and creates nothing', async () => {
    const { id, eni } = newTask(6);
    const td = await corpus('36-');
    containerDefs(td)[0]!.image = 'busybox:latest';
    const dir = path.join(d.root, 'dry');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'td.json'), JSON.stringify(td));
    await writeFile(path.join(dir, 'eni.json'), JSON.stringify(eniObject(id, eni)));
    const r = await d.cli(['run-task', '--task-definition', path.join(dir, 'td.json'), '--eni-file', path.join(dir, 'eni.json'), '--task-arn', arn(id), '--dry-run']);
    expect(r.exitCode).toBe(0);
    const plan = JSON.parse(r.stdout) as Record<string, any>;
    expect(plan.dryRun).toBe(true);
    expect(plan.taskArn).toBe(arn(id));
    expect(plan.containers.map((x: Record<string, any>) => x.createOptions.image)).toEqual(['busybox:latest']);
    expect(plan.containers[0].createOptions.networkMode).toBe('container:<pause>');
    expect(plan.warnings.join('\n')).toMatch(/awslogs/);
    expect(plan.cniCalls.length).toBeGreaterThan(0);
    expect((await d.api.request('GET', `/v1/tasks/${id}`)).status).toBe(404);
    expect((await docker(['ps', '-aq', '--filter', `label=com.awsvpcd.task-id=${id}`])).stdout.trim()).toBe('');
    expect(await taskVolumes(id)).toEqual([]);
  });

  test.each([
    ['a bind mount of /etc', { volumes: [{ name: 'etc', host: { sourcePath: '/etc' } }] }, /volumes\[0\]\.host\.sourcePath/],
    ['a bind mount above the engine socket', { volumes: [{ name: 'run', host: { sourcePath: '/run/awsvpcd-test' } }] }, /volumes\[0\]\.host\.sourcePath/],
    ['networkMode bridge', { networkMode: 'bridge' }, /networkMode/],
  ])('refused before anything is made: %s', async (_what, change, field) => {
    const id = `${prefix}r${ids.length}`;
    ids.push(id);
    const td = {
      family: 'refused',
      networkMode: 'awsvpc',
      containerDefinitions: [{ name: 'app', image: 'busybox:latest', command: ['sleep', '1'], mountPoints: [] as unknown[] }],
      ...change,
    };
    if ('volumes' in change) td.containerDefinitions[0]!.mountPoints = [{ sourceVolume: (change.volumes as Array<{ name: string }>)[0]!.name, containerPath: '/x' }];
    const r = await d.api.request<Record<string, any>>('POST', '/v1/tasks', JSON.stringify(runRequest(id, enis[7]!, td)));
    expect(r.status).toBe(400);
    expect(`${r.body.error.field}: ${r.body.error.message}`).toMatch(field);
    expect((await d.api.request('GET', `/v1/tasks/${id}`)).status).toBe(404);
  });

  test('corpus 20 (networkMode host) is refused with the mode named', async () => {
    const r = await d.api.request<Record<string, any>>('POST', '/v1/tasks', JSON.stringify(runRequest(`${prefix}h`, enis[7]!, await corpus('20-'))));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('"host"');
  });

  test('a run request in the spool takes its task id from the file name and its content, and keeps it across a restart', async () => {
    const eni = enis[7]!;
    const file = `${prefix}-gitlab.json`;
    const td = await corpus('25-');
    containerDefs(td)[0]!.image = 'busybox:latest';
    const request = runRequest(`${prefix}-gitlab`, eni, td, {
      overrides: { containerOverrides: [{ name: 'ci-coordinator', command: ['sleep', '3600'] }] },
    });
    delete request.taskArn;
    // The id the validator gives it: the file's name and 8 hex of the request (as the spool reads it back).
    const id = taskIdFromFileName(file, JSON.parse(JSON.stringify(request)));
    expect(id).toMatch(new RegExp(`^${prefix}-gitlab-[0-9a-f]{8}$`));
    ids.push(id);
    await d.writeSpool(file, request);
    const t = await d.waitStatus(id, 'RUNNING', 30_000);
    expect(t.taskArn).toMatch(new RegExp(`^arn:aws:ecs:us-east-1:111122223333:task/.+/${id}$`));
    await d.stop();
    await d.start();
    const again = await d.waitStatus(id, 'RUNNING', 30_000);
    expect(again.createdAt).toBe(t.createdAt);
    expect((await d.list()).filter((x) => x.taskArn.endsWith(`/${id}`))).toHaveLength(1);
  });
});

// The steps task definitions added to setup and teardown (task volumes, the task cgroup), crashed at on the
// real engine: after a restart the task ends where it was going, and nothing is left. A daemon of its own, so
// a crash cannot touch the other tests' tasks; the crash suite (reliability.test.ts) covers the other steps.
describe('a crash at the task-definition steps', () => {
  const crashRoot = `${prefix}x`;
  const base = new DaemonProc({ prefix: crashRoot, args: ['--task-cgroup-root', cgroupRoot, '--container-stop-timeout', '2'] });
  const crashIds: string[] = [];
  const withCrash = (point?: string): DaemonProc =>
    new DaemonProc({ ...base.o, env: point ? { AWSVPCD_CRASH_AT: point } : {} });
  afterAll(async () => {
    await withCrash().kill().catch(() => undefined);
    await base.cleanup(crashIds);
    for (const id of crashIds) {
      const vols = await taskVolumes(id);
      if (vols.length) await docker(['volume', 'rm', '-f', ...vols], false);
    }
  });
  const td = {
    family: 'crash-steps',
    networkMode: 'awsvpc',
    cpu: '256',
    memory: '256',
    volumes: [{ name: 'scratch' }],
    containerDefinitions: [
      { name: 'app', image: 'busybox:latest', command: ['sleep', '3600'], stopTimeout: 1, mountPoints: [{ sourceVolume: 'scratch', containerPath: '/s' }] },
    ],
  };
  async function leftovers(d: DaemonProc, id: string, eni: Eni): Promise<string[]> {
    const f = await leaks(d, [id], [eni]);
    const v = await taskVolumes(id);
    if (v.length) f.push(`volumes: ${v.join(' ')}`);
    const sub = cgroupVersion() === 1 ? 'memory' : '';
    if (existsSync(path.join('/sys/fs/cgroup', sub, cgroupRoot, id))) f.push(`task cgroup ${id}`);
    return f;
  }

  test.each(['after-task-volumes', 'after-task-cgroup'])('setup crash %s: after a restart the task ends RUNNING, and stops leaving nothing', async (point) => {
    const id = `${prefix}x${crashIds.length}`;
    crashIds.push(id);
    // A stand-in ENI is deleted with the namespace it was moved into: each task gets one never used before.
    const eni = enis[crashIds.length === 1 ? 8 : 9]!;
    const crashing = withCrash(point);
    await crashing.start();
    await crashing.submit(runRequest(id, eni, td));
    if (!(await crashing.exited(60_000))) throw new Error(`daemon did not crash at ${point}\n${await crashing.logTail()}`);
    const d = withCrash();
    await d.start();
    await d.waitStatus(id, 'RUNNING', 60_000);
    expect(await taskVolumes(id)).toHaveLength(1);
    expect((await inspect(c(id, 'app'))).HostConfig.CgroupParent).toBe(`${cgroupRoot}/${id}`);
    await d.stopTask(id);
    await d.waitStatus(id, 'STOPPED', 30_000);
    expect(await until('nothing left', async () => {
      const f = await leftovers(d, id, eni);
      return f.length === 0 ? f : undefined;
    })).toEqual([]);
    await d.stop();
  });

  test('teardown crash after-volumes-removed: after a restart the task ends STOPPED leaving nothing', async () => {
    const id = `${prefix}x${crashIds.length}`;
    crashIds.push(id);
    const eni = enis[6]!; // the dry run's: it never left the host
    const d1 = withCrash();
    await d1.start();
    await d1.submit(runRequest(id, eni, td));
    await d1.waitStatus(id, 'RUNNING', 60_000);
    await d1.stop();
    const crashing = withCrash('after-volumes-removed');
    await crashing.start();
    await crashing.stopTask(id);
    if (!(await crashing.exited(60_000))) throw new Error(`daemon did not crash at after-volumes-removed\n${await crashing.logTail()}`);
    const d = withCrash();
    await d.start();
    await d.waitStatus(id, 'STOPPED', 60_000);
    expect(await until('nothing left', async () => {
      const f = await leftovers(d, id, eni);
      return f.length === 0 ? f : undefined;
    })).toEqual([]);
    await d.stop();
  });
});

describe('after every task is stopped', () => {
  test('nothing is left: containers, volumes, namespaces, addresses, task cgroups', async () => {
    for (const id of ids) {
      const r = await d.api.request('POST', `/v1/tasks/${id}/stop`);
      if (r.status === 202) await d.waitStatus(id, 'STOPPED', 30_000);
    }
    const found = await until('no leftovers', async () => {
      const f = await leaks(d, ids, []);
      for (const id of ids) {
        const v = await taskVolumes(id);
        if (v.length) f.push(`volumes of ${id}: ${v.join(' ')}`);
      }
      const sub = cgroupVersion() === 1 ? 'memory' : '';
      const left = await readdir(path.join('/sys/fs/cgroup', sub, cgroupRoot)).catch(() => [] as string[]);
      const tasks = left.filter((n) => ids.includes(n));
      if (tasks.length) f.push(`task cgroups: ${tasks.join(' ')}`);
      return f.length === 0 ? f : undefined;
    });
    expect(found).toEqual([]);
  });
});
