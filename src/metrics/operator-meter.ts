/**
 * Everything measured about one operator: the current window (latency counts and outcome
 * counts), a ring of closed windows for merged views, and cumulative counters for
 * Prometheus. Recording is O(1), synchronous and allocation-free.
 *
 * How closed windows are kept. They used to be one WebAssembly HDR histogram each (10 KB
 * of counts, ~12.6 KB with the allocator, never given back): 3.8 GB RSS at 10,000
 * operators with 5 minutes of history, and a tick of 110-140 ms (bench/micro.mjs). Now a
 * closed window is its touched HDR buckets, packed 4 bytes each into one array per
 * operator (`LatencyHistory`), plus its outcome and probe counts in this meter's `ring`;
 * only the last window's `WindowMetrics` is kept. Measured the same way: 0.34-0.44 GB,
 * ticks of 19-24 ms (docs/performance.md). A window's size follows the spread of its
 * latencies, not its traffic: tens to a few hundred buckets, at most 2,560 (10 KB).
 * The alternatives weighed:
 * - minute roll-ups (6 raw windows + 5 per-minute histograms) still hold 11-12 WASM
 *   histograms per operator (~1.4 GB at 10,000), and a 5-minute view built from them
 *   covers 5 to 6 minutes depending on where the minute boundary falls: answers would
 *   change. Compact windows keep every window, so any `view(k)` is exactly the union.
 * - a pool of WASM histograms reused across operators saves allocations, not memory, while
 *   every operator has traffic: each closed window still needs its own counts.
 * - compact closed windows with the open window still in WASM: reading a WASM histogram's
 *   counts back (`encode()` and parse, the only way) costs ~4 µs, 40 ms per tick at 10,000.
 *   The open window is therefore plain JS too (`LatencyRecorder`), which also halved the
 *   cost of recording.
 */
import { ATTEMPT_OUTCOMES, OUTCOME_INDEX, type AttemptOutcome } from './attempt-recorder.js';
import type { ProbeFailure, ProbeResult } from './health-prober.js';
import { CompactLatency, type Histogram, LatencyHistory, LatencyMerger, LatencyRecorder, newLatencyHistogram } from './latency-histogram.js';
import { METHOD_LABELS } from './method-labels.js';
import { summarizeWindow, type WindowMetrics } from './window-metrics.js';

/** Upper bounds (µs) of the Prometheus latency buckets: fine enough to tell 1 ms from 5 ms from 250 ms. */
export const LATENCY_BUCKETS_MICROS = [
  250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
] as const;

const OUTCOMES = ATTEMPT_OUTCOMES.length;
const CONNECT = OUTCOME_INDEX.connect;
const WRONG_RESULT = OUTCOME_INDEX.wrong_result;

/** One meter's recordings since its last export, as a data-plane worker sends them. */
export interface MeterExport {
  readonly index: number;
  readonly outcomes: Float64Array;
  readonly histogram: string | null;
  readonly attemptsByMethodOutcome: Float64Array;
  readonly latencyBuckets: Float64Array;
  readonly latencySumSeconds: number;
  readonly latencyCount: number;
}

/** A closed window's counts in the meter's `ring`: the outcomes, then these. */
const PROBES_SENT = OUTCOMES;
const PROBES_OK = OUTCOMES + 1;
const PROBES_UNREACHABLE = OUTCOMES + 2;
const WINDOW_START = OUTCOMES + 3;
const WINDOW_END = OUTCOMES + 4;
/** When the window's first and last probe finished (NaN: no probe). */
const FIRST_PROBE_AT = OUTCOMES + 5;
const LAST_PROBE_AT = OUTCOMES + 6;
/** The window's last probe failure, as 1 + its index in PROBE_FAILURES (0: none). */
const LAST_PROBE_FAILURE = OUTCOMES + 7;
const RING_STRIDE = OUTCOMES + 8;

const PROBE_FAILURES: readonly ProbeFailure[] = ['connect', 'timeout', 'invalid'];
const failureCode = (f: ProbeFailure | null) => (f === null ? 0 : PROBE_FAILURES.indexOf(f) + 1);
const failureOf = (code: number) => (code > 0 ? PROBE_FAILURES[code - 1] ?? null : null);

/** Merges for views, and a view onto one closed window: per thread, used synchronously. */
const merger = new LatencyMerger();
const slotView = new CompactLatency();

let latestScratchHistogram: Histogram | undefined;
function latestScratch(): Histogram {
  latestScratchHistogram ??= newLatencyHistogram();
  return latestScratchHistogram;
}

export class OperatorMeter {
  /** The open window. */
  private readonly latency = new LatencyRecorder();
  private readonly outcomes: Float64Array = new Float64Array(OUTCOMES);
  private probesSent = 0;
  private probesOk = 0;
  private probesUnreachable = 0;
  private firstProbeAt: number | null = null;
  private lastProbeAt: number | null = null;
  private lastProbeFailure: ProbeFailure | null = null;
  /**
   * Closed windows, oldest overwritten first; `ringNext` is the slot the next close fills.
   * Slot s: latency in `history` slot s, counts and bounds at [s × RING_STRIDE, (s + 1) × RING_STRIDE).
   */
  private readonly history: LatencyHistory;
  private readonly ring: Float64Array;
  private ringNext = 0;
  private closedCount = 0;
  private latestMetrics: WindowMetrics | undefined;

  /** Since start, for Prometheus: [method][outcome] counts, latency buckets (+Inf last), sum. */
  readonly attemptsByMethodOutcome = new Float64Array(METHOD_LABELS.length * OUTCOMES);
  readonly latencyBuckets = new Float64Array(LATENCY_BUCKETS_MICROS.length + 1);
  latencySumSeconds = 0;
  latencyCount = 0;
  readonly probeTotals = { ok: 0, failed: 0 };

  /** Last probe answers: these persist across windows. */
  head: number | null = null;
  chainId: string | null = null;

  constructor(
    readonly operatorId: string,
    readonly chain: string,
    readonly index: number,
    private readonly historyWindows: number,
  ) {
    this.ring = new Float64Array(historyWindows * RING_STRIDE);
    this.history = new LatencyHistory(historyWindows);
  }

  record(methodIndex: number, outcome: AttemptOutcome, micros: number): void {
    const o = OUTCOME_INDEX[outcome];
    this.outcomes[o]!++;
    this.attemptsByMethodOutcome[methodIndex * OUTCOMES + o]!++;
    // A refused connection answers in microseconds: its "latency" would flatter the operator.
    // A wrong result re-labels an answer already timed when it was served.
    if (o === CONNECT || o === WRONG_RESULT) return;
    this.latency.record(micros);
    let b = 0;
    while (b < LATENCY_BUCKETS_MICROS.length && micros > LATENCY_BUCKETS_MICROS[b]!) b++;
    this.latencyBuckets[b]!++;
    this.latencySumSeconds += micros / 1e6;
    this.latencyCount++;
  }

  /** `at`: when the probe finished (ms since epoch); `failure`: how it failed, when it did (evidence for downtime). */
  recordProbe(result: ProbeResult, head: number | null, chainId: string | null, at?: number, failure?: ProbeFailure): void {
    this.probesSent++;
    if (at !== undefined) {
      this.firstProbeAt ??= at;
      this.lastProbeAt = at;
    }
    if (result !== 'ok') this.lastProbeFailure = failure ?? (result === 'invalid' ? 'invalid' : 'connect');
    if (result === 'unreachable') this.probesUnreachable++;
    if (result === 'ok') {
      this.probesOk++;
      this.probeTotals.ok++;
      if (head !== null) this.head = head;
      if (chainId !== null) this.chainId = chainId;
    } else this.probeTotals.failed++;
  }

  /**
   * Closes the open window into the ring (overwriting the oldest slot) and opens a fresh
   * one. The latency counts are packed into the history, visiting only the buckets the
   * window touched; percentiles are computed once, here, from the packed form, and kept in
   * the returned summary (`latest`). An operator without traffic costs a few assignments
   * and its summary. Nothing is allocated but the summary.
   */
  close(start: number, end: number, bestHead: number | null): WindowMetrics {
    const s = this.ringNext;
    this.latency.closeInto(this.history, s);
    const o = s * RING_STRIDE;
    const ring = this.ring;
    ring.set(this.outcomes, o);
    ring[o + PROBES_SENT] = this.probesSent;
    ring[o + PROBES_OK] = this.probesOk;
    ring[o + PROBES_UNREACHABLE] = this.probesUnreachable;
    ring[o + WINDOW_START] = start;
    ring[o + WINDOW_END] = end;
    ring[o + FIRST_PROBE_AT] = this.firstProbeAt ?? Number.NaN;
    ring[o + LAST_PROBE_AT] = this.lastProbeAt ?? Number.NaN;
    ring[o + LAST_PROBE_FAILURE] = failureCode(this.lastProbeFailure);
    const counts = {
      outcomes: this.outcomes,
      probesSent: this.probesSent,
      probesOk: this.probesOk,
      probesUnreachable: this.probesUnreachable,
      firstProbeAt: this.firstProbeAt,
      lastProbeAt: this.lastProbeAt,
      lastProbeFailure: this.lastProbeFailure,
    };
    const metrics = summarizeWindow(this, start, end, this.history.window(s, slotView), counts, {
      head: this.head,
      headLag: bestHead !== null && this.head !== null ? Math.max(0, bestHead - this.head) : null,
      chainId: this.chainId,
    });
    this.outcomes.fill(0);
    this.probesSent = 0;
    this.probesOk = 0;
    this.probesUnreachable = 0;
    this.firstProbeAt = null;
    this.lastProbeAt = null;
    this.lastProbeFailure = null;
    this.ringNext = (s + 1) % this.historyWindows;
    this.closedCount++;
    this.latestMetrics = metrics;
    return metrics;
  }

  /** The last closed window. */
  get latest(): WindowMetrics | undefined {
    return this.latestMetrics;
  }

  /** How many closed windows are held (at most the history). */
  get closedWindows(): number {
    return Math.min(this.closedCount, this.historyWindows);
  }

  /** Bytes of latency counts held by the closed windows (the open window is a fixed 10 KB). */
  get closedLatencyBytes(): number {
    return this.history.byteLength;
  }

  /**
   * The last `windows` closed windows as one: latency counts added bucket by bucket (exact,
   * the union's percentiles; never averaged), outcome and probe counts summed.
   */
  merged(windows: number): WindowMetrics | undefined {
    const n = Math.min(windows, this.closedCount, this.historyWindows);
    if (n === 0) return undefined;
    const outcomes = new Float64Array(OUTCOMES);
    let probesSent = 0;
    let probesOk = 0;
    let probesUnreachable = 0;
    let start = Infinity;
    let end = -Infinity;
    let firstProbeAt = Infinity;
    let lastProbeAt = -Infinity;
    let lastProbeFailure: ProbeFailure | null = null;
    const ring = this.ring;
    for (let k = 1; k <= n; k++) {
      const s = (this.ringNext - k + this.historyWindows) % this.historyWindows;
      const o = s * RING_STRIDE;
      merger.add(this.history.window(s, slotView));
      for (let i = 0; i < OUTCOMES; i++) outcomes[i]! += ring[o + i]!;
      probesSent += ring[o + PROBES_SENT]!;
      probesOk += ring[o + PROBES_OK]!;
      probesUnreachable += ring[o + PROBES_UNREACHABLE]!;
      start = Math.min(start, ring[o + WINDOW_START]!);
      end = Math.max(end, ring[o + WINDOW_END]!);
      // NaN (no probe in that window) loses every comparison.
      if (ring[o + FIRST_PROBE_AT]! < firstProbeAt) firstProbeAt = ring[o + FIRST_PROBE_AT]!;
      if (ring[o + LAST_PROBE_AT]! > lastProbeAt) lastProbeAt = ring[o + LAST_PROBE_AT]!;
      // Newest window first: the first failure met is the last one.
      lastProbeFailure ??= failureOf(ring[o + LAST_PROBE_FAILURE]!);
    }
    const last = this.latestMetrics!;
    return summarizeWindow(this, start, end, merger.finish(), {
      outcomes,
      probesSent,
      probesOk,
      probesUnreachable,
      firstProbeAt: Number.isFinite(firstProbeAt) ? firstProbeAt : null,
      lastProbeAt: Number.isFinite(lastProbeAt) ? lastProbeAt : null,
      lastProbeFailure,
    }, { head: last.head, headLag: last.headLag, chainId: last.chainId });
  }

  /**
   * The last closed window's latency as a WASM histogram, for encoding. The histogram is
   * shared scratch, overwritten by the next call or encoding: use it at once.
   */
  latestHistogram(): Histogram | undefined {
    return this.latestLatency()?.materialize(latestScratch());
  }

  /** The last closed window's latency in HDR's compressed encoding. */
  encodeLatest(): string | undefined {
    return this.latestLatency()?.encode();
  }

  private latestLatency(): CompactLatency | undefined {
    if (this.closedCount === 0) return undefined;
    return this.history.window((this.ringNext - 1 + this.historyWindows) % this.historyWindows, slotView);
  }

  /**
   * Hands over what this meter recorded since the last export (a data-plane worker's part
   * of the window) and starts afresh. The histogram travels in HDR's compressed encoding.
   */
  exportWindow(): MeterExport {
    const exported: MeterExport = {
      index: this.index,
      outcomes: this.outcomes.slice(),
      histogram: this.latency.totalCount > 0 ? this.latency.encode() : null,
      attemptsByMethodOutcome: this.attemptsByMethodOutcome.slice(),
      latencyBuckets: this.latencyBuckets.slice(),
      latencySumSeconds: this.latencySumSeconds,
      latencyCount: this.latencyCount,
    };
    this.latency.reset();
    this.outcomes.fill(0);
    this.attemptsByMethodOutcome.fill(0);
    this.latencyBuckets.fill(0);
    this.latencySumSeconds = 0;
    this.latencyCount = 0;
    return exported;
  }

  /** Adds a worker's export into the open window and the cumulative counters (histograms add exactly). */
  absorbWindow(part: MeterExport): void {
    for (let i = 0; i < OUTCOMES; i++) this.outcomes[i]! += part.outcomes[i] ?? 0;
    for (let i = 0; i < this.attemptsByMethodOutcome.length; i++) this.attemptsByMethodOutcome[i]! += part.attemptsByMethodOutcome[i] ?? 0;
    for (let i = 0; i < this.latencyBuckets.length; i++) this.latencyBuckets[i]! += part.latencyBuckets[i] ?? 0;
    this.latencySumSeconds += part.latencySumSeconds;
    this.latencyCount += part.latencyCount;
    if (part.histogram !== null) this.latency.absorb(part.histogram);
  }

  /** Cumulative count of one outcome since start, all methods. */
  count(outcome: AttemptOutcome): number {
    const o = OUTCOME_INDEX[outcome];
    let n = 0;
    for (let m = 0; m < METHOD_LABELS.length; m++) n += this.attemptsByMethodOutcome[m * OUTCOMES + o]!;
    return n;
  }

  /** Forgets the closed windows (nothing here holds WebAssembly memory any more). */
  destroy(): void {
    this.latestMetrics = undefined;
    this.closedCount = 0;
    this.ringNext = 0;
  }
}
