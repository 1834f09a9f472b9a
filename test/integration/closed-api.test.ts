// A closed API, on the real daemon: the socket 0600 and root's inside a 0700 directory; a
// symlinked socket path or directory, or one others can write to, stops the daemon from starting with
// a clear error; bodies over 1 MiB are refused before parsing; stalled clients are cut off in bounded
// time; and there is no TCP listener unless --api-tcp asks for one (then loopback only).
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { chmod, chown, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { API_TIMEOUTS } from '../../agent/api/server.js';
import { CLI, DaemonProc, requireEnvironment, runPrefix, sh } from './harness.js';
import { daemonPid, freePort, rawRequest, stallingClient, tcpListeners } from './security-helpers.js';

jest.setTimeout(120_000);

const prefix = runPrefix();
const d = new DaemonProc({ prefix });
let tp: DaemonProc | undefined;

beforeAll(async () => {
  await requireEnvironment();
  await d.start();
});

afterAll(async () => {
  await d.cleanup([]);
  await tp?.cleanup([]);
  await rm(`/run/awsvpcd-test/${prefix}refuse`, { recursive: true, force: true });
});

describe('the unix socket', () => {
  test('is a socket, mode 0600, owned by root, in a directory of mode 0700 owned by root', async () => {
    const s = await lstat(d.socket);
    expect(s.isSocket()).toBe(true);
    expect({ mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid }).toEqual({ mode: '600', uid: 0, gid: 0 });
    const dir = await lstat(path.dirname(d.socket));
    expect(dir.isDirectory()).toBe(true);
    expect({ mode: (dir.mode & 0o7777).toString(8), uid: dir.uid }).toEqual({ mode: '700', uid: 0 });
  });

  test('a user other than root cannot connect', async () => {
    // setpriv drops to nobody; curl over the unix socket must fail with permission denied.
    const r = await sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'curl', '-sS', '--max-time', '5', '--unix-socket', d.socket, 'http://awsvpcd/healthz'], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied|Couldn't connect|Failed to connect/i);
    const root = await sh('curl', ['-sS', '--max-time', '5', '--unix-socket', d.socket, 'http://awsvpcd/healthz']);
    expect(JSON.parse(root.stdout)).toEqual({ ready: true });
  });
});

describe('the daemon refuses to start on an unsafe socket path', () => {
  const base = `/run/awsvpcd-test/${prefix}refuse`;

  /** Runs the daemon with --socket `socket` (its other paths under a fresh dir) until it exits. */
  async function startWith(name: string, socket: string) {
    const p = new DaemonProc({ prefix: `${prefix}${name}` }); // short: the bridge name is <prefix>-br
    const args = [...p.args(), '--socket', socket];
    const r = await execa('node', [CLI, ...args], { reject: false, timeout: 30_000, stdin: 'ignore' });
    await rm(p.root, { recursive: true, force: true });
    return r;
  }

  beforeAll(async () => {
    await mkdir(base, { recursive: true, mode: 0o700 });
  });

  test('the socket path is a symlink: refused, and the link and its target are left alone', async () => {
    const dir = path.join(base, 'link-sock');
    await mkdir(dir, { mode: 0o700 });
    const target = path.join(base, 'target-file');
    await writeFile(target, 'keep me\n');
    const sock = path.join(dir, 'api.sock');
    await symlink(target, sock);
    const r = await startWith('a', sock);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(`awsvpcd: --socket: ${sock} is a symlink; refusing to listen there`);
    expect((await lstat(sock)).isSymbolicLink()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('keep me\n');
  });

  test('the socket directory is a symlink (to a safe directory, or dangling): refused', async () => {
    const real = path.join(base, 'real-dir');
    await mkdir(real, { mode: 0o700 });
    for (const [name, to] of [['link-dir', real], ['dangling-dir', path.join(base, 'nowhere')]] as const) {
      const dir = path.join(base, name);
      await symlink(to, dir);
      const r = await startWith(name === 'link-dir' ? 'b' : 'c', path.join(dir, 'api.sock'));
      expect({ name, exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({
        name,
        exitCode: 2,
        stderr: `awsvpcd: --socket: ${dir} is a symlink; refusing to use it`,
      });
    }
    await expect(stat(path.join(base, 'nowhere'))).rejects.toThrow(); // not created through the link
  });

  test.each([
    ['writable by others', 0o777, 0, 'is writable by group or others (mode 777); fix it with chmod 0700', 'd'],
    ['writable by group', 0o770, 0, 'is writable by group or others (mode 770); fix it with chmod 0700', 'e'],
    ['owned by another user', 0o700, 65534, "is not owned by the daemon's user", 'f'],
  ])('the socket directory is %s: refused', async (name, mode, uid, why, letter) => {
    const dir = path.join(base, name.replace(/ /g, '-'));
    await mkdir(dir);
    await chmod(dir, mode);
    await chown(dir, uid, uid);
    const r = await startWith(letter, path.join(dir, 'api.sock'));
    expect({ exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({ exitCode: 2, stderr: `awsvpcd: --socket: ${dir} ${why}` });
    await expect(lstat(path.join(dir, 'api.sock'))).rejects.toThrow(); // nothing was created there
  });
});

describe('request limits', () => {
  const sock = () => ({ path: d.socket });

  test('a body over 1 MiB is refused with 400 before it is parsed', async () => {
    const declared = await rawRequest(
      sock(),
      Buffer.concat([Buffer.from(`POST /v1/tasks HTTP/1.1\r\nHost: awsvpcd\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\nConnection: close\r\n\r\n`), Buffer.alloc(2 * 1024 * 1024, 0x5b)]),
    );
    expect(declared).toMatch(/^HTTP\/1\.1 400 /);
    // The size check's message, not the parser's ("task document ..."): refused before parsing.
    expect(declared).toContain('{"error":{"code":"INVALID_TASK","field":"","message":"request body is larger than 1 MiB (2097152 bytes)"}}');

    const chunk = Buffer.alloc(256 * 1024, 0x5b); // '[' x 256 KiB: 6 of them, deeper than any parser wants
    const body = Buffer.concat(Array.from({ length: 6 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])));
    const chunked = await rawRequest(
      sock(),
      Buffer.concat([Buffer.from('POST /v1/tasks HTTP/1.1\r\nHost: awsvpcd\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'), body, Buffer.from('0\r\n\r\n')]),
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 400 /);
    expect(chunked).toContain('"message":"request body is larger than 1 MiB (more than 1048576 bytes)"');
    expect((await d.api.request('GET', '/healthz')).status).toBe(200);
  });

  test('stalled clients are cut off within the timeouts, and others are served meanwhile', async () => {
    const headersBound = API_TIMEOUTS.headersMs + API_TIMEOUTS.checkEveryMs + 1_500;
    const requestBound = API_TIMEOUTS.requestMs + API_TIMEOUTS.checkEveryMs + 1_500;
    const stalled = [
      stallingClient(sock(), ''), // connects, says nothing
      stallingClient(sock(), 'POST /v1/tasks HTTP/1.1\r\nHost: awsvpcd\r\nContent-Type: appl'), // half the headers
      stallingClient(sock(), 'POST /v1/tasks HTTP/1.1\r\nHost: awsvpcd\r\nContent-Length: 100\r\n\r\n{"taskArn":'), // half a body
    ];
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    expect((await d.api.request('GET', '/healthz')).status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(1_000);

    const [silent, halfHeaders, halfBody] = await Promise.all(stalled);
    for (const c of [silent!, halfHeaders!]) {
      expect(c.closedAfterMs).toBeGreaterThanOrEqual(API_TIMEOUTS.headersMs - 500);
      expect(c.closedAfterMs).toBeLessThanOrEqual(headersBound);
    }
    expect(halfHeaders!.answer).toMatch(/^$|^HTTP\/1\.1 408 /);
    expect(halfBody!.closedAfterMs).toBeGreaterThanOrEqual(API_TIMEOUTS.requestMs - 500);
    expect(halfBody!.closedAfterMs).toBeLessThanOrEqual(requestBound);
    expect((await d.api.request('GET', '/healthz')).status).toBe(200);
  });
});

describe('TCP', () => {
  test('by default the daemon listens on no TCP port at all', async () => {
    const pid = await daemonPid(d);
    expect(await tcpListeners(pid)).toEqual([]);
    const ss = await sh('ss', ['-Hltnp'], { reject: false });
    if (ss.exitCode === 0) expect(ss.stdout).not.toContain(`pid=${pid},`);
  });

  test('--api-tcp 127.0.0.1:PORT: one listener, on that loopback address only, answering plain clients', async () => {
    const tcpPort = await freePort();
    tp = new DaemonProc({ prefix: `${prefix}t`, args: ['--api-tcp', `127.0.0.1:${tcpPort}`] });
    await tp.start();
    try {
      const pid = await daemonPid(tp);
      expect(await tcpListeners(pid)).toEqual([`127.0.0.1:${tcpPort}`]);
      const ok = await sh('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${tcpPort}/healthz`]);
      expect(JSON.parse(ok.stdout)).toEqual({ ready: true });
      const rebound = await sh('curl', ['-sS', '--max-time', '5', '-H', 'Host: awsvpcd.example', `http://127.0.0.1:${tcpPort}/v1/tasks`]);
      expect(JSON.parse(rebound.stdout).error.code).toBe('FORBIDDEN');
      const browser = await sh('curl', ['-sS', '--max-time', '5', '-H', 'Origin: http://evil.example', `http://127.0.0.1:${tcpPort}/v1/tasks`]);
      expect(JSON.parse(browser.stdout).error.code).toBe('FORBIDDEN');
      const log = await readFile(tp.logFile, 'utf8');
      expect(log).toContain('API also listening on loopback TCP');
    } finally {
      await tp.stop();
    }
  });

  test.each(['0.0.0.0:8080', '10.0.0.1:8080', 'localhost:8080'])('--api-tcp %s: the daemon refuses to start, naming the flag', async (a) => {
    const r = await execa('node', [CLI, 'daemon', '--api-tcp', a, '--docker-host', 'unix:///nonexistent.sock'], { reject: false, timeout: 20_000, stdin: 'ignore' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^awsvpcd: --api-tcp\b.*: must be a loopback address and port, 127\.0\.0\.1:PORT or \[::1\]:PORT/);
  });
});
