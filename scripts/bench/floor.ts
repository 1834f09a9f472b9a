// The floor: the Docker calls and plugin runs the daemon makes for one task, issued back to back by a
// minimal driver with nothing in between (no state, no locks, no API, no waits). The same dockerode
// client options, the same create bodies (container-config + createBody), the same plugin binaries with
// the same stdin (buildPlan) and environment. Whatever the daemon takes beyond this is its overhead.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type Docker from 'dockerode';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { BASE_ENV } from '../../cni/invoker.js';
import { buildPlan } from '../../cni/plan.js';
import type { CniCall, CniPlan, CniPlanOptions, PluginSet } from '../../cni/types.js';
import { appCreateOptions, pauseCreateOptions, startOrder } from '../../agent/docker/container-config.js';
import { createBody } from '../../agent/docker/dockerode-runtime.js';
import type { TaskSpec } from '../../agent/model.js';

/** Step name -> when it completed (epoch ms, sub-millisecond). */
export type Marks = Map<string, number>;

export function now(): number {
  return performance.timeOrigin + performance.now();
}

export interface FloorTask {
  spec: TaskSpec;
  specHash: string;
  plan: CniPlan;
  pauseId?: string;
  netns?: string;
  containerIds: Map<string, string>;
}

export interface FloorOptions {
  docker: Docker;
  pluginSet: PluginSet;
  plan: CniPlanOptions;
  cniPath: string;
  pauseImage: string;
  /** The daemon's ECS_CONTAINER_STOP_TIMEOUT, for containers without their own stopTimeout. */
  stopTimeoutSec: number;
  /** The daemon puts its owner label on every container; the floor puts one of its own (same size, no daemon claims it). */
  ownerLabels: Record<string, string>;
}

export class Floor {
  constructor(private readonly o: FloorOptions) {}

  task(spec: TaskSpec, specHash: string): FloorTask {
    return { spec, specHash, plan: buildPlan(this.o.pluginSet, spec.eni, this.o.plan), containerIds: new Map() };
  }

  /**
   * ENI lookup, pause create/start, its pid, CNI ADD in plan order, containers in start order: today's order
   * before the setup graph, each call after the one before. With `waitEniMs` the lookup is repeated every
   * 5 ms until the ENI is there (a late EC2 attach), for at most that long.
   */
  async setup(t: FloorTask, o: { waitEniMs?: number } = {}): Promise<Marks> {
    const m: Marks = new Map();
    const d = this.o.docker;
    const mac = t.spec.eni.macAddress;
    const end = now() + (o.waitEniMs ?? 0);
    for (;;) {
      const links = await dumpLinks();
      if (links.some((l) => macOf(l.attrs.address) === mac)) break;
      if (now() >= end) throw new Error(`no link with MAC ${mac}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    m.set('eni', now());
    const pause = await d.createContainer(createBody(pauseCreateOptions(t.spec, t.specHash, this.o.pauseImage, this.o.ownerLabels)));
    t.pauseId = pause.id;
    m.set('pauseCreated', now());
    await pause.start();
    m.set('pauseStarted', now());
    const pid = (await pause.inspect()).State.Pid;
    t.netns = `/proc/${pid}/ns/net`;
    for (const call of t.plan.add) {
      await this.plugin(call, 'ADD', t.pauseId, t.netns);
      m.set(`cniAdd:${call.plugin}`, now());
    }
    for (const c of startOrder(t.spec.containers)) {
      const ctr = await d.createContainer(createBody(appCreateOptions(t.spec, t.specHash, c, t.pauseId, this.o.ownerLabels)));
      t.containerIds.set(c.name, ctr.id);
      m.set(`created:${c.name}`, now());
      await ctr.start();
      m.set(`started:${c.name}`, now());
    }
    m.set('running', now());
    return m;
  }

  /** The daemon's teardown calls: containers stopped and removed (in parallel), CNI DEL in reverse, pause last. */
  async teardown(t: FloorTask): Promise<Marks> {
    const m: Marks = new Map();
    const d = this.o.docker;
    const stopSec = (name: string): number => t.spec.containers.find((c) => c.name === name)?.stopTimeout ?? this.o.stopTimeoutSec;
    const ids = [...t.containerIds];
    await Promise.all(ids.map(([name, id]) => d.getContainer(id).stop({ t: stopSec(name) }).catch(notModified)));
    m.set('containersStopped', now());
    await Promise.all(ids.map(([, id]) => d.getContainer(id).remove({ force: true, v: true })));
    m.set('containersRemoved', now());
    for (const call of t.plan.del) {
      await this.plugin(call, 'DEL', t.pauseId!, t.netns!);
      m.set(`cniDel:${call.plugin}`, now());
    }
    if (t.plan.ipamRelease) {
      await this.plugin(t.plan.ipamRelease, 'DEL', t.pauseId!, t.netns!);
      m.set('ipamRelease', now());
    }
    const pause = d.getContainer(t.pauseId!);
    await pause.stop({ t: 10 }).catch(notModified);
    m.set('pauseStopped', now());
    await pause.remove({ force: true, v: true });
    m.set('pauseRemoved', now());
    m.set('stopped', now());
    return m;
  }

  /** One plugin run: the invoker's environment and stdin, through a bare spawn. */
  private plugin(call: CniCall, command: 'ADD' | 'DEL', containerId: string, netns: string): Promise<string> {
    const file = path.join(this.o.cniPath.split(':')[0]!, call.plugin);
    const env = {
      ...BASE_ENV,
      ...(call.env ?? {}),
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netns,
      CNI_IFNAME: call.ifName,
      CNI_PATH: this.o.cniPath,
      CNI_ARGS: 'IgnoreUnknown=1',
    };
    return new Promise((resolve, reject) => {
      const p = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on('data', (c: Buffer) => out.push(c));
      p.stderr.on('data', (c: Buffer) => err.push(c));
      p.on('error', reject);
      p.on('close', (code) => {
        const stdout = Buffer.concat(out).toString('utf8');
        if (code === 0) resolve(stdout);
        else reject(new Error(`${call.plugin} ${command} exit ${code}: ${stdout.trim()} ${Buffer.concat(err).toString('utf8').trim()}`));
      });
      p.stdin.end(JSON.stringify(call.config));
    });
  }

  close(): void {}
}

/** A socket of its own per dump: floor setups run side by side, and one socket answers one dump at a time. */
async function dumpLinks(): Promise<Awaited<ReturnType<RtNetlinkSocket['getLinks']>>> {
  const nl = createRtNetlink();
  try {
    return await nl.getLinks();
  } finally {
    nl.socket.close();
  }
}

function notModified(err: { statusCode?: number }): void {
  if (err?.statusCode !== 304) throw err;
}

function macOf(buf: unknown): string {
  if (!(buf instanceof Uint8Array) || buf.length !== 6) return '';
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join(':');
}
