// The setup's step graph (runGraph): steps start as soon as what they need is done, a failure or a stop lets
// the running steps finish and starts nothing new, and only waits see the abort.
import { checkGraph, runGraph, type GraphStep, type StepSpan } from '../../agent/task/step-graph.js';

/** A step that resolves when the test says so, and logs when it starts and ends. */
function gate(log: string[], name: string, needs: string[] = []) {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  const step: GraphStep = {
    name,
    needs,
    run: async () => {
      log.push(`start ${name}`);
      try {
        await done;
      } finally {
        log.push(`end ${name}`);
      }
    },
  };
  return { step, open, fail };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('checkGraph', () => {
  test('orders steps after what they need', () => {
    const s = (name: string, needs: string[] = []): GraphStep => ({ name, needs, run: async () => undefined });
    expect(checkGraph([s('c', ['b']), s('b', ['a']), s('a')])).toEqual(['a', 'b', 'c']);
  });
  test('refuses a cycle, an unknown step and a duplicate, naming them', () => {
    const s = (name: string, needs: string[] = []): GraphStep => ({ name, needs, run: async () => undefined });
    expect(() => checkGraph([s('a', ['b']), s('b', ['a'])])).toThrow('setup steps form a cycle: a -> b -> a');
    expect(() => checkGraph([s('a', ['x'])])).toThrow('setup step a needs x, which is not a step');
    expect(() => checkGraph([s('a'), s('a')])).toThrow('setup step a is listed twice');
  });
});

describe('runGraph', () => {
  test('independent steps run at once; a step starts only when all it needs is done', async () => {
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const c = gate(log, 'c', ['a', 'b']);
    const spans: StepSpan[] = [];
    const run = runGraph([a.step, b.step, c.step], { onSpan: (sp) => spans.push(sp) });
    await tick();
    expect(log).toEqual(['start a', 'start b']);
    a.open();
    await tick();
    expect(log).toEqual(['start a', 'start b', 'end a']);
    b.open();
    await tick();
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b', 'start c']);
    c.open();
    await run;
    expect(spans.map((s) => [s.name, s.ok])).toEqual([['a', true], ['b', true], ['c', true]]);
    for (const s of spans) expect(s.endedAt).toBeGreaterThanOrEqual(s.startedAt);
  });

  test('after a failure the running steps finish, nothing new starts, and the first failure is thrown', async () => {
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const after = gate(log, 'after-a', ['a']);
    const afterB = gate(log, 'after-b', ['b']);
    let settled = false;
    const run = runGraph([a.step, b.step, after.step, afterB.step]).finally(() => (settled = true));
    await tick();
    a.fail(new Error('a broke'));
    await tick();
    // b is still running: the graph waits for it and does not start what follows it.
    expect(settled).toBe(false);
    b.open();
    await expect(run).rejects.toThrow('a broke');
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b']);
  });

  test('a failure aborts the waits handed to the running steps; their abort errors do not hide it', async () => {
    const seen: string[] = [];
    const wait: GraphStep = {
      name: 'wait',
      needs: [],
      run: (waits) =>
        new Promise((_res, rej) => {
          waits.addEventListener('abort', () => {
            seen.push('wait aborted');
            rej(new Error('aborted wait'));
          });
        }),
    };
    const boom: GraphStep = { name: 'boom', needs: [], run: async () => { await tick(); throw new Error('boom'); } };
    await expect(runGraph([wait, boom])).rejects.toThrow('boom');
    expect(seen).toEqual(['wait aborted']);
  });

  test('a stop from outside starts nothing new, lets the running step finish, and throws its reason', async () => {
    const log: string[] = [];
    const a = gate(log, 'a');
    const next = gate(log, 'next', ['a']);
    const stop = new AbortController();
    let settled = false;
    const run = runGraph([a.step, next.step], { stop: stop.signal }).finally(() => (settled = true));
    await tick();
    stop.abort(new Error('stopped by user'));
    await tick();
    expect(settled).toBe(false);
    a.open();
    await expect(run).rejects.toThrow('stopped by user');
    expect(log).toEqual(['start a', 'end a']);
  });

  test('a stop before the start runs nothing', async () => {
    const stop = new AbortController();
    stop.abort(new Error('early'));
    let ran = false;
    await expect(runGraph([{ name: 'a', needs: [], run: async () => void (ran = true) }], { stop: stop.signal })).rejects.toThrow('early');
    expect(ran).toBe(false);
  });

  test('a step that throws synchronously counts as a failure; an empty graph is done', async () => {
    const bad: GraphStep = { name: 'bad', needs: [], run: () => { throw new Error('sync'); } };
    await expect(runGraph([bad])).rejects.toThrow('sync');
    await expect(runGraph([])).resolves.toBeUndefined();
  });
});
