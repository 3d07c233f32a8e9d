/**
 * End to end, chain-aware routing (issue 17's proof): three real anvil nodes A, B, C of one
 * chain behind the gateway, a real viem client, no mocks.
 *
 * The nodes start identical (same chain id, mnemonic and fixed genesis timestamp) and are
 * independent copies of the chain: a block mined on one exists only there, and so does a
 * transaction. C serves clients first, then is kept behind: blocks are mined on A and B only
 * (anvil mines on its own only when a transaction arrives, and none is sent to C directly).
 * C and a fourth node on the wrong chain (chain id 1) sit behind counting proxies, so the test
 * sees exactly which JSON-RPC calls reached them.
 *
 * The tests run in file order and share the nodes: C is admitted and serving, then falls
 * behind; the reads at the tip, the transaction, then the wrong-chain registration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hash, type PublicClient, createPublicClient, createWalletClient, http, parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { ANVIL_CHAIN_ID, type AnvilNode, DEV_ACCOUNTS, startAnvil, startAnvils, stopAllAnvils } from '../support/anvil.js';
import { type CountingProxy, type RecordedCall, startCountingProxy } from '../support/counting-proxy.js';

const TOKEN = 'chain-aware-admin-token-0123456789';
const [SENDER, ALICE, BOB] = DEV_ACCOUNTS;
/** Not a dev account and never given code: an eth_call to it answers 0x on every node. */
const NO_CODE = '0x1111111111111111111111111111111111111111' as const;
/** The chain id the wrong-chain operator reports (the issue's report: chain id 1 for an anvil chain). */
const WRONG_CHAIN_ID = 1;
const MAX_BLOCK_LAG = 2;
const PROBE_INTERVAL_MS = 300;

let a: AnvilNode;
let b: AnvilNode;
let c: AnvilNode;
let wrongChainNode: AnvilNode;
let proxyC: CountingProxy;
let proxyWrong: CountingProxy;
let gateway: Gateway;
let client: PublicClient;

/** viem would retry a failed request and cache block numbers: neither may hide what the gateway answered. */
function publicClient(url: string): PublicClient {
  return createPublicClient({ chain: foundry, cacheTime: 0, pollingInterval: 50, transport: http(url, { retryCount: 0 }) });
}

/** Waits until the async `condition` holds (checked one call after the other); fails naming `what`. */
async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await condition()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const isBlockNumberParam = (value: unknown): boolean => typeof value === 'string' && /^0x[0-9a-f]+$/i.test(value);

/**
 * What a probe may send (the chain id, the head, the tagged blocks `latest`/`safe`/`finalized`
 * and sync state): everything else that reaches an operator was a client's call.
 */
function isProbeLike(call: RecordedCall): boolean {
  switch (call.method) {
    case 'eth_chainId':
    case 'net_version':
    case 'eth_blockNumber':
    case 'eth_syncing':
      return true;
    case 'eth_getBlockByNumber':
      return !isBlockNumberParam(call.params[0]);
    default:
      return false;
  }
}

/** The calls that named a block by number at or above `from` (reads at C's missing blocks). */
function tipReadsAt(proxy: CountingProxy, from: bigint): { getBlock: number; call: number; getLogs: number } {
  const atOrAbove = (value: unknown) => isBlockNumberParam(value) && BigInt(value as string) >= from;
  return {
    getBlock: proxy.countWhere((x) => x.method === 'eth_getBlockByNumber' && atOrAbove(x.params[0])),
    call: proxy.count('eth_call'),
    getLogs: proxy.count('eth_getLogs'),
  };
}

async function admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(new URL(path, gateway.adminUrl), {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined };
}

/** Mines one block on each of A and B, in parallel (never on C). */
const mineOnAAndB = (blocks = 1) => Promise.all([a, b].map((n) => n.rpc('anvil_mine', [`0x${blocks.toString(16)}`])));

const headOf = async (node: AnvilNode) => BigInt(await node.rpc<string>('eth_blockNumber'));

beforeAll(async () => {
  [[a, b, c], wrongChainNode] = (await Promise.all([
    startAnvils(3),
    startAnvil({ chainId: WRONG_CHAIN_ID }),
  ])) as [[AnvilNode, AnvilNode, AnvilNode], AnvilNode];
  [proxyC, proxyWrong] = await Promise.all([startCountingProxy(c.url), startCountingProxy(wrongChainNode.url)]);

  const config = parseConfig({
    rpc: { port: 0 },
    admin: { port: 0, token: TOKEN },
    logLevel: 'silent',
    windowSeconds: 1,
    probes: { intervalMs: PROBE_INTERVAL_MS, minIntervalMs: 100, timeoutMs: 500 },
    chains: { ethereum: { chainId: ANVIL_CHAIN_ID } },
    routing: { chainAware: true, maxBlockLag: MAX_BLOCK_LAG },
    rateLimit: { enabled: false },
    operators: [
      { id: 'a', url: a.url },
      { id: 'b', url: b.url },
      { id: 'c', url: proxyC.url },
    ],
  });
  gateway = await Gateway.start(config);
  client = publicClient(gateway.rpcUrl);
});

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([proxyC?.close(), proxyWrong?.close()]);
  await stopAllAnvils();
});

describe('chain-aware routing in front of real anvil nodes, one kept behind', () => {
  it('admits C while it is at the tip: client calls reach it', async () => {
    await eventually(async () => {
      await client.getBalance({ address: ALICE.address });
      return proxyC.countWhere((x) => !isProbeLike(x)) >= 3;
    }, 'client calls to reach C while it is in sync');
  });

  it('eth_blockNumber never goes backwards while A and B mine and C stays behind', async () => {
    await mineOnAAndB(10);
    const seen: bigint[] = [];
    let mining: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < 200; i++) {
      // A block on A and B every tenth call, mined while the next calls are in flight.
      if (i % 10 === 0) mining = Promise.all([mining, mineOnAAndB()]);
      seen.push(await client.getBlockNumber());
    }
    await mining;
    const backwards = seen.flatMap((n, i) => (i > 0 && n < seen[i - 1]! ? [`#${i}: ${seen[i - 1]} -> ${n}`] : []));
    expect(backwards, 'eth_blockNumber answers lower than an earlier answer').toEqual([]);
    expect(seen.at(-1)!).toBeGreaterThan(seen[0]!);
    // C was really kept behind: more than the lag limit.
    expect((await headOf(a)) - (await headOf(c))).toBeGreaterThan(MAX_BLOCK_LAG);
  });

  it('reads at the tip (getBlock, call, getLogs) never reach C and never fail', async () => {
    const cHead = await headOf(c);
    const before = tipReadsAt(proxyC, cHead + 1n);
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      // The served tip by the quorum rule: the highest block both A and B have.
      const [headA, headB] = await Promise.all([headOf(a), headOf(b)]);
      const tip = headA < headB ? headA : headB;
      expect(tip).toBeGreaterThan(cHead + BigInt(MAX_BLOCK_LAG));
      const outcomes = await Promise.allSettled([
        client.getBlock({ blockNumber: tip }).then((block) => expect(block.number).toBe(tip)),
        client.call({ to: NO_CODE, data: '0x', blockNumber: tip }).then((answer) => expect(answer.data).toBeUndefined()),
        client.getLogs({ fromBlock: tip - 2n, toBlock: tip }).then((logs) => expect(logs).toEqual([])),
      ]);
      for (const [k, o] of outcomes.entries()) {
        if (o.status === 'rejected') failures.push(`#${i} ${['getBlock', 'call', 'getLogs'][k]} at ${tip}: ${String((o.reason as Error).message).split('\n')[0]}`);
      }
      // The tip keeps moving on A and B while the reads go on.
      if (i % 5 === 4) await mineOnAAndB();
    }
    const after = tipReadsAt(proxyC, cHead + 1n);
    const reachedC = { getBlock: after.getBlock - before.getBlock, call: after.call - before.call, getLogs: after.getLogs - before.getLogs };
    expect({ reachedC, failures }, 'tip reads that reached C, and those that failed').toEqual({ reachedC: { getBlock: 0, call: 0, getLogs: 0 }, failures: [] });
  });

  it('C, behind, still serves reads of a block it has', async () => {
    const before = proxyC.countWhere((x) => x.method === 'eth_getBlockByNumber' && x.params[0] === '0x0');
    const genesis = await a.rpc<{ hash: Hash }>('eth_getBlockByNumber', ['0x0', false]);
    await eventually(async () => {
      expect((await client.getBlock({ blockNumber: 0n })).hash).toBe(genesis.hash);
      return proxyC.countWhere((x) => x.method === 'eth_getBlockByNumber' && x.params[0] === '0x0') > before;
    }, 'a read of block 0 to reach C');
  });

  it('a transaction sent with viem is found at once and by waitForTransactionReceipt, on the operator that accepted it', async () => {
    const wallet = createWalletClient({ account: privateKeyToAccount(SENDER.privateKey), chain: foundry, transport: http(gateway.rpcUrl, { retryCount: 0 }) });
    const hash = await wallet.sendTransaction({ to: NO_CODE, value: parseEther('0.25') });

    // anvil mines on arrival (a moment after it answered): exactly one node has it, and the receipt exists only there.
    type Receipt = { blockHash: Hash; status: string } | null;
    let direct: Receipt[] = [];
    await eventually(async () => {
      direct = await Promise.all([a, b, c].map((n) => n.rpc<Receipt>('eth_getTransactionReceipt', [hash])));
      return direct.some((r) => r !== null);
    }, 'a node to have mined the transaction', 5_000);
    const landed = direct.flatMap((r, i) => (r === null ? [] : [i]));
    expect(landed, 'nodes that have the transaction').toHaveLength(1);
    const home = direct[landed[0]!]!;
    expect(home.status).toBe('0x1');

    // Right away, every read of the receipt through the gateway finds it (read-after-write):
    // without it, two reads in three would ask a node that never saw the transaction.
    const misses: string[] = [];
    for (let i = 0; i < 12; i++) {
      try {
        const receipt = await client.getTransactionReceipt({ hash });
        expect(receipt.blockHash).toBe(home.blockHash);
      } catch (err) {
        misses.push(`#${i}: ${String((err as Error).message).split('\n')[0]}`);
      }
    }
    expect(misses, 'receipt reads right after the transaction that did not find it').toEqual([]);

    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50, timeout: 5_000, retryCount: 0 });
    expect(receipt.status).toBe('success');
    expect(receipt.blockHash).toBe(home.blockHash);
  });

  it('an operator on the wrong chain, registered over the admin API, answers no client call', async () => {
    const clientCallsAtWrong = () => proxyWrong.countWhere((x) => !isProbeLike(x));
    let stop = false;
    let calls = 0;
    const errors: string[] = [];
    const traffic = Array.from({ length: 4 }, async (_, worker) => {
      for (let i = worker; !stop; i += 4) {
        try {
          if (i % 3 === 0) await client.getBalance({ address: BOB.address });
          else if (i % 3 === 1) await client.getCode({ address: NO_CODE });
          else await client.getBlock({ blockNumber: 0n });
        } catch (err) {
          errors.push(String((err as Error).message).split('\n')[0]!);
        }
        calls++;
      }
    });
    try {
      // Client traffic is flowing before the operator exists.
      await eventually(async () => calls >= 40, 'client traffic to flow');
      // Register just after a probe round: the longest stretch before the next round would see it.
      const rounds = proxyC.count('eth_chainId');
      await eventually(async () => proxyC.count('eth_chainId') > rounds, 'a probe round to pass');
      const registered = await admin('POST', '/v1/operators', {
        id: 'wrong-chain',
        walletAddress: DEV_ACCOUNTS[2].address,
        url: proxyWrong.url,
        initialStake: '1000000000000000000',
      });
      expect(registered.status, JSON.stringify(registered.body)).toBe(201);
      const callsAtRegistration = calls;
      // Well past the probes that tell its chain: three rounds that reached it, then more traffic.
      await eventually(async () => proxyWrong.count('eth_chainId') >= 3, 'three probe rounds to reach the wrong-chain operator');
      const callsAfterProbes = calls;
      await eventually(async () => calls >= callsAfterProbes + 200, '200 more client calls after the probes');
      expect(calls - callsAtRegistration).toBeGreaterThan(200);
    } finally {
      stop = true;
      await Promise.all(traffic);
    }
    expect(clientCallsAtWrong(), 'client calls that reached the wrong-chain operator').toBe(0);
    expect(errors, 'client calls that failed').toEqual([]);
  });

  it('shows admission and the chain state on the admin API and /metrics', async () => {
    const view = async (id: string) => (await admin('GET', `/v1/operators/${id}`)).body as { admitted?: unknown };
    // C was admitted while in sync: lagging since, it loses head-sensitive requests, not its admission.
    expect((await view('a')).admitted).toBe(true);
    expect((await view('wrong-chain')).admitted).toBe(false);

    const metrics = await (await fetch(new URL('/metrics', gateway.adminUrl))).text();
    const gauge = (name: string, labels: string) => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const tip = Number(await client.getBlockNumber());
    expect(gauge('din_chain_block', 'chain="ethereum",tag="latest"')).toBeGreaterThanOrEqual(tip - 1);
    expect(gauge('din_operator_lag_blocks', 'operator="c"')).toBeGreaterThan(MAX_BLOCK_LAG);
    expect(gauge('din_operator_admitted', 'operator="a"')).toBe(1);
    expect(gauge('din_operator_admitted', 'operator="wrong-chain"')).toBe(0);
    expect(metrics).toMatch(/^din_admissions_total\{[^}]*result="wrong_chain"[^}]*\} [1-9]/m);
  });
});
