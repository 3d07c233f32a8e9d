/**
 * Ledger rules as pure functions: each takes an operator's state and returns the next state
 * with the events that explain the change. Nothing here does I/O; stores persist the pair
 * atomically.
 */
import { randomUUID } from 'node:crypto';
import type { Severity, ViolationType } from '../types.js';
import { type LedgerEvent, type OperatorState, unbondingTotal } from './records.js';

export class LedgerError extends Error {
  constructor(readonly code: 'INVALID_AMOUNT' | 'INSUFFICIENT_STAKE' | 'STAKE_LIMIT', message: string) {
    super(message);
  }
}

export interface Change {
  readonly state: OperatorState;
  readonly events: readonly LedgerEvent[];
}

const BPS = 10_000n;

function positive(amount: bigint, what: string): void {
  if (typeof amount !== 'bigint' || amount <= 0n) throw new LedgerError('INVALID_AMOUNT', `${what} must be a positive whole number of wei`);
}

/** The most an operator can hold, active, unbonding and withdrawable together: what an EVM uint256 can count. */
export const MAX_STAKE_WEI = 2n ** 256n - 1n;

export function stake(state: OperatorState, amount: bigint, now: number, reason = 'stake', eventId: string = randomUUID()): Change {
  positive(amount, 'stake amount');
  const held = state.active + unbondingTotal(state) + state.withdrawable;
  if (held + amount > MAX_STAKE_WEI) {
    throw new LedgerError('STAKE_LIMIT', `cannot stake ${amount} wei: operator "${state.id}" would hold more than 2^256 - 1 wei (it holds ${held})`);
  }
  const event: LedgerEvent = { id: eventId, operatorId: state.id, type: 'stake', amount, timestamp: now, reason };
  return { state: { ...state, active: state.active + amount, version: state.version + 1 }, events: [event] };
}

/** Moves `amount` from active stake into unbonding; with a zero period it is released at once. */
export function unstake(state: OperatorState, amount: bigint, now: number, unbondingMs: number, reason = 'unstake', eventId: string = randomUUID()): Change {
  positive(amount, 'unstake amount');
  if (amount > state.active) {
    throw new LedgerError('INSUFFICIENT_STAKE', `cannot unstake ${amount} wei: only ${state.active} wei is actively staked`);
  }
  const event: LedgerEvent = { id: eventId, operatorId: state.id, type: 'unstake', amount, timestamp: now, reason };
  const next: OperatorState = {
    ...state,
    active: state.active - amount,
    unbonding: [...state.unbonding, { amount, releaseAt: now + unbondingMs }],
    version: state.version + 1,
  };
  const released = release(next, now);
  return { state: released.state, events: [event, ...released.events] };
}

/** Releases every unbonding entry whose period is over. */
export function release(state: OperatorState, now: number): Change {
  const matured = state.unbonding.filter((u) => u.releaseAt <= now);
  if (matured.length === 0) return { state, events: [] };
  let amount = 0n;
  for (const u of matured) amount += u.amount;
  const event: LedgerEvent = { id: randomUUID(), operatorId: state.id, type: 'release', amount, timestamp: now, reason: 'unbonding period over' };
  return {
    state: {
      ...state,
      unbonding: state.unbonding.filter((u) => u.releaseAt > now),
      withdrawable: state.withdrawable + amount,
      version: state.version + 1,
    },
    events: [event],
  };
}

export interface SlashOrder {
  readonly violationId: string;
  readonly bps: number;
  readonly type: ViolationType;
  readonly severity: Severity;
  readonly reason: string;
  readonly evidence?: unknown;
}

/**
 * Slashes `bps` basis points of everything still slashable (active + unbonding), active
 * first, so unstaking cannot dodge a slash. The event id is the violation id: a store
 * refuses a second event with the same id, which makes slashing idempotent.
 */
export function slash(state: OperatorState, order: SlashOrder, now: number): Change {
  if (!Number.isInteger(order.bps) || order.bps < 0 || order.bps > 10_000) {
    throw new LedgerError('INVALID_AMOUNT', `slash of ${order.bps} bps is outside 0..10000`);
  }
  const unbonding = unbondingTotal(state);
  const amount = ((state.active + unbonding) * BigInt(order.bps)) / BPS;
  if (amount === 0n) return { state, events: [] };
  const fromActive = amount <= state.active ? amount : state.active;
  let fromUnbonding = amount - fromActive;
  // Take from the unbonding entries that release last: the ones furthest from escaping.
  const entries = [...state.unbonding].sort((a, b) => b.releaseAt - a.releaseAt);
  const kept: { amount: bigint; releaseAt: number }[] = [];
  for (const entry of entries) {
    const take = fromUnbonding < entry.amount ? fromUnbonding : entry.amount;
    fromUnbonding -= take;
    if (entry.amount - take > 0n) kept.push({ amount: entry.amount - take, releaseAt: entry.releaseAt });
  }
  kept.sort((a, b) => a.releaseAt - b.releaseAt);
  const event: LedgerEvent = {
    id: order.violationId,
    operatorId: state.id,
    type: 'slash',
    amount,
    timestamp: now,
    reason: order.reason,
    fromActive,
    fromUnbonding: amount - fromActive,
    violationType: order.type,
    severity: order.severity,
    ...(order.evidence === undefined ? {} : { evidence: order.evidence }),
  };
  return {
    state: { ...state, active: state.active - fromActive, unbonding: kept, slashed: state.slashed + amount, version: state.version + 1 },
    events: [event],
  };
}

export interface Balances {
  active: bigint;
  unbonding: bigint;
  withdrawable: bigint;
  slashed: bigint;
}

/** Replays events into balances: the check that the ledger adds up. */
export function replay(events: Iterable<LedgerEvent>): Balances {
  const b: Balances = { active: 0n, unbonding: 0n, withdrawable: 0n, slashed: 0n };
  for (const e of events) {
    switch (e.type) {
      case 'stake':
        b.active += e.amount;
        break;
      case 'unstake':
        b.active -= e.amount;
        b.unbonding += e.amount;
        break;
      case 'release':
        b.unbonding -= e.amount;
        b.withdrawable += e.amount;
        break;
      case 'slash':
        b.active -= e.fromActive ?? 0n;
        b.unbonding -= e.fromUnbonding ?? 0n;
        b.slashed += e.amount;
        break;
    }
  }
  return b;
}

/** A new operator's state before any stake. */
export function newOperatorState(fields: { id: string; walletAddress: string; url: string; chain: string; now: number }): OperatorState {
  return {
    id: fields.id,
    walletAddress: fields.walletAddress,
    url: fields.url,
    chain: fields.chain,
    registeredAt: fields.now,
    active: 0n,
    unbonding: [],
    withdrawable: 0n,
    slashed: 0n,
    performanceScore: 100,
    lastPerformanceCheck: 0,
    violations: [],
    jailedUntil: 0,
    jailCount: 0,
    probation: false,
    quietProbationWindows: 0,
    badWindows: 0,
    downSince: null,
    version: 0,
  };
}
