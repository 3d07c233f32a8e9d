/**
 * The fleet's shared rate-limit buckets in Redis: one Lua script (hashed once and run by
 * EVALSHA through ioredis's defineCommand) refills a bucket by Redis's own clock, grants up
 * to the tokens asked and says how long until the next one. Instances call it off the
 * request path, in batches of tokens (RateLimiter's leased mode); nothing here is awaited
 * by a request. A lease that fails or times out falls back to the instance's local rate.
 */
import { Redis } from 'ioredis';
import type { Budget, LeaseHandler, LeaseSource } from '../router/rate-limit.js';

/**
 * KEYS[1] the bucket (a hash: n tokens, t ms); ARGV rate per second, burst, tokens wanted.
 * Tokens are fractional (doubles: these are counts, not wei). The key expires once it would
 * be full again, since a full bucket is the same as none.
 */
const LEASE_LUA = `
-- TIME before a write: Redis before 5 replicates this script by its effects only if asked (a no-op since).
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'n', 't')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate / 1000)
local granted = math.max(0, math.min(want, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'n', tostring(tokens), 't', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / rate * 1000) end
return {granted, wait}
`;

interface LeaseScript {
  dinRateLease(key: string, rate: string, burst: string, want: string): Promise<[number, number]>;
}

export interface RedisLeaseSourceOptions {
  /** Prepended to every bucket's key. */
  readonly keyPrefix: string;
  /** A lease not answered by then fails (and the bucket falls back to its local rate). */
  readonly commandTimeoutMs?: number;
}

export class RedisLeaseSource implements LeaseSource {
  private readonly redis: Redis;
  private readonly script: LeaseScript;

  /** Connects in the background and reconnects forever; leases fail fast while Redis is away. */
  constructor(url: string, private readonly options: RedisLeaseSourceOptions) {
    this.redis = new Redis(url, {
      connectionName: 'din-rate-limit',
      commandTimeout: options.commandTimeoutMs ?? 1_000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Leases asked at once go out in one write.
      enableAutoPipelining: true,
    });
    // Failed leases say so through onLeaseFailed; without a listener ioredis prints every reconnect.
    this.redis.on('error', () => {});
    this.redis.defineCommand('dinRateLease', { numberOfKeys: 1, lua: LEASE_LUA });
    this.script = this.redis as unknown as LeaseScript;
  }

  lease(name: string, budget: Budget, want: number, handler: LeaseHandler): void {
    this.script.dinRateLease(this.options.keyPrefix + name, String(budget.rate), String(budget.burst), String(want)).then(
      ([granted, waitMs]) => handler.onGrant(Number(granted), Number(waitMs)),
      () => handler.onLeaseFailed(),
    );
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
