/**
 * Every chain's state (chain-state.ts) with the config's limits per chain: what the
 * composition root feeds with probe rounds and heads from answers, and reads for the
 * routing table (each admitted operator's head and whether it is at the tip, the chain's
 * served heights), the admin view and the metrics.
 */
import type { Config } from '../config.js';
import type { ChainHeights } from '../router/routing-table.js';
import { type AdmissionResult, ChainState, type OperatorChainView } from './chain-state.js';

/** One operator's probe, as the prober's round left it. */
export interface ProbeOutcome {
  readonly operatorId: string;
  readonly chain: string;
  readonly reached: boolean;
  /** The chain id it answered (null: no valid answer). */
  readonly chainId: string | null;
  /** undefined: not asked this round. */
  readonly head?: number | null;
  readonly safe?: number | null;
  readonly finalized?: number | null;
}

export interface ChainSummary {
  readonly chain: string;
  readonly tip: number | null;
  readonly safe: number | null;
  readonly finalized: number | null;
  readonly blockTimeMs: number | null;
}

export class Chains {
  private readonly states = new Map<string, ChainState>();
  /** Which chain each operator is on (an operator serves one chain). */
  private readonly chainOf = new Map<string, string>();
  /** Admission decisions since start, per chain and result. */
  private readonly admissions = new Map<string, Map<AdmissionResult, number>>();

  constructor(
    private readonly config: Config,
    private readonly now: () => number,
  ) {}

  /** The lag limit in blocks for `chain` (its own, else the routing default). */
  maxBlockLag(chain: string): number {
    return this.config.chains[chain]?.maxBlockLag ?? this.config.routing.maxBlockLag;
  }

  private stateOf(chain: string): ChainState {
    let state = this.states.get(chain);
    if (state === undefined) {
      state = new ChainState(chain, {
        maxBlockLag: this.maxBlockLag(chain),
        maxLagSeconds: this.config.chains[chain]?.maxLagSeconds ?? this.config.routing.maxLagSeconds,
        tipHoldMs: this.config.routing.tipHoldSeconds * 1000,
        now: this.now,
      });
      this.states.set(chain, state);
    }
    return state;
  }

  add(operatorId: string, chain: string): void {
    if (this.chainOf.get(operatorId) === chain) return;
    this.chainOf.set(operatorId, chain);
    this.stateOf(chain).addOperator(operatorId);
  }

  /**
   * A probe round: each operator's outcome, judged against its chain's expected id (absent:
   * unknown, so nobody's id is confirmed). Returns whether anything routing reads changed.
   */
  recordProbeRound(outcomes: Iterable<ProbeOutcome>, expectedChainIds: ReadonlyMap<string, string>): boolean {
    for (const o of outcomes) {
      if (this.chainOf.get(o.operatorId) !== o.chain) continue;
      const expected = expectedChainIds.get(o.chain);
      this.stateOf(o.chain).recordProbe(o.operatorId, {
        reached: o.reached,
        chainIdMatches: expected === undefined || o.chainId === null ? null : o.chainId === expected,
        ...(o.head === undefined ? {} : { head: o.head }),
        ...(o.safe === undefined ? {} : { safe: o.safe }),
        ...(o.finalized === undefined ? {} : { finalized: o.finalized }),
      });
    }
    return this.update();
  }

  /** A head an answer showed; true when routing should be rebuilt. */
  recordAnswerHead(operatorId: string, head: number): boolean {
    const chain = this.chainOf.get(operatorId);
    if (chain === undefined) return false;
    const state = this.stateOf(chain);
    state.recordAnswerHead(operatorId, head);
    return this.collect(chain, state, state.update());
  }

  /** Whether an answer showed the operator's current head within the last probe interval (its head probe is then redundant). */
  answerHeadIsFresh(operatorId: string): boolean {
    const at = this.view(operatorId)?.answerHeadAt ?? null;
    return at !== null && this.now() - at < this.probeIntervalMs();
  }

  /** The operator was jailed: a probe after its release must admit it again. */
  revoke(operatorId: string): void {
    const chain = this.chainOf.get(operatorId);
    if (chain === undefined) return;
    const state = this.stateOf(chain);
    if (state.view(operatorId)?.admitted === false) return;
    state.revoke(operatorId, 'jailed');
    this.collect(chain, state, false);
  }

  /** Recomputes every chain; true when routing should be rebuilt. */
  update(): boolean {
    let changed = false;
    for (const [chain, state] of this.states) changed = this.collect(chain, state, state.update()) || changed;
    return changed;
  }

  private collect(chain: string, state: ChainState, changed: boolean): boolean {
    const counts = state.takeAdmissionCounts();
    if (counts.size > 0) {
      let total = this.admissions.get(chain);
      if (total === undefined) this.admissions.set(chain, (total = new Map()));
      for (const [result, n] of counts) total.set(result, (total.get(result) ?? 0) + n);
    }
    return changed;
  }

  view(operatorId: string): OperatorChainView | undefined {
    const chain = this.chainOf.get(operatorId);
    return chain === undefined ? undefined : this.states.get(chain)?.view(operatorId);
  }

  /** What the routing table carries for `chain`. */
  heightsOf(chain: string): ChainHeights {
    const state = this.states.get(chain);
    return { tip: state?.tip ?? -1, safe: state?.safe ?? -1, finalized: state?.finalized ?? -1, maxBlockLag: this.maxBlockLag(chain) };
  }

  /** The served tip of `chain`, or null. */
  tipOf(chain: string): number | null {
    return this.states.get(chain)?.tip ?? null;
  }

  /** Each chain's served tip, for those that have one. */
  tips(): Map<string, number> {
    const tips = new Map<string, number>();
    for (const [chain, state] of this.states) if (state.tip !== null) tips.set(chain, state.tip);
    return tips;
  }

  /**
   * How long until the next probe round: half the fastest chain's block time, within
   * [probes.minIntervalMs, probes.intervalMs]; the longest until a block time is known.
   */
  probeIntervalMs(): number {
    const { minIntervalMs, intervalMs } = this.config.probes;
    let fastest = Infinity;
    for (const state of this.states.values()) {
      const blockTime = state.blockTimeMs();
      if (blockTime !== null && blockTime < fastest) fastest = blockTime;
    }
    return fastest === Infinity ? intervalMs : Math.min(intervalMs, Math.max(Math.min(minIntervalMs, intervalMs), Math.round(fastest / 2)));
  }

  summaries(): ChainSummary[] {
    return Array.from(this.states, ([chain, s]) => ({ chain, tip: s.tip, safe: s.safe, finalized: s.finalized, blockTimeMs: s.blockTimeMs() }));
  }

  /** The operators of `chain` with their views. */
  *operatorViews(chain: string): IterableIterator<{ id: string; view: OperatorChainView }> {
    const state = this.states.get(chain);
    if (state === undefined) return;
    for (const [id, c] of this.chainOf) {
      if (c !== chain) continue;
      const view = state.view(id);
      if (view !== undefined) yield { id, view };
    }
  }

  admissionCounts(chain: string): ReadonlyMap<AdmissionResult, number> {
    return this.admissions.get(chain) ?? new Map();
  }

  get chainNames(): IterableIterator<string> {
    return this.states.keys();
  }
}
