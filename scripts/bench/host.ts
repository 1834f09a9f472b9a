// What the bench makes on the host, all named with one per-run prefix so it can all be found and removed:
// a "VPC subnet" namespace, stand-in ENIs (scripts/stand-in-eni), the task bridge, pinned namespaces,
// labelled containers and the state directory.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type Docker from 'dockerode';
import { deleteLinksNamed, unmountUnder } from '../lib/host-cleanup.js';
import { run } from '../lib/run.js';
import { eniAdd, eniDel, vpcDown, vpcUp, type Eni } from '../lib/stand-in.js';

/** Runs fn over items with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class BenchHost {
  readonly vpcNs: string;
  readonly bridge: string;
  /** 10.98.0.0/16: room for every ENI of a full run without reusing an address. */
  readonly gateway = '10.98.0.1/16';
  private readonly macBase: string;
  private count = 0;
  private readonly live = new Set<string>();
  aborted = false;

  constructor(
    readonly prefix: string,
    readonly root: string,
  ) {
    this.vpcNs = `${prefix}-vpc`;
    this.bridge = `${prefix}-br`;
    const b = randomBytes(3).toString('hex').match(/../g)!;
    this.macBase = `0a:${b.join(':')}`;
  }

  checkAborted(): void {
    if (this.aborted) throw new Error('bench interrupted');
  }

  async vpcUp(): Promise<void> {
    await vpcUp(this.vpcNs, this.gateway);
  }

  /** A new stand-in ENI: unique device name, MAC and address for this run. */
  async addEni(): Promise<Eni> {
    const e = this.reserveEni();
    await this.plugEni(e);
    return e;
  }

  /** An ENI's name, MAC and address, not on the host yet: plugEni puts it there (an EC2 attach, late). */
  reserveEni(): Eni {
    this.checkAborted();
    const n = this.count++;
    const hi = (n >> 8) & 0xff;
    const lo = n & 0xff;
    const e: Eni = {
      dev: `${this.prefix}e${n}`,
      mac: `${this.macBase}:${hi.toString(16).padStart(2, '0')}:${lo.toString(16).padStart(2, '0')}`,
      ip: `10.98.${1 + Math.floor(n / 250)}.${2 + (n % 250)}`,
      gateway: this.gateway,
    };
    return e;
  }

  async plugEni(e: Eni): Promise<void> {
    this.live.add(e.dev);
    await eniAdd(this.vpcNs, e.dev, e.mac);
  }

  async addEnis(n: number): Promise<Eni[]> {
    return pool(Array.from({ length: n }), 4, () => this.addEni());
  }

  /** Deletes the pair wherever the host end is now (back on the host, or gone with its task namespace). */
  async delEnis(enis: Eni[]): Promise<void> {
    await pool(enis, 4, async (e) => {
      await eniDel(this.vpcNs, e.dev).catch(() => undefined);
      this.live.delete(e.dev);
    });
  }

  /**
   * Removes everything this run made, whatever state it is in; safe to call twice. `taskIdPrefix` selects
   * the labelled containers (task ids all start with the run prefix).
   */
  async cleanup(docker: Docker, log: (s: string) => void): Promise<void> {
    const problems: string[] = [];
    try {
      const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: ['com.awsvpcd.task-id'] }) });
      const ours = list.filter((c) => (c.Labels['com.awsvpcd.task-id'] ?? '').startsWith(this.prefix));
      await pool(ours, 8, (c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch((err: Error) => problems.push(`container ${c.Id.slice(0, 12)}: ${err.message}`)));
      if (ours.length) log(`removed ${ours.length} containers`);
    } catch (err) {
      problems.push(`listing containers: ${(err as Error).message}`);
    }
    // Pinned namespaces (bind mounts) under our root.
    const unmounted = await unmountUnder(this.root, problems);
    if (unmounted) log(`unmounted ${unmounted} pinned namespaces`);
    await vpcDown(this.vpcNs).catch((err: Error) => problems.push(err.message));
    // Host ends whose pair vpc-down did not take (it deletes the VPC ends, which takes the pairs), and the bridge.
    await deleteLinksNamed(this.prefix);
    this.live.clear();
    await rm(this.root, { recursive: true, force: true });
    if (problems.length) log(`cleanup problems:\n - ${problems.join('\n - ')}`);
  }
}

