// A CniInvoker that runs host-global plugin work one call at a time where the plugins need it, so the
// task manager never takes a lock itself.
import { Mutex } from '../agent/util/mutex.js';
import type { CniCall, CniInvoker, CniResult, CniRuntime, PluginSet } from './types.js';

/**
 * The bridge and IPAM calls (role 'bridge' or 'ipam') behind one lock. ecs-bridge and ecs-ipam share a
 * single-writer IPAM database (a bolt file that another writer waits 5 s for, then fails): always one at
 * a time. The reference bridge plugin and host-local take calls for different containers at once, as the
 * CNI spec allows (the plugin treats EEXIST on the bridge as success, host-local locks its directory):
 * only ADDs up to the first that succeeds, the one that creates the bridge, go one at a time. ENI calls
 * touch only their own link and are never held back.
 */
export class BridgeLockedInvoker implements CniInvoker {
  private readonly lock = new Mutex();
  /** A reference-set bridge ADD has succeeded: the bridge exists. */
  private bridgeUp = false;

  constructor(
    private readonly inner: CniInvoker,
    private readonly set: PluginSet,
  ) {}

  add(call: CniCall, rt: CniRuntime): Promise<CniResult> {
    if (call.role === 'eni') return this.inner.add(call, rt);
    if (this.set !== 'reference') return this.lock.run(() => this.inner.add(call, rt));
    if (this.bridgeUp) return this.inner.add(call, rt);
    return this.lock.run(async () => {
      const r = await this.inner.add(call, rt);
      this.bridgeUp = true;
      return r;
    });
  }

  del(call: CniCall, rt: CniRuntime): Promise<void> {
    if (call.role === 'eni' || this.set === 'reference') return this.inner.del(call, rt);
    return this.lock.run(() => this.inner.del(call, rt));
  }

  check(call: CniCall, rt: CniRuntime, prevResult: CniResult): Promise<void> {
    return this.inner.check(call, rt, prevResult);
  }

  version(plugin: string, timeoutMs: number): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    return this.inner.version(plugin, timeoutMs);
  }
}
