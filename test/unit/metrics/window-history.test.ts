// Closed windows kept compactly: views over the whole history are the union of every
// recording in the period, memory per closed window is bounded by its spread, and the
// worker export / absorb and the shared encodings are unchanged.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeHistogram,
  encodeHistogram,
  type Histogram,
  initLatencyHistograms,
  LATENCY_COUNTS_LENGTH,
  latencyValueFromIndex,
  newLatencyHistogram,
  recordLatency,
} from '../../../src/metrics/latency-histogram.js';
import { Measurement } from '../../../src/metrics/measurement.js';
import { methodIndex } from '../../../src/metrics/method-labels.js';
import type { WindowMetrics } from '../../../src/metrics/window-metrics.js';

beforeAll(() => initLatencyHistograms());

const CALL = methodIndex('eth_call');

function setup(historyWindows?: number) {
  let now = 1_000_000;
  const m = new Measurement({ windowSeconds: 10, now: () => now, ...(historyWindows ? { historyWindows } : {}) });
  m.addOperator(0, 'a', 'ethereum');
  m.addOperator(1, 'idle', 'ethereum');
  return { m, close: () => ((now += 10_000), m.closeWindow()) };
}

/** A deterministic, window-dependent spread of latencies (µs): different shapes per window. */
function latenciesOf(window: number): number[] {
  const n = 5 + ((window * 37) % 60);
  return Array.from({ length: n }, (_, k) => 200 + ((k * 7919 + window * 104_729) % (window % 5 === 0 ? 2_000_000 : 40_000)));
}

function expectLatencyOf(view: WindowMetrics, union: Histogram) {
  expect(view.requests).toBe(union.totalCount);
  expect(view.p50Latency).toBe(union.getValueAtPercentile(50) / 1000);
  expect(view.p95Latency).toBe(union.getValueAtPercentile(95) / 1000);
  expect(view.p99Latency).toBe(union.getValueAtPercentile(99) / 1000);
  expect(view.maxLatency).toBe(union.maxValue / 1000);
}

describe('history of closed windows', () => {
  it('answers views after the ring has wrapped with the union of every recording in the period', () => {
    const { m, close } = setup();
    expect(m.historyWindows).toBe(30);
    const recorded: number[][] = [];
    const closed: WindowMetrics[] = [];
    for (let w = 0; w < 75; w++) {
      const values = latenciesOf(w);
      for (const v of values) m.recordAttempt(0, CALL, 'success', v);
      recorded.push(values);
      closed.push(close()[0]!);
    }
    for (const k of [1, 2, 6, 29, 30]) {
      const union = newLatencyHistogram();
      for (const values of recorded.slice(-k)) for (const v of values) recordLatency(union, v);
      const view = m.view(0, k)!;
      expectLatencyOf(view, union);
      expect(view.windowStart).toBe(closed[closed.length - k]!.windowStart);
      expect(view.windowEnd).toBe(closed[closed.length - 1]!.windowEnd);
      union.destroy();
    }
    // More than the history: the history.
    expect(m.view(0, 1000)).toEqual(m.view(0, 30));
    // The one-window view is the window's own summary.
    expect(m.view(0, 1)).toEqual(m.latest(0));
  });

  it('sums outcomes and probes over the period, across the ring boundary', () => {
    const { m, close } = setup(4);
    for (let w = 0; w < 9; w++) {
      for (let i = 0; i <= w; i++) m.recordAttempt(0, CALL, 'success', 1000);
      m.recordAttempt(0, CALL, 'timeout', 5_000_000);
      m.recordAttempt(0, CALL, 'connect', 10);
      m.recordProbe(0, w % 2 === 0 ? 'ok' : 'unreachable', 100 + w, '0x1');
      close();
    }
    // The last four windows: w = 5..8.
    const v = m.view(0, 4)!;
    expect(v.successes).toBe(6 + 7 + 8 + 9);
    expect(v.failures.timeout).toBe(4);
    expect(v.failures.connect).toBe(4);
    expect(v.requests).toBe(30 + 8);
    expect(v.probesSent).toBe(4);
    expect(v.probesOk).toBe(2);
    expect(v.probesUnreachable).toBe(2);
    expect(v.uptime).toBe(50);
    expect(v.head).toBe(108);
    expect(v.maxLatency).toBe(5000);
    expect(m.view(0, 2)!.successes).toBe(8 + 9);
  });

  it('keeps nothing for windows without latency, and memory in proportion to the buckets touched otherwise', () => {
    const { m, close } = setup();
    const idle = m.meter(1)!;
    const busy = m.meter(0)!;
    for (let w = 0; w < 40; w++) {
      // 2,000 answers over 50 distinct buckets: 4 bytes a bucket, whatever the traffic.
      for (let k = 0; k < 2000; k++) m.recordAttempt(0, CALL, 'success', 1000 + (k % 50) * 20);
      close();
    }
    expect(idle.closedLatencyBytes).toBe(0);
    expect(busy.closedWindows).toBe(30);
    // 30 windows of 50 buckets, in one array per operator with room to append.
    const live = 30 * 50 * 4;
    expect(busy.closedLatencyBytes).toBeGreaterThanOrEqual(live);
    expect(busy.closedLatencyBytes).toBeLessThanOrEqual(3 * live + 256);
    // A window touching every bucket is the bound of a window: 10 KB (as much as the WASM
    // histogram each window used to hold, whatever its traffic).
    for (let i = 0; i < LATENCY_COUNTS_LENGTH; i++) m.recordAttempt(0, CALL, 'success', latencyValueFromIndex(i) || 1);
    close();
    expect(busy.closedLatencyBytes).toBeLessThanOrEqual(3 * (29 * 50 * 4 + LATENCY_COUNTS_LENGTH * 4) + 256);
    expect(m.latest(0)!.requests).toBe(LATENCY_COUNTS_LENGTH);
    // Quiet windows give the memory back.
    for (let w = 0; w < 30; w++) close();
    expect(busy.closedLatencyBytes).toBe(0);
    expect(m.view(0, 30)!.requests).toBe(0);
    expect(m.view(0, 30)!.p99Latency).toBe(0);
  });

  it('shares the last window as the encoding the library gives for the same recordings', () => {
    const { m, close } = setup();
    const values = latenciesOf(3);
    for (const v of values) m.recordAttempt(0, CALL, 'success', v);
    close();
    const h = newLatencyHistogram();
    for (const v of values) recordLatency(h, v);
    expect(m.encodeLatest(0)).toBe(encodeHistogram(h));
    const decoded = decodeHistogram(m.encodeLatest(0)!);
    expect(decoded.getValueAtPercentile(99)).toBe(h.getValueAtPercentile(99));
    expect(m.encodeLatest(1)).toBe(encodeHistogram(newLatencyHistogram()));
    expect(m.encodeLatest(7)).toBeUndefined();
    h.destroy();
    decoded.destroy();
  });

  it('adds data-plane workers\' exports into the window exactly', () => {
    const main = setup();
    const workers = [setup(), setup()];
    const reference = newLatencyHistogram(); // what the WASM open window used to hold
    for (let w = 0; w < 3; w++) {
      workers.forEach((worker, i) => {
        const part = newLatencyHistogram();
        for (const v of latenciesOf(w * 2 + i)) {
          worker.m.recordAttempt(0, CALL, 'success', v);
          recordLatency(part, v);
        }
        worker.m.recordAttempt(0, CALL, 'http_5xx', 1000);
        recordLatency(part, 1000);
        const decoded = decodeHistogram(encodeHistogram(part));
        reference.add(decoded);
        decoded.destroy();
        part.destroy();
        main.m.absorbWindows(worker.m.exportWindows(), worker.m.takeClientFaults());
      });
      // An export leaves the worker's window empty.
      expect(workers[0]!.m.exportWindows()[0]!.histogram).toBeNull();
    }
    const [window] = main.close();
    expectLatencyOf(window!, reference);
    expect(window!.failures.http_5xx).toBe(6);
    expect(main.m.count(0, 'http_5xx')).toBe(6);
    expect(main.m.meter(0)!.latencyCount).toBe(reference.totalCount);
    reference.destroy();
  });
});
