/**
 * Property tests of the served-tip rule (quorum of the voters' heads, held against going back),
 * through ChainState and against a model of the voters the test keeps itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChainState } from '../../../src/chain/chain-state.js';
import { quorumHeight } from '../../../src/chain/served-height.js';

const HOLD_MS = 1000;

/** The two highest of `heights` (at least two), highest first. */
function topTwo(heights: readonly number[]): [number, number] {
  const sorted = [...heights].sort((a, b) => b - a);
  return [sorted[0]!, sorted[1]!];
}

const height = fc.oneof(fc.nat({ max: 300 }), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER));

describe('one operator cannot move the served tip', () => {
  it('with three or more voting, it lies between the highest and the second highest of the others, whatever the one reports', () => {
    fc.assert(
      fc.property(fc.array(height, { minLength: 3, maxLength: 9 }), fc.nat(), height, (heads, pick, anything) => {
        const one = pick % heads.length;
        const others = heads.filter((_, i) => i !== one);
        const [highest, second] = topTwo(others);
        const state = new ChainState('c', { maxBlockLag: 2, maxLagSeconds: 30, tipHoldMs: HOLD_MS, now: () => 0 });
        heads.forEach((h, i) => {
          state.addOperator(String(i));
          state.recordProbe(String(i), { reached: true, chainIdMatches: true, head: i === one ? anything : h });
        });
        state.update();
        expect(state.tip).toBeGreaterThanOrEqual(second);
        expect(state.tip).toBeLessThanOrEqual(highest);
      }),
    );
  });

  it('nor can it through a served tip already held: an operator set far ahead or stuck at zero by turns moves it no further than the others allow', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 2, maxLength: 6 }), fc.array(height, { minLength: 1, maxLength: 20 }), (honest, lies) => {
        const state = new ChainState('c', { maxBlockLag: 2, maxLagSeconds: 30, tipHoldMs: HOLD_MS, now: () => 0 });
        const ids = [...honest.keys()].map(String);
        for (const id of [...ids, 'liar']) state.addOperator(id);
        honest.forEach((h, i) => state.recordProbe(String(i), { reached: true, chainIdMatches: true, head: h }));
        const [highest, second] = topTwo(honest);
        for (const lie of lies) {
          state.recordProbe('liar', { reached: true, chainIdMatches: true, head: lie });
          state.update();
          // The clock stands still, so the hold keeps what was reached: never above the honest highest.
          expect(state.tip).toBeGreaterThanOrEqual(second);
          expect(state.tip).toBeLessThanOrEqual(highest);
        }
      }),
    );
  });
});

type Step =
  | { kind: 'probe'; op: number; head: number | null; chainIdMatches: boolean | null }
  | { kind: 'unreachable'; op: number }
  | { kind: 'answer'; op: number; head: number }
  | { kind: 'wait'; ms: number };

const step = (operators: number): fc.Arbitrary<Step> =>
  fc.oneof(
    fc.record({
      kind: fc.constant('probe' as const),
      op: fc.nat({ max: operators - 1 }),
      head: fc.oneof(height, fc.constant(null)),
      chainIdMatches: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constantFrom(false, null) }),
    }),
    fc.record({ kind: fc.constant('unreachable' as const), op: fc.nat({ max: operators - 1 }) }),
    fc.record({ kind: fc.constant('answer' as const), op: fc.nat({ max: operators - 1 }), head: height }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.nat({ max: HOLD_MS * 1.5 }) }),
  );

/** What the test itself knows of each operator, by the rules: probes replace heads, answers raise them. */
interface Model {
  voting: boolean;
  head: number | null;
}

function apply(state: ChainState, models: Model[], s: Step, clock: { now: number }): void {
  if (s.kind === 'wait') {
    clock.now += s.ms;
    return;
  }
  const model = models[s.op]!;
  const id = String(s.op);
  if (s.kind === 'probe') {
    state.recordProbe(id, { reached: true, chainIdMatches: s.chainIdMatches, head: s.head });
    model.voting = s.chainIdMatches === true;
    model.head = s.head;
  } else if (s.kind === 'unreachable') {
    state.recordProbe(id, { reached: false, chainIdMatches: null, head: null });
    model.voting = false;
  } else {
    state.recordAnswerHead(id, s.head);
    if (model.head === null || s.head > model.head) model.head = s.head;
  }
}

function modelQuorum(models: readonly Model[]): number | null {
  return quorumHeight(models.flatMap((m) => (m.voting && m.head !== null ? [m.head] : [])));
}

describe('the served tip never decreases while a majority holds', () => {
  it('when a majority of the voters are at or above it, an update does not lower it, whatever the time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.array(step(n), { maxLength: 60 }))),
        ([n, steps]) => {
          const clock = { now: 0 };
          const state = new ChainState('c', { maxBlockLag: 2, maxLagSeconds: 30, tipHoldMs: HOLD_MS, now: () => clock.now });
          const models: Model[] = Array.from({ length: n }, (_, i) => (state.addOperator(String(i)), { voting: false, head: null }));
          for (const s of steps) {
            apply(state, models, s, clock);
            const before = state.tip;
            const voters = models.filter((m) => m.voting && m.head !== null);
            const holding = before !== null && voters.filter((m) => m.head! >= before).length * 2 > voters.length;
            state.update();
            if (holding) expect(state.tip).toBeGreaterThanOrEqual(before);
          }
        },
      ),
    );
  });

  it('with every operator but one at a common rising head, nothing the one does, at any time, lowers it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 6 }),
        fc.array(fc.tuple(fc.nat({ max: 3 }), height, fc.nat({ max: HOLD_MS * 3 })), { maxLength: 40 }),
        (n, rounds) => {
          const clock = { now: 0 };
          const state = new ChainState('c', { maxBlockLag: 2, maxLagSeconds: 30, tipHoldMs: HOLD_MS, now: () => clock.now });
          for (let i = 0; i < n; i++) state.addOperator(String(i));
          let common = 0;
          let previous: number | null = null;
          for (const [rise, lie, wait] of rounds) {
            common += rise;
            clock.now += wait;
            for (let i = 1; i < n; i++) state.recordProbe(String(i), { reached: true, chainIdMatches: true, head: common });
            state.recordProbe('0', { reached: true, chainIdMatches: true, head: lie });
            state.update();
            expect(state.tip).toBe(common);
            if (previous !== null) expect(state.tip).toBeGreaterThanOrEqual(previous);
            previous = state.tip;
          }
        },
      ),
    );
  });

  it('goes back only once the quorum has been below it at every update for tipHoldMs, and then to the quorum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(fc.constant(n), fc.array(step(n), { maxLength: 80 }))),
        ([n, steps]) => {
          const clock = { now: 0 };
          const state = new ChainState('c', { maxBlockLag: 2, maxLagSeconds: 30, tipHoldMs: HOLD_MS, now: () => clock.now });
          const models: Model[] = Array.from({ length: n }, (_, i) => (state.addOperator(String(i)), { voting: false, head: null }));
          let belowSince: number | undefined;
          for (const s of steps) {
            apply(state, models, s, clock);
            const before = state.tip;
            const quorum = modelQuorum(models);
            if (quorum !== null && before !== null && quorum < before) belowSince ??= clock.now;
            else belowSince = undefined;
            state.update();
            const after = state.tip;
            if (quorum !== null) expect(after).toBeGreaterThanOrEqual(quorum);
            if (before === null || after === null) continue;
            if (after > before) expect(after).toBe(quorum);
            if (after < before) {
              expect(belowSince).toBeDefined();
              expect(clock.now - belowSince!).toBeGreaterThanOrEqual(HOLD_MS);
              expect(after).toBe(quorum);
              belowSince = undefined;
            }
            if (quorum !== null && quorum < before && clock.now - (belowSince ?? clock.now) >= HOLD_MS) expect(after).toBe(quorum);
          }
        },
      ),
    );
  });
});
