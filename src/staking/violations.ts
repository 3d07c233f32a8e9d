/**
 * Turns one window of measurements into violations, and the fast, reversible demotion
 * (probation) that goes with them. Slashing is separate and slower: it needs the evidence
 * these records carry. Client faults never reach here: the window counts only what the
 * operator did (timeouts, refused connections, 5xx, invalid envelopes, wrong answers).
 */
import { type GatewayHealth, healthEvidence } from '../metrics/gateway-health.js';
import type { WindowMetrics } from '../metrics/window-metrics.js';
import type { CrossCheckEvidence } from '../router/cross-check.js';
import type { Severity, ViolationType } from '../types.js';
import type { OperatorState, ViolationRecord } from './records.js';
import { type SlashingPolicy, violationId } from './slashing-policy.js';

export interface DetectionPolicy {
  /** Requests a window needs before its rates are judged. */
  readonly minRequests: number;
  /** An outage must last this long before it is a downtime violation (demotion is immediate). */
  readonly downtimeMinMs: number;
  readonly successRateTarget: number;
  readonly p95LatencyTargetMs: number;
  readonly minScore: number;
  /** Consecutive windows below target before a performance_threshold violation. */
  readonly consecutiveWindows: number;
  /** Invalid envelopes in one window before it is misbehavior. */
  readonly misbehaviorMin: number;
  /**
   * Windows on probation with too little traffic to judge, and reachable, after which
   * probation lifts anyway: an operator demoted to exploration traffic may never see
   * enough requests to prove itself, and probes cannot check its data.
   */
  readonly probationQuietWindows: number;
  /**
   * Blocks behind the chain's agreed head at a window's close (probed) that make the window
   * count as below target whatever its traffic: a long lag is performance_threshold evidence.
   */
  readonly maxHeadLagBlocks: number;
}

export const DEFAULT_DETECTION: DetectionPolicy = {
  minRequests: 10,
  downtimeMinMs: 60_000,
  successRateTarget: 99,
  p95LatencyTargetMs: 250,
  minScore: 90,
  consecutiveWindows: 3,
  misbehaviorMin: 3,
  probationQuietWindows: 6,
  maxHeadLagBlocks: 64,
};

/** Answers that lost a 2-of-3 vote against the other operators (the cross-check). */
export type BadDataEvidence = CrossCheckEvidence;

export interface DetectionInput {
  readonly state: OperatorState;
  readonly window: WindowMetrics;
  readonly score: number;
  readonly badData: readonly BadDataEvidence[];
  /** Set when the operator reported a chain id other than the chain's. */
  readonly wrongChain: { readonly expected: string; readonly reported: string } | null;
  /** The gateway's own health in this window (gateway-health.ts); when it was overloaded, the window's performance is not the operator's. */
  readonly gatewayHealth?: GatewayHealth | null;
}

export interface Detection {
  readonly violations: ViolationRecord[];
  readonly downSince: number | null;
  readonly badWindows: number;
  readonly probation: boolean;
  readonly quietProbationWindows: number;
}

function evidenceOf(w: WindowMetrics) {
  return {
    windowStart: w.windowStart,
    windowEnd: w.windowEnd,
    requests: w.requests,
    successes: w.successes,
    failures: w.failures,
    successRate: w.successRate,
    p95Latency: w.p95Latency,
    uptime: w.uptime,
    probesSent: w.probesSent,
    probesOk: w.probesOk,
    probesUnreachable: w.probesUnreachable,
    headLag: w.headLag,
  };
}

const pct = (x: number) => `${x.toFixed(2)} %`;

export function detectViolations(input: DetectionInput, policy: DetectionPolicy, slashing: SlashingPolicy): Detection {
  const { state, window: w, score } = input;
  const now = w.windowEnd;
  const violations: ViolationRecord[] = [];
  const add = (type: ViolationType, severity: Severity, description: string, extra: { durationMinutes?: number; evidence?: unknown } = {}) => {
    violations.push({
      id: violationId(state.id, type, severity, now, slashing),
      type,
      severity,
      timestamp: now,
      description,
      ...(extra.durationMinutes === undefined ? {} : { durationMinutes: extra.durationMinutes }),
      evidence: extra.evidence ?? evidenceOf(w),
    });
  };

  // Downtime: no probe could reach the operator, or nearly every request could not.
  // (Wrong answers are bad data or misbehavior, not downtime.)
  const unreachable = w.failures.connect + w.failures.timeout;
  const downByProbes = w.probesSent > 0 && w.probesUnreachable === w.probesSent;
  const downByTraffic = w.requests >= 3 && unreachable >= 0.9 * w.requests;
  const down = downByProbes || downByTraffic;
  const downSince = down ? (state.downSince ?? w.windowStart) : null;
  if (downSince !== null) {
    const downMs = w.windowEnd - downSince;
    if (downMs >= policy.downtimeMinMs) {
      const minutes = downMs / 60_000;
      const severity: Severity = minutes < 10 ? 'low' : minutes < 60 ? 'medium' : minutes < 360 ? 'high' : 'critical';
      add('downtime', severity, `unreachable for ${minutes.toFixed(1)} min: ${w.probesUnreachable} of ${w.probesSent} probes unreachable, ${unreachable} of ${w.requests} requests timed out or were refused in the last window`, {
        durationMinutes: Math.round(minutes * 100) / 100,
      });
    }
  }

  // Misbehavior: answers that are not JSON-RPC, carry the wrong id, or are garbage.
  const invalid = w.failures.invalid_envelope;
  const invalidShare = w.requests > 0 ? invalid / w.requests : 0;
  const misbehaving = invalid >= policy.misbehaviorMin && invalidShare >= 0.01;
  if (misbehaving) {
    const severity: Severity = invalidShare < 0.05 ? 'low' : invalidShare < 0.2 ? 'medium' : invalidShare < 0.5 ? 'high' : 'critical';
    add('misbehavior', severity, `${invalid} of ${w.requests} answers (${pct(100 * invalidShare)}) were not valid JSON-RPC for the request`);
  }

  // Bad data: the wrong chain outright, or answers outvoted 2-of-3 by the other operators.
  if (input.wrongChain !== null) {
    add('bad_data', 'critical', `reports chain id ${input.wrongChain.reported}, the chain is ${input.wrongChain.expected}`, { evidence: input.wrongChain });
  } else if (input.badData.length > 0) {
    const severity: Severity = input.badData.length >= 3 ? 'high' : 'medium';
    const first = input.badData[0]!;
    add('bad_data', severity, `${input.badData.length} answer(s) disagreed with the other operators, e.g. ${first.method}: got ${first.answer.slice(0, 80)}, majority ${first.majority.slice(0, 80)}`, {
      evidence: input.badData.slice(0, 5),
    });
  }

  // Performance below the seed's targets for K consecutive judged windows.
  let badWindows = state.badWindows;
  let belowTarget = false;
  // A lag seen by a probe that reached the operator is evidence whatever the traffic (a lagging
  // operator gets few requests: none that need the tip).
  const longLag = w.headLag !== null && w.headLag >= policy.maxHeadLagBlocks && w.probesOk > 0;
  // The gateway's own overload: a window it could not serve fairly is not judged (neither counts
  // nor clears the streak); a head lag is the operator's whatever the gateway's load.
  const gatewayOverloaded = input.gatewayHealth?.overloaded === true && !longLag;
  if ((w.requests >= policy.minRequests || longLag) && !gatewayOverloaded) {
    belowTarget = longLag || score < policy.minScore || w.successRate < policy.successRateTarget || w.p95Latency > policy.p95LatencyTargetMs;
    badWindows = belowTarget ? badWindows + 1 : 0;
  }
  const k = policy.consecutiveWindows;
  // Raised only by a judged window below target: a quiet window neither counts nor repeats it.
  if (belowTarget && badWindows >= k) {
    const severity: Severity = badWindows >= 16 * k ? 'high' : badWindows >= 4 * k ? 'medium' : 'low';
    const misses = [
      score < policy.minScore ? `score ${score.toFixed(1)} < ${policy.minScore}` : '',
      w.successRate < policy.successRateTarget ? `success ${pct(w.successRate)} < ${policy.successRateTarget} %` : '',
      w.p95Latency > policy.p95LatencyTargetMs ? `p95 ${w.p95Latency.toFixed(1)} ms > ${policy.p95LatencyTargetMs} ms` : '',
      longLag ? `head ${w.headLag} blocks behind the chain's (limit ${policy.maxHeadLagBlocks})` : '',
    ].filter(Boolean);
    const gateway = input.gatewayHealth == null ? {} : { gateway: healthEvidence(input.gatewayHealth) };
    add('performance_threshold', severity, `below target for ${badWindows} consecutive windows: ${misses.join(', ')}`, { evidence: { ...evidenceOf(w), ...gateway } });
  }

  // Demotion is immediate: a window this bad takes the operator off weighted routing.
  // It lifts after a clean window with enough traffic to judge, or after a run of quiet,
  // reachable windows; a quiet window alone proves nothing (probes do not check data).
  const judgedByTraffic = w.requests >= policy.minRequests;
  const probesAllInvalid = w.probesSent > 0 && w.probesOk === 0;
  const bad = down || probesAllInvalid || misbehaving || input.badData.length > 0 || input.wrongChain !== null
    || (judgedByTraffic && w.successRate < 90);
  let probation = state.probation;
  let quietProbationWindows = 0;
  if (bad) probation = true;
  else if (judgedByTraffic) probation = false;
  else if (state.probation && w.probesOk > 0) {
    quietProbationWindows = (state.quietProbationWindows ?? 0) + 1;
    if (quietProbationWindows >= policy.probationQuietWindows) probation = false;
  }
  return { violations, downSince, badWindows, probation, quietProbationWindows: probation ? quietProbationWindows : 0 };
}
