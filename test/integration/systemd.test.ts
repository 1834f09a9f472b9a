// systemd: scripts/install lays out a host (into a directory the test owns), the unit passes
// `systemd-analyze verify`, and the daemon speaks the notify protocol to a real unix datagram socket:
// READY=1 only once the first reconciliation is done, watchdog pings, STOPPING=1 at shutdown.
import { jest } from '@jest/globals';
import { execa, type ResultPromise } from 'execa';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonProc, REPO, requireEnvironment, runPrefix, sh } from './harness.js';

jest.setTimeout(180_000);

const prefix = runPrefix();
const work = `/run/awsvpcd-test/${prefix}-sd`;

beforeAll(async () => {
  await requireEnvironment();
  await mkdir(work, { recursive: true, mode: 0o700 });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.parentPath.includes('node_modules')) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

describe('scripts/install and the unit file', () => {
  const root = path.join(work, 'root');

  test('installs the daemon, wrapper, unit and env file; a second run changes nothing it should keep', async () => {
    const first = await sh('bash', [path.join(REPO, 'scripts/install'), '--root', root, '--no-build'], { timeout: 120_000 });
    expect(first.exitCode).toBe(0);
    expect(await readFile(path.join(root, 'etc/systemd/system/awsvpcd.service'), 'utf8')).toBe(await readFile(path.join(REPO, 'systemd/awsvpcd.service'), 'utf8'));
    const wrapper = await readFile(path.join(root, 'usr/local/bin/awsvpcd'), 'utf8');
    expect(wrapper).toMatch(/^exec \/\S*node \/opt\/awsvpcd\/dist\/agent\/cli\/main\.js "\$@"$/m);
    // production dependencies only, and the installed CLI runs
    const mods = await readdir(path.join(root, 'opt/awsvpcd/node_modules'));
    expect(mods).toEqual(expect.arrayContaining(['dockerode', 'execa', 'pino', 'netlink', 'ip-address']));
    expect(mods).not.toEqual(expect.arrayContaining(['jest']));
    expect(mods).not.toContain('typescript');
    const help = await sh('node', [path.join(root, 'opt/awsvpcd/dist/agent/cli/main.js'), '--help']);
    expect(help.stdout).toContain('doctor');

    // an operator's edits to the env file survive a re-install
    const envFile = path.join(root, 'etc/awsvpcd/awsvpcd.env');
    await writeFile(envFile, 'AWSVPCD_PLUGINS=reference\n');
    const before = await tree(root);
    const second = await sh('bash', [path.join(REPO, 'scripts/install'), '--root', root, '--no-build'], { timeout: 120_000 });
    expect(second.stderr).toContain('kept the existing');
    expect(await tree(root)).toEqual(before);
    expect(await readFile(envFile, 'utf8')).toBe('AWSVPCD_PLUGINS=reference\n');
  });

  test('systemd-analyze verify is clean (ExecStart pointed at the wrapper the install wrote)', async () => {
    const unit = (await readFile(path.join(REPO, 'systemd/awsvpcd.service'), 'utf8')).replace('/usr/local/bin/awsvpcd', path.join(root, 'usr/local/bin/awsvpcd'));
    expect(unit).toContain('Type=notify');
    expect(unit).toMatch(/^WatchdogSec=\d+s$/m);
    expect(unit).toMatch(/^Requires=docker\.service$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/awsvpcd\/awsvpcd\.env$/m);
    const file = path.join(work, 'awsvpcd.service');
    await writeFile(file, unit);
    // verify loads what the unit requires. Debian's docker.io ships docker.service; where the engine
    // came without it (a Docker-in-Docker runner's assembled root), a stub stands in for it.
    const env: Record<string, string> = {};
    const dirs = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
    const hasDockerUnit = (await Promise.all(dirs.map((d) => readFile(path.join(d, 'docker.service')).then(() => true, () => false)))).some(Boolean);
    if (!hasDockerUnit) {
      const units = path.join(work, 'units');
      await mkdir(units, { recursive: true });
      await writeFile(path.join(units, 'docker.service'), '[Unit]\nDescription=stand-in for the test\n[Service]\nExecStart=/bin/true\n');
      env.SYSTEMD_UNIT_PATH = `${units}:`;
    }
    const r = await sh('systemd-analyze', ['verify', '--man=no', file], { reject: false, env: { ...process.env, ...env } as Record<string, string> });
    expect({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }).toEqual({ exitCode: 0, stdout: '', stderr: '' });
  });
});

describe('the notify protocol on a real socket', () => {
  const d = new DaemonProc({ prefix: `${prefix}n`, env: { WATCHDOG_USEC: '1000000' } });
  let receiver: ResultPromise | undefined;
  const sock = path.join(work, 'notify.sock');
  const lines: Array<{ msg: string; healthz: number; t: number }> = [];

  afterAll(async () => {
    receiver?.kill('SIGKILL');
    await receiver?.catch(() => undefined);
    await d.cleanup([]);
  });

  test('READY=1 arrives only after the first reconciliation; then watchdog pings; STOPPING=1 at shutdown', async () => {
    // The receiving end is ours: a datagram socket that, on each message, asks the daemon's /healthz at once.
    const py = `
import json, socket, sys, time, os
p, api = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(p)
print(json.dumps({"msg": "BOUND", "healthz": 0, "t": time.time()}), flush=True)
while True:
    data = s.recv(65536).decode()
    code = 0
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(api)
        c.sendall(b"GET /healthz HTTP/1.0\\r\\nHost: awsvpcd\\r\\n\\r\\n")
        code = int(c.recv(64).split(b" ")[1])
        c.close()
    except Exception:
        code = -1
    print(json.dumps({"msg": data, "healthz": code, "t": time.time()}), flush=True)
`;
    receiver = execa('python3', ['-c', py, sock, d.socket], { reject: false, stdin: 'ignore', buffer: false });
    receiver.stdout!.setEncoding('utf8');
    let buf = '';
    receiver.stdout!.on('data', (c: string) => {
      buf += c;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    const until = async (pred: () => boolean, what: string, ms = 20_000): Promise<void> => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(lines)}\n${await d.logTail()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => lines.some((l) => l.msg === 'BOUND'), 'the receiver to bind');
    d.o.env = { ...d.o.env, NOTIFY_SOCKET: sock };
    await d.start();
    await until(() => lines.some((l) => l.msg.startsWith('WATCHDOG=1')), 'a watchdog ping');
    const msgs = lines.filter((l) => l.msg !== 'BOUND' && !l.msg.startsWith('BARRIER'));
    expect(msgs[0]!.msg).toMatch(/^READY=1\nSTATUS=ready; \d+ tasks$/);
    // at the moment READY=1 arrived the daemon already answered healthy: its first reconciliation was done
    expect(msgs[0]!.healthz).toBe(200);
    const log = await readFile(d.logFile, 'utf8');
    expect(log).toContain('first reconciliation done; ready');
    // pings come at about half of WATCHDOG_USEC (1 s)
    await new Promise((r) => setTimeout(r, 2_200));
    const pings = lines.filter((l) => l.msg === 'WATCHDOG=1');
    expect(pings.length).toBeGreaterThanOrEqual(3);
    await d.stop();
    await until(() => lines.some((l) => l.msg.startsWith('STOPPING=1')), 'STOPPING=1');
    // children never inherit the notify socket: a plugin or nsenter cannot speak for the daemon
    expect(log).not.toContain('could not notify systemd');
  });
});
