/**
 * The gateway's own health, window by window: before an operator is judged on a window, the
 * gateway judges itself. Each data-plane thread measures its event loop (delay and
 * utilization) and its pools' queues (attempts that waited for a connection); the window
 * close puts the threads' parts together and says whether the gateway itself was saturated.
 * A window in which it was, or in which every operator of a chain degraded at once, is the
 * gateway's overload: no operator is convicted of performance_threshold for it.
 */
import { type EventLoopUtilization, type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { PoolQueueStats } from '../router/upstream.js';
import type { WindowMetrics } from './window-metrics.js';

/** One thread's health over one window. Plain data: workers send theirs to the main thread. */
export interface ThreadHealth {
  /** `main`, or `worker-N`. */
  readonly thread: string;
  /** The event loop's delay over the window (a timer's lateness, sampled every 20 ms), ms. */
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
  /** Share of the window the event loop was busy (0-1). */
  readonly eventLoopUtilization: number;
  /** Attempts that found every connection of their operator's pool busy and waited. */
  readonly poolQueued: number;
  /** The most attempts waiting in one pool at once, and the longest wait, ms. */
  readonly poolQueueMaxDepth: number;
  readonly poolWaitMaxMs: number;
}

/** When the gateway counts itself saturated (config `staking.thresholds.gatewayOverload`). */
export interface OverloadThresholds {
  /** A thread's event loop busy more than this share of the window (0-1). */
  readonly eventLoopUtilization: number;
  /** A thread's event-loop delay p99 above this, ms. */
  readonly eventLoopDelayMs: number;
}

export const DEFAULT_OVERLOAD: OverloadThresholds = { eventLoopUtilization: 0.9, eventLoopDelayMs: 100 };

/** The gateway's health in one window, all threads together: the worst thread's loop, the pools' sums. */
export interface GatewayHealth {
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopUtilization: number;
  readonly poolQueued: number;
  readonly poolWaitMaxMs: number;
  /** The gateway's overload in this window: true when `reasons` is not empty. */
  readonly overloaded: boolean;
  /** Why the window is the gateway's overload, for a human (empty: it is not). */
  readonly reasons: readonly string[];
  readonly threads: readonly ThreadHealth[];
}

/** What the control loop (staking/control-loop.ts) shows of the gateway's own judgment of itself (/v1/status, /metrics). */
export interface GatewayJudgment {
  /** The last window was the gateway's overload (saturated, or a chain's operators all degraded at once). */
  readonly overloaded: boolean;
  readonly reasons: readonly string[];
  /** Windows judged the gateway's overload since start. */
  readonly overloadedWindows: number;
  /** The end of the last such window (ms), null before any. */
  readonly lastOverloadedWindowEnd: number | null;
  /** The last window's health, all threads. */
  readonly health: GatewayHealth | null;
}

const DELAY_RESOLUTION_MS = 20;
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** One thread's meter: its event loop, and the pools it sends requests through. Off the request path. */
export class ThreadHealthMeter {
  private readonly delay: IntervalHistogram;
  private lastUtilization: EventLoopUtilization;

  constructor(
    readonly thread: string,
    /** This thread's upstream pools (read at every take). */
    private readonly pools: () => Iterable<{ takeQueueStats(): PoolQueueStats }>,
  ) {
    this.delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
    this.delay.enable();
    this.lastUtilization = performance.eventLoopUtilization();
  }

  /** The thread's health since the last take (or since start), and a fresh start for the next. */
  take(): ThreadHealth {
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, this.lastUtilization).utilization;
    this.lastUtilization = now;
    // The histogram is in ns; the timer's own resolution is not delay.
    const sampled = this.delay.count > 0;
    const p99 = sampled ? Math.max(0, this.delay.percentile(99) / 1e6 - DELAY_RESOLUTION_MS) : 0;
    const max = sampled ? Math.max(0, this.delay.max / 1e6 - DELAY_RESOLUTION_MS) : 0;
    this.delay.reset();
    let queued = 0;
    let maxDepth = 0;
    let maxWaitMs = 0;
    for (const pool of this.pools()) {
      const q = pool.takeQueueStats();
      queued += q.queued;
      if (q.maxDepth > maxDepth) maxDepth = q.maxDepth;
      if (q.maxWaitMs > maxWaitMs) maxWaitMs = q.maxWaitMs;
    }
    return {
      thread: this.thread,
      eventLoopDelayP99Ms: round(p99, 1),
      eventLoopDelayMaxMs: round(max, 1),
      eventLoopUtilization: round(utilization, 3),
      poolQueued: queued,
      poolQueueMaxDepth: maxDepth,
      poolWaitMaxMs: round(maxWaitMs, 1),
    };
  }

  stop(): void {
    this.delay.disable();
  }
}

/**
 * The window's health from its threads' parts: saturated when any thread's event loop was
 * busier or later than the thresholds. Pool waits are reported, not judged: they are no
 * longer in any operator's latency, and a slow operator fills its own pool.
 */
export function gatewayHealthOf(threads: readonly ThreadHealth[], thresholds: OverloadThresholds): GatewayHealth {
  let delay = 0;
  let utilization = 0;
  let queued = 0;
  let waitMax = 0;
  const reasons: string[] = [];
  for (const t of threads) {
    delay = Math.max(delay, t.eventLoopDelayP99Ms);
    utilization = Math.max(utilization, t.eventLoopUtilization);
    queued += t.poolQueued;
    waitMax = Math.max(waitMax, t.poolWaitMaxMs);
    if (t.eventLoopUtilization > thresholds.eventLoopUtilization) {
      reasons.push(`event loop of thread ${t.thread} busy ${(100 * t.eventLoopUtilization).toFixed(1)} % of the window (limit ${100 * thresholds.eventLoopUtilization} %)`);
    }
    if (t.eventLoopDelayP99Ms > thresholds.eventLoopDelayMs) {
      reasons.push(`event loop of thread ${t.thread} delayed ${t.eventLoopDelayP99Ms} ms at p99 (limit ${thresholds.eventLoopDelayMs} ms)`);
    }
  }
  return { eventLoopDelayP99Ms: delay, eventLoopUtilization: utilization, poolQueued: queued, poolWaitMaxMs: waitMax, overloaded: reasons.length > 0, reasons, threads };
}

/**
 * Chains whose every judged operator (at least two, each with `minRequests`) had its p95 above
 * the target in the same window, with the reason: what they share is the gateway (its host, its
 * network), so the window is not any one operator's fault.
 */
export function degradedChains(windows: readonly WindowMetrics[], target: { readonly p95LatencyTargetMs: number; readonly minRequests: number }): Map<string, string> {
  const judged = new Map<string, { count: number; slow: number; lowest: number }>();
  for (const w of windows) {
    if (w.requests < target.minRequests) continue;
    let c = judged.get(w.chain);
    if (c === undefined) judged.set(w.chain, (c = { count: 0, slow: 0, lowest: Infinity }));
    c.count++;
    if (w.p95Latency > target.p95LatencyTargetMs) c.slow++;
    c.lowest = Math.min(c.lowest, w.p95Latency);
  }
  const degraded = new Map<string, string>();
  for (const [chain, c] of judged) {
    if (c.count >= 2 && c.slow === c.count) {
      degraded.set(chain, `every operator of ${chain} (${c.count}) had its p95 above ${target.p95LatencyTargetMs} ms in the same window (the lowest ${c.lowest.toFixed(1)} ms)`);
    }
  }
  return degraded;
}

/** The window's health as one chain's operators are judged: the gateway's, plus the chain's own degradation. */
export function healthForChain(health: GatewayHealth, chainReason: string | undefined): GatewayHealth {
  if (chainReason === undefined) return health;
  return { ...health, overloaded: true, reasons: [...health.reasons, chainReason] };
}

/** What a violation's evidence carries of the gateway's health (the threads left out: bounded). */
export function healthEvidence(health: GatewayHealth) {
  return {
    overloaded: health.overloaded,
    reasons: health.reasons,
    eventLoopDelayP99Ms: health.eventLoopDelayP99Ms,
    eventLoopUtilization: health.eventLoopUtilization,
    poolQueued: health.poolQueued,
    poolWaitMaxMs: health.poolWaitMaxMs,
  };
}
