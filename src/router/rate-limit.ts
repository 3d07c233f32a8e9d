/**
 * Rate limiting on the request path: token buckets per client IP and per API key, charged
 * each body's cost (the sum of its calls' method costs). Admission is synchronous and awaits
 * nothing. Two modes:
 *
 * - local: each bucket refills itself at its rate (one process, one budget per client);
 * - leased: a bucket holds only tokens leased from a shared bucket (Redis for a fleet, the
 *   main thread for data-plane workers) through a LeaseSource, asked asynchronously, in
 *   batches of `leaseTokens`, ahead of need. While a lease is in flight a bucket may go
 *   into debt up to `allowance` tokens, repaid from the next grants.
 *
 * The leased trade-off: the hot path never waits for the shared store, at the price of a
 * bounded error. Over-admission is at most `allowance` per bucket per instance (debt is
 * repaid, so the long-run rate is the shared one); a new client's first burst is capped at
 * `allowance` until its first lease returns; under-admission is at most the unspent leased
 * tokens an instance holds (a lease) when a client's traffic moves to another instance. A
 * shared store that fails falls back to the budget's rate per instance (fleet-wide, the rate
 * times the instance count) until it answers again.
 */
import { performance } from 'node:perf_hooks';
import type { BatchEntry } from './jsonrpc.js';

/** A budget: `rate` cost units per second, up to `burst` saved. */
export interface Budget {
  readonly rate: number;
  readonly burst: number;
}

export interface ApiKeyPolicy extends Budget {
  /** Who the key belongs to, safe to show (logs, bucket names): never the key itself. */
  readonly name: string;
}

export interface MethodCostOptions {
  /** A call whose method no other rule names. */
  readonly default: number;
  /** Exact method names. */
  readonly methods: Readonly<Record<string, number>>;
  /** Method name prefixes (e.g. `debug_`), tried in order after the exact names. */
  readonly prefixes: Readonly<Record<string, number>>;
}

export interface RateLimiterOptions {
  /** Per client IP (requests without an API key); null: IPs are not limited. */
  readonly perIp: Budget | null;
  readonly costs: MethodCostOptions;
  /** Buckets kept at most; a new client beyond it is refused until idle buckets are swept. */
  readonly maxBuckets: number;
  /** Leased mode only: tokens asked per lease, and the debt a bucket may run while one is in flight. */
  readonly leaseTokens: number;
  readonly allowance: number;
}

/**
 * Where leased buckets get their tokens: a shared bucket named `name` with the given budget
 * grants up to `want` tokens. Calls `handler` exactly once, never synchronously.
 */
export interface LeaseSource {
  lease(name: string, budget: Budget, want: number, handler: LeaseHandler): void;
}

export interface LeaseHandler {
  /** `granted` tokens (0..want); `waitMs`: how long until the shared bucket has a token again (0 if it has). */
  onGrant(granted: number, waitMs: number): void;
  /** The shared store did not answer: the bucket falls back to its local rate for a while. */
  onLeaseFailed(): void;
}

/** What each call of a body costs. */
export class MethodCosts {
  private readonly exact: Map<string, number>;
  private readonly prefixes: ReadonlyArray<readonly [string, number]>;
  private readonly fallback: number;

  constructor(options: MethodCostOptions) {
    this.exact = new Map(Object.entries(options.methods));
    this.prefixes = Object.entries(options.prefixes);
    this.fallback = options.default;
  }

  of(method: string): number {
    const cost = this.exact.get(method);
    if (cost !== undefined) return cost;
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) if (method.startsWith(prefixes[i]![0])) return prefixes[i]![1];
    return this.fallback;
  }

  /** A batch costs the sum of its calls; invalid elements (answered by the gateway) cost nothing. */
  ofBatch(entries: readonly BatchEntry[]): number {
    let sum = 0;
    for (let i = 0; i < entries.length; i++) {
      const call = entries[i]!.call;
      if (call !== undefined) sum += this.of(call.method);
    }
    return sum;
  }
}

/** One client's bucket. Tokens may go below zero: debt (a batch dearer than `burst`, or leased-mode allowance). */
class Bucket implements LeaseHandler {
  tokens: number;
  /** Local mode: when `tokens` was last refilled. Both modes: last charge, for sweeping idle buckets. */
  updated: number;
  /** Leased mode: a lease is in flight. */
  leasing = false;
  /** Leased mode: no lease is asked before this time (the shared bucket said it is empty, or the store failed). */
  notBefore = 0;

  constructor(
    private readonly limiter: RateLimiter,
    /** The shared bucket's name (leased mode): `ip:<address>` or `key:<key name>`. */
    readonly name: string,
    readonly budget: Budget,
    tokens: number,
    now: number,
  ) {
    this.tokens = tokens;
    this.updated = now;
  }

  onGrant(granted: number, waitMs: number): void {
    this.leasing = false;
    this.tokens += granted;
    if (waitMs > 0) this.notBefore = this.limiter.now() + waitMs;
  }

  onLeaseFailed(): void {
    // Locally at the bucket's own rate: `leaseTokens` now, the next lease not before they would have refilled.
    this.leasing = false;
    const lease = this.limiter.options.leaseTokens;
    this.tokens += lease;
    this.notBefore = this.limiter.now() + (lease / this.budget.rate) * 1000;
  }
}

export class RateLimiter {
  /** By client IP and by key name: two maps, so no IP can be mistaken for a key's name. */
  private readonly ipBuckets = new Map<string | number, Bucket>();
  private readonly keyBuckets = new Map<string, Bucket>();
  private readonly keys: ReadonlyMap<string, ApiKeyPolicy>;
  readonly costs: MethodCosts;
  private readonly sweeper: NodeJS.Timeout;

  /**
   * `keys`: API key → policy. `leases`: undefined for local mode. `now`: a clock in ms (tests
   * inject one). Idle buckets are swept every `sweepMs`.
   */
  constructor(
    readonly options: RateLimiterOptions,
    keys: ReadonlyMap<string, ApiKeyPolicy>,
    private readonly leases: LeaseSource | undefined,
    readonly now: () => number = () => performance.now(),
    sweepMs = 10_000,
  ) {
    this.keys = keys;
    this.costs = new MethodCosts(options.costs);
    this.sweeper = setInterval(() => this.sweep(), sweepMs).unref();
  }

  /** Whether any API key is configured. */
  get hasKeys(): boolean {
    return this.keys.size > 0;
  }

  /** The policy of a configured key, or undefined for an unknown one. */
  keyPolicy(key: string): ApiKeyPolicy | undefined {
    return this.keys.get(key);
  }

  /**
   * Charges `cost` to the key's budget when a key is given, else to the IP's (an IPv4 address
   * as a 32-bit number, anything else as text). Returns 0 when
   * admitted, else the whole seconds after which the same body would be (Retry-After).
   */
  charge(ip: string | number, key: ApiKeyPolicy | undefined, cost: number): number {
    let buckets: Map<string | number, Bucket>;
    let id: string | number;
    let budget: Budget;
    if (key !== undefined) {
      buckets = this.keyBuckets;
      id = key.name;
      budget = key;
    } else {
      const perIp = this.options.perIp;
      if (perIp === null) return 0;
      buckets = this.ipBuckets;
      id = ip;
      budget = perIp;
    }
    const now = this.now();
    let bucket = buckets.get(id);
    if (bucket === undefined) {
      if (this.size >= this.options.maxBuckets) {
        this.sweep();
        if (this.size >= this.options.maxBuckets) return 1;
      }
      // A new client starts with a full bucket locally; leased, with nothing until its first lease.
      const shared = key !== undefined ? `key:${id}` : `ip:${typeof id === 'number' ? ipv4Text(id) : id}`;
      bucket = new Bucket(this, shared, budget, this.leases === undefined ? budget.burst : 0, now);
      buckets.set(id, bucket);
    }
    return this.leases === undefined ? this.chargeLocal(bucket, budget, cost, now) : this.chargeLeased(bucket, budget, cost, now);
  }

  /** Buckets held (for tests and the sweep). */
  get size(): number {
    return this.ipBuckets.size + this.keyBuckets.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private chargeLocal(bucket: Bucket, budget: Budget, cost: number, now: number): number {
    let tokens = bucket.tokens + ((now - bucket.updated) * budget.rate) / 1000;
    if (tokens > budget.burst) tokens = budget.burst;
    bucket.updated = now;
    // A body dearer than the burst passes on a full bucket and leaves a debt behind.
    const needed = cost < budget.burst ? cost : budget.burst;
    if (tokens >= needed) {
      bucket.tokens = tokens - cost;
      return 0;
    }
    bucket.tokens = tokens;
    return Math.max(1, Math.ceil((needed - tokens) / budget.rate));
  }

  private chargeLeased(bucket: Bucket, budget: Budget, cost: number, now: number): number {
    bucket.updated = now;
    const { leaseTokens, allowance } = this.options;
    const needed = cost < budget.burst ? cost : budget.burst;
    // Lease ahead: once the bucket is down to half a lease, or cannot pay this body.
    if (!bucket.leasing && now >= bucket.notBefore && (bucket.tokens < leaseTokens / 2 || bucket.tokens < needed)) {
      const shortfall = needed - bucket.tokens;
      const want = Math.min(budget.burst, Math.max(leaseTokens, Math.ceil(shortfall + leaseTokens / 2)));
      bucket.leasing = true;
      this.leases!.lease(bucket.name, budget, want, bucket);
    }
    if (bucket.tokens >= needed || (bucket.leasing && bucket.tokens - cost >= -allowance)) {
      bucket.tokens -= cost;
      return 0;
    }
    const untilLease = bucket.notBefore > now ? (bucket.notBefore - now) / 1000 : 0;
    return Math.max(1, Math.ceil(Math.max(untilLease, (needed - bucket.tokens) / budget.rate)));
  }

  /** Drops buckets that no longer hold anything worth keeping: full again (local), or idle with no lease in flight (leased). */
  private sweep(): void {
    const now = this.now();
    const leased = this.leases !== undefined;
    for (const buckets of [this.ipBuckets, this.keyBuckets]) {
      for (const [id, bucket] of buckets) {
        const { rate, burst } = bucket.budget;
        const idleMs = now - bucket.updated;
        if (leased ? !bucket.leasing && idleMs >= (burst / rate) * 1000 : bucket.tokens + (idleMs * rate) / 1000 >= burst) buckets.delete(id);
      }
    }
  }
}

function ipv4Text(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
