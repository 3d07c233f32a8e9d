/**
 * Downtime through the running gateway (its own window timer and health prober, real
 * sockets, real clock) with windows shorter than the probe interval: most windows then have
 * no probe and no traffic, and must neither convict nor clear. An operator dead from its
 * registration (a port nothing listens on) must still be convicted of downtime, with evidence
 * it can check; the healthy ones never are.
 */
import * as net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import type { OutageTally } from '../../src/staking/records.js';
import { SimulatedOperator } from '../../src/sim/index.js';
import { INSTANT } from '../support/stack.js';
import { until } from '../support/until.js';

const WINDOW_SECONDS = 1;
const PROBE_INTERVAL_MS = 2_500;
const DOWNTIME_MIN_SECONDS = 4;

let sims: SimulatedOperator[] = [];
let gateway: Gateway | undefined;

/** A loopback port that refuses connections: listened on once, then closed. */
async function refusingPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  sims = [new SimulatedOperator({ name: 'op0', profile: INSTANT }), new SimulatedOperator({ name: 'op1', profile: INSTANT })];
  await Promise.all(sims.map((s) => s.start()));
  const deadUrl = `http://127.0.0.1:${await refusingPort()}`;
  gateway = await Gateway.start(
    parseConfig({
      logLevel: 'silent',
      rpc: { port: 0 },
      admin: { port: 0 },
      windowSeconds: WINDOW_SECONDS,
      // Probes every 2.5 s whatever the chain's block time: one window in two or three has one.
      probes: { intervalMs: PROBE_INTERVAL_MS, minIntervalMs: PROBE_INTERVAL_MS, timeoutMs: 500 },
      staking: { thresholds: { downtimeMinSeconds: DOWNTIME_MIN_SECONDS } },
      operators: [
        ...sims.map((s, i) => ({ id: `op${i}`, url: s.url, stake: '2000000000000000000' })),
        { id: 'dead', url: deadUrl, stake: '2000000000000000000' },
      ],
    }),
    { autoMeasure: true },
  );
});

afterAll(async () => {
  await gateway?.stop();
  await Promise.all(sims.map((s) => s.stop()));
});

it('convicts an operator dead from its registration of downtime, with windows shorter than the probe interval', async () => {
  const core = gateway!.core;
  const downtime = () => core.state('dead')!.violations.find((v) => v.type === 'downtime');
  // Down from the first probe; convicted at the first probed window once 4 s have passed (about 5-8 s in).
  await until(() => downtime() !== undefined, 'a downtime violation for the dead operator', 25_000);
  const v = downtime()!;
  const evidence = v.evidence as {
    downSince: number;
    windowStart: number;
    windowEnd: number;
    probesSent: number;
    probesUnreachable: number;
    lastProbeAt: number | null;
    lastProbeFailure: string | null;
    outage: OutageTally;
  };
  // Most windows had no probe: the outage still runs from the first one.
  expect(evidence.windowEnd - evidence.downSince).toBeGreaterThanOrEqual(DOWNTIME_MIN_SECONDS * 1000);
  expect(v.durationMinutes).toBeGreaterThanOrEqual(DOWNTIME_MIN_SECONDS / 60);
  expect(evidence.outage.probesSent).toBeGreaterThanOrEqual(2);
  expect(evidence.outage.probesUnreachable).toBe(evidence.outage.probesSent);
  expect(evidence.outage.downWindows).toBeLessThan((evidence.windowEnd - evidence.downSince) / (WINDOW_SECONDS * 1000));
  expect(evidence.outage.lastProbeFailure).toBe('connect');
  expect(evidence.outage.firstProbeAt).toBeGreaterThanOrEqual(evidence.downSince);
  // The window that convicted had its own refused probe, inside it.
  expect(evidence.probesSent).toBeGreaterThan(0);
  expect(evidence.probesUnreachable).toBe(evidence.probesSent);
  expect(evidence.lastProbeFailure).toBe('connect');
  expect(evidence.lastProbeAt).toBeGreaterThanOrEqual(evidence.windowStart);
  expect(evidence.lastProbeAt).toBeLessThanOrEqual(evidence.windowEnd);
  expect(v.description).toContain('probes unreachable');
  // And the healthy operators, judged on the same short windows, are never blamed.
  for (const id of ['op0', 'op1']) expect(core.state(id)!.violations, id).toEqual([]);
  expect(core.state('dead')!.violations.every((x) => x.type === 'downtime')).toBe(true);
}, 40_000);
