// Task input validation: turns an untrusted task document or run request into a normalized TaskSpec, or throws
// a ValidationError naming the field path (ValidationErrors with every reason, for a run request).

export { ValidationErrors } from './collect.js';
export { DAEMON_LABEL_PREFIX, MAX_CONTAINERS, TASK_DEFINITION_CONTAINER_FIELDS } from './containers.js';
export { MAX_TASK_DOCUMENT_BYTES, MAX_TASK_DOCUMENT_DEPTH, parseTaskDocument } from './document.js';
export type { ValidateOptions } from './options.js';
export { normalizeMac } from './patterns.js';
export {
  READ_ONLY_FIELDS,
  RUN_REQUEST_FIELDS,
  TASK_DEFINITION_FIELDS,
  hostCpuArchitecture,
  taskIdFromFileName,
  taskSize,
  validateRunRequest,
  validateRunRequestAll,
  type RunRequestHint,
} from './run-request.js';
export { MAX_WAIT_TIMEOUT_MS, validateTask } from './task.js';
export { TASKDEF_FIELD_DECISIONS, type FieldDecision } from './taskdef-fields.js';
export { DEFAULT_ALLOWED_VOLUME_DRIVERS, bindMountProblem, defaultBindMountDenyList, normalizeHostPath } from './volumes.js';
