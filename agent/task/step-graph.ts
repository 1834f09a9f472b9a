// A task's setup as a small dependency graph: each step starts as soon as the steps it needs are done, so
// work that does not need a wait (the ENI, an image pull) runs during it. After a failure, or once `stop`
// aborts, nothing new starts; the steps already running finish (their effects are never cut: only the
// waits they pass the signal to end early), and then the first failure is thrown for the caller to roll
// back what finished.

export interface GraphStep {
  name: string;
  /** Names of the steps that must be done before this one starts. */
  needs: string[];
  /** `waits` is aborted after a failure anywhere or on a stop: pass it to waits only, never to effects. */
  run: (waits: AbortSignal) => Promise<void>;
}

export interface StepSpan {
  name: string;
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

export interface GraphOptions {
  /** A stop from outside (the user's): no step starts after it aborts, and running waits end. */
  stop?: AbortSignal;
  now?: () => number;
  /** Called as each step ends, with where it started and ended. */
  onSpan?: (span: StepSpan) => void;
}

/** The steps in an order where each comes after what it needs; throws on an unknown name, a duplicate or a cycle. */
export function checkGraph(steps: GraphStep[]): string[] {
  const byName = new Map<string, GraphStep>();
  for (const s of steps) {
    if (byName.has(s.name)) throw new Error(`setup step ${s.name} is listed twice`);
    byName.set(s.name, s);
  }
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: GraphStep, path: string[]): void => {
    const st = state.get(s.name);
    if (st === 'done') return;
    if (st === 'visiting') throw new Error(`setup steps form a cycle: ${[...path, s.name].join(' -> ')}`);
    state.set(s.name, 'visiting');
    for (const n of s.needs) {
      const dep = byName.get(n);
      if (!dep) throw new Error(`setup step ${s.name} needs ${n}, which is not a step`);
      visit(dep, [...path, s.name]);
    }
    state.set(s.name, 'done');
    order.push(s.name);
  };
  for (const s of steps) visit(s, []);
  return order;
}

export function runGraph(steps: GraphStep[], o: GraphOptions = {}): Promise<void> {
  checkGraph(steps);
  const now = o.now ?? Date.now;
  const waits = new AbortController();
  const done = new Set<string>();
  const started = new Set<string>();
  let running = 0;
  let failure: { err: unknown } | undefined;

  return new Promise<void>((resolve, reject) => {
    const onStop = (): void => {
      waits.abort(o.stop!.reason);
      settleIfIdle();
    };
    const finish = (): void => {
      o.stop?.removeEventListener('abort', onStop);
      if (failure) reject(failure.err);
      else if (o.stop?.aborted) reject(o.stop.reason);
      else resolve();
    };
    const settleIfIdle = (): void => {
      if (running > 0) return;
      if (failure || o.stop?.aborted || done.size === steps.length) finish();
    };
    const launch = (): void => {
      // Declaration order among the ready ones: the caller decides which of two ready steps goes first.
      for (const s of steps) {
        if (failure || o.stop?.aborted) break;
        if (started.has(s.name) || !s.needs.every((n) => done.has(n))) continue;
        started.add(s.name);
        running++;
        const t0 = now();
        let p: Promise<void>;
        try {
          p = s.run(waits.signal);
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(
          () => {
            running--;
            done.add(s.name);
            o.onSpan?.({ name: s.name, startedAt: t0, endedAt: now(), ok: true });
            launch();
            settleIfIdle();
          },
          (err: unknown) => {
            running--;
            o.onSpan?.({ name: s.name, startedAt: t0, endedAt: now(), ok: false });
            // The first failure is the one to report: later ones are often waits it aborted.
            if (!failure) {
              failure = { err };
              waits.abort(err);
            }
            settleIfIdle();
          },
        );
      }
    };
    if (o.stop?.aborted) {
      waits.abort(o.stop.reason);
      finish();
      return;
    }
    o.stop?.addEventListener('abort', onStop, { once: true });
    launch();
    settleIfIdle();
  });
}
