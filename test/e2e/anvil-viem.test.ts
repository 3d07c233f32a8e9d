/**
 * End to end: three real Ethereum dev nodes (anvil) behind the gateway, driven by viem
 * over HTTP (single and batched) and WebSocket. No mocks.
 *
 * The three anvils are independent chains that start identical (same chain id, same
 * mnemonic, same genesis timestamp), so read-only answers agree whichever node serves
 * them, while a write lands on exactly one of them. The tests run in file order: the
 * reads that assume untouched nodes (block 0, the sender's balance) come before the
 * transaction, and the failover test, which kills a node, comes last.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'isows';
import {
  type Hash,
  type PublicClient,
  createPublicClient,
  createWalletClient,
  http,
  parseEther,
  rpcSchema,
  webSocket,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import type { Measurement } from '../../src/metrics/measurement.js';
import {
  ANVIL_CHAIN_ID,
  type AnvilNode,
  DEV_ACCOUNTS,
  DEV_BALANCE_WEI,
  startAnvils,
  stopAllAnvils,
} from '../support/anvil.js';

/** A method no node implements, typed so `client.request` accepts it. */
type UnknownMethodSchema = [{ Method: 'foo_bar'; Parameters?: undefined; ReturnType: unknown }];

interface JsonRpcAnswer {
  jsonrpc: string;
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string };
}

const [SENDER, ALICE, BOB] = DEV_ACCOUNTS;
/** Not a dev account: receiving ETH here leaves every dev account's balance untouched. */
const RECIPIENT = '0x1111111111111111111111111111111111111111' as const;
const CHAIN_ID_HEX = `0x${ANVIL_CHAIN_ID.toString(16)}`;

let anvils: AnvilNode[] = [];
let gateway: Gateway;
let counters: Measurement;
let wsUrl: string;
let genesisHash: Hash;

/** viem retries failed requests by default, which would hide a gateway error: never retry here. */
function httpClient(url = gateway.rpcUrl, batch = false): PublicClient {
  return createPublicClient({ chain: foundry, transport: http(url, { batch, retryCount: 0 }) });
}

async function postRaw(body: string, url = gateway.rpcUrl): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: response.status, text: await response.text() };
}

/** Runs `task(i)` for i in [0, total) on `concurrency` workers; returns every outcome, errors included. */
async function runPool<T>(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
  onSettled?: (done: number) => void,
): Promise<{ ok: T[]; errors: { i: number; err: unknown }[] }> {
  const ok: T[] = [];
  const errors: { i: number; err: unknown }[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      try {
        ok.push(await task(i));
      } catch (err) {
        errors.push({ i, err });
      }
      onSettled?.(++done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, errors };
}

/** One of a few reads whose answer is the same on every node, checked against the expected value. */
async function agreeingRead(client: PublicClient, i: number): Promise<void> {
  switch (i % 3) {
    case 0:
      expect(await client.request({ method: 'eth_chainId' })).toBe(CHAIN_ID_HEX);
      return;
    case 1:
      expect(await client.getBalance({ address: ALICE.address })).toBe(DEV_BALANCE_WEI);
      return;
    default:
      expect((await client.getBlock({ blockNumber: 0n })).hash).toBe(genesisHash);
  }
}

beforeAll(async () => {
  anvils = await startAnvils(3);
  // Fixed genesis timestamp: every node must have the very same genesis block.
  const hashes = await Promise.all(anvils.map((a) => a.rpc<{ hash: Hash }>('eth_getBlockByNumber', ['0x0', false]).then((b) => b.hash)));
  expect(new Set(hashes).size).toBe(1);
  genesisHash = hashes[0]!;

  const config = parseConfig({
    rpc: { port: 0 },
    admin: { port: 0 },
    logLevel: 'silent',
    // Every request answered by exactly one attempt (the tests count them): no second opinions
    // for operators still proving themselves (test/integration/proving-period.test.ts).
    staking: { provingAnswers: 0 },
    operators: anvils.map((a, i) => ({ id: `anvil-${i}`, url: a.url })),
  });
  gateway = await Gateway.start(config);
  counters = gateway.measurement;
  wsUrl = gateway.rpcUrl.replace(/^http/, 'ws');
});

afterAll(async () => {
  await gateway?.stop();
  await Promise.all(anvils.map((a) => a.stop()));
  await stopAllAnvils();
});

describe('gateway in front of three anvil nodes', () => {
  it('routes to all three operators for the default chain', () => {
    const operators = gateway.routing.current.route('ethereum')!.operators;
    expect(operators.map((o) => o.id)).toEqual(['anvil-0', 'anvil-1', 'anvil-2']);
    expect(operators.map((o) => o.index)).toEqual([0, 1, 2]);
  });

  describe('HTTP, one request per call', () => {
    it('answers chain id, block number, balance and genesis block', async () => {
      const client = httpClient();
      expect(await client.getChainId()).toBe(ANVIL_CHAIN_ID);
      expect(await client.getBlockNumber()).toBe(0n);
      expect(await client.getBalance({ address: SENDER.address })).toBe(DEV_BALANCE_WEI);
      expect(await client.getTransactionCount({ address: SENDER.address })).toBe(0);
      const genesis = await client.getBlock({ blockNumber: 0n });
      expect(genesis.hash).toBe(genesisHash);
      expect(genesis.number).toBe(0n);
    });

    it('serves /rpc/ethereum like /', async () => {
      const client = httpClient(`${gateway.rpcUrl}rpc/ethereum`);
      expect(await client.getChainId()).toBe(ANVIL_CHAIN_ID);
      expect(await client.getBalance({ address: BOB.address })).toBe(DEV_BALANCE_WEI);
    });

    it("passes the operator's error for an unknown method through untouched", async () => {
      const client = createPublicClient({
        chain: foundry,
        transport: http(gateway.rpcUrl, { retryCount: 0 }),
        rpcSchema: rpcSchema<UnknownMethodSchema>(),
      });
      const failure = await client.request({ method: 'foo_bar' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(Error);
      expect(failure).toMatchObject({ name: 'MethodNotFoundRpcError', code: -32601 });

      // Byte for byte what a node answers directly, but for the id: the gateway writes the
      // client's id back over its own upstream id, in place, padded with spaces.
      const request = '{"jsonrpc":"2.0","id":"q-1","method":"foo_bar","params":[]}';
      const viaGateway = await postRaw(request);
      const direct = await postRaw(request, anvils[0]!.url);
      expect(viaGateway.status).toBe(200);
      expect(viaGateway.text.replace(/"q-1" +/, '"q-1"')).toBe(direct.text);
      expect(JSON.parse(viaGateway.text)).toMatchObject({ id: 'q-1', error: { code: -32601 } });
    });
  });

  describe('HTTP batches', () => {
    it('answers a viem batch of concurrent calls, each correctly', async () => {
      let fetches = 0;
      let batchedCalls = 0;
      const client = createPublicClient({
        chain: foundry,
        transport: http(gateway.rpcUrl, {
          batch: { batchSize: 100, wait: 0 },
          retryCount: 0,
          onFetchRequest: (_request, init) => {
            fetches++;
            const body = JSON.parse(String(init.body)) as unknown;
            batchedCalls += Array.isArray(body) ? body.length : 1;
          },
        }),
      });
      const [chainId, blockNumber, senderBalance, aliceBalance, bobBalance, genesis, nonce, code] = await Promise.all([
        client.getChainId(),
        client.getBlockNumber(),
        client.getBalance({ address: SENDER.address }),
        client.getBalance({ address: ALICE.address }),
        client.getBalance({ address: BOB.address }),
        client.getBlock({ blockNumber: 0n }),
        client.getTransactionCount({ address: ALICE.address }),
        client.getCode({ address: RECIPIENT }),
      ]);
      expect(chainId).toBe(ANVIL_CHAIN_ID);
      expect(blockNumber).toBe(0n);
      expect(senderBalance).toBe(DEV_BALANCE_WEI);
      expect(aliceBalance).toBe(DEV_BALANCE_WEI);
      expect(bobBalance).toBe(DEV_BALANCE_WEI);
      expect(genesis.hash).toBe(genesisHash);
      expect(nonce).toBe(0);
      expect(code).toBeUndefined();
      // They really went out together, not one HTTP request each.
      expect(batchedCalls).toBe(8);
      expect(fetches).toBe(1);
    });

    it('fails only the bad call of a viem batch', async () => {
      const client = createPublicClient({
        chain: foundry,
        transport: http(gateway.rpcUrl, { batch: true, retryCount: 0 }),
        rpcSchema: rpcSchema<[...UnknownMethodSchema, { Method: 'eth_chainId'; Parameters?: undefined; ReturnType: string }]>(),
      });
      const [good, bad, alsoGood] = await Promise.allSettled([
        client.request({ method: 'eth_chainId' }),
        client.request({ method: 'foo_bar' }),
        client.request({ method: 'eth_chainId' }),
      ]);
      expect(good).toEqual({ status: 'fulfilled', value: CHAIN_ID_HEX });
      expect(alsoGood).toEqual({ status: 'fulfilled', value: CHAIN_ID_HEX });
      expect(bad.status).toBe('rejected');
      expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: -32601 });
    });

    it('answers a raw mixed batch in order, echoing ids, skipping the notification', async () => {
      const batch = [
        { jsonrpc: '2.0', id: 7, method: 'eth_chainId' },
        { jsonrpc: '2.0', method: 'eth_chainId' }, // notification: no answer
        { jsonrpc: '1.0', id: 'bad', method: 'eth_chainId' }, // invalid item
        { jsonrpc: '2.0', id: 'balance', method: 'eth_getBalance', params: [ALICE.address, 'latest'] },
        { jsonrpc: '2.0', id: null, method: 'eth_blockNumber' },
        { jsonrpc: '2.0', id: 7.5, method: 'foo_bar' },
        { jsonrpc: '2.0', id: 'genesis', method: 'eth_getBlockByNumber', params: ['0x0', false] },
        42, // not even an object
      ];
      const { status, text } = await postRaw(JSON.stringify(batch));
      expect(status).toBe(200);
      const answers = JSON.parse(text) as JsonRpcAnswer[];
      expect(answers.map((a) => a.id)).toEqual([7, 'bad', 'balance', null, 7.5, 'genesis', null]);
      for (const a of answers) expect(a.jsonrpc).toBe('2.0');
      expect(answers[0]!.result).toBe(CHAIN_ID_HEX);
      expect(answers[1]!.error?.code).toBe(-32600);
      expect(answers[1]).not.toHaveProperty('result');
      expect(BigInt(answers[2]!.result as string)).toBe(DEV_BALANCE_WEI);
      expect(answers[3]!.result).toBe('0x0');
      expect(answers[4]!.error?.code).toBe(-32601);
      expect((answers[5]!.result as { hash: string }).hash).toBe(genesisHash);
      expect(answers[6]!.error?.code).toBe(-32600);
    });

    it('answers a batch of only notifications with no body', async () => {
      const { status, text } = await postRaw(JSON.stringify([
        { jsonrpc: '2.0', method: 'eth_chainId' },
        { jsonrpc: '2.0', method: 'eth_blockNumber' },
      ]));
      expect(status).toBeGreaterThanOrEqual(200);
      expect(status).toBeLessThan(300);
      expect(text).toBe('');
    });
  });

  describe('WebSocket', () => {
    it('answers the same reads, including many concurrent ones', async () => {
      const client = createPublicClient({
        chain: foundry,
        transport: webSocket(wsUrl, { retryCount: 0, reconnect: false, keepAlive: false }),
      });
      try {
        expect(await client.getChainId()).toBe(ANVIL_CHAIN_ID);
        expect(await client.getBlockNumber()).toBe(0n);
        expect(await client.getBalance({ address: SENDER.address })).toBe(DEV_BALANCE_WEI);
        expect((await client.getBlock({ blockNumber: 0n })).hash).toBe(genesisHash);

        const accounts = [SENDER, ALICE, BOB];
        const balances = await Promise.all(Array.from({ length: 60 }, (_, i) => client.getBalance({ address: accounts[i % 3]!.address })));
        expect(balances).toEqual(Array.from({ length: 60 }, () => DEV_BALANCE_WEI));
        const mixed = await Promise.all([
          client.request({ method: 'eth_chainId' }),
          client.getTransactionCount({ address: BOB.address }),
          client.getBlock({ blockNumber: 0n }).then((b) => b.hash),
          client.request({ method: 'eth_blockNumber' }),
        ]);
        expect(mixed).toEqual([CHAIN_ID_HEX, 0, genesisHash, '0x0']);
      } finally {
        (await client.transport.getRpcClient()).close();
      }
    });

    it('passes an unknown-method error through and serves /rpc/ethereum', async () => {
      const client = createPublicClient({
        chain: foundry,
        transport: webSocket(`${wsUrl}rpc/ethereum`, { retryCount: 0, reconnect: false, keepAlive: false }),
        rpcSchema: rpcSchema<[...UnknownMethodSchema, { Method: 'eth_chainId'; Parameters?: undefined; ReturnType: string }]>(),
      });
      try {
        await expect(client.request({ method: 'foo_bar' })).rejects.toMatchObject({ code: -32601 });
        expect(await client.request({ method: 'eth_chainId' })).toBe(CHAIN_ID_HEX);
      } finally {
        (await client.transport.getRpcClient()).close();
      }
    });

    it('answers a raw batch message with one array, in order', async () => {
      const socket = new WebSocket(wsUrl);
      try {
        await new Promise<void>((resolve, reject) => {
          socket.addEventListener('open', () => resolve());
          socket.addEventListener('error', () => reject(new Error('WebSocket failed to open')));
        });
        const reply = new Promise<string>((resolve) => socket.addEventListener('message', (ev) => resolve(String(ev.data))));
        socket.send(JSON.stringify([
          { jsonrpc: '2.0', id: 'a', method: 'eth_chainId' },
          { jsonrpc: '2.0', method: 'eth_chainId' },
          { jsonrpc: '2.0', id: 'b', method: 'eth_getBalance', params: [BOB.address, '0x0'] },
        ]));
        const answers = JSON.parse(await reply) as JsonRpcAnswer[];
        expect(answers.map((a) => a.id)).toEqual(['a', 'b']);
        expect(answers[0]!.result).toBe(CHAIN_ID_HEX);
        expect(BigInt(answers[1]!.result as string)).toBe(DEV_BALANCE_WEI);
      } finally {
        socket.close();
      }
    });
  });

  it('answers ids anvil cannot read back (fractions, 1e3, huge integers) without blaming any operator', async () => {
    const failuresBefore = anvils.map((_, i) => counters.count(i, 'invalid_envelope'));
    for (const [idText, id] of [['7.5', 7.5], ['1e3', 1000], ['18446744073709551617', 18446744073709551617], ['-3', -3]] as const) {
      const res = await postRaw(`{"jsonrpc":"2.0","id":${idText},"method":"eth_chainId"}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ jsonrpc: '2.0', id, result: CHAIN_ID_HEX });
    }
    expect(anvils.map((_, i) => counters.count(i, 'invalid_envelope'))).toEqual(failuresBefore);
  });

  it('spreads reads over every operator', async () => {
    const before = anvils.map((_, i) => counters.count(i, 'success'));
    // viem dedupes identical concurrent getBlock calls: count what really reached the gateway.
    let fetches = 0;
    const client = createPublicClient({
      chain: foundry,
      transport: http(gateway.rpcUrl, { retryCount: 0, onFetchRequest: () => void fetches++ }),
    });
    const { errors } = await runPool(300, 8, (i) => agreeingRead(client, i));
    expect(errors).toEqual([]);
    expect(fetches).toBeGreaterThan(200);
    const served = anvils.map((_, i) => counters.count(i, 'success') - before[i]!);
    // Every request answered by exactly one successful attempt.
    expect(served.reduce((a, b) => a + b, 0)).toBe(fetches);
    // Equal stakes: about a third each; a tenth is far below any plausible draw.
    for (const n of served) expect(n).toBeGreaterThan(fetches / 10);
  });

  it('with upstream pipelining, anvil answers reads shared on two connections per node correctly', async () => {
    // 32 clients over 2 connections per node: requests are pipelined and written together.
    const config = parseConfig({
      rpc: { port: 0 },
      admin: { port: 0 },
      logLevel: 'silent',
      upstream: { connections: 2, pipelining: 8 },
      operators: anvils.map((a, i) => ({ id: `anvil-${i}`, url: a.url })),
    });
    const pipelined = await Gateway.start(config);
    try {
      const client = httpClient(pipelined.rpcUrl);
      const { errors } = await runPool(600, 32, (i) => agreeingRead(client, i));
      expect(errors).toEqual([]);
      for (let i = 0; i < anvils.length; i++) {
        // anvil passed the pipelining check, so these reads really were pipelined.
        expect(pipelined.operatorRef(`anvil-${i}`)?.upstream.pipeliningState).toBe('on');
        expect(pipelined.measurement.count(i, 'success')).toBeGreaterThan(0);
        for (const outcome of ['connect', 'timeout', 'invalid_envelope', 'http_5xx', 'http_other'] as const) {
          expect(pipelined.measurement.count(i, outcome)).toBe(0);
        }
      }
    } finally {
      await pipelined.stop();
    }
  });

  it('forwards a signed transaction exactly once: it lands on exactly one node', async () => {
    const account = privateKeyToAccount(SENDER.privateKey);
    expect(account.address).toBe(SENDER.address);
    const wallet = createWalletClient({ account, chain: foundry, transport: http(gateway.rpcUrl, { retryCount: 0 }) });
    const value = parseEther('1.5');
    const hash = await wallet.sendTransaction({ to: RECIPIENT, value });
    expect(hash).toMatch(/^0x[0-9a-f]{64}$/);

    // anvil mines on arrival; ask every node directly which one has it.
    type Receipt = { status: string; transactionHash: string; blockNumber: string } | null;
    let receipts: Receipt[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      receipts = await Promise.all(anvils.map((a) => a.rpc<Receipt>('eth_getTransactionReceipt', [hash])));
      if (receipts.some((r) => r !== null)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const landed = receipts.flatMap((r, i) => (r === null ? [] : [i]));
    expect(landed).toHaveLength(1);
    const home = landed[0]!;
    expect(receipts[home]).toMatchObject({ status: '0x1', transactionHash: hash, blockNumber: '0x1' });

    // And nowhere else, not even pending: the others never saw it.
    for (const [i, node] of anvils.entries()) {
      const tx = await node.rpc<unknown>('eth_getTransactionByHash', [hash]);
      const nonce = await node.rpc<string>('eth_getTransactionCount', [SENDER.address, 'pending']);
      const received = await node.rpc<string>('eth_getBalance', [RECIPIENT, 'latest']);
      const height = await node.rpc<string>('eth_blockNumber');
      if (i === home) {
        expect(tx).not.toBeNull();
        expect([nonce, BigInt(received), height]).toEqual(['0x1', value, '0x1']);
      } else {
        expect(tx).toBeNull();
        expect([nonce, BigInt(received), height]).toEqual(['0x0', 0n, '0x0']);
      }
    }
  });

  it('fails over when a node dies mid-traffic: no client sees an error', async () => {
    const dead = 2;
    const client = httpClient();
    const total = 200;
    const killAfter = 50;
    let killed: Promise<void> | undefined;
    let doneWhenDead = -1;
    let successesWhenDead = -1;
    const connectBefore = counters.count(dead, 'connect');
    let done = 0;

    const { errors } = await runPool(
      total,
      4,
      async (i) => {
        await agreeingRead(client, i);
        // Keep the traffic flowing while the node goes down, so some requests are in flight on it.
        if (killed !== undefined && doneWhenDead < 0) await new Promise((r) => setTimeout(r, 2));
      },
      (n) => {
        done = n;
        if (n === killAfter) {
          killed = anvils[dead]!.stop().then(() => {
            doneWhenDead = done;
            successesWhenDead = counters.count(dead, 'success');
          });
        }
      },
    );
    await killed;

    expect(errors).toEqual([]);
    expect(anvils[dead]!.exited).toBe(true);
    // The node died with plenty of traffic still to come.
    expect(doneWhenDead).toBeGreaterThanOrEqual(killAfter);
    expect(doneWhenDead).toBeLessThan(total - 50);
    // The dead node was picked again and failed to connect, and it served nothing once gone.
    expect(counters.count(dead, 'connect')).toBeGreaterThan(connectBefore);
    expect(counters.count(dead, 'success')).toBe(successesWhenDead);
    // The live ones carried the traffic.
    for (const i of [0, 1]) expect(counters.count(i, 'success')).toBeGreaterThan(0);

    // And the gateway keeps answering afterwards.
    const after = await runPool(60, 4, (i) => agreeingRead(client, i));
    expect(after.errors).toEqual([]);
  });
});
