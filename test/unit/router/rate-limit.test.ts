/**
 * The token buckets on their own, on an injected clock: local refill, debt for bodies dearer
 * than the burst, the leased mode's allowance and lease-ahead, fallback when the shared store
 * fails, the bound on buckets held, and method costs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiKeyPolicy, type Budget, type LeaseHandler, type LeaseSource, MethodCosts, RateLimiter, type RateLimiterOptions } from '../../../src/router/rate-limit.js';
import { SharedBuckets } from '../../../src/router/shared-buckets.js';

let clock = 0;
const now = () => clock;
const limiters: RateLimiter[] = [];

const OPTIONS: RateLimiterOptions = {
  perIp: { rate: 2, burst: 4 },
  costs: { default: 1, methods: { eth_getLogs: 5 }, prefixes: { debug_: 20, trace_: 20 } },
  maxBuckets: 1000,
  leaseTokens: 4,
  allowance: 2,
};

function limiter(options: Partial<RateLimiterOptions> = {}, leases?: LeaseSource, keys = new Map<string, ApiKeyPolicy>()): RateLimiter {
  const l = new RateLimiter({ ...OPTIONS, ...options }, keys, leases, now, 1_000_000);
  limiters.push(l);
  return l;
}

afterEach(() => {
  for (const l of limiters.splice(0)) l.close();
  clock = 0;
});

/** Leases the test answers by hand, in order. */
class ManualLeases implements LeaseSource {
  readonly asked: { name: string; budget: Budget; want: number; handler: LeaseHandler }[] = [];
  lease(name: string, budget: Budget, want: number, handler: LeaseHandler): void {
    this.asked.push({ name, budget, want, handler });
  }
  grant(granted: number, waitMs = 0): void {
    this.asked.shift()!.handler.onGrant(granted, waitMs);
  }
  fail(): void {
    this.asked.shift()!.handler.onLeaseFailed();
  }
}

describe('local buckets', () => {
  it('spend the burst, refuse with the seconds until the cost is back, refill at the rate', () => {
    const l = limiter();
    for (let i = 0; i < 4; i++) expect(l.charge('1.2.3.4', undefined, 1)).toBe(0);
    expect(l.charge('1.2.3.4', undefined, 1)).toBe(1);
    expect(l.charge('1.2.3.4', undefined, 3)).toBe(2); // 3 tokens at 2/s
    clock += 500; // one token back
    expect(l.charge('1.2.3.4', undefined, 1)).toBe(0);
    expect(l.charge('1.2.3.4', undefined, 1)).toBe(1);
    clock += 60_000; // capped at the burst
    for (let i = 0; i < 4; i++) expect(l.charge('1.2.3.4', undefined, 1)).toBe(0);
    expect(l.charge('1.2.3.4', undefined, 1)).toBe(1);
  });

  it('admit a body dearer than the burst on a full bucket and keep the debt', () => {
    const l = limiter();
    expect(l.charge('a', undefined, 10)).toBe(0); // 4 - 10 = -6
    // 1 token needs 7 more: 3.5 s at 2/s.
    expect(l.charge('a', undefined, 1)).toBe(4);
    clock += 3_500;
    expect(l.charge('a', undefined, 1)).toBe(0);
  });

  it('keep IPs and keys apart, even a key named like an IP', () => {
    const key: ApiKeyPolicy = { name: '1.2.3.4', rate: 1, burst: 1 };
    const l = limiter({}, undefined, new Map([['secret-key', key]]));
    expect(l.keyPolicy('secret-key')).toBe(key);
    expect(l.charge('1.2.3.4', key, 1)).toBe(0);
    expect(l.charge('1.2.3.4', key, 1)).toBe(1);
    expect(l.charge('1.2.3.4', undefined, 4)).toBe(0);
  });

  it('do not limit IPs when per-IP limiting is off', () => {
    const l = limiter({ perIp: null });
    for (let i = 0; i < 100; i++) expect(l.charge('a', undefined, 1)).toBe(0);
    expect(l.size).toBe(0);
  });

  it('hold at most maxBuckets: a new client beyond is refused until full buckets are swept', () => {
    const l = limiter({ maxBuckets: 2 });
    expect(l.charge('a', undefined, 1)).toBe(0);
    expect(l.charge('b', undefined, 1)).toBe(0);
    expect(l.charge('c', undefined, 1)).toBe(1);
    expect(l.size).toBe(2);
    clock += 500; // a and b are full again: nothing to keep
    expect(l.charge('c', undefined, 1)).toBe(0);
    expect(l.size).toBe(1);
  });
});

describe('leased buckets', () => {
  it('admit within the allowance while the first lease is in flight, then spend what was granted', () => {
    const leases = new ManualLeases();
    const l = limiter({}, leases);
    expect(l.charge('a', undefined, 1)).toBe(0);
    expect(leases.asked).toHaveLength(1);
    expect(leases.asked[0]).toMatchObject({ name: 'ip:a', budget: { rate: 2, burst: 4 }, want: 4 });
    expect(l.charge('a', undefined, 1)).toBe(0); // debt 2: the allowance
    expect(l.charge('a', undefined, 1)).toBeGreaterThan(0);
    expect(leases.asked).toHaveLength(1); // one lease in flight at a time
    leases.grant(4); // 4 - 2 = 2
    expect(l.charge('a', undefined, 1)).toBe(0); // 1 left
    expect(leases.asked).toHaveLength(0);
    expect(l.charge('a', undefined, 1)).toBe(0); // below half a lease: the next one is asked ahead
    expect(leases.asked).toHaveLength(1);
    expect(l.charge('a', undefined, 1)).toBe(0); // debt 1, the lease still in flight
    expect(l.charge('a', undefined, 2)).toBeGreaterThan(0); // debt 3 would pass the allowance
    leases.grant(4); // 4 - 1 = 3
    expect(l.charge('a', undefined, 3)).toBe(0);
  });

  it('wait as long as the shared bucket says when it grants nothing, without asking again before', () => {
    const leases = new ManualLeases();
    const l = limiter({}, leases);
    expect(l.charge('a', undefined, 1)).toBe(0); // debt 1 while the first lease is in flight
    leases.grant(0, 5_000);
    expect(l.charge('a', undefined, 1)).toBe(5);
    clock += 4_000;
    expect(l.charge('a', undefined, 1)).toBe(1);
    expect(leases.asked).toHaveLength(0);
    clock += 1_000;
    expect(l.charge('a', undefined, 1)).toBe(0); // a new lease in flight, and debt 2: the allowance
    expect(leases.asked).toHaveLength(1);
  });

  it('fall back to the local rate when the shared store fails', () => {
    const leases = new ManualLeases();
    const l = limiter({}, leases);
    expect(l.charge('a', undefined, 1)).toBe(0);
    leases.fail(); // 4 tokens locally, the next lease not before 2 s (4 tokens at 2/s)
    for (let i = 0; i < 3; i++) expect(l.charge('a', undefined, 1)).toBe(0);
    expect(l.charge('a', undefined, 1)).toBe(2);
    expect(leases.asked).toHaveLength(0);
    clock += 2_000;
    expect(l.charge('a', undefined, 1)).toBe(0);
    expect(leases.asked).toHaveLength(1);
  });
});

describe('shared buckets in memory', () => {
  it('grant what the bucket holds up to the tokens asked, refill by elapsed time, and say when the next token comes', () => {
    const shared = new SharedBuckets(now, 1_000_000);
    try {
      const budget = { rate: 2, burst: 10 };
      expect(shared.take('x', budget, 4)).toEqual({ granted: 4, waitMs: 0 });
      expect(shared.take('x', budget, 8)).toEqual({ granted: 6, waitMs: 500 });
      clock += 1_000;
      expect(shared.take('x', budget, 8)).toEqual({ granted: 2, waitMs: 500 });
      expect(shared.take('y', budget, 3)).toEqual({ granted: 3, waitMs: 0 });
    } finally {
      shared.close();
    }
  });
});

describe('method costs', () => {
  it('price exact names, then prefixes, then the default; a batch the sum of its calls', () => {
    const costs = new MethodCosts(OPTIONS.costs);
    expect(costs.of('eth_getLogs')).toBe(5);
    expect(costs.of('debug_traceTransaction')).toBe(20);
    expect(costs.of('trace_block')).toBe(20);
    expect(costs.of('eth_chainId')).toBe(1);
    const call = (method: string) => ({ call: { method } }) as never;
    expect(costs.ofBatch([call('eth_getLogs'), call('eth_chainId'), { error: '{}' }, call('trace_call')])).toBe(26);
  });
});
