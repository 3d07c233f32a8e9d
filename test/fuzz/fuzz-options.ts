/**
 * Run counts and seeds shared by the fuzz suites. CI runs the short form: fixed seeds and a
 * few hundred to a few thousand inputs per property, all suites together well under 20 s on
 * two cores. `FUZZ_RUNS=N` asks for about N inputs per property in a long run (every short
 * count is multiplied by N / 1000, the size of a typical short one), `FUZZ_SEED=S` changes the
 * seed, `FUZZ_REPORT=1` prints the counts of a short run too (docs/reliability.md, "Fuzzing").
 */
import type fc from 'fast-check';

const LONG_RUNS = Number(process.env['FUZZ_RUNS'] ?? '0');

/** Factor applied to every short-run count: 1 in CI, FUZZ_RUNS / 1000 in a long run. */
export const SCALE = Number.isFinite(LONG_RUNS) && LONG_RUNS > 1000 ? LONG_RUNS / 1000 : 1;

/** The seed every suite starts from; fixed so a CI failure reproduces. */
export const SEED = Number(process.env['FUZZ_SEED'] ?? '0x16f0221');

/** The number of inputs for a property whose short run tries `short` of them. */
export function runs(short: number): number {
  return Math.round(short * SCALE);
}

/** fast-check parameters: `short` runs scaled, the fixed seed shifted by `salt` so suites do not share inputs. */
export function params<T>(short: number, salt: number): fc.Parameters<T> {
  return { numRuns: runs(short), seed: (SEED + salt) | 0, endOnFailure: true };
}

/** Inputs tried per suite, printed at the end of a long run for docs/reliability.md, "Fuzzing". */
const tried = new Map<string, number>();

export function count(suite: string, n = 1): void {
  tried.set(suite, (tried.get(suite) ?? 0) + n);
}

export function report(): void {
  if (SCALE === 1 && process.env['FUZZ_REPORT'] === undefined) return;
  for (const [suite, n] of tried) process.stdout.write(`fuzz: ${suite}: ${n} inputs\n`);
}

/** A small deterministic generator (mulberry32) for the socket fuzzers' own choices: the simulator's. */
export { seededRandom as rng } from '../../src/sim/profiles.js';

/** A test's time limit: vitest's 30 s for the short run, scaled with the long one. */
export const TIMEOUT_MS = 30_000 * SCALE;
