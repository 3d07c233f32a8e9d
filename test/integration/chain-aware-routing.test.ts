/**
 * Chain-aware routing through real sockets, against scripted nodes whose heads a test moves:
 * admission, lag-aware and block-aware routing, monotonic eth_blockNumber, answers that say a
 * block is unknown, transactions a node already knows, and read after write.
 */
import { keccak256 } from 'viem';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { type FakeNode, startFakeNode } from '../support/fake-node.js';
import { until } from '../support/until.js';
import { testWindow } from '../support/windows.js';

const CHAIN_ID = 31337;
const TOKEN = 'chain-aware-admin-token-0123456789';
const ETH = 10n ** 18n;

let gateway: Gateway | undefined;
const nodes: FakeNode[] = [];
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  for (const node of nodes.splice(0)) await node.close();
});

async function startNodes(...heads: number[]): Promise<FakeNode[]> {
  const started = await Promise.all(heads.map((head) => startFakeNode({ chainId: CHAIN_ID, head })));
  nodes.push(...started);
  return started;
}

/**
 * A gateway over `ops` (equal stakes unless given), probes driven by the test; `more` adds to the
 * config (`staking` merged with the test's own) and to the gateway's options.
 */
async function startGateway(
  ops: FakeNode[],
  routing: Record<string, unknown> = {},
  stakes?: bigint[],
  more: { config?: { logLevel?: 'info'; workers?: number; staking?: Record<string, unknown> }; options?: GatewayOptions } = {},
): Promise<Gateway> {
  const { staking, ...rest } = more.config ?? {};
  const config = parseConfig({
    logLevel: 'silent',
    rpc: { port: 0 },
    admin: { port: 0, token: TOKEN },
    rateLimit: { enabled: false },
    chains: { ethereum: { chainId: CHAIN_ID } },
    routing: { explorationShare: 0.05, ...routing },
    upstream: { pipelining: 1 },
    staking: { crossCheck: { sampleRate: 0 }, ...staking },
    operators: ops.map((op, i) => ({ id: `op${i}`, url: op.url, stake: String(stakes?.[i] ?? 10n * ETH) })),
    ...rest,
  });
  gateway = await Gateway.start(config, { autoMeasure: false, ...more.options });
  return gateway;
}

/** One probe round, and the routing table it leads to. */
async function probeRound(g: Gateway): Promise<void> {
  await g.prober.probeAll();
  g.rebuildRoutes();
}

let nextId = 1;
async function rpc(g: Gateway, method: string, params: unknown[] = []): Promise<{ status: number; body: { result?: unknown; error?: { code: number; message: string } } }> {
  const res = await fetch(g.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }) });
  return { status: res.status, body: (await res.json()) as { result?: unknown; error?: { code: number; message: string } } };
}

async function admin(g: Gateway, path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${g.adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const ADDRESS = '0x1111111111111111111111111111111111111111';

describe('admission', () => {
  it('an operator registered over the admin API on another chain answers no client call, and shows why', async () => {
    const ops = await startNodes(100, 100);
    const g = await startGateway(ops);
    const [wrong] = await Promise.all([startFakeNode({ chainId: 1, head: 100 })]);
    nodes.push(wrong!);
    // Client calls before, during and after the registration and the probe rounds that follow it.
    let sending = true;
    const traffic = (async () => {
      let n = 0;
      while (sending) {
        const r = await rpc(g, 'eth_getBalance', [ADDRESS, 'latest']);
        expect(r.body.result).toBe('0x0');
        n++;
      }
      return n;
    })();
    const registered = await admin(g, 'v1/operators', {
      method: 'POST',
      body: JSON.stringify({ id: 'wrong', walletAddress: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', url: wrong!.url, initialStake: String(100n * ETH) }),
    });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ admitted: false, chainState: { reason: 'awaiting_probe' } });
    await probeRound(g);
    await probeRound(g);
    sending = false;
    expect(await traffic).toBeGreaterThan(0);
    expect(wrong!.count('eth_getBalance')).toBe(0);
    const view = await admin(g, 'v1/operators/wrong');
    expect(view.body).toMatchObject({ admitted: false, chainState: { reason: 'wrong_chain' } });
    expect((await admin(g, 'v1/operators/op0')).body).toMatchObject({ admitted: true, chainState: { reason: null, head: 100, atTip: true } });
  });

  it('an operator whose probe fails is not admitted, and is admitted by the first probe that succeeds', async () => {
    const ops = await startNodes(100, 100);
    const down = ops[1]!;
    const answering = down.answer;
    // Refuses to be a node (HTTP 500) until the test lets it answer.
    down.answer = () => ({ error: { code: -32603, message: 'down' } });
    const g = await startGateway(ops);
    expect((await admin(g, 'v1/operators/op1')).body).toMatchObject({ admitted: false });
    for (let i = 0; i < 20; i++) await rpc(g, 'eth_getBalance', [ADDRESS, '0x10']);
    expect(down.count('eth_getBalance')).toBe(0);
    down.answer = answering;
    await probeRound(g);
    expect((await admin(g, 'v1/operators/op1')).body).toMatchObject({ admitted: true, chainState: { reason: null } });
  });
});

describe('admission after jail', () => {
  it('a jailed operator gets no traffic after its release until a probe admits it again', async () => {
    const ops = await startNodes(100, 100);
    let now = Date.now();
    const g = await startGateway(ops, {}, undefined, { config: { staking: { provingAnswers: 0 } }, options: { now: () => now } });
    // A critical violation jails op1.
    await g.core.recordMetrics('op1', testWindow({ operatorId: 'op1', start: now - 10_000, lengthMs: 10_000 }), { badData: [], wrongChain: { expected: '0x7a69', reported: '0x1' } });
    expect(g.core.state('op1')!.jailedUntil).toBeGreaterThan(now);
    g.rebuildRoutes();
    expect((await admin(g, 'v1/operators/op1')).body).toMatchObject({ admitted: false, chainState: { reason: 'jailed' } });
    // Released: still out until a probe admits it.
    now = g.core.state('op1')!.jailedUntil + 1;
    g.rebuildRoutes();
    for (let i = 0; i < 20; i++) await rpc(g, 'eth_getBalance', [ADDRESS, '0x10']);
    expect(ops[1]!.count('eth_getBalance')).toBe(0);
    expect(g.routing.current.route('ethereum')!.operators.map((o) => o.id)).toEqual(['op0']);
    await probeRound(g);
    expect((await admin(g, 'v1/operators/op1')).body).toMatchObject({ admitted: true });
    // Back in the route (on probation after its violation: exploration traffic until it proves itself).
    expect(g.routing.current.route('ethereum')!.operators.map((o) => o.id)).toEqual(['op0', 'op1']);
  });
});

describe('lag-aware and block-aware routing', () => {
  it('a lagging operator gets no head-sensitive request, and only the numbered blocks it has', async () => {
    const ops = await startNodes(100, 100, 100);
    const g = await startGateway(ops);
    // Admitted at the tip, then left behind: it stays admitted, off the tip.
    const lagging = ops[2]!;
    lagging.head = 90;
    await probeRound(g);
    expect((await admin(g, 'v1/operators/op2')).body).toMatchObject({ admitted: true, chainState: { atTip: false, lagBlocks: 10 } });
    for (let i = 0; i < 60; i++) {
      expect((await rpc(g, 'eth_getBalance', [ADDRESS, 'latest'])).body.result).toBe('0x0');
      expect((await rpc(g, 'eth_call', [{ to: ADDRESS }])).body.result).toBe('0x0');
      expect((await rpc(g, 'eth_getBalance', [ADDRESS, '0x62'])).body.result).toBe('0x0');
      expect((await rpc(g, 'eth_getBalance', [ADDRESS, '0x10'])).body.result).toBe('0x0');
    }
    expect(lagging.count('eth_call')).toBe(0);
    expect(lagging.count('eth_getBalance', (p) => p[1] === 'latest' || p[1] === '0x62')).toBe(0);
    // An old block is anyone's: the lagging operator takes its share.
    expect(lagging.count('eth_getBalance', (p) => p[1] === '0x10')).toBeGreaterThan(0);
    const metrics = await (await fetch(`${g.adminUrl}metrics`)).text();
    expect(metrics).toMatch(/din_chain_block\{chain="ethereum",tag="latest"\} 100/);
    expect(metrics).toMatch(/din_operator_lag_blocks\{chain="ethereum",operator="op2"\} 10/);
    expect(metrics).toMatch(/din_operator_admitted\{chain="ethereum",operator="op2"\} 1/);
    expect(metrics).toMatch(/din_chain_routing_total\{chain="ethereum",reason="tip_only"\} [1-9]/);
    expect(metrics).toMatch(/din_chain_routing_total\{chain="ethereum",reason="block_level"\} [1-9]/);
  });

  it('an operator that lies about its head moves neither the served tip nor eth_blockNumber, and its missing blocks count against it', async () => {
    const ops = await startNodes(100, 100, 100);
    const liar = ops[2]!;
    liar.head = 1_000_000;
    // It claims the far future, but has only the honest chain's blocks.
    liar.answer = (call) => (call.method === 'eth_getBalance' && call.params[1] === '0x65' ? { error: { code: -32000, message: 'header not found' } } : undefined);
    const g = await startGateway(ops);
    expect(g.chains.tipOf('ethereum')).toBe(100);
    for (let i = 0; i < 30; i++) {
      const number = Number((await rpc(g, 'eth_blockNumber')).body.result);
      expect(number).toBeLessThanOrEqual(102);
      expect(number).toBeGreaterThanOrEqual(100);
    }
    // Block 101: only the liar claims it. It answers that it does not have it: that answer is
    // the client's (no other operator has the block), and it counts against the liar.
    const r = await rpc(g, 'eth_getBalance', [ADDRESS, '0x65']);
    expect(r.body.error?.message).toBe('header not found');
    expect(g.measurement.count(g.operatorRef('op2')!.index, 'missing_block')).toBe(1);
  });

  it('an answer that the block is unknown goes to another operator that has it, and counts against the one that said it', async () => {
    const ops = await startNodes(100, 100);
    // op0 claims head 100 but says it lacks block 99 (a node that fell back, a pruned index).
    ops[0]!.answer = (call) => (call.method === 'eth_getBalance' ? { error: { code: -32000, message: 'header not found' } } : call.method === 'eth_getBlockByNumber' && call.params[0] === '0x63' ? { result: null } : undefined);
    const g = await startGateway(ops, { explorationShare: 0 }, [1000n * ETH, ETH]);
    for (let i = 0; i < 10; i++) {
      expect((await rpc(g, 'eth_getBalance', [ADDRESS, '0x63'])).body.result).toBe('0x0');
      const block = (await rpc(g, 'eth_getBlockByNumber', ['0x63', false])).body.result as { number: string };
      expect(block.number).toBe('0x63');
    }
    expect(g.measurement.count(g.operatorRef('op0')!.index, 'missing_block')).toBeGreaterThan(0);
    expect(g.measurement.count(g.operatorRef('op1')!.index, 'missing_block')).toBe(0);
  });

  it('every operator lagging: head-sensitive requests are still answered, by the highest', async () => {
    const ops = await startNodes(100, 100);
    const g = await startGateway(ops);
    // Both fall far behind the held tip (a reset): nobody is at the tip, the highest answers.
    ops[0]!.head = 50;
    ops[1]!.head = 40;
    await probeRound(g);
    for (let i = 0; i < 10; i++) expect((await rpc(g, 'eth_getBalance', [ADDRESS, 'latest'])).body.result).toBe('0x0');
    expect(ops[1]!.count('eth_getBalance')).toBe(0);
  });

  it('an operator whose head jumps backwards (a reset) leaves the tip at its next probe; the served tip holds', async () => {
    const ops = await startNodes(100, 100, 100);
    const g = await startGateway(ops);
    ops[2]!.head = 10;
    await probeRound(g);
    expect(g.chains.tipOf('ethereum')).toBe(100);
    expect((await admin(g, 'v1/operators/op2')).body).toMatchObject({ admitted: true, chainState: { head: 10, atTip: false } });
    for (let i = 0; i < 30; i++) expect((await rpc(g, 'eth_getBalance', [ADDRESS, 'latest'])).body.result).toBe('0x0');
    expect(ops[2]!.count('eth_getBalance')).toBe(0);
    // It catches up: back at the tip at the next probe.
    ops[2]!.head = 100;
    await probeRound(g);
    expect((await admin(g, 'v1/operators/op2')).body).toMatchObject({ chainState: { head: 100, atTip: true } });
  });

  it('a chain with one operator is served from it, numbered blocks and tags alike', async () => {
    const [only] = await startNodes(100);
    const g = await startGateway([only!]);
    expect((await rpc(g, 'eth_blockNumber')).body.result).toBe('0x64');
    expect((await rpc(g, 'eth_getBalance', [ADDRESS, '0x64'])).body.result).toBe('0x0');
    // A block it does not have: its own error.
    expect((await rpc(g, 'eth_getBalance', [ADDRESS, '0x65'])).body.error?.message).toBe('header not found');
  });
});

describe('monotonic reads', () => {
  it('eth_blockNumber never goes backwards while operators at the tip report different heads', async () => {
    const ops = await startNodes(100, 99, 100);
    const g = await startGateway(ops);
    let last = 0;
    for (let i = 0; i < 80; i++) {
      if (i === 40) {
        ops[0]!.head = 101;
        ops[2]!.head = 101;
      }
      const n = Number((await rpc(g, 'eth_blockNumber')).body.result);
      expect(n).toBeGreaterThanOrEqual(last);
      last = n;
    }
    expect(last).toBe(101);
  });

  it('a stale "latest" block from the only operator at the tip is still the answer (nobody else to ask)', async () => {
    const ops = await startNodes(100, 100);
    const g = await startGateway(ops);
    // op1 falls behind: op0 alone is at the tip, and it serves a stale latest block.
    ops[1]!.head = 50;
    await probeRound(g);
    ops[0]!.answer = (call) => (call.method === 'eth_getBlockByNumber' && call.params[0] === 'latest' ? { result: { number: '0x50', transactions: [] } } : undefined);
    const r = await rpc(g, 'eth_getBlockByNumber', ['latest', false]);
    expect(r.body.result).toEqual({ number: '0x50', transactions: [] });
  });

  it('eth_blockNumber inside a batch obeys the same floor', async () => {
    const ops = await startNodes(100, 100, 100);
    const g = await startGateway(ops);
    // One operator at the tip falls a block behind between probes.
    ops[1]!.head = 99;
    let last = 0;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(g.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ jsonrpc: '2.0', id: 'n', method: 'eth_blockNumber' }, { jsonrpc: '2.0', id: 2, method: 'eth_chainId' }]),
      });
      const [number, chainId] = (await res.json()) as [{ id: string; result: string }, { id: number; result: string }];
      expect(number.id).toBe('n');
      expect(chainId).toEqual({ jsonrpc: '2.0', id: 2, result: '0x7a69' });
      expect(Number(number.result)).toBeGreaterThanOrEqual(Math.max(last, 100));
      last = Number(number.result);
    }
    expect(ops[1]!.count('eth_blockNumber')).toBeGreaterThan(1);
  });

  it('eth_getBlockByNumber("latest") older than the tip\'s predecessor is asked again elsewhere', async () => {
    const ops = await startNodes(100, 100);
    // op0 answers latest with an old block (a node serving a stale cache).
    ops[0]!.answer = (call) => (call.method === 'eth_getBlockByNumber' && call.params[0] === 'latest' ? { result: { number: '0x50', transactions: [] } } : undefined);
    const g = await startGateway(ops);
    for (let i = 0; i < 20; i++) {
      const block = (await rpc(g, 'eth_getBlockByNumber', ['latest', false])).body.result as { number: string };
      expect(Number(block.number)).toBeGreaterThanOrEqual(99);
    }
  });
});

describe('transactions', () => {
  const RAW = '0x02f86c827a6980843b9aca00850c92a69c0082520894111111111111111111111111111111111111111180c080a0aa';

  it('a node that already knows the transaction answers with its hash, not an error', async () => {
    const ops = await startNodes(100);
    ops[0]!.answer = (call) => (call.method === 'eth_sendRawTransaction' ? { error: { code: -32000, message: 'already known' } } : undefined);
    const g = await startGateway(ops);
    const r = await rpc(g, 'eth_sendRawTransaction', [RAW]);
    expect(r.body).toMatchObject({ result: keccak256(RAW) });
  });

  it('broadcast to two operators: the first acceptance answers; receipts prefer the operator that accepted', async () => {
    const ops = await startNodes(100, 100);
    const hash = keccak256(RAW);
    const receipt = { transactionHash: hash, status: '0x1', blockNumber: '0x65' };
    // op1 accepts and alone has the receipt; op0 says it already knows the transaction.
    ops[0]!.answer = (call) =>
      call.method === 'eth_sendRawTransaction' ? { error: { code: -32000, message: 'already known' } } : call.method === 'eth_getTransactionReceipt' ? { result: null } : undefined;
    ops[1]!.answer = (call) => (call.method === 'eth_sendRawTransaction' ? { result: hash } : call.method === 'eth_getTransactionReceipt' ? { result: receipt } : undefined);
    const g = await startGateway(ops, { broadcastTransactions: 2 });
    const sent = await rpc(g, 'eth_sendRawTransaction', [RAW]);
    expect(sent.body.result).toBe(hash);
    expect(ops[0]!.count('eth_sendRawTransaction') + ops[1]!.count('eth_sendRawTransaction')).toBe(2);
    for (let i = 0; i < 10; i++) expect((await rpc(g, 'eth_getTransactionReceipt', [hash])).body.result).toEqual(receipt);
  });

  it('broadcast that no operator accepts: the first operator\'s own error, and a nonce error is logged', async () => {
    const ops = await startNodes(100, 100);
    for (const op of ops) op.answer = (call) => (call.method === 'eth_sendRawTransaction' ? { error: { code: -32000, message: 'nonce too low' } } : undefined);
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
    const g = await startGateway(ops, { broadcastTransactions: 2 }, undefined, { config: { logLevel: 'info' }, options: { logger } });
    const r = await rpc(g, 'eth_sendRawTransaction', [RAW]);
    expect(r.body.error).toEqual({ code: -32000, message: 'nonce too low' });
    expect(ops[0]!.count('eth_sendRawTransaction') + ops[1]!.count('eth_sendRawTransaction')).toBe(2);
    expect(lines.some((l) => l.includes('nonce error answered for a transaction sent to several operators'))).toBe(true);
  });

  it('read after write with one acceptor: another operator\'s null is checked with the acceptor first', async () => {
    const ops = await startNodes(100, 100);
    const hash = keccak256(RAW);
    const receipt = { transactionHash: hash, status: '0x1' };
    ops[0]!.answer = (call) => (call.method === 'eth_sendRawTransaction' ? { result: hash } : call.method === 'eth_getTransactionReceipt' ? { result: receipt } : undefined);
    ops[1]!.answer = (call) => (call.method === 'eth_sendRawTransaction' ? { result: hash } : call.method === 'eth_getTransactionReceipt' ? { result: null } : undefined);
    // All the stake on op0 for the write; then as much on op1, which would take half the reads.
    const g = await startGateway(ops, { explorationShare: 0 }, [1000n * ETH, ETH]);
    expect((await rpc(g, 'eth_sendRawTransaction', [RAW])).body.result).toBe(hash);
    expect((await admin(g, 'v1/operators/op1/stake', { method: 'POST', body: JSON.stringify({ amount: String(999n * ETH) }) })).status).toBe(200);
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 20; i++) expect((await rpc(g, 'eth_getTransactionReceipt', [hash])).body.result).toEqual(receipt);
    expect(ops[1]!.count('eth_getTransactionReceipt')).toBe(0);
    // Other reads are shared again.
    for (let i = 0; i < 20; i++) await rpc(g, 'eth_getBalance', [ADDRESS, '0x10']);
    expect(ops[1]!.count('eth_getBalance')).toBeGreaterThan(0);
  });

  it('eth_getTransactionCount at pending, asked of two operators, answers the higher count', async () => {
    const ops = await startNodes(100, 100);
    ops[0]!.answer = (call) => (call.method === 'eth_getTransactionCount' ? { result: '0x5' } : undefined);
    ops[1]!.answer = (call) => (call.method === 'eth_getTransactionCount' ? { result: '0x7' } : undefined);
    const g = await startGateway(ops, { pendingNonceOperators: 2 });
    for (let i = 0; i < 5; i++) expect((await rpc(g, 'eth_getTransactionCount', [ADDRESS, 'pending'])).body.result).toBe('0x7');
  });
});

describe('with data-plane workers', () => {
  it('every worker routes by the chain state the main thread publishes, tells it the heads it sees, and counts its decisions', async () => {
    const ops = await startNodes(100, 100, 100);
    const g = await startGateway(ops, {}, undefined, { config: { workers: 2 } });
    ops[2]!.head = 90;
    await probeRound(g);
    // New blocks that only answers show: the chain state learns them from the workers.
    ops[0]!.head = 105;
    ops[1]!.head = 105;
    let last = 0;
    for (let i = 0; i < 60; i++) {
      // A fresh connection each time, so both workers serve.
      const res = await fetch(g.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_blockNumber' }) });
      const n = Number(((await res.json()) as { result: string }).result);
      expect(n).toBeGreaterThanOrEqual(last);
      last = n;
      await rpc(g, 'eth_getBalance', [ADDRESS, 'latest']);
    }
    expect(ops[2]!.count('eth_getBalance')).toBe(0);
    await until(() => g.chains.tipOf('ethereum') === 105, 'the served tip learned from answers in the workers');
    await g.closeWindow();
    const metrics = await (await fetch(`${g.adminUrl}metrics`)).text();
    expect(metrics).toMatch(/din_chain_routing_total\{chain="ethereum",reason="tip_only"\} [1-9]/);
  });
});

describe('bad block parameters never crash the gateway', () => {
  it('answers every odd block parameter with the operator\'s own answer or a routed result', async () => {
    const ops = await startNodes(100, 100, 100);
    const g = await startGateway(ops);
    ops[2]!.head = 95;
    await probeRound(g);
    const odd: unknown[] = [
      '0x0000000000000000064', '0x1fffffffffffff', '0x20000000000000', '0xffffffffffffffffffffffffffffffffffffffff', 'earliest', 'safe', 'finalized', 'pending',
      { blockHash: `0x${'ab'.repeat(32)}` }, { blockNumber: '0x10', requireCanonical: true }, { blockNumber: 'latest' }, 'latest ', '0xzz', '', 12, null, true, [], {}, '0x', '-0x1',
      JSON.parse('['.repeat(200) + ']'.repeat(200)),
    ];
    for (const block of odd) {
      const r = await rpc(g, 'eth_getBalance', [ADDRESS, block]);
      expect(r.status).toBe(200);
      expect(r.body.result !== undefined || r.body.error !== undefined).toBe(true);
    }
    // Still serving.
    expect((await rpc(g, 'eth_getBalance', [ADDRESS, 'latest'])).body.result).toBe('0x0');
  });
});
