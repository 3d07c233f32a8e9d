/**
 * The composition root: builds the store, the staking core, the measurement layer, the
 * router and both listeners from a validated Config, wires them, and owns start and stop.
 * The router never imports the staking side: this file turns the ledger's stakes and
 * scores into the weights table the router reads.
 */
import { createServer } from 'node:net';
import type { Config } from './config.js';
import { operatorChain } from './config.js';
import { AdminServer } from './admin/admin-server.js';
import { registerStakingRoutes } from './admin/staking-routes.js';
import { createLogger, type Logger } from './log.js';
import { DISCARD_RECORDER } from './metrics/attempt-recorder.js';
import { ThreadHealthMeter } from './metrics/gateway-health.js';
import { HealthProber, type ProbeDetails, type ProbeResult } from './metrics/health-prober.js';
import { Chains, type ProbeOutcome } from './chain/chains.js';
import { ROUTING_REASONS } from './router/routing-table.js';
import { onInternalError, reportInternalError } from './metrics/internal-errors.js';
import { initLatencyHistograms } from './metrics/latency-histogram.js';
import { Measurement } from './metrics/measurement.js';
import { type ChainStatus, createMetricsRegistry, type OperatorStatus } from './metrics/prometheus.js';
import type { CrossCheckEvidence } from './router/cross-check.js';
import { createDataPlane, type DataPlane, dataPlaneThreads, operatorRefOrReason } from './router/data-plane.js';
import type { MemoryBudget } from './router/memory-budget.js';
import type { LeaseSource } from './router/rate-limit.js';
import { SharedBuckets } from './router/shared-buckets.js';
import { RedisLeaseSource } from './ratelimit/redis-lease-source.js';
import { ChainRoute, type OperatorRef, type RandomSource, RoutingState, type WeightedOperator } from './router/routing-table.js';
import { WorkerPool } from './workers/worker-pool.js';
import { strangersOnPort } from './workers/shared-port-check.js';
import { ControlLoop } from './staking/control-loop.js';
import { CoreError, DINInfrastructureCore } from './staking/core.js';
import { MemoryStore } from './staking/memory-store.js';
import type { OperatorState } from './staking/records.js';
import { RedisStore } from './staking/redis-store.js';
import { DEFAULT_SLASH_TABLE } from './staking/slashing-policy.js';
import type { Store } from './staking/store.js';
import { routingWeight } from './staking/weights.js';
import { ProvingLedger } from './staking/proving.js';

export interface GatewayOptions {
  readonly logger?: Logger;
  readonly random?: RandomSource;
  /** The clock (ms) of the measurement windows and the ledger; tests inject one. */
  readonly now?: () => number;
  /** Start the window timer and the health probes (default true); tests drive them by hand. */
  readonly autoMeasure?: boolean;
  /** A store to use instead of the one the config names. */
  readonly store?: Store;
  /** false: the router records nothing (only to measure what measurement costs, in bench/). */
  readonly recordAttempts?: boolean;
  /** The rate limiter's clock in ms (tests inject one to refill buckets without sleeping). */
  readonly rateLimitNow?: () => number;
}

const WEI_PER_GWEI = 1_000_000_000n;

export class Gateway {
  readonly routing = new RoutingState();
  readonly measurement: Measurement;
  readonly prober: HealthProber;
  readonly controlLoop: ControlLoop;
  readonly logger: Logger;
  /** The request path when the main thread serves the RPC port (workers: 1). */
  private readonly dataPlane: DataPlane | undefined;
  /** The data-plane workers when there are several. */
  private readonly workers: WorkerPool | undefined;
  private rpcPort = 0;
  /** The shared rate-limit buckets (Redis, or this process's for its workers); none when each bucket refills locally. */
  private readonly leases: (LeaseSource & { close(): unknown }) | undefined;
  private readonly adminServer: AdminServer;
  /** Router-side handles of the operators the core knows, by id. */
  private readonly refs = new Map<string, OperatorRef>();
  /** Operators whose stored record could not be turned into a handle (see newRef). */
  private readonly unroutable = new Set<string>();
  /** The same handles by dense index (probe results come back by index). */
  private readonly refsByIndex: OperatorRef[] = [];
  /** Each chain's heads, served heights and admissions (chain-aware routing). */
  readonly chains: Chains;
  /** Which operators are still proving themselves (trust before traffic). */
  readonly proving: ProvingLedger;
  /** The probe round in progress: each operator's outcome, judged together when the round ends. */
  private readonly probeRound: ProbeOutcome[] = [];
  private nextIndex = 0;
  private rebuildScheduled = false;
  private stopping: Promise<void> | undefined;
  /** Stops logging this thread's internal errors through this gateway's logger. */
  private readonly stopLoggingInternalErrors: () => void;

  private constructor(readonly config: Config, readonly core: DINInfrastructureCore, options: GatewayOptions, logger: Logger) {
    this.logger = logger;
    this.stopLoggingInternalErrors = onInternalError((where, err) => logger.error({ err, where }, 'internal error caught; still serving'));
    const workerCount = dataPlaneThreads(config);
    this.measurement = new Measurement({
      windowSeconds: config.windowSeconds,
      ...(options.now ? { now: options.now } : {}),
      beforeClose: () => this.workers?.collect() ?? Promise.resolve(),
      // This thread's pools: the data plane's, or (with workers) the probes'.
      health: { meter: new ThreadHealthMeter('main', () => Array.from(this.refs.values(), (r) => r.upstream)), thresholds: config.staking.thresholds.gatewayOverload },
    });
    this.controlLoop = new ControlLoop(
      core,
      Object.fromEntries(Object.entries(config.chains).map(([chain, c]) => [chain, `0x${c.chainId.toString(16)}`])),
      logger,
      { p95LatencyTargetMs: config.staking.thresholds.p95LatencyMs, minRequests: config.staking.scoring.minRequests },
    );
    this.chains = new Chains(config, options.now ?? Date.now);
    this.proving = new ProvingLedger(config.staking.provingAnswers);
    this.prober = new HealthProber(
      () => this.refs.values(),
      {
        recordProbe: (index, result, head, chainId, details) => {
          // A head not asked this round is the one answers showed (the chain state's).
          const known = details?.headAsked === false ? this.headKnown(index) : head;
          this.measurement.recordProbe(index, result, known, chainId, details?.failure);
          this.noteProbe(index, result, head, chainId, details);
        },
      },
      {
        intervalMs: () => this.chains.probeIntervalMs(),
        timeoutMs: config.probes.timeoutMs,
        finalityEveryRounds: config.probes.finalityEveryRounds,
        // A head an answer showed within the last interval makes the probe's own question redundant.
        skipHeadProbe: (index) => this.headFromAnswerIsFresh(index),
      },
      () => this.onProbeRound(),
    );
    const onOutvoted = (id: string, evidence: CrossCheckEvidence) => {
      this.controlLoop.reportBadData(id, evidence);
      // Caught lying: its answers need a second opinion again.
      this.proving.start(id);
      this.scheduleRebuild();
    };
    const onProvingAnswer = (id: string) => {
      if (this.proving.agree(id)) this.scheduleRebuild();
    };
    this.leases = sharedRateLimitBuckets(config, workerCount);
    if (workerCount > 1) {
      this.workers = new WorkerPool(config, workerCount, this.measurement, onOutvoted, logger, this.leases, {
        onAnswerHead: (operatorId, head) => this.onAnswerHead(operatorId, head),
        onProvingAnswer,
      });
    } else {
      this.dataPlane = createDataPlane(config, this.routing, options.recordAttempts === false ? DISCARD_RECORDER : this.measurement, {
        onOutvoted,
        headOf: (chain) => this.agreedHead(chain),
        onAnswerHead: (operator, head) => this.onAnswerHead(operator.id, head),
        onNotice: (message, detail) => logger.warn(detail, message),
        onProvingAnswer: (operator) => onProvingAnswer(operator.id),
        onInternalError: (err) => reportInternalError('request', err),
        ...(options.random ? { random: options.random } : {}),
        ...(this.leases ? { leases: this.leases } : {}),
        ...(options.rateLimitNow ? { rateLimitNow: options.rateLimitNow } : {}),
      });
    }
    this.adminServer = new AdminServer({ host: config.admin.host, port: config.admin.port, token: config.admin.token });
    registerStakingRoutes(this.adminServer, core, {
      operator: (id) => this.operatorChainJson(id),
      status: () => ({ chains: this.chains.summaries(), gateway: this.gatewayStatusJson() }),
    });
    this.registerMetricsRoute();
    this.measurement.onWindow((windows, _closedAt, health) => {
      let scored: Promise<void>;
      try {
        scored = this.controlLoop.onWindow(windows, health);
      } catch (err) {
        scored = Promise.reject(err);
      }
      void scored.catch((err: unknown) => reportInternalError('control_loop', err)).finally(() => this.rebuildRoutesOrReport());
    });
    core.onChange(() => this.scheduleRebuild());
  }

  /** Opens the store and the core, registers the config's operators, and opens both listeners. */
  static async start(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
    const logger = options.logger ?? createLogger(config.logLevel);
    await initLatencyHistograms();
    const store = options.store ?? (config.redisUrl === undefined
      ? new MemoryStore()
      : await RedisStore.connect(config.redisUrl, { keyPrefix: config.staking.redisKeyPrefix }));
    const s = config.staking;
    const core = await DINInfrastructureCore.open({
      store,
      ...(options.now ? { now: options.now } : {}),
      minStakeWei: BigInt(s.minStake),
      unbondingMs: s.unbondingSeconds * 1000,
      requireOperatorSignature: s.requireOperatorSignature,
      defaultChain: config.defaultChain,
      metricsHistory: s.metricsHistory,
      scoring: s.scoring,
      detection: {
        minRequests: s.scoring.minRequests,
        downtimeMinMs: s.thresholds.downtimeMinSeconds * 1000,
        successRateTarget: s.thresholds.successRate,
        p95LatencyTargetMs: s.thresholds.p95LatencyMs,
        minScore: s.thresholds.minScore,
        consecutiveWindows: s.thresholds.consecutiveWindows,
        misbehaviorMin: s.thresholds.misbehaviorMin,
        probationQuietWindows: s.thresholds.probationQuietWindows,
        maxHeadLagBlocks: s.thresholds.maxHeadLagBlocks,
      },
      slashing: {
        table: s.slashing.table ?? DEFAULT_SLASH_TABLE,
        repeatMultiplier: s.slashing.repeatMultiplier,
        repeatWindowMs: s.slashing.repeatWindowSeconds * 1000,
        maxBps: s.slashing.maxBps,
        periodMs: s.slashing.periodSeconds * 1000,
        jailMs: s.slashing.jailSeconds * 1000,
        jailEscalation: s.slashing.jailEscalation,
        maxJailMs: 7 * 24 * 3600_000,
      },
    }).catch(async (err: unknown) => {
      await store.close();
      throw err;
    });
    const gateway = new Gateway(config, core, options, logger);
    try {
      await gateway.registerConfiguredOperators();
      gateway.rebuildRoutes();
      // Chain-aware routing admits no operator before a probe: the first round runs before the listeners open.
      if (config.routing.chainAware) {
        await gateway.prober.probeAll();
        gateway.rebuildRoutes();
      }
      if (gateway.dataPlane !== undefined) gateway.rpcPort = await gateway.dataPlane.server.listen();
      else {
        // Every worker binds the same port with SO_REUSEPORT: first make sure nobody else holds it.
        gateway.rpcPort = await unheldPort(config.rpc.host, config.rpc.port);
        await gateway.workers!.start(gateway.rpcPort);
        // Another process that bound it with SO_REUSEPORT between the check and the workers' binds.
        if ((strangersOnPort(gateway.rpcPort) ?? 0) > 0) {
          throw new Error(`cannot listen on ${config.rpc.host}:${gateway.rpcPort}: address in use (another process bound it beside the workers)`);
        }
      }
      await gateway.adminServer.listen();
    } catch (err) {
      await gateway.release();
      throw err;
    }
    if (options.autoMeasure !== false) {
      gateway.measurement.start();
      gateway.prober.start();
    }
    logger.info(
      { rpc: gateway.rpcUrl, admin: gateway.adminUrl, store: config.redisUrl === undefined ? 'memory' : 'redis', operators: gateway.refs.size, ready: gateway.routing.current.ready },
      'gateway listening',
    );
    const rl = config.rateLimit;
    logger.info(
      rl.enabled
        ? {
            store: gateway.leases === undefined ? 'memory' : config.redisUrl !== undefined && rl.store === 'auto' ? 'redis' : 'main thread',
            perIp: rl.perIp.enabled ? { rate: rl.perIp.rate, burst: rl.perIp.burst } : 'off',
            keysRequired: rl.apiKeys.required,
            // The keys by the names they were given: never the keys themselves.
            apiKeys: rl.apiKeys.keys.map((k) => ({ name: k.name, rate: k.rate, burst: k.burst })),
          }
        : { enabled: false },
      'rate limiting',
    );
    if (config.admin.token === undefined) logger.warn('no admin token configured: the admin API on loopback is open to local users');
    return gateway;
  }

  get rpcUrl(): string {
    return `http://${this.config.rpc.host}:${this.rpcPort}/`;
  }

  get adminUrl(): string {
    return `http://${this.config.admin.host}:${this.adminServer.port}/`;
  }

  /** The main thread's data-plane memory budget (undefined when workers serve the RPC port). */
  get memoryBudget(): MemoryBudget | undefined {
    return this.dataPlane?.budget;
  }

  /** The router's handle of an operator, once the core knows it. */
  operatorRef(id: string): OperatorRef | undefined {
    return this.refs.get(id);
  }

  /** Config operators are registered once; afterwards the store is the truth (stakes change over the admin API). */
  private async registerConfiguredOperators(): Promise<void> {
    for (const op of this.config.operators) {
      if (this.core.getOperator(op.id) !== undefined) continue;
      try {
        await this.core.registerOperator(op.id, op.walletAddress, BigInt(op.stake), { url: op.url, chain: operatorChain(this.config, op) });
      } catch (err) {
        // Another gateway on the same store registered it first: load what it wrote.
        if (!(err instanceof CoreError && err.code === 'OPERATOR_EXISTS')) throw err;
        await this.core.refresh();
      }
    }
  }

  private scheduleRebuild(): void {
    if (this.rebuildScheduled) return;
    this.rebuildScheduled = true;
    setImmediate(() => {
      this.rebuildScheduled = false;
      this.rebuildRoutesOrReport();
    });
  }

  /** rebuildRoutes for the paths off the request path: a failure keeps the last table and is counted. */
  private rebuildRoutesOrReport(): void {
    try {
      this.rebuildRoutes();
    } catch (err) {
      reportInternalError('rebuild_routes', err);
    }
  }

  /**
   * The weight the router gives an operator: 0 for probation (exploration only), absent when not
   * eligible (the ledger's verdict: stake, jail; a wrong chain id; with chain-aware routing, not
   * yet admitted by a probe).
   */
  private weightOf(s: OperatorState): number | undefined {
    if (!this.core.isEligible(s) || this.controlLoop.isOnWrongChain(s.id)) return undefined;
    if (this.config.routing.chainAware && this.chains.view(s.id)?.admitted !== true) return undefined;
    return s.probation ? 0 : routingWeight(s.active, s.performanceScore);
  }

  /** The chain's head for the cross-check's "settled" test: the served tip, else the probes' agreed head. */
  private agreedHead(chain: string): number | null {
    return this.chains.tipOf(chain) ?? this.measurement.chainHeads().get(chain) ?? null;
  }

  private noteProbe(index: number, result: ProbeResult, head: number | null, chainId: string | null, details?: ProbeDetails): void {
    const ref = this.refsByIndex[index];
    if (ref === undefined) return;
    this.probeRound.push({
      operatorId: ref.id,
      chain: ref.chain,
      reached: result !== 'unreachable',
      chainId,
      // Not asked (a head an answer showed is fresh): what the chain state knows stays.
      ...(details?.headAsked === false ? {} : { head }),
      ...(details?.safe === undefined ? {} : { safe: details.safe }),
      ...(details?.finalized === undefined ? {} : { finalized: details.finalized }),
    });
  }

  /** After every probe round: chain identity (the control loop's wrong-chain set), then heads and admissions. */
  private onProbeRound(): void {
    const reports = Array.from(this.measurement.allMeters(), (m) => ({ operatorId: m.operatorId, chain: m.chain, chainId: m.chainId }));
    const identity = this.controlLoop.updateChainIdentity(reports);
    const round = this.probeRound.splice(0);
    const changed = this.chains.recordProbeRound(round, identity.expected);
    if (identity.changed || changed) this.scheduleRebuild();
  }

  private onAnswerHead(operatorId: string, head: number): void {
    if (this.chains.recordAnswerHead(operatorId, head)) this.scheduleRebuild();
  }

  private headKnown(index: number): number | null {
    const ref = this.refsByIndex[index];
    return ref === undefined ? null : (this.chains.view(ref.id)?.head ?? null);
  }

  private headFromAnswerIsFresh(index: number): boolean {
    const ref = this.refsByIndex[index];
    return ref !== undefined && this.chains.answerHeadIsFresh(ref.id);
  }

  /**
   * The router's handle of a stored operator, or undefined (logged once, never routed) when
   * its record cannot be served: URLs are validated where they enter (config, admin API),
   * but a record written some other way must not stop the other operators being served.
   */
  private newRef(s: OperatorState): OperatorRef | undefined {
    const operator = s.id;
    const ref = operatorRefOrReason(this.config, { id: s.id, index: this.nextIndex, chain: s.chain, url: s.url }, this.dataPlane?.budget, (pipelining, detail) =>
      this.logger.info({ operator, pipelining, detail }, pipelining === 'on' ? 'upstream pipelining on' : 'upstream pipelining off until the next check'),
    );
    if (typeof ref === 'string') {
      this.unroutable.add(s.id);
      this.logger.error({ operator, reason: ref }, 'operator record cannot be routed: skipped (never routed) until this gateway restarts');
      return undefined;
    }
    this.nextIndex++;
    this.refsByIndex[ref.index] = ref;
    return ref;
  }

  /** Creates pools and meters for operators new to the core, then swaps in a fresh routing table. */
  rebuildRoutes(): void {
    if (this.stopping !== undefined) return;
    const chainAware = this.config.routing.chainAware;
    const byChain = new Map<string, WeightedOperator[]>();
    for (const s of this.core.states()) {
      let ref = this.refs.get(s.id);
      if (ref === undefined && s.url !== '' && !this.unroutable.has(s.id)) {
        ref = this.newRef(s);
        if (ref === undefined) continue;
        this.refs.set(s.id, ref);
        this.measurement.addOperator(ref.index, ref.id, ref.chain);
        this.chains.add(ref.id, ref.chain);
        this.proving.start(ref.id);
      }
      if (ref === undefined) continue;
      let list = byChain.get(s.chain);
      if (list === undefined) byChain.set(s.chain, (list = []));
      // Jailed: back only through a probe that admits it again, and proving itself again.
      if (s.jailedUntil > this.core.now()) {
        this.chains.revoke(s.id);
        this.proving.start(s.id);
      }
      const weight = this.weightOf(s);
      if (weight === undefined) continue;
      const proven = this.proving.isProven(s.id);
      if (!chainAware) list.push({ operator: ref, weight, proven });
      else {
        const view = this.chains.view(s.id)!;
        list.push({ operator: ref, weight, head: view.routingHead, atTip: view.atTip, proven });
      }
    }
    const share = this.config.routing.explorationShare;
    const heightsOf = (chain: string) => (chainAware ? this.chains.heightsOf(chain) : undefined);
    this.routing.publish([...byChain].map(([chain, list]) => new ChainRoute(chain, list, share, heightsOf(chain))));
    this.workers?.publishRoutes(
      [...byChain].map(([chain, list]) => {
        const heights = heightsOf(chain);
        return {
          chain,
          explorationShare: share,
          entries: list.map((e) => ({
            id: e.operator.id,
            index: e.operator.index,
            url: e.operator.upstream.url,
            weight: e.weight,
            ...(e.head === undefined ? {} : { head: e.head }),
            ...(e.atTip === undefined ? {} : { atTip: e.atTip }),
            ...(e.proven === undefined ? {} : { proven: e.proven }),
          })),
          ...(heights === undefined ? {} : { heights }),
        };
      }),
      Array.from(this.refs.values(), (r) => ({ id: r.id, index: r.index, chain: r.chain, url: r.upstream.url })),
      new Map([...this.measurement.chainHeads(), ...this.chains.tips()]),
    );
  }

  /** Closes the measurement window now, workers' parts included (tests drive windows by hand). */
  async closeWindow(): Promise<void> {
    await this.workers?.collect();
    this.measurement.closeWindow();
    await this.controlLoop.idle();
  }

  /** What the per-operator gauges show. */
  private *operatorStatuses(): IterableIterator<OperatorStatus> {
    for (const s of this.core.states()) {
      const weight = this.weightOf(s);
      const violations = new Map<string, { type: string; severity: string; count: number }>();
      for (const v of s.violations) {
        const key = `${v.type}/${v.severity}`;
        const entry = violations.get(key) ?? { type: v.type, severity: v.severity, count: 0 };
        entry.count++;
        violations.set(key, entry);
      }
      yield {
        id: s.id,
        chain: s.chain,
        score: s.performanceScore,
        stakeEth: Number(s.active / WEI_PER_GWEI) / 1e9,
        weight: weight ?? 0,
        eligible: weight !== undefined,
        jailed: s.jailedUntil > this.core.now(),
        violations: violations.values(),
        slashedEth: this.slashedByType(s),
      };
    }
  }

  /** The gateway's judgment of itself in the last window, for /v1/status. */
  private gatewayStatusJson(): Record<string, unknown> {
    const j = this.controlLoop.gatewayJudgment;
    const h = j.health;
    return {
      overloaded: j.overloaded,
      reasons: j.reasons,
      overloadedWindows: j.overloadedWindows,
      lastOverloadedWindowEnd: j.lastOverloadedWindowEnd,
      eventLoopDelayP99Ms: h?.eventLoopDelayP99Ms ?? null,
      eventLoopUtilization: h?.eventLoopUtilization ?? null,
      poolQueued: h?.poolQueued ?? null,
      poolWaitMaxMs: h?.poolWaitMaxMs ?? null,
      threads: h?.threads ?? [],
    };
  }

  /** An operator's chain state for the admin API: admitted or why not, head, lag. */
  private operatorChainJson(id: string): Record<string, unknown> | undefined {
    // Registered a moment ago: the chain state has not seen it yet.
    const view = this.chains.view(id) ?? { admitted: false, reason: 'awaiting_probe', head: null, lagBlocks: null, lagSeconds: null, atTip: false, safe: null, finalized: null };
    const admitted = view.admitted || !this.config.routing.chainAware;
    return {
      admitted,
      // Trust before traffic: null once proven, else how many agreeing answers it has of how many.
      proving: this.proving.progress(id),
      chainState: {
        reason: admitted ? null : view.reason,
        head: view.head,
        lagBlocks: view.lagBlocks,
        lagSeconds: view.lagSeconds,
        atTip: view.atTip,
        safe: view.safe,
        finalized: view.finalized,
      },
    };
  }

  /** Per chain: served heights, each operator's admission and lag, admissions and routing decisions since start. */
  private *chainStatuses(): IterableIterator<ChainStatus> {
    const routingCounts = this.dataPlane?.forwarder.chainReads.routingCounts ?? this.workers!.routingCounts;
    for (const summary of this.chains.summaries()) {
      const chain = summary.chain;
      const counts = routingCounts.get(chain);
      yield {
        chain,
        tip: summary.tip,
        safe: summary.safe,
        finalized: summary.finalized,
        operators: Array.from(this.chains.operatorViews(chain), ({ id, view }) => ({ id, admitted: view.admitted, lagBlocks: view.lagBlocks, lagSeconds: view.lagSeconds })),
        admissions: Array.from(this.chains.admissionCounts(chain), ([result, count]) => ({ result, count })),
        routing: ROUTING_REASONS.map((reason, i) => ({ reason, count: counts?.[i] ?? 0 })),
      };
    }
  }

  /** Slashed ETH by violation type, from the violations kept on the operator's record (the last 100). */
  private slashedByType(s: OperatorState): { type: string; eth: number }[] {
    const byType = new Map<string, bigint>();
    for (const v of s.violations) byType.set(v.type, (byType.get(v.type) ?? 0n) + BigInt(v.slashedWei ?? '0'));
    return Array.from(byType, ([type, wei]) => ({ type, eth: Number(wei / WEI_PER_GWEI) / 1e9 }));
  }

  private registerMetricsRoute(): void {
    const registry = createMetricsRegistry(this.measurement, {
      operatorStatuses: () => this.operatorStatuses(),
      inflightRequests: () => (this.dataPlane?.forwarder.inflightRequests ?? 0) + (this.workers?.inflightRequests ?? 0),
      chainStatuses: () => this.chainStatuses(),
      memoryBudget: () => this.dataPlane?.budget ?? this.workers!.memoryBudget,
      gatewayJudgment: () => this.controlLoop.gatewayJudgment,
    });
    this.adminServer.scrapeRoute('/metrics', this.config.admin.metricsToken, async () => {
      try {
        return { contentType: registry.contentType, body: await registry.metrics() };
      } catch (err) {
        // The scraper gets a 500; the count shows on the next scrape that works.
        reportInternalError('metrics_scrape', err);
        throw err;
      }
    });
  }

  private async release(): Promise<void> {
    // Stopped already on a graceful stop; here for a start that failed after they listened.
    await this.workers?.stop(0);
    this.dataPlane?.server.close();
    this.adminServer.close();
    await Promise.all([...this.refs.values()].map((ref) => ref.upstream.close()));
    this.measurement.destroy();
    this.stopLoggingInternalErrors();
    await this.leases?.close();
    await this.core.store.close();
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (bounded by
   * shutdownGraceMs), let the control loop finish its window, then close every socket,
   * pool and the store. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.dataPlane?.server.stopAccepting();
      await Promise.all([this.dataPlane?.forwarder.drain(this.config.shutdownGraceMs), this.workers?.stop(this.config.shutdownGraceMs)]);
      this.measurement.stop();
      await this.prober.stop();
      await this.controlLoop.idle();
      await this.release();
      this.logger.info('gateway stopped');
      this.logger.flush();
    })();
    return this.stopping;
  }
}

/**
 * Where rate-limit buckets lease from: the fleet's Redis (one budget for every gateway on it),
 * or this process's shared buckets when several workers must share one budget; undefined when
 * the one data plane's buckets refill locally.
 */
function sharedRateLimitBuckets(config: Config, workerCount: number): (LeaseSource & { close(): unknown }) | undefined {
  const rl = config.rateLimit;
  if (!rl.enabled) return undefined;
  if (rl.store === 'auto' && config.redisUrl !== undefined) {
    return new RedisLeaseSource(config.redisUrl, { keyPrefix: `${config.staking.redisKeyPrefix}rl:` });
  }
  return workerCount > 1 ? new SharedBuckets() : undefined;
}

/**
 * `port` (or, for 0, a port the kernel picks) once an exclusive bind of it succeeded and was
 * closed: the data-plane workers bind it with SO_REUSEPORT, which would silently share it
 * with another gateway already listening there. A Node listener sets no SO_REUSEPORT, so
 * this bind fails if any socket holds the port. A process of the same user binding the port
 * with SO_REUSEPORT between this check and the workers' binds (another gateway's workers
 * passing their own check at the same moment) is found after them (strangersOnPort); once
 * the workers listen, every later exclusive bind, and so every later gateway's check, fails.
 */
function unheldPort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`cannot listen on ${host}:${port}: address in use`) : err),
    );
    server.listen(port, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
