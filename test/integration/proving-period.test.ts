/**
 * Trust before traffic: an operator that has not proven itself yet is not taken at its word on
 * deterministic requests. A liar answering 30 % of a settled block's balances wrongly, among
 * honest operators, through real sockets: no client gets one of its lies, and the lies it told
 * a second opinion get it outvoted and slashed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { seededRandom } from '../../src/sim/index.js';
import { type FakeNode, startFakeNode } from '../support/fake-node.js';

const CHAIN_ID = 31337;
const ETH = 10n ** 18n;
const TOKEN = 'proving-admin-token-0123456789';
const ADDRESS = '0x1111111111111111111111111111111111111111';
/** A block far below the head (1,000): settled, so the cross-check knows the request is deterministic. */
const SETTLED = '0x10';
const HONEST_BALANCE = '0xde0b6b3a7640000';

let gateway: Gateway | undefined;
const nodes: FakeNode[] = [];
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  for (const node of nodes.splice(0)) await node.close();
});

/** Three honest nodes and one that lies about balances 30 % of the time (seeded). */
async function startOperators(): Promise<{ honest: FakeNode[]; liar: FakeNode }> {
  const all = await Promise.all([0, 1, 2, 3].map(() => startFakeNode({ chainId: CHAIN_ID, head: 1000 })));
  nodes.push(...all);
  const balance = (): { result: string } => ({ result: HONEST_BALANCE });
  for (const node of all) node.answer = (call) => (call.method === 'eth_getBalance' ? balance() : undefined);
  const random = seededRandom(17);
  const liar = all[3]!;
  liar.answer = (call) => (call.method === 'eth_getBalance' ? { result: random() < 0.3 ? '0x1' : HONEST_BALANCE } : undefined);
  return { honest: all.slice(0, 3), liar };
}

async function startGateway(ops: FakeNode[], provingAnswers: number): Promise<Gateway> {
  const config = parseConfig({
    logLevel: 'silent',
    rpc: { port: 0 },
    admin: { port: 0, token: TOKEN },
    rateLimit: { enabled: false },
    chains: { ethereum: { chainId: CHAIN_ID } },
    upstream: { pipelining: 1 },
    // No sampled cross-check: what keeps the lies from clients here is the proving period alone.
    staking: { provingAnswers, crossCheck: { sampleRate: 0 } },
    operators: ops.map((op, i) => ({ id: `op${i}`, url: op.url, stake: String(10n * ETH) })),
  });
  gateway = await Gateway.start(config, { autoMeasure: false });
  return gateway;
}

/** Sends `n` balance reads at the settled block; returns how many answers were the liar's lie. */
async function wrongAnswers(g: Gateway, n: number): Promise<number> {
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(g.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_getBalance', params: [ADDRESS, SETTLED] }),
    });
    const body = (await res.json()) as { result?: string };
    if (body.result !== HONEST_BALANCE) wrong++;
  }
  return wrong;
}

describe('the proving period', () => {
  it('a liar still proving itself delivers no wrong answer to a client, and is outvoted and slashed', async () => {
    const { liar } = await startOperators();
    const g = await startGateway(nodes, 50);
    expect(await wrongAnswers(g, 200)).toBe(0);
    // It was asked (it is in the rotation), and its lies were voted on.
    expect(liar.count('eth_getBalance')).toBeGreaterThan(10);
    await g.closeWindow();
    const state = g.core.state('op3')!;
    expect(state.violations.some((v) => v.type === 'bad_data')).toBe(true);
    expect(state.slashed).toBeGreaterThan(0n);
    // Honest operators were confirmed by each other and are proven; the liar is proving still.
    expect(g.proving.isProven('op0') && g.proving.isProven('op1') && g.proving.isProven('op2')).toBe(true);
    expect(g.proving.isProven('op3')).toBe(false);
    for (const id of ['op0', 'op1', 'op2']) expect(g.core.state(id)!.violations).toEqual([]);
  });

  it('a batch with a deterministic call goes to a proven operator while the liar is still proving itself', async () => {
    await startOperators();
    const g = await startGateway(nodes, 50);
    // The honest operators prove themselves; the liar, lying, does not.
    expect(await wrongAnswers(g, 200)).toBe(0);
    expect(g.proving.isProven('op3')).toBe(false);
    let wrong = 0;
    for (let b = 0; b < 40; b++) {
      const batch = Array.from({ length: 5 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_getBalance', params: [ADDRESS, SETTLED] }));
      const res = await fetch(g.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) });
      for (const item of (await res.json()) as { result?: string }[]) if (item.result !== HONEST_BALANCE) wrong++;
    }
    expect(wrong).toBe(0);
  });

  it('without it (provingAnswers 0), the same liar hands clients its lies', async () => {
    await startOperators();
    const g = await startGateway(nodes, 0);
    expect(await wrongAnswers(g, 200)).toBeGreaterThan(0);
  });

  it('second opinions compare what consensus fixes: another client\'s formatting of the same block agrees', async () => {
    const all = await Promise.all([0, 1, 2].map(() => startFakeNode({ chainId: CHAIN_ID, head: 1000 })));
    nodes.push(...all);
    const block = { number: SETTLED, hash: `0x${'ab'.repeat(32)}`, transactions: [`0x${'cd'.repeat(32)}`], miner: `0x${'11'.repeat(20)}` };
    all[0]!.answer = (call) => (call.method === 'eth_getBlockByNumber' && call.params[0] === SETTLED ? { result: block } : undefined);
    all[1]!.answer = all[0]!.answer;
    // Nethermind's way: totalDifficulty and author besides, keys in another order.
    all[2]!.answer = (call) =>
      call.method === 'eth_getBlockByNumber' && call.params[0] === SETTLED ? { result: { author: block.miner, totalDifficulty: '0x0', ...block } } : undefined;
    const g = await startGateway(all, 20);
    for (let i = 0; i < 120; i++) {
      const res = await fetch(g.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_getBlockByNumber', params: [SETTLED, false] }) });
      expect(((await res.json()) as { result: { hash: string } }).result.hash).toBe(block.hash);
    }
    await g.closeWindow();
    for (const id of ['op0', 'op1', 'op2']) {
      expect(g.core.state(id)!.violations).toEqual([]);
      expect(g.proving.isProven(id)).toBe(true);
    }
  });

  it('the admin API shows how far an operator is', async () => {
    await startOperators();
    const g = await startGateway(nodes, 50);
    const view = (await (await fetch(`${g.adminUrl}v1/operators/op0`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { proving: unknown };
    expect(view.proving).toEqual({ agreed: 0, required: 50 });
    await wrongAnswers(g, 200);
    const after = (await (await fetch(`${g.adminUrl}v1/operators/op0`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { proving: unknown };
    expect(after.proving).toBeNull();
  });
});
