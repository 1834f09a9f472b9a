// How many task ENIs this host can take. ECS enforces the instance type's ENI limit only at placement
// (RESOURCE:ENI) and the agent does no accounting; awsvpcd checks at admission and, unlike ECS, counts
// ENI-like links that no task owns (attached by hand, or left behind) against the limit.
import { execa } from 'execa';
import type { HostLink, LinkWatcher } from './link-watcher.js';

/**
 * The host's own interfaces, never counted as task ENIs: those carrying the default route (the primary ENI
 * on EC2) and those holding a global IPv4 address (a task ENI waiting on the host has none; a host without a
 * default route still has its primary addressed).
 */
export async function primaryInterfaces(): Promise<string[]> {
  const opts = { reject: false, timeout: 5_000, stdin: 'ignore' } as const;
  const [routes, addrs] = await Promise.all([
    execa('ip', ['-o', 'route', 'show', 'default'], opts),
    execa('ip', ['-o', '-4', 'addr', 'show', 'scope', 'global'], opts),
  ]);
  const names = [...routes.stdout.matchAll(/\bdev (\S+)/g)].map((m) => m[1]!);
  names.push(...[...addrs.stdout.matchAll(/^\d+:\s+(\S+)\s+inet /gm)].map((m) => m[1]!));
  return [...new Set(names)];
}

/** ENIs per instance type (AWS EC2 documentation); a task can use all but the primary ENI. */
export const INSTANCE_ENI_LIMITS: Record<string, number> = {
  't3.nano': 2, 't3.micro': 2, 't3.small': 3, 't3.medium': 3, 't3.large': 3, 't3.xlarge': 4, 't3.2xlarge': 4,
  't2.micro': 2, 't2.small': 2, 't2.medium': 3, 't2.large': 3,
  'c4.large': 3, 'c4.xlarge': 4, 'c4.2xlarge': 4, 'c4.4xlarge': 8, 'c4.8xlarge': 8,
  'c5.large': 3, 'c5.xlarge': 4, 'c5.2xlarge': 4, 'c5.4xlarge': 8, 'c5.9xlarge': 8, 'c5.12xlarge': 8, 'c5.18xlarge': 15,
  'm4.large': 2, 'm4.xlarge': 4, 'm4.2xlarge': 4, 'm4.4xlarge': 8, 'm4.10xlarge': 8,
  'm5.large': 3, 'm5.xlarge': 4, 'm5.2xlarge': 4, 'm5.4xlarge': 8, 'm5.8xlarge': 8, 'm5.12xlarge': 8, 'm5.24xlarge': 15,
  'r5.large': 3, 'r5.xlarge': 4, 'r5.2xlarge': 4, 'r5.4xlarge': 8, 'r5.12xlarge': 8, 'r5.24xlarge': 15,
  'm6i.large': 3, 'm6i.xlarge': 4, 'm6i.2xlarge': 4, 'c6i.large': 3, 'c6i.xlarge': 4, 'c6g.large': 3, 'm6g.large': 3,
};

export function maxTaskEnisFor(instanceType: string): number | undefined {
  const n = INSTANCE_ENI_LIMITS[instanceType];
  return n === undefined ? undefined : n - 1;
}

export interface CapacityReport {
  max: number | undefined;
  /** Tasks holding (or waiting for) an ENI. */
  tasks: number;
  /** ENI-like links on the host that no task claims. */
  unowned: HostLink[];
  free: number | undefined;
}

export interface EniCapacityOptions {
  links: LinkWatcher;
  max: number | undefined;
  /** Link kinds that count as ENI-like: undefined kind = a physical device (a real ENI); tests add "veth". */
  kinds: string[];
  /** Names never counted: the primary interface (it carries the host's own address). */
  primary: string[];
  /** Only links whose names match count (e.g. ^eth[1-9] where ENIs get such names); default: all. */
  namePattern?: RegExp;
}

export class EniCapacity {
  constructor(private readonly o: EniCapacityOptions) {}

  get max(): number | undefined {
    return this.o.max;
  }

  private eniLike(l: HostLink): boolean {
    if (l.name === 'lo' || this.o.primary.includes(l.name) || l.master !== undefined) return false;
    if (this.o.namePattern && !this.o.namePattern.test(l.name)) return false;
    return this.o.kinds.includes(l.kind ?? 'device');
  }

  /** `taskMacs`: the ENIs of every task that holds or waits for one, the one being admitted included. */
  async report(taskMacs: string[], liveTasks: number): Promise<CapacityReport> {
    const claimed = new Set(taskMacs);
    const unowned = (await this.o.links.list()).filter((l) => this.eniLike(l) && !claimed.has(l.mac));
    const max = this.o.max;
    return { max, tasks: liveTasks, unowned, free: max === undefined ? undefined : max - liveTasks - unowned.length };
  }
}
