// Composition root: builds the real adapters, wires them, starts. No task logic lives here.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { Dockerode } from '../docker/dockerode.js';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { InstrumentedCniInvoker } from '../../cni/instrumented-invoker.js';
import { ExecCniInvoker } from '../../cni/invoker.js';
import { ipamInventory } from '../../cni/ipam-inventory.js';
import { locatePlugin } from '../../cni/locate.js';
import { BridgeLockedInvoker } from '../../cni/locked-invoker.js';
import { pluginLogDir, pluginsOf } from '../../cni/plan.js';
import { ApiTaskSource } from '../api/api-source.js';
import { DaemonMetrics } from '../api/metrics.js';
import { listenMetrics } from '../api/metrics-listener.js';
import { opsRoutes } from '../api/ops-routes.js';
import { checkSocketPath, createApiServer, listenTcpLoopback, listenUnix } from '../api/server.js';
import { LABEL } from '../docker/container-config.js';
import { DockerodeRuntime, dockerConnection } from '../docker/dockerode-runtime.js';
import { EngineOutages } from '../docker/engine-outages.js';
import { Backoff } from '../util/backoff.js';
import { FsTaskCgroups } from '../docker/task-cgroup.js';
import { EniCapacity, primaryInterfaces } from '../eni/capacity.js';
import { IpTaskNetns } from '../eni/netns.js';
import { crashPointFromEnv } from '../util/crash-point.js';
import { NetlinkLinkWatcher } from '../eni/link-watcher.js';
import { SpoolWatcher } from '../spool/spool-watcher.js';
import { FileTaskStore } from '../store/file-task-store.js';
import { ResilientTaskStore } from '../store/resilient-task-store.js';
import type { StoreDegraded } from '../store/task-store.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { TaskSource } from '../task/intake.js';
import { TaskManager } from '../task/task-manager.js';
import { Reconciler } from '../task/reconciler.js';
import type { TaskRecord } from '../model.js';
import type { ValidateOptions } from '../task/validate/index.js';
import { bindMountDenyListOf, cniPlanOptions, validateOptions, type DaemonConfig } from './config.js';
import { exposedGc, IdleGc } from './idle-gc.js';
import { prettyDestination } from './log-format.js';
import { SystemdNotifier } from './notify.js';

export interface RunningDaemon {
  manager: TaskManager;
  logger: Logger;
  stop(): Promise<void>;
}

export function makeLogger(cfg: Pick<DaemonConfig, 'logLevel' | 'pretty'>): Logger {
  return pino({
    level: cfg.logLevel,
    base: { pid: process.pid },
    // Environment values can hold secrets; they never reach a log line.
    redact: {
      paths: ['*.environment[*].value', '*.*.environment[*].value', 'env', '*.env', 'Env', '*.Env', '*.*.Env'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, cfg.pretty ? prettyDestination(process.stdout) : undefined);
}

export async function startDaemon(cfg: DaemonConfig, logger = makeLogger(cfg)): Promise<RunningDaemon> {
  const log = logger.child({ component: 'daemon' });
  // Taken out of the environment at once, so no plugin or nsenter we start can talk to systemd as us.
  const notifier = SystemdNotifier.fromEnv(process.env, log, { unset: true });
  const planOptions = cniPlanOptions(cfg);

  // Preflight: each missing piece is named, so the operator knows what to fix.
  const plugins = [...pluginsOf(cfg.plugins, planOptions).keys()];
  for (const p of plugins) {
    if (!(await locatePlugin(p, cfg.cniPath))) {
      throw new ConfigError('--cni-path', `CNI plugin ${p} (plugin set ${cfg.plugins}) is not an executable in ${cfg.cniPath}`);
    }
  }
  const docker = new Dockerode(dockerConnection(cfg.dockerHost));
  const runtime = new DockerodeRuntime({ docker, logger: logger.child({ component: 'docker' }) });
  try {
    await runtime.ping();
  } catch (err) {
    throw new ConfigError('--docker-host', `the Docker engine at ${cfg.dockerHost} does not answer: ${errorMessage(err)}`);
  }
  if (!(await runtime.imageExists(cfg.pauseImage))) {
    throw new ConfigError(
      '--pause-image',
      `pause image ${cfg.pauseImage} is not loaded in the engine at ${cfg.dockerHost}; it is never pulled: run scripts/build-images (or scripts/install) first`,
    );
  }

  const links = new NetlinkLinkWatcher({ logger: logger.child({ component: 'eni' }) });
  const hostNet = new IpTaskNetns({ runDir: cfg.runDir, logger: logger.child({ component: 'netns' }) });
  // This daemon's own registry, served on /metrics (prom-client's global one stays empty).
  const metrics = new DaemonMetrics({
    registry: new Registry(),
    tasks: (): TaskRecord[] => manager.all(),
    pluginSet: cfg.plugins,
    plugins,
    storeDegraded: (): StoreDegraded | undefined => store.degraded(),
  });
  // A full, read-only or failing disk under the state directory: new tasks refused, stops and running tasks go on.
  const storeLog = logger.child({ component: 'store' });
  const store = new ResilientTaskStore({ inner: new FileTaskStore({ stateDir: cfg.stateDir, logger: storeLog }), stateDir: cfg.stateDir, logger: storeLog, metrics });
  // The plugins' log directory is also their working directory: nothing they write lands elsewhere.
  const workDir = pluginLogDir(planOptions);
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const cni = new BridgeLockedInvoker(
    new InstrumentedCniInvoker(new ExecCniInvoker({ cniPath: cfg.cniPath, logger: logger.child({ component: 'cni' }), workDir }), metrics, Date.now),
    cfg.plugins,
  );
  const capacity = new EniCapacity({
    links,
    max: cfg.maxTaskEnis,
    kinds: cfg.eniLinkKinds,
    namePattern: cfg.eniLinkPattern === undefined ? undefined : new RegExp(cfg.eniLinkPattern),
    primary: await primaryInterfaces(),
  });
  if (cfg.maxTaskEnis === undefined) log.info('no ENI capacity limit configured (--max-task-enis or --instance-type)');
  // The containers this daemon owns are the ones whose records live in its state directory.
  const owner = path.resolve(cfg.stateDir);
  const taskCgroups = new FsTaskCgroups({ engineInfo: () => runtime.info() });
  let idleGc: IdleGc | undefined;
  // The engine's outages as its event stream shows them: a task lost in one is stopped with a reason naming it.
  const engineOutages = new EngineOutages(Date.now);
  const manager = new TaskManager({
    engineOutages,
    onSettled: () => idleGc?.settled(),
    store,
    runtime,
    links,
    cni,
    hostNet,
    logger,
    now: Date.now,
    crash: crashPointFromEnv(process.env.AWSVPCD_CRASH_AT, log),
    capacity,
    metrics,
    config: {
      pluginSet: cfg.plugins,
      plan: planOptions,
      pauseImage: cfg.pauseImage,
      pauseLabels: cfg.pauseLabels,
      ownerLabels: { [LABEL.owner]: owner },
      cniAddTimeoutMs: cfg.cniAddTimeoutMs,
      cniDelTimeoutMs: cfg.cniDelTimeoutMs,
      ipamReleaseTimeoutMs: 5_000,
      containerStopTimeoutSec: cfg.containerStopTimeoutSec,
      pullBehavior: cfg.pullBehavior,
      pullTimeoutMs: 10 * 60_000,
      dependencyTimeoutMs: 10 * 60_000,
      eniReturnTimeoutMs: cfg.eniReturnTimeoutMs,
      cleanupMaxAttempts: cfg.cleanupMaxAttempts,
      cleanupRetryBackoffMs: cfg.cleanupRetryBackoffMs,
      taskCgroupRoot: cfg.taskCgroupRoot,
      bindMountDenyList: bindMountDenyListOf(cfg),
      allowedBindMounts: cfg.allowedBindMounts,
    },
    taskCgroups,
  });
  const gc = exposedGc();
  idleGc = new IdleGc({ gc, busy: () => manager.busy(), logger: log });
  if (!gc) log.debug('gc() not exposed (node --expose-gc, as the systemd unit runs it): no full GC when task work settles');
  const validate: ValidateOptions = {
    ...validateOptions(cfg),
    onUnknownField: (p) => log.debug({ field: p }, 'unknown task field ignored'),
  };

  // Load what survived the last run before anything can submit.
  // The socket and spool directories are checked before any saved task is resumed: a refusal must leave
  // nothing half started.
  await checkSocketPath(cfg.socket);
  const spool = new SpoolWatcher({ dir: cfg.spoolDir, validate, logger, onRefused: (why) => metrics.spoolFileRefused(why) });
  await spool.checkDir();
  const { records, corrupt } = await store.load();
  if (corrupt.length) log.error({ corrupt }, 'corrupt task records were set aside');
  for (const rec of records) manager.adopt(rec);
  log.info({ tasks: records.length }, 'state loaded');
  const reconciler = new Reconciler({
    manager,
    runtime,
    hostNet,
    store,
    ipam: ipamInventory(cfg.plugins, planOptions, cni, cfg.cniDelTimeoutMs),
    owner,
    logger,
    now: Date.now,
  });
  let reconciling: Promise<unknown> | undefined;
  const reconcile = (immediate: boolean): Promise<unknown> =>
    (reconciling ??= reconciler
      .run({ immediate })
      .then((done) => metrics.reconciled(done))
      .catch((err) => log.error({ err }, 'reconciliation failed'))
      .finally(() => (reconciling = undefined)));

  // Where tasks come from: each source submits and stops through the manager's intake, under its own name.
  const api = new ApiTaskSource();
  const sources: TaskSource[] = [api, spool];

  let ready = false;
  const server = createApiServer({
    tasks: api,
    validate,
    plan: {
      pluginSet: cfg.plugins,
      plan: planOptions,
      pauseImage: cfg.pauseImage,
      pauseLabels: cfg.pauseLabels,
      ownerLabels: { [LABEL.owner]: owner },
      taskCgroupRoot: cfg.taskCgroupRoot,
      source: api.name,
    },
    // Doctor's check, asked when a dry run needs it: not at start-up, and never stale after an engine change.
    cgroupLimits: async () => {
      const support = await taskCgroups.support();
      return support.ok ? { applied: true } : { applied: false, why: support.why };
    },
    logger,
    isReady: () => ready,
    storeDegraded: () => store.degraded(),
    reconcile: (dryRun) => reconciler.run({ immediate: true, dryRun }).then((done) => (dryRun ? done : metrics.reconciled(done))),
    routes: opsRoutes({ tasks: manager, metrics }),
  });
  for (const source of sources) await source.start(manager);
  await listenUnix(server, cfg.socket);
  log.info({ socket: cfg.socket }, 'API listening');
  const metricsServer = cfg.metricsListen ? await listenMetrics(cfg.metricsListen, metrics, logger) : undefined;
  if (cfg.apiTcp) {
    await listenTcpLoopback(server, cfg.apiTcp);
    log.warn({ address: cfg.apiTcp }, 'API also listening on loopback TCP (--api-tcp): every local user can reach it');
  }

  // Engine events: exits and removals are seen at once. A lost stream (the engine restarting, or gone) is an
  // outage: reconnect with a bounded backoff (0.5 s doubling to 10 s, from the start again once a stream
  // opens), and after each reconnect record the outage's end, ask whether the engine keeps containers over
  // a restart (live-restore), and re-check every task.
  let events: { close(): void } | undefined;
  let stopping = false;
  const reconnect = new Backoff(500, 10_000);
  // The backoff starts over only after a stream that held for a while: an engine that opens the stream and
  // drops it at once would otherwise be asked (and every task checked) twice a second.
  const HELD_MS = 5_000;
  let openedAt: number | undefined;
  const subscribe = (): void => {
    events = runtime.watchEvents(
      `${LABEL.owner}=${owner}`, // only this daemon's containers
      (e) => void manager.onContainerEvent(e).catch((err) => log.warn({ err }, 'event handling failed')),
      (err) => {
        if (stopping) return;
        if (openedAt !== undefined && Date.now() - openedAt >= HELD_MS) reconnect.reset();
        openedAt = undefined;
        const first = !engineOutages.current();
        engineOutages.lost();
        const delayMs = reconnect.next();
        if (first) log.warn({ err, delayMs }, 'docker event stream ended; reconnecting');
        else log.debug({ err: errorMessage(err), delayMs }, 'docker event stream still down; reconnecting');
        setTimeout(() => {
          if (!stopping) subscribe();
        }, delayMs).unref();
      },
      () => {
        openedAt = Date.now();
        const outage = engineOutages.current();
        if (!outage || stopping) return;
        // The outage ends now, not when `docker info` answers: a break before that is a new outage.
        const backAt = openedAt;
        engineOutages.back(backAt);
        void runtime
          .info()
          .then((i) => i.liveRestore, () => undefined)
          .then((liveRestore) => {
            engineOutages.noteLiveRestore(outage, liveRestore);
            log.warn(
              { lostAt: new Date(outage.lostAt).toISOString(), backAt: new Date(backAt).toISOString(), liveRestore },
              'docker event stream back; checking every task',
            );
            return manager.checkAll();
          })
          .catch((err) => log.warn({ err }, 'checking tasks after the engine came back failed'));
      },
    );
  };
  // Asked beside the start, not before it: start-up makes no engine call it does not need.
  void runtime.info().then(
    (i) => {
      engineOutages.liveRestore ??= i.liveRestore;
      log.info({ liveRestore: i.liveRestore }, 'engine live-restore');
    },
    (err) => log.debug({ err: errorMessage(err) }, 'docker info failed; live-restore not known'),
  );
  subscribe();


  // Start-up reconciliation: nothing is in flight yet, so orphans are handled at once.
  await reconcile(true);
  await manager.checkAll();
  ready = true;
  log.info('first reconciliation done; ready');
  await notifier.ready(`ready; ${manager.all().length} tasks`);
  notifier.startWatchdog();

  const timer = setInterval(() => {
    void manager.checkAll();
    void reconcile(false);
    const cutoff = Date.now() - cfg.stoppedTaskRetentionMs;
    for (const rec of manager.all()) {
      if (rec.lastStatus === 'STOPPED' && rec.stoppedAt && Date.parse(rec.stoppedAt) < cutoff) void manager.forget(rec.spec.taskId);
    }
  }, cfg.reconcileIntervalMs);
  timer.unref();

  return {
    manager,
    logger,
    async stop() {
      stopping = true;
      await notifier.stopping();
      metricsServer?.close();
      clearInterval(timer);
      for (const source of sources) source.close();
      events?.close();
      manager.close();
      idleGc.close();
      await Promise.race([manager.drain(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await Promise.race([store.close(), new Promise((r) => setTimeout(r, 5_000).unref())]);
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      links.close();
      log.info('stopped; tasks keep running');
    },
  };
}
