/**
 * The ledger's pure functions under random sequences of stake / unstake / release / slash:
 * the balances always equal the replay of the events, nothing is created or lost, nothing
 * goes negative, and a slash reaches unbonding stake but never released stake.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Change, LedgerError, newOperatorState, release, replay, slash, type SlashOrder, stake, unstake } from '../../../src/staking/ledger.js';
import { type LedgerEvent, type OperatorState, unbondingTotal } from '../../../src/staking/records.js';

const T0 = 1_700_000_000_000;
const fresh = (): OperatorState =>
  newOperatorState({ id: 'op-1', walletAddress: '0x742D35CC6634c0532925A3b844BC9E7595F0BEb0', url: 'http://op-1', chain: 'ethereum', now: T0 });

let orderSeq = 0;
const order = (bps: number, extra: Partial<SlashOrder> = {}): SlashOrder => ({
  violationId: `v-${++orderSeq}`,
  bps,
  type: 'bad_data',
  severity: 'medium',
  reason: 'test',
  ...extra,
});

function expectLedgerError(fn: () => unknown, code: LedgerError['code']): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LedgerError);
  expect((caught as LedgerError).code).toBe(code);
}

// ── Random operation sequences ──────────────────────────────────────────────────

type Op =
  | { kind: 'stake'; amount: bigint }
  | { kind: 'unstake'; fraction: number; overshoot: bigint; periodMs: number }
  | { kind: 'release' }
  | { kind: 'slash'; bps: number };

const opArb: fc.Arbitrary<{ dt: number; op: Op }> = fc.record({
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 10_000, max: 10_000_000 })),
  op: fc.oneof(
    fc.record({ kind: fc.constant('stake' as const), amount: fc.bigInt({ min: 1n, max: 10n ** 21n }) }),
    fc.record({
      kind: fc.constant('unstake' as const),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
      // Usually 0 (within active); sometimes more than active, which must be refused.
      overshoot: fc.oneof({ weight: 4, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: 10n ** 6n }) }),
      periodMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 100_000, max: 50_000_000 })),
    }),
    fc.record({ kind: fc.constant('release' as const) }),
    fc.record({ kind: fc.constant('slash' as const), bps: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(0, 1, 9_999, 10_000)) }),
  ),
});

interface Run {
  state: OperatorState;
  events: LedgerEvent[];
  totalStaked: bigint;
  now: number;
}

function balancesOf(s: OperatorState) {
  return { active: s.active, unbonding: unbondingTotal(s), withdrawable: s.withdrawable, slashed: s.slashed };
}

function checkInvariants(run: Run): void {
  const { state } = run;
  // Conservation: the state is the replay of its events, and every wei staked is somewhere.
  expect(replay(run.events)).toEqual(balancesOf(state));
  expect(state.active + unbondingTotal(state) + state.withdrawable + state.slashed).toBe(run.totalStaked);
  // Never negative; unbonding entries are all positive.
  expect(state.active >= 0n).toBe(true);
  expect(state.withdrawable >= 0n).toBe(true);
  expect(state.slashed >= 0n).toBe(true);
  for (const u of state.unbonding) expect(u.amount > 0n).toBe(true);
  for (const e of run.events) {
    expect(e.amount > 0n).toBe(true);
    expect(e.operatorId).toBe(state.id);
    if (e.type === 'slash') {
      expect(e.fromActive! >= 0n && e.fromUnbonding! >= 0n).toBe(true);
      expect(e.fromActive! + e.fromUnbonding!).toBe(e.amount);
    }
  }
}

function apply(run: Run, step: { dt: number; op: Op }): void {
  run.now += step.dt;
  const before = run.state;
  const { op } = step;
  let change: Change;
  switch (op.kind) {
    case 'stake':
      change = stake(before, op.amount, run.now);
      expect(change.state.active).toBe(before.active + op.amount);
      run.totalStaked += op.amount;
      break;
    case 'unstake': {
      const within = BigInt(Math.floor(Number(before.active) * op.fraction));
      const amount = (within > before.active ? before.active : within) + op.overshoot;
      if (amount > before.active) {
        const snapshot = structuredClone(before);
        expectLedgerError(() => unstake(before, amount, run.now, op.periodMs), 'INSUFFICIENT_STAKE');
        expect(before).toEqual(snapshot);
        return;
      }
      if (amount <= 0n) {
        expectLedgerError(() => unstake(before, amount, run.now, op.periodMs), 'INVALID_AMOUNT');
        return;
      }
      change = unstake(before, amount, run.now, op.periodMs);
      expect(change.state.active).toBe(before.active - amount);
      if (op.periodMs === 0) {
        // Released at once: the amount is withdrawable straight away.
        expect(change.state.withdrawable >= before.withdrawable + amount).toBe(true);
        expect(change.state.unbonding.some((u) => u.releaseAt <= run.now)).toBe(false);
      }
      break;
    }
    case 'release':
      change = release(before, run.now);
      expect(change.state.unbonding.every((u) => u.releaseAt > run.now)).toBe(true);
      expect(change.state.active).toBe(before.active);
      break;
    case 'slash': {
      change = slash(before, order(op.bps), run.now);
      const slashable = before.active + unbondingTotal(before);
      const expected = (slashable * BigInt(op.bps)) / 10_000n;
      expect(change.state.slashed - before.slashed).toBe(expected);
      // Released stake is out of reach.
      expect(change.state.withdrawable).toBe(before.withdrawable);
      const event = change.events[0];
      if (expected === 0n) {
        expect(change.events).toHaveLength(0);
      } else {
        // Active first: unbonding is touched only once active is gone.
        expect(event!.fromActive).toBe(expected <= before.active ? expected : before.active);
        if (event!.fromUnbonding! > 0n) expect(change.state.active).toBe(0n);
        expect(event!.amount).toBe(expected);
      }
      break;
    }
  }
  run.state = change.state;
  run.events.push(...change.events);
}

describe('ledger: random sequences', () => {
  it('conserves stake: replay equals the state, and staked = active + unbonding + withdrawable + slashed', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (steps) => {
        const run: Run = { state: fresh(), events: [], totalStaked: 0n, now: T0 };
        for (const step of steps) {
          apply(run, step);
          checkInvariants(run);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to unstake more than active and leaves the state as it was', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.bigInt({ min: 1n, max: 10n ** 20n }), fc.nat(1_000_000), (active, extra, period) => {
        const base = active > 0n ? stake(fresh(), active, T0).state : fresh();
        const snapshot = structuredClone(base);
        expectLedgerError(() => unstake(base, active + extra, T0 + 1, period), 'INSUFFICIENT_STAKE');
        expect(base).toEqual(snapshot);
      }),
    );
  });

  it('refuses non-positive amounts', () => {
    const s = stake(fresh(), 100n, T0).state;
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 0n }), (amount) => {
        expectLedgerError(() => stake(s, amount, T0), 'INVALID_AMOUNT');
        expectLedgerError(() => unstake(s, amount, T0, 0), 'INVALID_AMOUNT');
      }),
    );
    expectLedgerError(() => slash(s, order(-1), T0), 'INVALID_AMOUNT');
    expectLedgerError(() => slash(s, order(10_001), T0), 'INVALID_AMOUNT');
    expectLedgerError(() => slash(s, order(1.5), T0), 'INVALID_AMOUNT');
    expectLedgerError(() => slash(s, order(Number.NaN), T0), 'INVALID_AMOUNT');
  });

  it('slash events always split into fromActive + fromUnbonding = amount, active first', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 10_000 }),
        (staked, fraction, bps) => {
          const s1 = stake(fresh(), staked, T0).state;
          const out = BigInt(Math.floor(Number(staked) * fraction));
          const s2 = out > 0n && out <= staked ? unstake(s1, out, T0, 3_600_000).state : s1;
          const { state, events } = slash(s2, order(bps), T0 + 1);
          const amount = ((s2.active + unbondingTotal(s2)) * BigInt(bps)) / 10_000n;
          if (amount === 0n) {
            expect(events).toEqual([]);
            expect(state).toBe(s2);
            return;
          }
          const e = events[0]!;
          expect(e.type).toBe('slash');
          expect(e.fromActive! + e.fromUnbonding!).toBe(e.amount);
          expect(e.fromActive).toBe(amount < s2.active ? amount : s2.active);
          expect(state.active).toBe(s2.active - e.fromActive!);
          expect(unbondingTotal(state)).toBe(unbondingTotal(s2) - e.fromUnbonding!);
        },
      ),
    );
  });
});

describe('ledger: examples', () => {
  it('unstaking cannot escape a slash: stake 100, unstake 100 (long period), slash 10 % takes 10 from unbonding', () => {
    const s1 = stake(fresh(), 100n, T0).state;
    const s2 = unstake(s1, 100n, T0, 7 * 24 * 3600_000).state;
    expect(s2.active).toBe(0n);
    expect(unbondingTotal(s2)).toBe(100n);
    const { state, events } = slash(s2, order(1_000, { violationId: 'op-1:bad_data:medium:1' }), T0 + 1);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: 'op-1:bad_data:medium:1', type: 'slash', amount: 10n, fromActive: 0n, fromUnbonding: 10n });
    expect(state.active).toBe(0n);
    expect(unbondingTotal(state)).toBe(90n);
    expect(state.slashed).toBe(10n);
  });

  it('takes active before unbonding, and from the unbonding entries that release last', () => {
    let s = stake(fresh(), 100n, T0).state;
    s = unstake(s, 30n, T0, 1_000).state; // releases at T0 + 1000
    s = unstake(s, 30n, T0, 5_000).state; // releases at T0 + 5000
    expect(s.active).toBe(40n);
    // 50 % of 100 slashable = 50: 40 from active, 10 from the entry releasing last.
    const { state, events } = slash(s, order(5_000), T0 + 1);
    expect(events[0]).toMatchObject({ amount: 50n, fromActive: 40n, fromUnbonding: 10n });
    expect(state.active).toBe(0n);
    expect(state.unbonding).toEqual([
      { amount: 30n, releaseAt: T0 + 1_000 },
      { amount: 20n, releaseAt: T0 + 5_000 },
    ]);
  });

  it('puts released stake out of reach of slashing', () => {
    let s = stake(fresh(), 100n, T0).state;
    s = unstake(s, 60n, T0, 1_000).state;
    s = release(s, T0 + 1_000).state;
    expect(s.withdrawable).toBe(60n);
    expect(s.unbonding).toEqual([]);
    const { state, events } = slash(s, order(10_000), T0 + 2_000);
    expect(events[0]).toMatchObject({ amount: 40n, fromActive: 40n, fromUnbonding: 0n });
    expect(state.withdrawable).toBe(60n);
    expect(state.active).toBe(0n);
    // Nothing left to slash: a further slash does nothing.
    const again = slash(state, order(10_000), T0 + 3_000);
    expect(again.events).toEqual([]);
    expect(again.state.withdrawable).toBe(60n);
  });

  it('releases with a zero unbonding period at once, and not before releaseAt otherwise', () => {
    const s1 = stake(fresh(), 100n, T0).state;
    const zero = unstake(s1, 40n, T0, 0);
    expect(zero.events.map((e) => e.type)).toEqual(['unstake', 'release']);
    expect(zero.state).toMatchObject({ active: 60n, withdrawable: 40n, unbonding: [] });

    const later = unstake(s1, 40n, T0, 10_000).state;
    expect(release(later, T0 + 9_999).events).toEqual([]);
    const done = release(later, T0 + 10_000);
    expect(done.events).toMatchObject([{ type: 'release', amount: 40n }]);
    expect(done.state).toMatchObject({ withdrawable: 40n, unbonding: [] });
  });

  it('uses the violation id as the slash event id', () => {
    const s = stake(fresh(), 1_000n, T0).state;
    const { events } = slash(s, order(200, { violationId: 'op-1:downtime:critical:42', type: 'downtime', severity: 'critical', evidence: { x: 1 } }), T0);
    expect(events[0]).toMatchObject({ id: 'op-1:downtime:critical:42', violationType: 'downtime', severity: 'critical', amount: 20n, evidence: { x: 1 } });
  });
});
