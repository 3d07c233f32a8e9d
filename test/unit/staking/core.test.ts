import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WindowMetrics } from '../../../src/metrics/window-metrics.js';
import { testWindow, type WindowSpec } from '../../support/windows.js';
import { CoreError, DINInfrastructureCore, type WindowFindings } from '../../../src/staking/core.js';
import { replay } from '../../../src/staking/ledger.js';
import { MemoryStore } from '../../../src/staking/memory-store.js';
import { unbondingTotal } from '../../../src/staking/records.js';
import { DEFAULT_SLASHING } from '../../../src/staking/slashing-policy.js';
import type { PerformanceMetrics } from '../../../src/types.js';

const HOUR = 3600_000;
const MINUTE = 60_000;
/** On an hour boundary, so windows inside one hour share a violation period. */
const T0 = 472_222 * HOUR;
const WINDOW_MS = 30_000;
const ETH = 10n ** 18n;
const LOWER = '0x742d35cc6634c0532925a3b844bc9e7595f0beb0';
const UPPER = '0x742D35CC6634C0532925A3B844BC9E7595F0BEB0';
const CHECKSUMMED = '0x742D35CC6634c0532925A3b844BC9E7595F0BEb0';
const SEED_39_DIGITS = '0x742d35Cc6634C0532925a3b844Bc9e7595f0bEb';
const OTHER = '0x000000000000000000000000000000000000dead';

async function setup(options: { unbondingMs?: number; minStakeWei?: bigint } = {}) {
  const clock = { t: T0 };
  const store = new MemoryStore();
  const core = await DINInfrastructureCore.open({ store, now: () => clock.t, unbondingMs: options.unbondingMs ?? 7 * 24 * HOUR, minStakeWei: options.minStakeWei ?? ETH });
  return { core, store, clock };
}

/** A window of `operatorId` ending at `end`. */
function window(operatorId: string, end: number, spec: Omit<WindowSpec, 'operatorId' | 'start' | 'lengthMs'> = {}): WindowMetrics {
  return testWindow({ ...spec, operatorId, start: end - WINDOW_MS, lengthMs: WINDOW_MS });
}

const plain = (m: Partial<PerformanceMetrics> = {}): PerformanceMetrics => ({
  serviceId: 'rpc-service', successRate: 99.5, p95Latency: 200, p99Latency: 300, throughput: 13e9, uptime: 99.95, timestamp: T0, ...m,
});

const WRONG_CHAIN: WindowFindings = { badData: [], wrongChain: { expected: '0x1', reported: '0x5' } };

async function rejectsWith(promise: Promise<unknown>, code: CoreError['code']): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(CoreError);
  await expect(promise).rejects.toMatchObject({ code });
}

/** The store's events replay to the operator's balances. */
async function expectLedgerAddsUp(core: DINInfrastructureCore, id: string): Promise<void> {
  const s = core.state(id)!;
  expect(replay(await core.events({ operatorId: id }))).toEqual({ active: s.active, unbonding: unbondingTotal(s), withdrawable: s.withdrawable, slashed: s.slashed });
}

describe('registerOperator', () => {
  it('validates the operator id', async () => {
    const { core } = await setup();
    await rejectsWith(core.registerOperator('', LOWER), 'INVALID_INPUT');
    await rejectsWith(core.registerOperator('has space', LOWER), 'INVALID_INPUT');
    await rejectsWith(core.registerOperator('a/b', LOWER), 'INVALID_INPUT');
    await rejectsWith(core.registerOperator('x'.repeat(65), LOWER), 'INVALID_INPUT');
    await core.registerOperator('x'.repeat(64), LOWER);
    await core.registerOperator('op_1.a-b', OTHER);
    expect(core.status().totalOperators).toBe(2);
  });

  it("refuses the seed's 39-digit example address and a wrong mixed-case checksum", async () => {
    const { core } = await setup();
    await rejectsWith(core.registerOperator('op-1', SEED_39_DIGITS, ETH), 'INVALID_ADDRESS');
    // One letter's case flipped in a checksummed address.
    const badChecksum = CHECKSUMMED.slice(0, -2) + 'B0';
    expect(badChecksum).not.toBe(CHECKSUMMED);
    await rejectsWith(core.registerOperator('op-1', badChecksum), 'INVALID_ADDRESS');
    await rejectsWith(core.registerOperator('op-1', 'not an address'), 'INVALID_ADDRESS');
    await rejectsWith(core.registerOperator('op-1', `${LOWER}00`), 'INVALID_ADDRESS');
    await rejectsWith(core.registerOperator('op-1', LOWER.replace('0x', '0X')), 'INVALID_ADDRESS');
    expect(core.getOperator('op-1')).toBeUndefined();
    expect(await core.events()).toEqual([]);
  });

  it('accepts all-lowercase, all-uppercase and correctly checksummed addresses, and stores the checksummed form', async () => {
    const { core } = await setup();
    await core.registerOperator('lower', LOWER);
    await core.registerOperator('upper', UPPER);
    await core.registerOperator('mixed', CHECKSUMMED);
    for (const id of ['lower', 'upper', 'mixed']) expect(core.getOperator(id)!.walletAddress).toBe(CHECKSUMMED);
  });

  it('refuses a duplicate id and keeps the first registration', async () => {
    const { core } = await setup();
    await core.registerOperator('op-1', LOWER, 2n * ETH);
    await rejectsWith(core.registerOperator('op-1', OTHER, 5n * ETH), 'OPERATOR_EXISTS');
    expect(core.getOperator('op-1')).toMatchObject({ walletAddress: CHECKSUMMED, stakedAmount: 2n * ETH });
    expect((await core.events({ operatorId: 'op-1' })).map((e) => e.amount)).toEqual([2n * ETH]);
  });

  it('refuses a negative initial stake', async () => {
    const { core } = await setup();
    await rejectsWith(core.registerOperator('op-1', LOWER, -1n), 'INVALID_INPUT');
    expect(core.getOperator('op-1')).toBeUndefined();
  });
});

describe('stake and unstake', () => {
  it('moves stake through active, unbonding and withdrawable, with events', async () => {
    const { core, clock } = await setup({ unbondingMs: HOUR });
    await core.registerOperator('op-1', LOWER, ETH);
    await core.stake('op-1', ETH / 2n);
    expect(core.getOperator('op-1')!.stakedAmount).toBe(3n * ETH / 2n);

    clock.t += 1_000;
    await core.unstake('op-1', ETH);
    expect(core.getOperator('op-1')).toMatchObject({ stakedAmount: ETH / 2n, unbondingAmount: ETH, withdrawableAmount: 0n });

    clock.t += HOUR;
    await core.stake('op-1', 1n); // any write releases what has matured
    expect(core.getOperator('op-1')).toMatchObject({ stakedAmount: ETH / 2n + 1n, unbondingAmount: 0n, withdrawableAmount: ETH });

    const events = await core.events({ operatorId: 'op-1' });
    expect(events.map((e) => e.type)).toEqual(['stake', 'stake', 'unstake', 'release', 'stake']);
    expect(events.map((e) => e.amount)).toEqual([ETH, ETH / 2n, ETH, ETH, 1n]);
    expect(await core.events({ operatorId: 'op-1', limit: 2 })).toHaveLength(2);
    await expectLedgerAddsUp(core, 'op-1');
  });

  it('refuses bad amounts, unstaking more than active, and unknown operators', async () => {
    const { core } = await setup();
    await core.registerOperator('op-1', LOWER, ETH);
    await rejectsWith(core.stake('op-1', 0n), 'INVALID_INPUT');
    await rejectsWith(core.stake('op-1', -5n), 'INVALID_INPUT');
    await rejectsWith(core.unstake('op-1', 0n), 'INVALID_INPUT');
    await rejectsWith(core.unstake('op-1', ETH + 1n), 'INSUFFICIENT_STAKE');
    await rejectsWith(core.stake('nobody', ETH), 'OPERATOR_NOT_FOUND');
    await rejectsWith(core.unstake('nobody', ETH), 'OPERATOR_NOT_FOUND');
    expect(core.getOperator('op-1')!.stakedAmount).toBe(ETH);
    expect(await core.events({ operatorId: 'op-1' })).toHaveLength(1);
  });

  it('applies a keyed request once, also when the retry races it, and refuses the key for another request', async () => {
    const { core } = await setup({ unbondingMs: 0 });
    await core.registerOperator('op-1', LOWER, ETH);
    // Sent together: both find the key unused, the second loses the commit as a duplicate.
    const outcomes = await Promise.allSettled([core.stake('op-1', 5n, 'k1'), core.stake('op-1', 5n, 'k1'), core.stake('op-1', 6n, 'k1')]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(((outcomes[2] as PromiseRejectedResult).reason as CoreError).code).toBe('IDEMPOTENCY_CONFLICT');
    await rejectsWith(core.unstake('op-1', 5n, 'k1'), 'IDEMPOTENCY_CONFLICT');
    expect(core.getOperator('op-1')!.stakedAmount).toBe(ETH + 5n);
    await core.unstake('op-1', 5n, 'k2');
    await core.unstake('op-1', 5n, 'k2');
    expect(core.getOperator('op-1')!.stakedAmount).toBe(ETH);
    await expectLedgerAddsUp(core, 'op-1');
  });

  it('caps what an operator holds at 2^256 - 1 wei', async () => {
    const { core } = await setup();
    const max = 2n ** 256n - 1n;
    await core.registerOperator('op-1', LOWER, max);
    await rejectsWith(core.stake('op-1', 1n), 'STAKE_LIMIT');
    await core.unstake('op-1', ETH);
    await rejectsWith(core.stake('op-1', 1n), 'STAKE_LIMIT');
    expect(core.getOperator('op-1')!.stakedAmount).toBe(max - ETH);
  });

  it('makes an operator ineligible below the minimum stake', async () => {
    const { core } = await setup({ unbondingMs: 0 });
    await core.registerOperator('op-1', LOWER, ETH);
    expect(core.getOperator('op-1')!.eligible).toBe(true);
    await core.unstake('op-1', 1n);
    expect(core.getOperator('op-1')!.eligible).toBe(false);
    expect(core.status().activeOperators).toBe(0);
  });
});

/** Cross-check evidence as the router files it (texts short enough to be kept whole). */
const whole = (text: string) => ({ bytes: text.length, sha256: createHash('sha256').update(text).digest('hex'), truncated: false });
const BAD_BALANCE = {
  method: 'eth_getBalance',
  params: '[]',
  comparedAs: 'quantity' as const,
  answer: '"0x1"',
  majority: '"0x2"',
  full: { params: whole('[]'), answer: whole('"0x1"'), majority: whole('"0x2"') },
  agreeingOperators: ['a', 'b'],
};

describe('violations and slashing', () => {
  it('slashes once when the same violation window is recorded twice', async () => {
    const { core, clock } = await setup();
    await core.registerOperator('op-1', LOWER, 100n * ETH);
    clock.t = T0 + MINUTE;
    const w = window('op-1', clock.t);
    await core.recordMetrics('op-1', w, { badData: [BAD_BALANCE], wrongChain: null });
    const after1 = core.getOperator('op-1')!;
    expect(after1.slashedAmount).toBe(ETH); // 1 % of 100
    await core.recordMetrics('op-1', w, { badData: [BAD_BALANCE], wrongChain: null });
    const after2 = core.getOperator('op-1')!;
    expect(after2.slashedAmount).toBe(ETH);
    expect(after2.violations).toHaveLength(1);
    const slashes = (await core.events({ operatorId: 'op-1' })).filter((e) => e.type === 'slash');
    expect(slashes).toHaveLength(1);
    expect(slashes[0]).toMatchObject({ violationType: 'bad_data', severity: 'medium', amount: ETH });
    await expectLedgerAddsUp(core, 'op-1');
  });

  it('jails on a critical violation until jailedUntil, and escalates on a second jail', async () => {
    const { core, clock } = await setup();
    await core.registerOperator('op-1', LOWER, 100n * ETH);
    clock.t = T0 + MINUTE;
    await core.recordMetrics('op-1', window('op-1', clock.t), WRONG_CHAIN);
    const first = core.getOperator('op-1')!;
    expect(first.jailedUntil).toBe(T0 + MINUTE + DEFAULT_SLASHING.jailMs);
    expect(first.eligible).toBe(false);
    expect(first.probation).toBe(true);
    expect(first.slashedAmount).toBe(2n * ETH); // 2 %
    expect(core.isEligible(core.state('op-1')!)).toBe(false);
    expect(core.status().activeOperators).toBe(0);

    clock.t = first.jailedUntil - 1;
    expect(core.isEligible(core.state('op-1')!)).toBe(false);
    clock.t = first.jailedUntil;
    expect(core.isEligible(core.state('op-1')!)).toBe(true);
    expect(core.getOperator('op-1')!.eligible).toBe(true);

    // A second critical violation, in a later period: twice the term, and the repeat multiplier.
    clock.t = T0 + HOUR + MINUTE;
    const activeBefore = core.getOperator('op-1')!.stakedAmount;
    await core.recordMetrics('op-1', window('op-1', clock.t), WRONG_CHAIN);
    const second = core.getOperator('op-1')!;
    expect(second.jailedUntil).toBe(clock.t + DEFAULT_SLASHING.jailMs * DEFAULT_SLASHING.jailEscalation);
    expect(core.state('op-1')!.jailCount).toBe(2);
    expect(second.eligible).toBe(false);
    expect(activeBefore - second.stakedAmount).toBe((activeBefore * 1_000n) / 10_000n); // 200 bps × 5
    clock.t = second.jailedUntil;
    expect(core.getOperator('op-1')!.eligible).toBe(true);
    await expectLedgerAddsUp(core, 'op-1');
  });

  it('still slashes unbonding stake', async () => {
    const { core, clock } = await setup({ unbondingMs: 7 * 24 * HOUR });
    await core.registerOperator('op-1', LOWER, 100n * ETH);
    await core.unstake('op-1', 100n * ETH);
    clock.t = T0 + MINUTE;
    await core.recordMetrics('op-1', window('op-1', clock.t), WRONG_CHAIN);
    const op = core.getOperator('op-1')!;
    expect(op).toMatchObject({ stakedAmount: 0n, unbondingAmount: 98n * ETH, slashedAmount: 2n * ETH, withdrawableAmount: 0n });
    const slash = (await core.events({ operatorId: 'op-1' })).find((e) => e.type === 'slash')!;
    expect(slash).toMatchObject({ amount: 2n * ETH, fromActive: 0n, fromUnbonding: 2n * ETH });
    await expectLedgerAddsUp(core, 'op-1');
  });

  it('does not slash released stake', async () => {
    const { core, clock } = await setup({ unbondingMs: HOUR });
    await core.registerOperator('op-1', LOWER, 100n * ETH);
    await core.unstake('op-1', 50n * ETH);
    clock.t = T0 + HOUR + MINUTE;
    await core.recordMetrics('op-1', window('op-1', clock.t), WRONG_CHAIN);
    expect(core.getOperator('op-1')).toMatchObject({ stakedAmount: 49n * ETH, withdrawableAmount: 50n * ETH, slashedAmount: 1n * ETH, unbondingAmount: 0n });
    await expectLedgerAddsUp(core, 'op-1');
  });

  it('slashes downtime once it has lasted a minute', async () => {
    const { core, clock } = await setup();
    await core.registerOperator('op-1', LOWER, 100n * ETH);
    const down = { successes: 0, probesSent: 3, probesUnreachable: 3 };
    clock.t = T0 + WINDOW_MS;
    await core.recordMetrics('op-1', window('op-1', clock.t, down));
    expect(core.getOperator('op-1')).toMatchObject({ slashedAmount: 0n, probation: true });
    clock.t += WINDOW_MS;
    await core.recordMetrics('op-1', window('op-1', clock.t, down));
    const op = core.getOperator('op-1')!;
    expect(op.slashedAmount).toBe(100n * ETH / 1_000n); // 10 bps
    expect(op.violations).toMatchObject([{ type: 'downtime', severity: 'low', durationMinutes: 1 }]);
  });

  it('does not keep slashing for performance while the operator is too quiet to be judged', async () => {
    // Three slow windows raise one performance_threshold violation. Windows that follow
    // with too few requests (probation leaves an operator little traffic) are not judged,
    // so they must not raise (and slash) more, hour after hour.
    const { core, clock } = await setup();
    await core.registerOperator('op-1', LOWER, 100n * ETH);
    for (let i = 1; i <= 3; i++) {
      clock.t = T0 + i * WINDOW_MS;
      await core.recordMetrics('op-1', window('op-1', clock.t, { p95Latency: 400 }));
    }
    const afterBad = core.getOperator('op-1')!.slashedAmount;
    expect(afterBad).toBe((100n * ETH * 5n) / 10_000n);
    for (let h = 1; h <= 3; h++) {
      clock.t = T0 + h * HOUR + MINUTE;
      await core.recordMetrics('op-1', window('op-1', clock.t, { successes: 3, probesSent: 3 }));
    }
    expect(core.getOperator('op-1')!.slashedAmount).toBe(afterBad);
  });
});

describe('recordMetrics validation', () => {
  const invalid: [string, Partial<PerformanceMetrics>][] = [
    ['successRate above 100', { successRate: 100.1 }],
    ['successRate below 0', { successRate: -1 }],
    ['successRate NaN', { successRate: Number.NaN }],
    ['uptime above 100', { uptime: 101 }],
    ['negative p95', { p95Latency: -1, p99Latency: 10 }],
    ['negative p99', { p95Latency: 0, p99Latency: -1 }],
    ['infinite p95', { p95Latency: Number.POSITIVE_INFINITY, p99Latency: Number.POSITIVE_INFINITY }],
    ['NaN p99', { p99Latency: Number.NaN }],
    ['p99 below p95', { p95Latency: 300, p99Latency: 200 }],
    ['negative throughput', { throughput: -1 }],
    ['timestamp in the future', { timestamp: T0 + 60_000 }],
    ['zero timestamp', { timestamp: 0 }],
    ['empty serviceId', { serviceId: '' }],
  ];

  it.each(invalid)('refuses %s with INVALID_METRICS and records nothing', async (_name, bad) => {
    const { core, store } = await setup();
    await core.registerOperator('op-1', LOWER, ETH);
    const before = core.state('op-1')!;
    await rejectsWith(core.recordMetrics('op-1', plain(bad)), 'INVALID_METRICS');
    await rejectsWith(core.recordMetrics('op-1', { ...window('op-1', T0), ...bad }), 'INVALID_METRICS');
    expect(core.getMetrics('op-1')).toEqual([]);
    expect(await store.getMetrics('op-1', 100)).toEqual([]);
    expect(core.state('op-1')).toEqual(before);
    expect(core.status().lastPerformanceCheck).toBeNull();
  });

  it('accepts a timestamp within the allowed clock skew, and refuses unknown operators', async () => {
    const { core } = await setup();
    await core.registerOperator('op-1', LOWER, ETH);
    await core.recordMetrics('op-1', plain({ timestamp: T0 + 1_000 }));
    expect(core.getMetrics('op-1')).toHaveLength(1);
    await rejectsWith(core.recordMetrics('nobody', plain()), 'OPERATOR_NOT_FOUND');
  });
});

describe('getMetrics', () => {
  it('returns the newest `limit` entries, oldest first, in the seed shape', async () => {
    const { core, clock } = await setup();
    await core.registerOperator('op-1', LOWER, ETH);
    for (let i = 1; i <= 5; i++) {
      clock.t = T0 + i * 1_000;
      await core.recordMetrics('op-1', plain({ timestamp: clock.t, p95Latency: i * 10, p99Latency: i * 20 }));
    }
    expect(core.getMetrics('op-1').map((m) => m.timestamp)).toEqual([1, 2, 3, 4, 5].map((i) => T0 + i * 1_000));
    expect(core.getMetrics('op-1', 2).map((m) => m.timestamp)).toEqual([T0 + 4_000, T0 + 5_000]);
    expect(core.getMetrics('op-1', 10)).toHaveLength(5);
    expect(core.getMetrics('nobody', 3)).toEqual([]);

    // A window is stored as the seed's PerformanceMetrics.
    clock.t = T0 + 10_000;
    await core.recordMetrics('op-1', window('op-1', clock.t));
    const last = core.getMetrics('op-1', 1)[0]!;
    expect(Object.keys(last).sort()).toEqual(['p95Latency', 'p99Latency', 'serviceId', 'successRate', 'throughput', 'timestamp', 'uptime']);
  });

  it('is reloaded from the store by a second core', async () => {
    const { core, store, clock } = await setup();
    await core.registerOperator('op-1', LOWER, ETH);
    for (let i = 1; i <= 3; i++) await core.recordMetrics('op-1', plain({ timestamp: (clock.t = T0 + i) }));
    const other = await DINInfrastructureCore.open({ store, now: () => clock.t });
    expect(other.getMetrics('op-1', 2).map((m) => m.timestamp)).toEqual([T0 + 2, T0 + 3]);
  });
});

describe('status', () => {
  it('totals stake (unbonding included), counts slashed operators and averages scores', async () => {
    const { core, clock } = await setup();
    expect(core.status()).toEqual({ totalOperators: 0, totalStaked: 0n, activeOperators: 0, slashedOperators: 0, averagePerformanceScore: 0, lastPerformanceCheck: null });
    await core.registerOperator('a', LOWER, 10n * ETH);
    await core.registerOperator('b', OTHER, 5n * ETH);
    await core.registerOperator('c', UPPER);
    await core.unstake('b', 2n * ETH); // unbonding still counts
    clock.t = T0 + MINUTE;
    await core.recordMetrics('a', window('a', clock.t), WRONG_CHAIN); // slashed 2 %, jailed
    await core.recordMetrics('b', plain({ timestamp: clock.t, successRate: 90, uptime: 90, p95Latency: 2_000, p99Latency: 2_000 }));
    const [a, b, c] = ['a', 'b', 'c'].map((id) => core.getOperator(id)!);
    expect(a!.slashedAmount).toBe(ETH / 5n);
    const status = core.status();
    expect(status.totalOperators).toBe(3);
    expect(status.totalStaked).toBe(10n * ETH - ETH / 5n + 5n * ETH);
    expect(status.slashedOperators).toBe(1);
    expect(status.activeOperators).toBe(1); // a jailed, b eligible (3 ETH active ≥ 1 ETH), c no stake
    expect(status.averagePerformanceScore).toBeCloseTo((a!.performanceScore + b!.performanceScore + c!.performanceScore) / 3, 2);
    expect(b!.performanceScore).toBeLessThan(100);
    expect(status.lastPerformanceCheck).toBe(clock.t);
  });
});

describe('plain seed metrics', () => {
  it('update the score but detect no window-based violation', async () => {
    const { core, clock } = await setup();
    await core.registerOperator('op-1', LOWER, 10n * ETH);
    for (let i = 1; i <= 6; i++) {
      clock.t = T0 + i * WINDOW_MS;
      await core.recordMetrics('op-1', plain({ timestamp: clock.t, successRate: 50, uptime: 0, p95Latency: 5_000, p99Latency: 6_000 }));
    }
    const op = core.getOperator('op-1')!;
    expect(op.performanceScore).toBeLessThan(20);
    expect(op.violations).toEqual([]);
    expect(op.slashedAmount).toBe(0n);
    expect(op.probation).toBe(false);
    expect(core.state('op-1')!.badWindows).toBe(0);
    expect((await core.events({ operatorId: 'op-1' })).filter((e) => e.type === 'slash')).toEqual([]);
    expect(op.lastPerformanceCheck).toBe(clock.t);
  });
});

describe('good windows', () => {
  it('never produce a violation or a slash (property)', async () => {
    const goodWindow = fc.record({
      requests: fc.integer({ min: 200, max: 100_000 }),
      failShare: fc.double({ min: 0, max: 0.005, noNaN: true }),
      p95Latency: fc.double({ min: 0, max: 200, noNaN: true }),
      gapMs: fc.integer({ min: 1_000, max: 2 * HOUR }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(goodWindow, { minLength: 1, maxLength: 12 }), async (windows) => {
        const { core, clock } = await setup();
        await core.registerOperator('op-1', LOWER, 10n * ETH);
        for (const g of windows) {
          clock.t += g.gapMs;
          const failed = Math.floor(g.requests * g.failShare);
          const w = window('op-1', clock.t, { successes: g.requests - failed, failures: { http_5xx: failed }, p95Latency: g.p95Latency, probesSent: 3 });
          expect(w.successRate).toBeGreaterThanOrEqual(99.5);
          expect(w.uptime).toBe(100);
          await core.recordMetrics('op-1', w, { badData: [], wrongChain: null });
        }
        const op = core.getOperator('op-1')!;
        expect(op.violations).toEqual([]);
        expect(op.slashedAmount).toBe(0n);
        expect(op.probation).toBe(false);
        expect(op.eligible).toBe(true);
        expect(op.performanceScore).toBe(100);
        expect((await core.events({ operatorId: 'op-1' })).map((e) => e.type)).toEqual(['stake']);
      }),
      { numRuns: 50 },
    );
  });
});
