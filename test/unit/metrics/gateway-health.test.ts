/**
 * The gateway judges itself first: its threads' saturation, chains whose every operator
 * degraded at once, and what detection does with a window of the gateway's overload.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OVERLOAD, degradedChains, type GatewayHealth, gatewayHealthOf, healthForChain, type ThreadHealth, ThreadHealthMeter } from '../../../src/metrics/gateway-health.js';
import type { WindowMetrics } from '../../../src/metrics/window-metrics.js';
import { newOperatorState } from '../../../src/staking/ledger.js';
import type { OperatorState } from '../../../src/staking/records.js';
import { DEFAULT_SLASHING } from '../../../src/staking/slashing-policy.js';
import { DEFAULT_DETECTION, type Detection, detectViolations } from '../../../src/staking/violations.js';
import { testWindow } from '../../support/windows.js';

const T0 = 1_700_000_000_000;
const WINDOW_MS = 30_000;

const thread = (patch: Partial<ThreadHealth> = {}): ThreadHealth => ({
  thread: 'main',
  eventLoopDelayP99Ms: 2,
  eventLoopDelayMaxMs: 5,
  eventLoopUtilization: 0.3,
  poolQueued: 0,
  poolQueueMaxDepth: 0,
  poolWaitMaxMs: 0,
  ...patch,
});

const HEALTHY: GatewayHealth = gatewayHealthOf([thread()], DEFAULT_OVERLOAD);
const SATURATED: GatewayHealth = gatewayHealthOf([thread({ eventLoopUtilization: 0.97 })], DEFAULT_OVERLOAD);

describe('gatewayHealthOf', () => {
  it('is healthy below both thresholds, and reports the pools without judging them', () => {
    const h = gatewayHealthOf([thread({ poolQueued: 500, poolWaitMaxMs: 900 })], DEFAULT_OVERLOAD);
    expect(h.overloaded).toBe(false);
    expect(h.reasons).toEqual([]);
    expect(h.poolQueued).toBe(500);
    expect(h.poolWaitMaxMs).toBe(900);
  });

  it('is saturated when any thread is busier or later than the thresholds, and says which', () => {
    const h = gatewayHealthOf([thread(), thread({ thread: 'worker-1', eventLoopDelayP99Ms: 140 }), thread({ thread: 'worker-2', eventLoopUtilization: 0.95 })], DEFAULT_OVERLOAD);
    expect(h.overloaded).toBe(true);
    expect(h.reasons).toHaveLength(2);
    expect(h.reasons[0]).toMatch(/worker-1 delayed 140 ms at p99 \(limit 100 ms\)/);
    expect(h.reasons[1]).toMatch(/worker-2 busy 95\.0 %/);
    // The worst thread's loop, the pools summed.
    expect(h.eventLoopDelayP99Ms).toBe(140);
    expect(h.eventLoopUtilization).toBe(0.95);
  });
});

describe('degradedChains', () => {
  const target = { p95LatencyTargetMs: 250, minRequests: 10 };
  const w = (operatorId: string, chain: string, p95Latency: number, successes = 100): WindowMetrics => ({ ...testWindow({ operatorId, p95Latency, successes }), chain });

  it('names a chain whose every judged operator (two or more) was above target in the same window', () => {
    const degraded = degradedChains([w('a', 'ethereum', 900), w('b', 'ethereum', 1300), w('c', 'ethereum', 400), w('d', 'base', 20)], target);
    expect([...degraded.keys()]).toEqual(['ethereum']);
    expect(degraded.get('ethereum')).toMatch(/every operator of ethereum \(3\).*lowest 400\.0 ms/);
  });

  it('never one slow operator among healthy ones, nor a chain with one judged operator', () => {
    expect(degradedChains([w('a', 'ethereum', 20), w('b', 'ethereum', 30), w('slow', 'ethereum', 400)], target).size).toBe(0);
    expect(degradedChains([w('only', 'ethereum', 900)], target).size).toBe(0);
    // A healthy operator with too little traffic to judge does not count for or against.
    expect(degradedChains([w('slow', 'ethereum', 900), w('quiet', 'ethereum', 20, 3)], target).size).toBe(0);
  });

  it('adds the chain\'s reason to the gateway\'s health for that chain only', () => {
    expect(healthForChain(HEALTHY, undefined)).toBe(HEALTHY);
    const h = healthForChain(HEALTHY, 'every operator of ethereum (2) ...');
    expect(h.overloaded).toBe(true);
    expect(h.reasons).toEqual(['every operator of ethereum (2) ...']);
  });
});

describe('ThreadHealthMeter', () => {
  it('sees its event loop blocked, and starts afresh at every take', async () => {
    const pools = [{ takeQueueStats: () => ({ queued: 2, maxDepth: 2, maxWaitMs: 12, waitSumMs: 20, waiting: 0 }) }];
    const meter = new ThreadHealthMeter('main', () => pools);
    try {
      meter.take();
      const blocked = new Promise<void>((resolve) =>
        setTimeout(() => {
          const until = performance.now() + 250;
          while (performance.now() < until) {
            // the loop can do nothing else
          }
          // A timer after the block: the delay monitor samples the late tick.
          setTimeout(resolve, 50);
        }, 30),
      );
      await blocked;
      const h = meter.take();
      expect(h.eventLoopDelayMaxMs).toBeGreaterThan(150);
      expect(h.eventLoopUtilization).toBeGreaterThan(0.5);
      expect(h.poolQueued).toBe(2);
      expect(h.poolWaitMaxMs).toBe(12);
    } finally {
      meter.stop();
    }
  });
});

describe('detection in a window of the gateway\'s overload', () => {
  const fresh = (): OperatorState => newOperatorState({ id: 'op-1', walletAddress: '0x742D35CC6634c0532925A3b844BC9E7595F0BEb0', url: 'http://op-1', chain: 'ethereum', now: T0 });

  /** Consecutive windows, each slow (p95 900 ms), with the gateway's health of each. */
  function run(healths: readonly (GatewayHealth | null)[], spec: Parameters<typeof testWindow>[0] = { p95Latency: 900 }): Detection[] {
    let state = fresh();
    return healths.map((gatewayHealth, i) => {
      const w = testWindow({ start: T0 + i * WINDOW_MS, lengthMs: WINDOW_MS, ...spec });
      const d = detectViolations({ state, window: w, score: 100, badData: [], wrongChain: null, gatewayHealth }, DEFAULT_DETECTION, DEFAULT_SLASHING);
      state = { ...state, downSince: d.downSince, badWindows: d.badWindows, probation: d.probation };
      return d;
    });
  }

  it('convicts no one of performance_threshold, and neither counts nor clears the streak', () => {
    const d = run([HEALTHY, HEALTHY, SATURATED, SATURATED, SATURATED]);
    expect(d.map((x) => x.badWindows)).toEqual([1, 2, 2, 2, 2]);
    expect(d.flatMap((x) => x.violations)).toEqual([]);
  });

  it('a slow operator is still convicted once the gateway is healthy, with the gateway\'s health in the evidence', () => {
    const d = run([SATURATED, HEALTHY, HEALTHY, HEALTHY]);
    const v = d[3]!.violations;
    expect(v.map((x) => x.type)).toEqual(['performance_threshold']);
    expect(v[0]!.evidence).toMatchObject({ p95Latency: 900, gateway: { overloaded: false, eventLoopUtilization: 0.3, eventLoopDelayP99Ms: 2 } });
  });

  it('timeouts in its overload demote and convict no one: the late timers may be the gateway\'s', () => {
    // Half the requests timed out and every probe timed out, for longer than the downtime minimum.
    const timedOut = { p95Latency: 10, successes: 20, failures: { timeout: 20 }, probesSent: 2, probesUnreachable: 2 };
    let state = fresh();
    for (let i = 0; i < 8; i++) {
      const w = { ...testWindow({ start: T0 + i * WINDOW_MS, lengthMs: WINDOW_MS, ...timedOut }), lastProbeFailure: 'timeout' as const };
      const d = detectViolations({ state, window: w, score: 100, badData: [], wrongChain: null, gatewayHealth: SATURATED }, DEFAULT_DETECTION, DEFAULT_SLASHING);
      expect(d.violations).toEqual([]);
      expect(d.probation).toBe(false);
      state = { ...state, downSince: d.downSince, badWindows: d.badWindows, probation: d.probation };
    }
    expect(state.downSince).toBeNull();
  });

  it('refused connections in its overload are still the operator\'s: it is down', () => {
    const refused = { p95Latency: 10, successes: 0, failures: { connect: 30 }, probesSent: 2, probesUnreachable: 2 };
    let state = fresh();
    const found: string[] = [];
    for (let i = 0; i < 8; i++) {
      const w = { ...testWindow({ start: T0 + i * WINDOW_MS, lengthMs: WINDOW_MS, ...refused }), lastProbeFailure: 'connect' as const };
      const d = detectViolations({ state, window: w, score: 100, badData: [], wrongChain: null, gatewayHealth: SATURATED }, DEFAULT_DETECTION, DEFAULT_SLASHING);
      found.push(...d.violations.map((v) => v.type));
      state = { ...state, downSince: d.downSince, badWindows: d.badWindows, probation: d.probation, outage: d.outage };
    }
    expect(found).toContain('downtime');
    expect(state.probation).toBe(true);
  });

  it('a long head lag is the operator\'s whatever the gateway\'s load', () => {
    const lagging = { p95Latency: 10 };
    let state = fresh();
    const found: string[] = [];
    for (let i = 0; i < 3; i++) {
      const w = { ...testWindow({ start: T0 + i * WINDOW_MS, lengthMs: WINDOW_MS, ...lagging }), headLag: 500 };
      const d = detectViolations({ state, window: w, score: 100, badData: [], wrongChain: null, gatewayHealth: SATURATED }, DEFAULT_DETECTION, DEFAULT_SLASHING);
      state = { ...state, badWindows: d.badWindows };
      found.push(...d.violations.map((v) => v.type));
    }
    expect(found).toEqual(['performance_threshold']);
  });
});
