// `run-task --task-definition td.json --eni-file eni.json [--overrides o.json] ...`: the files read (each at
// most 1 MiB, never a FIFO or device) and the run request built from them, as the API and the spool take it.
// The daemon validates it; here only what the CLI itself can say about each file, naming the file.
import { open } from 'node:fs/promises';
import { MAX_TASK_DOCUMENT_BYTES } from '../task/validate/index.js';

/** What a file is to the user, for messages: "task file", "task definition file", "ENI file", "overrides file". */
export type FileRole = string;

/**
 * The file's bytes, or why it is refused: not a regular file (a FIFO or /dev/zero would never end) or over
 * 1 MiB, which the daemon would refuse anyway. Checked before the file is read whole.
 */
export async function readInputFile(file: string, role: FileRole): Promise<Buffer | string> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    return `cannot read ${role} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return `${role} ${file} is not a regular file`;
    // Worded as the spool and the API word it for a task file (the hostile-input tests pin that text).
    if (st.size > MAX_TASK_DOCUMENT_BYTES) return `${role} is larger than 1 MiB (${st.size} bytes)`;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** A file's JSON object, or why not (naming the file): run-request parts are objects. */
export function parseObjectFile(bytes: Buffer, file: string, role: FileRole, hint = ''): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (err) {
    return `${role} ${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return `${role} ${file} must hold one JSON object${hint}, not ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`;
  }
  return v as Record<string, unknown>;
}

export interface RunRequestParts {
  /** RegisterTaskDefinition input or describe-task-definition output, as the file holds it (the daemon unwraps it). */
  taskDefinition: Record<string, unknown>;
  /** One ENI attachment: the shape of a task document's elasticNetworkInterfaces[0]. */
  eni: Record<string, unknown>;
  overrides?: Record<string, unknown>;
  taskArn?: string;
  startedBy?: string;
  group?: string;
}

/** The run request the API takes (the design's shape); absent parts are left out, not sent as null. */
export function buildRunRequest(p: RunRequestParts): Record<string, unknown> {
  const req: Record<string, unknown> = { taskDefinition: p.taskDefinition };
  if (p.taskArn !== undefined) req.taskArn = p.taskArn;
  req.elasticNetworkInterfaces = [p.eni];
  if (p.overrides !== undefined) req.overrides = p.overrides;
  if (p.startedBy !== undefined) req.startedBy = p.startedBy;
  if (p.group !== undefined) req.group = p.group;
  return req;
}

export interface RunRequestFiles {
  taskDefinition: string;
  eniFile: string;
  overrides?: string;
  taskArn?: string;
  startedBy?: string;
  group?: string;
}

/** Reads the files and builds the request body (JSON text), or the first problem with a file, naming it. */
export async function runRequestFromFiles(o: RunRequestFiles): Promise<{ body: string } | { error: string }> {
  const read = async (file: string, role: FileRole, hint?: string): Promise<Record<string, unknown> | string> => {
    const bytes = await readInputFile(file, role);
    return typeof bytes === 'string' ? bytes : parseObjectFile(bytes, file, role, hint);
  };
  const taskDefinition = await read(o.taskDefinition, 'task definition file');
  if (typeof taskDefinition === 'string') return { error: taskDefinition };
  const eni = await read(o.eniFile, 'ENI file', ' (one ENI attachment, the shape of elasticNetworkInterfaces[0])');
  if (typeof eni === 'string') return { error: eni };
  let overrides: Record<string, unknown> | undefined;
  if (o.overrides !== undefined) {
    const v = await read(o.overrides, 'overrides file', ' (RunTask overrides: containerOverrides, cpu, memory)');
    if (typeof v === 'string') return { error: v };
    overrides = v;
  }
  const body = JSON.stringify(buildRunRequest({ taskDefinition, eni, overrides, taskArn: o.taskArn, startedBy: o.startedBy, group: o.group }));
  return { body };
}
