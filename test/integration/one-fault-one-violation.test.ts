/**
 * One fault, one violation type, the most specific: an operator that answers a quarter of its
 * requests with garbage fails those requests too (its success rate is far below 99 %), but
 * it is convicted of misbehavior only, never also of performance_threshold for the same
 * windows. A gateway (injected clock, windows closed by hand) in front of an honest sim and
 * the garbage one; exploration is raised so the demoted operator keeps enough traffic to be
 * judged every window (as it would under a heavy load).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WindowMetrics } from '../../src/metrics/window-metrics.js';
import { post, rpc, type Stack, startStack } from '../support/stack.js';

const WINDOW_MS = 10_000;
const WINDOWS = 5;
const REQUESTS_PER_WINDOW = 200;

let now = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_000;
let stack: Stack;
const windows: WindowMetrics[] = [];

beforeAll(async () => {
  stack = await startStack({
    now: () => now,
    autoMeasure: false,
    operators: [{ stakeEth: 2 }, { profile: { garbageRate: 0.25 }, stakeEth: 2 }],
    config: {
      windowSeconds: WINDOW_MS / 1000,
      routing: { explorationShare: 0.5 },
      // Windows closed by hand right after a burst: the gateway's event loop is busy for the whole
      // of each (short, real) window, which it would rightly judge its own overload and then judge
      // no operator's performance. This test is about the operator's judgment: never overloaded.
      staking: { thresholds: { gatewayOverload: { eventLoopUtilization: 1, eventLoopDelayMs: 60_000 } } },
    },
  });
  for (let w = 0; w < WINDOWS; w++) {
    await stack.gateway.prober.probeAll();
    await Promise.all(
      Array.from({ length: REQUESTS_PER_WINDOW }, (_, i) =>
        post(stack.url, rpc('eth_getBalance', w * 10_000 + i, ['0x742d35cc6634c0532925a3b844bc9e7595f0beb0', '0x10'])),
      ),
    );
    now += WINDOW_MS;
    windows.push(stack.gateway.measurement.closeWindow().find((m) => m.operatorId === 'op1')!);
    await stack.gateway.controlLoop.idle();
  }
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

it('a garbage-answering operator gets misbehavior only, though its windows are also below the performance targets', () => {
  // The windows would fail the performance rule on their own: judged (≥ 10 requests), success far below 99 %.
  for (const w of windows) {
    expect(w.requests, 'requests the garbage operator was judged on').toBeGreaterThanOrEqual(10);
    expect(w.successRate).toBeLessThan(99);
    expect(w.failures.invalid_envelope).toBeGreaterThanOrEqual(3);
  }
  const state = stack.gateway.core.state('op1')!;
  expect(state.violations.length).toBeGreaterThan(0);
  expect(new Set(state.violations.map((v) => v.type))).toEqual(new Set(['misbehavior']));
  // The streak of bad performance windows was never fed by the fault's windows.
  expect(state.badWindows).toBe(0);
  expect(stack.gateway.core.state('op0')!.violations).toEqual([]);
});

it('once the fault is fixed, clean windows are judged on their own: the lingering smoothed score convicts no one', async () => {
  stack.sims[1]!.setProfile({ garbageRate: 0 });
  const before = stack.gateway.core.state('op1')!.violations.length;
  const scores: number[] = [];
  for (let w = 0; w < 5; w++) {
    await stack.gateway.prober.probeAll();
    await Promise.all(
      Array.from({ length: REQUESTS_PER_WINDOW }, (_, i) =>
        post(stack.url, rpc('eth_getBalance', 100_000 + w * 10_000 + i, ['0x742d35cc6634c0532925a3b844bc9e7595f0beb0', '0x10'])),
      ),
    );
    now += WINDOW_MS;
    stack.gateway.measurement.closeWindow();
    await stack.gateway.controlLoop.idle();
    scores.push(stack.gateway.core.state('op1')!.performanceScore);
  }
  // The smoothed score was still under the 90 target for at least three clean windows in a row.
  expect(scores.filter((x) => x < 90).length).toBeGreaterThanOrEqual(3);
  expect(stack.gateway.core.state('op1')!.violations.length).toBe(before);
}, 30_000);
