/**
 * The shared Redis of the development and CI machines (127.0.0.1:6379). Suites that need
 * it skip with a loud warning when it is absent, and fail instead under CI=true.
 */
import { Redis } from 'ioredis';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const REDIS_REQUIRED = process.env['CI'] === 'true';

export async function redisReachable(url = REDIS_URL, timeoutMs = 1_000): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key matching `pattern` (a test run's own prefix). */
export async function deleteKeys(pattern: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

/** Says, once, why a Redis suite is not running; under CI=true the suite fails instead. */
export function warnRedisMissing(suite: string): void {
  console.warn(`\n!!! ${suite} SKIPPED: no Redis at ${REDIS_URL} (with CI=true this fails instead)\n`);
}
