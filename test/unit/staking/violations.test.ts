import { describe, expect, it } from 'vitest';
import type { WindowMetrics } from '../../../src/metrics/window-metrics.js';
import { testWindow, type WindowSpec as TestWindowSpec } from '../../support/windows.js';
import { newOperatorState } from '../../../src/staking/ledger.js';
import type { OperatorState } from '../../../src/staking/records.js';
import { DEFAULT_SLASHING, violationId } from '../../../src/staking/slashing-policy.js';
import { type BadDataEvidence, DEFAULT_DETECTION, type Detection, type DetectionInput, detectViolations } from '../../../src/staking/violations.js';

const T0 = 1_700_000_000_000;
const WINDOW_MS = 30_000;

type WindowSpec = Omit<TestWindowSpec, 'operatorId'>;
const window = (spec: WindowSpec = {}) => testWindow({ start: T0, lengthMs: WINDOW_MS, ...spec });

const fresh = (): OperatorState =>
  newOperatorState({ id: 'op-1', walletAddress: '0x742D35CC6634c0532925A3b844BC9E7595F0BEb0', url: 'http://op-1', chain: 'ethereum', now: T0 });

function detect(state: OperatorState, w: WindowMetrics, extra: Partial<Omit<DetectionInput, 'state' | 'window'>> = {}): Detection {
  return detectViolations({ state, window: w, score: 100, badData: [], wrongChain: null, ...extra }, DEFAULT_DETECTION, DEFAULT_SLASHING);
}

/** Feeds consecutive windows through detection, carrying the state forward as the core does. */
function run(specs: readonly WindowSpec[], scores?: readonly number[]): { detections: Detection[]; state: OperatorState } {
  let state = fresh();
  let start = T0;
  const detections: Detection[] = [];
  specs.forEach((spec, i) => {
    const w = window({ start, ...spec });
    const d = detect(state, w, { score: scores?.[i] ?? 100 });
    detections.push(d);
    state = { ...state, downSince: d.downSince, outage: d.outage, badWindows: d.badWindows, probation: d.probation, quietProbationWindows: d.quietProbationWindows };
    start = w.windowEnd;
  });
  return { detections, state };
}

const DOWN_BY_PROBES: WindowSpec = { successes: 0, probesSent: 3, probesUnreachable: 3 };
const DOWN_BY_TRAFFIC: WindowSpec = { successes: 5, failures: { timeout: 30, connect: 20 }, probesSent: 0 };
const UP: WindowSpec = {};

const evidence = (n: number): BadDataEvidence[] =>
  Array.from({ length: n }, (_, i) => ({
    method: 'eth_getBalance',
    params: '["0x0","0x10"]',
    comparedAs: 'quantity',
    answer: `"0x${i + 1}"`,
    majority: '"0x0"',
    // Only the shape matters to detection: the digests are placeholders.
    full: { params: { bytes: 15, sha256: '', truncated: false }, answer: { bytes: 5, sha256: '', truncated: false }, majority: { bytes: 5, sha256: '', truncated: false } },
    agreeingOperators: ['op-2', 'op-3'],
  }));

describe('a clean window', () => {
  it('has no violation, and leaves the operator off probation', () => {
    const d = detect({ ...fresh(), probation: true }, window());
    expect(d).toEqual({ violations: [], downSince: null, outage: null, badWindows: 0, probation: false, quietProbationWindows: 0, pendingInvalid: null });
  });

  it('client-side things never appear: only rpc_error answers and http_429s is no violation (429 is not a failure)', () => {
    // successes here are JSON-RPC error answers (the client's answer); the 429s are the operator shedding load.
    const w = window({ successes: 40, rateLimited: 200, probesSent: 3 });
    expect(w.successRate).toBe(100);
    const { detections } = run([{ successes: 40, rateLimited: 200 }, { successes: 40, rateLimited: 200 }, { successes: 40, rateLimited: 200 }, { successes: 40, rateLimited: 200 }]);
    for (const d of detections) {
      expect(d.violations).toEqual([]);
      expect(d.probation).toBe(false);
      expect(d.badWindows).toBe(0);
      expect(d.downSince).toBeNull();
    }
    // All 429, nothing else: still nothing.
    expect(detect(fresh(), window({ successes: 0, rateLimited: 500 })).violations).toEqual([]);
  });
});

describe('downtime', () => {
  it('is a violation only once the outage has lasted downtimeMinMs', () => {
    const { detections } = run([DOWN_BY_PROBES, DOWN_BY_PROBES, DOWN_BY_PROBES]);
    expect(detections[0]!.violations).toEqual([]);
    expect(detections[0]!.downSince).toBe(T0);
    expect(detections[0]!.probation).toBe(true); // demotion is immediate
    const second = detections[1]!.violations;
    expect(second).toHaveLength(1);
    expect(second[0]).toMatchObject({ type: 'downtime', severity: 'low', durationMinutes: 1, timestamp: T0 + 2 * WINDOW_MS });
    expect(second[0]!.id).toBe(violationId('op-1', 'downtime', 'low', T0 + 2 * WINDOW_MS, DEFAULT_SLASHING));
    expect(detections[2]!.violations[0]).toMatchObject({ type: 'downtime', durationMinutes: 1.5 });
    expect(detections[2]!.downSince).toBe(T0);
  });

  it('counts only consecutive down windows: an up window resets the clock', () => {
    const { detections } = run([DOWN_BY_PROBES, UP, DOWN_BY_PROBES, UP, DOWN_BY_PROBES]);
    for (const d of detections) expect(d.violations).toEqual([]);
    expect(detections[1]!.downSince).toBeNull();
    expect(detections[2]!.downSince).toBe(T0 + 2 * WINDOW_MS);
  });

  it('is detected from traffic when ≥ 90 % of requests time out or are refused', () => {
    const { detections } = run([DOWN_BY_TRAFFIC, DOWN_BY_TRAFFIC]);
    expect(detections[0]!.downSince).toBe(T0);
    expect(detections[1]!.violations.map((v) => v.type)).toEqual(['downtime']);
    // 85 % unreachable is not down.
    const partial = run([
      { successes: 15, failures: { timeout: 85 }, probesSent: 0 },
      { successes: 15, failures: { timeout: 85 }, probesSent: 0 },
    ]);
    for (const d of partial.detections) {
      expect(d.downSince).toBeNull();
      expect(d.violations.some((v) => v.type === 'downtime')).toBe(false);
    }
  });

  it('probes that answer garbage are not downtime', () => {
    const garbage: WindowSpec = { successes: 0, probesSent: 3, probesOk: 0, probesUnreachable: 0 };
    const { detections } = run([garbage, garbage, garbage, garbage]);
    for (const d of detections) {
      expect(d.downSince).toBeNull();
      expect(d.violations).toEqual([]);
      expect(d.probation).toBe(true); // not clean, though: no probe answered correctly
    }
  });

  it('grows in severity with duration: low < 10 min, medium < 1 h, high < 6 h, critical after', () => {
    const at = (minutes: number) => {
      const w = window({ start: T0 + minutes * 60_000 - WINDOW_MS, ...DOWN_BY_PROBES });
      return detect({ ...fresh(), downSince: T0 }, w).violations[0]!;
    };
    expect(at(0.5)).toBeUndefined();
    expect(at(1)).toMatchObject({ severity: 'low', durationMinutes: 1 });
    expect(at(9.5)).toMatchObject({ severity: 'low', durationMinutes: 9.5 });
    expect(at(10)).toMatchObject({ severity: 'medium', durationMinutes: 10 });
    expect(at(59.5)).toMatchObject({ severity: 'medium' });
    expect(at(60)).toMatchObject({ severity: 'high', durationMinutes: 60 });
    expect(at(359.5)).toMatchObject({ severity: 'high' });
    expect(at(360)).toMatchObject({ severity: 'critical', durationMinutes: 360 });
    expect(at(1000)).toMatchObject({ severity: 'critical', durationMinutes: 1000 });
  });
});

describe('no evidence is not good evidence', () => {
  const SHORT_MS = 2_000;
  /** A 2 s window: one probe, refused (probes every 5 s land in every second or third window). */
  const PROBED_DOWN: WindowSpec = { lengthMs: SHORT_MS, successes: 0, probesSent: 1, probesUnreachable: 1 };
  /** A 2 s window with neither a probe nor a request. */
  const NOTHING: WindowSpec = { lengthMs: SHORT_MS, successes: 0, probesSent: 0 };

  it('an operator dead from the start, with windows shorter than the probe interval, is convicted of downtime', () => {
    // 40 windows of 2 s (80 s), a probe every 5 s: windows 0, 2 (4 s), 5 (10 s), 7, 10, ...
    const probed = (i: number) => Math.floor((i * SHORT_MS) / 5_000) !== Math.floor(((i - 1) * SHORT_MS) / 5_000) || i === 0;
    const specs = Array.from({ length: 40 }, (_, i) => (probed(i) ? PROBED_DOWN : NOTHING));
    const { detections } = run(specs);
    // The outage clock starts at the first probe and is never reset by a window without evidence.
    for (const d of detections) expect(d.downSince).toBe(T0);
    const convicted = detections.flatMap((d, i) => d.violations.map((v) => ({ window: i, v })));
    expect(convicted.length).toBeGreaterThan(0);
    for (const { window: i, v } of convicted) {
      expect(v.type).toBe('downtime');
      // Only a window that itself showed the operator down convicts; a window without evidence never does.
      expect(specs[i]).toBe(PROBED_DOWN);
      expect((i + 1) * SHORT_MS).toBeGreaterThanOrEqual(DEFAULT_DETECTION.downtimeMinMs);
    }
    // The first probed window at or past 60 s: window 30 ends at 62 s.
    expect(convicted[0]!.window).toBe(30);
    expect(convicted[0]!.v).toMatchObject({ severity: 'low', durationMinutes: 1.03 });
  });

  it('a window without probes and without traffic keeps the outage, the bad-window streak and the probation counters as they were', () => {
    const outage = { downWindows: 2, probesSent: 2, probesUnreachable: 2, requests: 0, unreachableRequests: 0, firstProbeAt: T0, lastProbeAt: T0 + 20_000, lastProbeFailure: 'connect' };
    const state = { ...fresh(), downSince: T0, outage, badWindows: 2, probation: true, quietProbationWindows: 3 };
    const d = detect(state, window({ start: T0 + 30_000, successes: 0, probesSent: 0 }));
    expect(d).toEqual({ violations: [], downSince: T0, outage, badWindows: 2, probation: true, quietProbationWindows: 3, pendingInvalid: null });
    // Not even after the outage would have lasted long enough: it convicts only on evidence.
    expect(detect(state, window({ start: T0 + 600_000, successes: 0, probesSent: 0 })).violations).toEqual([]);
  });

  it('a couple of refused requests and no probe hold too; anything that reached the operator clears', () => {
    const state = { ...fresh(), downSince: T0 };
    const later = T0 + 30_000;
    expect(detect(state, window({ start: later, successes: 0, failures: { connect: 2 }, probesSent: 0 })).downSince).toBe(T0);
    expect(detect(state, window({ start: later, successes: 2, probesSent: 0 })).downSince).toBeNull();
    expect(detect(state, window({ start: later, successes: 0, rateLimited: 1, probesSent: 0 })).downSince).toBeNull();
    expect(detect(state, window({ start: later, successes: 0, probesSent: 1, probesOk: 0, probesUnreachable: 0 })).downSince).toBeNull();
    expect(detect(state, window({ start: later, successes: 0, probesSent: 1 })).downSince).toBeNull();
  });

  it('holds whatever the window/probe ratio: probes every third window of 10 s', () => {
    const specs = Array.from({ length: 9 }, (_, i) => (i % 3 === 0 ? { lengthMs: 10_000, successes: 0, probesSent: 1, probesUnreachable: 1 } : { lengthMs: 10_000, successes: 0, probesSent: 0 }));
    const { detections } = run(specs);
    expect(detections.map((d) => d.violations.map((v) => v.type))).toEqual([[], [], [], [], [], [], ['downtime'], [], []]);
  });
});

describe('one fault, one violation type, the most specific', () => {
  const GARBAGE: WindowSpec = { successes: 50, failures: { invalid_envelope: 50 } };
  const SLOW: WindowSpec = { p95Latency: 400 };
  const typesOf = (detections: readonly Detection[]) => detections.map((d) => d.violations.map((v) => v.type));

  it('a garbage-answering operator gets misbehavior only, however low its score and success rate', () => {
    const { detections } = run([GARBAGE, GARBAGE, GARBAGE, GARBAGE], [60, 40, 30, 20]);
    expect(typesOf(detections)).toEqual([['misbehavior'], ['misbehavior'], ['misbehavior'], ['misbehavior']]);
    expect(detections.map((d) => d.badWindows)).toEqual([0, 0, 0, 0]);
  });

  it('an operator down by traffic gets downtime only, also before the outage is long enough to be one', () => {
    const { detections } = run([DOWN_BY_TRAFFIC, DOWN_BY_TRAFFIC, DOWN_BY_TRAFFIC, DOWN_BY_TRAFFIC], [40, 20, 10, 5]);
    expect(typesOf(detections)).toEqual([[], ['downtime'], ['downtime'], ['downtime']]);
    expect(detections.map((d) => d.badWindows)).toEqual([0, 0, 0, 0]);
  });

  it('an outvoted operator gets bad_data only: its wrong answers are not also a low success rate', () => {
    const outvoted: WindowSpec = { successes: 80, failures: { wrong_result: 20 } };
    const specs = [outvoted, outvoted, outvoted];
    let state = fresh();
    let start = T0;
    const types: string[][] = [];
    for (const spec of specs) {
      const w = window({ start, ...spec });
      const d = detect(state, w, { score: 50, badData: evidence(3) });
      types.push(d.violations.map((v) => v.type));
      state = { ...state, badWindows: d.badWindows };
      start = w.windowEnd;
    }
    expect(types).toEqual([['bad_data'], ['bad_data'], ['bad_data']]);
    expect(state.badWindows).toBe(0);
  });

  it('a fault window holds the performance streak: it neither counts nor resets it', () => {
    const { detections } = run([SLOW, SLOW, GARBAGE, SLOW]);
    expect(detections.map((d) => d.badWindows)).toEqual([1, 2, 2, 3]);
    expect(typesOf(detections)).toEqual([[], [], ['misbehavior'], ['performance_threshold']]);
  });

  it('a slow operator with no other fault still gets performance_threshold', () => {
    expect(typesOf(run([SLOW, SLOW, SLOW]).detections)).toEqual([[], [], ['performance_threshold']]);
  });
});

describe('evidence an operator can check', () => {
  it('a performance violation carries the window\'s percentiles, sample count, outcomes by cause, score and the targets', () => {
    const slowAndFailing: WindowSpec = { successes: 95, rateLimited: 4, failures: { http_5xx: 2, timeout: 1 }, p95Latency: 400 };
    const { detections } = run([slowAndFailing, slowAndFailing, slowAndFailing], [85, 80, 75]);
    const v = detections[2]!.violations[0]!;
    expect(v.type).toBe('performance_threshold');
    const w = window({ start: T0 + 2 * WINDOW_MS, ...slowAndFailing });
    expect(v.evidence).toEqual({
      windowStart: w.windowStart,
      windowEnd: w.windowEnd,
      requests: 102,
      successes: 95,
      rateLimited: 4,
      failures: { timeout: 1, connect: 0, http_5xx: 2, http_other: 0, invalid_envelope: 0, wrong_result: 0, missing_block: 0 },
      successRate: w.successRate,
      latencySamples: 102,
      p50Latency: 200,
      p95Latency: 400,
      p99Latency: 600,
      maxLatency: 800,
      uptime: 100,
      probesSent: 3,
      probesOk: 3,
      probesUnreachable: 0,
      headLag: 0,
      score: 75,
      consecutiveWindowsBelowTarget: 3,
      targets: { successRate: 99, p95LatencyMs: 250, minScore: 90, maxHeadLagBlocks: 64 },
    });
  });

  it('a downtime violation carries when the outage began, the probes and requests over all of it, the window\'s probe times and the last probe failure', () => {
    const timedOut: WindowSpec = { successes: 0, failures: { timeout: 4 }, probesSent: 3, probesUnreachable: 3, lastProbeFailure: 'timeout' };
    const { detections } = run([DOWN_BY_PROBES, timedOut, timedOut]);
    const v = detections[2]!.violations[0]!;
    expect(v.type).toBe('downtime');
    const last = window({ start: T0 + 2 * WINDOW_MS, ...timedOut });
    expect(v.evidence).toEqual({
      downSince: T0,
      windowStart: last.windowStart,
      windowEnd: last.windowEnd,
      probesSent: 3,
      probesUnreachable: 3,
      firstProbeAt: last.firstProbeAt,
      lastProbeAt: last.lastProbeAt,
      lastProbeFailure: 'timeout',
      requests: 4,
      refusedRequests: 0,
      timedOutRequests: 4,
      outage: { downWindows: 3, probesSent: 9, probesUnreachable: 9, requests: 8, unreachableRequests: 8, firstProbeAt: T0, lastProbeAt: last.lastProbeAt, lastProbeFailure: 'timeout' },
    });
    expect(v.description).toContain('9 of 9 probes unreachable');
    expect(v.description).toContain('last probe failure: timeout');
  });

  it('stays the same size however long the outage', () => {
    const { detections } = run(Array.from({ length: 500 }, () => DOWN_BY_PROBES));
    const sizes = detections.flatMap((d) => d.violations.map((v) => JSON.stringify(v.evidence).length));
    expect(Math.max(...sizes)).toBeLessThan(1_000);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(20);
  });
});

describe('misbehavior', () => {
  it('needs at least misbehaviorMin invalid envelopes and at least 1 % of requests', () => {
    expect(detect(fresh(), window({ successes: 98, failures: { invalid_envelope: 2 } })).violations).toEqual([]);
    // 3 of 1000 = 0.3 %: below the share.
    expect(detect(fresh(), window({ successes: 997, failures: { invalid_envelope: 3 } })).violations).toEqual([]);
    const v = detect(fresh(), window({ successes: 97, failures: { invalid_envelope: 3 } })).violations;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ type: 'misbehavior', severity: 'low' });
  });

  it('on probation, invalid answers add up across windows until they are enough to judge', () => {
    // Demoted to exploration traffic: five answers a window (too few to judge), one of them invalid.
    const trickle = { successes: 4, failures: { invalid_envelope: 1 }, probesSent: 1 };
    let state: OperatorState = { ...fresh(), probation: true };
    const found: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const d = detect(state, window({ start: T0 + i * 30_000, ...trickle }));
      found.push(d.violations.map((v) => v.type));
      state = { ...state, probation: d.probation, quietProbationWindows: d.quietProbationWindows, pendingInvalid: d.pendingInvalid };
    }
    expect(found).toEqual([[], [], ['misbehavior'], []]);
    // Off probation, a window stands alone: one invalid answer is not misbehavior, and nothing is carried.
    const alone = detect({ ...fresh(), probation: false, pendingInvalid: { invalid: 2, answers: 20 } }, window(trickle));
    expect(alone.violations).toEqual([]);
  });

  it('grows in severity with the share of invalid answers', () => {
    const severityAt = (invalid: number) =>
      detect(fresh(), window({ successes: 100 - invalid, failures: { invalid_envelope: invalid } })).violations.find((v) => v.type === 'misbehavior')?.severity;
    expect(severityAt(4)).toBe('low');
    expect(severityAt(5)).toBe('medium');
    expect(severityAt(19)).toBe('medium');
    expect(severityAt(20)).toBe('high');
    expect(severityAt(49)).toBe('high');
    expect(severityAt(50)).toBe('critical');
    expect(severityAt(100)).toBe('critical');
  });

  it('puts the operator on probation', () => {
    expect(detect(fresh(), window({ successes: 97, failures: { invalid_envelope: 3 } })).probation).toBe(true);
  });
});

describe('bad data', () => {
  it('comes from cross-check evidence: medium below 3 answers, high from 3', () => {
    const one = detect(fresh(), window(), { badData: evidence(1) }).violations;
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ type: 'bad_data', severity: 'medium', evidence: evidence(1) });
    expect(detect(fresh(), window(), { badData: evidence(2) }).violations[0]!.severity).toBe('medium');
    expect(detect(fresh(), window(), { badData: evidence(3) }).violations[0]!.severity).toBe('high');
    const many = detect(fresh(), window(), { badData: evidence(12) }).violations[0]!;
    expect(many.severity).toBe('high');
    expect(many.evidence).toHaveLength(5); // bounded
    expect(detect(fresh(), window(), { badData: evidence(1) }).probation).toBe(true);
  });

  it('is critical for a wrong chain, whatever the other evidence', () => {
    const wrongChain = { expected: '0x1', reported: '0x5' };
    const v = detect(fresh(), window({ chainId: '0x5' }), { wrongChain, badData: evidence(2) }).violations;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ type: 'bad_data', severity: 'critical', evidence: wrongChain });
    expect(v[0]!.description).toContain('0x5');
  });
});

describe('performance threshold', () => {
  const SLOW: WindowSpec = { p95Latency: 400 };
  const FAILING: WindowSpec = { successes: 95, failures: { http_5xx: 5 } };
  const QUIET_BAD: WindowSpec = { successes: 2, failures: { http_5xx: 3 }, p95Latency: 900 };

  it('is a violation only after K consecutive judged windows below target', () => {
    const { detections } = run([SLOW, SLOW, SLOW, SLOW]);
    expect(detections.map((d) => d.badWindows)).toEqual([1, 2, 3, 4]);
    expect(detections[0]!.violations).toEqual([]);
    expect(detections[1]!.violations).toEqual([]);
    expect(detections[2]!.violations).toHaveLength(1);
    expect(detections[2]!.violations[0]).toMatchObject({ type: 'performance_threshold', severity: 'low' });
    expect(detections[2]!.violations[0]!.description).toContain('p95');
    expect(run([FAILING, FAILING, FAILING]).detections[2]!.violations.map((v) => v.type)).toEqual(['performance_threshold']);
  });

  it('counts a low window score as below target (here half its probes unreachable), not a low smoothed score', () => {
    const halfReachable = { successes: 100, probesSent: 4, probesUnreachable: 2 };
    const { detections } = run([halfReachable, halfReachable, halfReachable], [100, 100, 100]);
    expect(detections[2]!.violations).toMatchObject([{ type: 'performance_threshold' }]);
    expect(detections[2]!.violations[0]!.description).toContain('window score');
    // Clean windows after a fault: the smoothed score lingers low, the windows are judged on their own.
    const { detections: after } = run([UP, UP, UP], [80, 80, 80]);
    for (const d of after) expect(d.violations).toEqual([]);
  });

  it('resets on a good judged window', () => {
    const { detections } = run([SLOW, SLOW, UP, SLOW, SLOW]);
    expect(detections.map((d) => d.badWindows)).toEqual([1, 2, 0, 1, 2]);
    for (const d of detections) expect(d.violations).toEqual([]);
  });

  it('a window with too few requests neither counts nor resets', () => {
    const { detections } = run([SLOW, SLOW, QUIET_BAD, { successes: 3, probesSent: 3 }, SLOW]);
    expect(detections.map((d) => d.badWindows)).toEqual([1, 2, 2, 2, 3]);
    expect(detections.slice(0, 4).every((d) => d.violations.length === 0)).toBe(true);
    expect(detections[4]!.violations.map((v) => v.type)).toEqual(['performance_threshold']);
  });

  it('a window with too few requests does not itself raise a performance violation, even after K bad windows', () => {
    // Three judged bad windows raise one; a following quiet window was not judged, so it
    // must not raise another (on probation an operator may get only exploration traffic).
    const { detections } = run([SLOW, SLOW, SLOW, { successes: 3, probesSent: 3 }]);
    expect(detections[2]!.violations.map((v) => v.type)).toEqual(['performance_threshold']);
    expect(detections[3]!.badWindows).toBe(3);
    expect(detections[3]!.violations).toEqual([]);
  });

  it('grows in severity with the run of bad windows', () => {
    const severityAfter = (n: number) => detect({ ...fresh(), badWindows: n - 1 }, window(SLOW)).violations[0]!.severity;
    const k = DEFAULT_DETECTION.consecutiveWindows;
    expect(severityAfter(k)).toBe('low');
    expect(severityAfter(4 * k)).toBe('medium');
    expect(severityAfter(16 * k)).toBe('high');
  });
});

describe('probation', () => {
  it('is set immediately on a bad window and cleared by a clean one', () => {
    const { detections } = run([{ successes: 50, failures: { http_5xx: 50 } }, UP, DOWN_BY_PROBES, UP]);
    expect(detections.map((d) => d.probation)).toEqual([true, false, true, false]);
  });

  it('is left as it was by a window with no evidence (too few requests, no probes)', () => {
    const quiet = window({ successes: 2, probesSent: 0 });
    expect(detect({ ...fresh(), probation: true }, quiet).probation).toBe(true);
    expect(detect({ ...fresh(), probation: false }, quiet).probation).toBe(false);
  });

  it('is not cleared by one quiet window (probes do not check data), but by a run of them', () => {
    let state = { ...fresh(), probation: true };
    for (let i = 1; i < DEFAULT_DETECTION.probationQuietWindows; i++) {
      const d = detect(state, window({ successes: 2, probesSent: 2 }));
      expect(d.probation).toBe(true);
      expect(d.quietProbationWindows).toBe(i);
      state = { ...state, quietProbationWindows: d.quietProbationWindows };
    }
    expect(detect(state, window({ successes: 2, probesSent: 2 })).probation).toBe(false);
    // Unreachable probes do not count towards it.
    expect(detect({ ...fresh(), probation: true }, window({ successes: 0, probesSent: 2, probesOk: 0, probesUnreachable: 2 })).quietProbationWindows).toBe(0);
  });
});
