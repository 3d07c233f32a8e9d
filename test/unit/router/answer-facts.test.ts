import { describe, expect, it } from 'vitest';
import {
  ERROR_INSPECT_MAX_BYTES,
  blockNumberOfResult,
  errorText,
  isNonceError,
  quantityResult,
  resultIsNull,
  saysAlreadyKnown,
  saysBlockUnknown,
  transactionHash,
} from '../../../src/router/answer-facts.js';
import { newResponseScan, scanResponse, type ResponseScan } from '../../../src/router/response-scan.js';

const MAX = Number.MAX_SAFE_INTEGER;

function answer(text: string): [Buffer, ResponseScan] {
  const body = Buffer.from(text);
  return [body, scanResponse(body, 0, body.length, newResponseScan())];
}

const result = (value: string) => answer(`{"jsonrpc":"2.0","id":1,"result":${value}}`);
const error = (message: string, code = -32000, data?: string) =>
  answer(JSON.stringify({ jsonrpc: '2.0', id: 1, error: data === undefined ? { code, message } : { code, message, data } }));

describe('quantityResult', () => {
  it.each([
    ['"0x0"', 0],
    ['"0x1b4"', 0x1b4],
    ['"0x01b4"', 0x1b4],
    ['"0X10"', 16],
    ['"0x1fffffffffffff"', MAX],
    ['"0xffffffffffffffff"', MAX],
    ['"0x10000000000000000"', -1],
    ['"0x"', -1],
    ['"0xzz"', -1],
    ['"latest"', -1],
    ['"0x\\u0031"', -1], // escaped digits are not how any node writes a quantity
    ['436', -1],
    ['null', -1],
    ['{"number":"0x1"}', -1],
  ])('%s → %i', (value, expected) => {
    const [body, scan] = result(value);
    expect(scan.ok).toBe(true);
    expect(quantityResult(body, scan)).toBe(expected);
  });

  it('is -1 for an error answer and for an answer the scanner refused', () => {
    expect(quantityResult(...error('header not found'))).toBe(-1);
    expect(quantityResult(...answer('{"jsonrpc":"2.0","id":1,"result":"0x1","result":"0x2"}'))).toBe(-1);
    expect(quantityResult(...answer('{"jsonrpc":"2.0","id":1,"result":"0x1"'))).toBe(-1);
  });

  it('reads the result wherever it is among the members, whitespace around', () => {
    expect(quantityResult(...answer('{ "result" :\n "0x2a" , "id":1,"jsonrpc":"2.0" }'))).toBe(42);
  });
});

describe('resultIsNull', () => {
  it('is true for a null result only', () => {
    expect(resultIsNull(...result('null'))).toBe(true);
    expect(resultIsNull(...answer('{"jsonrpc":"2.0","result" : null ,"id":1}'))).toBe(true);
    expect(resultIsNull(...result('"null"'))).toBe(false);
    expect(resultIsNull(...result('[]'))).toBe(false);
    expect(resultIsNull(...result('{}'))).toBe(false);
    expect(resultIsNull(...result('"0x0"'))).toBe(false);
    expect(resultIsNull(...error('not found'))).toBe(false);
  });
});

describe('blockNumberOfResult', () => {
  it('reads a block object\'s own number', () => {
    expect(blockNumberOfResult(...result('{"hash":"0x1","number":"0x1b4","transactions":[]}'))).toBe(0x1b4);
  });

  it('is not fooled by number keys nested in transactions or other members', () => {
    const nested = '{"transactions":[{"number":"0x99","blockNumber":"0x99"}],"withdrawals":{"number":"0x98"},"number":"0x5"}';
    expect(blockNumberOfResult(...result(nested))).toBe(5);
    expect(blockNumberOfResult(...result('{"transactions":[{"number":"0x99"}]}'))).toBe(-1);
    expect(blockNumberOfResult(...result('{"a":"\\"number\\":\\"0x7\\"","number":"0x6"}'))).toBe(6);
  });

  it('reads an escaped key and skips keys that only look alike', () => {
    expect(blockNumberOfResult(...result('{"\\u006eumber":"0x3"}'))).toBe(3);
    expect(blockNumberOfResult(...result('{"numbers":"0x3","Number":"0x4","number":"0x5"}'))).toBe(5);
  });

  it.each([
    ['a number that is not a quantity', '{"number":12}'],
    ['a null number', '{"number":null}'],
    ['an invalid quantity', '{"number":"0xg"}'],
    ['no number', '{"hash":"0x1"}'],
    ['an empty block', '{}'],
    ['a null result', 'null'],
    ['a quantity result', '"0x5"'],
    ['an array result', '[{"number":"0x5"}]'],
  ])('is -1 for %s', (_name, value) => {
    expect(blockNumberOfResult(...result(value))).toBe(-1);
  });

  it('finds the number past a long member', () => {
    const big = JSON.stringify({ logsBloom: `0x${'0'.repeat(512)}`, extraData: 'x\\"y'.repeat(1000), number: '0xabc' });
    expect(blockNumberOfResult(...result(big))).toBe(0xabc);
  });
});

/** Error messages each client answers when it does not have the block; the source of each is named. */
const BLOCK_UNKNOWN_FIXTURES: [string, string, number?, string?][] = [
  // geth internal/ethapi (eth_call, eth_getBalance… past its head); erigon since erigontech/erigon#17043.
  ['geth', 'header not found'],
  // geth eth/filters: eth_getLogs by an unknown blockHash; anvil says the same (captured).
  ['geth, anvil: eth_getLogs by an unknown hash', 'unknown block'],
  // geth: safe/finalized not yet known.
  ['geth: no finalized block', 'finalized block not found'],
  ['geth: no safe block', 'safe block not found'],
  // execution-apis tests/eth_getLogs/filter-error-future-block-range.io (geth).
  ['geth: eth_getLogs past its head', 'block range extends beyond current head block', -32602],
  // besu RpcErrorType.BLOCK_NOT_FOUND, as in erigontech/erigon#12850.
  ['besu', 'Block not found'],
  // reth EthApiError::HeaderNotFound (crates/rpc/rpc-eth-types/src/error/mod.rs tests).
  ['reth: by number', 'block not found: 0x186a0', -32001],
  ['reth: by hash', 'block not found: hash 0x1a15e3c30cf094a99826869517b16d185d45831d3a494f01030b0001a9d3ebb9', -32001],
  ['reth: eth_getLogs range', 'header range not found, start block 0x1, end block 0x10', -32001],
  // erigon: erigontech/erigon#5365 (debug_traceCall), #995, #5644 (trace_block).
  ['erigon: debug_traceCall', 'block 15359722(0x928f9b8739ed29829a572be1f1e6e4b2a2d5e8a8b1b0f9e1b8c4a2f2c7d3b2a1) not found'],
  ['erigon: by number', 'block 18446744073709551615 not found'],
  ['erigon: trace_block', 'could not find block 15688960'],
  // nethermind BlockFinderExtensions.SearchForHeader / SearchForBlock; NethermindEth/nethermind#11173.
  ['nethermind: header by number', '4294967295 could not be found'],
  ['nethermind: block by number', 'Block 123 could not be found', -32001],
  ['nethermind: block by hash', 'Block 0x1a15e3c30cf094a99826869517b16d185d45831d3a494f01030b0001a9d3ebb9 could not be found', -32001],
  ['nethermind: safe/finalized missing', 'Unknown block error', -39001],
  // anvil (captured, see the integration test): eth_getBalance, eth_call, eth_getLogs… past its head.
  ['anvil', 'BlockOutOfRangeError: block height is 0 but requested was 100', -32602],
  // A provider in front of geth, as quoted in NethermindEth/nethermind#11173.
  ['a provider', 'upstream does not have the requested block yet', -32603],
  // The phrase in data rather than in the message.
  ['in data', 'Internal error', -32603, 'header not found'],
];

/** Errors that must not read as "block unknown". */
const NOT_BLOCK_UNKNOWN: [string, string, number?][] = [
  // State pruning: the operator has the block, not its old state (another problem).
  ['geth: pruned state', 'missing trie node 3c7e1b2ac4ccb3f3e1a8c0a7c0a4c0e8f0f6c6e8 (path ) state 0x1 is not available'],
  ['reth: pruned history', 'pruned history unavailable', 4444],
  ['nethermind: no state', 'No state available for block 0xe7b1e5b5b5c730816ef2b9627a85c227f6924f27504f1b36cc7328bff79ecc6e', -32002],
  // reth: a transaction index lookup, not a block.
  ['reth: tx index', 'unknown block or tx index', -32001],
  // Generic EIP-1474 resource-not-found (anvil uses it for unknown hashes and transactions too).
  ['anvil: resource not found', 'Resource not found', -32001],
  ['a revert', 'execution reverted: block not allowed'],
  ['a nonce error', 'nonce too low'],
  ['a transaction', 'transaction not found'],
  ['anvil: invalid block', 'cannot parse integer from empty string', -32602],
  ['a method', 'the method eth_foo does not exist/is not available', -32601],
];

describe('saysBlockUnknown', () => {
  it.each(BLOCK_UNKNOWN_FIXTURES)('%s: %s', (_client, message, code, data) => {
    expect(saysBlockUnknown(...error(message, code, data))).toBe(true);
  });

  it.each(NOT_BLOCK_UNKNOWN)('not %s: %s', (_client, message, code) => {
    expect(saysBlockUnknown(...error(message, code))).toBe(false);
  });

  it('is false for results, even ones that quote the phrase', () => {
    expect(saysBlockUnknown(...result('"header not found"'))).toBe(false);
    expect(saysBlockUnknown(...result('null'))).toBe(false);
  });

  it('reads escaped messages and an escaped error key', () => {
    expect(saysBlockUnknown(...answer('{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header \\u006eot found"}}'))).toBe(true);
    expect(saysBlockUnknown(...answer('{"jsonrpc":"2.0","id":1,"\\u0065rror":{"code":-32000,"message":"header not found"}}'))).toBe(true);
  });

  it('does not inspect error answers larger than the limit', () => {
    const padded = error('header not found', -32000, 'x'.repeat(ERROR_INSPECT_MAX_BYTES));
    expect(padded[1].ok).toBe(true);
    expect(saysBlockUnknown(...padded)).toBe(false);
    expect(errorText(...padded)).toBeUndefined();
    const justUnder = error('header not found', -32000, 'x'.repeat(ERROR_INSPECT_MAX_BYTES - 200));
    expect(saysBlockUnknown(...justUnder)).toBe(true);
  });

  it('is false for answers the scanner refused', () => {
    expect(saysBlockUnknown(...answer('{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"header not found"}}'))).toBe(false);
    expect(saysBlockUnknown(...answer('{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"header not found"'))).toBe(false);
  });
});

describe('saysAlreadyKnown and isNonceError', () => {
  const ALREADY_KNOWN: [string, string, number?][] = [
    // geth core/txpool ErrAlreadyKnown; reth RpcPoolError::AlreadyKnown; erigon txpool.
    ['geth, reth, erigon', 'already known'],
    // besu "Known transaction"; geth before 1.9: "known transaction: <hash>".
    ['besu', 'Known transaction'],
    ['old geth', 'known transaction: 0x9fb1f4415a869388009eba6d71750dad186cd2b574c8cd672cdafc33ca727d2d'],
    // anvil --no-mining (captured, see the integration test).
    ['anvil', 'transaction already imported', -32003],
    // openethereum.
    ['openethereum', 'Transaction with the same hash was already imported.', -32010],
    // nethermind AcceptTxResult.AlreadyKnown (-32010), as the dfinity evm-rpc-canister parser reads it.
    ['nethermind', 'AlreadyKnown', -32010],
    ['a gRPC-style provider', 'ALREADY_EXISTS: transaction already exists'],
    ['erigon (resubmitters\' tables)', 'INTERNAL_ERROR: existing tx with same hash'],
  ];
  const NONCE: [string, string, number?][] = [
    ['geth, erigon, anvil (captured)', 'nonce too low', -32003],
    ['reth', 'nonce too low: next nonce 5, tx nonce 3', -32003],
    ['besu', 'Nonce too low', -32001],
    ['geth: too high', 'nonce too high'],
    ['besu: too high', 'Nonce too high', -32006],
    ['openethereum', 'Transaction nonce is too low. Try incrementing the nonce.', -32010],
    ['nethermind: old nonce', 'OldNonce', -32010],
    ['nethermind: gap', 'NonceGap, Future nonce. Expected nonce: 5', -32010],
    ['reth: max', 'nonce has max value'],
  ];
  const NEITHER: [string, string, number?][] = [
    ['anvil: same nonce, different transaction (captured)', 'replacement transaction underpriced', -32003],
    ['geth: funds', 'insufficient funds for gas * price + value: have 0 want 21000'],
    ['reth: reserved', 'address already reserved'],
    ['anvil: undecodable (captured)', 'Failed to decode transaction', -32602],
    ['geth: underpriced', 'transaction underpriced'],
  ];

  it.each(ALREADY_KNOWN)('already known, %s: %s', (_client, message, code) => {
    const [body, scan] = error(message, code);
    expect(saysAlreadyKnown(body, scan)).toBe(true);
    expect(isNonceError(body, scan)).toBe(false);
  });

  it.each(NONCE)('nonce error, %s: %s', (_client, message, code) => {
    const [body, scan] = error(message, code);
    expect(isNonceError(body, scan)).toBe(true);
    expect(saysAlreadyKnown(body, scan)).toBe(false);
  });

  it.each(NEITHER)('neither, %s: %s', (_client, message, code) => {
    const [body, scan] = error(message, code);
    expect(isNonceError(body, scan)).toBe(false);
    expect(saysAlreadyKnown(body, scan)).toBe(false);
  });

  it('is false for results', () => {
    expect(saysAlreadyKnown(...result('"already known"'))).toBe(false);
    expect(isNonceError(...result('"nonce too low"'))).toBe(false);
  });
});

describe('transactionHash', () => {
  it('is keccak256 of the raw bytes (anvil\'s own hashes: test/integration/answer-facts-anvil.test.ts)', () => {
    // keccak256 of the one byte 0x00, a known vector.
    expect(transactionHash('0x00')).toBe('0xbc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a');
    expect(transactionHash('0xABCD')).toBe(transactionHash('0xabcd'));
  });

  it.each([['0x'], [''], ['0x0'], ['0xzz'], ['abcd'], ['0Xabcd'], [' 0xabcd'], [null], [42], [undefined]])('is undefined for %j', (raw) => {
    expect(transactionHash(raw)).toBeUndefined();
  });
});
