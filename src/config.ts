import { readFileSync } from 'node:fs';
import { operatorUrl } from './operator-url.js';
import { isValidAddress } from './staking/address.js';
import { z } from 'zod';

/**
 * The one configuration schema. A file (JSON) plus the DIN_* environment overrides are
 * validated once at start and frozen; the hot path reads plain fields, never the schema.
 */

const weiString = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/, 'must be a decimal string of wei (no sign, no fraction, no leading zeros)');

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);
const chainName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be lowercase letters, digits and dashes');
export const OperatorConfigSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of letters, digits, ".", "_" or "-"'),
  url: operatorUrl,
  chain: chainName.optional(),
  /** The operator's wallet; config operators without one are registered to the zero address. */
  walletAddress: z
    .string()
    .refine(isValidAddress, 'must be 0x + 40 hex digits, with a valid EIP-55 checksum when mixed case')
    .default('0x0000000000000000000000000000000000000000'),
  /** Initial stake when the operator is first registered in the store (later changes go through the admin API). */
  stake: weiString.default('1000000000000000000'),
});

/** A rate-limit budget: cost units per second, and how many may be saved up for a burst. */
const budget = (rate: number, burst: number) => ({
  rate: z.number().positive().max(1e9).default(rate),
  burst: z.number().min(1).max(1e12).default(burst),
});

export const ApiKeyConfigSchema = z.strictObject({
  /** Sent by clients as `/rpc/:chain/:key` or in the key header: URL-safe, long enough not to be guessed. */
  key: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'must be 16-128 characters of letters, digits, "_" or "-"'),
  /** Who holds the key: what logs and shared bucket names show, never the key. */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of letters, digits, ".", "_" or "-"'),
  ...budget(1000, 5000),
});

const costUnits = z.number().min(0).max(1_000_000);

const bps = z.number().int().min(0).max(10_000);
const severityTable = z.strictObject({ low: bps, medium: bps, high: bps, critical: bps });

export const ConfigSchema = z.strictObject({
  rpc: z
    .strictObject({ host: host.default('127.0.0.1'), port: port.default(8545) })
    .prefault({}),
  admin: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(9545),
      token: z.string().min(16, 'must be at least 16 characters').optional(),
      /** When set, GET /metrics wants `Authorization: Bearer <metricsToken>`; unset, it is open like any scrape target. */
      metricsToken: z.string().min(16, 'must be at least 16 characters').optional(),
    })
    .prefault({}),
  redisUrl: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  /**
   * Data-plane threads serving the RPC port. 1: the main thread serves it. N > 1 (or
   * "auto": one per core): N worker threads share the port, the main thread keeps the
   * control plane (admin, probes, scoring, the store).
   */
  workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  windowSeconds: z.number().int().min(1).max(3600).default(10),
  defaultChain: chainName.default('ethereum'),
  limits: z
    .strictObject({
      maxBodyBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(5 * 1024 * 1024),
      maxBatchSize: z.number().int().min(1).max(10_000).default(100),
      maxResponseBytes: z.number().int().min(1024).default(128 * 1024 * 1024),
      /**
       * What the data plane may buffer at once, all threads together: request bodies in flight
       * (counted twice: the client's copy and the request written upstream), operator answers as
       * they arrive, and answers a client has not read yet. Beyond it requests fail at once
       * with OVERLOADED. Must hold the largest answer (maxResponseBytes).
       */
      maxBufferedBytes: z.number().int().min(1024 * 1024).default(256 * 1024 * 1024),
      /**
       * How deep the gateway itself walks a client's params or an operator's result (the
       * cross-check); deeper values are forwarded untouched and not inspected.
       */
      maxJsonDepth: z.number().int().min(4).max(1024).default(64),
    })
    .refine((l) => l.maxResponseBytes <= l.maxBufferedBytes, { message: 'maxResponseBytes must not exceed maxBufferedBytes', path: ['maxResponseBytes'] })
    .prefault({}),
  upstream: z
    .strictObject({
      connections: z.number().int().min(1).max(4096).default(64),
      pipelining: z.number().int().min(1).max(128).default(8),
      keepAliveTimeoutMs: z.number().int().min(100).default(30_000),
      /** One attempt against one operator. */
      attemptTimeoutMs: z.number().int().min(10).default(5_000),
      /** The whole client request, all attempts included. */
      requestDeadlineMs: z.number().int().min(10).default(15_000),
      maxAttempts: z.number().int().min(1).max(10).default(3),
    })
    .prefault({}),
  probes: z
    .strictObject({
      /** The longest time between two probes of an operator (chains whose blocks come faster are probed faster). */
      intervalMs: z.number().int().min(100).default(5_000),
      /** The shortest time between two probe rounds, however fast the chain's blocks come (intervalMs when that is shorter). */
      minIntervalMs: z.number().int().min(50).default(500),
      timeoutMs: z.number().int().min(10).default(2_000),
      /** Every how many rounds the `safe` and `finalized` heights are probed as well. */
      finalityEveryRounds: z.number().int().min(1).default(5),
    })
    .prefault({}),
  /**
   * Per chain: the expected chain id (without one, the majority of a chain's operators decides)
   * and overrides of the routing's lag limits.
   */
  chains: z
    .record(
      chainName,
      z.strictObject({
        chainId: z.number().int().positive(),
        maxBlockLag: z.number().int().min(0).max(10_000).optional(),
        maxLagSeconds: z.number().min(0).max(86_400).optional(),
      }),
    )
    .default({}),
  staking: z
    .strictObject({
      /** Active stake an operator needs to receive traffic. */
      minStake: weiString.default('1000000000000000000'),
      /** How long unstaked wei stays slashable before it is withdrawable (0 allowed). */
      unbondingSeconds: z.number().int().min(0).default(7 * 24 * 3600),
      /** Registrations must carry an EIP-191 signature by the operator's wallet. */
      requireOperatorSignature: z.boolean().default(false),
      /** Redis key prefix, so several deployments can share one Redis. */
      redisKeyPrefix: z.string().min(1).max(64).default('din:'),
      metricsHistory: z.number().int().min(1).max(100_000).default(1000),
      /**
       * Answers to deterministic requests an operator must have had confirmed by another operator
       * before its answers to them are served on its own word (new, back from jail, outvoted). 0: off.
       */
      provingAnswers: z.number().int().min(0).max(100_000).default(50),
      scoring: z.strictObject({ alpha: z.number().gt(0).max(1).default(0.3), minRequests: z.number().int().min(1).default(10) }).prefault({}),
      thresholds: z
        .strictObject({
          successRate: z.number().min(0).max(100).default(99),
          p95LatencyMs: z.number().positive().default(250),
          minScore: z.number().min(0).max(100).default(90),
          consecutiveWindows: z.number().int().min(1).default(3),
          downtimeMinSeconds: z.number().int().min(0).default(60),
          misbehaviorMin: z.number().int().min(1).default(3),
          /** Quiet windows (too few requests to judge, but reachable) after which probation lifts. */
          probationQuietWindows: z.number().int().min(1).default(6),
          /** Blocks behind the chain's head (probed at a window's close) that count as a window below target. */
          maxHeadLagBlocks: z.number().int().min(1).default(64),
          /**
           * When the gateway counts itself saturated in a window (any data-plane thread over either):
           * such a window convicts no operator of performance_threshold; it is the gateway's overload.
           */
          gatewayOverload: z
            .strictObject({
              /** Share of the window a thread's event loop was busy (0-1). */
              eventLoopUtilization: z.number().gt(0).max(1).default(0.9),
              /** A thread's event-loop delay at p99, ms. */
              eventLoopDelayMs: z.number().positive().default(100),
            })
            .prefault({}),
        })
        .prefault({}),
      slashing: z
        .strictObject({
          table: z
            .strictObject({ downtime: severityTable, bad_data: severityTable, misbehavior: severityTable, performance_threshold: severityTable })
            .optional(),
          repeatMultiplier: z.number().min(1).max(100).default(5),
          repeatWindowSeconds: z.number().int().min(0).default(24 * 3600),
          maxBps: bps.default(5_000),
          periodSeconds: z.number().int().min(1).default(3600),
          jailSeconds: z.number().int().min(0).default(600),
          jailEscalation: z.number().min(1).default(2),
        })
        .prefault({}),
      crossCheck: z
        .strictObject({
          /** Share of deterministic requests also sent to two other operators for a 2-of-3 vote. */
          sampleRate: z.number().min(0).max(1).default(0.02),
          /** A block this many below the chain's head counts as settled. */
          settledDepth: z.number().int().min(0).default(64),
        })
        .prefault({}),
    })
    .prefault({}),
  routing: z
    .strictObject({
      /** Share of picks spread uniformly over eligible operators, so low-weight ones can earn traffic back. */
      explorationShare: z.number().min(0).max(0.5).default(0.05),
      /**
       * Chain-aware routing: admission after a probe, head-sensitive requests only to operators
       * at the served tip, numbered blocks only to operators that have them. false: stake and
       * score alone (every operator the ledger allows gets every request).
       */
      chainAware: z.boolean().default(true),
      /** Blocks an operator may be behind the served tip and still get head-sensitive requests (per chain: chains.*.maxBlockLag). */
      maxBlockLag: z.number().int().min(0).max(10_000).default(2),
      /** Seconds an operator may stay behind the served tip and still get head-sensitive requests (per chain: chains.*.maxLagSeconds). */
      maxLagSeconds: z.number().min(0).max(86_400).default(30),
      /** How long a served tip is held when operators report less (a reorg or a reset), so reads never go backwards. */
      tipHoldSeconds: z.number().min(0).max(3600).default(60),
      /** Operators an eth_sendRawTransaction goes to at once; the first acceptance answers. */
      broadcastTransactions: z.number().int().min(1).max(10).default(1),
      /** eth_getTransactionCount at `pending` is asked of this many operators at the tip and the highest count answers. */
      pendingNonceOperators: z.number().int().min(1).max(2).default(1),
      /** After an operator accepts a transaction, reads of its receipt prefer that operator for this long. */
      readAfterWriteSeconds: z.number().min(0).max(600).default(5),
    })
    .prefault({}),
  cors: z
      .strictObject({
        // Sent as a header value: a line break would let the config inject headers.
        allowOrigin: z.string().regex(/^[\x21-\x7e]+$/, 'an origin or "*": printable ASCII, no spaces or line breaks').default('*'),
      })
      .prefault({}),
  /**
   * Token buckets per client IP and per API key, in cost units (a call costs its method's
   * cost, a batch the sum). Shared by the fleet through Redis when `redisUrl` is set.
   */
  rateLimit: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** "auto": one budget for the fleet in Redis when `redisUrl` is set, else in memory; "memory": per instance always. */
      store: z.enum(['auto', 'memory']).default('auto'),
      /** Requests without an API key, by client IP. */
      perIp: z.strictObject({ enabled: z.boolean().default(true), ...budget(1000, 5000) }).prefault({}),
      apiKeys: z
        .strictObject({
          /** Every request must carry a configured key (else 401). */
          required: z.boolean().default(false),
          /** The header a key may be sent in (instead of the path's last segment). */
          header: z.string().regex(/^[a-z0-9-]{1,64}$/, 'a lowercase header name').default('x-api-key'),
          keys: z.array(ApiKeyConfigSchema).default([]),
        })
        .prefault({}),
      costs: z
        .strictObject({
          default: costUnits.default(1),
          methods: z.record(z.string().min(1), costUnits).default({ eth_getLogs: 10 }),
          prefixes: z.record(z.string().min(1), costUnits).default({ debug_: 25, trace_: 25 }),
        })
        .prefault({}),
      /** Proxies in front of the gateway whose X-Forwarded-For entries are trusted (0: the socket's address is the client). */
      trustedProxyHops: z.number().int().min(0).max(10).default(0),
      /** Buckets held per process; new clients beyond it are refused until idle ones are swept. */
      maxBuckets: z.number().int().min(1).max(10_000_000).default(100_000),
      /**
       * Shared budgets (Redis, or workers > 1): tokens leased at once, and the debt a bucket may
       * run while a lease is in flight. The allowance is what a new client's first burst gets
       * before its first lease returns, and the most one instance admits above a client's budget.
       */
      leaseTokens: z.number().int().min(1).max(1_000_000).default(50),
      allowance: z.number().min(0).max(1_000_000).default(500),
    })
    .prefault({}),
  shutdownGraceMs: z.number().int().min(0).max(600_000).default(10_000),
  operators: z.array(OperatorConfigSchema).default([]),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type OperatorConfig = z.infer<typeof OperatorConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** DIN_* variables and the config fields they override. */
const ENV_OVERRIDES: ReadonlyArray<[name: string, path: readonly string[], kind: 'int' | 'string' | 'workers']> = [
  ['DIN_RPC_PORT', ['rpc', 'port'], 'int'],
  ['DIN_RPC_HOST', ['rpc', 'host'], 'string'],
  ['DIN_ADMIN_PORT', ['admin', 'port'], 'int'],
  ['DIN_ADMIN_HOST', ['admin', 'host'], 'string'],
  ['DIN_ADMIN_TOKEN', ['admin', 'token'], 'string'],
  ['DIN_REDIS_URL', ['redisUrl'], 'string'],
  ['DIN_LOG_LEVEL', ['logLevel'], 'string'],
  ['DIN_WINDOW_SECONDS', ['windowSeconds'], 'int'],
  ['DIN_WORKERS', ['workers'], 'workers'],
];

function applyEnv(input: Record<string, unknown>, env: Env, problems: string[]): void {
  for (const [name, path, kind] of ENV_OVERRIDES) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (kind === 'workers' && raw === 'auto') value = raw;
    else if (kind === 'int' || kind === 'workers') {
      if (!/^-?\d+$/.test(raw)) {
        problems.push(`${name}: must be an integer, got "${raw}"`);
        continue;
      }
      value = Number(raw);
    }
    let node = input;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (next === undefined) node[key] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        problems.push(`${path.slice(0, -1).join('.')}: must be an object to take ${name}`);
        node = {};
        continue;
      }
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Validates a config object (file contents) with env overrides applied; throws ConfigError naming each bad field. */
export function parseConfig(input: unknown, env: Env = {}): Config {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(['(root): must be a JSON object']);
  }
  const merged = structuredClone(input) as Record<string, unknown>;
  applyEnv(merged, env, problems);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  const config = result.data!;
  const seen = new Set<string>();
  for (const [i, op] of config.operators.entries()) {
    if (seen.has(op.id)) problems.push(`operators.${i}.id: duplicate operator id "${op.id}"`);
    seen.add(op.id);
  }
  const apiKeys = config.rateLimit.apiKeys;
  const keys = new Set<string>();
  const names = new Set<string>();
  for (const [i, k] of apiKeys.keys.entries()) {
    // The message names the entry, never the key.
    if (keys.has(k.key)) problems.push(`rateLimit.apiKeys.keys.${i}.key: the same key as an earlier entry`);
    if (names.has(k.name)) problems.push(`rateLimit.apiKeys.keys.${i}.name: duplicate key name "${k.name}"`);
    keys.add(k.key);
    names.add(k.name);
  }
  if (apiKeys.required && apiKeys.keys.length === 0) problems.push('rateLimit.apiKeys.required: needs at least one key in rateLimit.apiKeys.keys');
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** Reads `file` (or DIN_CONFIG, or nothing: all defaults) and applies the environment. */
export function loadConfig(file: string | undefined, env: Env = process.env): Config {
  const path = file ?? env['DIN_CONFIG'];
  if (!path) return parseConfig({}, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${path}: not valid JSON (${(err as Error).message})`]);
  }
  return parseConfig(input, env);
}

/** The chain an operator serves when its config names none. */
export function operatorChain(config: Config, op: OperatorConfig): string {
  return op.chain ?? config.defaultChain;
}
