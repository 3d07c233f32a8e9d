/**
 * The control loop: at every closed measurement window, each operator's window goes
 * through the core (score, violations, slashing, persisted), then routing is rebuilt.
 * It runs off the request path. When the store is away it skips the window and keeps
 * the last weights; the next window after the store returns reloads and carries on.
 */
import type { Logger } from 'pino';
import { degradedChains, type GatewayHealth, type GatewayJudgment, healthForChain } from '../metrics/gateway-health.js';
import type { WindowMetrics } from '../metrics/window-metrics.js';
import type { CrossCheckEvidence } from '../router/cross-check.js';
import { CoreError, type DINInfrastructureCore } from './core.js';
import { DEFAULT_DETECTION } from './violations.js';

/** The targets the "every operator of a chain degraded at once" rule compares with (the detection's). */
export interface ChainDegradationTarget {
  readonly p95LatencyTargetMs: number;
  readonly minRequests: number;
}

/** The chain id an operator last reported for its chain (null before any probe answered). */
export interface ChainReport {
  readonly operatorId: string;
  readonly chain: string;
  readonly chainId: string | null;
}

export class ControlLoop {
  private readonly badData = new Map<string, CrossCheckEvidence[]>();
  private readonly wrongChain = new Set<string>();
  private running: Promise<void> | undefined;
  private storeDown = false;
  windowsSkipped = 0;
  private judgment: GatewayJudgment = { overloaded: false, reasons: [], overloadedWindows: 0, lastOverloadedWindowEnd: null, health: null };

  constructor(
    private readonly core: DINInfrastructureCore,
    private readonly configuredChainIds: Readonly<Record<string, string>>,
    private readonly logger: Logger,
    private readonly degradationTarget: ChainDegradationTarget = DEFAULT_DETECTION,
  ) {}

  /** The gateway's judgment of itself in the last window. */
  get gatewayJudgment(): GatewayJudgment {
    return this.judgment;
  }

  /** Evidence from the cross-check, kept until the operator's next window. Bounded per operator. */
  reportBadData(operatorId: string, evidence: CrossCheckEvidence): void {
    let list = this.badData.get(operatorId);
    if (list === undefined) this.badData.set(operatorId, (list = []));
    if (list.length < 20) list.push(evidence);
  }

  /** Operators whose reported chain id is not their chain's: never routed to. */
  isOnWrongChain(operatorId: string): boolean {
    return this.wrongChain.has(operatorId);
  }

  /**
   * Handles one closed window; a window that arrives while the last is still processed is
   * skipped. `health`: the gateway's own in the window, judged first (even for a skipped window).
   */
  onWindow(windows: readonly WindowMetrics[], health?: GatewayHealth): Promise<void> {
    const byChain = this.judgeGateway(windows, health);
    if (this.running !== undefined) {
      this.windowsSkipped++;
      this.logger.warn({ skipped: this.windowsSkipped }, 'control loop still busy with the previous window: skipping one');
      return this.running;
    }
    this.running = this.process(windows, byChain).finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * The gateway judges itself before any operator: its threads' saturation, and chains whose
   * every operator degraded at once. Returns the health each chain's operators are judged with.
   */
  private judgeGateway(windows: readonly WindowMetrics[], health: GatewayHealth | undefined): (chain: string) => GatewayHealth | undefined {
    if (health === undefined) return () => undefined;
    const degraded = degradedChains(windows, this.degradationTarget);
    const reasons = [...health.reasons, ...degraded.values()];
    const overloaded = reasons.length > 0;
    const windowEnd = windows[0]?.windowEnd ?? null;
    this.judgment = {
      overloaded,
      reasons,
      overloadedWindows: this.judgment.overloadedWindows + (overloaded ? 1 : 0),
      lastOverloadedWindowEnd: overloaded ? windowEnd : this.judgment.lastOverloadedWindowEnd,
      health,
    };
    if (overloaded) {
      this.logger.warn(
        { reasons, eventLoopDelayP99Ms: health.eventLoopDelayP99Ms, eventLoopUtilization: health.eventLoopUtilization, poolQueued: health.poolQueued, poolWaitMaxMs: health.poolWaitMaxMs },
        'the gateway was overloaded in this window: no operator is judged on its performance for it',
      );
    }
    return (chain) => healthForChain(health, degraded.get(chain));
  }

  /** Waits for the window in progress, if any. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async process(windows: readonly WindowMetrics[], healthOf: (chain: string) => GatewayHealth | undefined): Promise<void> {
    try {
      // Other gateways may have registered operators or changed stakes: start from the store's truth.
      await this.core.refresh();
      if (this.storeDown) {
        this.storeDown = false;
        this.logger.info('state store is back: control loop resumed');
      }
      const expected = this.updateChainIdentity(windows).expected;
      for (const w of windows) {
        if (this.core.state(w.operatorId) === undefined) continue;
        const want = expected.get(w.chain);
        const wrong = want !== undefined && w.chainId !== null && w.chainId !== want ? { expected: want, reported: w.chainId } : null;
        const badData = this.badData.get(w.operatorId) ?? [];
        this.badData.delete(w.operatorId);
        const gatewayHealth = healthOf(w.chain);
        await this.core.recordMetrics(w.operatorId, w, { badData, wrongChain: wrong, ...(gatewayHealth === undefined ? {} : { gatewayHealth }) });
      }
    } catch (err) {
      if (err instanceof CoreError && err.code === 'STORE_UNAVAILABLE') {
        if (!this.storeDown) this.logger.error('state store unavailable: scoring paused, routing keeps the last weights');
        this.storeDown = true;
        return;
      }
      this.logger.error({ err }, 'control loop failed on a window');
    }
  }

  /**
   * Marks operators whose last reported chain id is not their chain's, so routing drops
   * them at once (the gateway calls this after every probe round, not only per window).
   * Returns the expected ids and whether the set of wrong-chain operators changed.
   */
  updateChainIdentity(reports: Iterable<ChainReport>): { expected: Map<string, string>; changed: boolean } {
    const list = [...reports];
    const expected = this.expectedChainIds(list);
    let changed = false;
    for (const r of list) {
      if (r.chainId === null) continue;
      const want = expected.get(r.chain);
      const wrong = want !== undefined && r.chainId !== want;
      if (wrong !== this.wrongChain.has(r.operatorId)) {
        changed = true;
        if (wrong) this.wrongChain.add(r.operatorId);
        else this.wrongChain.delete(r.operatorId);
      }
    }
    return { expected, changed };
  }

  /** Configured chain ids win; otherwise the id most operators of the chain report. */
  private expectedChainIds(reports: readonly ChainReport[]): Map<string, string> {
    const votes = new Map<string, Map<string, number>>();
    for (const w of reports) {
      if (w.chainId === null) continue;
      let chain = votes.get(w.chain);
      if (chain === undefined) votes.set(w.chain, (chain = new Map()));
      chain.set(w.chainId, (chain.get(w.chainId) ?? 0) + 1);
    }
    const expected = new Map<string, string>();
    for (const [chain, counts] of votes) {
      const ranked = [...counts].sort((a, b) => b[1] - a[1]);
      // A tie has no majority: nobody is flagged on a split vote.
      if (ranked.length === 1 || ranked[0]![1] > ranked[1]![1]) expected.set(chain, ranked[0]![0]);
    }
    for (const [chain, id] of Object.entries(this.configuredChainIds)) expected.set(chain, id);
    return expected;
  }
}
