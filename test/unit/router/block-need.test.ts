import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockNeed, NEED_ANY, NEED_FINALIZED, NEED_SAFE, NEED_TIP } from '../../../src/router/block-need.js';
import { parseRequestBody, type RpcCall } from '../../../src/router/jsonrpc.js';

const MAX = Number.MAX_SAFE_INTEGER;
const HASH = `0x${'ab'.repeat(32)}`;
const ADDRESS = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266';

const body = (method: string, params?: string) =>
  params === undefined ? `{"jsonrpc":"2.0","id":1,"method":"${method}"}` : `{"jsonrpc":"2.0","id":1,"method":"${method}","params":${params}}`;

/** Both implementations of the same request: from bytes (scanned) and from text (JSON.parse). */
function bothCalls(text: string): [RpcCall, RpcCall] {
  const fromBytes = parseRequestBody(Buffer.from(text), 100);
  const fromText = parseRequestBody(text, 100);
  if (fromBytes.kind !== 'single' || fromText.kind !== 'single') throw new Error(`not a single call: ${text.slice(0, 200)}`);
  expect(fromBytes.call.constructor.name).toBe('ScannedCall');
  expect(fromText.call.constructor.name).toBe('ParsedCall');
  return [fromBytes.call, fromText.call];
}

function expectNeed(text: string, need: number): void {
  const [scanned, parsed] = bothCalls(text);
  expect(blockNeed(scanned)).toBe(need);
  expect(blockNeed(parsed)).toBe(need);
}

/** eth_getBalance's block parameter, as JSON text, and what it needs. */
const BLOCK_VALUES: [string, string, number][] = [
  // Hex quantities.
  ['a number', '"0x64"', 100],
  ['block 0', '"0x0"', 0],
  ['leading zeros', '"0x0064"', 100],
  ['only zeros', '"0x0000"', 0],
  ['upper-case digits', '"0xABCDEF"', 0xabcdef],
  ['an upper-case prefix', '"0X10"', 16],
  ['2^53 - 1', '"0x1fffffffffffff"', MAX],
  ['2^53', '"0x20000000000000"', MAX],
  ['2^64 - 1', '"0xffffffffffffffff"', MAX],
  ['2^64 - 1 with leading zeros', `"0x${'0'.repeat(48)}ffffffffffffffff"`, MAX],
  ['1 in a 32-byte word', `"0x${'0'.repeat(63)}1"`, 1],
  ['2^64 (more than 64 bits)', '"0x10000000000000000"', NEED_ANY],
  ['a 32-byte hash', `"${HASH}"`, NEED_ANY],
  ['leading zeros past a 32-byte word', `"0x${'0'.repeat(65)}1"`, NEED_ANY],
  ['a huge string', `"0x${'f'.repeat(100_000)}"`, NEED_ANY],
  // Tags.
  ['latest', '"latest"', NEED_TIP],
  ['pending', '"pending"', NEED_TIP],
  ['safe', '"safe"', NEED_SAFE],
  ['finalized', '"finalized"', NEED_FINALIZED],
  ['earliest', '"earliest"', NEED_ANY],
  ['LATEST', '"LATEST"', NEED_TIP],
  ['Pending', '"Pending"', NEED_TIP],
  ['Safe', '"Safe"', NEED_SAFE],
  ['FINALIZED', '"FINALIZED"', NEED_FINALIZED],
  ['EARLIEST', '"EARLIEST"', NEED_ANY],
  ['a tag with a space', '"latest "', NEED_ANY],
  ['an unknown tag', '"newest"', NEED_ANY],
  ['an escaped tag', '"l\\u0061test"', NEED_TIP],
  // Invalid strings.
  ['an empty string', '""', NEED_ANY],
  ['0x alone', '"0x"', NEED_ANY],
  ['non-hex digits', '"0xzz"', NEED_ANY],
  ['a hex digit then junk', '"0x1g"', NEED_ANY],
  ['a negative quantity', '"-0x1"', NEED_ANY],
  ['a sign after the prefix', '"0x-1"', NEED_ANY],
  ['a decimal string', '"100"', NEED_ANY],
  ['a non-ASCII string', '"0x１"', NEED_ANY],
  // Other JSON values.
  ['a JSON number', '100', NEED_ANY],
  ['JSON 0', '0', NEED_ANY],
  ['a negative JSON number', '-1', NEED_ANY],
  ['a JSON float', '1.5e3', NEED_ANY],
  ['true', 'true', NEED_ANY],
  ['null (nodes read it as latest)', 'null', NEED_TIP],
  ['an empty array', '[]', NEED_ANY],
  ['an array of a number', '["0x1"]', NEED_ANY],
  ['deeply nested arrays', `${'['.repeat(5000)}${']'.repeat(5000)}`, NEED_ANY],
  // EIP-1898.
  ['{blockHash}', `{"blockHash":"${HASH}"}`, NEED_ANY],
  ['{blockHash, requireCanonical}', `{"blockHash":"${HASH}","requireCanonical":true}`, NEED_ANY],
  ['{blockNumber}', '{"blockNumber":"0x2a"}', 42],
  ['{blockNumber, requireCanonical}', '{"blockNumber":"0x2a","requireCanonical":false}', 42],
  ['{blockNumber: a tag}', '{"blockNumber":"safe"}', NEED_SAFE],
  ['{blockNumber: above 2^53}', '{"blockNumber":"0xffffffffffffff"}', MAX],
  ['{blockNumber, blockHash}', `{"blockNumber":"0x2a","blockHash":"${HASH}"}`, NEED_ANY],
  ['{blockHash: null}', '{"blockHash":null}', NEED_ANY],
  ['{}', '{}', NEED_ANY],
  ['{blockNumber: a JSON number}', '{"blockNumber":42}', NEED_ANY],
  ['{blockNumber: null}', '{"blockNumber":null}', NEED_ANY],
  ['{blockNumber: invalid}', '{"blockNumber":"0xzz"}', NEED_ANY],
  ['{blockNumber: an object}', '{"blockNumber":{"blockNumber":"0x2a"}}', NEED_ANY],
  ['a deep object', `${'{"blockNumber":'.repeat(3000)}"0x1"${'}'.repeat(3000)}`, NEED_ANY],
  ['an object with other members', '{"number":"0x2a","hash":"0x1"}', NEED_ANY],
  ['an object with a __proto__ member', '{"__proto__":{"blockNumber":"0x2a"}}', NEED_ANY],
];

describe('blockNeed: block values (eth_getBalance)', () => {
  it.each(BLOCK_VALUES)('%s', (_name, value, need) => {
    expectNeed(body('eth_getBalance', `["${ADDRESS}", ${value}]`), need);
  });

  it.each([
    ['the block omitted', `["${ADDRESS}"]`],
    ['no params', undefined],
    ['empty params', '[]'],
    ['named params', `{"address":"${ADDRESS}","block":"0x5"}`],
  ])('needs the tip with %s (nodes default to latest)', (_name, params) => {
    expectNeed(body('eth_getBalance', params), NEED_TIP);
  });

  it('reads a call JSON.parse had to judge (an escape in the method) the same way', () => {
    const parsed = parseRequestBody(Buffer.from(`{"jsonrpc":"2.0","id":1,"method":"eth_getBal\\u0061nce","params":["${ADDRESS}","0x2a"]}`), 100);
    expect(parsed.kind === 'single' && parsed.call.constructor.name).toBe('ParsedCall');
    if (parsed.kind === 'single') expect(blockNeed(parsed.call)).toBe(42);
  });

  it('never throws and the two calls agree, for any params (property)', () => {
    const blockish = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom('latest', 'pending', 'safe', 'finalized', 'earliest', 'LATEST', '0x', '0x0', '0X1', HASH),
      fc.bigInt({ min: 0n, max: 1n << 70n }).map((n) => `0x${n.toString(16)}`),
      fc.record({ blockNumber: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant('0x5')), blockHash: fc.constantFrom(undefined, HASH) }, { requiredKeys: [] }),
    );
    const methods = fc.constantFrom('eth_getBalance', 'eth_call', 'eth_getStorageAt', 'eth_getBlockByNumber', 'eth_getLogs', 'eth_chainId', 'eth_blockNumber');
    fc.assert(
      fc.property(methods, fc.array(blockish, { maxLength: 4 }), (method, params) => {
        const [scanned, parsed] = bothCalls(body(method, JSON.stringify(params)));
        const need = blockNeed(scanned);
        expect(blockNeed(parsed)).toBe(need);
        expect(Number.isInteger(need) && need >= NEED_FINALIZED && need <= MAX).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('blockNeed: the block parameter per method', () => {
  const before = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? `{"to":"${ADDRESS}","data":"0x70a08231"}` : '"0x0"'));
  const AT_0 = [
    'eth_getBlockByNumber',
    'eth_getBlockTransactionCountByNumber',
    'eth_getUncleCountByBlockNumber',
    'eth_getTransactionByBlockNumberAndIndex',
    'eth_getUncleByBlockNumberAndIndex',
    'eth_getBlockReceipts',
    'debug_traceBlockByNumber',
    'trace_block',
    'trace_replayBlockTransactions',
  ];
  const AT_1 = ['eth_getBalance', 'eth_getCode', 'eth_getTransactionCount', 'eth_call', 'eth_estimateGas', 'eth_createAccessList', 'eth_feeHistory', 'debug_traceCall'];
  const AT_2 = ['eth_getStorageAt', 'eth_getProof', 'trace_call'];
  const cases = [...AT_0.map((m) => [m, 0] as const), ...AT_1.map((m) => [m, 1] as const), ...AT_2.map((m) => [m, 2] as const)];

  it.each(cases)('%s reads params[%i]', (method, position) => {
    const params = before(position);
    expectNeed(body(method, `[${[...params, '"0x2a"', '{"tracer":"callTracer"}'].join(',')}]`), 42);
    expectNeed(body(method, `[${[...params, '"finalized"'].join(',')}]`), NEED_FINALIZED);
    // The block omitted (optional for eth_call, eth_estimateGas, …): the node's latest.
    expectNeed(body(method, `[${params.join(',')}]`), NEED_TIP);
  });

  it('eth_getBlockByNumber: by number, by tag, and a block hash in its place', () => {
    expectNeed(body('eth_getBlockByNumber', '["0x1b4", true]'), 0x1b4);
    expectNeed(body('eth_getBlockByNumber', '["latest", false]'), NEED_TIP);
    expectNeed(body('eth_getBlockByNumber', `["${HASH}", false]`), NEED_ANY);
  });
});

describe('blockNeed: eth_getLogs filters', () => {
  it.each([
    ['a range', '{"fromBlock":"0x1","toBlock":"0x10"}', 16],
    ['toBlock only', '{"toBlock":"0x10"}', 16],
    ['fromBlock only (toBlock defaults to latest)', '{"fromBlock":"0x1"}', NEED_TIP],
    ['no range', '{"address":"0x1"}', NEED_TIP],
    ['toBlock latest', '{"fromBlock":"0x1","toBlock":"latest"}', NEED_TIP],
    ['toBlock pending', '{"toBlock":"pending"}', NEED_TIP],
    ['toBlock safe', '{"toBlock":"safe"}', NEED_SAFE],
    ['toBlock finalized', '{"toBlock":"finalized"}', NEED_FINALIZED],
    ['toBlock earliest', '{"toBlock":"earliest"}', NEED_ANY],
    ['toBlock null', '{"toBlock":null}', NEED_TIP],
    ['toBlock above 2^53', '{"toBlock":"0xfffffffffffffff"}', MAX],
    ['toBlock invalid', '{"toBlock":"0xzz"}', NEED_ANY],
    ['toBlock a JSON number', '{"toBlock":16}', NEED_ANY],
    ['toBlock an EIP-1898 object', '{"toBlock":{"blockNumber":"0x10"}}', 16],
    ['a block hash', `{"blockHash":"${HASH}"}`, NEED_ANY],
    ['a block hash and a range (invalid)', `{"blockHash":"${HASH}","toBlock":"0x3"}`, NEED_ANY],
    ['a null block hash and a range', '{"blockHash":null,"toBlock":"0x3"}', 3],
    ['nested toBlock keys in topics do not count', '{"topics":[{"toBlock":"0x99"}],"toBlock":"0x3"}', 3],
  ])('%s', (_name, filter, need) => {
    expectNeed(body('eth_getLogs', `[${filter}]`), need);
  });

  it.each([
    ['no params', undefined],
    ['empty params', '[]'],
    ['a string filter', '["0x1"]'],
    ['a null filter', '[null]'],
    ['an array filter', '[[]]'],
  ])('is any operator with %s (invalid: the operator answers its error)', (_name, params) => {
    expectNeed(body('eth_getLogs', params), NEED_ANY);
  });
});

describe('blockNeed: methods without a block parameter', () => {
  it.each([
    ['eth_blockNumber', '[]'],
    ['eth_syncing', '[]'],
    ['eth_getTransactionReceipt', `["${HASH}"]`],
    ['eth_getTransactionByHash', `["${HASH}"]`],
    ['eth_newFilter', '[{"fromBlock":"0x1"}]'],
    ['eth_newBlockFilter', '[]'],
    ['eth_newPendingTransactionFilter', '[]'],
    ['eth_getFilterChanges', '["0x1"]'],
    ['eth_getFilterLogs', '["0x1"]'],
    ['eth_uninstallFilter', '["0x1"]'],
    ['eth_gasPrice', '[]'],
    ['eth_maxPriorityFeePerGas', '[]'],
    ['eth_blobBaseFee', '[]'],
    ['eth_sendRawTransaction', '["0x02f8"]'],
    ['debug_traceTransaction', `["${HASH}"]`],
  ])('%s needs the tip', (method, params) => {
    expectNeed(body(method, params), NEED_TIP);
  });

  it.each([
    ['eth_chainId', '[]'],
    ['net_version', undefined],
    ['web3_clientVersion', '[]'],
    ['eth_getBlockByHash', `["${HASH}", false]`],
    ['eth_getTransactionByBlockHashAndIndex', `["${HASH}", "0x0"]`],
    ['an unknown method', '["0x5", "latest"]'],
    ['toString', '["0x5"]'],
    ['__proto__', '["0x5"]'],
  ])('%s needs any operator', (method, params) => {
    expectNeed(body(method, params), NEED_ANY);
  });
});
