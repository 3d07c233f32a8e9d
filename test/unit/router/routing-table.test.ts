import { describe, expect, it } from 'vitest';
import { ChainRoute, type OperatorRef, RoutingState } from '../../../src/router/routing-table.js';
import type { Upstream } from '../../../src/router/upstream.js';
import { seededRandom } from '../../../src/sim/index.js';

// Selection never touches the upstream, so a bare object stands in for the pool.
const ref = (index: number): OperatorRef => ({ id: `op${index}`, index, chain: 'ethereum', upstream: {} as Upstream });

/** Pearson's chi-square statistic of observed counts against expected shares. */
function chiSquare(counts: readonly number[], shares: readonly number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.reduce((sum, c, i) => sum + (c - n * shares[i]!) ** 2 / (n * shares[i]!), 0);
}
/** Critical values at p = 0.001 for 3 and 9 degrees of freedom. */
const CHI2_P001 = { 3: 16.27, 9: 27.88 } as const;

function countDraws(route: ChainRoute, draws: number, random: () => number): number[] {
  const counts = new Array<number>(route.operators.length).fill(0);
  for (let i = 0; i < draws; i++) counts[route.draw(random)!.index]!++;
  return counts;
}

describe('ChainRoute', () => {
  const weights = [1, 2, 3, 4];
  const ops = weights.map((_, i) => ref(i));

  it('picks in proportion to weight (chi-square, and the test can tell a wrong distribution)', () => {
    const route = new ChainRoute('ethereum', ops.map((operator, i) => ({ operator, weight: weights[i]! })), 0);
    const counts = countDraws(route, 200_000, seededRandom(42));
    const shares = weights.map((w) => w / 10);
    expect(chiSquare(counts, shares)).toBeLessThan(CHI2_P001[3]);
    // The same counts are wildly off a uniform split: the statistic has the power to fail.
    expect(chiSquare(counts, [0.25, 0.25, 0.25, 0.25])).toBeGreaterThan(100 * CHI2_P001[3]);
  });

  it('spreads the exploration share uniformly on top of the weights', () => {
    const route = new ChainRoute('ethereum', ops.map((operator, i) => ({ operator, weight: i === 0 ? 0 : weights[i]! })), 0.1);
    const counts = countDraws(route, 200_000, seededRandom(7));
    // Operator 0 has weight 0 and lives on exploration alone: 0.1 / 4 of the picks.
    const shares = [0, 2, 3, 4].map((w) => 0.1 / 4 + 0.9 * (w / 9));
    expect(chiSquare(counts, shares)).toBeLessThan(CHI2_P001[3]);
    expect(counts[0]).toBeGreaterThan(0);
  });

  it('spreads uniformly when every weight is zero', () => {
    const ten = Array.from({ length: 10 }, (_, i) => ({ operator: ref(i), weight: 0 }));
    const counts = countDraws(new ChainRoute('ethereum', ten, 0), 100_000, seededRandom(3));
    expect(chiSquare(counts, new Array(10).fill(0.1))).toBeLessThan(CHI2_P001[9]);
  });

  it('never picks an operator already tried, and runs out cleanly', () => {
    const route = new ChainRoute('ethereum', ops.map((operator, i) => ({ operator, weight: weights[i]! })), 0);
    const random = seededRandom(1);
    for (let i = 0; i < 1000; i++) {
      const tried = [ops[3]!, ops[2]!];
      const pick = route.pick(random, tried);
      expect(pick === ops[0] || pick === ops[1]).toBe(true);
    }
    expect(route.pick(random, ops)).toBeUndefined();
    expect(new ChainRoute('ethereum', [], 0).pick(random, undefined)).toBeUndefined();
  });

  it('refuses negative or non-finite weights', () => {
    expect(() => new ChainRoute('ethereum', [{ operator: ops[0]!, weight: -1 }], 0)).toThrow(RangeError);
    expect(() => new ChainRoute('ethereum', [{ operator: ops[0]!, weight: Number.NaN }], 0)).toThrow(RangeError);
  });
});

describe('RoutingState', () => {
  it('swaps whole tables: a reader keeps the table it holds', () => {
    const state = new RoutingState();
    expect(state.current.ready).toBe(false);
    const first = state.publish([new ChainRoute('ethereum', [{ operator: ref(0), weight: 1 }], 0)]);
    const held = state.current;
    state.publish([new ChainRoute('ethereum', [], 0)]);
    expect(held).toBe(first);
    expect(held.ready).toBe(true);
    expect(state.current.ready).toBe(false);
    expect(state.current.route('ethereum')).toBeDefined();
    expect(state.current.route('polygon')).toBeUndefined();
    expect(state.current.version).toBe(2);
  });
});
