/**
 * The Prometheus exposition. A private registry; every din_ family is read from the
 * measurement layer's typed arrays at scrape time, so the request path never touches
 * prom-client (no label hashing per request) and a scrape costs the same whatever the
 * traffic. Label values are bounded: methods by METHOD_LABELS, operators by the registry.
 */
import { collectDefaultMetrics, type MetricValue, Registry } from 'prom-client';
import { ATTEMPT_OUTCOMES, CLIENT_FAULTS } from './attempt-recorder.js';
import { INTERNAL_ERROR_SITES, internalErrorCount } from './internal-errors.js';
import type { Measurement } from './measurement.js';
import { METHOD_LABELS } from './method-labels.js';
import type { GatewayJudgment, ThreadHealth } from './gateway-health.js';
import type { WindowMetrics } from './window-metrics.js';
import { LATENCY_BUCKETS_MICROS, type OperatorMeter } from './operator-meter.js';

/** What the staking side knows about an operator, for the per-operator gauges. */
export interface OperatorStatus {
  readonly id: string;
  readonly chain: string;
  readonly score: number;
  readonly stakeEth: number;
  readonly weight: number;
  readonly eligible: boolean;
  readonly jailed: boolean;
  readonly violations: Iterable<{ readonly type: string; readonly severity: string; readonly count: number }>;
  readonly slashedEth: Iterable<{ readonly type: string; readonly eth: number }>;
}

/** What the chain state knows of one chain, for the chain gauges and counters. */
export interface ChainStatus {
  readonly chain: string;
  /** The served heights (null: unknown). */
  readonly tip: number | null;
  readonly safe: number | null;
  readonly finalized: number | null;
  readonly operators: Iterable<{ readonly id: string; readonly admitted: boolean; readonly lagBlocks: number | null; readonly lagSeconds: number | null }>;
  /** Admission decisions since start, by result (admitted, or why not). */
  readonly admissions: Iterable<{ readonly result: string; readonly count: number }>;
  /** Requests chain-aware routing narrowed, rerouted or changed since start, by reason. */
  readonly routing: Iterable<{ readonly reason: string; readonly count: number }>;
}

export interface StatusSource {
  operatorStatuses(): Iterable<OperatorStatus>;
  /** Per chain: served heights, admission and lag (chain-aware routing). */
  chainStatuses?(): Iterable<ChainStatus>;
  inflightRequests(): number;
  /** The data plane's memory budget, all threads together. */
  memoryBudget(): { readonly used: number; readonly limit: number; readonly refusals: number };
  /** The gateway's judgment of its own health in the last window. */
  gatewayJudgment?(): GatewayJudgment;
}

type Labels = Record<string, string | number>;
type Sample = MetricValue<string> & { metricName?: string };

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Sample[] }>;
  reset(): void;
}

function family(name: string, help: string, type: Family['type'], collect: () => Sample[]): Family {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: collect() }),
    reset: () => {},
  };
}

const sample = (labels: Labels, value: number, metricName?: string): Sample =>
  metricName === undefined ? { labels, value } : { labels, value, metricName };

/** The din_ metric families, by name; the dashboard test checks its queries against this list. */
export const METRIC_FAMILIES = [
  'din_upstream_requests_total',
  'din_upstream_request_duration_seconds',
  'din_probes_total',
  'din_client_faults_total',
  'din_inflight_requests',
  'din_memory_budget_bytes',
  'din_memory_budget_refusals_total',
  'din_operator_window_latency_seconds',
  'din_operator_window_success_ratio',
  'din_operator_window_uptime_ratio',
  'din_operator_window_requests_per_second',
  'din_operator_head_lag_blocks',
  'din_operator_head_block',
  'din_operator_performance_score',
  'din_operator_stake_eth',
  'din_operator_routing_weight',
  'din_operator_eligible',
  'din_operator_jailed',
  'din_operator_violations_total',
  'din_operator_slashed_eth_total',
  'din_chain_block',
  'din_operator_lag_blocks',
  'din_operator_lag_seconds',
  'din_operator_admitted',
  'din_admissions_total',
  'din_chain_routing_total',
  'din_gateway_event_loop_delay_seconds',
  'din_gateway_event_loop_utilization',
  'din_gateway_pool_queued_requests',
  'din_gateway_pool_wait_seconds',
  'din_gateway_overloaded',
  'din_gateway_overloaded_windows_total',
  'din_window_close_duration_seconds',
  'din_windows_closed_total',
  'din_internal_errors_total',
] as const;

export function createMetricsRegistry(measurement: Measurement, status: StatusSource): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'din_' });
  // prom-client names these gauges with a `_total` suffix, which Prometheus reserves for
  // counters (promtool rejects them); the same values stay exposed without the suffix.
  for (const misnamed of ['din_nodejs_active_handles_total', 'din_nodejs_active_requests_total', 'din_nodejs_active_resources_total']) {
    registry.removeSingleMetric(misnamed);
  }
  const OUTCOMES = ATTEMPT_OUTCOMES.length;

  const perMeter = (collect: (m: OperatorMeter, out: Sample[]) => void) => () => {
    const out: Sample[] = [];
    for (const m of measurement.allMeters()) collect(m, out);
    return out;
  };
  const latestGauge = (pick: (w: WindowMetrics) => number | null) =>
    perMeter((m, out) => {
      const w = m.latest;
      const value = w === undefined ? null : pick(w);
      if (value !== null) out.push(sample({ chain: m.chain, operator: m.operatorId }, value));
    });

  const families: Family[] = [
    family('din_upstream_requests_total', 'Attempts sent to operators for clients, by method and outcome.', 'counter', perMeter((m, out) => {
      const counts = m.attemptsByMethodOutcome;
      for (let method = 0; method < METHOD_LABELS.length; method++) {
        for (let o = 0; o < OUTCOMES; o++) {
          const n = counts[method * OUTCOMES + o]!;
          if (n > 0) out.push(sample({ chain: m.chain, operator: m.operatorId, method: METHOD_LABELS[method]!, outcome: ATTEMPT_OUTCOMES[o]! }, n));
        }
      }
    })),
    family('din_upstream_request_duration_seconds', 'Latency of attempts that reached an operator (connection refusals excluded).', 'histogram', perMeter((m, out) => {
      const labels = { chain: m.chain, operator: m.operatorId };
      let cumulative = 0;
      for (let b = 0; b < LATENCY_BUCKETS_MICROS.length; b++) {
        cumulative += m.latencyBuckets[b]!;
        out.push(sample({ ...labels, le: LATENCY_BUCKETS_MICROS[b]! / 1e6 }, cumulative, 'din_upstream_request_duration_seconds_bucket'));
      }
      out.push(sample({ ...labels, le: '+Inf' }, m.latencyCount, 'din_upstream_request_duration_seconds_bucket'));
      out.push(sample(labels, m.latencySumSeconds, 'din_upstream_request_duration_seconds_sum'));
      out.push(sample(labels, m.latencyCount, 'din_upstream_request_duration_seconds_count'));
    })),
    family('din_probes_total', 'Health probes (eth_chainId + eth_blockNumber) by result.', 'counter', perMeter((m, out) => {
      out.push(sample({ chain: m.chain, operator: m.operatorId, result: 'ok' }, m.probeTotals.ok));
      out.push(sample({ chain: m.chain, operator: m.operatorId, result: 'failed' }, m.probeTotals.failed));
    })),
    family('din_client_faults_total', 'Requests the gateway answered itself: the client sent something invalid, was over its rate limit, or had no valid API key.', 'counter', () =>
      CLIENT_FAULTS.map((reason, i) => sample({ reason }, measurement.clientFaults[i]!))),
    family('din_inflight_requests', 'Client requests being answered right now.', 'gauge', () => [sample({}, status.inflightRequests())]),
    family('din_memory_budget_bytes', 'Bytes buffered for requests in flight (used) and the budget for them (limit).', 'gauge', () => {
      const budget = status.memoryBudget();
      return [sample({ state: 'used' }, budget.used), sample({ state: 'limit' }, budget.limit)];
    }),
    family('din_memory_budget_refusals_total', 'Requests refused with OVERLOADED because the memory budget was spent.', 'counter', () => [sample({}, status.memoryBudget().refusals)]),
    family('din_operator_window_latency_seconds', 'Latency percentiles of the last closed window, from its HDR histogram.', 'gauge', perMeter((m, out) => {
      const w = m.latest;
      if (w === undefined || w.requests === 0) return;
      // `percentile`, not `quantile`: Prometheus keeps that label for summaries.
      for (const [percentile, ms] of [['50', w.p50Latency], ['95', w.p95Latency], ['99', w.p99Latency]] as const) {
        out.push(sample({ chain: m.chain, operator: m.operatorId, percentile }, ms / 1000));
      }
    })),
    family('din_operator_window_success_ratio', 'Share of valid answers in the last closed window (0-1).', 'gauge', latestGauge((w) => w.successRate / 100)),
    family('din_operator_window_uptime_ratio', 'Uptime in the last closed window from probes (0-1).', 'gauge', latestGauge((w) => w.uptime / 100)),
    family('din_operator_window_requests_per_second', 'Client attempts per second in the last closed window.', 'gauge', latestGauge((w) => w.requestsPerSecond)),
    family('din_operator_head_lag_blocks', 'Blocks behind the best head seen among the chain\'s operators.', 'gauge', latestGauge((w) => w.headLag)),
    family('din_operator_head_block', 'Latest block number the operator reported to a probe.', 'gauge', perMeter((m, out) => {
      if (m.head !== null) out.push(sample({ chain: m.chain, operator: m.operatorId }, m.head));
    })),
    ...statusFamilies(status),
    ...chainFamilies(status),
    ...gatewayFamilies(status),
    family('din_window_close_duration_seconds', 'Time the last window close took for all operators.', 'gauge', () => [sample({}, measurement.lastCloseMs / 1000)]),
    family('din_windows_closed_total', 'Measurement windows closed since start.', 'counter', () => [sample({}, measurement.windowsClosed)]),
    family('din_internal_errors_total', 'The gateway\'s own failures, caught and survived, by where they were caught (0 when healthy).', 'counter', () =>
      INTERNAL_ERROR_SITES.map((where) => sample({ where }, internalErrorCount(where)))),
  ];
  for (const f of families) registry.registerMetric(f as never);
  return registry;
}

function statusFamilies(status: StatusSource): Family[] {
  const gauge = (name: string, help: string, pick: (s: OperatorStatus) => number) =>
    family(name, help, 'gauge', () => Array.from(status.operatorStatuses(), (s) => sample({ chain: s.chain, operator: s.id }, pick(s))));
  return [
    gauge('din_operator_performance_score', 'Performance score, 0-100.', (s) => s.score),
    gauge('din_operator_stake_eth', 'Active stake in ETH (the ledger keeps exact wei).', (s) => s.stakeEth),
    gauge('din_operator_routing_weight', 'Weight in the routing table (stake x score factor).', (s) => s.weight),
    gauge('din_operator_eligible', '1 when the operator receives weighted traffic.', (s) => (s.eligible ? 1 : 0)),
    gauge('din_operator_jailed', '1 while the operator is jailed.', (s) => (s.jailed ? 1 : 0)),
    family('din_operator_violations_total', 'Violations detected, by type and severity.', 'counter', () => {
      const out: Sample[] = [];
      for (const s of status.operatorStatuses()) {
        for (const v of s.violations) out.push(sample({ chain: s.chain, operator: s.id, type: v.type, severity: v.severity }, v.count));
      }
      return out;
    }),
    family('din_operator_slashed_eth_total', 'Stake slashed, in ETH, by violation type.', 'counter', () => {
      const out: Sample[] = [];
      for (const s of status.operatorStatuses()) {
        for (const v of s.slashedEth) out.push(sample({ chain: s.chain, operator: s.id, type: v.type }, v.eth));
      }
      return out;
    }),
  ];
}

/** The gateway's own health per window, beside the operators' numbers: it judges itself first. */
function gatewayFamilies(status: StatusSource): Family[] {
  const perThread = (pick: (t: ThreadHealth) => number) => () =>
    (status.gatewayJudgment?.().health?.threads ?? []).map((t) => sample({ thread: t.thread }, pick(t)));
  return [
    family('din_gateway_event_loop_delay_seconds', 'Event-loop delay p99 of each data-plane thread in the last closed window.', 'gauge', perThread((t) => t.eventLoopDelayP99Ms / 1000)),
    family('din_gateway_event_loop_utilization', 'Share of the last closed window each thread\'s event loop was busy (0-1).', 'gauge', perThread((t) => t.eventLoopUtilization)),
    family('din_gateway_pool_queued_requests', 'Attempts that waited for a connection of their operator\'s pool in the last closed window (not in any operator\'s latency).', 'gauge', perThread((t) => t.poolQueued)),
    family('din_gateway_pool_wait_seconds', 'The longest wait for a pool connection in the last closed window.', 'gauge', perThread((t) => t.poolWaitMaxMs / 1000)),
    family('din_gateway_overloaded', '1 when the last closed window was the gateway\'s own overload (saturated, or every operator of a chain degraded at once): no operator judged on its performance.', 'gauge', () =>
      [sample({}, status.gatewayJudgment?.().overloaded === true ? 1 : 0)]),
    family('din_gateway_overloaded_windows_total', 'Windows judged the gateway\'s own overload since start.', 'counter', () => [sample({}, status.gatewayJudgment?.().overloadedWindows ?? 0)]),
  ];
}

function chainFamilies(status: StatusSource): Family[] {
  const perChain = (collect: (c: ChainStatus, out: Sample[]) => void) => () => {
    const out: Sample[] = [];
    for (const c of status.chainStatuses?.() ?? []) collect(c, out);
    return out;
  };
  return [
    family('din_chain_block', 'The served heights per chain: latest (the served tip, reached by enough operators), safe, finalized.', 'gauge', perChain((c, out) => {
      for (const [tag, block] of [['latest', c.tip], ['safe', c.safe], ['finalized', c.finalized]] as const) {
        if (block !== null) out.push(sample({ chain: c.chain, tag }, block));
      }
    })),
    family('din_operator_lag_blocks', 'Blocks the operator is behind the served tip.', 'gauge', perChain((c, out) => {
      for (const o of c.operators) if (o.lagBlocks !== null) out.push(sample({ chain: c.chain, operator: o.id }, o.lagBlocks));
    })),
    family('din_operator_lag_seconds', 'Seconds since the served tip passed the operator\'s head (0 at the tip).', 'gauge', perChain((c, out) => {
      for (const o of c.operators) if (o.lagSeconds !== null) out.push(sample({ chain: c.chain, operator: o.id }, o.lagSeconds));
    })),
    family('din_operator_admitted', '1 when a probe confirmed the operator\'s chain id and head: it may get client traffic.', 'gauge', perChain((c, out) => {
      for (const o of c.operators) out.push(sample({ chain: c.chain, operator: o.id }, o.admitted ? 1 : 0));
    })),
    family('din_admissions_total', 'Admission decisions after probes: admitted, or why not.', 'counter', perChain((c, out) => {
      for (const a of c.admissions) out.push(sample({ chain: c.chain, result: a.result }, a.count));
    })),
    family('din_chain_routing_total', 'Requests chain-aware routing narrowed, rerouted or answered itself, by reason.', 'counter', perChain((c, out) => {
      for (const r of c.routing) out.push(sample({ chain: c.chain, reason: r.reason }, r.count));
    })),
  ];
}
