/**
 * Chain-aware operator sets: which operators a request may go to, by the block it needs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NEED_ANY, NEED_FINALIZED, NEED_SAFE, NEED_TIP } from '../../../src/router/block-need.js';
import { ChainRoute, type OperatorRef, ROUTED_ANYWHERE, ROUTING_REASON } from '../../../src/router/routing-table.js';
import type { Upstream } from '../../../src/router/upstream.js';
import { ChainReads } from '../../../src/router/chain-reads.js';

const ref = (index: number): OperatorRef => ({ id: `op${index}`, index, chain: 'ethereum', upstream: {} as Upstream });
const ids = (ops: readonly OperatorRef[]) => ops.map((o) => o.id).sort();
const HEIGHTS = { tip: 100, safe: 90, finalized: 80, maxBlockLag: 2 };

/** Three operators: two at the tip (100, 101), one lagging at 95. */
function lagging(): ChainRoute {
  return new ChainRoute(
    'ethereum',
    [
      { operator: ref(0), weight: 1, head: 100, atTip: true },
      { operator: ref(1), weight: 1, head: 101, atTip: true },
      { operator: ref(2), weight: 1, head: 95, atTip: false },
    ],
    0.05,
    HEIGHTS,
  );
}

describe('ChainRoute.setFor', () => {
  it('without heights (chain-aware routing off) every need draws from the whole route', () => {
    const route = new ChainRoute('ethereum', [{ operator: ref(0), weight: 1, head: 1, atTip: false }], 0);
    for (const need of [NEED_ANY, NEED_TIP, NEED_SAFE, 5, Number.MAX_SAFE_INTEGER]) expect(route.setFor(need)).toBe(route);
  });

  it('head-sensitive requests go only to operators at the tip', () => {
    const route = lagging();
    const set = route.setFor(NEED_TIP);
    expect(ids(set.operators)).toEqual(['op0', 'op1']);
    expect(set.reason).toBe(ROUTING_REASON.tip_only);
    expect(route.setFor(NEED_ANY)).toBe(route);
    expect(route.reason).toBe(ROUTED_ANYWHERE);
  });

  it('a numbered block goes to the widest set whose every operator has reached it', () => {
    const route = lagging();
    expect(route.setFor(0)).toBe(route);
    expect(route.setFor(95)).toBe(route);
    expect(ids(route.setFor(96).operators)).toEqual(['op0', 'op1']);
    expect(route.setFor(96).reason).toBe(ROUTING_REASON.block_level);
    expect(ids(route.setFor(100).operators)).toEqual(['op0', 'op1']);
    expect(ids(route.setFor(101).operators)).toEqual(['op1']);
  });

  it('a block beyond every head goes to the highest operators, counted as best effort', () => {
    const route = lagging();
    const set = route.setFor(102);
    expect(ids(set.operators)).toEqual(['op1']);
    expect(set.reason).toBe(ROUTING_REASON.best_effort);
    expect(route.setFor(Number.MAX_SAFE_INTEGER)).toBe(set);
  });

  it('safe and finalized resolve to the chain\'s served heights; unknown ones to the whole route', () => {
    const route = lagging();
    expect(route.setFor(NEED_SAFE)).toBe(route);
    expect(route.setFor(NEED_FINALIZED)).toBe(route);
    const high = new ChainRoute('ethereum', [{ operator: ref(0), weight: 1, head: 100 }, { operator: ref(1), weight: 1, head: 50 }], 0, { ...HEIGHTS, safe: 99, finalized: -1 });
    expect(ids(high.setFor(NEED_SAFE).operators)).toEqual(['op0']);
    expect(high.setFor(NEED_FINALIZED)).toBe(high);
  });

  it('every operator lagging: head-sensitive requests go to the highest ones rather than nowhere', () => {
    const route = new ChainRoute('ethereum', [{ operator: ref(0), weight: 1, head: 90, atTip: false }, { operator: ref(1), weight: 1, head: 80, atTip: false }], 0, HEIGHTS);
    const set = route.setFor(NEED_TIP);
    expect(ids(set.operators)).toEqual(['op0']);
    expect(set.reason).toBe(ROUTING_REASON.best_effort);
  });

  it('a chain with one operator serves everything from it', () => {
    const route = new ChainRoute('ethereum', [{ operator: ref(0), weight: 1, head: 100, atTip: true }], 0, HEIGHTS);
    for (const need of [NEED_ANY, NEED_TIP, 0, 100]) expect(route.setFor(need)).toBe(route);
    expect(ids(route.setFor(101).operators)).toEqual(['op0']);
  });

  it('property: a set for block n holds exactly the operators whose head is >= n, when any has it', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 12 }), fc.nat(60), (heads, n) => {
        const route = new ChainRoute('ethereum', heads.map((head, i) => ({ operator: ref(i), weight: 1 + i, head })), 0.05, { ...HEIGHTS, tip: Math.max(...heads) });
        const set = route.setFor(n);
        const having = heads.flatMap((h, i) => (h >= n ? [`op${i}`] : []));
        const top = Math.max(...heads);
        const expected = having.length > 0 ? having : heads.flatMap((h, i) => (h === top ? [`op${i}`] : []));
        expect(ids(set.operators)).toEqual(expected.sort());
      }),
    );
  });
});

describe('ChainReads.blockNumber (monotonic eth_blockNumber)', () => {
  it('never answers below what it returned within the hold, nor below the served tip', () => {
    let now = 0;
    const reads = new ChainReads({ holdMs: 60_000, readAfterWriteMs: 5_000 }, () => now);
    expect(reads.blockNumber('eth', 100, 100, 2)).toBe(100);
    expect(reads.blockNumber('eth', 102, 100, 2)).toBe(102);
    expect(reads.blockNumber('eth', 99, 100, 2)).toBe(102);
    now += 59_000;
    expect(reads.blockNumber('eth', 101, 101, 2)).toBe(102);
    // The last return of 102 refreshed the hold; once it has run out the tip is the floor again.
    now += 61_000;
    expect(reads.blockNumber('eth', 90, 95, 2)).toBe(95);
  });

  it('one operator claiming a far-future block moves the answer at most maxBlockLag above the tip', () => {
    const reads = new ChainReads({ holdMs: 60_000, readAfterWriteMs: 5_000 }, () => 0);
    expect(reads.blockNumber('eth', 1_000_000, 100, 2)).toBe(102);
    expect(reads.blockNumber('eth', 100, 100, 2)).toBe(102);
  });

  it('without a served tip the operator\'s number goes through, still never backwards', () => {
    const reads = new ChainReads({ holdMs: 60_000, readAfterWriteMs: 5_000 }, () => 0);
    expect(reads.blockNumber('eth', 7, -1, 2)).toBe(7);
    expect(reads.blockNumber('eth', 5, -1, 2)).toBe(7);
  });

  it('property: within the hold, the answers never decrease', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(1000), fc.integer({ min: -1, max: 1000 })), { minLength: 1, maxLength: 50 }), (steps) => {
        const reads = new ChainReads({ holdMs: 60_000, readAfterWriteMs: 5_000 }, () => 0);
        let last = -Infinity;
        for (const [reported, tip] of steps) {
          const answer = reads.blockNumber('eth', reported, tip, 2);
          expect(answer).toBeGreaterThanOrEqual(last);
          last = answer;
        }
      }),
    );
  });
});

describe('ChainReads read-after-write memory', () => {
  it('remembers who accepted a transaction for readAfterWriteMs, case-insensitively, then forgets', () => {
    let now = 0;
    const reads = new ChainReads({ holdMs: 60_000, readAfterWriteMs: 5_000 }, () => now);
    reads.accepted('0xABCD', ref(3));
    expect(reads.acceptedBy('0xabcd')?.id).toBe('op3');
    expect(reads.acceptedBy(42)).toBeUndefined();
    now = 5_001;
    expect(reads.acceptedBy('0xabcd')).toBeUndefined();
  });

  it('holds at most 10,000 transactions: the oldest go first', () => {
    const reads = new ChainReads({ holdMs: 60_000, readAfterWriteMs: 5_000 }, () => 0);
    for (let i = 0; i <= 10_000; i++) reads.accepted(`0x${i.toString(16)}`, ref(0));
    expect(reads.acceptedBy('0x0')).toBeUndefined();
    expect(reads.acceptedBy(`0x${(10_000).toString(16)}`)?.id).toBe('op0');
  });
});
