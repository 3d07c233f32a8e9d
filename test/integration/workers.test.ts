/**
 * Several data-plane worker threads on one RPC port, the control plane in the main thread:
 * requests are answered by whichever worker the kernel hands the connection to, and every
 * worker's measurements reach the window, the scores and /metrics.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, post, rpc, startStack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ operators: [{}, {}, {}], config: { workers: 2 } });
}, 60_000);
afterAll(() => stack?.stop());

/** Many short connections, so the kernel spreads them over both workers' listen sockets. */
async function burst(count: number): Promise<number[]> {
  const ids: number[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const dispatcher = new Agent({ connections: 1 });
      try {
        const res = await request(stack.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(rpc('eth_chainId', i)),
          dispatcher,
        });
        const body = (await res.body.json()) as { id: number; result: string };
        expect(body.result).toBe('0x1');
        ids.push(body.id);
      } finally {
        await dispatcher.close();
      }
    }),
  );
  return ids;
}

describe('data-plane workers', () => {
  it('answer JSON-RPC on the shared port, health and readiness included', async () => {
    expect((await fetch(`${stack.url}health`)).status).toBe(200);
    expect((await fetch(`${stack.url}ready`)).status).toBe(200);
    expect((await post(stack.url, [rpc('eth_chainId', 1), rpc('net_version', 2)])).json).toEqual([
      { jsonrpc: '2.0', id: 1, result: '0x1' },
      { jsonrpc: '2.0', id: 2, result: '1' },
    ]);
  });

  it('hand every worker\'s attempts to the window, the scores and /metrics', async () => {
    await stack.gateway.closeWindow(); // start from an empty window
    const ids = await burst(300);
    expect(ids).toHaveLength(300);
    await stack.gateway.closeWindow();
    const windows = [0, 1, 2].map((i) => stack.gateway.measurement.latest(i)!);
    expect(windows.reduce((n, w) => n + w.successes, 0)).toBe(300);
    for (const w of windows) {
      expect(w.requests).toBeGreaterThan(0);
      expect(w.p50Latency).toBeGreaterThan(0);
    }
    const metrics = await (await fetch(`${stack.gateway.adminUrl}metrics`)).text();
    const total = metrics
      .split('\n')
      .filter((l) => l.startsWith('din_upstream_requests_total{') && l.includes('outcome="success"') && l.includes('method="eth_chainId"'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    expect(total).toBeGreaterThanOrEqual(300);
  });

  it('fail over inside a worker when an operator dies', async () => {
    await stack.sims[0]!.stop();
    const ids = await burst(100);
    expect(ids).toHaveLength(100);
    await stack.gateway.closeWindow();
    expect(stack.gateway.measurement.latest(0)!.failures.connect).toBeGreaterThan(0);
    await stack.sims[0]!.restart();
  });
});
