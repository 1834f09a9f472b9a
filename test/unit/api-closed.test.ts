// The API's closed edges, in process with fakes behind it: environment values redacted unless asked
// for, bodies capped before parsing, the opt-in TCP listener loopback-only and picky about who asks,
// and --api-tcp refusing anything but a loopback address. (The real daemon: test/integration/closed-api.)
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ApiTaskSource } from '../../agent/api/api-source.js';
import { createApiServer, listenTcpLoopback, listenUnix } from '../../agent/api/server.js';
import { parseLoopbackAddress } from '../../agent/util/loopback.js';
import { resolveConfig } from '../../agent/daemon/config.js';
import { REDACTED, describeTask, type DescribedTask } from '../../agent/task/describe.js';
import { ConfigError } from '../../agent/errors.js';
import { rig, TEST_CONFIG } from './fakes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = JSON.parse(readFileSync(path.join(here, '../fixtures/tasks/valid/spec-example.json'), 'utf8')) as Record<string, any>;
const SECRET = `s3cr3t-${process.pid}-${Date.now()}`;

function taskWithSecret(): Record<string, any> {
  const t = structuredClone(example);
  t.waitTimeoutMs = 60_000;
  t.containers[0].environment = [{ name: 'MODE', value: 'prod' }, { name: 'MY_SECRET', value: SECRET }];
  return t;
}

interface Reply {
  status: number;
  text: string;
  body: any;
}

function request(o: http.RequestOptions, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent: false, ...o }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, body: parsed });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

let dir: string;
let socketPath: string;
let server: http.Server;
let port: number;
const r = rig();
const unix = (method: string, p: string, body?: string | Buffer, headers: http.OutgoingHttpHeaders = {}) =>
  request({ socketPath, method, path: p, headers }, body);
const tcp = (p: string, headers: http.OutgoingHttpHeaders = {}) =>
  request({ host: '127.0.0.1', port, method: 'GET', path: p, setHost: false, headers: { host: `127.0.0.1:${port}`, ...headers } });

const api = new ApiTaskSource();

beforeAll(async () => {
  await api.start(r.manager);
  dir = await mkdtemp(path.join(tmpdir(), 'awsvpcd-api-'));
  socketPath = path.join(dir, 'run', 'api.sock');
  server = createApiServer({
    tasks: api,
    validate: { defaultWaitTimeoutMs: 1000, allowPrivileged: false, allowedCapabilities: [] },
    plan: { pluginSet: 'reference', plan: TEST_CONFIG.plan, pauseImage: 'pause', pauseLabels: {}, source: 'api' },
    cgroupLimits: async () => ({ applied: true }),
    logger: pino({ level: 'silent' }),
    isReady: () => true,
  });
  await listenUnix(server, socketPath);
  port = await freePort();
  await listenTcpLoopback(server, `127.0.0.1:${port}`);
});

afterAll(async () => {
  r.manager.close();
  await new Promise((res) => server.close(res));
  server.closeAllConnections();
  await rm(dir, { recursive: true, force: true });
});

describe('environment values in describe-tasks', () => {
  const id = example.taskArn.split('/').pop() as string;

  test('describeTask redacts values and keeps names; showEnvironment shows them', async () => {
    const posted = await unix('POST', '/v1/tasks', JSON.stringify(taskWithSecret()));
    expect(posted.status).toBe(202);
    expect(posted.text).not.toContain(SECRET);
    const rec = r.manager.get(id)!;
    expect(describeTask(rec).containers[0]!.environment).toEqual([
      { name: 'MODE', value: REDACTED },
      { name: 'MY_SECRET', value: REDACTED },
    ]);
    expect(describeTask(rec, { showEnvironment: true }).containers[0]!.environment).toEqual([
      { name: 'MODE', value: 'prod' },
      { name: 'MY_SECRET', value: SECRET },
    ]);
    expect(describeTask(rec).containers[1]!.environment).toEqual([]);
  });

  test.each([
    [`/v1/tasks/${'ID'}`, false],
    [`/v1/tasks/${'ID'}?showEnvironment=false`, false],
    [`/v1/tasks/${'ID'}?showEnvironment=1`, false],
    [`/v1/tasks/${'ID'}?showEnvironment=true`, true],
    ['/v1/tasks', false],
    ['/v1/tasks?showEnvironment=true', true],
  ])('GET %s over the unix socket: value shown = %s', async (p, shown) => {
    const res = await unix('GET', p.replace('ID', id));
    expect(res.status).toBe(200);
    const t: DescribedTask = 'tasks' in res.body ? res.body.tasks[0] : res.body;
    expect(t.containers[0]!.environment.find((e) => e.name === 'MY_SECRET')?.value).toBe(shown ? SECRET : REDACTED);
    expect(res.text.includes(SECRET)).toBe(shown);
  });

  test('an unknown task is still a 404 when the environment is asked for', async () => {
    const res = await unix('GET', '/v1/tasks/nope?showEnvironment=true');
    expect(res.status).toBe(404);
  });
});

describe('request bodies are capped before parsing', () => {
  test('a declared Content-Length over 1 MiB is refused with 400', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const res = await unix('POST', '/v1/tasks', body, { 'content-length': body.length });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'INVALID_TASK', field: '', message: 'request body is larger than 1 MiB (2097152 bytes)' } });
  });

  test('a chunked body that grows past 1 MiB is refused with 400 (not a reset connection)', async () => {
    const res = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ socketPath, method: 'POST', path: '/v1/tasks', agent: false }, (rs) => {
        const chunks: Buffer[] = [];
        rs.on('data', (c: Buffer) => chunks.push(c));
        rs.on('end', () => resolve({ status: rs.statusCode ?? 0, text: '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      req.on('error', reject);
      for (let i = 0; i < 24; i++) req.write(Buffer.alloc(64 * 1024, 0x20)); // 1.5 MiB, no Content-Length
      req.end();
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('request body is larger than 1 MiB (more than 1048576 bytes)');
    expect((await unix('GET', '/healthz')).status).toBe(200);
  });
});

describe('the loopback TCP listener', () => {
  test('answers a plain client that names the address it connected to', async () => {
    const res = await tcp('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ready: true });
  });

  test.each([
    ['another Host (DNS rebinding)', { host: `evil.example:${0}` }, 'the TCP listener answers only requests for Host 127.0.0.1:PORT'],
    ['localhost instead of the address', { host: 'localhost:PORT' }, 'the TCP listener answers only requests for Host 127.0.0.1:PORT'],
    ['an Origin header (a browser page)', { origin: 'http://evil.example' }, 'the TCP listener does not answer browser requests (Origin header present)'],
  ])('refuses %s with 403', async (_name, headers, message) => {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v).replace('PORT', String(port))]));
    const res = await tcp('/v1/tasks', h);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: { code: 'FORBIDDEN', message: message.replace('PORT', String(port)) } });
  });

  test('never shows environment values', async () => {
    const res = await tcp('/v1/tasks?showEnvironment=true');
    expect(res.status).toBe(403);
    expect(res.text).not.toContain(SECRET);
    const plain = await tcp('/v1/tasks');
    expect(plain.status).toBe(200);
    expect(plain.text).not.toContain(SECRET);
  });

  test('listens on loopback only', async () => {
    await expect(listenTcpLoopback(http.createServer(), '0.0.0.0:1')).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('--api-tcp', () => {
  const cfg = (flags: Record<string, string>, env: Record<string, string> = {}) => resolveConfig(new Map(Object.entries(flags)), env);

  test('is off by default', () => {
    expect(cfg({}).apiTcp).toBeUndefined();
    expect(cfg({}, { AWSVPCD_API_TCP: '' }).apiTcp).toBeUndefined();
  });

  test.each(['127.0.0.1:8080', '127.10.0.1:1', '[::1]:65535'])('accepts %s', (a) => {
    expect(cfg({ '--api-tcp': a }).apiTcp).toBe(a);
    expect(parseLoopbackAddress(a)).toBeDefined();
  });

  test.each(['0.0.0.0:8080', '10.0.0.1:80', '169.254.169.254:80', 'localhost:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '127.1:80',
    '127.0.0.256:80', '127.00.0.1:80', '::1:80', '[::]:80', '[::ffff:127.0.0.1]:80', ':8080', '8080', '127.0.0.1:80 ', 'unix:/x'])(
    'refuses %j with a ConfigError naming the flag',
    (a) => {
      let err: unknown;
      try {
        cfg({ '--api-tcp': a });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe('--api-tcp');
      expect((err as ConfigError).message).toMatch(/^--api-tcp\b.*: must be a loopback address and port/);
    },
  );

  test('the environment variable is named when it is the one that is wrong', () => {
    expect(() => cfg({}, { AWSVPCD_API_TCP: '0.0.0.0:9000' })).toThrow(/^AWSVPCD_API_TCP\b.*: must be a loopback address/);
  });
});
