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
  pullImage(ref: string, timeoutMs: number): Promise<void>;
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
  /** Streams container events for containers carrying label `key`; reconnects are the caller's job. */
  watchEvents(labelKey: string, onEvent: (e: ContainerEvent) => void, onEnd: (err?: Error) => void): { close(): void };
}
