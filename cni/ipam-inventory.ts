// What a plugin set's IPAM holds for the task-local (ecs-eth0) addresses, so reconciliation can free the
// ones no task owns without knowing how each IPAM keeps its entries.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { buildPlan, PROBE_ENI } from './plan.js';
import type { CniInvoker, CniPlanOptions, PluginSet } from './types.js';

export interface IpamEntry {
  address: string;
  /** The container id the entry was made for (the pause container's, as CNI_CONTAINERID). */
  containerId: string;
}

export interface IpamInventory {
  /** Every entry held, or undefined where the IPAM's store cannot be listed. */
  list(): Promise<IpamEntry[] | undefined>;
  /** Frees an entry no task owns. */
  release(entry: IpamEntry): Promise<void>;
}

/**
 * host-local (reference set) keeps one file per address under its data directory, holding the container id
 * on its first line; an orphan is freed by the bridge DEL with that container id and no namespace, which
 * runs host-local's DEL and touches nothing else.
 */
export class HostLocalInventory implements IpamInventory {
  constructor(
    private readonly dataDir: string,
    private readonly release_: (containerId: string) => Promise<void>,
  ) {}

  async list(): Promise<IpamEntry[]> {
    const out: IpamEntry[] = [];
    for (const net of await readdir(this.dataDir).catch(() => [] as string[])) {
      for (const f of await readdir(path.join(this.dataDir, net)).catch(() => [] as string[])) {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
        const text = await readFile(path.join(this.dataDir, net, f), 'utf8').catch(() => '');
        const containerId = text.split(/\r?\n/)[0]!.trim();
        if (containerId) out.push({ address: f, containerId });
      }
    }
    return out;
  }

  release(entry: IpamEntry): Promise<void> {
    return this.release_(entry.containerId);
  }
}

/**
 * ecs-ipam (ecs and vpc sets) keeps a bolt database that only the plugin reads. Its entries are keyed by the
 * ENI's MAC, which every task record holds from before its first ADD, so a task's address is released by
 * that id when the task is torn down (also after a crash or a rebuild from the engine); an entry whose record
 * is gone for good cannot be found here and stays until the database is reset.
 */
export class UnlistedInventory implements IpamInventory {
  async list(): Promise<undefined> {
    return undefined;
  }

  async release(): Promise<void> {}
}

/** The inventory of `set`'s IPAM; releases go through `cni` with the set's own DEL and a fresh deadline. */
export function ipamInventory(set: PluginSet, opts: CniPlanOptions, cni: CniInvoker, delTimeoutMs: number): IpamInventory {
  if (set !== 'reference') return new UnlistedInventory();
  const del = buildPlan(set, PROBE_ENI, opts).del.find((c) => c.role === 'bridge')!;
  return new HostLocalInventory(opts.ipamDataDir, (containerId) => cni.del(del, { containerId, netns: '', timeoutMs: delTimeoutMs }));
}
