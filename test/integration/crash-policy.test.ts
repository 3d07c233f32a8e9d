/**
 * The crash policy: a failure on any asynchronous path off the request path (a throwing
 * dependency, a poisoned value) is caught, counted in din_internal_errors_total{where} and
 * survived; the gateway keeps answering. Each case injects one failure into one entry point.
 * The process-level last resort is checked on the CLI in a child process.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WorkerPool } from '../../src/workers/worker-pool.js';
import { type CliGateway, startCliDemo, startCliGateway } from '../support/cli-gateway.js';
import { internalErrors } from '../support/internal-errors.js';
import { startRawOperator, type RawOperator } from '../support/raw-operator.js';
import { post, rpc, type Stack, type StackOptions, startStack } from '../support/stack.js';

let stack: Stack | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await stack?.stop();
  stack = undefined;
});

async function start(options: StackOptions): Promise<Stack> {
  stack = await startStack(options);
  return stack;
}

const injected = (where: string) => new Error(`injected failure (${where})`);

/** Waits until the count at `where` has gone past `before`. */
async function countRises(s: Stack, where: string, before: number): Promise<number> {
  let now = before;
  await vi.waitFor(
    async () => {
      now = await internalErrors(s.gateway.adminUrl, where);
      expect(now).toBeGreaterThan(before);
    },
    { timeout: 10_000, interval: 20 },
  );
  return now;
}

async function expectAnswering(s: Stack): Promise<void> {
  const res = await post(s.url, rpc('eth_chainId', 'still-here'));
  expect(res.json).toEqual({ jsonrpc: '2.0', id: 'still-here', result: '0x1' });
}

const ONE = [{}];

/** Loaded into the CLI's process: throws and rejects on SIGUSR2, from outside any handler of the gateway's own. */
const INJECTOR = ['--import', './test/support/inject-failures-on-signal.ts'];
let operator: RawOperator | undefined;

describe('every asynchronous entry point survives its failure and counts it', () => {
  it('request: a recorder that throws while an answer is settled (the client gets -32603)', async () => {
    const s = await start({ operators: ONE });
    const before = await internalErrors(s.gateway.adminUrl, 'request');
    vi.spyOn(s.gateway.measurement, 'recordAttempt').mockImplementationOnce(() => {
      throw injected('request');
    });
    const res = await post(s.url, rpc('eth_chainId', 7));
    expect(res.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32603 } });
    await countRises(s, 'request', before);
    await expectAnswering(s);
  });

  it('cross_check: a verdict whose sink throws, after the client has its answer', async () => {
    // op2 reports another chain id: outvoted on every eth_chainId it is asked about.
    const s = await start({ operators: [{}, {}, { profile: { chainId: 2 } }], config: { staking: { crossCheck: { sampleRate: 1 } } } });
    const before = await internalErrors(s.gateway.adminUrl, 'cross_check');
    const report = vi.spyOn(s.gateway.controlLoop, 'reportBadData').mockImplementation(() => {
      throw injected('cross_check');
    });
    for (let i = 0; report.mock.calls.length === 0; i++) {
      expect(i).toBeLessThan(100);
      expect((await post(s.url, rpc('eth_chainId', i))).status).toBe(200);
      // Each check settles after its answer: let them run before the next request.
      await vi.waitFor(() => expect(s.sims.reduce((n, sim) => n + sim.stats.rpcCalls, 0)).toBeGreaterThanOrEqual(3 * (i + 1)));
    }
    await countRises(s, 'cross_check', before);
    vi.restoreAllMocks();
    await vi.waitFor(async () => expect((await post(s.url, rpc('eth_chainId', 'x'))).status).toBe(200));
  });

  it('window: a window listener that throws; the window timer keeps closing windows', async () => {
    const s = await start({ operators: ONE, autoMeasure: true, config: { windowSeconds: 1 } });
    const before = await internalErrors(s.gateway.adminUrl, 'window');
    let thrown = false;
    s.gateway.measurement.onWindow(() => {
      if (thrown) return;
      thrown = true;
      throw injected('window');
    });
    await countRises(s, 'window', before);
    const closed = s.gateway.measurement.windowsClosed;
    await vi.waitFor(() => expect(s.gateway.measurement.windowsClosed).toBeGreaterThan(closed), { timeout: 5_000 });
    await expectAnswering(s);
  });

  it('control_loop and rebuild_routes: scoring that rejects, a rebuild that throws after a window', async () => {
    const s = await start({ operators: ONE });
    const scoring = await internalErrors(s.gateway.adminUrl, 'control_loop');
    vi.spyOn(s.gateway.controlLoop, 'onWindow').mockReturnValueOnce(Promise.reject(injected('control_loop')));
    s.gateway.measurement.closeWindow();
    await countRises(s, 'control_loop', scoring);
    const rebuild = await internalErrors(s.gateway.adminUrl, 'rebuild_routes');
    vi.spyOn(s.gateway, 'rebuildRoutes').mockImplementationOnce(() => {
      throw injected('rebuild_routes');
    });
    s.gateway.measurement.closeWindow();
    await countRises(s, 'rebuild_routes', rebuild);
    await expectAnswering(s);
  });

  it('rebuild_routes: a rebuild scheduled by a stake change (setImmediate) that throws', async () => {
    const s = await start({ operators: ONE });
    const before = await internalErrors(s.gateway.adminUrl, 'rebuild_routes');
    vi.spyOn(s.gateway, 'rebuildRoutes').mockImplementationOnce(() => {
      throw injected('rebuild_routes');
    });
    const staked = await fetch(`${s.gateway.adminUrl}v1/operators/op0/stake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount: '1000' }),
    });
    expect(staked.status).toBe(200);
    await countRises(s, 'rebuild_routes', before);
    await expectAnswering(s);
  });

  it('probe: a probe round whose sink throws', async () => {
    const s = await start({ operators: ONE });
    const before = await internalErrors(s.gateway.adminUrl, 'probe');
    vi.spyOn(s.gateway.measurement, 'recordProbe').mockImplementation(() => {
      throw injected('probe');
    });
    s.gateway.prober.start();
    await countRises(s, 'probe', before);
    await s.gateway.prober.stop();
    await expectAnswering(s);
  });

  it('upstream_socket: a callback that throws inside an operator connection\'s read', async () => {
    const s = await start({ operators: ONE });
    const before = await internalErrors(s.gateway.adminUrl, 'upstream_socket');
    // The first request sends the pipelining check; its verdict is logged from the read that completes it.
    vi.spyOn(s.gateway.logger, 'info').mockImplementation(() => {
      throw injected('upstream_socket');
    });
    expect((await post(s.url, rpc('eth_chainId', 1))).status).toBe(200);
    await countRises(s, 'upstream_socket', before);
    await expectAnswering(s);
  });

  it('metrics_scrape: a scrape that fails answers 500 and is counted', async () => {
    const s = await start({ operators: ONE });
    const before = await internalErrors(s.gateway.adminUrl, 'metrics_scrape');
    vi.spyOn(s.gateway.measurement, 'allMeters').mockImplementationOnce(() => {
      throw injected('metrics_scrape');
    });
    expect((await fetch(`${s.gateway.adminUrl}metrics`)).status).toBe(500);
    expect(await internalErrors(s.gateway.adminUrl, 'metrics_scrape')).toBe(before + 1);
    await expectAnswering(s);
  });

  it('worker: a worker message the main thread fails on, and a poisoned message a worker fails on', async () => {
    const s = await start({ operators: ONE, config: { workers: 2 } });
    let before = await internalErrors(s.gateway.adminUrl, 'worker');
    vi.spyOn(s.gateway.measurement, 'absorbWindows').mockImplementationOnce(() => {
      throw injected('worker');
    });
    await s.gateway.closeWindow();
    before = await countRises(s, 'worker', before);
    // A routing message with no operator list: each worker fails on it and reports to the main thread.
    const workers = (s.gateway as unknown as { workers: WorkerPool }).workers;
    workers.publishRoutes([], null as never, new Map());
    await vi.waitFor(async () => expect(await internalErrors(s.gateway.adminUrl, 'worker')).toBeGreaterThanOrEqual(before + 2));
    s.gateway.rebuildRoutes();
    await expectAnswering(s);
    await expectAnswering(s);
  });
});

describe.each([
  ['start', () => startCliGateway({ operators: [{ id: 'op0', url: operator!.url }] }, INJECTOR)],
  ['demo', () => startCliDemo(INJECTOR)],
] as const)('the last resort (din-gateway %s)', (_command, startGateway) => {
  let gateway: CliGateway | undefined;

  afterEach(async () => {
    await gateway?.stop();
    await operator?.close();
  });

  it('logs, counts and survives an unhandled rejection and an uncaught exception', async () => {
    operator = await startRawOperator(() => '"0x1"');
    gateway = await startGateway();
    gateway.child.kill('SIGUSR2');
    await vi.waitFor(
      async () => {
        expect(gateway!.exited, gateway!.stderr).toBeUndefined();
        expect(await internalErrors(gateway!.adminUrl, 'unhandled_rejection')).toBe(1);
        expect(await internalErrors(gateway!.adminUrl, 'uncaught')).toBe(1);
      },
      { timeout: 10_000, interval: 50 },
    );
    const res = await post(gateway.rpcUrl, rpc('eth_chainId', 'alive'));
    expect(res.json).toEqual({ jsonrpc: '2.0', id: 'alive', result: '0x1' });
    expect(await gateway.stop()).toBe(0);
  });
});
