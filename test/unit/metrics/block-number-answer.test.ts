import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockNumberOfAnswer } from '../../../src/metrics/block-number-answer.js';

/** The oracle: what JSON.parse reads as result.number, by the same acceptance rule. */
function expected(text: string): number | null | 'error' {
  const answer = JSON.parse(text) as { result?: unknown; error?: unknown };
  if ('error' in answer) return 'error';
  const result = answer.result;
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return null;
  const number = (result as Record<string, unknown>)['number'];
  if (typeof number !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(number)) return null;
  const value = Number.parseInt(number, 16);
  return Number.isSafeInteger(value) ? value : null;
}

const body = (text: string) => Buffer.from(text);

describe('blockNumberOfAnswer', () => {
  it('reads the number of a block answer', () => {
    const block = { hash: '0xab', number: '0x1b4', transactions: ['0x01', '0x02'], parentHash: '0xcd' };
    expect(blockNumberOfAnswer(body(JSON.stringify({ jsonrpc: '2.0', id: 1, result: block })))).toBe(0x1b4);
    expect(blockNumberOfAnswer(body(JSON.stringify({ jsonrpc: '2.0', id: 1, result: block }, null, 2)))).toBe(0x1b4);
  });

  it('says error for a JSON-RPC error, null for no block, another shape or an invalid number', () => {
    expect(blockNumberOfAnswer(body('{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unknown block tag safe"}}'))).toBe('error');
    for (const result of ['null', '"0x10"', '[{"number":"0x10"}]', '{"number":16}', '{"number":"0x"}', '{"number":"0x1ffffffffffffffff"}', '{"number":"0x20000000000000"}', '{"number":"\\u0030x10"}', '{"inner":{"number":"0x10"}}', '{}']) {
      expect(blockNumberOfAnswer(body(`{"jsonrpc":"2.0","id":1,"result":${result}}`)), result).toBeNull();
    }
    expect(blockNumberOfAnswer(body('{"jsonrpc":"2.0","id":1,"result":{"number":"0x10"'))).toBeNull();
    expect(blockNumberOfAnswer(body('not json'))).toBeNull();
    expect(blockNumberOfAnswer(body(''))).toBeNull();
  });

  it('is not fooled by "number" in strings, deeper members or other top-level members', () => {
    const text = '{"jsonrpc":"2.0","other":{"number":"0x99"},"id":1,"result":{"a":"\\"number\\":\\"0x77\\"","transactions":[{"number":"0x55"}],"number" : "0x2a","extra":{"number":"0x66"}}}';
    expect(blockNumberOfAnswer(body(text))).toBe(42);
  });

  it('takes the first of duplicated number members (it stops there: a block\'s transactions come after its number)', () => {
    expect(blockNumberOfAnswer(body('{"jsonrpc":"2.0","id":1,"result":{"number":"0x1","number":"0x2"}}'))).toBe(1);
    expect(blockNumberOfAnswer(body('{"jsonrpc":"2.0","id":1,"result":{"number":7,"number":"0x1"}}'))).toBeNull();
  });

  it('agrees with JSON.parse on any answer', () => {
    const hex = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => `0x${n.toString(16)}`);
    const numberValue = fc.oneof(hex, fc.jsonValue());
    const result = fc.oneof(
      fc.jsonValue(),
      fc.tuple(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), numberValue).map(([members, number]) => ({ ...members, number })),
    );
    const answer = fc.oneof(
      result.map((r) => ({ jsonrpc: '2.0', id: 1, result: r })),
      fc.record({ jsonrpc: fc.constant('2.0'), id: fc.constant(1), error: fc.record({ code: fc.integer(), message: fc.string() }) }),
    );
    fc.assert(
      fc.property(answer, fc.constantFrom(undefined, 1, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(blockNumberOfAnswer(body(text))).toEqual(expected(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a block with tens of thousands of transaction hashes and a result nested 100,000 deep without failing', () => {
    const hashes = Array.from({ length: 20_000 }, (_, i) => `"0x${i.toString(16).padStart(64, '0')}"`).join(',');
    expect(blockNumberOfAnswer(body(`{"jsonrpc":"2.0","id":1,"result":{"transactions":[${hashes}],"number":"0xbeef"}}`))).toBe(0xbeef);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(blockNumberOfAnswer(body(`{"jsonrpc":"2.0","id":1,"result":{"deep":${deep},"number":"0x1"}}`))).toBe(1);
  });
});
