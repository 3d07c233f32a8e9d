/**
 * The measurement layer: per-operator meters fed in-line by the router, tumbling windows
 * closed on a timer (or by hand, with an injected clock, in tests), merged views over the
 * last windows, and the listeners (scoring, dashboards) that consume each closed window.
 */
import { type AttemptOutcome, type AttemptRecorder, CLIENT_FAULTS, type ClientFault } from './attempt-recorder.js';
import { type GatewayHealth, gatewayHealthOf, type OverloadThresholds, type ThreadHealth, type ThreadHealthMeter } from './gateway-health.js';
import type { ProbeFailure, ProbeResult } from './health-prober.js';
import { reportInternalError } from './internal-errors.js';
import { type MeterExport, OperatorMeter } from './operator-meter.js';
import type { WindowMetrics } from './window-metrics.js';

export interface MeasurementOptions {
  readonly windowSeconds: number;
  /** Runs before each timed window close: data-plane workers hand in their part of the window. */
  readonly beforeClose?: () => Promise<void>;
  /** Closed windows kept per operator for merged views; 5 minutes' worth by default. */
  readonly historyWindows?: number;
  readonly now?: () => number;
  /** This thread's own health, taken at every close with the workers' parts: the gateway judges itself first. */
  readonly health?: { readonly meter: ThreadHealthMeter; readonly thresholds: OverloadThresholds };
}

/** `health`: the gateway's own in this window (undefined when the measurement has no health meter). */
export type WindowListener = (windows: readonly WindowMetrics[], closedAt: number, health: GatewayHealth | undefined) => void;

const CLIENT_FAULT_INDEX = new Map<ClientFault, number>(CLIENT_FAULTS.map((f, i) => [f, i]));

export class Measurement implements AttemptRecorder {
  private readonly meters: (OperatorMeter | undefined)[] = [];
  readonly clientFaults = new Float64Array(CLIENT_FAULTS.length);
  readonly windowMs: number;
  readonly historyWindows: number;
  private readonly now: () => number;
  private readonly beforeClose: (() => Promise<void>) | undefined;
  private windowStart: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: WindowListener[] = [];
  private readonly health: MeasurementOptions['health'];
  /** The workers' health for the window being closed (bounded: one part per worker and window). */
  private readonly workerHealth: ThreadHealth[] = [];
  /** The gateway's health in the last closed window. */
  lastHealth: GatewayHealth | undefined;
  /** How long the last window close took, in ms: scrape it to watch the control loop's cost. */
  lastCloseMs = 0;
  windowsClosed = 0;

  constructor(options: MeasurementOptions) {
    this.windowMs = options.windowSeconds * 1000;
    this.historyWindows = Math.max(1, options.historyWindows ?? Math.ceil(300 / options.windowSeconds));
    this.now = options.now ?? Date.now;
    this.beforeClose = options.beforeClose;
    this.health = options.health;
    this.windowStart = this.now();
  }

  addOperator(index: number, operatorId: string, chain: string): OperatorMeter {
    if (this.meters[index] !== undefined) throw new Error(`operator index ${index} is already metered`);
    const meter = new OperatorMeter(operatorId, chain, index, this.historyWindows);
    this.meters[index] = meter;
    return meter;
  }

  removeOperator(index: number): void {
    this.meters[index]?.destroy();
    this.meters[index] = undefined;
  }

  meter(index: number): OperatorMeter | undefined {
    return this.meters[index];
  }

  *allMeters(): IterableIterator<OperatorMeter> {
    for (const m of this.meters) if (m !== undefined) yield m;
  }

  recordAttempt(operatorIndex: number, methodIndex: number, outcome: AttemptOutcome, latencyMicros: number): void {
    this.meters[operatorIndex]?.record(methodIndex, outcome, latencyMicros);
  }

  recordClientFault(fault: ClientFault): void {
    this.clientFaults[CLIENT_FAULT_INDEX.get(fault)!]!++;
  }

  recordProbe(operatorIndex: number, result: ProbeResult, head: number | null, chainId: string | null, failure?: ProbeFailure): void {
    this.meters[operatorIndex]?.recordProbe(result, head, chainId, this.now(), failure);
  }

  /** Every meter's recordings since the last export, reset afterwards (data-plane workers). */
  exportWindows(): MeterExport[] {
    return Array.from(this.allMeters(), (m) => m.exportWindow());
  }

  /** Adds a worker's exports into the matching meters (unknown indexes are skipped). */
  absorbWindows(parts: readonly MeterExport[], clientFaults: Float64Array): void {
    for (const part of parts) this.meters[part.index]?.absorbWindow(part);
    for (let i = 0; i < this.clientFaults.length; i++) this.clientFaults[i]! += clientFaults[i] ?? 0;
  }

  /** A worker's health for the window about to close (see WorkerPool.collect). */
  absorbHealth(part: ThreadHealth): void {
    if (this.workerHealth.length < 256) this.workerHealth.push(part);
  }

  /** Client faults since the last call, reset afterwards (data-plane workers). */
  takeClientFaults(): Float64Array {
    const taken = this.clientFaults.slice();
    this.clientFaults.fill(0);
    return taken;
  }

  /** Cumulative attempts of one outcome for one operator since start. */
  count(operatorIndex: number, outcome: AttemptOutcome): number {
    return this.meters[operatorIndex]?.count(outcome) ?? 0;
  }

  onWindow(listener: WindowListener): void {
    this.listeners.push(listener);
  }

  /** Closes the current window for every operator and hands the snapshots to the listeners. */
  closeWindow(end: number = this.now()): WindowMetrics[] {
    const started = performance.now();
    const start = this.windowStart;
    this.windowStart = end;
    const heads = this.chainHeads();
    const windows: WindowMetrics[] = [];
    for (const m of this.meters) if (m !== undefined) windows.push(m.close(start, end, heads.get(m.chain) ?? null));
    this.windowsClosed++;
    const health = this.health === undefined ? undefined : gatewayHealthOf([this.health.meter.take(), ...this.workerHealth.splice(0)], this.health.thresholds);
    this.lastHealth = health;
    this.lastCloseMs = performance.now() - started;
    for (const listener of this.listeners) {
      try {
        listener(windows, end, health);
      } catch (err) {
        // One listener's failure costs neither the others nor the next windows.
        reportInternalError('window', err);
      }
    }
    return windows;
  }

  /**
   * Each chain's agreed head: the highest block at least two operators have reached (the
   * only one's, when a chain has one), so a single operator inventing a far-future block
   * cannot make every honest one look behind.
   */
  chainHeads(): Map<string, number> {
    // The two highest heads per chain in one pass (no per-chain arrays, no sort): this runs
    // at every window close over every operator.
    const top = new Map<string, { first: number; second: number }>();
    for (const m of this.meters) {
      if (m === undefined || m.head === null) continue;
      const t = top.get(m.chain);
      if (t === undefined) top.set(m.chain, { first: m.head, second: -Infinity });
      else if (m.head > t.first) {
        t.second = t.first;
        t.first = m.head;
      } else if (m.head > t.second) t.second = m.head;
    }
    const agreed = new Map<string, number>();
    for (const [chain, t] of top) agreed.set(chain, t.second === -Infinity ? t.first : t.second);
    return agreed;
  }

  /** The last `windows` closed windows of one operator merged: e.g. 6 for one minute at 10 s windows. */
  view(operatorIndex: number, windows: number): WindowMetrics | undefined {
    return this.meters[operatorIndex]?.merged(windows);
  }

  latest(operatorIndex: number): WindowMetrics | undefined {
    return this.meters[operatorIndex]?.latest;
  }

  /** The last closed window's latency histogram in HDR's compressed form, to share between gateways. */
  encodeLatest(operatorIndex: number): string | undefined {
    return this.meters[operatorIndex]?.encodeLatest();
  }

  /** Closes a window every `windowSeconds`, aligned to the clock. */
  start(): void {
    if (this.timer !== undefined) return;
    const tick = async () => {
      if (this.beforeClose !== undefined) await this.beforeClose().catch((err: unknown) => reportInternalError('window', err));
      if (this.timer === undefined) return; // stopped meanwhile
      try {
        this.closeWindow();
      } catch (err) {
        // Whatever failed, the timer is re-armed below: the next windows still close.
        reportInternalError('window', err);
      }
      this.timer = setTimeout(tick, this.windowMs - (this.now() % this.windowMs));
      this.timer.unref();
    };
    this.timer = setTimeout(tick, this.windowMs - (this.now() % this.windowMs));
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  destroy(): void {
    this.stop();
    this.health?.meter.stop();
    for (const m of this.meters) m?.destroy();
    this.meters.length = 0;
  }
}
