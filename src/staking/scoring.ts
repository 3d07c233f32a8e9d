/**
 * Performance score, 0-100, from what the gateway measured in a window.
 *
 * Each target of the seed becomes a component in [0, 1]:
 *   success  S = (successRate − 90) / (99 − 90), clamped: full at the 99 % target, nothing at 90 %
 *   latency  L = 1 up to the 250 ms p95 target, then falling linearly to 0 at 2 s
 *   uptime   U = (uptime − 90) / (99.9 − 90), clamped: full at the 99.9 % target
 * The window's score is 100 × (0.5 S + 0.2 L + 0.3 U): failing answers hurt most, being
 * down next, slowness least. A component without enough samples is left out and the
 * weights of the others renormalized, so a quiet operator is judged on its probes alone.
 *
 * Head freshness scales the result: an operator whose head was up to FRESH_LAG_BLOCKS behind
 * the chain's agreed head at the window's close keeps it whole; further behind, the score is
 * scaled down linearly to 70 % at STALE_LAG_BLOCKS and beyond. Lag alone never zeroes a score
 * (chain-aware routing already keeps a lagging operator off head-sensitive requests), but an
 * operator that stays behind earns less traffic for the old blocks it still serves.
 *
 * Scores are smoothed with an EWMA (α = 0.3 by default): one bad window costs a perfect
 * operator at most 30 points, and three good windows win most of it back.
 */
import type { PerformanceMetrics } from '../types.js';

export interface ScoringPolicy {
  /** Weight of the newest window in the moving average. */
  readonly alpha: number;
  /** Requests a window needs before its success rate and latency count. */
  readonly minRequests: number;
}

export const DEFAULT_SCORING: ScoringPolicy = { alpha: 0.3, minRequests: 10 };

const W_SUCCESS = 0.5;
const W_LATENCY = 0.2;
const W_UPTIME = 0.3;

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

export function successComponent(successRate: number): number {
  return clamp01((successRate - 90) / 9);
}

export function latencyComponent(p95Ms: number): number {
  return p95Ms <= 250 ? 1 : clamp01(1 - (p95Ms - 250) / 1750);
}

export function uptimeComponent(uptime: number): number {
  return clamp01((uptime - 90) / 9.9);
}

/** How much evidence a window carries; plain PerformanceMetrics (from the API) count as full. */
export interface Evidence {
  readonly requests?: number;
  readonly probesSent?: number;
  /** Blocks behind the chain's agreed head at the window's close (null or absent: unknown, no effect). */
  readonly headLag?: number | null;
}

/** Behind by this many blocks or fewer: fresh. */
export const FRESH_LAG_BLOCKS = 2;
/** Behind by this many or more: the freshness factor's floor. */
export const STALE_LAG_BLOCKS = 64;
const STALE_FACTOR = 0.7;

/** The factor head freshness applies to a window's score: 1 when fresh, down to 0.7 when stale. */
export function freshnessFactor(headLag: number | null | undefined): number {
  if (headLag === null || headLag === undefined || !(headLag > FRESH_LAG_BLOCKS)) return 1;
  const staleness = clamp01((headLag - FRESH_LAG_BLOCKS) / (STALE_LAG_BLOCKS - FRESH_LAG_BLOCKS));
  return 1 - (1 - STALE_FACTOR) * staleness;
}

/** The score of one window, or undefined when it carries no usable evidence. */
export function windowScore(m: PerformanceMetrics & Evidence, policy: ScoringPolicy = DEFAULT_SCORING): number | undefined {
  const hasTraffic = m.requests === undefined || m.requests >= policy.minRequests;
  const hasUptime = hasTraffic || (m.probesSent ?? 0) > 0;
  let weight = 0;
  let sum = 0;
  if (hasTraffic) {
    sum += W_SUCCESS * successComponent(m.successRate) + W_LATENCY * latencyComponent(m.p95Latency);
    weight += W_SUCCESS + W_LATENCY;
  }
  if (hasUptime) {
    sum += W_UPTIME * uptimeComponent(m.uptime);
    weight += W_UPTIME;
  }
  return weight === 0 ? undefined : ((100 * sum) / weight) * freshnessFactor(m.headLag);
}

/** The smoothed score after one more window; unchanged when the window has no evidence. */
export function nextScore(previous: number, m: PerformanceMetrics & Evidence, policy: ScoringPolicy = DEFAULT_SCORING): number {
  const w = windowScore(m, policy);
  if (w === undefined) return previous;
  const next = previous + policy.alpha * (w - previous);
  return Math.round(next * 100) / 100;
}
