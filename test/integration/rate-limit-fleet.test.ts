/**
 * Two gateways on one Redis share one rate-limit budget per client: their buckets lease
 * tokens from the same Lua-scripted bucket in Redis, so the fleet admits one burst, not one
 * per gateway. Real sockets, the real Redis (its own key prefix).
 *
 * Needs Redis at 127.0.0.1:6379: skipped with a warning when absent, failed under CI=true.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { RedisLeaseSource } from '../../src/ratelimit/redis-lease-source.js';
import type { Budget } from '../../src/router/rate-limit.js';
import { SimulatedOperator } from '../../src/sim/index.js';
import { INSTANT, post, rpc } from '../support/stack.js';
import { deleteKeys, REDIS_REQUIRED, REDIS_URL, redisReachable, warnRedisMissing } from '../support/redis.js';

const PREFIX = `din-test-ratelimit:${randomUUID()}:`;
const BURST = 10;
const ALLOWANCE = 1;

const available = await redisReachable();
if (!available && !REDIS_REQUIRED) warnRedisMissing('rate-limit fleet');

describe.skipIf(!available && !REDIS_REQUIRED)('a fleet on one Redis', () => {
  let sim: SimulatedOperator;
  const gateways: Gateway[] = [];

  beforeAll(async () => {
    sim = new SimulatedOperator({ name: 'op0', profile: INSTANT });
    await sim.start();
    const config = parseConfig({
      logLevel: 'silent',
      redisUrl: REDIS_URL,
      rpc: { port: 0 },
      admin: { port: 0 },
      staking: { redisKeyPrefix: PREFIX, crossCheck: { sampleRate: 0 } },
      operators: [{ id: 'op0', url: sim.url }],
      // Next to no refill while the test runs: the burst is the budget.
      rateLimit: { perIp: { rate: 0.001, burst: BURST }, leaseTokens: 2, allowance: ALLOWANCE },
    });
    gateways.push(await Gateway.start(config, { autoMeasure: false }));
    gateways.push(await Gateway.start(config, { autoMeasure: false }));
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await sim?.stop();
    await deleteKeys(`${PREFIX}*`);
  });

  it('admits one burst per client across both gateways, not one each', async () => {
    let admitted = 0;
    let retryAfter = '';
    for (let i = 0; i < 40; i++) {
      const res = await post(gateways[i % 2]!.rpcUrl, rpc('eth_chainId', i));
      if (res.status === 200) admitted++;
      else {
        expect(res.status).toBe(429);
        expect(res.json).toMatchObject({ id: i, error: { code: -32005 } });
        retryAfter = res.headers.get('retry-after') ?? '';
      }
    }
    // Each gateway may run into debt by its allowance while a lease is in flight; two budgets would admit 20.
    expect(admitted).toBeGreaterThanOrEqual(BURST);
    expect(admitted).toBeLessThanOrEqual(BURST + 2 * ALLOWANCE);
    // At 0.001 tokens a second, the next token is at least several hundred seconds away.
    expect(Number(retryAfter)).toBeGreaterThan(100);
    // The one shared bucket, named by the client's address.
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.keys(`${PREFIX}rl:*`)).toEqual([`${PREFIX}rl:ip:127.0.0.1`]);
    } finally {
      await redis.quit();
    }
  });
});

/** One lease, awaited (tests only: the limiter never awaits one). */
function leaseOnce(source: RedisLeaseSource, name: string, budget: Budget, want: number): Promise<{ granted: number; waitMs: number } | 'failed'> {
  return new Promise((resolve) => source.lease(name, budget, want, { onGrant: (granted, waitMs) => resolve({ granted, waitMs }), onLeaseFailed: () => resolve('failed') }));
}

describe.skipIf(!available && !REDIS_REQUIRED)('the Redis lease script', () => {
  const source = new RedisLeaseSource(REDIS_URL, { keyPrefix: `${PREFIX}script:` });
  afterAll(() => source.close());

  it('grants up to the tokens asked from a bucket that starts full, and says when the next token comes', async () => {
    const budget = { rate: 0.5, burst: 10 };
    // The first call may find the connection still coming up: wait for it to answer.
    let first = await leaseOnce(source, 'a', budget, 4);
    for (let i = 0; first === 'failed' && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      first = await leaseOnce(source, 'a', budget, 4);
    }
    expect(first).toEqual({ granted: 4, waitMs: 0 });
    const second = await leaseOnce(source, 'a', budget, 8);
    expect(second).not.toBe('failed');
    const { granted, waitMs } = second as { granted: number; waitMs: number };
    // 6 left, plus what refilled in between (0.5 a second: well under one token here).
    expect(granted).toBe(6);
    expect(waitMs).toBeGreaterThan(1_000);
    expect(waitMs).toBeLessThanOrEqual(2_000);
    expect(await leaseOnce(source, 'b', budget, 3)).toEqual({ granted: 3, waitMs: 0 });
  });

  it('fails a lease, not the caller, when Redis cannot be reached', async () => {
    const nowhere = new RedisLeaseSource('redis://127.0.0.1:1', { keyPrefix: PREFIX, commandTimeoutMs: 200 });
    try {
      expect(await leaseOnce(nowhere, 'a', { rate: 1, burst: 1 }, 1)).toBe('failed');
    } finally {
      await nowhere.close();
    }
  });
});
