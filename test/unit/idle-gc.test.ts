// The full GC once task work settles: when it runs, and when it must not.
import { jest } from '@jest/globals';
import pino from 'pino';
import { exposedGc, IdleGc } from '../../agent/daemon/idle-gc.js';

const logger = pino({ level: 'silent' });

describe('IdleGc', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  test('one collection once the work has stayed settled for the delay', () => {
    const gc = jest.fn();
    const g = new IdleGc({ gc, busy: () => false, logger, delayMs: 5_000, now: Date.now });
    g.settled();
    jest.advanceTimersByTime(4_999);
    expect(gc).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(gc).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(600_000);
    expect(gc).toHaveBeenCalledTimes(1); // nothing settled since: no second one
  });

  test('settles in quick succession (tasks one after another) buy one collection, after the last', () => {
    const gc = jest.fn();
    const g = new IdleGc({ gc, busy: () => false, logger, delayMs: 5_000, now: Date.now });
    for (let i = 0; i < 10; i++) {
      g.settled();
      jest.advanceTimersByTime(700);
    }
    expect(gc).not.toHaveBeenCalled();
    jest.advanceTimersByTime(4_300);
    expect(gc).toHaveBeenCalledTimes(1);
  });

  test('work in flight when the timer fires: no collection until the work settles again', () => {
    const gc = jest.fn();
    let busy = false;
    const g = new IdleGc({ gc, busy: () => busy, logger, delayMs: 5_000, now: Date.now });
    g.settled();
    busy = true;
    jest.advanceTimersByTime(10_000);
    expect(gc).not.toHaveBeenCalled();
    busy = false;
    g.settled();
    jest.advanceTimersByTime(5_000);
    expect(gc).toHaveBeenCalledTimes(1);
  });

  test('two collections are at least minIntervalMs apart: the later one waits, it is not dropped', () => {
    const gc = jest.fn();
    const g = new IdleGc({ gc, busy: () => false, logger, delayMs: 5_000, minIntervalMs: 30_000, now: Date.now });
    g.settled();
    jest.advanceTimersByTime(5_000);
    expect(gc).toHaveBeenCalledTimes(1);
    g.settled();
    jest.advanceTimersByTime(5_000);
    expect(gc).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(24_999);
    expect(gc).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(1);
    expect(gc).toHaveBeenCalledTimes(2);
  });

  test('without an exposed gc(), or once closed, nothing runs', () => {
    const g = new IdleGc({ gc: undefined, busy: () => false, logger });
    g.settled();
    expect(jest.getTimerCount()).toBe(0);
    const gc = jest.fn();
    const h = new IdleGc({ gc, busy: () => false, logger, delayMs: 5_000 });
    h.settled();
    h.close();
    jest.advanceTimersByTime(60_000);
    expect(gc).not.toHaveBeenCalled();
  });

  test('exposedGc finds V8 gc() only when the process has it', () => {
    const had = (globalThis as { gc?: unknown }).gc;
    try {
      delete (globalThis as { gc?: unknown }).gc;
      expect(exposedGc()).toBeUndefined();
      const fake = jest.fn();
      (globalThis as { gc?: unknown }).gc = fake;
      exposedGc()!();
      expect(fake).toHaveBeenCalledTimes(1);
    } finally {
      (globalThis as { gc?: unknown }).gc = had;
      if (had === undefined) delete (globalThis as { gc?: unknown }).gc;
    }
  });
});
