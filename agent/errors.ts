// A few error classes with stable codes; the API's status codes and the CLI's exit codes come from them.

export type ErrorCode =
  | 'INVALID_TASK'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'CAPACITY'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'CNI_ERROR'
  | 'DOCKER_ERROR'
  | 'CONFIG_ERROR'
  | 'STATE_ERROR'
  | 'INTERNAL';

export class AwsvpcdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad input. `field` is a path such as `containers[1].portMappings[0].hostPort`. */
export class ValidationError extends AwsvpcdError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('INVALID_TASK', field ? `${field}: ${message}` : message);
    this.field = field;
  }
}

export class NotFoundError extends AwsvpcdError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class ConflictError extends AwsvpcdError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export class CapacityError extends AwsvpcdError {
  constructor(message: string) {
    super('CAPACITY', message);
  }
}

/**
 * The state directory cannot be written (a full, read-only or failing disk): a task whose record cannot be
 * kept is not taken. `errno` is ENOSPC, EROFS, EIO or EDQUOT; the fs error is the `cause`.
 */
export class StoreUnavailableError extends AwsvpcdError {
  readonly stateDir: string;
  readonly errno: string;
  constructor(stateDir: string, errno: string, detail: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', `state directory ${stateDir} is not writable (${errno}: ${detail}); no new task is taken until it is`, options);
    this.stateDir = stateDir;
    this.errno = errno;
  }
}

export class DeadlineError extends AwsvpcdError {
  readonly what: string;
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super('TIMEOUT', `${what} did not finish within ${timeoutMs} ms`);
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

export class ConfigError extends AwsvpcdError {
  readonly variable: string;
  /** What is wrong, without the variable and source. */
  readonly reason: string;
  /** Where the bad value came from when it matters: "environment", "/etc/ecs/ecs.config:3", ... */
  readonly source: string | undefined;
  constructor(variable: string, message: string, source?: string) {
    super('CONFIG_ERROR', `${variable}${source ? ` (${source})` : ''}: ${message}`);
    this.variable = variable;
    this.reason = message;
    this.source = source;
  }
}

export class DockerError extends AwsvpcdError {
  readonly statusCode: number | undefined;
  constructor(message: string, options?: { cause?: unknown; statusCode?: number }) {
    super('DOCKER_ERROR', message, options);
    this.statusCode = options?.statusCode;
  }
}

/**
 * A CNI plugin failed. `cniCode` is the code of the plugin's error object when it printed one
 * (11 = try again later; 100 and 999 are the Amazon plugins' own codes); `cniMsg` is that object's `msg`
 * as the plugin wrote it, for judging what happened without parsing `message`, which is decorated and
 * cut short. `kind` tells a plugin error from a timeout or unreadable output.
 */
export class CniError extends AwsvpcdError {
  readonly plugin: string;
  readonly command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION';
  readonly kind: 'plugin-error' | 'timeout' | 'bad-output' | 'not-found' | 'exec-failed';
  readonly cniCode: number | undefined;
  /** The `msg` of the plugin's error object, exactly as printed (cut only beyond CNI_MSG_LIMIT characters). */
  readonly cniMsg: string | undefined;
  readonly details: string | undefined;
  constructor(args: {
    plugin: string;
    command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION';
    kind: CniError['kind'];
    message: string;
    cniCode?: number;
    cniMsg?: string;
    details?: string;
    cause?: unknown;
  }) {
    super('CNI_ERROR', `${args.plugin} ${args.command}: ${args.message}`, { cause: args.cause });
    this.plugin = args.plugin;
    this.command = args.command;
    this.kind = args.kind;
    this.cniCode = args.cniCode;
    this.cniMsg = args.cniMsg;
    this.details = args.details;
  }

  get retriable(): boolean {
    return this.cniCode === 11;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
