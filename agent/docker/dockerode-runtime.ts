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
      // Never revived by the engine on its own: a revived pause container has an empty namespace.
      RestartPolicy: { Name: 'no' },
    },
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

  /** Runs one engine call with its own deadline and maps failures to DockerError/DeadlineError. */
  private async call<T>(what: string, ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(ms);
    const started = Date.now();
    try {
      const r = await fn(signal);
      this.log.debug({ call: what, ms: Date.now() - started }, 'docker call');
      return r;
    } catch (err) {
      if (signal.aborted) throw new DeadlineError(`docker ${what}`, ms);
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

  async pullImage(ref: string, timeoutMs: number): Promise<void> {
    await this.call(`pull ${ref}`, timeoutMs, async (abortSignal) => {
      const stream = (await this.docker.pull(ref, { abortSignal })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
          const failed = out?.find((o) => o.error);
          if (err) reject(err);
          else if (failed) reject(new DockerError(`docker pull ${ref}: ${failed.error}`));
          else resolve();
        });
        abortSignal.addEventListener('abort', () => reject(new DeadlineError(`docker pull ${ref}`, timeoutMs)), { once: true });
      });
    });
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

  watchEvents(labelKey: string, onEvent: (e: ContainerEvent) => void, onEnd: (err?: Error) => void): { close(): void } {
    let stream: NodeJS.ReadableStream & { destroy?: () => void } | undefined;
    let closed = false;
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      if (!closed) onEnd(err);
    };
    this.docker
      .getEvents({ filters: { type: ['container'], label: [labelKey] } })
      .then((s) => {
        stream = s as typeof stream;
        if (closed) return stream?.destroy?.();
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
        stream?.destroy?.();
      },
    };
  }
}
