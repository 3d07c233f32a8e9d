// The JS latency counts (open window, compact closed windows, merges) against the
// hdr-histogram-js WebAssembly histogram they replace: same buckets, same percentiles, same
// max, same encodings.
import { Buffer } from 'node:buffer';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as hdr from 'hdr-histogram-js';
import {
  CompactLatency,
  decodeHistogram,
  encodeHistogram,
  HIGHEST_LATENCY_MICROS,
  type Histogram,
  initLatencyHistograms,
  LATENCY_COUNTS_LENGTH,
  latencyCountsIndex,
  LatencyHistory,
  LatencyMerger,
  LatencyRecorder,
  latencyValueFromIndex,
  newLatencyHistogram,
  recordLatency,
} from '../../../src/metrics/latency-histogram.js';

beforeAll(() => initLatencyHistograms());

const PERCENTILES = [0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100, 150];

/** Latencies as the gateway sees them: mostly ms-scale, some µs, some clamped, fractions. */
const latency = fc.oneof(
  fc.integer({ min: 0, max: 70_000_000 }),
  fc.integer({ min: 100, max: 30_000 }),
  fc.double({ min: 0, max: 100_000, noNaN: true }),
  fc.integer({ min: 0, max: 26 }).map((e) => 2 ** e + (e % 3) - 1),
);

/**
 * A compressed V2 encoding in our layout, its payload given as raw bytes (a value under 128
 * is a ZigZag varint: 2n for a count of n; a run of n zeros is -n, encoded by the helper).
 */
function v2Encoding(payload: number[]): string {
  const bytes: number[] = [];
  for (const v of payload) {
    if (v >= 0) bytes.push(v);
    else {
      let z = -2 * v - 1; // ZigZag of a negative run
      while (z >= 0x80) {
        bytes.push((z & 0x7f) | 0x80);
        z >>>= 7;
      }
      bytes.push(z);
    }
  }
  const raw = Buffer.alloc(40 + bytes.length);
  raw.writeInt32BE(0x1c849303 | 0x10, 0);
  raw.writeInt32BE(bytes.length, 4);
  raw.writeInt32BE(0, 8);
  raw.writeInt32BE(2, 12);
  raw.writeBigInt64BE(1n, 16);
  raw.writeBigInt64BE(60_000_000n, 24);
  raw.writeDoubleBE(1, 32);
  Buffer.from(bytes).copy(raw, 40);
  const deflated = deflateSync(raw);
  const out = Buffer.alloc(8 + deflated.length);
  out.writeInt32BE(0x1c849304 | 0x10, 0);
  out.writeInt32BE(deflated.length, 4);
  deflated.copy(out, 8);
  return out.toString('base64');
}

function wasmOf(values: readonly number[]): Histogram {
  const h = newLatencyHistogram();
  for (const v of values) recordLatency(h, v);
  return h;
}

function recorderOf(values: readonly number[]): LatencyRecorder {
  const r = new LatencyRecorder();
  for (const v of values) r.record(v);
  return r;
}

/** Closes the recorder's window into a one-slot history and returns a view of it. */
function closeOne(r: LatencyRecorder, history = new LatencyHistory(1)): CompactLatency {
  r.closeInto(history, 0);
  return history.window(0, new CompactLatency());
}

function expectSame(actual: { totalCount: number; maxValue: number; getValueAtPercentile(p: number): number }, expected: Histogram) {
  expect(actual.totalCount).toBe(expected.totalCount);
  expect(actual.maxValue).toBe(expected.maxValue);
  for (const p of PERCENTILES) expect([p, actual.getValueAtPercentile(p)]).toEqual([p, expected.getValueAtPercentile(p)]);
}

describe('bucket layout', () => {
  it('matches the library for every bucket: index, lowest and highest value', () => {
    const h = newLatencyHistogram();
    expect(LATENCY_COUNTS_LENGTH).toBe(2560);
    for (let i = 0; i < LATENCY_COUNTS_LENGTH; i++) {
      const v = latencyValueFromIndex(i);
      expect(latencyCountsIndex(v)).toBe(i);
      if (v === 0) continue;
      h.reset();
      h.recordValue(v);
      // Beyond 60 s the recorder clamps (as recordLatency does); the layout goes a little further.
      if (v <= HIGHEST_LATENCY_MICROS) {
        const r = recorderOf([v]);
        expect(r.getValueAtPercentile(0)).toBe(h.getValueAtPercentile(0));
        expect(r.getValueAtPercentile(100)).toBe(h.getValueAtPercentile(100));
      }
      // The next value up is in the next bucket exactly when the library says so.
      const top = h.getValueAtPercentile(100);
      expect(latencyCountsIndex(top)).toBe(i);
      if (i + 1 < LATENCY_COUNTS_LENGTH) expect(latencyCountsIndex(top + 1)).toBe(i + 1);
    }
    h.destroy();
  });
});

describe('LatencyRecorder and CompactLatency', () => {
  it('give the percentiles, max and count of the WASM histogram fed the same values', () => {
    fc.assert(
      fc.property(fc.array(latency, { maxLength: 400 }), (values) => {
        const h = wasmOf(values);
        const r = recorderOf(values);
        expectSame(r, h);
        expectSame(closeOne(r), h);
        // The open window starts empty again, its dense counts cleared.
        expect(r.totalCount).toBe(0);
        expect(r.getValueAtPercentile(50)).toBe(0);
        r.record(5);
        expect(r.getValueAtPercentile(100)).toBe(5);
        h.destroy();
      }),
      { numRuns: 300 },
    );
  });

  it('round a percentile to a count exactly as the library does, at every total up to 2,000', () => {
    // One value per bucket: a count off by one would give another bucket's value.
    const h = newLatencyHistogram();
    const r = new LatencyRecorder();
    for (let i = 1; i <= 2000; i++) {
      const v = latencyValueFromIndex(i + 100);
      h.recordValue(v);
      r.record(v);
      for (const p of [50, 90, 95, 99, 99.9, 33.3, 66.7, 12.5, 0.1]) expect([i, p, r.getValueAtPercentile(p)]).toEqual([i, p, h.getValueAtPercentile(p)]);
    }
    h.destroy();
  });

  it('encode exactly as the library encodes the same recordings', () => {
    fc.assert(
      fc.property(fc.array(latency, { maxLength: 200 }), (values) => {
        const h = wasmOf(values);
        const expected = encodeHistogram(h);
        const r = recorderOf(values);
        expect(r.encode()).toBe(expected);
        expect(closeOne(r).encode()).toBe(expected);
        h.destroy();
      }),
      { numRuns: 100 },
    );
  });

  it('keeps counts of a million and more in one bucket (escaped words)', () => {
    const n = 2 ** 20 + 3;
    const r = new LatencyRecorder();
    for (let i = 0; i < n; i++) r.record(1234);
    for (let i = 0; i < 10; i++) r.record(50_000);
    const h = newLatencyHistogram();
    h.recordValueWithCount(1234, n);
    h.recordValueWithCount(50_000, 10);
    const closed = closeOne(r);
    expect(closed.length).toBe(3); // index + full count, then one packed word
    expectSame(closed, h);
    const merger = new LatencyMerger();
    merger.add(closed);
    merger.add(closed);
    const twice = newLatencyHistogram();
    twice.add(h);
    twice.add(h);
    expectSame(merger.finish(), twice);
    h.destroy();
    twice.destroy();
  });

  it('holds 4 bytes per touched bucket, and nothing when there is no latency', () => {
    const history = new LatencyHistory(1);
    const r = new LatencyRecorder();
    expect(closeOne(r, history).length).toBe(0);
    expect(history.byteLength).toBe(0);
    for (let v = 1; v <= 50; v++) r.record(v * 1000);
    expect(closeOne(r, history).length).toBe(50);
    // Every bucket touched: the bound of a window (values above 60 s share 60 s's bucket).
    for (let i = 0; i < LATENCY_COUNTS_LENGTH; i++) r.record(latencyValueFromIndex(i) || 1);
    expect(closeOne(r, history).length).toBeLessThanOrEqual(LATENCY_COUNTS_LENGTH);
    expect(closeOne(r, history).length).toBe(0);
    expect(history.byteLength).toBe(0);
  });
});

describe('LatencyHistory', () => {
  it('keeps every live window intact through wraps and compactions, in at most 3 × their size', () => {
    const windowSizes = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 200, max: 2500 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(windowSizes, { minLength: 1, maxLength: 60 }), (slots, sizes) => {
        const history = new LatencyHistory(slots);
        const r = new LatencyRecorder();
        const expected: (Histogram | undefined)[] = Array.from({ length: slots }, () => undefined);
        sizes.forEach((size, w) => {
          const s = w % slots;
          const values = Array.from({ length: size }, (_, k) => 1 + ((k * 2654435761 + w * 40503) % 5_000_000));
          for (const v of values) r.record(v);
          r.closeInto(history, s);
          expected[s]?.destroy();
          expected[s] = wasmOf(values);
          // Every live window reads back as recorded, not only the one just stored.
          let liveBuckets = 0;
          for (let k = 0; k < slots; k++) {
            const h = expected[k];
            if (h === undefined) continue;
            const view = history.window(k, new CompactLatency());
            expectSame(view, h);
            liveBuckets += view.length;
          }
          expect(history.byteLength).toBeLessThanOrEqual(4 * (3 * liveBuckets + 64));
          if (liveBuckets === 0) expect(history.byteLength).toBe(0);
        });
        for (const h of expected) h?.destroy();
      }),
      { numRuns: 60 },
    );
  });
});

describe('LatencyMerger', () => {
  it('adds closed windows as adding WASM histograms does: the union\'s percentiles, the largest max', () => {
    fc.assert(
      fc.property(fc.array(fc.array(latency, { maxLength: 120 }), { maxLength: 12 }), (windows) => {
        const union = newLatencyHistogram();
        const merger = new LatencyMerger();
        const r = new LatencyRecorder();
        const history = new LatencyHistory(Math.max(1, windows.length));
        windows.forEach((values, s) => {
          const h = wasmOf(values);
          union.add(h);
          h.destroy();
          for (const v of values) r.record(v);
          r.closeInto(history, s);
        });
        windows.forEach((_, s) => merger.add(history.window(s, new CompactLatency())));
        expectSame(merger.finish(), union);
        // And it starts afresh.
        expect(merger.finish().totalCount).toBe(0);
        union.destroy();
      }),
      { numRuns: 150 },
    );
  });
});

describe('absorb (a data-plane worker\'s part of the window)', () => {
  it('adds an encoded histogram as adding the decoded WASM histogram does', () => {
    fc.assert(
      fc.property(fc.array(latency, { maxLength: 150 }), fc.array(latency, { maxLength: 150 }), (own, worker) => {
        const open = wasmOf(own);
        const encoded = encodeHistogram(wasmOf(worker));
        const decoded = decodeHistogram(encoded);
        open.add(decoded);
        decoded.destroy();
        const r = recorderOf(own);
        r.absorb(encoded);
        expectSame(r, open);
        expectSame(closeOne(r), open);
        open.destroy();
      }),
      { numRuns: 150 },
    );
  });

  it('re-buckets a histogram of another layout through the library', () => {
    const foreign = hdr.build({ bitBucketSize: 32, useWebAssembly: true, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: false });
    for (let v = 1; v <= 2000; v++) foreign.recordValue(v * 97);
    const encoded = encodeHistogram(foreign);
    const expected = newLatencyHistogram();
    const decoded = decodeHistogram(encoded);
    expected.add(decoded);
    decoded.destroy();
    const r = new LatencyRecorder();
    r.absorb(encoded);
    expect(r.totalCount).toBe(2000);
    for (const p of PERCENTILES) expect(r.getValueAtPercentile(p)).toBe(expected.getValueAtPercentile(p));
    foreign.destroy();
    expected.destroy();
  });

  it('refuses what is not an HDR encoding, or is out of range, and then changes nothing', () => {
    const r = recorderOf([100, 200, 300]);
    const before = PERCENTILES.map((p) => r.getValueAtPercentile(p));
    expect(() => r.absorb('bm90IGEgaGlzdG9ncmFt')).toThrow(/HDR/);
    // Our layout, but a count after 3,000 buckets (ours has 2,560): read to the end before adding.
    expect(() => r.absorb(v2Encoding([2, 2, -3000, 2]))).toThrow(/beyond the latency range/);
    // Cut short in the middle of a varint.
    expect(() => r.absorb(v2Encoding([2, 0x80]))).toThrow(/truncated/);
    // Another layout whose values do not fit ours: the library refuses it.
    const wide = hdr.build({ bitBucketSize: 32, useWebAssembly: true, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2, autoResize: false });
    wide.recordValue(1_000_000_000);
    expect(() => r.absorb(encodeHistogram(wide))).toThrow();
    wide.destroy();
    expect(r.totalCount).toBe(3);
    expect(PERCENTILES.map((p) => r.getValueAtPercentile(p))).toEqual(before);
    // And a valid one still adds.
    r.absorb(v2Encoding([0, 2 * 5]));
    expect(r.totalCount).toBe(8);
    expect(r.getValueAtPercentile(50)).toBe(1);
  });
});
