/**
 * What the staking side stores. Amounts are bigint wei in memory and decimal strings at
 * rest and on the wire. An operator's balances always equal the replay of its events.
 */
import type { Severity, Violation, ViolationType } from '../types.js';

export interface UnbondingEntry {
  readonly amount: bigint;
  /** When it becomes withdrawable (ms since epoch). Until then it is still slashable. */
  readonly releaseAt: number;
}

export interface ViolationRecord extends Violation {
  /** Deterministic id: the same violation seen by two gateways has the same id. */
  readonly id: string;
  /** What the detection was based on: window metrics, disagreeing answers. */
  readonly evidence?: unknown;
  /** Wei slashed for it, as a decimal string (set when the slash is applied). */
  readonly slashedWei?: string;
}

export interface OperatorState {
  readonly id: string;
  readonly walletAddress: string;
  readonly url: string;
  readonly chain: string;
  readonly registeredAt: number;
  /** Earns routing weight; slashable. */
  readonly active: bigint;
  /** Unstaked, waiting out the unbonding period: no weight, still slashable. */
  readonly unbonding: readonly UnbondingEntry[];
  /** Released from unbonding: out of reach of slashing. */
  readonly withdrawable: bigint;
  readonly slashed: bigint;
  readonly performanceScore: number;
  readonly lastPerformanceCheck: number;
  /** The most recent violations, newest last (capped). */
  readonly violations: readonly ViolationRecord[];
  /** 0 when not jailed. A jailed operator gets no client traffic. */
  readonly jailedUntil: number;
  readonly jailCount: number;
  /** Demoted: exploration traffic only, until a clean window. Fast and reversible. */
  readonly probation: boolean;
  /** Windows on probation with too little traffic to judge (lifts probation after a few). */
  readonly quietProbationWindows: number;
  /** Consecutive windows below the performance thresholds. */
  readonly badWindows: number;
  /** Start of the current run of down windows, or null. */
  readonly downSince: number | null;
  /**
   * What the windows since `downSince` showed (the evidence a downtime violation carries);
   * null or absent while the operator is not down.
   */
  readonly outage?: OutageTally | null;
  /**
   * Invalid answers (and all answers) of the windows it has spent on probation without a
   * misbehavior conviction: demoted to exploration traffic, it may never again give enough
   * invalid answers in one window to be judged, so they add up. Null or absent otherwise.
   */
  readonly pendingInvalid?: { readonly invalid: number; readonly answers: number } | null;
  /** Bumped by every write: the compare-and-set token across gateway instances. */
  readonly version: number;
}

/** Counts over the windows of one outage: a fixed handful of numbers, whatever its length. */
export interface OutageTally {
  /** Windows that showed the operator down (windows without any evidence are not counted). */
  readonly downWindows: number;
  readonly probesSent: number;
  readonly probesUnreachable: number;
  /** Client requests sent to it, and those refused or timed out. */
  readonly requests: number;
  readonly unreachableRequests: number;
  /** When the outage's first and latest probes finished (ms since epoch), null without probes. */
  readonly firstProbeAt: number | null;
  readonly lastProbeAt: number | null;
  /** How the latest failed probe failed: `connect` (refused or reset), `timeout`, `invalid`. */
  readonly lastProbeFailure: string | null;
}

export type LedgerEventType = 'stake' | 'unstake' | 'release' | 'slash';

/**
 * A stake change. The seed's StakingEvent with more types (`release`: unbonding became
 * withdrawable) and the split of a slash between active and unbonding stake.
 */
export interface LedgerEvent {
  readonly id: string;
  readonly operatorId: string;
  readonly type: LedgerEventType;
  readonly amount: bigint;
  readonly timestamp: number;
  readonly reason?: string;
  readonly fromActive?: bigint;
  readonly fromUnbonding?: bigint;
  readonly violationType?: ViolationType;
  readonly severity?: Severity;
  readonly evidence?: unknown;
}

export function unbondingTotal(state: Pick<OperatorState, 'unbonding'>): bigint {
  let sum = 0n;
  for (const u of state.unbonding) sum += u.amount;
  return sum;
}
