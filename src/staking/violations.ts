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
import type { OperatorState, OutageTally, ViolationRecord } from './records.js';
import { windowScore } from './scoring.js';
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
  /** The running tally of the outage since `downSince` (null when not down). */
  readonly outage: OutageTally | null;
  readonly badWindows: number;
  readonly probation: boolean;
  readonly quietProbationWindows: number;
  /** See OperatorState.pendingInvalid. */
  readonly pendingInvalid: { readonly invalid: number; readonly answers: number } | null;
}

/** The window's own numbers: what it was sent, how each attempt ended, its latency percentiles and probes. */
function windowEvidence(w: WindowMetrics) {
  return {
    windowStart: w.windowStart,
    windowEnd: w.windowEnd,
    requests: w.requests,
    successes: w.successes,
    rateLimited: w.rateLimited,
    failures: w.failures,
    successRate: w.successRate,
    latencySamples: w.latencySamples,
    p50Latency: w.p50Latency,
    p95Latency: w.p95Latency,
    p99Latency: w.p99Latency,
    maxLatency: w.maxLatency,
    uptime: w.uptime,
    probesSent: w.probesSent,
    probesOk: w.probesOk,
    probesUnreachable: w.probesUnreachable,
    headLag: w.headLag,
  };
}

/** A performance violation's evidence: the window's numbers, the score, the streak, and the targets it missed. */
function performanceEvidence(w: WindowMetrics, score: number, badWindows: number, policy: DetectionPolicy) {
  return {
    ...windowEvidence(w),
    score,
    consecutiveWindowsBelowTarget: badWindows,
    targets: {
      successRate: policy.successRateTarget,
      p95LatencyMs: policy.p95LatencyTargetMs,
      minScore: policy.minScore,
      maxHeadLagBlocks: policy.maxHeadLagBlocks,
    },
  };
}

/** A downtime violation's evidence: the outage since it began, and this window's probes and requests. */
function downtimeEvidence(w: WindowMetrics, downSince: number, outage: OutageTally) {
  return {
    downSince,
    windowStart: w.windowStart,
    windowEnd: w.windowEnd,
    probesSent: w.probesSent,
    probesUnreachable: w.probesUnreachable,
    firstProbeAt: w.firstProbeAt,
    lastProbeAt: w.lastProbeAt,
    lastProbeFailure: w.lastProbeFailure,
    requests: w.requests,
    refusedRequests: w.failures.connect,
    timedOutRequests: w.failures.timeout,
    outage,
  };
}

const NO_OUTAGE: OutageTally = {
  downWindows: 0,
  probesSent: 0,
  probesUnreachable: 0,
  requests: 0,
  unreachableRequests: 0,
  firstProbeAt: null,
  lastProbeAt: null,
  lastProbeFailure: null,
};

/** The tally of an outage with one more down window. */
function tallyOutage(previous: OutageTally, w: WindowMetrics): OutageTally {
  return {
    downWindows: previous.downWindows + 1,
    probesSent: previous.probesSent + w.probesSent,
    probesUnreachable: previous.probesUnreachable + w.probesUnreachable,
    requests: previous.requests + w.requests,
    unreachableRequests: previous.unreachableRequests + w.failures.connect + w.failures.timeout,
    firstProbeAt: previous.firstProbeAt ?? w.firstProbeAt,
    lastProbeAt: w.lastProbeAt ?? previous.lastProbeAt,
    lastProbeFailure: w.lastProbeFailure ?? previous.lastProbeFailure,
  };
}

const pct = (x: number) => `${x.toFixed(2)} %`;

/**
 * Judges one window. Two rules hold throughout:
 * - No evidence is not good evidence. A window in which nothing reached the operator and
 *   nothing showed it down (no probe, no traffic: windows shorter than the probe interval
 *   have many) neither convicts nor clears: the outage clock, its tally, the bad-window
 *   streak and the probation counters stay as they were.
 * - One fault, one violation type, the most specific. A window that shows the operator down
 *   (even before the outage lasts long enough for a downtime violation), misbehaving, or
 *   serving bad data is judged for that cause only: it raises no performance_threshold and
 *   is not counted in the bad-window streak, which holds (neither grows nor resets: the
 *   window says nothing about the operator's performance apart from the fault).
 */
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
      evidence: extra.evidence ?? windowEvidence(w),
    });
  };

  // Downtime: no probe could reach the operator, or nearly every request could not.
  // (Wrong answers are bad data or misbehavior, not downtime.) In a window of the gateway's own
  // overload a timeout may be the gateway's (its timers ran late, its reads waited): only
  // refused connections say the operator is down, and a timed-out probe says nothing.
  const overloaded = input.gatewayHealth?.overloaded === true;
  const unreachable = w.failures.connect + (overloaded ? 0 : w.failures.timeout);
  const downByProbes = w.probesSent > 0 && w.probesUnreachable === w.probesSent && !(overloaded && w.lastProbeFailure === 'timeout');
  const downByTraffic = w.requests >= 3 && unreachable >= 0.9 * w.requests;
  const down = downByProbes || downByTraffic;
  // Up only on evidence: a probe or a request that reached it (an invalid answer reached it too).
  const reached = w.probesSent > w.probesUnreachable || w.requests > w.failures.connect + w.failures.timeout;
  const downSince = down ? (state.downSince ?? w.windowStart) : reached ? null : state.downSince;
  const heldOutage = state.downSince === null ? null : (state.outage ?? NO_OUTAGE);
  const outage = down ? tallyOutage(heldOutage ?? NO_OUTAGE, w) : reached ? null : heldOutage;
  if (down && downSince !== null && outage !== null) {
    const downMs = w.windowEnd - downSince;
    if (downMs >= policy.downtimeMinMs) {
      const minutes = downMs / 60_000;
      const severity: Severity = minutes < 10 ? 'low' : minutes < 60 ? 'medium' : minutes < 360 ? 'high' : 'critical';
      const lastFailure = outage.lastProbeFailure === null ? '' : `, last probe failure: ${outage.lastProbeFailure}`;
      add('downtime', severity, `unreachable for ${minutes.toFixed(1)} min since ${new Date(downSince).toISOString()}: ${outage.probesUnreachable} of ${outage.probesSent} probes unreachable, ${outage.unreachableRequests} of ${outage.requests} requests timed out or were refused${lastFailure}`, {
        durationMinutes: Math.round(minutes * 100) / 100,
        evidence: downtimeEvidence(w, downSince, outage),
      });
    }
  }

  // Misbehavior: answers that are not JSON-RPC, carry the wrong id, or are garbage.
  // On probation (exploration traffic only) a window may never again hold misbehaviorMin
  // invalid answers: the windows since it was demoted add up (pendingInvalid) until they are
  // enough to judge.
  const carried = state.probation ? (state.pendingInvalid ?? null) : null;
  const invalid = w.failures.invalid_envelope + (carried?.invalid ?? 0);
  const answers = w.requests + (carried?.answers ?? 0);
  const invalidShare = answers > 0 ? invalid / answers : 0;
  const misbehaving = invalid >= policy.misbehaviorMin && invalidShare >= 0.01;
  if (misbehaving) {
    const severity: Severity = invalidShare < 0.05 ? 'low' : invalidShare < 0.2 ? 'medium' : invalidShare < 0.5 ? 'high' : 'critical';
    const span = carried === null ? '' : ' (in the windows since it was demoted)';
    add('misbehavior', severity, `${invalid} of ${answers} answers${span} (${pct(100 * invalidShare)}) were not valid JSON-RPC for the request`);
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

  // Performance below the seed's targets for K consecutive judged windows. A window with a
  // more specific cause is not judged here (see above): its failures and slowness are that cause's.
  const specificCause = down || misbehaving || input.wrongChain !== null || input.badData.length > 0;
  let badWindows = state.badWindows;
  let belowTarget = false;
  // A lag seen by a probe that reached the operator is evidence whatever the traffic (a lagging
  // operator gets few requests: none that need the tip).
  const longLag = w.headLag !== null && w.headLag >= policy.maxHeadLagBlocks && w.probesOk > 0;
  // The gateway's own overload: a window it could not serve fairly is not judged (neither counts
  // nor clears the streak); a head lag is the operator's whatever the gateway's load.
  const gatewayOverloaded = overloaded && !longLag;
  // The window is judged on its own score, not the smoothed one: after a fault, the smoothed
  // score stays low for a few clean windows, and judging those by it would punish the fault twice.
  const ownScore = windowScore(w, { alpha: 1, minRequests: policy.minRequests });
  const lowScore = ownScore !== undefined && ownScore < policy.minScore;
  if (!specificCause && (w.requests >= policy.minRequests || longLag) && !gatewayOverloaded) {
    belowTarget = longLag || lowScore || w.successRate < policy.successRateTarget || w.p95Latency > policy.p95LatencyTargetMs;
    badWindows = belowTarget ? badWindows + 1 : 0;
  }
  const k = policy.consecutiveWindows;
  // Raised only by a judged window below target: a quiet window neither counts nor repeats it.
  if (belowTarget && badWindows >= k) {
    const severity: Severity = badWindows >= 16 * k ? 'high' : badWindows >= 4 * k ? 'medium' : 'low';
    const misses = [
      lowScore ? `window score ${ownScore!.toFixed(1)} < ${policy.minScore}` : '',
      w.successRate < policy.successRateTarget ? `success ${pct(w.successRate)} < ${policy.successRateTarget} %` : '',
      w.p95Latency > policy.p95LatencyTargetMs ? `p95 ${w.p95Latency.toFixed(1)} ms > ${policy.p95LatencyTargetMs} ms` : '',
      longLag ? `head ${w.headLag} blocks behind the chain's (limit ${policy.maxHeadLagBlocks})` : '',
    ].filter(Boolean);
    const gateway = input.gatewayHealth == null ? {} : { gateway: healthEvidence(input.gatewayHealth) };
    add('performance_threshold', severity, `below target for ${badWindows} consecutive windows: ${misses.join(', ')}`, {
      evidence: { ...performanceEvidence(w, score, badWindows, policy), ...gateway },
    });
  }

  // Demotion is immediate: a window this bad takes the operator off weighted routing.
  // It lifts after a clean window with enough traffic to judge, or after a run of quiet,
  // reachable windows; a quiet window alone proves nothing (probes do not check data), and
  // a window without a probe that answered leaves the run where it was.
  const judgedByTraffic = w.requests >= policy.minRequests;
  // Probes that reached it and got nothing valid (unreachable ones are the downtime rule's).
  const probesAllInvalid = w.probesSent > w.probesUnreachable && w.probesOk === 0;
  // A success rate lowered by the gateway's own overload (timeouts) demotes nobody.
  const bad = down || probesAllInvalid || misbehaving || input.badData.length > 0 || input.wrongChain !== null
    || (judgedByTraffic && w.successRate < 90 && !overloaded);
  let probation = state.probation;
  let quietProbationWindows = 0;
  if (bad) probation = true;
  else if (judgedByTraffic) probation = false;
  else if (state.probation) {
    quietProbationWindows = (state.quietProbationWindows ?? 0) + (w.probesOk > 0 ? 1 : 0);
    if (quietProbationWindows >= policy.probationQuietWindows) probation = false;
  }
  const pendingInvalid = probation && !misbehaving && invalid > 0 ? { invalid, answers } : null;
  return { violations, downSince, outage, badWindows, probation, quietProbationWindows: probation ? quietProbationWindows : 0, pendingInvalid };
}
