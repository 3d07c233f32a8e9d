/**
 * The request path, assembled from a config: forwarder, cross-checker and the RPC
 * listener. The main thread builds one when it serves the RPC port itself, each
 * data-plane worker builds its own.
 */
import type { Config } from '../config.js';
import type { AttemptRecorder } from '../metrics/attempt-recorder.js';
import { type CrossCheckEvidence, CrossChecker } from './cross-check.js';
import { Forwarder } from './forward.js';
import { type ApiKeyPolicy, type LeaseSource, RateLimiter } from './rate-limit.js';
import type { OperatorRef, RandomSource, RoutingState } from './routing-table.js';
import { RpcServer } from './rpc-server.js';
import { type PipeliningState, Upstream } from './upstream.js';
import { MemoryBudget } from './memory-budget.js';
import { operatorUrlProblem } from '../operator-url.js';
import { availableParallelism } from 'node:os';

export interface DataPlaneHooks {
  readonly onOutvoted: (operatorId: string, evidence: CrossCheckEvidence) => void;
  /** The chain's agreed head block (for the cross-check's "settled" test), or null. */
  readonly headOf: (chain: string) => number | null;
  readonly onInternalError: (err: unknown) => void;
  readonly random?: RandomSource;
  /** Where rate-limit buckets lease their tokens (a fleet's Redis, the main thread); absent: each bucket refills locally. */
  readonly leases?: LeaseSource;
  /** The rate limiter's clock in ms (tests inject one). */
  readonly rateLimitNow?: () => number;
  /** An answer showed an operator at a block (chain-aware routing learns heads from answers). */
  readonly onAnswerHead?: (operator: OperatorRef, head: number) => void;
  /** Something for the log (see ForwarderEvents.onNotice). */
  readonly onNotice?: (message: string, detail: Record<string, unknown>) => void;
  /** An operator still proving itself gave an answer another operator agreed with. */
  readonly onProvingAnswer?: (operator: OperatorRef) => void;
}

export interface DataPlane {
  readonly forwarder: Forwarder;
  readonly server: RpcServer;
  /** This thread's share of `limits.maxBufferedBytes`; operator handles built for it take answers from it. */
  readonly budget: MemoryBudget;
}

/** Data-plane threads serving the RPC port: each holds an equal share of the memory budget. */
export function dataPlaneThreads(config: Config): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

export function createDataPlane(config: Config, routing: RoutingState, recorder: AttemptRecorder, hooks: DataPlaneHooks): DataPlane {
  const budget = new MemoryBudget(Math.floor(config.limits.maxBufferedBytes / dataPlaneThreads(config)));
  const forwarder = new Forwarder(
    routing,
    recorder,
    {
      maxAttempts: config.upstream.maxAttempts,
      attemptTimeoutMs: config.upstream.attemptTimeoutMs,
      requestDeadlineMs: config.upstream.requestDeadlineMs,
      maxBatchSize: config.limits.maxBatchSize,
      chainAware: config.routing.chainAware,
      broadcastTransactions: config.routing.broadcastTransactions,
      pendingNonceOperators: config.routing.pendingNonceOperators,
      blockNumberHoldMs: config.routing.tipHoldSeconds * 1000,
      readAfterWriteMs: config.routing.readAfterWriteSeconds * 1000,
    },
    hooks.random,
    hooks.onInternalError,
    budget,
  );
  forwarder.useEvents({
    ...(hooks.onAnswerHead ? { onAnswerHead: hooks.onAnswerHead } : {}),
    ...(hooks.onNotice ? { onNotice: hooks.onNotice } : {}),
    ...(hooks.onProvingAnswer ? { onProvingAnswer: hooks.onProvingAnswer } : {}),
  });
  forwarder.useCrossChecker(
    new CrossChecker(
      routing,
      recorder,
      { onOutvoted: (operator, evidence) => hooks.onOutvoted(operator.id, evidence) },
      hooks.headOf,
      { ...config.staking.crossCheck, timeoutMs: config.upstream.attemptTimeoutMs, maxJsonDepth: config.limits.maxJsonDepth },
      hooks.random,
    ),
  );
  const rl = config.rateLimit;
  const server = new RpcServer(forwarder, routing, {
    host: config.rpc.host,
    port: config.rpc.port,
    maxBodyBytes: config.limits.maxBodyBytes,
    allowOrigin: config.cors.allowOrigin,
    defaultChain: config.defaultChain,
    // Configured keys are checked even with budgets off.
    ...(rl.enabled || rl.apiKeys.keys.length > 0
      ? {
          rateLimit: {
            limiter: createRateLimiter(config, hooks.leases, hooks.rateLimitNow),
            chargeBudgets: rl.enabled,
            keysRequired: rl.apiKeys.required,
            keyHeader: rl.apiKeys.header,
            trustedProxyHops: rl.trustedProxyHops,
          },
        }
      : {}),
  });
  return { forwarder, server, budget };
}

export function createRateLimiter(config: Config, leases: LeaseSource | undefined, now?: () => number): RateLimiter {
  const rl = config.rateLimit;
  const keys = new Map<string, ApiKeyPolicy>(rl.apiKeys.keys.map((k) => [k.key, Object.freeze({ name: k.name, rate: k.rate, burst: k.burst })]));
  return new RateLimiter(
    {
      perIp: rl.perIp.enabled ? { rate: rl.perIp.rate, burst: rl.perIp.burst } : null,
      costs: rl.costs,
      maxBuckets: rl.maxBuckets,
      leaseTokens: rl.leaseTokens,
      allowance: rl.allowance,
    },
    keys,
    leases,
    now,
  );
}

/**
 * newOperatorRef, or why the operator's record cannot be routed: a URL that got into the store
 * past the edge's validation. The reason never holds the URL or the error's message: a URL
 * may carry the operator's credentials.
 */
export function operatorRefOrReason(...args: Parameters<typeof newOperatorRef>): OperatorRef | string {
  try {
    return newOperatorRef(...args);
  } catch (err) {
    return operatorUrlProblem(args[1].url) ?? (err instanceof Error ? err.name : 'unknown error');
  }
}

/** An operator's router handle: its dense index and its own pool, sized by the config, its answers taken from `budget` (when it serves clients). */
export function newOperatorRef(
  config: Config,
  op: { id: string; index: number; chain: string; url: string },
  budget: MemoryBudget | undefined,
  onPipeliningChange?: (state: PipeliningState, detail: string) => void,
): OperatorRef {
  const upstream = new Upstream(op.url, {
    connections: config.upstream.connections,
    pipelining: config.upstream.pipelining,
    // An operator is trusted with pipelined requests only after it has answered a pair correctly.
    pipeliningCheck: { method: 'eth_chainId', timeoutMs: config.probes.timeoutMs },
    onPipeliningChange,
    keepAliveTimeoutMs: config.upstream.keepAliveTimeoutMs,
    maxResponseBytes: config.limits.maxResponseBytes,
    ...(budget ? { budget } : {}),
  });
  return Object.freeze({ id: op.id, index: op.index, chain: op.chain, upstream });
}
