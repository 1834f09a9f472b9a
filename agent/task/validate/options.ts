// What the daemon's configuration decides about the tasks it accepts.

export interface ValidateOptions {
  /** waitTimeoutMs when the task gives none (the daemon's config; ECS uses 180000). */
  defaultWaitTimeoutMs: number;
  allowPrivileged: boolean;
  /** Capabilities a task may add (with or without the CAP_ prefix, any case; "ALL" allows all). */
  allowedCapabilities: string[];
  /** Called with the path of every field the daemon does not know (it is ignored). */
  onUnknownField?: (path: string) => void;
}
