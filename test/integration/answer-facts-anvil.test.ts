/**
 * The answer facts on anvil's real answers, over real sockets: a dev node with mining off, so
 * the test decides its head (anvil_mine) and a resent transaction is still in the pool.
 */
import { parseGwei, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockNumberOfResult,
  isNonceError,
  quantityResult,
  resultIsNull,
  saysAlreadyKnown,
  saysBlockUnknown,
  transactionHash,
} from '../../src/router/answer-facts.js';
import { newResponseScan, scanResponse, type ResponseScan } from '../../src/router/response-scan.js';
import { ANVIL_CHAIN_ID, DEV_ACCOUNTS, startAnvil, type AnvilNode } from '../support/anvil.js';

let node: AnvilNode;

beforeAll(async () => {
  node = await startAnvil({ args: ['--no-mining'] });
});

afterAll(async () => {
  await node?.stop();
});

/** One call, answered as bytes and scanned as the gateway scans operator answers. */
async function ask(method: string, params: unknown[]): Promise<[Buffer, ResponseScan]> {
  const res = await fetch(node.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = Buffer.from(await res.arrayBuffer());
  const scan = scanResponse(body, 0, body.length, newResponseScan());
  expect(scan.ok, body.toString()).toBe(true);
  return [body, scan];
}

const ADDRESS = DEV_ACCOUNTS[0].address;
const sender = privateKeyToAccount(DEV_ACCOUNTS[1].privateKey);
const transfer = (nonce: number, value: bigint): Promise<Hex> =>
  sender.signTransaction({
    chainId: ANVIL_CHAIN_ID,
    type: 'eip1559',
    nonce,
    to: ADDRESS,
    value,
    gas: 21_000n,
    maxFeePerGas: parseGwei('20'),
    maxPriorityFeePerGas: 1n,
  });

describe('answer facts on anvil answers', () => {
  it('reads the head from eth_blockNumber and from eth_getBlockByNumber', async () => {
    await ask('anvil_mine', ['0x3']);
    expect(quantityResult(...(await ask('eth_blockNumber', [])))).toBe(3);
    expect(blockNumberOfResult(...(await ask('eth_getBlockByNumber', ['latest', false])))).toBe(3);
    expect(blockNumberOfResult(...(await ask('eth_getBlockByNumber', ['0x2', true])))).toBe(2);
  });

  it('recognises every answer anvil gives for a block past its head', async () => {
    const head = quantityResult(...(await ask('eth_blockNumber', [])));
    const future = `0x${(head + 100).toString(16)}`;
    // {"code":-32602,"message":"BlockOutOfRangeError: block height is 3 but requested was 103"}
    for (const [method, params] of [
      ['eth_getBalance', [ADDRESS, future]],
      ['eth_getBalance', [ADDRESS, { blockNumber: future }]],
      ['eth_getCode', [ADDRESS, future]],
      ['eth_getStorageAt', [ADDRESS, '0x0', future]],
      ['eth_getTransactionCount', [ADDRESS, future]],
      ['eth_call', [{ to: ADDRESS, data: '0x' }, future]],
      ['eth_estimateGas', [{ to: ADDRESS }, future]],
      ['eth_getProof', [ADDRESS, [], future]],
      ['eth_getBlockTransactionCountByNumber', [future]],
      ['debug_traceCall', [{ to: ADDRESS }, future, {}]],
      ['eth_getLogs', [{ fromBlock: future, toBlock: future }]],
    ] as const) {
      const [body, scan] = await ask(method, [...params]);
      expect(scan.isError, `${method}: ${body.toString()}`).toBe(true);
      expect(saysBlockUnknown(body, scan), `${method}: ${body.toString()}`).toBe(true);
    }
    // {"code":-32000,"message":"unknown block"}
    expect(saysBlockUnknown(...(await ask('eth_getLogs', [{ blockHash: `0x${'11'.repeat(32)}` }])))).toBe(true);
    // null rather than an error: the caller compares the block with the served tip.
    for (const [method, params] of [
      ['eth_getBlockByNumber', [future, false]],
      ['eth_getBlockReceipts', [future]],
      ['eth_getTransactionByBlockNumberAndIndex', [future, '0x0']],
    ] as const) {
      const [body, scan] = await ask(method, [...params]);
      expect(resultIsNull(body, scan), `${method}: ${body.toString()}`).toBe(true);
      expect(saysBlockUnknown(body, scan)).toBe(false);
    }
  });

  it('does not read other errors as an unknown block', async () => {
    // {"code":-32602,"message":"cannot parse integer from empty string"}
    expect(saysBlockUnknown(...(await ask('eth_getBalance', [ADDRESS, '0x'])))).toBe(false);
    // {"code":-32001,"message":"Resource not found"}: generic, not taken as a block answer.
    expect(saysBlockUnknown(...(await ask('eth_getBalance', [ADDRESS, { blockHash: `0x${'11'.repeat(32)}` }])))).toBe(false);
    expect(saysBlockUnknown(...(await ask('eth_getBalance', [ADDRESS, 'latest'])))).toBe(false);
  });

  it('tells an already known transaction from a nonce error, and hashes it as anvil does', async () => {
    const raw = await transfer(0, 1n);
    const [acceptedBody, accepted] = await ask('eth_sendRawTransaction', [raw]);
    expect(accepted.isError).toBe(false);
    const hash = JSON.parse(acceptedBody.toString()).result as string;
    expect(transactionHash(raw)).toBe(hash);

    // {"code":-32003,"message":"transaction already imported"}
    const again = await ask('eth_sendRawTransaction', [raw]);
    expect(saysAlreadyKnown(...again)).toBe(true);
    expect(isNonceError(...again)).toBe(false);

    // {"code":-32003,"message":"replacement transaction underpriced"}
    const sameNonce = await ask('eth_sendRawTransaction', [await transfer(0, 2n)]);
    expect(sameNonce[1].isError).toBe(true);
    expect(saysAlreadyKnown(...sameNonce)).toBe(false);
    expect(isNonceError(...sameNonce)).toBe(false);

    // Mined: {"code":-32003,"message":"nonce too low"}, for the same transaction and for another.
    await ask('anvil_mine', ['0x1']);
    expect(resultIsNull(...(await ask('eth_getTransactionReceipt', [hash])))).toBe(false);
    for (const tx of [raw, await transfer(0, 3n)]) {
      const late = await ask('eth_sendRawTransaction', [tx]);
      expect(isNonceError(...late)).toBe(true);
      expect(saysAlreadyKnown(...late)).toBe(false);
      expect(saysBlockUnknown(...late)).toBe(false);
    }
  });
});
