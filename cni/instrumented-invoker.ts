// A CniInvoker that counts and times every plugin call of the one it wraps, so the task manager and the
// exec invoker stay free of metrics code.
import type { CniCall, CniInvoker, CniResult, CniRuntime } from './types.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface CniMetrics {
  /** One plugin run: `ok` false for any failure (a DEL that found the resource gone counts as ok). */
  pluginCall(plugin: string, command: CniCommand, ok: boolean, ms: number): void;
}

export class InstrumentedCniInvoker implements CniInvoker {
  constructor(
    private readonly inner: CniInvoker,
    private readonly metrics: CniMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  private async timed<T>(plugin: string, command: CniCommand, fn: () => Promise<T>): Promise<T> {
    const started = this.now();
    try {
      const r = await fn();
      this.metrics.pluginCall(plugin, command, true, this.now() - started);
      return r;
    } catch (err) {
      this.metrics.pluginCall(plugin, command, false, this.now() - started);
      throw err;
    }
  }

  add(call: CniCall, rt: CniRuntime): Promise<CniResult> {
    return this.timed(call.plugin, 'ADD', () => this.inner.add(call, rt));
  }

  del(call: CniCall, rt: CniRuntime): Promise<void> {
    return this.timed(call.plugin, 'DEL', () => this.inner.del(call, rt));
  }

  check(call: CniCall, rt: CniRuntime, prevResult: CniResult): Promise<void> {
    return this.timed(call.plugin, 'CHECK', () => this.inner.check(call, rt, prevResult));
  }

  version(plugin: string, timeoutMs: number): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    return this.timed(plugin, 'VERSION', () => this.inner.version(plugin, timeoutMs));
  }
}
