// The container engine as the task core sees it: our types only, no dockerode shapes.

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  state: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | string;
  running: boolean;
  pid: number;
  exitCode: number | null;
  startedAt?: string;
  finishedAt?: string;
  labels: Record<string, string>;
  health?: 'starting' | 'healthy' | 'unhealthy' | string;
  networkMode?: string;
  error?: string;
  oomKilled?: boolean;
  /** HostConfig.CgroupParent: a task rebuilt from the engine finds its task cgroup from it. */
  cgroupParent?: string;
}

/** Docker's health check in the engine's units (nanoseconds). */
export interface HealthcheckOptions {
  test: string[];
  intervalNs: number;
  timeoutNs: number;
  retries: number;
  startPeriodNs: number;
}

/** One entry of HostConfig.Mounts: a host path (bind) or a named volume. */
export interface MountOptions {
  type: 'bind' | 'volume';
  source: string;
  target: string;
  readOnly: boolean;
}

export interface UlimitOptions {
  name: string;
  soft: number;
  hard: number;
}

export interface DeviceOptions {
  hostPath: string;
  containerPath: string;
  /** Cgroup permissions, some of "rwm". */
  permissions: string;
}

export interface VolumeInfo {
  name: string;
  driver: string;
  labels: Record<string, string>;
  mountpoint?: string;
}

export interface CreateVolumeOptions {
  name: string;
  driver?: string;
  driverOpts?: Record<string, string>;
  labels: Record<string, string>;
}

/** What the engine says about its cgroup setup (docker info). */
export interface EngineInfo {
  /** "cgroupfs" or "systemd". */
  cgroupDriver?: string;
  /** "1" or "2". */
  cgroupVersion?: string;
  /** LiveRestoreEnabled: containers keep running while the engine restarts. */
  liveRestore?: boolean;
}

export interface CreateContainerOptions {
  name: string;
  image: string;
  labels: Record<string, string>;
  networkMode: string;
  hostname?: string;
  dns?: string[];
  dnsSearch?: string[];
  extraHosts?: string[];
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  cpuShares?: number;
  memoryBytes?: number;
  memoryReservationBytes?: number;
  privileged: boolean;
  capAdd?: string[];
  capDrop?: string[];
  stopTimeoutSec?: number;
  sysctls?: Record<string, string>;
  exposedPorts?: string[];
  healthcheck?: HealthcheckOptions;
  mounts?: MountOptions[];
  /** "<container name>[:ro]". */
  volumesFrom?: string[];
  ulimits?: UlimitOptions[];
  init?: boolean;
  shmSizeBytes?: number;
  /** container path -> mount options ("size=64m,noexec"). */
  tmpfs?: Record<string, string>;
  devices?: DeviceOptions[];
  /** Memory plus swap, bytes. */
  memorySwapBytes?: number;
  memorySwappiness?: number;
  readonlyRootfs?: boolean;
  tty?: boolean;
  openStdin?: boolean;
  securityOpt?: string[];
  logConfig?: { type: string; config: Record<string, string> };
  /** "container:<id>" or "none" (ipc), "shareable" for the pause container whose IPC the task shares. */
  pidMode?: string;
  ipcMode?: string;
  cgroupParent?: string;
}

export interface ContainerEvent {
  action: 'die' | 'destroy' | 'start' | 'stop' | 'kill' | 'oom' | string;
  id: string;
  labels: Record<string, string>;
  exitCode?: number;
}

export interface ContainerRuntime {
  ping(): Promise<void>;
  version(): Promise<{ version: string; apiVersion: string }>;
  imageExists(ref: string): Promise<boolean>;
  /** `signal` ends the pull early (a setup that failed elsewhere), as the deadline does. */
  pullImage(ref: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Returns the new container's id. A name already taken is a ConflictError-coded DockerError (statusCode 409). */
  create(opts: CreateContainerOptions): Promise<string>;
  start(id: string): Promise<void>;
  /** undefined when the container does not exist. `idOrName` may be a name. */
  inspect(idOrName: string): Promise<ContainerInfo | undefined>;
  /** Stops a running container; a stopped or missing one is not an error. */
  stop(id: string, timeoutSec: number): Promise<void>;
  /** Force-removes; a missing one is not an error. */
  remove(id: string): Promise<void>;
  /** Containers (running or not) carrying label `key` (with `value` if given). */
  listByLabel(key: string, value?: string): Promise<ContainerInfo[]>;
  /** The engine's cgroup driver and version. */
  info(): Promise<EngineInfo>;
  /** Creates a volume; the engine returns the existing one when the name is taken (check its labels). */
  createVolume(o: CreateVolumeOptions): Promise<VolumeInfo>;
  /** undefined when the volume does not exist. */
  inspectVolume(name: string): Promise<VolumeInfo | undefined>;
  /** A missing volume is not an error; one still in use is (statusCode 409). */
  removeVolume(name: string): Promise<void>;
  /** Volumes carrying label `key` (with `value` if given). */
  listVolumesByLabel(key: string, value?: string): Promise<VolumeInfo[]>;
  /**
   * Streams container events for containers carrying label `key`; reconnects are the caller's job. `onOpen`
   * is called once the engine has answered with a stream (a reconnect that held).
   */
  watchEvents(labelKey: string, onEvent: (e: ContainerEvent) => void, onEnd: (err?: Error) => void, onOpen?: () => void): { close(): void };
}
