// Task input validation: turns an untrusted task document into a normalized TaskSpec, or throws
// the first broken rule as a ValidationError naming the field path.

export { DAEMON_LABEL_PREFIX, MAX_CONTAINERS } from './containers.js';
export { MAX_TASK_DOCUMENT_BYTES, MAX_TASK_DOCUMENT_DEPTH, parseTaskDocument } from './document.js';
export type { ValidateOptions } from './options.js';
export { normalizeMac } from './patterns.js';
export { MAX_WAIT_TIMEOUT_MS, validateTask } from './task.js';
