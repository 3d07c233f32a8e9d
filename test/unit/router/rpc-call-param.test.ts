import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestBody, type RpcCall } from '../../../src/router/jsonrpc.js';

/** The call read from the body's bytes: the scanning fast path when scanRequest takes it. */
function scanned(text: string): RpcCall {
  const parsed = parseRequestBody(Buffer.from(text), 100);
  if (parsed.kind !== 'single') throw new Error(`not a single call: ${text}`);
  return parsed.call;
}

/** The call read from text: always JSON.parse. */
function parsed(text: string): RpcCall {
  const body = parseRequestBody(text, 100);
  if (body.kind !== 'single') throw new Error(`not a single call: ${text}`);
  return body.call;
}

/** Which of the two implementations read the call (each test must exercise the one it means to). */
const kind = (call: RpcCall) => call.constructor.name;

const request = (params: string) => `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":${params}}`;

describe('RpcCall.param', () => {
  it('reads positional params of both kinds of call', () => {
    const text = request('["0xabc", 7, {"to":"0x1","data":"0x"}, [1,[2]], null, true, "caf\\u00e9", "naïve"]');
    const a = scanned(text);
    const b = parsed(text);
    expect(kind(a)).toBe('ScannedCall');
    expect(kind(b)).toBe('ParsedCall');
    for (const call of [a, b]) {
      expect(call.param(0)).toBe('0xabc');
      expect(call.param(1)).toBe(7);
      expect(call.param(2)).toEqual({ to: '0x1', data: '0x' });
      expect(call.param(3)).toEqual([1, [2]]);
      expect(call.param(4)).toBeNull();
      expect(call.param(5)).toBe(true);
      expect(call.param(6)).toBe('café');
      expect(call.param(7)).toBe('naïve');
      expect(call.param(8)).toBeUndefined();
      expect(call.param(-1)).toBeUndefined();
      expect(call.param(1.5)).toBeUndefined();
    }
  });

  it.each([
    ['no params', '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'],
    ['empty params', request('[]')],
    ['empty params with whitespace', request('[ \n\t ]')],
    ['named params', request('{"0":"a","block":"latest"}')],
  ])('is undefined with %s', (_name, text) => {
    for (const call of [scanned(text), parsed(text)]) {
      expect(call.param(0)).toBeUndefined();
      expect(call.param(1)).toBeUndefined();
    }
  });

  it('skips strings with escaped quotes and backslashes, long strings and nested brackets in strings', () => {
    const long = 'ab'.repeat(200);
    const tricky = `"x\\\\\\"]}[{,\\\\"`; // x \\ \" ] } [ { , \\  : escaped backslash, escaped quote, brackets in a string
    const text = request(`[${tricky}, "${long}\\"${long}\\\\", {"a":"]","b":["}"]}, "0x10"]`);
    for (const call of [scanned(text), parsed(text)]) {
      expect(call.param(0)).toBe(JSON.parse(tricky));
      expect(call.param(1)).toBe(`${long}"${long}\\`);
      expect(call.param(2)).toEqual({ a: ']', b: ['}'] });
      expect(call.param(3)).toBe('0x10');
    }
  });

  it.each([['[1,]'], ['[,1]'], ['[1 2]'], ['[1,,2]'], ['[1'], ['["a"'], ['[1]]']])('leaves an invalid params array %s to JSON.parse (a parse error)', (params) => {
    const answer = parseRequestBody(Buffer.from(request(params)), 100);
    expect(answer.kind).toBe('error');
    if (answer.kind === 'error') expect(answer.code).toBe('PARSE_ERROR');
  });

  it('reads the params of batch elements', () => {
    const body = Buffer.from(`[${request('["0x1","latest"]')}, ${request('[{"a":1}, "0x2"]')}]`);
    const batch = parseRequestBody(body, 100);
    expect(batch.kind).toBe('batch');
    if (batch.kind !== 'batch') return;
    expect(kind(batch.entries[0]!.call!)).toBe('ScannedCall');
    expect(batch.entries[0]!.call!.param(1)).toBe('latest');
    expect(batch.entries[1]!.call!.param(1)).toBe('0x2');
    expect(batch.entries[1]!.call!.param(0)).toEqual({ a: 1 });
  });

  it('reads the params once the request object was parsed', () => {
    const call = scanned(request('["0x1", 2]'));
    expect(call.request['method']).toBe('eth_call');
    expect(call.param(1)).toBe(2);
  });

  // Spacing the array the way a client might: none, JSON.stringify's indentation, or odd.
  const spacing = fc.constantFrom<(params: unknown[]) => string>(
    (p) => JSON.stringify(p),
    (p) => JSON.stringify(p, null, 2),
    (p) => JSON.stringify(p, null, '\t'),
    (p) => ` [ ${p.map((v) => ` ${JSON.stringify(v)}\r\n`).join(' , ')} ] `,
  );
  const element = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.string({ unit: 'binary' }),
    fc.stringMatching(/^0x[0-9a-f]{0,80}$/),
    fc.constantFrom('latest', 'pending', '\\', '"', '\\"', ']', '}', '[{', '\u2028', '\ud800'),
    // Long strings full of escapes: past the byte-by-byte start of the string skipper.
    fc.array(fc.constantFrom('a', '\\', '"', ']', '}', ','), { minLength: 40, maxLength: 160 }).map((chars) => chars.join('')),
  );

  it('gives what JSON.parse of the whole body gives, for any params array (property)', () => {
    fc.assert(
      fc.property(fc.array(element, { maxLength: 8 }), spacing, fc.nat({ max: 9 }), (params, space, k) => {
        const text = request(space(params));
        const a = scanned(text);
        const b = parsed(text);
        expect(kind(a)).toBe('ScannedCall');
        expect(a.param(k)).toStrictEqual(b.param(k));
        expect(b.param(k)).toStrictEqual((JSON.parse(text) as { params: unknown[] }).params[k]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RpcCall.quantityParam', () => {
  it('reads a hex quantity param from the bytes as both kinds of call read it; -1 for anything else', () => {
    const text = request('["0x1b4", "latest", 7, "0x", "0xzz", "0x0000000000000000000010", "0x1fffffffffffffff", "\\u0030x10", {"blockNumber":"0x1"}]');
    for (const call of [scanned(text), parsed(text)]) {
      expect(call.quantityParam(0)).toBe(0x1b4);
      expect(call.quantityParam(1)).toBe(-1);
      expect(call.quantityParam(2)).toBe(-1);
      expect(call.quantityParam(3)).toBe(-1);
      expect(call.quantityParam(4)).toBe(-1);
      expect(call.quantityParam(5)).toBe(16);
      expect(call.quantityParam(6)).toBe(Number.MAX_SAFE_INTEGER);
      expect(call.quantityParam(8)).toBe(-1);
      expect(call.quantityParam(9)).toBe(-1);
      expect(call.quantityParam(-1)).toBe(-1);
    }
    // An escaped string is left to param() (the bytes are not the text).
    expect(parsed(text).quantityParam(7)).toBe(16);
    expect(scanned(text).quantityParam(7)).toBe(-1);
  });

  it('agrees with reading the param as a string and parsing it (property)', () => {
    const hex = fc.bigInt({ min: 0n, max: 2n ** 70n }).chain((n) => fc.nat(4).map((zeros) => `0x${'0'.repeat(zeros)}${n.toString(16)}`));
    const value = fc.oneof(hex, fc.string(), fc.integer(), fc.constant(null), fc.constantFrom('latest', 'pending', '0x', '0X1f'));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), fc.nat(5), (params, k) => {
        const text = request(JSON.stringify(params));
        const a = scanned(text);
        const b = parsed(text);
        expect(a.quantityParam(k)).toBe(b.quantityParam(k));
      }),
      { numRuns: 2000 },
    );
  });
});
