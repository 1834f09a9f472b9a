// ContainerRuntime over dockerode. Every request carries an AbortSignal deadline, so a wedged engine
// cannot hang a task (ECS agent #2808); dockerode's shapes are mapped to ours here and go no further.
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { DeadlineError, DockerError } from '../errors.js';
import type {
  ContainerEvent,
  ContainerInfo,
  ContainerRuntime,
  CreateContainerOptions,
  CreateVolumeOptions,
  EngineInfo,
  VolumeInfo,
} from './container-runtime.js';

export interface DockerTimeouts {
  /** inspect, list, remove, ping, version */
  apiMs: number;
  /** ECS: 4 minutes */
  createMs: number;
  /** ECS: 3 minutes */
  startMs: number;
  /** Added to the container's own stop timeout. */
  stopGraceMs: number;
}

export const DEFAULT_DOCKER_TIMEOUTS: DockerTimeouts = {
  apiMs: 30_000,
  createMs: 240_000,
  startMs: 180_000,
  stopGraceMs: 30_000,
};

/** Parses `unix:///path`, `/path`, `tcp://host:port` into dockerode options. */
export function dockerConnection(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const u = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: u.hostname, port: Number(u.port || 2375), protocol: 'http' };
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Our create options as the engine's request body (also what scripts/bench's floor driver sends). */
export function createBody(o: CreateContainerOptions): Docker.ContainerCreateOptions {
  return {
    name: o.name,
    Image: o.image,
    Labels: o.labels,
    Hostname: o.hostname,
    Cmd: o.cmd,
    Entrypoint: o.entrypoint,
    Env: o.env,
    WorkingDir: o.workingDir,
    User: o.user,
    StopTimeout: o.stopTimeoutSec,
    ExposedPorts: o.exposedPorts ? Object.fromEntries(o.exposedPorts.map((p) => [p, {}])) : undefined,
    // The create body takes the health check at the top level, beside Cmd, not in HostConfig.
    Healthcheck: o.healthcheck && {
      Test: o.healthcheck.test,
      Interval: o.healthcheck.intervalNs,
      Timeout: o.healthcheck.timeoutNs,
      Retries: o.healthcheck.retries,
      StartPeriod: o.healthcheck.startPeriodNs,
    },
    Tty: o.tty,
    OpenStdin: o.openStdin,
    HostConfig: {
      NetworkMode: o.networkMode,
      Dns: o.dns,
      DnsSearch: o.dnsSearch,
      ExtraHosts: o.extraHosts,
      CpuShares: o.cpuShares,
      Memory: o.memoryBytes,
      MemoryReservation: o.memoryReservationBytes,
      Privileged: o.privileged,
      CapAdd: o.capAdd,
      CapDrop: o.capDrop,
      Sysctls: o.sysctls,
      Mounts: o.mounts?.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
      VolumesFrom: o.volumesFrom,
      Ulimits: o.ulimits?.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      Init: o.init,
      ShmSize: o.shmSizeBytes,
      Tmpfs: o.tmpfs,
      Devices: o.devices?.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions })),
      MemorySwap: o.memorySwapBytes,
      MemorySwappiness: o.memorySwappiness,
      ReadonlyRootfs: o.readonlyRootfs,
      SecurityOpt: o.securityOpt,
      LogConfig: o.logConfig && { Type: o.logConfig.type, Config: o.logConfig.config },
      PidMode: o.pidMode,
      IpcMode: o.ipcMode,
      CgroupParent: o.cgroupParent,
      // Never revived by the engine on its own: a revived pause container has an empty namespace.
      RestartPolicy: { Name: 'no' },
    },
  };
}

function volumeInfo(v: Record<string, unknown>): VolumeInfo {
  return {
    name: String(v.Name ?? ''),
    driver: String(v.Driver ?? ''),
    labels: (v.Labels as Record<string, string> | null) ?? {},
    mountpoint: typeof v.Mountpoint === 'string' ? v.Mountpoint : undefined,
  };
}

export class DockerodeRuntime implements ContainerRuntime {
  private readonly docker: Docker;
  private readonly t: DockerTimeouts;
  private readonly log: Logger;

  constructor(opts: { docker: Docker; logger: Logger; timeouts?: Partial<DockerTimeouts> }) {
    this.docker = opts.docker;
    this.log = opts.logger;
    this.t = { ...DEFAULT_DOCKER_TIMEOUTS, ...opts.timeouts };
  }

  /**
   * Runs one engine call with its own deadline and maps failures to DockerError/DeadlineError; `outer` (a
   * setup that failed elsewhere, say) can end it sooner, and then its reason is what is thrown.
   */
  private async call<T>(what: string, ms: number, fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    const deadline = AbortSignal.timeout(ms);
    const signal = outer ? AbortSignal.any([deadline, outer]) : deadline;
    const started = Date.now();
    try {
      const r = await fn(signal);
      this.log.debug({ call: what, ms: Date.now() - started }, 'docker call');
      return r;
    } catch (err) {
      if (outer?.aborted && !deadline.aborted) throw outer.reason ?? err;
      if (deadline.aborted) throw new DeadlineError(`docker ${what}`, ms);
      if (err instanceof DockerError || err instanceof DeadlineError) throw err;
      const statusCode = statusOf(err);
      const reason = (err as { json?: { message?: string } })?.json?.message ?? (err as Error)?.message ?? String(err);
      throw new DockerError(`docker ${what}: ${reason}`.trim(), { cause: err, statusCode });
    }
  }

  async ping(): Promise<void> {
    await this.call('ping', this.t.apiMs, (abortSignal) => (this.docker.ping as (o: object) => Promise<unknown>)({ abortSignal }));
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    const v = await this.call('version', this.t.apiMs, (abortSignal) => (this.docker.version as (o: object) => Promise<Docker.DockerVersion>)({ abortSignal }));
    return { version: v.Version, apiVersion: v.ApiVersion };
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.call(`image inspect ${ref}`, this.t.apiMs, (abortSignal) =>
        this.docker.getImage(ref).inspect({ abortSignal } as object),
      );
      return true;
    } catch (err) {
      if (err instanceof DockerError && err.statusCode === 404) return false;
      throw err;
    }
  }

  async pullImage(ref: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.call(`pull ${ref}`, timeoutMs, async (abortSignal) => {
      const stream = (await this.docker.pull(ref, { abortSignal })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
          const failed = out?.find((o) => o.error);
          if (err) reject(err);
          else if (failed) reject(new DockerError(`docker pull ${ref}: ${failed.error}`));
          else resolve();
        });
        // call() turns the abort into the DeadlineError or the outer signal's reason.
        abortSignal.addEventListener('abort', () => reject(abortSignal.reason), { once: true });
      });
    }, signal);
  }

  async create(o: CreateContainerOptions): Promise<string> {
    const body = createBody(o);
    const c = await this.call(`create ${o.name}`, this.t.createMs, (abortSignal) =>
      this.docker.createContainer({ ...body, abortSignal } as Docker.ContainerCreateOptions),
    );
    return c.id;
  }

  async start(id: string): Promise<void> {
    await this.call(`start ${id.slice(0, 12)}`, this.t.startMs, (abortSignal) =>
      this.docker.getContainer(id).start({ abortSignal }),
    ).catch((err) => {
      if (err instanceof DockerError && err.statusCode === 304) return; // already started
      throw err;
    });
  }

  async inspect(idOrName: string): Promise<ContainerInfo | undefined> {
    try {
      const i = await this.call(`inspect ${idOrName.slice(0, 64)}`, this.t.apiMs, (abortSignal) =>
        this.docker.getContainer(idOrName).inspect({ abortSignal } as object),
      );
      return {
        id: i.Id,
        name: i.Name.replace(/^\//, ''),
        image: i.Config.Image,
        state: i.State.Status,
        running: i.State.Running,
        pid: i.State.Pid,
        exitCode: i.State.Running || i.State.Status === 'created' ? null : i.State.ExitCode,
        startedAt: i.State.StartedAt,
        finishedAt: i.State.FinishedAt,
        labels: i.Config.Labels ?? {},
        health: i.State.Health?.Status,
        networkMode: i.HostConfig.NetworkMode,
        error: i.State.Error || undefined,
        oomKilled: i.State.OOMKilled,
        cgroupParent: i.HostConfig.CgroupParent || undefined,
      };
    } catch (err) {
      if (err instanceof DockerError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async stop(id: string, timeoutSec: number): Promise<void> {
    await this.call(`stop ${id.slice(0, 12)}`, timeoutSec * 1000 + this.t.stopGraceMs, (abortSignal) =>
      this.docker.getContainer(id).stop({ t: timeoutSec, abortSignal }),
    ).catch((err) => {
      if (err instanceof DockerError && (err.statusCode === 304 || err.statusCode === 404)) return;
      throw err;
    });
  }

  async remove(id: string): Promise<void> {
    await this.call(`remove ${id.slice(0, 12)}`, this.t.apiMs, (abortSignal) =>
      this.docker.getContainer(id).remove({ force: true, v: true, abortSignal }),
    ).catch((err) => {
      // 404: gone already; 409 "removal already in progress" ends in the same place.
      if (err instanceof DockerError && (err.statusCode === 404 || err.statusCode === 409)) return;
      throw err;
    });
  }

  async listByLabel(key: string, value?: string): Promise<ContainerInfo[]> {
    const list = await this.call('list', this.t.apiMs, (abortSignal) =>
      this.docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [value === undefined ? key : `${key}=${value}`] }),
        abortSignal,
      } as Docker.ContainerListOptions),
    );
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      image: c.Image,
      state: c.State,
      running: c.State === 'running',
      pid: 0,
      exitCode: null,
      labels: c.Labels ?? {},
      networkMode: c.HostConfig?.NetworkMode,
    }));
  }

  async info(): Promise<EngineInfo> {
    const i = await this.call('info', this.t.apiMs, (abortSignal) => (this.docker.info as (o: object) => Promise<Record<string, unknown>>)({ abortSignal }));
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    return {
      cgroupDriver: str(i.CgroupDriver),
      cgroupVersion: str(i.CgroupVersion),
      liveRestore: typeof i.LiveRestoreEnabled === 'boolean' ? i.LiveRestoreEnabled : undefined,
    };
  }

  async createVolume(o: CreateVolumeOptions): Promise<VolumeInfo> {
    const v = await this.call(`volume create ${o.name}`, this.t.apiMs, (abortSignal) =>
      (this.docker.createVolume as (o: object) => Promise<unknown>)({
        Name: o.name,
        Driver: o.driver ?? 'local',
        DriverOpts: o.driverOpts ?? {},
        Labels: o.labels,
        abortSignal,
      }),
    );
    // dockerode answers with a Volume handle or the engine's JSON, depending on the version.
    const found = await this.inspectVolume(o.name);
    if (!found) throw new DockerError(`docker volume create ${o.name}: the engine does not show it after create (${typeof v})`);
    return found;
  }

  async inspectVolume(name: string): Promise<VolumeInfo | undefined> {
    try {
      const v = await this.call(`volume inspect ${name}`, this.t.apiMs, (abortSignal) =>
        (this.docker.getVolume(name).inspect as unknown as (o: object) => Promise<Record<string, unknown>>)({ abortSignal }),
      );
      return volumeInfo(v);
    } catch (err) {
      if (err instanceof DockerError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async removeVolume(name: string): Promise<void> {
    await this.call(`volume remove ${name}`, this.t.apiMs, (abortSignal) =>
      (this.docker.getVolume(name).remove as (o: object) => Promise<unknown>)({ abortSignal }),
    ).catch((err) => {
      if (err instanceof DockerError && err.statusCode === 404) return;
      throw err;
    });
  }

  async listVolumesByLabel(key: string, value?: string): Promise<VolumeInfo[]> {
    const r = await this.call('volume list', this.t.apiMs, (abortSignal) =>
      (this.docker.listVolumes as unknown as (o: object) => Promise<{ Volumes?: Array<Record<string, unknown>> | null }>)({
        filters: JSON.stringify({ label: [value === undefined ? key : `${key}=${value}`] }),
        abortSignal,
      }),
    );
    return (r.Volumes ?? []).map(volumeInfo);
  }

  watchEvents(labelKey: string, onEvent: (e: ContainerEvent) => void, onEnd: (err?: Error) => void, onOpen?: () => void): { close(): void } {
    let stream: NodeJS.ReadableStream & { destroy?: () => void } | undefined;
    let closed = false;
    let ended = false;
    // Ends a request still waiting for the engine's answer, so an attempt that gave up holds no socket.
    const opening = new AbortController();
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      clearTimeout(openDeadline);
      if (!stream) opening.abort(err);
      if (!closed) onEnd(err);
    };
    // An engine that takes the connection but never answers (half started) ends the attempt like a refusal.
    const openDeadline = setTimeout(() => end(new DeadlineError('docker events', this.t.apiMs)), this.t.apiMs);
    openDeadline.unref?.();
    this.docker
      .getEvents({ filters: { type: ['container'], label: [labelKey] }, abortSignal: opening.signal } as object)
      .then((s) => {
        stream = s as typeof stream;
        clearTimeout(openDeadline);
        if (closed || ended) return stream?.destroy?.();
        onOpen?.();
        let buf = '';
        s.on('data', (chunk: Buffer) => {
          buf += chunk.toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const ev = JSON.parse(line) as { Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
              const attrs = ev.Actor?.Attributes ?? {};
              const exit = attrs.exitCode === undefined ? undefined : Number(attrs.exitCode);
              onEvent({ action: ev.Action ?? '', id: ev.Actor?.ID ?? '', labels: attrs, exitCode: exit });
            } catch (err) {
              this.log.warn({ err, line: line.slice(0, 200) }, 'unreadable docker event');
            }
          }
        });
        s.on('end', () => end());
        s.on('error', (err: Error) => end(err));
      })
      .catch((err: Error) => end(err));
    return {
      close: () => {
        closed = true;
        clearTimeout(openDeadline);
        if (stream) stream.destroy?.();
        else opening.abort();
      },
    };
  }
}
