// Order statistics over a handful of samples: nearest-rank, so a p95 is always a time that happened.

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * s.length));
  return s[rank - 1]!;
}

/** Median is the mean of the middle two for an even count; p95 is nearest-rank. */
export function median(samples: number[]): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(samples: number[]): Summary {
  return {
    n: samples.length,
    median: round(median(samples)),
    p95: round(quantile(samples, 0.95)),
    min: round(Math.min(...samples)),
    max: round(Math.max(...samples)),
  };
}

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** A batch of tasks run at once: time until the last was done, and what failed. */
export interface BatchFigures {
  ms: number;
  tasksPerSec: number;
  failures: number;
  /** Per-task latency inside the batch. */
  perTask: Summary;
  errors: string[];
  /** CPU seconds over the batch: the whole host's busy time, and the driving process's (daemon or bench). */
  cpu?: { hostSec: number; procSec?: number };
}

/** The batch with the median time (the lower middle for an even count), with every batch's failures and errors. */
export function medianBatch(list: BatchFigures[]): BatchFigures {
  const byMs = [...list].sort((a, b) => (Number.isNaN(a.ms) ? 1 : Number.isNaN(b.ms) ? -1 : a.ms - b.ms));
  const mid = byMs[Math.floor((byMs.length - 1) / 2)]!;
  return {
    ...mid,
    failures: list.reduce((s, b) => s + b.failures, 0),
    errors: list.flatMap((b) => b.errors),
  };
}
