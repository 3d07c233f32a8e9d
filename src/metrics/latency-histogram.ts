/**
 * HDR histograms of latency in integer microseconds: two significant digits, 1 µs to 60 s.
 *
 * Two forms share one bucket layout:
 * - hdr-histogram-js in its WebAssembly form (32-bit buckets) at the edges: the compressed
 *   encoding that data-plane workers and gateways exchange, and tests that compare against
 *   the library. WASM memory is not garbage-collected: `destroy()` what you drop.
 * - Plain JS counts for everything the gateway keeps: `LatencyRecorder` (the open window, a
 *   dense array of buckets) and `CompactLatency` (a closed window: only its non-zero buckets).
 *   They reproduce the library's bucket index, percentile and max arithmetic exactly (the
 *   unit tests check them against the WASM histogram), so every percentile is the one the
 *   library would give for the same recordings.
 *
 * Why not one WASM histogram per window, as before: each is a 10 KB counts array in WASM
 * memory (~12.6 KB with the allocator, measured: 1,000 operators × 31 histograms = 390 MB),
 * so a 5-minute ring at 10,000 operators needed ~3.8 GB, and WASM memory never shrinks. A
 * closed window of a typical operator touches a few dozen buckets; stored compactly it holds
 * 4 bytes per touched bucket. Recording into a JS typed array is also cheaper than a call
 * into WASM (~5 ns against ~16 ns here), and reading the counts back out of WASM at a
 * window close has no cheap API (`encode()` + parse costs ~4 µs per histogram).
 */
import { Buffer } from 'node:buffer';
import { inflateSync } from 'node:zlib';
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** What a window summary reads from a latency distribution (the library's names and meaning). */
export interface LatencyDistribution {
  readonly totalCount: number;
  /** The largest value recorded (not rounded to its bucket), 0 when empty. */
  readonly maxValue: number;
  getValueAtPercentile(percentile: number): number;
}

/** 1 µs to 60 s; slower answers are clamped to 60 s rather than dropped. */
export const HIGHEST_LATENCY_MICROS = 60_000_000;
const SIGNIFICANT_DIGITS = 2;

let ready: Promise<void> | undefined;

/** Loads the WebAssembly module once; must be awaited before `newLatencyHistogram`. */
export function initLatencyHistograms(): Promise<void> {
  ready ??= hdr.initWebAssembly();
  return ready;
}

export function newLatencyHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    useWebAssembly: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_LATENCY_MICROS,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    autoResize: false,
  });
}

export function recordLatency(histogram: Histogram, micros: number): void {
  histogram.recordValue(micros < 1 ? 1 : micros > HIGHEST_LATENCY_MICROS ? HIGHEST_LATENCY_MICROS : micros);
}

/** The compact form for sharing a window between gateway instances. */
export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, true);
}

// ---------------------------------------------------------------------------------------
// The bucket layout of the histograms above (HdrHistogram's, unit magnitude 0), in JS.

/** 2 × 10^digits values at unit resolution need 2^8 sub-buckets; the upper half of each bucket is new. */
const SUB_BUCKET_COUNT_MAGNITUDE = Math.ceil(Math.log2(2 * 10 ** SIGNIFICANT_DIGITS));
const SUB_BUCKET_HALF_COUNT_MAGNITUDE = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_HALF_COUNT = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK = (1 << SUB_BUCKET_COUNT_MAGNITUDE) - 1;
/** HdrHistogram's `64 - unitMagnitude - subBucketHalfCountMagnitude - 1` with clz32 instead of clz64 (values < 2^32). */
const LEADING_ZERO_COUNT_BASE = 32 - SUB_BUCKET_HALF_COUNT_MAGNITUDE - 1;

function bucketsNeeded(): number {
  let buckets = 1;
  for (let smallestUntrackable = 1 << SUB_BUCKET_COUNT_MAGNITUDE; smallestUntrackable <= HIGHEST_LATENCY_MICROS; smallestUntrackable *= 2) buckets++;
  return buckets;
}

/** Length of the counts array: 2,560 buckets for 1 µs–60 s at two digits. */
export const LATENCY_COUNTS_LENGTH = (bucketsNeeded() + 1) * SUB_BUCKET_HALF_COUNT;

/** The counts index of an integer value in [0, 2^31). */
export function latencyCountsIndex(value: number): number {
  const bucket = LEADING_ZERO_COUNT_BASE - Math.clz32(value | SUB_BUCKET_MASK);
  return ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (value >>> bucket) - SUB_BUCKET_HALF_COUNT;
}

/** The lowest value counted at `index`. */
export function latencyValueFromIndex(index: number): number {
  let bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
  let subBucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
  if (bucket < 0) {
    subBucket -= SUB_BUCKET_HALF_COUNT;
    bucket = 0;
  }
  return subBucket << bucket; // < 2^27: within int32
}

/** The highest value counted at `index` (what the library reports for a percentile). */
function highestValueAtIndex(index: number): number {
  const bucket = Math.max(0, (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1);
  return latencyValueFromIndex(index) + (1 << bucket) - 1;
}

/**
 * The library's rounding of a percentile to a count: `max(ceil(fp − ulp(fp)), 1)`, up but
 * not past an fp error of one ulp. That is `ceil(fp)` unless fp lies within two ulps above
 * an integer, so the log2 and pow of the ulp are only computed then.
 */
function countAtPercentile(percentile: number, totalCount: number): number {
  const fp = (Math.min(percentile, 100) / 100) * totalCount;
  const above = fp - Math.floor(fp);
  if (above > 0 && above <= fp * 2 ** -51) return Math.max(Math.ceil(fp - 2 ** (Math.floor(Math.log2(fp)) - 52)), 1);
  return Math.max(Math.ceil(fp), 1);
}

// ---------------------------------------------------------------------------------------
// Compact closed windows.
//
// A closed window keeps its non-zero buckets in bucket order as 32-bit words: the counts
// index in the low 12 bits, the count in the high 20. A count of 2^20 or more (a million
// answers in one bucket in one window) is written as the index with a count field of 0,
// followed by a word with the whole count. A window thus holds 4 bytes per touched bucket
// (at most 2 × 2,560 words, 20 KB, in the impossible case of every bucket over a million),
// and one with no latency holds nothing.
//
// One operator's closed windows share one array (`LatencyHistory`): a typed array per
// window costs ~550 bytes of V8 and malloc overhead for ~80 bytes of counts (measured:
// 300,000 `Uint32Array(20)` = 165 MB RSS), more than the counts themselves.

const INDEX_BITS = 12;
const INDEX_MASK = (1 << INDEX_BITS) - 1;
const MAX_PACKED_COUNT = 2 ** (32 - INDEX_BITS) - 1;
if (LATENCY_COUNTS_LENGTH > 1 << INDEX_BITS) throw new Error('latency counts index does not fit its packed field');

const NO_WORDS = new Uint32Array(0);
/** Words of the window being packed, before they are copied into a history. */
const packScratch = new Uint32Array(2 * LATENCY_COUNTS_LENGTH);

/**
 * Packs the non-zero counts of `dense` in [low, high] into `packScratch` and zeroes them in
 * `dense`, so the dense array is clean for the next window without a full clear. Returns
 * the number of words written.
 */
function packDense(dense: Float64Array, low: number, high: number): number {
  let n = 0;
  for (let i = low; i <= high; i++) {
    const c = dense[i]!;
    if (c === 0) continue;
    dense[i] = 0;
    if (c <= MAX_PACKED_COUNT) packScratch[n++] = i | (c << INDEX_BITS);
    else {
      packScratch[n++] = i;
      packScratch[n++] = c;
    }
  }
  return n;
}

/**
 * A window's latency in packed form: `length` words of `words` from `start`. A view, not an
 * owner: over a `LatencyHistory` slot (valid until that slot is stored again) or over a
 * merge (valid until the next merge).
 */
export class CompactLatency implements LatencyDistribution {
  words: Uint32Array = NO_WORDS;
  start = 0;
  length = 0;
  totalCount = 0;
  maxValue = 0;

  /** HdrHistogram's `getValueAtPercentile`: the highest value of the bucket reaching the percentile (the lowest, for 0). */
  getValueAtPercentile(percentile: number): number {
    if (this.totalCount === 0) return 0;
    const target = countAtPercentile(percentile, this.totalCount);
    const words = this.words;
    const end = this.start + this.length;
    let total = 0;
    for (let k = this.start; k < end; k++) {
      const w = words[k]!;
      let c = w >>> INDEX_BITS;
      if (c === 0) c = words[++k]!;
      total += c;
      if (total >= target) return percentile === 0 ? latencyValueFromIndex(w & INDEX_MASK) : highestValueAtIndex(w & INDEX_MASK);
    }
    return 0;
  }

  /** Adds the counts into a dense array; returns the highest index touched (the lowest is the first word's). */
  addTo(dense: Float64Array): number {
    const words = this.words;
    const end = this.start + this.length;
    let high = -1;
    for (let k = this.start; k < end; k++) {
      const w = words[k]!;
      let c = w >>> INDEX_BITS;
      if (c === 0) c = words[++k]!;
      high = w & INDEX_MASK;
      dense[high]! += c;
    }
    return high;
  }

  /** The lowest counts index held, or `LATENCY_COUNTS_LENGTH` when empty. */
  get lowIndex(): number {
    return this.length === 0 ? LATENCY_COUNTS_LENGTH : this.words[this.start]! & INDEX_MASK;
  }

  /** The same counts in a WASM histogram (reset first), for the library's encoding. */
  materialize(into: Histogram): Histogram {
    into.reset();
    const words = this.words;
    const end = this.start + this.length;
    for (let k = this.start; k < end; k++) {
      const w = words[k]!;
      let c = w >>> INDEX_BITS;
      if (c === 0) c = words[++k]!;
      into.recordValueWithCount(latencyValueFromIndex(w & INDEX_MASK), c);
    }
    return into;
  }

  /** HDR's compressed encoding, as `encodeHistogram` gives for the same counts. */
  encode(): string {
    return encodeHistogram(this.materialize(scratchHistogram()));
  }
}

/**
 * The closed windows of one operator: a ring of `windows` slots, stored in ring order,
 * whose packed counts live in one shared array, appended in order. Storing slot s evicts
 * what s held (the oldest). When the array is full, the live windows are moved down to its
 * start, or into a new array (see `compact`) when they no longer fit or would fit in
 * a third of it: a word is moved about once per lap of the ring, and the array holds at most
 * 3 × the live words + 64. An operator whose windows have no latency holds no array.
 */
export class LatencyHistory {
  private words: Uint32Array = NO_WORDS;
  /** Next free word. */
  private head = 0;
  /** Words held by live windows. */
  private liveWords = 0;
  /** Per slot: start, length (words), total count, max value. */
  private readonly slots: Float64Array;

  constructor(readonly windows: number) {
    this.slots = new Float64Array(4 * windows);
  }

  /** Bytes held for the counts of all the windows. */
  get byteLength(): number {
    return this.words.byteLength;
  }

  /** Points `into` at slot `slot` (valid until the slot is stored again) and returns it. */
  window(slot: number, into: CompactLatency): CompactLatency {
    const o = 4 * slot;
    into.words = this.words;
    into.start = this.slots[o]!;
    into.length = this.slots[o + 1]!;
    into.totalCount = this.slots[o + 2]!;
    into.maxValue = this.slots[o + 3]!;
    return into;
  }

  /** Stores the first `n` words of `packScratch` as slot `slot`. */
  store(slot: number, n: number, totalCount: number, maxValue: number): void {
    const o = 4 * slot;
    const slots = this.slots;
    this.liveWords -= slots[o + 1]!;
    slots[o + 1] = 0;
    slots[o + 2] = totalCount;
    slots[o + 3] = maxValue;
    if (this.liveWords === 0 && n === 0) {
      this.words = NO_WORDS;
      this.head = 0;
    }
    if (this.head + n > this.words.length || this.words.length > 3 * (this.liveWords + n) + 64) this.compact(slot, n);
    const words = this.words;
    const head = this.head;
    for (let k = 0; k < n; k++) words[head + k] = packScratch[k]!;
    slots[o] = head;
    slots[o + 1] = n;
    this.head = head + n;
    this.liveWords += n;
  }

  /**
   * Moves the live windows (oldest first: they lie in that order) to the start of the array,
   * or of a new one. A new array is sized for 1.5 × what the live windows and the new one
   * need, or, while the ring fills, for what a full ring of windows like these would need
   * (at most 2 × the need, so within the 3 × bound): steady traffic settles in a few allocations.
   */
  private compact(slot: number, n: number): void {
    const needed = this.liveWords + n;
    const old = this.words;
    let target = old;
    if (old.length < needed || old.length > 3 * needed + 64) {
      let filled = n > 0 ? 1 : 0;
      for (let k = 1; k < this.windows; k++) if (this.slots[4 * ((slot + k) % this.windows) + 1]! > 0) filled++;
      const projected = Math.min(2 * needed, filled > 0 ? Math.ceil((needed / filled) * this.windows) : needed);
      target = new Uint32Array(Math.ceil(1.5 * Math.max(needed, projected)) + 16);
    }
    let pos = 0;
    for (let k = 1; k < this.windows; k++) {
      const o = 4 * ((slot + k) % this.windows);
      const len = this.slots[o + 1]!;
      const from = this.slots[o]!;
      this.slots[o] = pos;
      if (len === 0) continue;
      if (target === old) old.copyWithin(pos, from, from + len);
      else target.set(old.subarray(from, from + len), pos);
      pos += len;
    }
    this.words = target;
    this.head = pos;
  }
}

/**
 * Merges closed windows exactly: counts added bucket by bucket (the union's percentiles),
 * the max the largest max, as adding the library's histograms does.
 */
export class LatencyMerger {
  private readonly dense = new Float64Array(LATENCY_COUNTS_LENGTH);
  private low = LATENCY_COUNTS_LENGTH;
  private high = -1;
  private totalCount = 0;
  private maxValue = 0;
  private readonly words = new Uint32Array(2 * LATENCY_COUNTS_LENGTH);
  private readonly merged = new CompactLatency();

  add(window: CompactLatency): void {
    if (window.totalCount === 0) return;
    const low = window.lowIndex;
    const high = window.addTo(this.dense);
    if (low < this.low) this.low = low;
    if (high > this.high) this.high = high;
    this.totalCount += window.totalCount;
    if (window.maxValue > this.maxValue) this.maxValue = window.maxValue;
  }

  /**
   * The merge so far, and a fresh start. The result is this merger's own object, valid
   * until the next `finish`. (A merged bucket is kept in 32 bits, as in the library's
   * 32-bit histograms: beyond 4 billion answers in one bucket it would wrap.)
   */
  finish(): CompactLatency {
    const n = packDense(this.dense, this.low, this.high);
    this.words.set(packScratch.subarray(0, n));
    const merged = this.merged;
    merged.words = this.words;
    merged.start = 0;
    merged.length = n;
    merged.totalCount = this.totalCount;
    merged.maxValue = this.maxValue;
    this.low = LATENCY_COUNTS_LENGTH;
    this.high = -1;
    this.totalCount = 0;
    this.maxValue = 0;
    return merged;
  }
}

// ---------------------------------------------------------------------------------------
// The open window.

/** Words of the open window's bitmap of touched buckets, after its counts. */
const BITMAP_WORDS = Math.ceil(LATENCY_COUNTS_LENGTH / 32);

/**
 * The open window's latency: a dense array of the layout's 2,560 buckets (10 KB) in plain
 * JS, followed by a bitmap of the buckets touched since the last close, so that closing
 * visits only those (a few dozen, typically) instead of scanning the range. Recording is a
 * clamp, a `clz32`, an increment and a bit set: O(1), no allocation.
 */
export class LatencyRecorder implements LatencyDistribution {
  /** [0, LATENCY_COUNTS_LENGTH): counts; then BITMAP_WORDS words of touched bits. */
  private readonly counts = new Uint32Array(LATENCY_COUNTS_LENGTH + BITMAP_WORDS);
  totalCount = 0;
  maxValue = 0;

  /**
   * Counts one latency. Like `recordLatency`: clamped to [1 µs, 60 s], fractions dropped as
   * the library does; a NaN counts as 1 µs (the library would throw).
   */
  record(micros: number): void {
    const v = micros >= 1 ? (micros < HIGHEST_LATENCY_MICROS ? micros | 0 : HIGHEST_LATENCY_MICROS) : 1;
    const i = latencyCountsIndex(v);
    const counts = this.counts;
    counts[i]!++;
    counts[LATENCY_COUNTS_LENGTH + (i >>> 5)]! |= 1 << (i & 31);
    this.totalCount++;
    if (v > this.maxValue) this.maxValue = v;
  }

  getValueAtPercentile(percentile: number): number {
    if (this.totalCount === 0) return 0;
    const target = countAtPercentile(percentile, this.totalCount);
    let total = 0;
    const high = latencyCountsIndex(this.maxValue);
    for (let i = 0; i <= high; i++) {
      total += this.counts[i]!;
      if (total >= target) return percentile === 0 ? latencyValueFromIndex(i) : highestValueAtIndex(i);
    }
    return 0;
  }

  /**
   * Moves the window into slot `slot` of `history` (packed) and starts an empty one. Visits
   * the bitmap up to the max's bucket and the touched buckets only; little for an empty window.
   */
  closeInto(history: LatencyHistory, slot: number): void {
    if (this.totalCount === 0) {
      history.store(slot, 0, 0, 0);
      return;
    }
    const counts = this.counts;
    const lastWord = latencyCountsIndex(this.maxValue) >>> 5;
    let n = 0;
    for (let w = 0; w <= lastWord; w++) {
      let bits = counts[LATENCY_COUNTS_LENGTH + w]! | 0;
      if (bits === 0) continue;
      counts[LATENCY_COUNTS_LENGTH + w] = 0;
      do {
        const i = (w << 5) | (31 - Math.clz32(bits & -bits)); // lowest set bit: buckets in order
        bits &= bits - 1;
        const c = counts[i]!;
        counts[i] = 0;
        if (c <= MAX_PACKED_COUNT) packScratch[n++] = i | (c << INDEX_BITS);
        else {
          packScratch[n++] = i;
          packScratch[n++] = c;
        }
      } while (bits !== 0);
    }
    history.store(slot, n, this.totalCount, this.maxValue);
    this.totalCount = 0;
    this.maxValue = 0;
  }

  reset(): void {
    if (this.totalCount > 0) this.counts.fill(0);
    this.totalCount = 0;
    this.maxValue = 0;
  }

  /** HDR's compressed encoding of the open window, as `encodeHistogram` gives for the same counts. */
  encode(): string {
    const into = scratchHistogram();
    into.reset();
    if (this.totalCount > 0) {
      const high = latencyCountsIndex(this.maxValue);
      for (let i = 0; i <= high; i++) {
        const c = this.counts[i]!;
        if (c !== 0) into.recordValueWithCount(latencyValueFromIndex(i), c);
      }
    }
    return encodeHistogram(into);
  }

  /**
   * Adds a histogram in HDR's compressed encoding (a worker's part of the window), as adding
   * the decoded histogram to a WASM one would: counts bucket by bucket; the max becomes the
   * highest value of the other's top bucket if that is larger (the encoding keeps no max).
   */
  absorb(encoded: string): void {
    const top = addV2Counts(decodeV2Payload(encoded) ?? rebucket(encoded), this.counts);
    if (top.totalCount === 0) return;
    this.totalCount += top.totalCount;
    const max = highestValueAtIndex(top.high);
    if (max > this.maxValue) this.maxValue = max;
  }
}

// ---------------------------------------------------------------------------------------
// HDR's V2 encoding, read directly (the library offers no access to a WASM histogram's counts).

const V2_ENCODING_COOKIE_BASE = 0x1c849303;
const V2_COMPRESSED_ENCODING_COOKIE_BASE = 0x1c849304;
const V2_HEADER_BYTES = 40;

/** The uncompressed V2 encoding inside a compressed base64 string, or undefined if its layout is not ours. */
function decodeV2Payload(encoded: string): Uint8Array | undefined {
  const compressed = Buffer.from(encoded.trim(), 'base64');
  if (compressed.length < 8 || (compressed.readInt32BE(0) & ~0xf0) !== V2_COMPRESSED_ENCODING_COOKIE_BASE) {
    throw new Error('not an HDR histogram in V2 compressed encoding');
  }
  const raw = inflateSync(compressed.subarray(8, 8 + compressed.readInt32BE(4)));
  if (raw.length < V2_HEADER_BYTES || (raw.readInt32BE(0) & ~0xf0) !== V2_ENCODING_COOKIE_BASE) {
    throw new Error('not an HDR histogram in V2 encoding');
  }
  const digits = raw.readInt32BE(12);
  const lowest = Number(raw.readBigInt64BE(16));
  const highest = Number(raw.readBigInt64BE(24));
  if (digits !== SIGNIFICANT_DIGITS || lowest !== 1 || highest !== HIGHEST_LATENCY_MICROS) return undefined;
  return raw;
}

/**
 * Adds the counts of an uncompressed V2 encoding (ZigZag LEB128: counts, and negative runs
 * of zeros) into a recorder's counts, marking the buckets touched in its bitmap. The whole
 * encoding is read and checked before anything is added: a bad one changes nothing.
 */
function addV2Counts(raw: Uint8Array, counts: Uint32Array): { totalCount: number; high: number } {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const end = V2_HEADER_BYTES + view.getInt32(4);
  if (end > raw.length) throw new Error('truncated HDR histogram encoding');
  let pos = V2_HEADER_BYTES;
  let index = 0;
  let n = 0;
  while (pos < end) {
    // LEB128-64b9B: up to 8 bytes of 7 bits, then a 9th of 8 bits.
    let value = 0;
    let scale = 1;
    for (let b = 0; ; b++) {
      if (pos >= end) throw new Error('truncated HDR histogram encoding');
      const byte = raw[pos++]!;
      if (b === 8) {
        value += byte * scale;
        break;
      }
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) break;
      scale *= 128;
    }
    const count = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    if (count < 0) {
      index -= count;
      continue;
    }
    if (count > 0) {
      if (index >= LATENCY_COUNTS_LENGTH) throw new Error('HDR histogram encoding beyond the latency range');
      if (count > 0xffffffff) throw new Error('HDR histogram encoding with a count beyond 32 bits');
      // Each bucket appears once, in order: at most 2 words each, as packScratch allows.
      if (count <= MAX_PACKED_COUNT) packScratch[n++] = index | (count << INDEX_BITS);
      else {
        packScratch[n++] = index;
        packScratch[n++] = count;
      }
    }
    index++;
  }
  let totalCount = 0;
  let high = -1;
  for (let k = 0; k < n; k++) {
    const w = packScratch[k]!;
    let c = w >>> INDEX_BITS;
    if (c === 0) c = packScratch[++k]!;
    high = w & INDEX_MASK;
    counts[high]! += c;
    counts[LATENCY_COUNTS_LENGTH + (high >>> 5)]! |= 1 << (high & 31);
    totalCount += c;
  }
  return { totalCount, high };
}

/** A histogram of another layout (not one of ours) re-bucketed into ours by the library, as V2 bytes. */
function rebucket(encoded: string): Uint8Array {
  const foreign = decodeHistogram(encoded);
  const ours = scratchHistogram();
  ours.reset();
  try {
    ours.add(foreign);
  } finally {
    foreign.destroy();
  }
  return (ours as hdr.WasmHistogram).encode();
}

let scratch: Histogram | undefined;

/** One WASM histogram, reused for every encoding (single-threaded, used synchronously). */
function scratchHistogram(): Histogram {
  scratch ??= newLatencyHistogram();
  return scratch;
}
