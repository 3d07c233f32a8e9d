/**
 * Failover through real sockets: operators that die, hang, fail or lie, and the clients
 * that must not notice.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT_FAULTS } from '../../src/metrics/attempt-recorder.js';
import { seededRandom } from '../../src/sim/index.js';
import { type Stack, post, rpc, startStack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** The first pick always lands on op0 (all the weight, no exploration); failover must leave it. */
const FIRST_ON_OP0 = { config: { routing: { explorationShare: 0 } } } as const;
/**
 * For tests that count every call an operator gets: with pipelining on, each operator's pool
 * first sends its own two-call pipelining check, which would add to the counts.
 */
const NO_PIPELINING = { upstream: { pipelining: 1 } } as const;
const heavyFirst = (profile: object) => [{ profile, stakeEth: 1_000_000 }, { stakeEth: 1 }, { stakeEth: 1 }];

describe('failover', () => {
  it('loses no client request when an operator dies mid-traffic', async () => {
    stack = await startStack({ operators: [{}, {}, {}] });
    const { url, sims } = stack;
    let sent = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (sent < 600) {
        const n = sent++;
        if (n === 200) void sims[0]!.stop();
        const res = await post(url, rpc('eth_chainId', n));
        if (res.status !== 200 || res.json.result !== '0x1' || res.json.id !== n) failures.push(res.text);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(failures).toEqual([]);
    expect(stack.recorder.count(0, 'connect')).toBeGreaterThan(0);
  });

  it('fails over on HTTP 5xx, 429, garbage and wrong ids, attributing each to its operator', async () => {
    for (const [profile, outcome] of [
      [{ errorRate: 1 }, 'http_5xx'],
      [{ rateLimitRate: 1 }, 'http_429'],
      [{ garbageRate: 1 }, 'invalid_envelope'],
      [{ wrongIdRate: 1 }, 'invalid_envelope'],
    ] as const) {
      stack = await startStack({ operators: heavyFirst(profile), ...FIRST_ON_OP0 });
      for (let i = 0; i < 20; i++) {
        const res = await post(stack.url, rpc('eth_chainId', i));
        expect(res.json).toEqual({ jsonrpc: '2.0', id: i, result: '0x1' });
      }
      expect(stack.recorder.count(0, outcome)).toBe(20);
      expect(stack.recorder.count(0, 'success')).toBe(0);
      expect(stack.recorder.count(1, 'success') + stack.recorder.count(2, 'success')).toBe(20);
      await stack.stop();
      stack = undefined;
    }
  });

  it('fails over when an operator hangs, within the attempt timeout', async () => {
    stack = await startStack({ operators: heavyFirst({ hang: true }), config: { ...FIRST_ON_OP0.config, upstream: { attemptTimeoutMs: 150 } } });
    const res = await post(stack.url, rpc('eth_blockNumber', 'h'));
    expect(res.json.result).toMatch(/^0x/);
    expect(stack.recorder.count(0, 'timeout')).toBe(1);
  });

  it('answers quickly with a clear error when every operator is down', async () => {
    stack = await startStack({ operators: [{}, {}, {}] });
    await Promise.all(stack.sims.map((s) => s.stop()));
    const started = performance.now();
    const res = await post(stack.url, rpc('eth_chainId', 77));
    const elapsed = performance.now() - started;
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: 77, error: { code: -32053, message: 'Operator unreachable: ECONNREFUSED' } });
    // Connection refused is immediate; far below the 5 s attempt timeout means nothing waited on a timer.
    expect(elapsed).toBeLessThan(2_500);
    // Three distinct operators were tried, each once.
    for (let i = 0; i < 3; i++) expect(stack.recorder.count(i, 'connect')).toBe(1);
  });

  it('answers within the client deadline when every operator hangs', async () => {
    stack = await startStack({
      operators: [{ profile: { hang: true } }, { profile: { hang: true } }, { profile: { hang: true } }],
      config: { upstream: { attemptTimeoutMs: 100, requestDeadlineMs: 250, maxAttempts: 5 } },
    });
    const res = await post(stack.url, rpc('eth_chainId', 1));
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBeOneOf([-32054, -32051]);
  });

  it('answers 503 with -32050 when a chain has no eligible operator', async () => {
    stack = await startStack({ operators: [{ stakeEth: 0 }] });
    const res = await post(stack.url, rpc('eth_chainId', 1));
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe(-32050);
    expect((await fetch(`${stack.url}ready`)).status).toBe(503);
  });
});

describe('writes', () => {
  const tx = (id: number) => rpc('eth_sendRawTransaction', id, ['0x02f8']);
  const sendsSeen = (s: Stack) => s.sims.map((sim) => sim.stats.byMethod.get('eth_sendRawTransaction') ?? 0);

  it('are not sent again after a timeout: the operator may have them', async () => {
    stack = await startStack({ operators: heavyFirst({ hang: true }), config: { ...FIRST_ON_OP0.config, upstream: { attemptTimeoutMs: 150 } } });
    const res = await post(stack.url, tx(1));
    expect(res.json).toMatchObject({ id: 1, error: { code: -32054 } });
    expect(sendsSeen(stack)).toEqual([1, 0, 0]);
  });

  it('are not sent again after a 5xx', async () => {
    stack = await startStack({ operators: heavyFirst({ errorRate: 1 }), ...FIRST_ON_OP0 });
    const res = await post(stack.url, tx(2));
    expect(res.json).toMatchObject({ id: 2, error: { code: -32055 } });
    expect(sendsSeen(stack)).toEqual([1, 0, 0]);
  });

  it('are sent to another operator when the first refused the connection', async () => {
    stack = await startStack({ operators: heavyFirst({}), ...FIRST_ON_OP0 });
    await stack.sims[0]!.stop();
    const res = await post(stack.url, tx(3));
    // The sims do not implement eth_sendRawTransaction: their -32601 proves it arrived once.
    expect(res.json).toMatchObject({ id: 3, error: { code: -32601 } });
    expect(sendsSeen(stack).reduce((a, b) => a + b)).toBe(1);
  });
});

describe('batches', () => {
  it('retry only the items an operator left unanswered', async () => {
    // An operator that answers only the first half of any batch: a real HTTP server, since
    // no simulated profile drops individual answers.
    const partial: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const items = JSON.parse(body) as { id: number }[];
        const half = items.slice(0, Math.ceil(items.length / 2)).map((it) => ({ jsonrpc: '2.0', id: it.id, result: '0x1' }));
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(half));
      });
    });
    await new Promise<void>((resolve) => partial.listen(0, '127.0.0.1', resolve));
    try {
      stack = await startStack({ operators: [{ stakeEth: 1 }], config: { ...FIRST_ON_OP0.config, ...NO_PIPELINING } });
      const partialPort = (partial.address() as { port: number }).port;
      await stack.gateway.core.registerOperator('partial', '0x0000000000000000000000000000000000000000', 10n ** 24n, { url: `http://127.0.0.1:${partialPort}/`, chain: 'ethereum' });
      stack.gateway.rebuildRoutes();
      const res = await post(stack.url, Array.from({ length: 10 }, (_, i) => rpc('eth_chainId', `q${i}`)));
      expect(res.json).toEqual(Array.from({ length: 10 }, (_, i) => ({ jsonrpc: '2.0', id: `q${i}`, result: '0x1' })));
      expect(stack.sims[0]!.stats.rpcCalls).toBe(5);
    } finally {
      partial.close();
    }
  });

  it('fail over as a whole when the operator fails outright, and write items are not resent', async () => {
    stack = await startStack({ operators: heavyFirst({ errorRate: 1 }), ...FIRST_ON_OP0 });
    const res = await post(stack.url, [rpc('eth_chainId', 1), rpc('eth_sendRawTransaction', 2, ['0x02']), rpc('net_version', 3)]);
    expect(res.json[0]).toEqual({ jsonrpc: '2.0', id: 1, result: '0x1' });
    expect(res.json[1]).toMatchObject({ id: 2, error: { code: -32055 } });
    expect(res.json[2]).toEqual({ jsonrpc: '2.0', id: 3, result: '1' });
  });
});

describe('measurement attribution', () => {
  it('never counts client faults or passed-through JSON-RPC errors against an operator', async () => {
    stack = await startStack({ operators: [{}] });
    await post(stack.url, '{not json');
    await post(stack.url, { jsonrpc: '2.0', method: 5 });
    await post(stack.url, rpc('no_such_method', 1));
    for (const outcome of ['timeout', 'connect', 'http_5xx', 'invalid_envelope', 'http_other'] as const) {
      expect(stack.recorder.count(0, outcome)).toBe(0);
    }
    expect(stack.recorder.count(0, 'rpc_error')).toBe(1);
    expect(stack.recorder.clientFaults[CLIENT_FAULTS.indexOf('parse_error')]).toBe(1);
    expect(stack.recorder.clientFaults[CLIENT_FAULTS.indexOf('invalid_request')]).toBe(1);
  });
});

describe('weighted selection through the gateway', () => {
  it('sends traffic to operators in proportion to their stake', async () => {
    const stakes = [1, 2, 5];
    stack = await startStack({ operators: stakes.map((stakeEth) => ({ stakeEth })), config: { routing: { explorationShare: 0 }, ...NO_PIPELINING }, random: seededRandom(99) });
    const total = 1600;
    for (let i = 0; i < total; i += 40) {
      await Promise.all(Array.from({ length: 40 }, (_, j) => post(stack!.url, rpc('eth_chainId', i + j))));
    }
    const counts = stack.sims.map((s) => s.stats.rpcCalls);
    expect(counts.reduce((a, b) => a + b)).toBe(total);
    const shares = stakes.map((s) => s / 8);
    const chi2 = counts.reduce((sum, c, i) => sum + (c - total * shares[i]!) ** 2 / (total * shares[i]!), 0);
    expect(chi2).toBeLessThan(13.82); // p = 0.001, 2 degrees of freedom
    const chi2Uniform = counts.reduce((sum, c) => sum + (c - total / 3) ** 2 / (total / 3), 0);
    expect(chi2Uniform).toBeGreaterThan(10 * 13.82);
  });
});
