/**
 * The composition root: builds the router, the admin listener and the operator registry
 * from a validated Config, wires them, and owns start and stop. The router never imports
 * the staking side; this file turns stakes and scores into the weights table it reads.
 */
import type { Config } from './config.js';
import { operatorChain } from './config.js';
import { AdminError, AdminServer } from './admin/admin-server.js';
import { createLogger, type Logger } from './log.js';
import { HealthProber } from './metrics/health-prober.js';
import { initLatencyHistograms } from './metrics/latency-histogram.js';
import { Measurement } from './metrics/measurement.js';
import { createMetricsRegistry, type OperatorStatus } from './metrics/prometheus.js';
import { Forwarder } from './router/forward.js';
import { ChainRoute, type OperatorRef, type RandomSource, RoutingState, type WeightedOperator } from './router/routing-table.js';
import { RpcServer } from './router/rpc-server.js';
import { Upstream } from './router/upstream.js';
import { routingWeight } from './staking/weights.js';

export interface OperatorRegistration {
  readonly id: string;
  readonly url: string;
  readonly chain: string;
  readonly stakeWei: bigint;
  readonly score: number;
}

interface RegisteredOperator extends OperatorRegistration {
  readonly ref: OperatorRef;
}

export interface GatewayOptions {
  readonly logger?: Logger;
  readonly random?: RandomSource;
  /** The measurement clock (ms); tests inject one to close windows by hand. */
  readonly now?: () => number;
  /** Start the window timer and the health probes (default true); tests drive them by hand. */
  readonly autoMeasure?: boolean;
}

export class Gateway {
  readonly routing = new RoutingState();
  readonly measurement: Measurement;
  readonly prober: HealthProber;
  readonly logger: Logger;
  private readonly forwarder: Forwarder;
  private readonly rpcServer: RpcServer;
  private readonly adminServer: AdminServer;
  private readonly operators = new Map<string, RegisteredOperator>();
  private nextIndex = 0;
  private stopping: Promise<void> | undefined;

  private constructor(readonly config: Config, options: GatewayOptions) {
    this.logger = options.logger ?? createLogger(config.logLevel);
    this.measurement = new Measurement({ windowSeconds: config.windowSeconds, ...(options.now ? { now: options.now } : {}) });
    this.prober = new HealthProber(() => Array.from(this.operators.values(), (op) => op.ref), this.measurement, config.probes);
    this.forwarder = new Forwarder(
      this.routing,
      this.measurement,
      {
        maxAttempts: config.upstream.maxAttempts,
        attemptTimeoutMs: config.upstream.attemptTimeoutMs,
        requestDeadlineMs: config.upstream.requestDeadlineMs,
        maxBatchSize: config.limits.maxBatchSize,
      },
      options.random,
      (err) => this.logger.error({ err }, 'internal error while answering a request'),
    );
    this.rpcServer = new RpcServer(this.forwarder, this.routing, {
      host: config.rpc.host,
      port: config.rpc.port,
      maxBodyBytes: config.limits.maxBodyBytes,
      allowOrigin: config.cors.allowOrigin,
      defaultChain: config.defaultChain,
    });
    this.adminServer = new AdminServer({ host: config.admin.host, port: config.admin.port, token: config.admin.token });
    this.registerAdminRoutes();
    this.registerMetricsRoute();
    for (const op of config.operators) {
      this.addOperator({ id: op.id, url: op.url, chain: operatorChain(config, op), stakeWei: BigInt(op.stake), score: op.score });
    }
  }

  /** Builds the gateway and opens both listeners. */
  static async start(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
    await initLatencyHistograms();
    const gateway = new Gateway(config, options);
    try {
      await gateway.rpcServer.listen();
      await gateway.adminServer.listen();
    } catch (err) {
      gateway.rpcServer.close();
      gateway.adminServer.close();
      await Promise.all([...gateway.operators.values()].map((op) => op.ref.upstream.close()));
      gateway.measurement.destroy();
      throw err;
    }
    if (options.autoMeasure !== false) {
      gateway.measurement.start();
      gateway.prober.start();
    }
    gateway.logger.info(
      { rpc: gateway.rpcUrl, admin: gateway.adminUrl, operators: gateway.operators.size, ready: gateway.routing.current.ready },
      'gateway listening',
    );
    if (config.admin.token === undefined) gateway.logger.warn('no admin token configured: the admin API on loopback is open to local users');
    return gateway;
  }

  get rpcUrl(): string {
    return `http://${this.config.rpc.host}:${this.rpcServer.port}/`;
  }

  get adminUrl(): string {
    return `http://${this.config.admin.host}:${this.adminServer.port}/`;
  }

  /** Adds an operator and its pool, then republishes the routing table. */
  addOperator(registration: OperatorRegistration): OperatorRef {
    if (this.operators.has(registration.id)) throw new Error(`operator ${registration.id} is already registered`);
    const upstream = new Upstream(registration.url, {
      connections: this.config.upstream.connections,
      pipelining: this.config.upstream.pipelining,
      keepAliveTimeoutMs: this.config.upstream.keepAliveTimeoutMs,
      maxResponseBytes: this.config.limits.maxResponseBytes,
    });
    const ref: OperatorRef = Object.freeze({ id: registration.id, index: this.nextIndex++, chain: registration.chain, upstream });
    this.measurement.addOperator(ref.index, ref.id, ref.chain);
    this.operators.set(registration.id, { ...registration, ref });
    this.publishRoutes();
    return ref;
  }

  /** The staking side's hook: new stake and score for an operator take effect in one swap. */
  updateOperator(id: string, change: { stakeWei?: bigint; score?: number }): void {
    const current = this.operators.get(id);
    if (current === undefined) throw new Error(`unknown operator ${id}`);
    this.operators.set(id, { ...current, ...change });
    this.publishRoutes();
  }

  operator(id: string): OperatorRegistration | undefined {
    return this.operators.get(id);
  }

  /** Rebuilds every chain's weighted table from the registry and swaps it in. */
  private publishRoutes(): void {
    const byChain = new Map<string, WeightedOperator[]>();
    for (const op of this.operators.values()) {
      let list = byChain.get(op.chain);
      if (list === undefined) byChain.set(op.chain, (list = []));
      const weight = routingWeight(op.stakeWei, op.score);
      if (weight > 0) list.push({ operator: op.ref, weight });
    }
    const routes = [...byChain].map(([chain, list]) => new ChainRoute(chain, list, this.config.routing.explorationShare));
    this.routing.publish(routes);
  }

  /** What the per-operator gauges show; the staking ledger replaces the config's stake and score. */
  private *operatorStatuses(): IterableIterator<OperatorStatus> {
    for (const op of this.operators.values()) {
      const weight = routingWeight(op.stakeWei, op.score);
      yield {
        id: op.id,
        chain: op.chain,
        score: op.score,
        stakeEth: Number(op.stakeWei / 1_000_000_000n) / 1e9,
        weight,
        eligible: weight > 0,
        jailed: false,
        violations: [],
        slashedEth: [],
      };
    }
  }

  private registerMetricsRoute(): void {
    const registry = createMetricsRegistry(this.measurement, {
      operatorStatuses: () => this.operatorStatuses(),
      inflightRequests: () => this.forwarder.inflightRequests,
    });
    this.adminServer.scrapeRoute('/metrics', this.config.admin.metricsToken, async () => ({
      contentType: registry.contentType,
      body: await registry.metrics(),
    }));
  }

  private registerAdminRoutes(): void {
    const view = (op: RegisteredOperator) => ({
      id: op.id,
      url: op.url,
      chain: op.chain,
      stake: op.stakeWei.toString(),
      score: op.score,
      weight: routingWeight(op.stakeWei, op.score),
    });
    this.adminServer
      .route('get', '/v1/status', 0, () => {
        const chains: Record<string, number> = {};
        for (const route of this.routing.current.routes) chains[route.chain] = route.operators.length;
        return {
          status: 200,
          body: { ready: this.routing.current.ready, totalOperators: this.operators.size, eligibleByChain: chains, inflightRequests: this.forwarder.inflightRequests },
        };
      })
      .route('get', '/v1/operators', 0, () => ({ status: 200, body: { operators: [...this.operators.values()].map(view) } }))
      .route('get', '/v1/operators/:id', 1, ({ params }) => {
        const op = this.operators.get(params[0]!);
        if (op === undefined) throw new AdminError(404, 'OPERATOR_NOT_FOUND', `no operator "${params[0]}"`);
        return { status: 200, body: view(op) };
      });
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (bounded by
   * shutdownGraceMs), then close every socket and pool. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.rpcServer.stopAccepting();
      await this.forwarder.drain(this.config.shutdownGraceMs);
      this.measurement.stop();
      await this.prober.stop();
      this.rpcServer.close();
      this.adminServer.close();
      await Promise.all([...this.operators.values()].map((op) => op.ref.upstream.close()));
      this.measurement.destroy();
      this.logger.info('gateway stopped');
      this.logger.flush();
    })();
    return this.stopping;
  }
}
