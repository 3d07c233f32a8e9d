/**
 * Issue 18: client diversity is not bad data. Three honest operators serve the same settled
 * block, each formatted as a different client would (geth without totalDifficulty,
 * Nethermind with it and an author, a third with uppercase hex, padded quantities, its own key
 * order and sealFields): with every deterministic request cross-checked, nobody is outvoted.
 * A real wrong answer (another block hash, another transaction list, another balance) among
 * the same formatting noise is still outvoted, and its evidence is the disagreeing digests.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import type { CrossCheckEvidence } from '../../src/router/cross-check.js';
import { gethBlock, nethermindBlock, oddFormatBlock, word } from '../support/client-flavours.js';
import { type FakeAnswer, type FakeCall, type FakeNode, startFakeNode } from '../support/fake-node.js';
import { post } from '../support/stack.js';
import { until } from '../support/until.js';

const HEAD = 1_000;
/** 100 below the head: settled for the default settledDepth (64). */
const SETTLED = 900;
const SETTLED_HEX = `0x${SETTLED.toString(16)}`;
const ACCOUNT = word(42, 20);
/** An account the third operator lies about, to know when every earlier check has voted. */
const SENTINEL = word(43, 20);

type Flavour = (geth: Record<string, unknown>) => Record<string, unknown>;
const FLAVOURS: readonly Flavour[] = [(b) => b, nethermindBlock, oddFormatBlock];
/** 1 ETH as each client writes it: plain, padded, uppercase. */
const BALANCES = ['0xde0b6b3a7640000', '0x0de0b6b3a7640000', '0xDE0B6B3A7640000'];

let nodes: FakeNode[] = [];
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
});

/**
 * The answers of an operator running client `flavour` (an index in FLAVOURS and BALANCES) to
 * the calls this test sends; probes get the fake node's defaults. `sentinelLiar`: it answers
 * the sentinel account wrong.
 */
function flavouredAnswer(flavour: number, lie: (call: FakeCall, honest: unknown) => unknown = (_c, honest) => honest, sentinelLiar = false) {
  return (call: FakeCall): FakeAnswer => {
    if (call.method === 'eth_getBlockByNumber' && call.params[0] === SETTLED_HEX) {
      const block = FLAVOURS[flavour]!(gethBlock(SETTLED, { full: call.params[1] === true, transactions: 40 }));
      return { result: lie(call, block) };
    }
    if (call.method === 'eth_getBalance' && call.params[1] === SETTLED_HEX) {
      if (call.params[0] === SENTINEL) return { result: sentinelLiar ? '0x1' : '0x0' };
      return { result: lie(call, BALANCES[flavour]) };
    }
    return undefined;
  };
}

async function startGateway(answers: ((call: FakeCall) => FakeAnswer)[]): Promise<Gateway> {
  nodes = await Promise.all(answers.map(() => startFakeNode({ chainId: 1, head: HEAD })));
  nodes.forEach((node, i) => (node.answer = answers[i]!));
  gateway = await Gateway.start(
    parseConfig({
      logLevel: 'silent',
      rpc: { port: 0 },
      admin: { port: 0 },
      // Every client call sampled by the cross-check (not first verified as operators still proving themselves: provingAnswers 0).
      staking: { crossCheck: { sampleRate: 1 }, provingAnswers: 0 },
      operators: nodes.map((n, i) => ({ id: `op${i}`, url: n.url })),
    }),
    { autoMeasure: false },
  );
  return gateway;
}

const blockCall = (id: number, full: boolean) => ({ jsonrpc: '2.0', id, method: 'eth_getBlockByNumber', params: [SETTLED_HEX, full] });
const balanceCall = (id: number, account: string) => ({ jsonrpc: '2.0', id, method: 'eth_getBalance', params: [account, SETTLED_HEX] });
const askedOf = (method: string, match: (params: readonly unknown[]) => boolean) => nodes.reduce((n, node) => n + node.count(method, match), 0);

/** Sends `calls` one by one, each answered 200, and waits until every cross-check of them has asked its two other operators. */
async function drive(g: Gateway, calls: { method: string }[]): Promise<void> {
  for (const call of calls) expect((await post(g.rpcUrl, call)).status).toBe(200);
  const expected = (method: string) => 3 * calls.filter((c) => c.method === method).length;
  const settledBlock = (p: readonly unknown[]) => p[0] === SETTLED_HEX;
  const account = (p: readonly unknown[]) => p[0] === ACCOUNT;
  await until(
    () => askedOf('eth_getBlockByNumber', settledBlock) === expected('eth_getBlockByNumber') && askedOf('eth_getBalance', account) === expected('eth_getBalance'),
    'every call asked of all three operators',
  );
}

const FLEETS = [
  // The case: two clients still return totalDifficulty, the third (current geth) omits it.
  { name: 'two Nethermind, one geth', flavours: [1, 1, 0] },
  { name: 'two geth, one with uppercase hex, padded quantities, its own key order and sealFields', flavours: [0, 0, 2] },
  { name: 'three different clients', flavours: [0, 1, 2] },
];

it.each(FLEETS)('honest clients formatting the same block and balance differently ($name): nobody is outvoted or slashed', async ({ flavours }) => {
  const g = await startGateway(flavours.map((flavour, i) => flavouredAnswer(flavour, undefined, i === 2)));
  const reported = vi.spyOn(g.controlLoop, 'reportBadData');
  const calls = Array.from({ length: 45 }, (_, i) => (i % 3 === 2 ? balanceCall(i, ACCOUNT) : blockCall(i, i % 3 === 1)));
  await drive(g, calls);
  // The sentinel: the one real lie, voted after every check above has its answers.
  expect((await post(g.rpcUrl, balanceCall(99, SENTINEL))).status).toBe(200);
  await vi.waitFor(() => expect(reported).toHaveBeenCalled());
  await g.closeWindow();

  expect(reported.mock.calls.map(([id, evidence]) => [id, evidence.method, JSON.parse(evidence.params)[0]])).toEqual([['op2', 'eth_getBalance', SENTINEL]]);
  for (const id of ['op0', 'op1']) expect(g.core.state(id)!.violations, id).toEqual([]);
  expect(g.core.state('op2')!.violations.map((v) => v.type)).toEqual(['bad_data']);
});

type Lie = { name: string; method: string; lie: (call: FakeCall, honest: unknown) => unknown; calls: (i: number) => { method: string } };

const LIES: Lie[] = [
  {
    name: 'another block (its hash)',
    method: 'eth_getBlockByNumber',
    lie: (_call, block) => ({ ...(block as object), hash: word(7) }),
    calls: (i) => blockCall(i, i % 2 === 0),
  },
  {
    name: 'the right hash with another transaction list',
    method: 'eth_getBlockByNumber',
    lie: (_call, block) => {
      const b = block as { transactions: unknown[] };
      return { ...b, transactions: b.transactions.slice(1) };
    },
    calls: (i) => blockCall(i, i % 2 === 0),
  },
  {
    name: 'a transaction of the block paying another value',
    method: 'eth_getBlockByNumber',
    lie: (call, block) => {
      const b = block as { transactions: unknown[] };
      if (call.params[1] !== true) return { ...b, transactions: [...b.transactions.slice(1), word(8)] };
      const [first, ...rest] = b.transactions as Record<string, unknown>[];
      return { ...b, transactions: [{ ...first, value: '0xDE0B6B3A7640000' }, ...rest] };
    },
    calls: (i) => blockCall(i, i % 2 === 0),
  },
  { name: 'a wrong balance', method: 'eth_getBalance', lie: () => '0xDE0B6B3A7640001', calls: (i) => balanceCall(i, ACCOUNT) },
];

it.each(LIES)('a real wrong answer among the formatting noise is outvoted: $name', async ({ method, lie, calls }) => {
  // The liar is the Nethermind-flavoured operator; the two honest ones format differently from each other.
  const g = await startGateway([flavouredAnswer(0), flavouredAnswer(1, lie), flavouredAnswer(2)]);
  const reported = vi.spyOn(g.controlLoop, 'reportBadData');
  await drive(g, Array.from({ length: 12 }, (_, i) => calls(i)));
  // Only the liar, every time it was checked (12 calls, each voted once, all three asked).
  await vi.waitFor(() => expect(reported).toHaveBeenCalledTimes(12));
  await g.closeWindow();
  expect(new Set(reported.mock.calls.map(([id]) => id))).toEqual(new Set(['op1']));
  const evidence = reported.mock.calls[0]![1] as CrossCheckEvidence;
  expect(evidence.method).toBe(method);
  expect(evidence.comparedAs).toBe(method === 'eth_getBalance' ? 'quantity' : 'block');
  expect(evidence.agreeingOperators.toSorted()).toEqual(['op0', 'op2']);
  expect(evidence.answer).not.toBe(evidence.majority);
  for (const id of ['op0', 'op2']) expect(g.core.state(id)!.violations, id).toEqual([]);
  expect(g.core.state('op1')!.violations.map((v) => v.type)).toContain('bad_data');
});
