/**
 * Everything measured about one operator: the current window (an HDR histogram and outcome
 * counts), a ring of closed windows for merged views, and cumulative counters for
 * Prometheus. Recording is O(1), synchronous and allocation-free.
 */
import { ATTEMPT_OUTCOMES, OUTCOME_INDEX, type AttemptOutcome } from './attempt-recorder.js';
import type { ProbeResult } from './health-prober.js';
import { decodeHistogram, encodeHistogram, type Histogram, newLatencyHistogram, recordLatency } from './latency-histogram.js';
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

interface ClosedWindow {
  histogram: Histogram;
  outcomes: Float64Array;
  probesSent: number;
  probesOk: number;
  probesUnreachable: number;
  metrics: WindowMetrics | undefined;
}

export class OperatorMeter {
  /** The open window. */
  private histogram: Histogram = newLatencyHistogram();
  private outcomes: Float64Array = new Float64Array(OUTCOMES);
  private probesSent = 0;
  private probesOk = 0;
  private probesUnreachable = 0;
  /** Closed windows, oldest overwritten first; `ringNext` is the slot the next close fills. */
  private readonly ring: ClosedWindow[] = [];
  private ringNext = 0;
  private closedCount = 0;

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
  ) {}

  record(methodIndex: number, outcome: AttemptOutcome, micros: number): void {
    const o = OUTCOME_INDEX[outcome];
    this.outcomes[o]!++;
    this.attemptsByMethodOutcome[methodIndex * OUTCOMES + o]!++;
    // A refused connection answers in microseconds: its "latency" would flatter the operator.
    // A wrong result re-labels an answer already timed when it was served.
    if (o === CONNECT || o === WRONG_RESULT) return;
    recordLatency(this.histogram, micros);
    let b = 0;
    while (b < LATENCY_BUCKETS_MICROS.length && micros > LATENCY_BUCKETS_MICROS[b]!) b++;
    this.latencyBuckets[b]!++;
    this.latencySumSeconds += micros / 1e6;
    this.latencyCount++;
  }

  recordProbe(result: ProbeResult, head: number | null, chainId: string | null): void {
    this.probesSent++;
    if (result === 'unreachable') this.probesUnreachable++;
    if (result === 'ok') {
      this.probesOk++;
      this.probeTotals.ok++;
      if (head !== null) this.head = head;
      if (chainId !== null) this.chainId = chainId;
    } else this.probeTotals.failed++;
  }

  /**
   * Closes the open window into the ring and opens a fresh one. The histogram of the oldest
   * closed window is reset and reused as the new open one: swapped, not allocated.
   */
  close(start: number, end: number, bestHead: number | null): WindowMetrics {
    let slot = this.ring[this.ringNext];
    const recycled = slot?.histogram ?? newLatencyHistogram();
    const recycledCounts = slot?.outcomes ?? new Float64Array(OUTCOMES);
    recycled.reset();
    recycledCounts.fill(0);
    if (slot === undefined) {
      slot = { histogram: this.histogram, outcomes: this.outcomes, probesSent: 0, probesOk: 0, probesUnreachable: 0, metrics: undefined };
      this.ring.push(slot);
    }
    slot.histogram = this.histogram;
    slot.outcomes = this.outcomes;
    slot.probesSent = this.probesSent;
    slot.probesOk = this.probesOk;
    slot.probesUnreachable = this.probesUnreachable;
    slot.metrics = summarizeWindow(this, start, end, slot.histogram, slot, {
      head: this.head,
      headLag: bestHead !== null && this.head !== null ? Math.max(0, bestHead - this.head) : null,
      chainId: this.chainId,
    });
    this.histogram = recycled;
    this.outcomes = recycledCounts;
    this.probesSent = 0;
    this.probesOk = 0;
    this.probesUnreachable = 0;
    this.ringNext = (this.ringNext + 1) % this.historyWindows;
    this.closedCount++;
    return slot.metrics;
  }

  /** The last closed window. */
  get latest(): WindowMetrics | undefined {
    if (this.closedCount === 0) return undefined;
    return this.ring[(this.ringNext - 1 + this.historyWindows) % this.historyWindows]!.metrics;
  }

  /** The last `windows` closed windows as one: histograms added (exact), counts summed. */
  merged(windows: number, scratch: Histogram): WindowMetrics | undefined {
    const n = Math.min(windows, this.closedCount, this.historyWindows);
    if (n === 0) return undefined;
    scratch.reset();
    const outcomes = new Float64Array(OUTCOMES);
    let probesSent = 0;
    let probesOk = 0;
    let probesUnreachable = 0;
    let start = Infinity;
    let end = -Infinity;
    for (let k = 1; k <= n; k++) {
      const w = this.ring[(this.ringNext - k + this.historyWindows) % this.historyWindows]!;
      scratch.add(w.histogram);
      for (let i = 0; i < OUTCOMES; i++) outcomes[i]! += w.outcomes[i]!;
      probesSent += w.probesSent;
      probesOk += w.probesOk;
      probesUnreachable += w.probesUnreachable;
      start = Math.min(start, w.metrics!.windowStart);
      end = Math.max(end, w.metrics!.windowEnd);
    }
    const last = this.latest!;
    return summarizeWindow(this, start, end, scratch, { outcomes, probesSent, probesOk, probesUnreachable }, { head: last.head, headLag: last.headLag, chainId: last.chainId });
  }

  /** The last closed window's histogram, for encoding. */
  latestHistogram(): Histogram | undefined {
    if (this.closedCount === 0) return undefined;
    return this.ring[(this.ringNext - 1 + this.historyWindows) % this.historyWindows]!.histogram;
  }

  /**
   * Hands over what this meter recorded since the last export (a data-plane worker's part
   * of the window) and starts afresh. The histogram travels in HDR's compressed encoding.
   */
  exportWindow(): MeterExport {
    const exported: MeterExport = {
      index: this.index,
      outcomes: this.outcomes.slice(),
      histogram: this.histogram.totalCount > 0 ? encodeHistogram(this.histogram) : null,
      attemptsByMethodOutcome: this.attemptsByMethodOutcome.slice(),
      latencyBuckets: this.latencyBuckets.slice(),
      latencySumSeconds: this.latencySumSeconds,
      latencyCount: this.latencyCount,
    };
    this.histogram.reset();
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
    if (part.histogram !== null) {
      const decoded = decodeHistogram(part.histogram);
      this.histogram.add(decoded);
      decoded.destroy();
    }
  }

  /** Cumulative count of one outcome since start, all methods. */
  count(outcome: AttemptOutcome): number {
    const o = OUTCOME_INDEX[outcome];
    let n = 0;
    for (let m = 0; m < METHOD_LABELS.length; m++) n += this.attemptsByMethodOutcome[m * OUTCOMES + o]!;
    return n;
  }

  /** Frees the WebAssembly memory of every histogram. */
  destroy(): void {
    this.histogram.destroy();
    for (const w of this.ring) w.histogram.destroy();
    this.ring.length = 0;
  }
}
