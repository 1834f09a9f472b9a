// Read-only routes for operators, beside the task API: GET /metrics, GET /v1/tasks/{id}/metadata (ECS task
// metadata v4 networks) and GET /v1/tasks/{id}/netns (the pinned namespace `awsvpcd exec` enters).
import type http from 'node:http';
import { ConflictError, NotFoundError } from '../errors.js';
import type { TaskRecord } from '../model.js';
import { taskMetadata } from './metadata.js';

export interface RouteResult {
  status: number;
  contentType: string;
  body: string;
}

/** Answers a request it knows, or undefined so the server goes on to its own 404. */
export type ExtraRoutes = (req: http.IncomingMessage, path: string) => Promise<RouteResult | undefined>;

export interface OpsRouteDeps {
  tasks: { get(taskId: string): TaskRecord | undefined };
  metrics?: { contentType: string; render(): Promise<string> };
}

export interface NetnsInfo {
  taskArn: string;
  lastStatus: string;
  netnsPath: string;
  pausePid?: number;
}

const TASK_SUB = /^\/v1\/tasks\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/(metadata|netns)$/;

function json(status: number, body: unknown): RouteResult {
  return { status, contentType: 'application/json', body: JSON.stringify(body) };
}

export function opsRoutes(d: OpsRouteDeps): ExtraRoutes {
  return async (req, p) => {
    if (req.method !== 'GET') return undefined;
    if (p === '/metrics' && d.metrics) {
      return { status: 200, contentType: d.metrics.contentType, body: await d.metrics.render() };
    }
    const m = TASK_SUB.exec(p);
    if (!m) return undefined;
    const rec = d.tasks.get(m[1]!);
    if (!rec) throw new NotFoundError(`task ${m[1]} is not known`);
    if (m[2] === 'metadata') return json(200, taskMetadata(rec));
    // A host path for root's nsenter: of no use from another host, so only on the unix socket.
    if (req.socket.remoteAddress !== undefined) throw new NotFoundError('the task namespace is shown only over the unix socket');
    const netnsPath = rec.pause?.netnsPath;
    if (!netnsPath || rec.lastStatus === 'STOPPED') {
      throw new ConflictError(`task ${rec.spec.taskId} has no network namespace now (status ${rec.lastStatus})`);
    }
    const info: NetnsInfo = { taskArn: rec.spec.taskArn, lastStatus: rec.lastStatus, netnsPath };
    if (rec.pause?.pid) info.pausePid = rec.pause.pid;
    return json(200, info);
  };
}
