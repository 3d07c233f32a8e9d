import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextScore, windowScore } from '../../../src/staking/scoring.js';
import type { PerformanceMetrics } from '../../../src/types.js';

const metrics = (m: Partial<PerformanceMetrics> & { requests?: number; probesSent?: number } = {}) => ({
  serviceId: 'rpc/ethereum', successRate: 100, p95Latency: 50, p99Latency: 80, throughput: 0, uptime: 100, timestamp: 1, ...m,
});

const arbitraryWindow = fc.record({
  successRate: fc.double({ min: 0, max: 100, noNaN: true }),
  p95Latency: fc.double({ min: 0, max: 10_000, noNaN: true }),
  uptime: fc.double({ min: 0, max: 100, noNaN: true }),
});

describe('windowScore', () => {
  it('is 100 when every target is met and 0 when everything fails', () => {
    expect(windowScore(metrics())).toBe(100);
    expect(windowScore(metrics({ successRate: 99, p95Latency: 250, uptime: 99.9 }))).toBeCloseTo(100, 10);
    expect(windowScore(metrics({ successRate: 0, p95Latency: 5000, uptime: 0 }))).toBe(0);
  });

  it('stays within 0..100 for any input', () => {
    fc.assert(fc.property(arbitraryWindow, (w) => {
      const s = windowScore(metrics(w))!;
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(100);
    }));
  });

  it('never falls when one input improves (monotone in each input)', () => {
    fc.assert(fc.property(arbitraryWindow, fc.double({ min: 0, max: 100, noNaN: true }), (w, delta) => {
      const base = windowScore(metrics(w))!;
      expect(windowScore(metrics({ ...w, successRate: Math.min(100, w.successRate + delta) }))!).toBeGreaterThanOrEqual(base);
      expect(windowScore(metrics({ ...w, uptime: Math.min(100, w.uptime + delta) }))!).toBeGreaterThanOrEqual(base);
      expect(windowScore(metrics({ ...w, p95Latency: Math.max(0, w.p95Latency - delta * 50) }))!).toBeGreaterThanOrEqual(base);
    }));
  });

  it('judges a quiet operator on uptime alone, and a window without evidence not at all', () => {
    expect(windowScore(metrics({ requests: 2, probesSent: 2, successRate: 0, p95Latency: 9000, uptime: 100 }))).toBe(100);
    expect(windowScore(metrics({ requests: 2, probesSent: 0, successRate: 0 }))).toBeUndefined();
  });
});

describe('nextScore', () => {
  it('does not zero a good operator for one bad window', () => {
    fc.assert(fc.property(fc.double({ min: 95, max: 100, noNaN: true }), (previous) => {
      const after = nextScore(previous, metrics({ successRate: 0, p95Latency: 10_000, uptime: 0 }));
      expect(after).toBeGreaterThanOrEqual(previous * 0.7 - 0.01);
    }));
  });

  it('recovers with good windows and stays bounded', () => {
    let s = 0;
    for (let i = 0; i < 20; i++) s = nextScore(s, metrics());
    expect(s).toBeGreaterThan(99);
    fc.assert(fc.property(fc.double({ min: 0, max: 100, noNaN: true }), arbitraryWindow, (previous, w) => {
      const next = nextScore(previous, metrics(w));
      expect(next).toBeGreaterThanOrEqual(0);
      expect(next).toBeLessThanOrEqual(100);
    }));
  });

  it('keeps the score when a window has too few samples', () => {
    expect(nextScore(87, metrics({ requests: 3, probesSent: 0, successRate: 0 }))).toBe(87);
  });
});
