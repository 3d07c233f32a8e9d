import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, stringifyParsed, utf8Prefix } from '../../../src/router/untrusted-json.js';

/** The recursive definition, as the oracle for values shallow enough to recurse over. */
function canonicalReference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalReference).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonicalReference(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('JSON.parse (V8)', () => {
  it('is iterative: a million nested arrays parse, where JSON.stringify of them overflows the stack', () => {
    const value = JSON.parse(nestedArrays(1_000_000)) as unknown;
    expect(Array.isArray(value)).toBe(true);
    expect(() => JSON.stringify(value)).toThrow(RangeError);
  });
});

describe('canonicalJson', () => {
  it('is the key-sorted JSON of any value built by JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed = JSON.parse(JSON.stringify(value)) as unknown;
        expect(canonicalJson(parsed, Infinity)).toBe(canonicalReference(parsed));
      }),
      { numRuns: 500 },
    );
  });

  it('sorts keys at every level, so two field orders agree', () => {
    const a = JSON.parse('{"b":{"y":1,"x":[{"q":1,"p":2}]},"a":null}') as unknown;
    const b = JSON.parse('{"a":null,"b":{"x":[{"p":2,"q":1}],"y":1}}') as unknown;
    expect(canonicalJson(a, 64)).toBe('{"a":null,"b":{"x":[{"p":2,"q":1}],"y":1}}');
    expect(canonicalJson(b, 64)).toBe(canonicalJson(a, 64));
  });

  it('keeps a "__proto__" member JSON.parse made an own property', () => {
    expect(canonicalJson(JSON.parse('{"__proto__":{"z":1},"a":2}'), 64)).toBe('{"__proto__":{"z":1},"a":2}');
  });

  it('gives up (undefined) past the depth cap, at exactly one level more, arrays or objects', () => {
    expect(canonicalJson(JSON.parse(nestedArrays(64)), 64)).toBe(nestedArrays(64));
    expect(canonicalJson(JSON.parse(nestedArrays(65)), 64)).toBeUndefined();
    expect(canonicalJson(JSON.parse(nestedObjects(64)), 64)).toBe(nestedObjects(64));
    expect(canonicalJson(JSON.parse(nestedObjects(65)), 64)).toBeUndefined();
    expect(canonicalJson('0x1', 0)).toBe('"0x1"');
    expect(canonicalJson([], 0)).toBeUndefined();
  });

  it('never overflows the stack, however deep (no recursion)', () => {
    const deep = JSON.parse(nestedArrays(1_000_000)) as unknown;
    expect(canonicalJson(deep, 64)).toBeUndefined();
    expect(canonicalJson(deep, Infinity)).toBe(nestedArrays(1_000_000));
  });
});

describe('stringifyParsed', () => {
  it('is JSON.stringify for any value built by JSON.parse, with members spread in as the forwarder does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 0 }), (value, id) => {
        const parsed = JSON.parse(JSON.stringify(value)) as unknown;
        expect(stringifyParsed(parsed)).toBe(JSON.stringify(parsed));
        const request = { jsonrpc: '2.0', method: 'eth_call', params: parsed, id: 'client' };
        expect(stringifyParsed({ ...request, id })).toBe(JSON.stringify({ ...request, id }));
      }),
      { numRuns: 500 },
    );
  });

  it('writes what native JSON.stringify cannot (a RangeError), byte for byte what was parsed', () => {
    for (const text of [nestedArrays(1_000_000), nestedObjects(200_000), `{"id":7,"params":[${nestedArrays(50_000)},{"b":"\\u00e9","a":[1,2.5,true,null]}]}`]) {
      const value = JSON.parse(text) as unknown;
      expect(() => JSON.stringify(value)).toThrow(RangeError);
      expect(stringifyParsed(value)).toBe(text.replace('\\u00e9', 'é'));
    }
  });

  it('leaves out undefined members as JSON.stringify does (a notification spread without an id)', () => {
    expect(stringifyParsed({ a: undefined, b: [undefined, 1], c: 2 })).toBe(JSON.stringify({ a: undefined, b: [undefined, 1], c: 2 }));
    const deep = JSON.parse(nestedArrays(100_000)) as unknown;
    expect(stringifyParsed({ skip: undefined, params: deep, id: 1 })).toBe(`{"params":${nestedArrays(100_000)},"id":1}`);
  });
});

describe('utf8Prefix', () => {
  it('keeps at most maxBytes of UTF-8, never half a character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 0, max: 64 }), (text, maxBytes) => {
        const prefix = utf8Prefix(text, maxBytes);
        const bytes = Buffer.byteLength(prefix);
        expect(bytes).toBeLessThanOrEqual(maxBytes);
        expect(text.startsWith(prefix) || prefix.length === 0 || Buffer.from(text).subarray(0, bytes).equals(Buffer.from(prefix))).toBe(true);
        // Nothing more fits: the next character would cross maxBytes.
        if (Buffer.byteLength(text) > maxBytes) expect(bytes).toBeGreaterThan(maxBytes - 4);
        else expect(prefix).toBe(text);
      }),
      { numRuns: 500 },
    );
    expect(utf8Prefix('aé€😀', 6)).toBe('aé€'); // 1 + 2 + 3 bytes; the emoji's 4 would cross 6
    expect(utf8Prefix('aé€😀', 5)).toBe('aé');
  });
});
