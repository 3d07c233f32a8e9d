import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerDigest, type DigestKind, digestKindOf } from '../../../src/router/answer-digest.js';
import { canonicalJson } from '../../../src/router/untrusted-json.js';
import { gethBlock, nethermindBlock, oddFormatBlock, word } from '../../support/client-flavours.js';

const DEPTH = 64;
/** The digest of `result` as an answer to `method`, through JSON text as an operator sends it. */
const digest = (method: string, result: unknown) => answerDigest(digestKindOf(method), JSON.parse(JSON.stringify(result)) as unknown, DEPTH);
const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('which digest a method gets', () => {
  it.each([
    ['eth_getBlockByNumber', 'block'],
    ['eth_getBlockByHash', 'block'],
    ['eth_getTransactionByHash', 'transaction'],
    ['eth_getTransactionReceipt', 'receipt'],
    ['eth_getBlockReceipts', 'receipts'],
    ['eth_getLogs', 'logs'],
    ['eth_getBalance', 'quantity'],
    ['eth_getStorageAt', 'quantity'],
    ['eth_getTransactionCount', 'quantity'],
    ['eth_chainId', 'quantity'],
    ['eth_getCode', 'data'],
    ['eth_call', 'data'],
    ['net_version', 'decimal'],
    ['eth_feeHistory', 'canonical'],
    // Names that are also Object.prototype members are not methods of the table.
    ['constructor', 'canonical'],
    ['__proto__', 'canonical'],
  ] as const)('%s: %s', (method, kind) => {
    expect(digestKindOf(method)).toBe(kind);
  });
});

describe('block', () => {
  for (const full of [false, true]) {
    const geth = gethBlock(900, { full, transactions: 25 });
    it(`is the same for geth, Nethermind and an odd formatter (${full ? 'full transactions' : 'hashes'})`, () => {
      const d = digest('eth_getBlockByNumber', geth);
      expect(digest('eth_getBlockByNumber', nethermindBlock(geth))).toBe(d);
      expect(digest('eth_getBlockByNumber', oddFormatBlock(geth))).toBe(d);
      // Only what consensus fixes is in it.
      expect(d).not.toContain('totalDifficulty');
      expect(d).not.toContain('size');
    });

    it(`tells another block, another transaction list, another order (${full ? 'full transactions' : 'hashes'})`, () => {
      const d = digest('eth_getBlockByNumber', geth);
      const txs = geth['transactions'] as unknown[];
      expect(digest('eth_getBlockByNumber', { ...geth, hash: word(1) })).not.toBe(d);
      expect(digest('eth_getBlockByNumber', { ...geth, number: '0x385' })).not.toBe(d);
      expect(digest('eth_getBlockByNumber', { ...geth, transactions: txs.slice(1) })).not.toBe(d);
      expect(digest('eth_getBlockByNumber', { ...geth, transactions: [txs[1], txs[0], ...txs.slice(2)] })).not.toBe(d);
    });
  }

  it('is canonical JSON of the hash, number and transactions', () => {
    const geth = gethBlock(900, { full: false, transactions: 2 });
    const d = digest('eth_getBlockByNumber', oddFormatBlock(geth))!;
    expect(d).toBe(JSON.stringify({ hash: geth['hash'], number: '0x384', transactions: geth['transactions'] }));
    expect(canonicalJson(JSON.parse(d), DEPTH)).toBe(d);
  });

  it('with full transactions, compares each as a transaction: another value in the right block is told apart', () => {
    const geth = gethBlock(900, { full: true, transactions: 3 });
    const [first, ...rest] = geth['transactions'] as Record<string, unknown>[];
    const lie = { ...geth, transactions: [{ ...first, value: '0x1' }, ...rest] };
    expect(digest('eth_getBlockByNumber', lie)).not.toBe(digest('eth_getBlockByNumber', geth));
    // What clients write differently in a transaction (signature encoding, fee fields) is not compared.
    const other = { ...geth, transactions: [{ ...first, v: '0x26', yParity: undefined, chainId: undefined, gasPrice: '0x1' }, ...rest] };
    expect(digest('eth_getBlockByNumber', other)).toBe(digest('eth_getBlockByNumber', geth));
  });

  it('null (no such block) stays null; a block without a hash has a null hash', () => {
    expect(digest('eth_getBlockByNumber', null)).toBe('null');
    expect(digest('eth_getBlockByNumber', { number: '0x1', transactions: [] })).toBe('{"hash":null,"number":"0x1","transactions":[]}');
    expect(digest('eth_getBlockByNumber', {})).toBe('{"hash":null,"number":null,"transactions":null}');
  });

  it('a block of thousands of transactions', () => {
    const big = gethBlock(900, { full: true, transactions: 5_000 });
    const d = digest('eth_getBlockByNumber', big)!;
    expect(JSON.parse(d).transactions).toHaveLength(5_000);
    expect(digest('eth_getBlockByNumber', oddFormatBlock(big))).toBe(d);
  });
});

describe('a result without its method\'s shape is compared whole, as canonical JSON', () => {
  const block = gethBlock(900, { full: true, transactions: 2 });
  const txs = block['transactions'] as Record<string, unknown>[];
  it.each([
    ['a block that is a string', 'eth_getBlockByNumber', '0x1234'],
    ['a block that is an array', 'eth_getBlockByNumber', [block]],
    ['a hash that is a number', 'eth_getBlockByNumber', { ...block, hash: 12 }],
    ['a hash that is not hex', 'eth_getBlockByNumber', { ...block, hash: '0xzz' }],
    ['a hash that is "0x"', 'eth_getBlockByNumber', { ...block, hash: '0x' }],
    ['transactions that are an object', 'eth_getBlockByNumber', { ...block, transactions: { 0: txs[0] } }],
    ['a transaction that is a number', 'eth_getBlockByNumber', { ...block, transactions: [1] }],
    ['a transaction that is null', 'eth_getBlockByNumber', { ...block, transactions: [null] }],
    ['a transaction value that is an object', 'eth_getBlockByNumber', { ...block, transactions: [{ ...txs[0], value: { hex: '0x1' } }] }],
    ['an input of odd length', 'eth_getTransactionByHash', { ...txs[0], input: '0xabc' }],
    ['a receipt whose logs are a string', 'eth_getTransactionReceipt', { status: '0x1', logs: '[]' }],
    ['a topic that is an array', 'eth_getLogs', [{ address: word(1, 20), topics: [[word(2)]], data: '0x' }]],
    ['logs that are null', 'eth_getLogs', null],
    ['a balance that is a number', 'eth_getBalance', 1],
    ['a balance without digits', 'eth_getBalance', '0x'],
    ['a balance in decimal', 'eth_getBalance', '100'],
    ['a balance that is null', 'eth_getBalance', null],
    ['a chain id that is an object', 'eth_chainId', { chainId: '0x1' }],
    ['code of odd length', 'eth_getCode', '0x123'],
    ['a net_version of 100 digits', 'net_version', '1'.repeat(100)],
  ])('%s', (_name, method, result) => {
    expect(digest(method, result)).toBe(canonicalJson(result, DEPTH));
  });

  it('never as a digest: a malformed answer cannot agree with a well-formed one', () => {
    // Digests hold only well-formed values: text that looks like one came from a well-formed answer.
    const cases: { kind: DigestKind; digestLike: RegExp; wellFormed: (v: unknown) => boolean }[] = [
      { kind: 'quantity', digestLike: /^"0x(0|[1-9a-f][0-9a-f]*)"$/, wellFormed: (v) => typeof v === 'string' && /^0x[0-9a-fA-F]+$/.test(v) },
      { kind: 'data', digestLike: /^"0x([0-9a-f]{2})*"$/, wellFormed: (v) => typeof v === 'string' && (v === '0x0' || /^0x([0-9a-fA-F]{2})*$/.test(v)) },
      { kind: 'decimal', digestLike: /^"(0|[1-9][0-9]*)"$/, wellFormed: (v) => typeof v === 'number' || (typeof v === 'string' && /^([0-9]+|0x[0-9a-fA-F]+)$/.test(v)) },
    ];
    const answers = fc.oneof(fc.jsonValue(), fc.stringMatching(/^0[xX][0-9a-fA-F]{0,5}$/), fc.stringMatching(/^[0-9]{0,4}$/), fc.integer());
    fc.assert(
      fc.property(fc.constantFrom(...cases), answers, ({ kind, digestLike, wellFormed }, value) => {
        if (digestLike.test(answerDigest(kind, value, DEPTH)!)) expect(wellFormed(value), JSON.stringify(value)).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });

  it('a result nested 20,000 deep casts no vote, without recursing, wherever the nesting sits', () => {
    const deep = JSON.parse(nestedArrays(20_000)) as unknown;
    const block = gethBlock(900, { full: true, transactions: 1 });
    for (const [method, result] of [
      ['eth_getBlockByNumber', deep],
      ['eth_getBlockByNumber', { ...block, hash: deep }],
      ['eth_getBlockByNumber', { ...block, transactions: [deep] }],
      ['eth_getTransactionReceipt', { status: '0x1', logs: [{ address: word(1, 20), topics: deep, data: '0x' }] }],
      ['eth_getBalance', deep],
      ['eth_feeHistory', deep],
    ] as const) {
      expect(answerDigest(digestKindOf(method), result, DEPTH), method).toBeUndefined();
    }
  });

  it('never throws, for any JSON value and any method kind', () => {
    const kinds: DigestKind[] = ['block', 'transaction', 'receipt', 'receipts', 'logs', 'quantity', 'data', 'decimal', 'canonical'];
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.jsonValue({ maxDepth: 6 }), (kind, value) => {
        const d = answerDigest(kind, value, DEPTH);
        expect(typeof d).toBe('string');
      }),
      { numRuns: 2_000 },
    );
  });
});

/** A receipt as geth writes it (logs with blockTimestamp, since v1.16). */
function gethReceipt(): Record<string, unknown> {
  const place = { blockHash: word(900), blockNumber: '0x384', transactionHash: word(5), transactionIndex: '0x3' };
  return {
    ...place,
    contractAddress: null,
    cumulativeGasUsed: '0x430d0',
    effectiveGasPrice: '0xb7ea063ae',
    from: word(1, 20),
    gasUsed: '0x2783b',
    logs: [0, 1].map((i) => ({ ...place, address: word(10 + i, 20), topics: [word(20 + i), word(30 + i)], data: word(40 + i), logIndex: `0x${(7 + i).toString(16)}`, removed: false, blockTimestamp: '0x65' })),
    logsBloom: `0x${'00'.repeat(256)}`,
    status: '0x1',
    to: word(2, 20),
    type: '0x2',
  };
}

describe('receipt', () => {
  it('is the same for a client numbering logs per transaction, without blockTimestamp or effectiveGasPrice, in uppercase', () => {
    const geth = gethReceipt();
    const logs = (geth['logs'] as Record<string, unknown>[]).map(({ blockTimestamp: _t, ...log }, i) => ({
      ...log,
      logIndex: `0x${i}`,
      data: (log['data'] as string).toUpperCase().replace('0X', '0x'),
    }));
    const { effectiveGasPrice: _p, ...rest } = geth;
    const other = { ...rest, logs, status: '0x01', gasUsed: '0x0002783B' };
    expect(digest('eth_getTransactionReceipt', other)).toBe(digest('eth_getTransactionReceipt', geth));
  });

  it('tells another status, gas, log content or log order', () => {
    const geth = gethReceipt();
    const d = digest('eth_getTransactionReceipt', geth);
    const logs = geth['logs'] as Record<string, unknown>[];
    expect(digest('eth_getTransactionReceipt', { ...geth, status: '0x0' })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', { ...geth, gasUsed: '0x1' })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', { ...geth, cumulativeGasUsed: '0x1' })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', { ...geth, logs: [logs[1], logs[0]] })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', { ...geth, logs: [{ ...logs[0], data: '0x' }, logs[1]] })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', { ...geth, logs: [{ ...logs[0], topics: [] }, logs[1]] })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', { ...geth, logs: [logs[0]] })).not.toBe(d);
    expect(digest('eth_getTransactionReceipt', null)).toBe('null');
  });

  it('eth_getBlockReceipts: the list of receipt digests, in order', () => {
    const a = gethReceipt();
    const b = { ...gethReceipt(), transactionHash: word(6) };
    const d = digest('eth_getBlockReceipts', [a, b])!;
    expect(d).toBe(`[${digest('eth_getTransactionReceipt', a)},${digest('eth_getTransactionReceipt', b)}]`);
    expect(digest('eth_getBlockReceipts', [b, a])).not.toBe(d);
    expect(digest('eth_getBlockReceipts', null)).toBe('null');
  });
});

describe('transaction', () => {
  const tx = (gethBlock(900, { full: true, transactions: 1 })['transactions'] as Record<string, unknown>[])[0]!;
  it('compares hash, blockHash, from, to, nonce, value, input: not signature encoding or fee fields', () => {
    const d = digest('eth_getTransactionByHash', tx)!;
    expect(Object.keys(JSON.parse(d))).toEqual(['blockHash', 'from', 'hash', 'input', 'nonce', 'to', 'value']);
    const { input, yParity: _y, ...rest } = tx;
    // An early client's `data` for `input`, uppercase hex, no yParity, another gasPrice.
    expect(digest('eth_getTransactionByHash', { ...rest, data: (input as string).toUpperCase().replace('0X', '0x'), gasPrice: '0x7' })).toBe(d);
    for (const field of ['hash', 'blockHash', 'from', 'to', 'nonce', 'value', 'input']) {
      expect(digest('eth_getTransactionByHash', { ...tx, [field]: '0x01' }), field).not.toBe(d);
    }
  });
});

describe('logs', () => {
  it('per log, in order: address, topics, data and where it sits; not logIndex, removed or blockTimestamp', () => {
    const logs = gethReceipt()['logs'] as Record<string, unknown>[];
    const d = digest('eth_getLogs', logs)!;
    expect(Object.keys(JSON.parse(d)[0])).toEqual(['address', 'blockHash', 'data', 'topics', 'transactionHash']);
    expect(digest('eth_getLogs', logs.map(({ blockTimestamp: _t, removed: _r, ...log }) => ({ ...log, logIndex: '0x0' })))).toBe(d);
    expect(digest('eth_getLogs', [logs[1], logs[0]])).not.toBe(d);
    expect(digest('eth_getLogs', [{ ...logs[0], blockHash: word(3) }, logs[1]])).not.toBe(d);
    expect(digest('eth_getLogs', [])).toBe('[]');
  });
});

describe('values', () => {
  it('quantities: any case, leading zeros not significant', () => {
    expect(digest('eth_getBalance', '0x0DE0B6B3A7640000')).toBe('"0xde0b6b3a7640000"');
    expect(digest('eth_getBalance', '0x000')).toBe('"0x0"');
    expect(digest('eth_getBalance', '0x0')).toBe('"0x0"');
    expect(digest('eth_getBalance', '0x10')).not.toBe(digest('eth_getBalance', '0x1'));
    // A storage word is a number too: padded to 32 bytes or not.
    expect(digest('eth_getStorageAt', `0x${'0'.repeat(63)}5`)).toBe(digest('eth_getStorageAt', '0x5'));
    expect(digest('eth_chainId', '0x01')).toBe('"0x1"');
  });

  it('data: any case; "0x0" is no bytes, "0x00" is one zero byte', () => {
    expect(digest('eth_getCode', '0x6080ABCD')).toBe('"0x6080abcd"');
    expect(digest('eth_getCode', '0x0')).toBe('"0x"');
    expect(digest('eth_getCode', '0x')).toBe('"0x"');
    expect(digest('eth_call', '0x00')).toBe('"0x00"');
    expect(digest('eth_call', '0x0001')).not.toBe(digest('eth_call', '0x01'));
  });

  it('net_version: decimal, leading zeros not significant, a hex answer read as its number', () => {
    expect(digest('net_version', '1')).toBe('"1"');
    expect(digest('net_version', '001')).toBe('"1"');
    expect(digest('net_version', '0x1')).toBe('"1"');
    expect(digest('net_version', 1)).toBe('"1"');
    expect(digest('net_version', '5')).not.toBe(digest('net_version', '1'));
  });

  it('anything else is canonical JSON, as before', () => {
    const result = { z: 1, a: ['0xAB'] };
    expect(digest('eth_feeHistory', result)).toBe('{"a":["0xAB"],"z":1}');
  });
});
