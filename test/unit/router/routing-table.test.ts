import fc from 'fast-check';
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
/** Critical values at p = 0.001 for 2, 3, 7 and 9 degrees of freedom. */
const CHI2_P001 = { 2: 13.82, 3: 16.27, 7: 24.32, 9: 27.88 } as const;

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

/** The distribution a route must draw from: exploration / n + (1 - exploration) * weight / total. */
function expectedShares(weights: readonly number[], exploration: number): number[] {
  const n = weights.length;
  const max = Math.max(...weights);
  if (max === 0) return weights.map(() => 1 / n);
  // Scaled by the largest weight so that a sum of huge weights does not overflow.
  const total = weights.reduce((sum, w) => sum + w / max, 0);
  return weights.map((w) => exploration / n + ((1 - exploration) * (w / max)) / total);
}

const routeOf = (weights: readonly number[], exploration: number) =>
  new ChainRoute('ethereum', weights.map((weight, i) => ({ operator: ref(i), weight })), exploration);

/** Every share within 1e-9 of what it should be (relative; denormal expectations within 1e-300), zeros exactly zero. */
function expectSharesMatch(route: ChainRoute, weights: readonly number[], exploration: number): void {
  const shares = route.selectionShares();
  const expected = expectedShares(weights, exploration);
  expect(shares.length).toBe(weights.length);
  const off: string[] = [];
  for (let i = 0; i < weights.length; i++) {
    const ok = expected[i] === 0 ? shares[i] === 0 : Math.abs(shares[i]! - expected[i]!) <= 1e-9 * expected[i]! + 1e-300;
    if (!ok) off.push(`operator ${i}: ${shares[i]} instead of ${expected[i]}`);
  }
  expect(off).toEqual([]);
  expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
}

describe('ChainRoute alias table', () => {
  const cases: ReadonlyArray<readonly [string, readonly number[]]> = [
    ['one operator', [5]],
    ['one operator of weight zero', [0]],
    ['zero weights among others', [0, 3, 0, 1, 0]],
    ['every weight zero', [0, 0, 0, 0, 0, 0, 0]],
    ['all equal', [3.3, 3.3, 3.3, 3.3, 3.3, 3.3, 3.3]],
    ['weights that do not sum to a nice number', [0.1, 0.2, 0.3, Math.PI, 1 / 3, 7e-3, Math.E]],
    ['huge against small', [1e15, 1, 1e-15]],
    ['the smallest double against 1', [Number.MIN_VALUE, 1]],
    ['weights whose sum overflows', [1e308, 1e308, 5e307]],
    ['tiny weights', [1e-300, 3e-300, 2e-300]],
    ['10,000 operators, one dominant', Array.from({ length: 10_000 }, (_, i) => (i === 4_321 ? 1e9 : 1 + (i % 7)))],
    ['10,000 operators, half of them zero', Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? 0 : 1 + (i % 13)))],
  ];

  for (const [name, weights] of cases) {
    it(`holds the exact distribution: ${name}`, () => {
      for (const exploration of [0, 0.05, 0.5]) expectSharesMatch(routeOf(weights, exploration), weights, exploration);
    });
  }

  it('holds the exact distribution for any weights (property)', () => {
    const weight = fc.oneof(
      fc.constant(0),
      fc.double({ min: 0, max: 1e6, noNaN: true }),
      fc.double({ min: Number.MIN_VALUE, max: 1e-6, noNaN: true }),
      fc.double({ min: 1e200, max: 1e308, noNaN: true }),
      fc.integer({ min: 1, max: 10 }),
    );
    fc.assert(
      fc.property(fc.array(weight, { minLength: 1, maxLength: 80 }), fc.constantFrom(0, 0.05, 0.1, 0.5), (weights, exploration) => {
        expectSharesMatch(routeOf(weights, exploration), weights, exploration);
      }),
      { numRuns: 500 },
    );
  });

  it('draws from that distribution (chi-square, and the test can tell a near miss)', () => {
    const weights = [Math.PI, 1 / 3, 0, 7e-3, Math.E, 0.1, 0, 1.5e-2, 2 / 7, 11];
    const route = routeOf(weights, 0);
    const counts = countDraws(route, 200_000, seededRandom(11));
    // Zero weight without exploration: never drawn.
    expect([counts[2], counts[6]]).toEqual([0, 0]);
    const live = [0, 1, 3, 4, 5, 7, 8, 9];
    const shares = expectedShares(weights, 0);
    const observed = live.map((i) => counts[i]!);
    expect(chiSquare(observed, live.map((i) => shares[i]!))).toBeLessThan(CHI2_P001[7]);
    // One percent of the draws moved from the heaviest operator to the first: clearly rejected.
    const nearMiss = live.map((i) => shares[i]! + (i === 0 ? 0.01 : i === 9 ? -0.01 : 0));
    expect(chiSquare(observed, nearMiss)).toBeGreaterThan(3 * CHI2_P001[7]);
  });

  it('draws a huge weight ratio with exploration on top (chi-square)', () => {
    const weights = [1e12, 1, 0];
    const counts = countDraws(routeOf(weights, 0.05), 200_000, seededRandom(5));
    const shares = expectedShares(weights, 0.05);
    expect(chiSquare(counts, shares)).toBeLessThan(CHI2_P001[2]);
    // Without the exploration the two light operators would get (almost) nothing.
    expect(chiSquare(counts, expectedShares(weights, 0.04))).toBeGreaterThan(3 * CHI2_P001[2]);
  });

  it('costs two random() calls per draw, whatever the number of operators', () => {
    for (const n of [1, 10, 10_000]) {
      const route = routeOf(Array.from({ length: n }, (_, i) => i % 3), 0.05);
      let calls = 0;
      const random = seededRandom(n);
      const counting = () => (calls++, random());
      for (let i = 0; i < 1000; i++) route.draw(counting);
      expect(calls).toBe(2000);
    }
  });

  it('never draws a zero weight without exploration, even at the extremes of the random source', () => {
    const weights = [0, 1, 0, 2, 0];
    const route = routeOf(weights, 0);
    for (const value of [0, 2 ** -53, 0.5, 1 - 2 ** -32, 1 - 2 ** -53]) {
      const pick = route.draw(() => value)!;
      expect([1, 3]).toContain(pick.index);
    }
    for (let column = 0; column < weights.length; column++) {
      for (const coin of [0, 1 - 2 ** -53]) {
        const values = [(column + 0.5) / weights.length, coin];
        expect([1, 3]).toContain(route.draw(() => values.shift()!)!.index);
      }
    }
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
