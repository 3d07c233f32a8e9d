/**
 * The routing snapshot the hot path reads: per chain, the eligible operators and their
 * cumulative weights. A table is immutable; the control loop builds a new one and swaps
 * it in with one assignment (`RoutingState.publish`), so a pick never sees a half-update.
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

export type RandomSource = () => number;

export class ChainRoute {
  readonly operators: readonly OperatorRef[];
  readonly totalWeight: number;
  private readonly cumulative: Float64Array;

  constructor(
    readonly chain: string,
    entries: readonly WeightedOperator[],
    /** Share of picks made uniformly over all eligible operators, whatever their weight. */
    readonly explorationShare: number,
  ) {
    this.operators = Object.freeze(entries.map((e) => e.operator));
    this.cumulative = new Float64Array(entries.length);
    let sum = 0;
    for (let i = 0; i < entries.length; i++) {
      const w = entries[i]!.weight;
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weight of ${entries[i]!.operator.id} must be finite and >= 0, got ${w}`);
      sum += w;
      this.cumulative[i] = sum;
    }
    this.totalWeight = sum;
  }

  /** One weighted draw: O(log n), no allocation. */
  draw(random: RandomSource): OperatorRef | undefined {
    const n = this.operators.length;
    if (n === 0) return undefined;
    const total = this.totalWeight;
    if (total === 0 || random() < this.explorationShare) return this.operators[Math.floor(random() * n)];
    const target = random() * total;
    const cumulative = this.cumulative;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return this.operators[lo];
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
