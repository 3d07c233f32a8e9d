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
    state = { ...state, downSince: d.downSince, badWindows: d.badWindows, probation: d.probation };
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
    expect(d).toEqual({ violations: [], downSince: null, badWindows: 0, probation: false, quietProbationWindows: 0 });
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

describe('misbehavior', () => {
  it('needs at least misbehaviorMin invalid envelopes and at least 1 % of requests', () => {
    expect(detect(fresh(), window({ successes: 98, failures: { invalid_envelope: 2 } })).violations).toEqual([]);
    // 3 of 1000 = 0.3 %: below the share.
    expect(detect(fresh(), window({ successes: 997, failures: { invalid_envelope: 3 } })).violations).toEqual([]);
    const v = detect(fresh(), window({ successes: 97, failures: { invalid_envelope: 3 } })).violations;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ type: 'misbehavior', severity: 'low' });
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

  it('counts a low score as below target', () => {
    const { detections } = run([UP, UP, UP], [80, 80, 80]);
    expect(detections[2]!.violations).toMatchObject([{ type: 'performance_threshold' }]);
    expect(detections[2]!.violations[0]!.description).toContain('score');
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
