// How hard the property tests push: a fixed seed and a few thousand runs by default (CI repeats
// exactly), FUZZ_RUNS=100000 for a longer run on demand, FUZZ_SEED=<int> to try other inputs or
// replay a failure that fast-check reported.

export interface FuzzParams {
  seed: number;
  numRuns: number;
  /** Jest timeout for the test: generous per run, so a large FUZZ_RUNS is not cut off. */
  timeoutMs: number;
}

function intFromEnv(name: string, min: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer of at least ${min} (got ${JSON.stringify(raw)})`);
  return n;
}

export function fuzzParams(defaultRuns: number, defaultSeed: number): FuzzParams {
  const numRuns = intFromEnv('FUZZ_RUNS', 1) ?? defaultRuns;
  const seed = intFromEnv('FUZZ_SEED', -(2 ** 31)) ?? defaultSeed;
  return { seed, numRuns, timeoutMs: Math.max(60_000, numRuns * 10) };
}
