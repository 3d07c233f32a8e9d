/**
 * One operator's measurements over one window (or several merged), in the seed's
 * PerformanceMetrics shape plus the detail scoring and dashboards need.
 */
import type { PerformanceMetrics } from '../types.js';
import { ATTEMPT_OUTCOMES, type AttemptOutcome, OUTCOME_INDEX } from './attempt-recorder.js';
import type { ProbeFailure } from './health-prober.js';
import type { LatencyDistribution } from './latency-histogram.js';

/** Outcomes that count against the operator. 429 is the operator shedding load: neither success nor failure. */
export const FAILURE_CAUSES = ['timeout', 'connect', 'http_5xx', 'http_other', 'invalid_envelope', 'wrong_result', 'missing_block'] as const satisfies readonly AttemptOutcome[];
export type FailureCause = (typeof FAILURE_CAUSES)[number];

export const SECONDS_PER_MONTH = 30 * 24 * 3600;

export interface WindowMetrics extends PerformanceMetrics {
  readonly operatorId: string;
  readonly chain: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Every attempt sent to the operator for clients. */
  readonly requests: number;
  /** Valid answers, JSON-RPC errors included (they are the client's answer). */
  readonly successes: number;
  readonly rateLimited: number;
  readonly failures: Readonly<Record<FailureCause, number>>;
  readonly p50Latency: number;
  readonly maxLatency: number;
  /** Attempts whose latency the percentiles are made of (refused connections and re-labelled answers are not timed). */
  readonly latencySamples: number;
  readonly requestsPerSecond: number;
  readonly probesSent: number;
  readonly probesOk: number;
  /** Probes refused or timed out (as opposed to answered wrongly). */
  readonly probesUnreachable: number;
  /** When the window's first and last probe finished (ms since epoch), null without probes. */
  readonly firstProbeAt: number | null;
  readonly lastProbeAt: number | null;
  /** How the window's last failed probe failed (refused, timed out, answered invalidly), null when none failed. */
  readonly lastProbeFailure: ProbeFailure | null;
  /** Latest block the operator reported, its lag behind the chain's best, the chain id it reported. */
  readonly head: number | null;
  readonly headLag: number | null;
  readonly chainId: string | null;
}

export interface WindowCounts {
  readonly outcomes: Float64Array;
  readonly probesSent: number;
  readonly probesOk: number;
  readonly probesUnreachable: number;
  readonly firstProbeAt?: number | null;
  readonly lastProbeAt?: number | null;
  readonly lastProbeFailure?: ProbeFailure | null;
}

const microsToMs = (micros: number) => micros / 1000;

/** Builds the metrics of a window from its histogram and counts. Percentiles come from the histogram, never averaged. */
export function summarizeWindow(
  identity: { operatorId: string; chain: string },
  start: number,
  end: number,
  histogram: LatencyDistribution,
  counts: WindowCounts,
  probe: { head: number | null; headLag: number | null; chainId: string | null },
): WindowMetrics {
  const o = counts.outcomes;
  let requests = 0;
  for (let i = 0; i < ATTEMPT_OUTCOMES.length; i++) requests += o[i]!;
  const successes = o[OUTCOME_INDEX.success]! + o[OUTCOME_INDEX.rpc_error]!;
  // A literal (one shape, no keyed stores): this runs for every operator at every window close.
  const failures = {
    timeout: o[OUTCOME_INDEX.timeout]!,
    connect: o[OUTCOME_INDEX.connect]!,
    http_5xx: o[OUTCOME_INDEX.http_5xx]!,
    http_other: o[OUTCOME_INDEX.http_other]!,
    invalid_envelope: o[OUTCOME_INDEX.invalid_envelope]!,
    wrong_result: o[OUTCOME_INDEX.wrong_result]!,
    missing_block: o[OUTCOME_INDEX.missing_block]!,
  } satisfies Record<FailureCause, number>;
  const failed = failures.timeout + failures.connect + failures.http_5xx + failures.http_other + failures.invalid_envelope + failures.wrong_result + failures.missing_block;
  const judged = successes + failed;
  const seconds = Math.max((end - start) / 1000, 1e-3);
  const downs = failures.connect + failures.timeout;
  const uptime = counts.probesSent > 0
    ? (100 * counts.probesOk) / counts.probesSent
    : requests > 0 ? 100 * (1 - downs / requests) : 100;
  const hasLatency = histogram.totalCount > 0;
  const rps = requests / seconds;
  return {
    serviceId: `rpc/${identity.chain}`,
    operatorId: identity.operatorId,
    chain: identity.chain,
    windowStart: start,
    windowEnd: end,
    timestamp: end,
    requests,
    successes,
    rateLimited: o[OUTCOME_INDEX.http_429]!,
    failures,
    successRate: judged > 0 ? (100 * successes) / judged : 100,
    p50Latency: hasLatency ? microsToMs(histogram.getValueAtPercentile(50)) : 0,
    p95Latency: hasLatency ? microsToMs(histogram.getValueAtPercentile(95)) : 0,
    p99Latency: hasLatency ? microsToMs(histogram.getValueAtPercentile(99)) : 0,
    maxLatency: hasLatency ? microsToMs(histogram.maxValue) : 0,
    latencySamples: histogram.totalCount,
    requestsPerSecond: rps,
    throughput: rps * SECONDS_PER_MONTH,
    uptime,
    probesSent: counts.probesSent,
    probesOk: counts.probesOk,
    probesUnreachable: counts.probesUnreachable,
    firstProbeAt: counts.firstProbeAt ?? null,
    lastProbeAt: counts.lastProbeAt ?? null,
    lastProbeFailure: counts.lastProbeFailure ?? null,
    head: probe.head,
    headLag: probe.headLag,
    chainId: probe.chainId,
  };
}
