import { describe, expect, it } from 'vitest';
import { ChainState, type ChainStateOptions, type ProbeReport } from '../../../src/chain/chain-state.js';
import { MAX_HEIGHTS } from '../../../src/chain/tip-history.js';

/** A chain state on a clock the test moves by hand. */
function chainWith(ids: readonly string[], options: Partial<ChainStateOptions> = {}) {
  const clock = { now: 1_000_000 };
  const state = new ChainState('ethereum', { maxBlockLag: 2, maxLagSeconds: 30, tipHoldMs: 60_000, now: () => clock.now, ...options });
  for (const id of ids) state.addOperator(id);
  return { state, clock };
}

const ok = (head: number | null, extra: Partial<ProbeReport> = {}): ProbeReport => ({ reached: true, chainIdMatches: true, head, ...extra });
const UNREACHABLE: ProbeReport = { reached: false, chainIdMatches: null, head: null };

/** One probe of each operator (`heads[i]` for `ids[i]`), then update(). */
function probeAll(state: ChainState, heads: Record<string, number | null>): boolean {
  for (const [id, head] of Object.entries(heads)) state.recordProbe(id, ok(head));
  return state.update();
}

describe('served tip', () => {
  it('is the only operator’s head when one votes, the second highest when more do', () => {
    const { state } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100 });
    expect(state.tip).toBe(100);
    probeAll(state, { b: 120, c: 110 });
    expect(state.tip).toBe(110);
  });

  it('counts only operators reached by their last probe whose chain id it confirmed', () => {
    const { state } = chainWith(['a', 'b', 'c', 'd']);
    probeAll(state, { a: 100, b: 100 });
    state.recordProbe('c', { reached: true, chainIdMatches: false, head: 5000 });
    state.recordProbe('d', { reached: true, chainIdMatches: null, head: 5000 });
    state.update();
    expect(state.tip).toBe(100);
    probeAll(state, { c: 5000, d: 5000 });
    expect(state.tip).toBe(5000);
  });

  it('is neither raised by one operator claiming far ahead nor held back by one stuck low', () => {
    const { state } = chainWith(['honest1', 'honest2', 'liar']);
    probeAll(state, { honest1: 100, honest2: 101, liar: 1_000_000 });
    expect(state.tip).toBe(101);
    probeAll(state, { honest1: 110, honest2: 111, liar: 3 });
    expect(state.tip).toBe(110);
  });

  it('does not go back until the quorum has been below it for tipHoldMs, then takes the lower height (a reset)', () => {
    const { state, clock } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 100, c: 100 });
    probeAll(state, { a: 90, b: 90, c: 90 });
    expect(state.tip).toBe(100);
    clock.now += 59_999;
    state.update();
    expect(state.tip).toBe(100);
    clock.now += 1;
    expect(state.update()).toBe(true);
    expect(state.tip).toBe(90);
  });

  it('restarts the hold when the quorum comes back to the tip in between', () => {
    const { state, clock } = chainWith(['a']);
    probeAll(state, { a: 100 });
    probeAll(state, { a: 90 });
    clock.now += 40_000;
    probeAll(state, { a: 100 });
    probeAll(state, { a: 90 });
    clock.now += 40_000;
    state.update();
    expect(state.tip).toBe(100);
  });

  it('stays where it is when nobody votes', () => {
    const { state, clock } = chainWith(['a']);
    probeAll(state, { a: 100 });
    state.recordProbe('a', UNREACHABLE);
    clock.now += 3_600_000;
    state.update();
    expect(state.tip).toBe(100);
  });

  it('is null before any head', () => {
    const { state } = chainWith(['a']);
    expect(state.update()).toBe(true); // the operator joined
    expect(state.tip).toBeNull();
    expect(state.update()).toBe(false);
  });
});

describe('safe and finalized', () => {
  it('take the same quorum over the operators that report them, and are null when none does', () => {
    const { state } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 100, c: 100 });
    expect(state.safe).toBeNull();
    expect(state.finalized).toBeNull();
    state.recordProbe('a', ok(100, { safe: 90, finalized: 60 }));
    state.update();
    expect([state.safe, state.finalized]).toEqual([90, 60]);
    state.recordProbe('b', ok(100, { safe: 95, finalized: 70 }));
    state.recordProbe('c', ok(100, { safe: 1_000_000, finalized: 1_000_000 }));
    state.update();
    expect([state.safe, state.finalized]).toEqual([95, 70]);
  });

  it('are kept by a probe that did not ask for them and forgotten by one that asked and got nothing valid', () => {
    const { state } = chainWith(['a']);
    state.recordProbe('a', ok(100, { safe: 90, finalized: 60 }));
    state.update();
    state.recordProbe('a', ok(101));
    state.update();
    expect(state.view('a')).toMatchObject({ safe: 90, finalized: 60 });
    state.recordProbe('a', ok(102, { safe: null, finalized: -1 }));
    expect(state.view('a')).toMatchObject({ safe: null, finalized: null });
  });

  it('are held against going back like the tip', () => {
    const { state, clock } = chainWith(['a']);
    state.recordProbe('a', ok(100, { safe: 90, finalized: 60 }));
    state.update();
    state.recordProbe('a', ok(100, { safe: 80, finalized: 50 }));
    state.update();
    expect([state.safe, state.finalized]).toEqual([90, 60]);
    clock.now += 60_000;
    state.update();
    expect([state.safe, state.finalized]).toEqual([80, 50]);
  });

  it('are served no higher than the tip, finalized no higher than safe', () => {
    const { state } = chainWith(['a']);
    state.recordProbe('a', ok(100, { safe: 120, finalized: 130 }));
    state.update();
    expect([state.tip, state.safe, state.finalized]).toEqual([100, 100, 100]);
    state.recordProbe('a', ok(100, { safe: 90, finalized: 95 }));
    state.update();
    // Held at 120 and 130 (the hold), read through the tip and safe.
    expect([state.safe, state.finalized]).toEqual([100, 100]);
  });
});

describe('heads', () => {
  it('from a probe replace the head, lower included; from an answer only raise it', () => {
    const { state } = chainWith(['a']);
    probeAll(state, { a: 100 });
    state.recordAnswerHead('a', 105);
    expect(state.view('a')!.head).toBe(105);
    state.recordAnswerHead('a', 50);
    expect(state.view('a')!.head).toBe(105);
    state.recordProbe('a', ok(80));
    expect(state.view('a')!.head).toBe(80);
  });

  it('ignore what is not a non-negative safe integer', () => {
    const { state } = chainWith(['a']);
    probeAll(state, { a: 100 });
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) state.recordAnswerHead('a', bad);
    expect(state.view('a')!.head).toBe(100);
    state.recordProbe('a', ok(2 ** 53));
    expect(state.view('a')!.head).toBeNull();
  });

  it('are kept by a probe that did not ask for the head, and dated by who reported them', () => {
    const { state, clock } = chainWith(['a']);
    probeAll(state, { a: 100 });
    const probedAt = clock.now;
    clock.now += 1000;
    state.recordProbe('a', { reached: true, chainIdMatches: true });
    expect(state.view('a')).toMatchObject({ head: 100, headAt: probedAt, answerHeadAt: null });
    state.recordAnswerHead('a', 101);
    expect(state.view('a')).toMatchObject({ head: 101, headAt: clock.now, answerHeadAt: clock.now });
  });

  it('of operators never added are ignored', () => {
    const { state } = chainWith(['a']);
    state.recordProbe('ghost', ok(100));
    state.recordAnswerHead('ghost', 100);
    state.revoke('ghost', 'jailed');
    state.update();
    expect(state.tip).toBeNull();
    expect(state.view('ghost')).toBeUndefined();
  });
});

describe('admission', () => {
  it('starts as awaiting_probe and comes with a probe that reached it, confirmed the chain and found it near the tip', () => {
    const { state } = chainWith(['a', 'b', 'c']);
    state.update();
    expect(state.view('a')).toMatchObject({ admitted: false, reason: 'awaiting_probe', routingHead: -1, atTip: false });
    probeAll(state, { a: 100, b: 98, c: 95 });
    expect(state.view('a')).toMatchObject({ admitted: true, reason: null, atTip: true, routingHead: 100 });
    expect(state.view('b')).toMatchObject({ admitted: true, atTip: true });
    expect(state.view('c')).toMatchObject({ admitted: false, reason: 'lagging', routingHead: -1 });
  });

  it('is judged against the tip computed with the operator voting', () => {
    const { state } = chainWith(['a']);
    probeAll(state, { a: 7 });
    expect(state.view('a')!.admitted).toBe(true);
  });

  it('is not given on a probe whose chain id answer was invalid', () => {
    const { state } = chainWith(['a']);
    state.recordProbe('a', { reached: true, chainIdMatches: null, head: 100 });
    state.update();
    expect(state.view('a')).toMatchObject({ admitted: false, reason: 'awaiting_probe' });
  });

  it.each([
    ['unreachable', (s: ChainState) => s.recordProbe('a', UNREACHABLE)],
    ['wrong_chain', (s: ChainState) => s.recordProbe('a', { reached: true, chainIdMatches: false, head: 100 })],
    ['jailed', (s: ChainState) => s.revoke('a', 'jailed')],
  ] as const)('is taken away at once (%s), and given back only by a later probe that meets the rule', (reason, takeAway) => {
    const { state } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 100, c: 100 });
    takeAway(state);
    expect(state.view('a')).toMatchObject({ admitted: false, reason, routingHead: -1, atTip: false });
    expect(state.update()).toBe(true);
    // An answer's head does not admit it; nor does an update without a probe.
    state.recordAnswerHead('a', 101);
    state.update();
    expect(state.view('a')!.admitted).toBe(false);
    // A probe that finds it lagging does not either.
    probeAll(state, { a: 90, b: 100, c: 100 });
    expect(state.view('a')).toMatchObject({ admitted: false, reason: 'lagging' });
    probeAll(state, { a: 100 });
    expect(state.view('a')).toMatchObject({ admitted: true, reason: null });
  });

  it('is not given by a probe recorded before a revocation', () => {
    const { state } = chainWith(['a']);
    state.recordProbe('a', ok(100));
    state.revoke('a', 'jailed');
    state.update();
    expect(state.view('a')).toMatchObject({ admitted: false, reason: 'jailed' });
  });

  it('stays with an operator that falls behind, which is then not at the tip', () => {
    const { state } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 100, c: 100 });
    probeAll(state, { a: 100, b: 110, c: 110 });
    expect(state.view('a')).toMatchObject({ admitted: true, atTip: false, lagBlocks: 10, routingHead: 100 });
  });

  it('is counted once per change of state, by the state entered', () => {
    const { state } = chainWith(['a', 'b']);
    probeAll(state, { a: 100, b: 100 });
    probeAll(state, { a: 100, b: 100 });
    state.recordProbe('a', UNREACHABLE);
    state.recordProbe('a', UNREACHABLE);
    state.revoke('b', 'jailed');
    expect(Object.fromEntries(state.takeAdmissionCounts())).toEqual({ awaiting_probe: 2, admitted: 2, unreachable: 1, jailed: 1 });
    expect(state.takeAdmissionCounts().size).toBe(0);
  });
});

describe('lag', () => {
  it('in blocks is how far the head is below the tip, never negative', () => {
    const { state } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 101, c: 120 });
    expect(state.view('a')!.lagBlocks).toBe(1);
    expect(state.view('c')!.lagBlocks).toBe(0);
  });

  it('in seconds is the time since the served tip first passed the head', () => {
    const { state, clock } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 100, c: 100 });
    clock.now += 12_000;
    probeAll(state, { b: 101, c: 101 });
    clock.now += 12_000;
    probeAll(state, { b: 103, c: 103 });
    clock.now += 5_000;
    state.update();
    // The tip reached 101 (passing a's 100) 17 s ago.
    expect(state.view('a')).toMatchObject({ lagBlocks: 3, lagSeconds: 17 });
    state.recordAnswerHead('a', 102);
    // It reached 103 (passing 102) 5 s ago.
    expect(state.view('a')!.lagSeconds).toBe(5);
    state.recordAnswerHead('a', 103);
    expect(state.view('a')!.lagSeconds).toBe(0);
  });

  it('in seconds reads a head older than what is kept as passed at the oldest kept time', () => {
    const { state, clock } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 0, b: 0, c: 0 });
    const start = clock.now;
    const top = MAX_HEIGHTS + 10;
    for (let h = 1; h <= top; h++) {
      clock.now += 1000;
      probeAll(state, { b: h, c: h });
    }
    expect(state.tip).toBe(top);
    // The tip passed a's head (reached 1) at start + 1 s, but only heights 11..top are kept:
    // the oldest kept one, 11, was reached at start + 11 s.
    expect(state.view('a')!.lagSeconds).toBe((clock.now - (start + 11_000)) / 1000);
  });

  it('beyond maxLagSeconds takes an operator off the tip even within maxBlockLag', () => {
    const { state, clock } = chainWith(['a', 'b', 'c']);
    probeAll(state, { a: 100, b: 100, c: 100 });
    probeAll(state, { b: 101, c: 101 });
    expect(state.view('a')!.atTip).toBe(true);
    clock.now += 30_001;
    expect(state.update()).toBe(true);
    expect(state.view('a')).toMatchObject({ atTip: false, lagBlocks: 1, admitted: true });
  });
});

describe('at the tip and routing head', () => {
  it('an operator claiming far ahead is admitted but not at the tip, and its routing head is capped', () => {
    const { state } = chainWith(['a', 'b', 'liar']);
    probeAll(state, { a: 100, b: 100, liar: 5000 });
    expect(state.view('liar')).toMatchObject({ admitted: true, atTip: false, routingHead: 102, lagBlocks: 0, lagSeconds: 0 });
  });

  it('an admitted operator whose probe got no valid head has no routing head', () => {
    const { state } = chainWith(['a', 'b']);
    probeAll(state, { a: 100, b: 100 });
    state.recordProbe('a', ok(null));
    expect(state.update()).toBe(true);
    expect(state.view('a')).toMatchObject({ admitted: true, atTip: false, routingHead: -1, head: null });
  });
});

describe('update()', () => {
  it('says whether anything routing reads changed', () => {
    const { state } = chainWith(['a', 'b']);
    expect(state.update()).toBe(true);
    expect(state.update()).toBe(false);
    expect(probeAll(state, { a: 100, b: 100 })).toBe(true);
    expect(probeAll(state, { a: 100, b: 100 })).toBe(false);
    state.recordAnswerHead('a', 101); // a's routing head moves (the tip does not: b is at 100)
    expect(state.update()).toBe(true);
    state.removeOperator('b');
    expect(state.update()).toBe(true);
    expect(state.tip).toBe(101);
  });
});

describe('block time', () => {
  it('is null before the served tip has advanced twice, then follows the advances', () => {
    const { state, clock } = chainWith(['a']);
    probeAll(state, { a: 100 });
    clock.now += 5_000; // the first sighting came at an arbitrary moment
    probeAll(state, { a: 101 });
    expect(state.blockTimeMs()).toBeNull();
    clock.now += 24_000;
    probeAll(state, { a: 103 });
    expect(state.blockTimeMs()).toBe(12_000);
    for (let i = 0; i < 50; i++) {
      clock.now += 2_000;
      probeAll(state, { a: 104 + i });
    }
    expect(state.blockTimeMs()).toBeCloseTo(2_000, 0);
  });
});
