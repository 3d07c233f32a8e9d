/**
 * The routing snapshot the hot path reads: per chain, the eligible operators and an alias
 * table of their selection probabilities. A table is immutable; the control loop builds a
 * new one and swaps it in with one assignment (`RoutingState.publish`), so a pick never
 * sees a half-update.
 */
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
}

/** Uniform on [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * Working memory of `buildAliasTable`, reused from one build to the next (a build is
 * synchronous, and each thread has its own module): grown to the largest chain, never shrunk.
 */
let scratch = { weights: new Float64Array(0), work: new Int32Array(0) };

export class ChainRoute {
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
    readonly chain: string,
    entries: readonly WeightedOperator[],
    /** Share of picks made uniformly over all eligible operators, whatever their weight. */
    readonly explorationShare: number,
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
