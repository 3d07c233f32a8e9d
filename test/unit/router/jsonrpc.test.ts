import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestBody } from '../../../src/router/jsonrpc.js';

const parse = (text: string) => parseRequestBody(text, 100);
const errorOf = (body: string) => JSON.parse(body) as { jsonrpc: string; id: unknown; error: { code: number } };

describe('parseRequestBody', () => {
  it('accepts a single request with string, number and null ids', () => {
    for (const id of ['abc', 7, 1.5, null, '']) {
      const parsed = parse(JSON.stringify({ jsonrpc: '2.0', method: 'eth_chainId', id }));
      expect(parsed.kind).toBe('single');
      if (parsed.kind === 'single') {
        expect(parsed.call.id).toBe(id);
        expect(parsed.call.notification).toBe(false);
      }
    }
  });

  it('treats a request without an id member as a notification', () => {
    const parsed = parse('{"jsonrpc":"2.0","method":"update","params":[1,2]}');
    expect(parsed.kind === 'single' && parsed.call.notification).toBe(true);
  });

  it('answers invalid JSON with -32700 and id null', () => {
    const parsed = parse('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
    expect(parsed.kind).toBe('error');
    if (parsed.kind === 'error') expect(errorOf(parsed.body)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
  });

  it.each([
    ['method not a string', '{"jsonrpc": "2.0", "method": 1, "params": "bar"}', null],
    ['wrong version', '{"jsonrpc": "1.0", "method": "x", "id": 3}', 3],
    ['params a string', '{"jsonrpc": "2.0", "method": "x", "params": "bar", "id": "q"}', 'q'],
    ['id an object', '{"jsonrpc": "2.0", "method": "x", "id": {"a":1}}', null],
    ['a number', '1', null],
    ['null', 'null', null],
    ['a string', '"hello"', null],
  ])('answers an invalid request (%s) with -32600 and the id when it can be read', (_name, text, id) => {
    const parsed = parse(text);
    expect(parsed.kind).toBe('error');
    if (parsed.kind === 'error') expect(errorOf(parsed.body)).toMatchObject({ id, error: { code: -32600 } });
  });

  it('answers an empty batch with one error object, not an array', () => {
    const parsed = parse('[]');
    expect(parsed.kind).toBe('error');
    if (parsed.kind === 'error') expect(errorOf(parsed.body)).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('answers each invalid element of a batch, keeping the valid ones', () => {
    const parsed = parse('[1, {"jsonrpc":"2.0","method":"a","id":1}, {"foo":"boo"}, {"jsonrpc":"2.0","method":"n"}]');
    expect(parsed.kind).toBe('batch');
    if (parsed.kind !== 'batch') return;
    expect(parsed.entries.map((e) => (e.call ? e.call.method : errorOf(e.error).error.code))).toEqual([-32600, 'a', -32600, 'n']);
    expect(parsed.entries[3]!.call!.notification).toBe(true);
  });

  it('refuses a batch over the limit with one clear error', () => {
    const parsed = parseRequestBody(JSON.stringify(Array.from({ length: 11 }, (_, i) => ({ jsonrpc: '2.0', method: 'm', id: i }))), 10);
    expect(parsed.kind).toBe('error');
    if (parsed.kind === 'error') {
      expect(parsed.code).toBe('BATCH_TOO_LARGE');
      expect(errorOf(parsed.body).error.code).toBe(-32600);
    }
  });

  it('never throws and always classifies, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        const parsed = parse(text);
        expect(['single', 'batch', 'error']).toContain(parsed.kind);
        if (parsed.kind === 'error') expect(() => JSON.parse(parsed.body)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly the objects that are valid requests', () => {
    const request = fc.record(
      {
        jsonrpc: fc.constantFrom('2.0', '1.0', 2),
        method: fc.oneof(fc.string(), fc.integer()),
        params: fc.oneof(fc.array(fc.integer()), fc.dictionary(fc.string(), fc.integer()), fc.string()),
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.boolean()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(request, (req) => {
        const valid = req.jsonrpc === '2.0' && typeof req.method === 'string'
          && (req.params === undefined || typeof req.params === 'object')
          && (!('id' in req) || typeof req.id !== 'boolean');
        expect(parse(JSON.stringify(req)).kind).toBe(valid ? 'single' : 'error');
      }),
      { numRuns: 2000 },
    );
  });
});
