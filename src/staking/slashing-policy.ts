/**
 * How much a violation costs. A table of violation type × severity → basis points of
 * slashable stake, made steeper for repeat offences, and jail terms for critical ones.
 *
 * Defaults follow DIN's draft table: downtime 0.1 %, a missed latency/performance
 * threshold 0.05 %, bad data 1 %, complete failure (critical) 2 %, repeats × 5.
 */
import type { Severity, ViolationType } from '../types.js';
import type { ViolationRecord } from './records.js';

export type SlashTable = Readonly<Record<ViolationType, Readonly<Record<Severity, number>>>>;

export interface SlashingPolicy {
  readonly table: SlashTable;
  /** Each earlier violation of the same type within `repeatWindowMs` multiplies the slash. */
  readonly repeatMultiplier: number;
  readonly repeatWindowMs: number;
  /** No single slash takes more than this. */
  readonly maxBps: number;
  /** A violation is slashed at most once per period (per type and severity), whichever gateway saw it. */
  readonly periodMs: number;
  /** First jail term; each later jail doubles it (escalation), up to `maxJailMs`. */
  readonly jailMs: number;
  readonly jailEscalation: number;
  readonly maxJailMs: number;
}

export const DEFAULT_SLASH_TABLE: SlashTable = {
  downtime: { low: 10, medium: 10, high: 10, critical: 200 },
  performance_threshold: { low: 5, medium: 5, high: 5, critical: 5 },
  bad_data: { low: 100, medium: 100, high: 100, critical: 200 },
  misbehavior: { low: 10, medium: 50, high: 100, critical: 200 },
};

export const DEFAULT_SLASHING: SlashingPolicy = {
  table: DEFAULT_SLASH_TABLE,
  repeatMultiplier: 5,
  repeatWindowMs: 24 * 3600_000,
  maxBps: 5_000,
  periodMs: 3600_000,
  jailMs: 10 * 60_000,
  jailEscalation: 2,
  maxJailMs: 7 * 24 * 3600_000,
};

/** The deterministic id of a violation: the same for every gateway that sees it in the same period. */
export function violationId(operatorId: string, type: ViolationType, severity: Severity, at: number, policy: SlashingPolicy): string {
  return `${operatorId}:${type}:${severity}:${Math.floor(at / policy.periodMs)}`;
}

/** Basis points to slash for `violation`, given the operator's earlier violations. */
export function slashBps(violation: ViolationRecord, earlier: readonly ViolationRecord[], policy: SlashingPolicy): number {
  const base = policy.table[violation.type][violation.severity];
  let repeats = 0;
  for (const v of earlier) {
    if (v.type === violation.type && v.id !== violation.id && violation.timestamp - v.timestamp <= policy.repeatWindowMs && v.timestamp <= violation.timestamp) repeats++;
  }
  const bps = base * policy.repeatMultiplier ** Math.min(repeats, 10);
  return Math.min(Math.round(bps), policy.maxBps);
}

/** Jail end for a critical violation (0 for others), escalating with the operator's earlier jails. */
export function jailUntil(violation: ViolationRecord, jailCount: number, policy: SlashingPolicy): number {
  if (violation.severity !== 'critical') return 0;
  const term = Math.min(policy.jailMs * policy.jailEscalation ** jailCount, policy.maxJailMs);
  return violation.timestamp + term;
}
