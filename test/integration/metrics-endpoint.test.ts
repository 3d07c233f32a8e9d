/**
 * GET /metrics on the admin listener, after real traffic through real sockets: families,
 * attribution, bounded labels, scrape cost, and `promtool check metrics`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_FAMILIES } from '../../src/metrics/prometheus.js';
import { type Stack, post, rpc, startStack } from '../support/stack.js';

const METRICS_TOKEN = 'scrape-token-0123456789';
let stack: Stack;
let metricsUrl: string;

const scrape = async () => {
  const res = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

/** The sample lines of one family, e.g. `din_upstream_requests_total{...} 3`. */
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

beforeAll(async () => {
  // op0 carries nearly all the weight and always answers 500: every request fails over to op1.
  stack = await startStack({
    operators: [{ profile: { errorRate: 1 }, stakeEth: 1000 }, { stakeEth: 1 }],
    config: { routing: { explorationShare: 0 }, admin: { metricsToken: METRICS_TOKEN } },
  });
  metricsUrl = `${stack.gateway.adminUrl}metrics`;
  for (let i = 0; i < 10; i++) await post(stack.url, rpc('eth_getBalance', i, ['0x742d35cc6634c0532925a3b844bc9e7595f0beb0', 'latest']));
  await post(stack.url, rpc('some_unknown_method', 'x'));
  await post(stack.url, [rpc('eth_chainId', 1), rpc('net_version', 2)]);
  await post(stack.url, '{broken');
  await stack.gateway.prober.probeAll();
  stack.gateway.measurement.closeWindow();
});
afterAll(() => stack.stop());

describe('GET /metrics', () => {
  it('wants the metrics token when one is configured', async () => {
    expect((await fetch(metricsUrl)).status).toBe(401);
    expect((await fetch(metricsUrl, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('exposes every din_ family and the process metrics', async () => {
    const text = await scrape();
    for (const name of METRIC_FAMILIES) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain('din_process_resident_memory_bytes');
  });

  it('attributes each attempt to the operator that made it, by method and outcome', async () => {
    const text = await scrape();
    const line = (labels: string) => samples(text, 'din_upstream_requests_total').find((l) => l.includes(labels));
    expect(line('operator="op0",method="eth_getBalance",outcome="http_5xx"')).toMatch(/ 10$/);
    expect(line('operator="op1",method="eth_getBalance",outcome="success"')).toMatch(/ 10$/);
    // Unknown methods are bounded into `other`; an operator's -32601 is an answer, not a failure.
    expect(line('operator="op1",method="other",outcome="rpc_error"')).toMatch(/ 1$/);
    expect(text).not.toContain('some_unknown_method');
    expect(line('operator="op1",method="batch",outcome="success"')).toMatch(/ 1$/);
    expect(samples(text, 'din_client_faults_total').find((l) => l.includes('reason="parse_error"'))).toMatch(/ 1$/);
  });

  it('shows the last window, probes and the operators\' stake and score', async () => {
    const text = await scrape();
    expect(samples(text, 'din_operator_window_success_ratio').find((l) => l.includes('operator="op0"'))).toMatch(/ 0$/);
    expect(samples(text, 'din_operator_window_success_ratio').find((l) => l.includes('operator="op1"'))).toMatch(/ 1$/);
    expect(samples(text, 'din_operator_window_latency_seconds').filter((l) => l.includes('operator="op1"'))).toHaveLength(3);
    // Probes of op0 fail (HTTP 500), op1's succeed.
    expect(samples(text, 'din_probes_total').find((l) => l.includes('operator="op0",result="failed"'))).toMatch(/ 1$/);
    expect(samples(text, 'din_probes_total').find((l) => l.includes('operator="op1",result="ok"'))).toMatch(/ 1$/);
    expect(samples(text, 'din_operator_head_lag_blocks').find((l) => l.includes('operator="op1"'))).toMatch(/ 0$/);
    expect(samples(text, 'din_operator_stake_eth').find((l) => l.includes('operator="op0"'))).toMatch(/ 1000$/);
    expect(samples(text, 'din_operator_performance_score').find((l) => l.includes('operator="op1"'))).toMatch(/ 100$/);
    const buckets = samples(text, 'din_upstream_request_duration_seconds_bucket').filter((l) => l.includes('operator="op1"'));
    expect(buckets.some((l) => l.includes('le="0.001"'))).toBe(true);
    expect(buckets.at(-1)).toContain('le="+Inf"');
  });

  it('costs the same to scrape whatever the traffic: the series do not grow with requests', async () => {
    // The gateway's own families; Node's runtime metrics (din_process_*, din_nodejs_*) vary on their own.
    const ours = (line: string) => METRIC_FAMILIES.some((f) => line.startsWith(`${f}{`) || line.startsWith(`${f} `) || line.startsWith(`${f}_`));
    const seriesOf = (text: string) => text.split('\n').filter(ours).map((l) => l.replace(/ [^ ]+$/, ''));
    const before = seriesOf(await scrape());
    await Promise.all(Array.from({ length: 200 }, (_, i) => post(stack.url, rpc('eth_getBalance', i, ['0x742d35cc6634c0532925a3b844bc9e7595f0beb0', 'latest']))));
    expect(seriesOf(await scrape())).toEqual(before);
  });

  it('passes promtool check metrics', async () => {
    const promtool = '/usr/bin/promtool';
    if (!existsSync(promtool)) {
      // CI installs Debian's prometheus package; elsewhere say how to get it.
      if (process.env['CI'] === 'true') throw new Error('promtool is missing: .ci/run must install the prometheus package');
      console.warn('promtool not installed (apt-get install prometheus): exposition lint not run');
      return;
    }
    const result = spawnSync(promtool, ['check', 'metrics'], { input: await scrape(), encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
