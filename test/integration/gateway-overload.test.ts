/**
 * The gateway judges itself first (issue 18): an operator's latency is its own time, from the
 * request's last byte written to the answer's first byte read, never time queued in the
 * gateway's pools or event loop; and a window in which the gateway itself was saturated, or
 * every operator of a chain degraded at once, convicts no operator of performance_threshold.
 * Real sockets: a gateway in front of simulated operators, windows closed by hand on an
 * injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { post, rpc, type Stack, startStack } from '../support/stack.js';
import { until } from '../support/until.js';
import { saturateEventLoop } from '../support/event-loop.js';

const WINDOW_MS = 10_000;
const ADDRESS = '0x742d35cc6634c0532925a3b844bc9e7595f0beb0';

let stack: Stack | undefined;
let stopBlocking: (() => void) | undefined;
afterEach(async () => {
  stopBlocking?.();
  stopBlocking = undefined;
  await stack?.stop();
  stack = undefined;
});

/** A clock the windows run on: each close moves it one window on. */
function windowClock() {
  let t = Date.now();
  return { now: () => t, advance: () => (t += WINDOW_MS) };
}

/** `count` balance reads sent all at once; every one must be answered. */
async function burst(url: string, count: number): Promise<void> {
  const replies = await Promise.all(Array.from({ length: count }, (_, i) => post(url, rpc('eth_getBalance', i, [ADDRESS, 'latest']))));
  for (const r of replies) expect(r.status).toBe(200);
}

const performanceViolations = (s: Stack, id: string) => s.gateway.core.state(id)!.violations.filter((v) => v.type === 'performance_threshold');

async function scrape(s: Stack): Promise<string> {
  const res = await fetch(`${s.gateway.adminUrl}metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

const gauge = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe("an operator's latency is its own time", () => {
  it('is the operator\'s answer time, not the time a request waited for one of the pool\'s connections', async () => {
    const clock = windowClock();
    // One connection, no pipelining: 12 requests at once wait behind each other, up to 11 × 60 ms.
    stack = await startStack({
      operators: [{ profile: { latencyMs: { median: 60, p99: 60 } } }],
      config: { windowSeconds: 10, upstream: { connections: 1, pipelining: 1 } },
      now: clock.now,
    });
    await burst(stack.url, 12);
    clock.advance();
    await stack.gateway.closeWindow();
    const w = stack.recorder.latest(0)!;
    expect(w.requests).toBe(12);
    // The sim's 60 ms (plus loopback), however long each request queued in the gateway.
    expect(w.p50Latency).toBeGreaterThanOrEqual(55);
    expect(w.p95Latency).toBeLessThan(150);
    expect(w.maxLatency).toBeLessThan(150);
  });
});

describe('the gateway judges itself first', () => {
  it('slashes no honest operator while its own event loop is saturated, and says it was overloaded', async () => {
    const clock = windowClock();
    stack = await startStack({ operators: [{}, {}, {}], config: { windowSeconds: 10 }, now: clock.now });
    stopBlocking = saturateEventLoop(300, 20);
    for (let window = 0; window < 4; window++) {
      await burst(stack.url, 45);
      clock.advance();
      await stack.gateway.closeWindow();
    }
    const overloadedText = await scrape(stack);
    stopBlocking();
    stopBlocking = undefined;
    for (const id of ['op0', 'op1', 'op2']) expect(performanceViolations(stack, id)).toEqual([]);
    for (const id of ['op0', 'op1', 'op2']) expect(stack.gateway.core.state(id)!.slashed).toBe(0n);
    // Nor demoted: the attempts that timed out while the loop was blocked are not held against them.
    for (const id of ['op0', 'op1', 'op2']) expect(stack.gateway.core.state(id)!.probation).toBe(false);

    expect(gauge(overloadedText, 'din_gateway_overloaded')).toBe(1);
    expect(gauge(overloadedText, 'din_gateway_overloaded_windows_total')).toBeGreaterThanOrEqual(4);
    expect(gauge(overloadedText, 'din_gateway_event_loop_delay_seconds')).toBeGreaterThan(0.1);
    expect(gauge(overloadedText, 'din_gateway_event_loop_utilization')).toBeGreaterThan(0.5);
    const status = (await (await fetch(`${stack.gateway.adminUrl}v1/status`)).json()) as { gateway: { overloaded: boolean; overloadedWindows: number; reasons: string[] } };
    expect(status.gateway.overloaded).toBe(true);
    expect(status.gateway.overloadedWindows).toBeGreaterThanOrEqual(4);
    expect(status.gateway.reasons.join(' ')).toMatch(/event loop/);

    // The loop free again: the window it was blocked in closes, then the next is the gateway's normal
    // one (traffic, then an idle stretch as in any real window at this load).
    clock.advance();
    await stack.gateway.closeWindow();
    await burst(stack.url, 45);
    const since = performance.eventLoopUtilization();
    await until(() => performance.eventLoopUtilization(since).idle > 300, 'an idle stretch in the window');
    clock.advance();
    await stack.gateway.closeWindow();
    expect(gauge(await scrape(stack), 'din_gateway_overloaded')).toBe(0);
    for (const id of ['op0', 'op1', 'op2']) expect(stack.gateway.core.state(id)!.slashed).toBe(0n);
  }, 60_000);

  it('still catches a genuinely slow operator among healthy ones, while requests queue in the pools', async () => {
    const clock = windowClock();
    // Two operators within target (100 ms) and one beyond it (400 ms); four connections each, so
    // 20 requests per operator at once wait for a connection several answers long.
    stack = await startStack({
      operators: [
        { profile: { latencyMs: { median: 100, p99: 100 } } },
        { profile: { latencyMs: { median: 100, p99: 100 } } },
        { profile: { latencyMs: { median: 400, p99: 400 } } },
      ],
      config: { windowSeconds: 10, upstream: { connections: 4, pipelining: 1 }, routing: { explorationShare: 0 } },
      now: clock.now,
    });
    for (let window = 0; window < 8 && performanceViolations(stack, 'op2').length === 0; window++) {
      await burst(stack.url, 60);
      clock.advance();
      await stack.gateway.closeWindow();
    }
    expect(performanceViolations(stack, 'op2')).not.toEqual([]);
    expect(performanceViolations(stack, 'op0')).toEqual([]);
    expect(performanceViolations(stack, 'op1')).toEqual([]);
    // The healthy ones' windows show their own 100 ms, not the queue in front of them.
    expect(stack.recorder.latest(0)!.p95Latency).toBeLessThan(200);
    expect(gauge(await scrape(stack), 'din_gateway_overloaded')).toBe(0);
  }, 60_000);
});

describe("every data-plane thread's health", () => {
  it('comes with each worker\'s part of the window, beside the main thread\'s', async () => {
    stack = await startStack({ operators: [{}, {}], config: { workers: 2 } });
    await burst(stack.url, 20);
    await stack.gateway.closeWindow();
    const status = (await (await fetch(`${stack.gateway.adminUrl}v1/status`)).json()) as { gateway: { overloaded: boolean; threads: { thread: string; eventLoopUtilization: number }[] } };
    expect(status.gateway.threads.map((t) => t.thread).sort()).toEqual(['main', 'worker-0', 'worker-1']);
    for (const t of status.gateway.threads) expect(t.eventLoopUtilization).toBeGreaterThanOrEqual(0);
    const text = await scrape(stack);
    for (const thread of ['main', 'worker-0', 'worker-1']) expect(text).toContain(`din_gateway_event_loop_utilization{thread="${thread}"}`);
  });
});
