// The bench's order statistics: what its printed figures are made of. A wrong pick here would print a
// target as met that no run met.
import { parseHostBusy, parseProcCpu } from '../../scripts/bench/cpu.js';
import { medianBatch, quantile, summarize, type BatchFigures } from '../../scripts/bench/stats.js';

const batch = (ms: number, failures = 0, errors: string[] = []): BatchFigures => ({
  ms,
  tasksPerSec: Math.round((32 / ms) * 100_000) / 100,
  failures,
  perTask: summarize([ms]),
  errors,
});

describe('bench statistics', () => {
  test('medianBatch: the middle batch by time, whatever order the trials ran in', () => {
    expect(medianBatch([batch(13_000), batch(10_000), batch(11_500)]).ms).toBe(11_500);
    expect(medianBatch([batch(10_000), batch(13_000), batch(11_500)]).tasksPerSec).toBe(2.78);
    // Even count: the lower middle, a batch that ran, not a mean of two.
    expect(medianBatch([batch(9_000), batch(12_000), batch(10_000), batch(11_000)]).ms).toBe(10_000);
    expect(medianBatch([batch(7_000)]).ms).toBe(7_000);
  });

  test('medianBatch: failures and errors of every trial, not only the picked one', () => {
    const m = medianBatch([batch(10_000), batch(11_000, 2, ['t1: TIMEOUT', 't2: STOPPED']), batch(12_000, 1, ['t3: TIMEOUT'])]);
    expect(m.ms).toBe(11_000);
    expect(m.failures).toBe(3);
    expect(m.errors).toEqual(['t1: TIMEOUT', 't2: STOPPED', 't3: TIMEOUT']);
  });

  test('medianBatch: a batch where every task failed (no time) sorts last', () => {
    expect(medianBatch([batch(NaN, 32), batch(10_000), batch(12_000)]).ms).toBe(12_000);
    expect(medianBatch([batch(NaN, 32), batch(NaN, 32), batch(12_000)]).ms).toBeNaN();
  });

  test('quantile is nearest-rank: a p95 is a time that happened', () => {
    const s = [5, 1, 4, 2, 3];
    expect(quantile(s, 0.95)).toBe(5);
    expect(quantile(s, 0.5)).toBe(3);
    expect(summarize([1, 2, 3, 4]).median).toBe(2.5);
  });
});

describe('bench CPU readings', () => {
  test('/proc/stat: busy is user + nice + system + irq + softirq + steal, in seconds', () => {
    const stat = 'cpu  418197 7 306006 1408822 8330 11 5054 10067 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1 2 3\n';
    expect(parseHostBusy(stat)).toBeCloseTo((418197 + 7 + 306006 + 11 + 5054 + 10067) / 100, 6);
    expect(() => parseHostBusy('intr 1 2 3\n')).toThrow('/proc/stat');
  });

  test('/proc/<pid>/stat: utime + stime, even when the command name holds spaces and parentheses', () => {
    const stat = '5176 (node (x) y) S 5171 5171 7355 0 -1 4194304 100 0 0 0 250 130 0 0 20 0 1 0 1094739 3133440 360';
    expect(parseProcCpu(stat).self).toBeCloseTo(3.8, 6);
    expect(parseProcCpu(stat).children).toBe(0);
    expect(parseProcCpu(stat.replace(' 250 130 0 0 ', ' 250 130 41 9 ')).children).toBeCloseTo(0.5, 6);
    expect(() => parseProcCpu('5176 (node) S')).toThrow('utime');
  });
});
