// A task's identity for idempotent re-submission: the same ARN with the same content is the same task.

import { createHash } from 'node:crypto';
import type { TaskSpec } from '../model.js';

/** sha256 (hex) of the spec's canonical JSON without desiredStatus: same ARN and content, same hash. */
export function specHash(spec: TaskSpec): string {
  const { desiredStatus: _ignored, ...rest } = spec;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** JSON with object keys sorted and undefined members left out, so equal specs give equal text. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((e) => (e === undefined ? 'null' : canonicalJson(e))).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
