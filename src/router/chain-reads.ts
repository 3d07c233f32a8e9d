/**
 * What one data-plane thread remembers of the answers it gave, so a dApp's reads stay
 * consistent across operators:
 * - per chain, the highest block number it returned for `eth_blockNumber` in the last
 *   `holdMs`, below which no later answer goes (monotonic reads);
 * - the transactions its operators accepted in the last `readAfterWriteMs`, and by whom, so
 *   reads of their receipts prefer that operator (read after write);
 * - how often chain-aware routing narrowed or changed a request, by chain and reason
 *   (din_chain_routing_total).
 * Everything here is bounded: a few numbers per chain, at most MAX_RECENT_WRITES hashes.
 */
import type { OperatorRef } from './routing-table.js';
import { ROUTING_REASONS } from './routing-table.js';

/** Accepted transactions remembered at once; the oldest go first. */
const MAX_RECENT_WRITES = 10_000;

interface BlockNumberFloor {
  highest: number;
  /** When `highest` was last returned (ms). */
  at: number;
}

interface RecentWrite {
  readonly operator: OperatorRef;
  readonly until: number;
}

export class ChainReads {
  private readonly floors = new Map<string, BlockNumberFloor>();
  private readonly writes = new Map<string, RecentWrite>();
  private readonly counts = new Map<string, Float64Array>();

  constructor(
    private readonly options: { readonly holdMs: number; readonly readAfterWriteMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The block number to answer `eth_blockNumber` with when an operator said `reported`: never
   * below the served tip nor below what this thread returned in the last `holdMs`, and never
   * more than `maxBlockLag` above the served tip (one operator claiming a far-future block
   * cannot make every later answer claim it too). `tip` -1: unknown (no floor, no ceiling).
   */
  blockNumber(chain: string, reported: number, tip: number, maxBlockLag: number): number {
    let floor = this.floors.get(chain);
    if (floor === undefined) this.floors.set(chain, (floor = { highest: -1, at: 0 }));
    const now = this.now();
    let lowest = tip;
    if (floor.highest > lowest && now - floor.at <= this.options.holdMs) lowest = floor.highest;
    let answer = reported < lowest ? lowest : reported;
    if (tip >= 0 && answer > tip + maxBlockLag) answer = Math.max(tip + maxBlockLag, lowest);
    if (answer >= floor.highest || now - floor.at > this.options.holdMs) {
      floor.highest = answer;
      floor.at = now;
    }
    return answer;
  }

  /** `operator` accepted the transaction `hash` (0x-prefixed hex, any case). */
  accepted(hash: string, operator: OperatorRef): void {
    if (this.options.readAfterWriteMs <= 0) return;
    const key = hash.toLowerCase();
    this.writes.delete(key);
    if (this.writes.size >= MAX_RECENT_WRITES) this.writes.delete(this.writes.keys().next().value!);
    this.writes.set(key, { operator, until: this.now() + this.options.readAfterWriteMs });
  }

  /** The operator that accepted `hash` in the last readAfterWriteMs, if any. */
  acceptedBy(hash: unknown): OperatorRef | undefined {
    if (this.writes.size === 0 || typeof hash !== 'string') return undefined;
    const key = hash.toLowerCase();
    const write = this.writes.get(key);
    if (write === undefined) return undefined;
    if (write.until < this.now()) {
      this.writes.delete(key);
      return undefined;
    }
    return write.operator;
  }

  count(chain: string, reason: number): void {
    let counts = this.counts.get(chain);
    if (counts === undefined) this.counts.set(chain, (counts = new Float64Array(ROUTING_REASONS.length)));
    counts[reason]!++;
  }

  /** The counts since the last call, by chain (a worker's export), and zeroes them. */
  takeCounts(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [chain, counts] of this.counts) {
      out[chain] = Array.from(counts);
      counts.fill(0);
    }
    return out;
  }

  /** The cumulative counts, by chain (the main thread's own data plane). */
  get routingCounts(): ReadonlyMap<string, Float64Array> {
    return this.counts;
  }
}
