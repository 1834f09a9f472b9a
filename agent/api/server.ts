// HTTP/1.1 over a unix socket: validate -> call the manager -> map typed errors to status codes.
import http from 'node:http';
import { chmod, lstat, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AwsvpcdError, ConfigError, ValidationError } from '../task/errors.js';
import type { TaskManager } from '../task/task-manager.js';
import { parseTaskDocument, type ValidateOptions } from '../task/validate.js';
import { describeTask } from '../task/describe.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiDeps {
  manager: TaskManager;
  validate: ValidateOptions;
  logger: Logger;
  isReady: () => boolean;
  /** One reconciliation pass now (dryRun: only report what it would do). */
  reconcile?: (dryRun: boolean) => Promise<unknown[]>;
}

const STATUS: Record<string, number> = {
  INVALID_TASK: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CAPACITY: 409,
};

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res: http.ServerResponse, err: unknown, log: Logger): void {
  if (err instanceof AwsvpcdError) {
    const status = STATUS[err.code] ?? 500;
    if (status >= 500) log.error({ err }, 'request failed');
    const field = err instanceof ValidationError ? err.field : undefined;
    send(res, status, { error: { code: err.code, field, message: err.message } });
    return;
  }
  log.error({ err }, 'request failed');
  send(res, 500, { error: { code: 'INTERNAL', message: 'internal error; see the daemon log' } });
}

/** Reads a body up to the cap; a larger one is refused before any of it is parsed. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY_BYTES) {
      reject(new ValidationError('', `request body is larger than 1 MiB (${declared} bytes)`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ValidationError('', `request body is larger than 1 MiB (more than ${MAX_BODY_BYTES} bytes)`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const TASK_ID = /^\/v1\/tasks\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})(\/stop)?$/;

export function createApiServer(d: ApiDeps): http.Server {
  const log = d.logger.child({ component: 'api' });
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://awsvpcd');
    const p = url.pathname;
    try {
      if (p === '/healthz' && req.method === 'GET') {
        return send(res, d.isReady() ? 200 : 503, { ready: d.isReady() });
      }
      if (p === '/v1/tasks' && req.method === 'POST') {
        const body = await readBody(req);
        const spec = parseTaskDocument(body, d.validate);
        const { created, rec } = await d.manager.submit(spec, 'api');
        return send(res, created ? 202 : 200, describeTask(rec));
      }
      if (p === '/v1/reconcile' && req.method === 'POST' && d.reconcile) {
        const dryRun = url.searchParams.get('dryRun') === 'true';
        return send(res, 200, { dryRun, actions: await d.reconcile(dryRun) });
      }
      if (p === '/v1/tasks' && req.method === 'GET') {
        return send(res, 200, { tasks: d.manager.all().map(describeTask) });
      }
      const m = TASK_ID.exec(p);
      if (m) {
        const id = m[1]!;
        if (!m[2] && req.method === 'GET') return send(res, 200, d.manager.describe(id));
        if (m[2] && req.method === 'POST') {
          const rec = await d.manager.stop(id, 'Task stopped by user');
          return send(res, 202, describeTask(rec));
        }
      }
      send(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${p}` } });
    } catch (err) {
      sendError(res, err, log);
    }
  });
  // Slow or stuck clients are cut off rather than holding sockets open.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

/**
 * Listens on a unix socket that only root can reach: the socket 0600 inside a 0700 directory.
 * Refuses a symlinked path or a directory others can write to.
 */
export async function listenUnix(server: http.Server, socketPath: string): Promise<void> {
  const dir = path.dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dst = await lstat(dir);
  if (dst.isSymbolicLink()) throw new ConfigError('--socket', `${dir} is a symlink; refusing to listen there`);
  if ((dst.mode & 0o022) !== 0) throw new ConfigError('--socket', `${dir} is writable by group or others (mode ${(dst.mode & 0o777).toString(8)}); fix it with chmod 0700`);
  if (dst.uid !== process.getuid?.()) throw new ConfigError('--socket', `${dir} is not owned by the daemon's user`);
  try {
    const st = await lstat(socketPath);
    if (st.isSymbolicLink()) throw new ConfigError('--socket', `${socketPath} is a symlink; refusing to listen there`);
    if (!st.isSocket()) throw new ConfigError('--socket', `${socketPath} exists and is not a socket`);
    await rm(socketPath); // a stale socket from a previous run
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
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
