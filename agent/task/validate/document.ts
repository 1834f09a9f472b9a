// The task document as it arrives (bytes or text), up to the JSON value that validateTask checks.

import { ValidationError } from '../../errors.js';
import type { TaskSpec } from '../../model.js';
import type { ValidateOptions } from './options.js';
import { validateRunRequest, type RunRequestHint } from './run-request.js';
import { isObj } from './readers.js';
import { validateTask } from './task.js';

export const MAX_TASK_DOCUMENT_BYTES = 1024 * 1024;
export const MAX_TASK_DOCUMENT_DEPTH = 32;

/**
 * Size, NUL, encoding and nesting checks come before JSON.parse, so hostile input costs little. Then an object
 * with a `taskDefinition` key is a run request (an ECS task definition), anything else today's task document.
 */
export function parseTaskDocument(body: Buffer | string, opts: ValidateOptions, hint: RunRequestHint = {}): TaskSpec {
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (size > MAX_TASK_DOCUMENT_BYTES) {
    throw new ValidationError('', `task document is larger than 1 MiB (${size} bytes)`);
  }
  const nul = typeof body === 'string' ? body.indexOf('\0') : body.indexOf(0);
  if (nul >= 0) throw new ValidationError('', `task document contains a NUL byte (at offset ${nul})`);

  let text: string;
  if (typeof body === 'string') {
    text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body); // drops a leading BOM
    } catch {
      throw new ValidationError('', 'task document is not valid UTF-8');
    }
  }
  if (text.trim() === '') throw new ValidationError('', 'task document is empty');

  const depth = jsonDepth(text);
  if (depth > MAX_TASK_DOCUMENT_DEPTH) {
    throw new ValidationError('', `task document is nested deeper than ${MAX_TASK_DOCUMENT_DEPTH} levels`);
  }

  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new ValidationError('', `task document is not valid JSON: ${detail}`);
  }
  if (isObj(input) && Object.hasOwn(input, 'taskDefinition')) return validateRunRequest(input, opts, hint);
  return validateTask(input, opts);
}

/** Deepest bracket nesting outside strings; stops counting once past the limit. No recursion. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > MAX_TASK_DOCUMENT_DEPTH) return max;
      }
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return max;
}
