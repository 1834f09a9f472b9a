// HTTP/1.1 over a unix socket: validate -> call the manager -> map typed errors to status codes.
import http from 'node:http';
import net from 'node:net';
import { chmod, lstat, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AwsvpcdError, ConfigError, NotFoundError, ValidationError } from '../errors.js';
import { parseTaskDocument, type ValidateOptions } from '../task/validate/index.js';
import { describeTask, type DescribeOptions } from '../task/describe.js';
import { buildTaskPlan, type PlanPreviewConfig } from '../task/plan-preview.js';
import type { ApiTasks } from './api-source.js';
import type { ExtraRoutes } from './ops-routes.js';
import type { StoreDegraded } from '../store/task-store.js';
import { parseLoopbackAddress } from '../util/loopback.js';
import { checkPrivateDir } from '../util/private-dir.js';

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Slow or stuck clients are cut off rather than holding sockets open: all headers within headersMs,
 * the whole request within requestMs, checked every checkEveryMs (Node's default is 30 s).
 */
export const API_TIMEOUTS = { headersMs: 5_000, requestMs: 15_000, keepAliveMs: 5_000, checkEveryMs: 1_000 } as const;

export interface ApiDeps {
  /** The API's task source (ApiTaskSource): submits under the name "api". */
  tasks: ApiTasks;
  validate: ValidateOptions;
  /** What a dry run (POST /v1/tasks?dryRun=true) plans with: the daemon's own settings, source "api". */
  plan: Omit<PlanPreviewConfig, 'cgroupLimits'>;
  /** Whether this host lets the daemon apply task limits now (doctor's check), asked for each dry run. */
  cgroupLimits: () => Promise<PlanPreviewConfig['cgroupLimits']>;
  logger: Logger;
  isReady: () => boolean;
  /**
   * Set while the state directory cannot be written: /healthz says so and stays 200, since the daemon still
   * serves (stops, running tasks, the API); a probe that restarted it would not free the disk.
   */
  storeDegraded?: () => StoreDegraded | undefined;
  /** One reconciliation pass now (dryRun: only report what it would do). */
  reconcile?: (dryRun: boolean) => Promise<unknown[]>;
  /** Read-only operator routes (/metrics, task metadata, task netns), tried before the 404. */
  routes?: ExtraRoutes;
}

const STATUS: Record<string, number> = {
  INVALID_TASK: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CAPACITY: 409,
  UNAVAILABLE: 503,
};

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

interface ErrorBody {
  error: { code: string; field?: string; message: string };
  /** Every reason, when the validator reports several (an aggregate ValidationError's `errors`). */
  errors?: Array<{ field: string; message: string }>;
}

/** A typed error as the API answers it: {error: {code, field, message}}, plus `errors` when there are several reasons. */
export function errorBody(err: AwsvpcdError): ErrorBody {
  const field = err instanceof ValidationError ? err.field : undefined;
  const body: ErrorBody = { error: { code: err.code, field, message: err.message } };
  const many = (err as { errors?: unknown }).errors;
  if (err instanceof ValidationError && Array.isArray(many) && many.length > 0) {
    body.errors = many.map((e: { field?: unknown; message?: unknown }) => ({ field: String(e?.field ?? ''), message: String(e?.message ?? e) }));
  }
  return body;
}

function sendError(res: http.ServerResponse, err: unknown, log: Logger): void {
  if (err instanceof AwsvpcdError) {
    const status = STATUS[err.code] ?? 500;
    if (status >= 500) log.error({ err }, 'request failed');
    send(res, status, errorBody(err));
    return;
  }
  log.error({ err }, 'request failed');
  send(res, 500, { error: { code: 'INTERNAL', message: 'internal error; see the daemon log' } });
}

/**
 * Reads a body up to the cap; a larger one is refused before any of it is parsed. Its bytes are read
 * and dropped, and the 400 goes out once the client has finished sending (or requestTimeout cuts it
 * off): answering and closing mid-upload resets the connection and the client never sees the 400.
 */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    let tooLarge: ValidationError | undefined =
      declared > MAX_BODY_BYTES ? new ValidationError('', `request body is larger than 1 MiB (${declared} bytes)`) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        chunks.length = 0;
        tooLarge = new ValidationError('', `request body is larger than 1 MiB (more than ${MAX_BODY_BYTES} bytes)`);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => (tooLarge ? reject(tooLarge) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

const TASK_ID = /^\/v1\/tasks\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})(\/stop)?$/;

/**
 * Why a request that came over the loopback TCP listener is refused, if it is. Every local user can
 * reach that port, and so can a web page in a local browser: it must name the address it connected to
 * (no DNS rebinding), carry no Origin (no browser page), and it never sees environment values.
 */
function tcpRefusal(req: http.IncomingMessage, url: URL): string | undefined {
  const s = req.socket;
  if (s.remoteAddress === undefined) return undefined; // the unix socket
  const local = s.localFamily === 'IPv6' ? `[${s.localAddress}]:${s.localPort}` : `${s.localAddress}:${s.localPort}`;
  if (req.headers.host !== local) return `the TCP listener answers only requests for Host ${local}`;
  if (req.headers.origin !== undefined) return 'the TCP listener does not answer browser requests (Origin header present)';
  if (url.searchParams.get('showEnvironment') === 'true') return 'environment values are shown only over the unix socket';
  return undefined;
}

/** The query parameters POST /v1/tasks takes; each is exactly "true" or "false", at most once. */
const SUBMIT_PARAMS = ['dryRun', 'showEnvironment'] as const;

/**
 * POST /v1/tasks's query, strictly: an unknown parameter (a misspelling such as dryrun) or a value other than
 * "true" or "false" (1, True, empty) is a 400 naming the parameter, never read as "not a dry run".
 */
function submitQuery(url: URL): Record<(typeof SUBMIT_PARAMS)[number], boolean> {
  const out = { dryRun: false, showEnvironment: false };
  for (const name of new Set(url.searchParams.keys())) {
    if (!(SUBMIT_PARAMS as readonly string[]).includes(name)) {
      throw new ValidationError(`?${name}`, `unknown query parameter for POST /v1/tasks (it takes ${SUBMIT_PARAMS.join(' and ')}, each "true" or "false")`);
    }
    const values = url.searchParams.getAll(name);
    if (values.length > 1) throw new ValidationError(`?${name}`, `query parameter given ${values.length} times; give it once, "true" or "false"`);
    const v = values[0]!;
    if (v !== 'true' && v !== 'false') {
      throw new ValidationError(`?${name}`, `query parameter must be exactly "true" or "false" (got ${JSON.stringify(v)})`);
    }
    out[name as (typeof SUBMIT_PARAMS)[number]] = v === 'true';
  }
  return out;
}

export function createApiServer(d: ApiDeps): http.Server {
  const log = d.logger.child({ component: 'api' });
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://awsvpcd');
    const p = url.pathname;
    const refusal = tcpRefusal(req, url);
    if (refusal) {
      log.warn({ remote: req.socket.remoteAddress, host: req.headers.host?.slice(0, 100), reason: refusal }, 'TCP request refused');
      return send(res, 403, { error: { code: 'FORBIDDEN', message: refusal } });
    }
    const show: DescribeOptions = { showEnvironment: url.searchParams.get('showEnvironment') === 'true' };
    try {
      if (p === '/healthz' && req.method === 'GET') {
        const degraded = d.storeDegraded?.();
        return send(res, d.isReady() ? 200 : 503, degraded ? { ready: d.isReady(), degraded } : { ready: d.isReady() });
      }
      if (p === '/v1/tasks' && req.method === 'POST') {
        const body = await readBody(req);
        // Checked before the body: a misspelt dry run (?dryRun=1, ?dryrun=true) must not become a real submit.
        const query = submitQuery(url);
        // A run request (a body with a taskDefinition key) or today's task document: one parser decides.
        const spec = parseTaskDocument(body, d.validate);
        // Validated and planned, nothing created (nothing submitted, nothing saved).
        if (query.dryRun) return send(res, 200, buildTaskPlan(spec, { ...d.plan, cgroupLimits: await d.cgroupLimits() }, show));
        const { created, rec } = await d.tasks.submit(spec);
        return send(res, created ? 202 : 200, describeTask(rec));
      }
      if (p === '/v1/reconcile' && req.method === 'POST' && d.reconcile) {
        const dryRun = url.searchParams.get('dryRun') === 'true';
        return send(res, 200, { dryRun, actions: await d.reconcile(dryRun) });
      }
      if (p === '/v1/tasks' && req.method === 'GET') {
        return send(res, 200, { tasks: d.tasks.list().map((rec) => describeTask(rec, show)) });
      }
      const m = TASK_ID.exec(p);
      if (m) {
        const id = m[1]!;
        if (!m[2] && req.method === 'GET') {
          const rec = d.tasks.get(id);
          if (!rec) throw new NotFoundError(`task ${id} is not known`);
          return send(res, 200, describeTask(rec, show));
        }
        if (m[2] && req.method === 'POST') {
          const rec = await d.tasks.stop(id, 'Task stopped by user');
          return send(res, 202, describeTask(rec));
        }
      }
      const extra = await d.routes?.(req, p);
      if (extra) {
        res.writeHead(extra.status, { 'content-type': extra.contentType, 'content-length': Buffer.byteLength(extra.body) });
        return void res.end(extra.body);
      }
      send(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${p}` } });
    } catch (err) {
      sendError(res, err, log);
    }
  };
  return http.createServer(
    {
      headersTimeout: API_TIMEOUTS.headersMs,
      requestTimeout: API_TIMEOUTS.requestMs,
      keepAliveTimeout: API_TIMEOUTS.keepAliveMs,
      connectionsCheckingInterval: API_TIMEOUTS.checkEveryMs,
    },
    (req, res) => void handler(req, res),
  );
}

/**
 * The opt-in TCP listener (--api-tcp): loopback only, feeding the same HTTP server (same routes,
 * timeouts and caps; tcpRefusal adds its own checks). It closes with the server.
 */
export async function listenTcpLoopback(server: http.Server, address: string): Promise<net.Server> {
  const a = parseLoopbackAddress(address);
  if (!a) throw new ConfigError('--api-tcp', `${JSON.stringify(address)} is not a loopback address and port`);
  const tcp = net.createServer((socket) => server.emit('connection', socket));
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError('--api-tcp', `cannot listen on ${address}: ${err.code ?? err.message}`)),
    );
    tcp.listen({ host: a.host, port: a.port, exclusive: true }, () => resolve());
  });
  server.once('close', () => tcp.close());
  return tcp;
}

/**
 * Listens on a unix socket that only root can reach: the socket 0600 inside a 0700 directory.
 * Refuses a symlinked path or a directory others can write to.
 */
export async function listenUnix(server: http.Server, socketPath: string): Promise<void> {
  await checkSocketPath(socketPath);
  const oldUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldUmask);
  }
  await chmod(socketPath, 0o600);
  await stat(socketPath);
}

/**
 * Refuses an unsafe socket path (a symlink, a directory others can write to or that is not ours) and removes a
 * stale socket. The daemon runs it before it touches any task, so a refusal leaves nothing half started.
 */
export async function checkSocketPath(socketPath: string): Promise<void> {
  await checkPrivateDir(path.dirname(socketPath), { flag: '--socket', create: true });
  try {
    const st = await lstat(socketPath);
    if (st.isSymbolicLink()) throw new ConfigError('--socket', `${socketPath} is a symlink; refusing to listen there`);
    if (!st.isSocket()) throw new ConfigError('--socket', `${socketPath} exists and is not a socket`);
    await rm(socketPath); // a stale socket from a previous run
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
