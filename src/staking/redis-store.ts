/**
 * The Store shared by several gateway instances. Every write of an operator is one Lua
 * script (compare-and-set on the version + event-id dedup + the state + the events), so
 * two gateways racing on one operator cannot lose an update and nothing is ever
 * half-written.
 *
 * Keys (prefix default 'din:'):
 *   <p>operators          set     operator ids
 *   <p>operator:<id>      hash    version (integer), state (JSON, wei as decimal strings)
 *   <p>event-ids          set     every recorded event id (makes slashing idempotent)
 *   <p>events-by-id       hash    event id -> JSON (finds the request an Idempotency-Key was used for)
 *   <p>events             stream  all events in commit order, field `event` = JSON
 *   <p>events:<id>        stream  the same, for one operator
 *   <p>metrics:<id>       list    metrics history as JSON, newest last
 *
 * Wei never goes through Redis or Lua arithmetic: Redis integers overflow at ~9.2 ETH in
 * wei and Lua numbers are doubles. The scripts only compare and copy strings.
 */
import { Redis, ReplyError } from 'ioredis';
import type { PerformanceMetrics } from '../types.js';
import { checkCommit, checkEvents, checkKeep } from './memory-store.js';
import type { LedgerEvent, OperatorState } from './records.js';
import { type CommitResult, type Store, StoreUnavailableError } from './store.js';

export interface RedisStoreOptions {
  keyPrefix?: string;
  /** How long `connect` waits for the first connection, and the TCP connect timeout. */
  connectTimeoutMs?: number;
  /** A command without a reply after this long fails with StoreUnavailableError. */
  commandTimeoutMs?: number;
  /** Shown by CLIENT LIST: which gateway holds the connection. */
  connectionName?: string;
}

// Shared by both scripts. KEYS: 1 operator hash, 2 operator-id set, 3 event-id set,
// 4 events stream, 5 the operator's events stream, 6 events by id. ARGV[4]: deadline (ms, Redis clock);
// ARGV[5..]: id, JSON per event.
//
// The deadline: a write that waited in Redis (a CLIENT PAUSE during failover, a blocked
// server) past the moment the caller gave up and answered "unavailable" must not land
// afterwards. Scripts are effects-replicated in Redis 7, so reading TIME here is allowed.
const EVENT_HELPERS = `
local function expired()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[4])
end
local function duplicate()
  local seen = {}
  for i = 5, #ARGV, 2 do
    if seen[ARGV[i]] or redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 1 then return true end
    seen[ARGV[i]] = true
  end
  return false
end
local function record()
  for i = 5, #ARGV, 2 do
    redis.call('SADD', KEYS[3], ARGV[i])
    redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1])
    redis.call('XADD', KEYS[4], '*', 'event', ARGV[i + 1])
    redis.call('XADD', KEYS[5], '*', 'event', ARGV[i + 1])
  end
end
`;

/** ARGV: 1 expected version, 2 next version, 3 state JSON, 4 deadline. Versions compare as strings. */
const COMMIT_LUA = `${EVENT_HELPERS}
if expired() then return 'expired' end
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 'conflict' end
if duplicate() then return 'duplicate' end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
record()
return 'ok'
`;

/** ARGV: 1 operator id, 2 version, 3 state JSON, 4 deadline. */
const CREATE_LUA = `${EVENT_HELPERS}
if expired() then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 or duplicate() then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
record()
return 1
`;

/** The commands defineCommand adds: the 6 keys, then ARGV. */
interface Scripts {
  dinCommit(...keysThenArgv: string[]): Promise<CommitResult | 'expired'>;
  dinCreate(...keysThenArgv: string[]): Promise<number>;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** Slack between the script's deadline and the client's timeout, for the reply's trip back. */
const DEADLINE_MARGIN_MS = 250;

export class RedisStore implements Store {
  readonly #redis: Redis;
  readonly #scripts: Scripts;
  readonly #p: string;
  readonly #commandTimeoutMs: number;
  #lastError: Error | undefined;
  /** Redis's clock minus ours, read at every (re)connect: write deadlines are in Redis time. */
  #clockOffsetMs = 0;

  /** Connects in the background (and reconnects forever); calls fail fast until it is up. */
  constructor(url: string, options: RedisStoreOptions = {}) {
    this.#p = options.keyPrefix ?? 'din:';
    this.#commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#redis = new Redis(url, {
      connectionName: options.connectionName,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      commandTimeout: this.#commandTimeoutMs,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      // While Redis is away, calls fail now (503) instead of queueing behind the outage.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // A commit in flight when the connection dropped may already have run; replaying it
      // would answer 'conflict' for a write that happened and invite the caller to apply
      // it twice. Failing it (StoreUnavailableError, at the latest after commandTimeoutMs)
      // leaves the decision to the caller.
      autoResendUnfulfilledCommands: false,
    });
    // Without a listener ioredis prints every failed reconnect; calls report it instead.
    this.#redis.on('error', (err: Error) => {
      this.#lastError = err;
    });
    this.#redis.on('ready', () => {
      const sent = Date.now();
      this.#redis.time().then(
        ([seconds, micros]) => {
          const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
          this.#clockOffsetMs = redisNow - (sent + Date.now()) / 2;
        },
        () => {},
      );
    });
    this.#redis.defineCommand('dinCommit', { numberOfKeys: 6, lua: COMMIT_LUA });
    this.#redis.defineCommand('dinCreate', { numberOfKeys: 6, lua: CREATE_LUA });
    this.#scripts = this.#redis as unknown as Scripts;
  }

  /** Connects and waits until Redis answers; StoreUnavailableError after `connectTimeoutMs`. */
  static async connect(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const store = new RedisStore(url, options);
    try {
      await store.#ready(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      return store;
    } catch (err) {
      store.#redis.disconnect();
      throw err;
    }
  }

  async createOperator(state: OperatorState, events: readonly LedgerEvent[]): Promise<boolean> {
    checkEvents(state.id, events);
    const created = await this.#call(() =>
      this.#scripts.dinCreate(...this.#scriptKeys(state.id), state.id, String(state.version), encodeState(state), this.#deadline(), ...eventArgs(events)),
    );
    if (created === -1) throw new StoreUnavailableError('Redis ran the write after its deadline: refused, nothing written');
    return created === 1;
  }

  async getOperator(id: string): Promise<OperatorState | undefined> {
    const json = await this.#call(() => this.#redis.hget(this.#operatorKey(id), 'state'));
    return json === null ? undefined : decodeState(json);
  }

  async listOperators(): Promise<OperatorState[]> {
    const states = await this.#call(async () => {
      const ids = await this.#redis.smembers(`${this.#p}operators`);
      ids.sort();
      // Sent back to back without waiting: one round trip in effect.
      return Promise.all(ids.map((id) => this.#redis.hget(this.#operatorKey(id), 'state')));
    });
    return states.filter((json): json is string => json !== null).map(decodeState);
  }

  async commit(next: OperatorState, expectedVersion: number, events: readonly LedgerEvent[]): Promise<CommitResult> {
    checkCommit(next, expectedVersion, events);
    const result = await this.#call(() =>
      this.#scripts.dinCommit(
        ...this.#scriptKeys(next.id),
        String(expectedVersion),
        String(next.version),
        encodeState(next),
        this.#deadline(),
        ...eventArgs(events),
      ),
    );
    if (result === 'expired') throw new StoreUnavailableError('Redis ran the write after its deadline: refused, nothing written');
    return result;
  }

  async getEvent(id: string): Promise<LedgerEvent | undefined> {
    const json = await this.#call(() => this.#redis.hget(`${this.#p}events-by-id`, id));
    return json === null ? undefined : decodeEvent(json);
  }

  async listEvents(query: { operatorId?: string; limit?: number } = {}): Promise<LedgerEvent[]> {
    const { operatorId, limit } = query;
    if (limit !== undefined && limit <= 0) return [];
    const key = operatorId === undefined ? `${this.#p}events` : `${this.#p}events:${operatorId}`;
    const entries = await this.#call(async () =>
      limit === undefined ? this.#redis.xrange(key, '-', '+') : (await this.#redis.xrevrange(key, '+', '-', 'COUNT', limit)).reverse(),
    );
    // Each entry is [stream id, ['event', json]].
    return entries.map(([, fields]) => decodeEvent(fields[1]!));
  }

  async appendMetrics(operatorId: string, metrics: PerformanceMetrics, keep: number): Promise<void> {
    checkKeep(keep);
    const key = this.#metricsKey(operatorId);
    const results = await this.#call(() => this.#redis.multi().rpush(key, JSON.stringify(metrics)).ltrim(key, -keep, -1).exec());
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async getMetrics(operatorId: string, limit: number): Promise<PerformanceMetrics[]> {
    if (limit <= 0) return [];
    const entries = await this.#call(() => this.#redis.lrange(this.#metricsKey(operatorId), -limit, -1));
    return entries.map((json) => JSON.parse(json) as PerformanceMetrics);
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'ready') {
      try {
        await this.#redis.quit();
        return;
      } catch {
        // Connection already gone: disconnect below stops the reconnect loop.
      }
    }
    this.#redis.disconnect();
  }

  #operatorKey(id: string): string {
    return `${this.#p}operator:${id}`;
  }

  #metricsKey(id: string): string {
    return `${this.#p}metrics:${id}`;
  }

  #scriptKeys(id: string): string[] {
    const p = this.#p;
    return [this.#operatorKey(id), `${p}operators`, `${p}event-ids`, `${p}events`, `${p}events:${id}`, `${p}events-by-id`];
  }

  /** Errors Redis answered (bad script, wrong type) are bugs; anything else means Redis is unreachable. */
  /** In Redis time: a little before this store gives up waiting for the reply. */
  #deadline(): string {
    return String(Math.floor(Date.now() + this.#clockOffsetMs + this.#commandTimeoutMs - DEADLINE_MARGIN_MS));
  }

  async #call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ReplyError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      const last = this.#lastError && this.#lastError.message !== reason ? ` (last connection error: ${this.#lastError.message})` : '';
      throw new StoreUnavailableError(`Redis unavailable: ${reason}${last}`, { cause: err });
    }
  }

  #ready(timeoutMs: number): Promise<void> {
    if (this.#redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#redis.off('ready', onReady);
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        reject(new StoreUnavailableError(`Redis not ready within ${timeoutMs} ms${why}`));
      }, timeoutMs);
      this.#redis.once('ready', onReady);
    });
  }
}

// --- at rest: wei as decimal strings ---

/** Bigints that are not known wei fields (inside evidence) are kept as decimal strings too, instead of throwing. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function encodeState(s: OperatorState): string {
  const atRest = {
    ...s,
    active: s.active.toString(),
    unbonding: s.unbonding.map((u) => ({ amount: u.amount.toString(), releaseAt: u.releaseAt })),
    withdrawable: s.withdrawable.toString(),
    slashed: s.slashed.toString(),
  };
  return JSON.stringify(atRest, jsonSafe);
}

function decodeState(json: string): OperatorState {
  const raw = JSON.parse(json) as Omit<OperatorState, 'active' | 'unbonding' | 'withdrawable' | 'slashed'> & {
    active: string;
    unbonding: { amount: string; releaseAt: number }[];
    withdrawable: string;
    slashed: string;
  };
  return {
    ...raw,
    active: BigInt(raw.active),
    unbonding: raw.unbonding.map((u) => ({ amount: BigInt(u.amount), releaseAt: u.releaseAt })),
    withdrawable: BigInt(raw.withdrawable),
    slashed: BigInt(raw.slashed),
  };
}

function eventArgs(events: readonly LedgerEvent[]): string[] {
  return events.flatMap((e) => [e.id, encodeEvent(e)]);
}

function encodeEvent(e: LedgerEvent): string {
  return JSON.stringify({ ...e, amount: e.amount.toString(), fromActive: e.fromActive?.toString(), fromUnbonding: e.fromUnbonding?.toString() }, jsonSafe);
}

function decodeEvent(json: string): LedgerEvent {
  const raw = JSON.parse(json) as Omit<LedgerEvent, 'amount' | 'fromActive' | 'fromUnbonding'> & {
    amount: string;
    fromActive?: string;
    fromUnbonding?: string;
  };
  const { fromActive, fromUnbonding, ...rest } = raw;
  return {
    ...rest,
    amount: BigInt(raw.amount),
    ...(fromActive === undefined ? {} : { fromActive: BigInt(fromActive) }),
    ...(fromUnbonding === undefined ? {} : { fromUnbonding: BigInt(fromUnbonding) }),
  };
}
