/**
 * Windows built by hand for the staking tests, derived the way summarizeWindow derives
 * them: requests, success rate and uptime follow from the counts; percentiles from p95.
 */
import type { FailureCause, WindowMetrics } from '../../src/metrics/window-metrics.js';

export const NO_FAILURES: Readonly<Record<FailureCause, number>> = { timeout: 0, connect: 0, http_5xx: 0, http_other: 0, invalid_envelope: 0, wrong_result: 0, missing_block: 0 };

export const TEST_WINDOW_MS = 30_000;

export interface WindowSpec {
  operatorId?: string;
  /** Window start, ms since epoch (default 1_700_000_000_000). */
  start?: number;
  lengthMs?: number;
  successes?: number;
  rateLimited?: number;
  failures?: Partial<Record<FailureCause, number>>;
  p95Latency?: number;
  probesSent?: number;
  probesOk?: number;
  probesUnreachable?: number;
  /** How the last failed probe failed (default: `connect` when some were unreachable, `invalid` when some failed otherwise). */
  lastProbeFailure?: WindowMetrics['lastProbeFailure'];
  chainId?: string | null;
}

/** A window built the way summarizeWindow builds one: requests, success rate and uptime follow from the counts. */
export function testWindow(spec: WindowSpec = {}): WindowMetrics {
  const start = spec.start ?? 1_700_000_000_000;
  const end = start + (spec.lengthMs ?? TEST_WINDOW_MS);
  const failures = { ...NO_FAILURES, ...spec.failures };
  const successes = spec.successes ?? 100;
  const rateLimited = spec.rateLimited ?? 0;
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  const requests = successes + rateLimited + failed;
  const judged = successes + failed;
  const probesSent = spec.probesSent ?? 3;
  const probesOk = spec.probesOk ?? (spec.probesUnreachable === undefined ? probesSent : probesSent - spec.probesUnreachable);
  const probesUnreachable = spec.probesUnreachable ?? 0;
  const downs = failures.connect + failures.timeout;
  const p95 = spec.p95Latency ?? 50;
  const rps = requests / ((end - start) / 1000);
  return {
    serviceId: 'rpc/ethereum',
    operatorId: spec.operatorId ?? 'op-1',
    chain: 'ethereum',
    windowStart: start,
    windowEnd: end,
    timestamp: end,
    requests,
    successes,
    rateLimited,
    failures,
    successRate: judged > 0 ? (100 * successes) / judged : 100,
    p50Latency: p95 / 2,
    p95Latency: p95,
    p99Latency: p95 * 1.5,
    maxLatency: p95 * 2,
    latencySamples: requests - failures.connect - failures.wrong_result,
    requestsPerSecond: rps,
    throughput: rps * 30 * 24 * 3600,
    uptime: probesSent > 0 ? (100 * probesOk) / probesSent : requests > 0 ? 100 * (1 - downs / requests) : 100,
    probesSent,
    probesOk,
    probesUnreachable,
    firstProbeAt: probesSent > 0 ? start : null,
    lastProbeAt: probesSent > 0 ? end : null,
    lastProbeFailure: spec.lastProbeFailure !== undefined ? spec.lastProbeFailure : probesUnreachable > 0 ? 'connect' : probesOk < probesSent ? 'invalid' : null,
    head: 100,
    headLag: 0,
    chainId: spec.chainId ?? '0x1',
  };
}
