/**
 * Shared token buckets held in this process: the LeaseSource the main thread serves its
 * data-plane workers' leases from when there is no Redis. The arithmetic is the Lua
 * script's (src/ratelimit/redis-lease-source.ts): refill by elapsed time up to `burst`,
 * grant what is there up to `want`, say how long until the next token.
 */
import { performance } from 'node:perf_hooks';
import type { Budget, LeaseHandler, LeaseSource } from './rate-limit.js';

interface SharedBucket {
  tokens: number;
  updated: number;
  burst: number;
  rate: number;
}

export class SharedBuckets implements LeaseSource {
  private readonly buckets = new Map<string, SharedBucket>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly now: () => number = () => performance.now(),
    sweepMs = 10_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepMs).unref();
  }

  lease(name: string, budget: Budget, want: number, handler: LeaseHandler): void {
    const { granted, waitMs } = this.take(name, budget, want);
    queueMicrotask(() => handler.onGrant(granted, waitMs));
  }

  /** Grants up to `want` whole tokens from bucket `name` at once. */
  take(name: string, budget: Budget, want: number): { granted: number; waitMs: number } {
    const now = this.now();
    let bucket = this.buckets.get(name);
    if (bucket === undefined) this.buckets.set(name, (bucket = { tokens: budget.burst, updated: now, burst: budget.burst, rate: budget.rate }));
    bucket.tokens = Math.min(budget.burst, bucket.tokens + ((now - bucket.updated) * budget.rate) / 1000);
    bucket.updated = now;
    const granted = Math.max(0, Math.min(want, Math.floor(bucket.tokens)));
    bucket.tokens -= granted;
    const waitMs = bucket.tokens < 1 ? Math.ceil(((1 - bucket.tokens) / budget.rate) * 1000) : 0;
    return { granted, waitMs };
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** A bucket full again is the same as none. */
  private sweep(): void {
    const now = this.now();
    for (const [name, b] of this.buckets) if (b.tokens + ((now - b.updated) * b.rate) / 1000 >= b.burst) this.buckets.delete(name);
  }
}
