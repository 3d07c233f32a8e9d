/**
 * The routing snapshot the hot path reads: per chain, the eligible operators and an alias
 * table of their selection probabilities. A table is immutable; the control loop builds a
 * new one and swaps it in with one assignment (`RoutingState.publish`), so a pick never
 * sees a half-update.
 */
import { NEED_ANY, NEED_FINALIZED, NEED_SAFE, NEED_TIP } from './block-need.js';
import type { Upstream } from './upstream.js';

/** An operator as the router knows it: an id, a dense index for array-backed stats, its pool. */
export interface OperatorRef {
  readonly id: string;
  readonly index: number;
  readonly chain: string;
  readonly upstream: Upstream;
}

export interface WeightedOperator {
  readonly operator: OperatorRef;
  /** Any finite number >= 0; only ratios matter. Zero means "exploration traffic only". */
  readonly weight: number;
  /** The highest block routing believes the operator has (chain-aware routing); absent or -1: unknown. */
  readonly head?: number;
  /** It may take head-sensitive requests (within the lag limits of the served tip); absent: true. */
  readonly atTip?: boolean;
  /**
   * It has proven itself (enough answers agreed with another operator's); absent: true. An
   * unproven operator's answers to deterministic requests reach a client only once a second
   * operator agrees (verified-call.ts).
   */
  readonly proven?: boolean;
}

/** What a chain-aware route knows of its chain (-1: unknown). */
export interface ChainHeights {
  /** The served tip: the highest block enough operators have reached. */
  readonly tip: number;
  readonly safe: number;
  readonly finalized: number;
  /** The chain's lag limit in blocks (what the data plane tolerates above the tip). */
  readonly maxBlockLag: number;
}

/**
 * Why a request went to fewer operators than the chain has (din_chain_routing_total), or
 * ROUTED_ANYWHERE. The data plane counts by these indexes.
 */
export const ROUTING_REASONS = [
  'tip_only', 'block_level', 'best_effort', 'unknown_block_retry', 'stale_latest_retry', 'block_number_held', 'read_after_write', 'already_known',
] as const;
export type RoutingReason = (typeof ROUTING_REASONS)[number];
export const ROUTING_REASON: Readonly<Record<RoutingReason, number>> = Object.freeze(
  Object.fromEntries(ROUTING_REASONS.map((r, i) => [r, i])) as Record<RoutingReason, number>,
);
export const ROUTED_ANYWHERE = -1;


/** Uniform on [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * Working memory of `buildAliasTable`, reused from one build to the next (a build is
 * synchronous, and each thread has its own module): grown to the largest chain, never shrunk.
 */
let scratch = { weights: new Float64Array(0), work: new Int32Array(0) };

/**
 * A set of operators and the alias table of their selection probabilities: what one request
 * draws from. `reason` says why the set is narrower than its chain's (ROUTED_ANYWHERE if not).
 */
export class OperatorSet {
  readonly operators: readonly OperatorRef[];
  /** The sum of the weights (informational: the table is built from weights scaled by the largest). */
  readonly totalWeight: number;
  /**
   * Vose's alias table, packed so that a draw reads one 16-byte entry: for column i,
   * `table[2i]` is the probability of keeping operator i and `table[2i + 1]` the index of
   * the operator taken otherwise (its alias). See `buildAliasTable`.
   */
  private readonly table: Float64Array;

  constructor(
    entries: readonly WeightedOperator[],
    /** Share of picks made uniformly over all eligible operators, whatever their weight. */
    readonly explorationShare: number,
    readonly reason: number = ROUTED_ANYWHERE,
  ) {
    this.operators = Object.freeze(entries.map((e) => e.operator));
    const n = entries.length;
    if (scratch.weights.length < n) scratch = { weights: new Float64Array(n), work: new Int32Array(n) };
    const weights = scratch.weights;
    let sum = 0;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const w = entries[i]!.weight;
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weight of ${entries[i]!.operator.id} must be finite and >= 0, got ${w}`);
      weights[i] = w;
      sum += w;
      if (w > max) max = w;
    }
    this.totalWeight = sum;
    // As before the alias table, a share at or below 0 (or NaN) never explores and one at or
    // above 1 always does.
    this.table = buildAliasTable(n, max, explorationShare > 0 ? Math.min(explorationShare, 1) : 0);
  }

  /**
   * One weighted draw, exploration included: O(1) whatever the number of operators, exactly
   * two `random()` calls (a column, then a coin), no allocation.
   */
  draw(random: RandomSource): OperatorRef | undefined {
    const n = this.operators.length;
    if (n === 0) return undefined;
    const column = Math.floor(random() * n);
    const table = this.table;
    return this.operators[random() < table[2 * column]! ? column : table[2 * column + 1]!];
  }

  /**
   * A draw that avoids operators already tried for this request. Retries are rare and
   * `tried` holds at most maxAttempts entries, so a few redraws then a scan are cheap.
   */
  pick(random: RandomSource, tried: readonly OperatorRef[] | undefined): OperatorRef | undefined {
    if (tried === undefined || tried.length === 0) return this.draw(random);
    for (let i = 0; i < 4; i++) {
      const op = this.draw(random);
      if (op === undefined) return undefined;
      if (!tried.includes(op)) return op;
    }
    const n = this.operators.length;
    const start = Math.floor(random() * n);
    for (let i = 0; i < n; i++) {
      const op = this.operators[(start + i) % n]!;
      if (!tried.includes(op)) return op;
    }
    return undefined;
  }

  /**
   * The probability with which `draw` returns each operator (in `operators` order), read
   * back from the alias table: O(n) and allocates, for tests and diagnostics only.
   */
  selectionShares(): Float64Array {
    const n = this.operators.length;
    const shares = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const keep = this.table[2 * i]!;
      shares[i]! += keep / n;
      shares[this.table[2 * i + 1]!]! += (1 - keep) / n;
    }
    return shares;
  }
}

/**
 * One chain's operators, and the narrower sets chain-aware routing draws from, all built at
 * publish time so a request only looks its set up:
 * - every eligible operator (the route itself: requests that need no particular block);
 * - those at the served tip (head-sensitive requests: `latest`, `pending`, receipts, ...);
 * - per distinct head h among them, those whose head is at least h (a request naming block
 *   n draws from the widest set whose every operator has reached n; a block beyond every
 *   head goes to the highest ones, whose answer is then the chain's own).
 * Without `heights` (chain-aware routing off) every request draws from the whole route.
 */
export class ChainRoute extends OperatorSet {
  /** Head-sensitive requests; the whole route when every operator is at the tip. */
  private readonly tipSet: OperatorSet;
  /** Ascending distinct heads, and for each the operators at or above it. */
  private readonly levelHeads: Float64Array;
  private readonly levelSets: readonly OperatorSet[];
  /** The highest level again, counted as best effort: nobody has the block asked for. */
  private readonly bestEffort: OperatorSet;
  /** Each operator's head as routing believes it, by dense index (-1: unknown). */
  private readonly heads: Float64Array;
  /** 1 for an operator still proving itself, by dense index. */
  private readonly unproven: Uint8Array;
  /** Whether any operator of the route is still proving itself (the hot path's one check). */
  readonly hasUnproven: boolean;
  /** The proven operators (verifiers), or the whole route when none is. */
  private readonly provenSet: OperatorSet;

  constructor(
    readonly chain: string,
    entries: readonly WeightedOperator[],
    explorationShare: number,
    readonly heights?: ChainHeights,
  ) {
    super(entries, explorationShare);
    let maxIndex = -1;
    for (const e of entries) if (e.operator.index > maxIndex) maxIndex = e.operator.index;
    this.heads = new Float64Array(maxIndex + 1).fill(-1);
    this.unproven = new Uint8Array(maxIndex + 1);
    for (const e of entries) {
      this.heads[e.operator.index] = e.head ?? -1;
      if (e.proven === false) this.unproven[e.operator.index] = 1;
    }
    const proven = entries.filter((e) => e.proven !== false);
    this.hasUnproven = proven.length < entries.length;
    this.provenSet = proven.length === entries.length || proven.length === 0 ? this : new OperatorSet(proven, explorationShare);
    if (heights === undefined) {
      this.tipSet = this;
      this.levelHeads = new Float64Array(0);
      this.levelSets = [];
      this.bestEffort = this;
      return;
    }
    const atTip = entries.filter((e) => e.atTip !== false);
    this.tipSet = atTip.length === entries.length ? this : new OperatorSet(atTip, explorationShare, ROUTING_REASON.tip_only);
    const heads = [...new Set(entries.map((e) => e.head ?? -1).filter((h) => h >= 0))].sort((a, b) => a - b);
    this.levelHeads = Float64Array.from(heads);
    this.levelSets = heads.map((h) => {
      const level = entries.filter((e) => (e.head ?? -1) >= h);
      return level.length === entries.length ? this : new OperatorSet(level, explorationShare, ROUTING_REASON.block_level);
    });
    const top = entries.filter((e) => (e.head ?? -1) >= (heads[heads.length - 1] ?? 0));
    this.bestEffort = new OperatorSet(top.length > 0 ? top : entries, explorationShare, ROUTING_REASON.best_effort);
  }

  isProven(operator: OperatorRef): boolean {
    return this.unproven[operator.index] !== 1;
  }

  /**
   * An operator to check `operator`'s answer against: a proven one when there is one, else any
   * other; undefined when the route has no other operator.
   */
  verifierFor(operator: OperatorRef, random: RandomSource, exclude: readonly OperatorRef[] = []): OperatorRef | undefined {
    const avoid = [operator, ...exclude];
    return this.provenSet.pick(random, avoid) ?? this.pick(random, avoid);
  }

  /** The highest block routing believes `operator` has; -1 when unknown (or not in this route). */
  headOf(operator: OperatorRef): number {
    return this.heads[operator.index] ?? -1;
  }

  /**
   * The set a request with `need` (NEED_* or a block number) draws from. O(log levels), no
   * allocation. An empty tip set (every operator lagging) falls back to the highest operators.
   */
  setFor(need: number): OperatorSet {
    if (need === NEED_ANY || this.heights === undefined) return this;
    if (need === NEED_TIP) return this.tipSet.operators.length > 0 ? this.tipSet : this.bestEffort;
    if (need === NEED_SAFE) need = this.heights.safe;
    else if (need === NEED_FINALIZED) need = this.heights.finalized;
    if (need < 0) return this;
    const heads = this.levelHeads;
    const n = heads.length;
    if (n === 0 || need <= heads[0]!) return this.levelSets[0] ?? this;
    if (need > heads[n - 1]!) return this.bestEffort;
    // The lowest level at or above `need`: the widest set that has the block.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (heads[mid]! >= need) hi = mid;
      else lo = mid + 1;
    }
    return this.levelSets[lo]!;
  }
}

/**
 * Vose's alias method, O(n), run once per table publish over the n weights in
 * `scratch.weights` (largest `max`), which it overwrites. The target distribution folds the
 * exploration in: p_i = share / n + (1 - share) * w_i / W (uniform when every weight is
 * zero). Each of the n columns is a coin between two operators, filled with n * p_i:
 * an operator below 1 ("small") is topped up by one at or above 1 ("large"), which becomes
 * its alias and gives up what it filled. A draw then picks a column uniformly and flips its
 * coin, so operator i comes out with probability (its own column's keep + the parts of the
 * columns it is alias of) / n = p_i, exactly up to rounding (under 1e-12 per share).
 *
 * Weights are divided by the largest before summing, so huge weights cannot overflow the
 * sum nor tiny ones underflow it. A zero weight without exploration keeps 0 in its column
 * and is never an alias (an alias is a large operator), so it is never drawn, even when
 * `random()` returns 0.
 */
function buildAliasTable(n: number, max: number, share: number): Float64Array {
  const table = new Float64Array(2 * n);
  if (n === 0) return table;
  const { weights: scaled, work } = scratch;
  // Scaled in place to n * p_i (mean 1) and sorted into two stacks in one array, each
  // index in exactly one: small from the front, large from the back.
  let k = 0;
  if (max > 0) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += scaled[i]! / max;
    k = ((1 - share) * n) / sum;
  }
  let smalls = 0;
  let larges = n;
  for (let i = 0; i < n; i++) {
    const q = max > 0 ? share + k * (scaled[i]! / max) : 1;
    scaled[i] = q;
    if (q < 1) work[smalls++] = i;
    else work[--larges] = i;
  }
  while (smalls > 0 && larges < n) {
    const s = work[--smalls]!;
    const l = work[larges++]!;
    table[2 * s] = scaled[s]!;
    table[2 * s + 1] = l;
    // (a + b) - 1 rather than a - (1 - b): the form that loses least to rounding.
    const rest = scaled[l]! + scaled[s]! - 1;
    scaled[l] = rest;
    if (rest < 1) work[smalls++] = l;
    else work[--larges] = l;
  }
  // What remains is full up to rounding (~n² · 2⁻⁵³, far from what would leave a zero
  // weight here): each keeps itself.
  while (larges < n) {
    const l = work[larges++]!;
    table[2 * l] = 1;
    table[2 * l + 1] = l;
  }
  while (smalls > 0) {
    const s = work[--smalls]!;
    table[2 * s] = 1;
    table[2 * s + 1] = s;
  }
  return table;
}

export class RoutingTable {
  private readonly chains: ReadonlyMap<string, ChainRoute>;

  constructor(routes: readonly ChainRoute[], readonly version: number) {
    this.chains = new Map(routes.map((r) => [r.chain, r]));
  }

  route(chain: string): ChainRoute | undefined {
    return this.chains.get(chain);
  }

  /** Ready means some chain has an operator that can take traffic. */
  get ready(): boolean {
    for (const route of this.chains.values()) if (route.operators.length > 0) return true;
    return false;
  }

  get routes(): IterableIterator<ChainRoute> {
    return this.chains.values();
  }
}

/** Holds the current table; `publish` is the one-assignment swap. */
export class RoutingState {
  private table: RoutingTable = new RoutingTable([], 0);

  get current(): RoutingTable {
    return this.table;
  }

  publish(routes: readonly ChainRoute[]): RoutingTable {
    this.table = new RoutingTable(routes, this.table.version + 1);
    return this.table;
  }
}
