// What the daemon's configuration decides about the tasks it accepts.

export interface ValidateOptions {
  /** waitTimeoutMs when the task gives none (the daemon's config; ECS uses 180000). */
  defaultWaitTimeoutMs: number;
  allowPrivileged: boolean;
  /** Capabilities a task may add (with or without the CAP_ prefix, any case; "ALL" allows all). */
  allowedCapabilities: string[];
  /** Security options (dockerSecurityOptions) a task may use, matched whole or by the part before ':' / '='. */
  allowedSecurityOptions?: string[];
  /** Host paths no bind mount (volumes[].host.sourcePath) may be, lie inside, or contain. */
  bindMountDenyList?: string[];
  /** Host paths allowed although the deny list covers them (exact path or inside it). */
  allowedBindMounts?: string[];
  /** Volume drivers dockerVolumeConfiguration.driver may name (default ["local"]). */
  allowedVolumeDrivers?: string[];
  /** The local driver's driverOpts may be more than a tmpfs (a bind of any host path, NFS/CIFS from the host's network). */
  allowLocalVolumeDriverOpts?: boolean;
  /** Host device paths linuxParameters.devices may name. */
  allowedDevices?: string[];
  /** The local log driver that replaces awslogs/awsfirelens (default json-file). */
  localLogDriver?: string;
  /** The host's CPU architecture in ECS's words (X86_64, ARM64); default from process.arch. */
  hostCpuArchitecture?: string;
  /** Called with the path of every field the daemon does not know (it is ignored). */
  onUnknownField?: (path: string) => void;
}
