/**
 * What every Store must do, run against each implementation. Each test gets a fresh store
 * from `make`; `cleanup` runs once at the end (the Redis suite deletes its keys there).
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newOperatorState, release, replay, slash, stake, unstake } from '../../src/staking/ledger.js';
import { type LedgerEvent, type OperatorState, unbondingTotal } from '../../src/staking/records.js';
import type { Store } from '../../src/staking/store.js';
import type { PerformanceMetrics } from '../../src/types.js';

const T0 = 1_700_000_000_000;
let seq = 0;

export function operator(id = `op-${++seq}`): OperatorState {
  return newOperatorState({ id, walletAddress: `0x${'ab'.repeat(20)}`, url: `http://${id}.test`, chain: 'ethereum', now: T0 });
}

/** Creates an operator with `amount` wei staked (version 1), or none (version 0). */
export async function created(store: Store, amount?: bigint, id?: string): Promise<OperatorState> {
  const fresh = operator(id);
  const { state, events } = amount === undefined ? { state: fresh, events: [] } : stake(fresh, amount, T0);
  expect(await store.createOperator(state, events)).toBe(true);
  return state;
}

/** read → stake → commit, again on 'conflict': what a gateway does. */
export async function stakeWithRetry(store: Store, id: string, amount: bigint): Promise<void> {
  for (;;) {
    const current = await store.getOperator(id);
    if (!current) throw new Error(`no operator ${id}`);
    const { state, events } = stake(current, amount, Date.now());
    const result = await store.commit(state, current.version, events);
    if (result === 'ok') return;
    expect(result).toBe('conflict');
  }
}

function metrics(n: number): PerformanceMetrics {
  return { serviceId: 'eth-mainnet', successRate: 99.5, p95Latency: 100 + n, p99Latency: 200 + n, throughput: n, uptime: 99.99, timestamp: T0 + n };
}

const order = (id: string) => ({ violationId: id, bps: 1_000, type: 'bad_data' as const, severity: 'high' as const, reason: 'wrong block hash', evidence: { block: '0x10', answers: ['0xaa', '0xbb'] } });

function balances(s: OperatorState) {
  return { active: s.active, unbonding: unbondingTotal(s), withdrawable: s.withdrawable, slashed: s.slashed };
}

export function storeContract(name: string, make: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(async () => {
      await store.close();
    });
    if (cleanup) afterAll(cleanup);

    describe('operators', () => {
      it('creates, gets and lists', async () => {
        const a = await created(store, 5n);
        const b = await created(store);
        expect(await store.getOperator(a.id)).toEqual(a);
        expect(await store.getOperator(b.id)).toEqual(b);
        expect(await store.getOperator('nobody')).toBeUndefined();
        const listed = await store.listOperators();
        expect(listed.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
        expect(listed.find((s) => s.id === a.id)).toEqual(a);
        expect(await store.listEvents({ operatorId: a.id })).toHaveLength(1);
      });

      it('refuses a second create with the same id and records none of its events', async () => {
        const first = await created(store, 5n);
        const again = stake(operator(first.id), 7n, T0);
        expect(await store.createOperator(again.state, again.events)).toBe(false);
        expect(await store.getOperator(first.id)).toEqual(first);
        expect(await store.listEvents()).toHaveLength(1);
        expect(await store.listOperators()).toHaveLength(1);
      });

      it('refuses a create carrying an already-recorded event id', async () => {
        const first = await created(store, 5n);
        const [recorded] = await store.listEvents();
        const other = operator();
        const event: LedgerEvent = { ...recorded!, operatorId: other.id };
        expect(await store.createOperator({ ...other, active: 5n, version: 1 }, [event])).toBe(false);
        expect(await store.getOperator(other.id)).toBeUndefined();
        expect(await store.listOperators()).toEqual([first]);
      });
    });

    describe('commit', () => {
      it('writes the state and its events and bumps the version', async () => {
        const current = await created(store, 5n);
        const { state, events } = stake(current, 3n, T0 + 1);
        expect(await store.commit(state, current.version, events)).toBe('ok');
        const stored = await store.getOperator(current.id);
        expect(stored).toEqual(state);
        expect(stored!.version).toBe(current.version + 1);
        expect(stored!.active).toBe(8n);
        expect((await store.listEvents({ operatorId: current.id })).at(-1)).toEqual(events[0]);
      });

      it("answers 'conflict' on a stale version and changes nothing", async () => {
        const base = await created(store, 5n);
        const winner = stake(base, 1n, T0 + 1);
        const loser = stake(base, 2n, T0 + 2);
        expect(await store.commit(winner.state, base.version, winner.events)).toBe('ok');
        expect(await store.commit(loser.state, base.version, loser.events)).toBe('conflict');
        expect(await store.getOperator(base.id)).toEqual(winner.state);
        const ids = (await store.listEvents()).map((e) => e.id);
        expect(ids).toContain(winner.events[0]!.id);
        expect(ids).not.toContain(loser.events[0]!.id);
      });

      it("answers 'duplicate' for an already-recorded event id and writes neither state nor events", async () => {
        const current = await created(store, 1_000n);
        const first = slash(current, order('violation-1'), T0 + 1);
        expect(await store.commit(first.state, current.version, first.events)).toBe('ok');
        const before = await store.listEvents();

        // The same violation seen again (by another gateway, from the fresh state).
        const again = slash(first.state, order('violation-1'), T0 + 2);
        expect(await store.commit(again.state, first.state.version, again.events)).toBe('duplicate');
        expect(await store.getOperator(current.id)).toEqual(first.state);

        // Event ids are unique across the store, not per operator.
        const other = await created(store, 1_000n);
        const elsewhere = slash(other, order('violation-1'), T0 + 3);
        expect(await store.commit(elsewhere.state, other.version, elsewhere.events)).toBe('duplicate');
        expect(await store.getOperator(other.id)).toEqual(other);
        expect(await store.listEvents({ operatorId: current.id })).toEqual(before);
        expect(await store.listEvents({ operatorId: other.id })).toHaveLength(1);
      });

      it("answers 'duplicate' when one commit carries the same event id twice", async () => {
        const current = await created(store, 5n);
        const { state, events } = stake(current, 1n, T0 + 1);
        expect(await store.commit(state, current.version, [events[0]!, events[0]!])).toBe('duplicate');
        expect(await store.getOperator(current.id)).toEqual(current);
      });

      it("answers 'missing' for an unknown operator and records nothing", async () => {
        const { state, events } = stake(operator(), 1n, T0);
        expect(await store.commit(state, 0, events)).toBe('missing');
        expect(await store.getOperator(state.id)).toBeUndefined();
        expect(await store.listEvents()).toEqual([]);
      });

      it('throws when the next version does not exceed the expected one', async () => {
        const current = await created(store, 5n);
        await expect(store.commit({ ...current, active: 6n }, current.version, [])).rejects.toThrow(/version/);
      });
    });

    describe('events', () => {
      it('finds a recorded event by id, from a create or a commit, and nothing else', async () => {
        const state = await created(store, 5n);
        const [first] = await store.listEvents({ operatorId: state.id });
        expect(await store.getEvent(first!.id)).toEqual(first);
        const { state: next, events } = stake(state, 7n, T0 + 1, 'stake', `request:${state.id}-key`);
        expect(await store.commit(next, state.version, events)).toBe('ok');
        expect(await store.getEvent(`request:${state.id}-key`)).toEqual(events[0]);
        expect(await store.getEvent('request:never-used')).toBeUndefined();
      });

      it('lists in commit order, by operator, and the last N', async () => {
        let a = await created(store, 1n);
        let b = await created(store, 2n);
        const all: LedgerEvent[] = [...(await store.listEvents())];
        for (let i = 0; i < 3; i++) {
          for (const which of ['a', 'b'] as const) {
            const current = which === 'a' ? a : b;
            const { state, events } = unstake(current, 1n, T0 + i, i % 2 === 0 ? 0 : 60_000);
            if (events.length === 0) continue;
            expect(await store.commit(state, current.version, events)).toBe('ok');
            all.push(...events);
            if (which === 'a') a = state;
            else b = state;
            if (state.active === 0n) {
              const more = stake(state, 5n, T0 + i);
              expect(await store.commit(more.state, state.version, more.events)).toBe('ok');
              all.push(...more.events);
              if (which === 'a') a = more.state;
              else b = more.state;
            }
          }
        }
        expect(await store.listEvents()).toEqual(all);
        expect(await store.listEvents({ operatorId: a.id })).toEqual(all.filter((e) => e.operatorId === a.id));
        expect(await store.listEvents({ limit: 3 })).toEqual(all.slice(-3));
        expect(await store.listEvents({ operatorId: b.id, limit: 2 })).toEqual(all.filter((e) => e.operatorId === b.id).slice(-2));
        expect(await store.listEvents({ limit: 1_000 })).toEqual(all);
        expect(await store.listEvents({ limit: 0 })).toEqual([]);
        expect(await store.listEvents({ operatorId: 'nobody' })).toEqual([]);
      });
    });

    describe('metrics', () => {
      it('appends, keeps the newest `keep`, returns the newest `limit` oldest first', async () => {
        for (let n = 1; n <= 5; n++) await store.appendMetrics('op-m', metrics(n), 3);
        expect(await store.getMetrics('op-m', 10)).toEqual([metrics(3), metrics(4), metrics(5)]);
        expect(await store.getMetrics('op-m', 2)).toEqual([metrics(4), metrics(5)]);
        expect(await store.getMetrics('op-m', 0)).toEqual([]);
        expect(await store.getMetrics('other', 10)).toEqual([]);
        await store.appendMetrics('other', metrics(9), 3);
        expect(await store.getMetrics('op-m', 10)).toHaveLength(3);
      });

      it('rejects a history that keeps nothing', async () => {
        await expect(store.appendMetrics('op-m', metrics(1), 0)).rejects.toThrow(RangeError);
      });
    });

    describe('bigint amounts', () => {
      it('round-trip exactly, far above 2^64', async () => {
        const huge = 10n ** 30n + 7n;
        const current = await created(store, huge);
        const unstaked = unstake(current, huge / 3n, T0 + 1, 60_000);
        expect(await store.commit(unstaked.state, current.version, unstaked.events)).toBe('ok');
        const slashed = slash(unstaked.state, { ...order('v-huge'), bps: 9_999 }, T0 + 2);
        expect(await store.commit(slashed.state, unstaked.state.version, slashed.events)).toBe('ok');

        const stored = await store.getOperator(current.id);
        expect(stored).toEqual(slashed.state);
        expect(stored!.slashed).toBe(slashed.state.slashed);
        expect(stored!.unbonding[0]!.amount).toBe(slashed.state.unbonding[0]!.amount);
        const events = await store.listEvents({ operatorId: current.id });
        expect(events.map((e) => e.amount)).toEqual([huge, huge / 3n, slashed.events[0]!.amount]);
        expect(events[2]!.fromActive).toBe(slashed.events[0]!.fromActive);
        expect(events[2]!.fromUnbonding).toBe(slashed.events[0]!.fromUnbonding);
        expect(replay(events)).toEqual(balances(stored!));
      });
    });

    describe('copies', () => {
      it('does not let callers mutate stored state through inputs or results', async () => {
        // Mutable views: the types say readonly, a careless caller may not care.
        const loose = (s: unknown) => s as { active: bigint; unbonding: { amount: bigint; releaseAt: number }[] };
        const staked = stake(operator(), 10n, T0);
        const unstaked = unstake(staked.state, 4n, T0, 60_000);
        const input = structuredClone(unstaked.state);
        const inputEvents = structuredClone([...staked.events, ...unstaked.events]);
        const kept = structuredClone(input);
        expect(await store.createOperator(input, inputEvents)).toBe(true);

        loose(input).active = 999n;
        loose(input).unbonding[0]!.amount = 999n;
        (inputEvents[0] as { amount: bigint }).amount = 999n;
        const got = loose(await store.getOperator(input.id));
        got.active = 999n;
        got.unbonding.push({ amount: 1n, releaseAt: 0 });
        loose((await store.listOperators())[0]).unbonding.length = 0;
        expect(await store.getOperator(input.id)).toEqual(kept);

        ((await store.listEvents())[0] as { amount: bigint }).amount = 0n;
        expect((await store.listEvents()).map((e) => e.amount)).toEqual([10n, 4n]);

        const m = metrics(1);
        await store.appendMetrics(input.id, m, 5);
        m.p95Latency = -1;
        (await store.getMetrics(input.id, 5))[0]!.uptime = -1;
        expect(await store.getMetrics(input.id, 5)).toEqual([metrics(1)]);
      });
    });

    describe('concurrency', () => {
      it('loses no update: 20 concurrent read-stake-commit writers add exactly 20 wei', async () => {
        const start = await created(store, 100n);
        await Promise.all(Array.from({ length: 20 }, () => stakeWithRetry(store, start.id, 1n)));
        const end = await store.getOperator(start.id);
        expect(end!.active).toBe(120n);
        expect(end!.version).toBe(start.version + 20);
        const stakes = (await store.listEvents({ operatorId: start.id })).filter((e) => e.type === 'stake');
        expect(stakes).toHaveLength(21);
        expect(replay(await store.listEvents({ operatorId: start.id })).active).toBe(120n);
      });
    });

    describe('ledger through the store (property)', () => {
      type Step =
        | { kind: 'stake'; amount: bigint }
        | { kind: 'unstake'; percent: number; unbondingMs: number }
        | { kind: 'slash'; bps: number }
        | { kind: 'release'; advanceMs: number };
      const step: fc.Arbitrary<Step> = fc.oneof(
        fc.record({ kind: fc.constant('stake' as const), amount: fc.bigInt({ min: 1n, max: 10n ** 30n }) }),
        fc.record({ kind: fc.constant('unstake' as const), percent: fc.integer({ min: 1, max: 100 }), unbondingMs: fc.constantFrom(0, 1_000) }),
        fc.record({ kind: fc.constant('slash' as const), bps: fc.integer({ min: 0, max: 10_000 }) }),
        fc.record({ kind: fc.constant('release' as const), advanceMs: fc.integer({ min: 0, max: 2_000 }) }),
      );

      it('stored balances always equal the replay of the events and never go negative', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
            let current = await created(store);
            let now = T0;
            for (const s of steps) {
              now += 1;
              const change =
                s.kind === 'stake'
                  ? stake(current, s.amount, now)
                  : s.kind === 'unstake'
                    ? (current.active * BigInt(s.percent)) / 100n > 0n
                      ? unstake(current, (current.active * BigInt(s.percent)) / 100n, now, s.unbondingMs)
                      : undefined
                    : s.kind === 'slash'
                      ? slash(current, { ...order(`violation-${++seq}`), bps: s.bps }, now)
                      : release(current, (now += s.advanceMs));
              if (!change || change.events.length === 0) continue;
              expect(await store.commit(change.state, current.version, change.events)).toBe('ok');
              const stored = await store.getOperator(current.id);
              expect(stored).toEqual(change.state);
              current = stored!;
              for (const amount of [current.active, current.withdrawable, current.slashed, ...current.unbonding.map((u) => u.amount)]) {
                expect(amount >= 0n).toBe(true);
              }
            }
            expect(replay(await store.listEvents({ operatorId: current.id }))).toEqual(balances(current));
          }),
          { numRuns: 40 },
        );
      });
    });
  });
}
