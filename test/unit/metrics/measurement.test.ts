import { beforeAll, describe, expect, it } from 'vitest';
import { decodeHistogram, initLatencyHistograms, newLatencyHistogram } from '../../../src/metrics/latency-histogram.js';
import { Measurement } from '../../../src/metrics/measurement.js';
import { BATCH_METHOD, methodIndex } from '../../../src/metrics/method-labels.js';
import { SECONDS_PER_MONTH } from '../../../src/metrics/window-metrics.js';

beforeAll(() => initLatencyHistograms());

const ms = (n: number) => n * 1000; // to microseconds
const CALL = methodIndex('eth_call');

/** A measurement with a hand-driven clock: no sleeps, windows closed explicitly. */
function setup(windowSeconds = 10, historyWindows?: number) {
  let now = 1_000_000;
  const m = new Measurement({ windowSeconds, now: () => now, ...(historyWindows ? { historyWindows } : {}) });
  m.addOperator(0, 'a', 'ethereum');
  m.addOperator(1, 'b', 'ethereum');
  return { m, advance: (s: number) => (now += s * 1000), at: () => now };
}

/** HDR precision with two significant digits: within 1 % of the true value. */
const near = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(expected * 0.01 + 0.001);

describe('windows', () => {
  it('reports percentiles of a known latency set within HDR precision', () => {
    const { m, advance } = setup();
    for (let v = 1; v <= 1000; v++) m.recordAttempt(0, CALL, 'success', ms(v));
    advance(10);
    const [w] = m.closeWindow();
    near(w!.p50Latency, 500);
    near(w!.p95Latency, 950);
    near(w!.p99Latency, 990);
    near(w!.maxLatency, 1000);
    expect(w).toMatchObject({ operatorId: 'a', chain: 'ethereum', serviceId: 'rpc/ethereum', requests: 1000, successes: 1000, successRate: 100 });
    expect(w!.requestsPerSecond).toBe(100);
    expect(w!.throughput).toBe(100 * SECONDS_PER_MONTH);
  });

  it('counts outcomes: JSON-RPC errors are answers, 429s neither success nor failure', () => {
    const { m, advance } = setup();
    for (let i = 0; i < 90; i++) m.recordAttempt(0, CALL, 'success', 1000);
    for (let i = 0; i < 5; i++) m.recordAttempt(0, CALL, 'rpc_error', 1000);
    for (let i = 0; i < 3; i++) m.recordAttempt(0, CALL, 'timeout', 5_000_000);
    for (let i = 0; i < 2; i++) m.recordAttempt(0, CALL, 'http_5xx', 1000);
    for (let i = 0; i < 50; i++) m.recordAttempt(0, CALL, 'http_429', 1000);
    advance(10);
    const [w] = m.closeWindow();
    expect(w!.requests).toBe(150);
    expect(w!.successes).toBe(95);
    expect(w!.rateLimited).toBe(50);
    expect(w!.failures).toEqual({ timeout: 3, connect: 0, http_5xx: 2, http_other: 0, invalid_envelope: 0, wrong_result: 0, missing_block: 0 });
    expect(w!.successRate).toBeCloseTo(95, 10);
  });

  it('starts every window empty and keeps operators apart', () => {
    const { m, advance } = setup();
    m.recordAttempt(0, CALL, 'success', 100);
    advance(10);
    const first = m.closeWindow();
    expect(first.map((w) => w.requests)).toEqual([1, 0]);
    m.recordAttempt(1, CALL, 'success', 100);
    advance(10);
    const second = m.closeWindow();
    expect(second.map((w) => w.requests)).toEqual([0, 1]);
    expect(second[0]!.windowStart).toBe(first[0]!.windowEnd);
    expect(second[1]!.p50Latency).toBeCloseTo(0.1, 3);
  });

  it('merges windows by adding histograms, never by averaging percentiles', () => {
    const { m, advance } = setup();
    // Window 1: 990 fast answers. Window 2: 10 slow ones. The true p99 of the minute is
    // fast (990 of 1000 are 1 ms); averaging the windows' p99s would say ~500 ms.
    for (let i = 0; i < 990; i++) m.recordAttempt(0, CALL, 'success', ms(1));
    advance(10);
    const [w1] = m.closeWindow();
    for (let i = 0; i < 10; i++) m.recordAttempt(0, CALL, 'success', ms(1000));
    advance(10);
    const [w2] = m.closeWindow();
    const minute = m.view(0, 6)!;
    expect(minute.requests).toBe(1000);
    near(minute.p99Latency, 1);
    near(minute.maxLatency, 1000);
    expect((w1!.p99Latency + w2!.p99Latency) / 2).toBeGreaterThan(400);
    expect(minute.windowStart).toBe(w1!.windowStart);
    expect(minute.windowEnd).toBe(w2!.windowEnd);
    // The merged view equals one histogram fed every value.
    const all = newLatencyHistogram();
    for (let i = 0; i < 990; i++) all.recordValue(ms(1));
    for (let i = 0; i < 10; i++) all.recordValue(ms(1000));
    expect(minute.p95Latency).toBe(all.getValueAtPercentile(95) / 1000);
    all.destroy();
  });

  it('keeps only the last N windows, reusing their histograms instead of allocating', () => {
    const { m, advance } = setup(10, 3);
    const seen = new Set<unknown>();
    for (let k = 1; k <= 12; k++) {
      m.recordAttempt(0, CALL, 'success', ms(k));
      advance(10);
      m.closeWindow();
      seen.add(m.meter(0)!.latestHistogram());
    }
    // Three ring slots plus the open window: four histograms serve every window.
    expect(seen.size).toBeLessThanOrEqual(4);
    const view = m.view(0, 100)!;
    expect(view.requests).toBe(3);
    near(view.maxLatency, 12);
  });

  it('shares a window as HDR\'s compressed encoding', () => {
    const { m, advance } = setup();
    for (let v = 1; v <= 500; v++) m.recordAttempt(0, CALL, 'success', ms(v));
    advance(10);
    const [w] = m.closeWindow();
    const decoded = decodeHistogram(m.encodeLatest(0)!);
    expect(decoded.totalCount).toBe(500);
    expect(decoded.getValueAtPercentile(95) / 1000).toBe(w!.p95Latency);
    decoded.destroy();
  });

  it('derives uptime from probes and head lag against the chain\'s best operator', () => {
    const { m, advance } = setup();
    m.addOperator(2, 'c', 'ethereum');
    m.addOperator(3, 'liar', 'ethereum');
    for (let i = 0; i < 9; i++) m.recordProbe(0, 'ok', 100 + i, '0x1');
    m.recordProbe(0, 'unreachable', null, null);
    m.recordProbe(1, 'ok', 95, '0x1');
    m.recordProbe(2, 'ok', 108, '0x1');
    // One operator claiming a far-future head must not make the honest ones look behind.
    m.recordProbe(3, 'ok', 1_000_000_000, '0x1');
    advance(10);
    const [a, b, c, liar] = m.closeWindow();
    expect(a!.uptime).toBe(90);
    expect(a!.head).toBe(108);
    expect(a!.headLag).toBe(0);
    expect(b!.headLag).toBe(13);
    expect(c!.headLag).toBe(0);
    expect(liar!.headLag).toBe(0);
    expect(b!.chainId).toBe('0x1');
    expect(m.chainHeads().get('ethereum')).toBe(108);
    // No probes and no traffic: nothing says the operator was down.
    advance(10);
    expect(m.closeWindow()[0]!.uptime).toBe(100);
  });

  it('keeps what a downtime violation needs: when the window\'s probes finished, how the last failed one failed, the timed samples', () => {
    const { m, advance, at } = setup();
    const firstAt = at();
    m.recordProbe(0, 'unreachable', null, null, 'timeout');
    advance(4);
    m.recordProbe(0, 'ok', 100, '0x1');
    advance(4);
    const lastAt = at();
    m.recordProbe(0, 'unreachable', null, null, 'connect');
    // A refused connection is not timed; the others are.
    m.recordAttempt(0, CALL, 'connect', 50);
    m.recordAttempt(0, CALL, 'success', ms(3));
    m.recordAttempt(0, CALL, 'timeout', ms(900));
    advance(2);
    const [a, b] = m.closeWindow();
    expect(a).toMatchObject({ probesSent: 3, probesUnreachable: 2, firstProbeAt: firstAt, lastProbeAt: lastAt, lastProbeFailure: 'connect', latencySamples: 2 });
    expect(b).toMatchObject({ probesSent: 0, firstProbeAt: null, lastProbeAt: null, lastProbeFailure: null, latencySamples: 0 });
    // A window of probes that all answered has no failure; the merged view spans both windows.
    m.recordProbe(0, 'ok', 101, '0x1');
    const okAt = at();
    advance(10);
    expect(m.closeWindow()[0]).toMatchObject({ probesSent: 1, firstProbeAt: okAt, lastProbeAt: okAt, lastProbeFailure: null });
    expect(m.view(0, 2)).toMatchObject({ probesSent: 4, firstProbeAt: firstAt, lastProbeAt: okAt, lastProbeFailure: 'connect', latencySamples: 2 });
  });

  it('falls back to request outcomes for uptime when there were no probes', () => {
    const { m, advance } = setup();
    for (let i = 0; i < 8; i++) m.recordAttempt(0, CALL, 'success', 100);
    for (let i = 0; i < 2; i++) m.recordAttempt(0, CALL, 'connect', 50);
    advance(10);
    expect(m.closeWindow()[0]!.uptime).toBe(80);
  });

  it('keeps cumulative counts by method for Prometheus, and refused connections out of latency', () => {
    const { m } = setup();
    m.recordAttempt(0, methodIndex('eth_getBalance'), 'success', 2000);
    m.recordAttempt(0, methodIndex('made_up_method'), 'connect', 10);
    m.recordAttempt(0, BATCH_METHOD, 'success', 3000);
    const meter = m.meter(0)!;
    expect(meter.count('success')).toBe(2);
    expect(meter.count('connect')).toBe(1);
    expect(meter.latencyCount).toBe(2);
    expect(meter.latencySumSeconds).toBeCloseTo(0.005, 9);
  });

  it('hands each closed window to its listeners', () => {
    const { m, advance, at } = setup();
    const got: number[] = [];
    m.onWindow((windows, closedAt) => got.push(windows.length, closedAt));
    advance(10);
    m.closeWindow();
    expect(got).toEqual([2, at()]);
  });
});
