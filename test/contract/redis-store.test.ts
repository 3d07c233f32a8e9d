/**
 * The Store contract against a real Redis (127.0.0.1:6379), plus what only a shared store
 * has to get right: several gateways on one operator, key prefixes, an unreachable server.
 * Every store gets its own prefix under one random prefix per run, deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { stake } from '../../src/staking/ledger.js';
import { RedisStore, type RedisStoreOptions } from '../../src/staking/redis-store.js';
import { StoreUnavailableError } from '../../src/staking/store.js';
import { deleteKeys, REDIS_REQUIRED, REDIS_URL, redisReachable, warnRedisMissing } from '../support/redis.js';
import { created, operator, stakeWithRetry, storeContract } from './store.contract.js';

const URL = REDIS_URL;
const RUN = `din-test:${randomUUID()}:`;
const REQUIRED = REDIS_REQUIRED;

let stores = 0;
const fresh = () => RedisStore.connect(URL, { keyPrefix: `${RUN}${++stores}:`, connectTimeoutMs: 2_000 });

const available = await redisReachable(URL);
if (!available && !REQUIRED) warnRedisMissing('RedisStore tests');

describe.skipIf(!available && !REQUIRED)('RedisStore', () => {
  beforeAll(() => {
    if (!available) throw new Error(`Redis is required (CI=true) but ${URL} is not reachable`);
  });

  storeContract('RedisStore', () => fresh(), () => deleteKeys(`${RUN}*`));

  describe('shared by several gateways', () => {
    const open: RedisStore[] = [];
    const connect = async (prefix: string, options: RedisStoreOptions = {}) => {
      const store = await RedisStore.connect(URL, { keyPrefix: prefix, connectTimeoutMs: 2_000, ...options });
      open.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('two connections racing on one operator lose no update', async () => {
      const prefix = `${RUN}race:`;
      const [a, b] = [await connect(prefix), await connect(prefix)];
      const start = await created(a, 100n);
      await Promise.all(Array.from({ length: 20 }, (_, i) => stakeWithRetry(i % 2 === 0 ? a : b, start.id, 1n)));
      for (const gateway of [a, b]) {
        expect((await gateway.getOperator(start.id))!.active).toBe(120n);
        expect(await gateway.listEvents({ operatorId: start.id })).toHaveLength(21);
      }
    });

    it('a different prefix sees none of the data', async () => {
      const mine = await connect(`${RUN}mine:`);
      const theirs = await connect(`${RUN}theirs:`);
      const state = await created(mine, 5n);
      await mine.appendMetrics(state.id, { serviceId: 's', successRate: 100, p95Latency: 1, p99Latency: 2, throughput: 3, uptime: 100, timestamp: 1 }, 5);
      expect(await theirs.getOperator(state.id)).toBeUndefined();
      expect(await theirs.listOperators()).toEqual([]);
      expect(await theirs.listEvents()).toEqual([]);
      expect(await theirs.getMetrics(state.id, 5)).toEqual([]);
      // Event ids are per prefix as well: the same event is new to the other store.
      expect(await theirs.createOperator(state, await mine.listEvents())).toBe(true);
    });

    it('reconnects after losing its connection, failing calls meanwhile with StoreUnavailableError', async () => {
      const name = `din-test-${randomUUID()}`;
      const store = await connect(`${RUN}kill:`, { connectionName: name, commandTimeoutMs: 1_000 });
      const state = await created(store, 1n);
      const admin = new Redis(URL);
      try {
        const line = String(await admin.client('LIST')).split('\n').find((l) => l.includes(` name=${name} `));
        await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line ?? '')![1]!);
      } finally {
        await admin.quit();
      }
      const during = await store.getOperator(state.id).then(
        (found) => found,
        (err: unknown) => err,
      );
      if (during instanceof Error) expect(during).toBeInstanceOf(StoreUnavailableError);
      await vi.waitFor(async () => expect(await store.getOperator(state.id)).toEqual(state), { timeout: 5_000, interval: 100 });
    });

    it('keeps wei as decimal strings at rest', async () => {
      const prefix = `${RUN}raw:`;
      const store = await connect(prefix);
      const state = await created(store, 10n ** 30n + 7n);
      const redis = new Redis(URL);
      try {
        expect(await redis.hget(`${prefix}operator:${state.id}`, 'state')).toContain('"active":"1000000000000000000000000000007"');
        expect(await redis.hget(`${prefix}operator:${state.id}`, 'version')).toBe('1');
        const [[, fields]] = (await redis.xrange(`${prefix}events:${state.id}`, '-', '+')) as [[string, string[]]];
        expect(fields[1]).toContain('"amount":"1000000000000000000000000000007"');
      } finally {
        await redis.quit();
      }
    });
  });
});

// Needs no Redis at all.
describe('RedisStore without a server', () => {
  const CLOSED = 'redis://127.0.0.1:1';

  it('fails calls with StoreUnavailableError', async () => {
    const store = new RedisStore(CLOSED, { connectTimeoutMs: 500 });
    try {
      const { state, events } = stake(operator(), 1n, 0);
      await expect(store.getOperator('op')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.createOperator(state, events)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.commit({ ...state, version: 2 }, 1, [])).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.listEvents()).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await store.close();
    }
  });

  it('gives up connecting with StoreUnavailableError', async () => {
    await expect(RedisStore.connect(CLOSED, { connectTimeoutMs: 300 })).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

afterAll(async () => {
  if (available) await deleteKeys(`${RUN}*`);
});
