import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestBody, type RpcCall } from '../../../src/router/jsonrpc.js';
import { KNOWN_METHODS } from '../../../src/metrics/method-labels.js';

/** As the forwarder calls it: the body's bytes (the plain single call takes the byte-scanning fast path). */
const parse = (text: string) => parseRequestBody(Buffer.from(text), 100);
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

describe('parseRequestBody: the byte-scanning fast path agrees with JSON.parse', () => {
  /** What a parse means to the forwarder, comparable with toEqual (-0 and 0 kept apart). */
  function meaning(parsed: ReturnType<typeof parseRequestBody>): unknown {
    if (parsed.kind === 'error') return { kind: 'error', code: parsed.code, body: parsed.body };
    if (parsed.kind === 'batch') return { kind: 'batch', entries: parsed.entries.map((e) => (e.call ? { ...pick(e.call) } : e)) };
    return { kind: 'single', ...pick(parsed.call) };
  }
  function pick(call: { method: string; id: unknown; notification: boolean; request: unknown }) {
    return { method: call.method, id: call.id, negativeZero: Object.is(call.id, -0), notification: call.notification, request: call.request };
  }
  function agree(text: string): void {
    const fromBytes = parseRequestBody(Buffer.from(text), 100);
    const fromText = parseRequestBody(text, 100);
    expect(meaning(fromBytes), text).toEqual(meaning(fromText));
  }

  it('on requests written by hand, odd ones included', () => {
    const bodies = [
      '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}',
      ' \n{ "method" : "eth_call" , "params" : [ {"to":"0x1"}, "latest" ] , "id" : "a\u0062c" , "jsonrpc" : "2.0" } \t',
      '{"jsonrpc":"2.0","method":"m","id":-0}',
      '{"jsonrpc":"2.0","method":"m","id":1e3}',
      '{"jsonrpc":"2.0","method":"m","id":1.5}',
      '{"jsonrpc":"2.0","method":"m","id":12345678901234567890}',
      '{"jsonrpc":"2.0","method":"m","id":1e400}',
      '{"jsonrpc":"2.0","method":"m","id":null}',
      '{"jsonrpc":"2.0","method":"m","id":true}',
      '{"jsonrpc":"2.0","method":"m","id":{}}',
      '{"jsonrpc":"2.0","method":"m","id":"é😀"}',
      '{"jsonrpc":"2.0","method":"m\u00e9"}',
      '{"jsonrpc":"2.0","method":"m","params":null}',
      '{"jsonrpc":"2.0","method":"m","params":"x"}',
      '{"jsonrpc":"2.0","method":"m","params":{"a":[1,{"b":null}]}}',
      '{"jsonrpc":"2.0","method":"m","method":"n"}',
      '{"jsonrpc":"2.0","jsonrpc":"2.0","method":"m"}',
      '{"jsonrpc":"2.0","method":"m","id":1,"id":2}',
      '{"json\u0072pc":"2.0","method":"m"}',
      '{"jsonrpc":"2.0","method":"m","__proto__":{"x":1}}',
      '{"jsonrpc":"2.0","method":"m","extra":[1,2,3]}',
      '{"jsonrpc":"2.0"}',
      '{"method":"m"}',
      '{"jsonrpc":"1.0","method":"m"}',
      '{"jsonrpc":"2.0","method":5}',
      '{"jsonrpc":2.0,"method":"m"}',
      '{}',
      '[]',
      '[{"jsonrpc":"2.0","method":"m","id":1}]',
      '{"jsonrpc":"2.0","method":"m",}',
      '{"jsonrpc":"2.0","method":"m"} x',
      '{"jsonrpc":"2.0","method":"m"',
      '\ufeff{"jsonrpc":"2.0","method":"m"}',
      '{"jsonrpc":"2.0","method":"a\tb"}',
      '',
      'null',
      '"x"',
    ];
    for (const body of bodies) agree(body);
  });

  it('on every labelled method, and on names one byte away from one (recognised from their bytes)', () => {
    for (const method of KNOWN_METHODS) {
      agree(JSON.stringify({ jsonrpc: '2.0', id: 1, method }));
      for (let i = 0; i < method.length; i++) {
        // Same length, one character off (ASCII, or a two-byte character in place of two): never the labelled name.
        const changed = method.slice(0, i) + String.fromCharCode(method.charCodeAt(i) ^ 0x20) + method.slice(i + 1);
        agree(JSON.stringify({ jsonrpc: '2.0', id: 1, method: changed }));
        if (i + 1 < method.length) agree(JSON.stringify({ jsonrpc: '2.0', id: 1, method: method.slice(0, i) + 'é' + method.slice(i + 2) }));
      }
      agree(JSON.stringify({ jsonrpc: '2.0', id: 1, method: method.slice(1) }));
      agree(JSON.stringify({ jsonrpc: '2.0', id: 1, method: `${method}x` }));
    }
    const call = parseRequestBody(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'), 1);
    expect(call.kind === 'single' && call.call.method).toBe('eth_blockNumber');
  });

  it('on batches written by hand, odd ones included', () => {
    const a = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';
    const n = '{"jsonrpc":"2.0","method":"eth_subscribe","params":{"x":[1]}}';
    const bodies = [
      `[${a}]`,
      `[${a},${n},${a}]`,
      ` \n[ ${a} , \t${n} ] \r\n`,
      `[${a},]`,
      `[,${a}]`,
      `[${a} ${a}]`,
      `[${a}`,
      `[${a}]]`,
      `[${a}] x`,
      `[[${a}]]`,
      `[${a},1]`,
      `[${a},null]`,
      `[${a},{}]`,
      '[ ]',
      '[{"jsonrpc":"2.0","method":"m","id":"\u0061"}]',
      '[{"jsonrpc":"2.0","method":"m","id":1,"id":2}]',
      '[{"jsonrpc":"2.0","method":"m","id":-0},{"jsonrpc":"2.0","method":"m","id":1e3},{"jsonrpc":"2.0","method":"m","id":null}]',
      '[{"jsonrpc":"2.0","method":"m","id":1e400}]',
      '[{"jsonrpc":"2.0","method":"m","id":"é😀","extra":{"a":[1,"]"]}}]',
      '[{"jsonrpc":"1.0","method":"m","id":1},{"jsonrpc":"2.0","method":"m","id":2}]',
    ];
    for (const body of bodies) agree(body);
  });

  it('on batches at and over the size limit', () => {
    const item = (i: number) => `{"jsonrpc":"2.0","method":"m","id":${i}}`;
    for (const size of [1, 2, 3]) {
      const body = `[${Array.from({ length: size }, (_, i) => item(i)).join(',')}]`;
      expect(meaning(parseRequestBody(Buffer.from(body), 2))).toEqual(meaning(parseRequestBody(body, 2)));
    }
  });

  it('on generated requests and their corruptions', () => {
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.boolean());
    const member = fc.oneof(
      fc.constant(['jsonrpc', '2.0']),
      fc.tuple(fc.constant('jsonrpc'), scalar),
      fc.tuple(fc.constant('method'), fc.oneof(fc.constantFrom('eth_call', 'eth_blockNumber', 'x'), fc.string(), scalar)),
      fc.tuple(fc.constant('params'), fc.oneof(fc.json().map((j) => JSON.parse(j) as unknown), fc.array(scalar), scalar)),
      fc.tuple(fc.constant('id'), scalar),
      fc.tuple(fc.string(), fc.json().map((j) => JSON.parse(j) as unknown)),
    );
    const body = fc
      .tuple(fc.array(member, { maxLength: 6 }), fc.constantFrom('', ' ', '\n  '), fc.boolean())
      .map(([members, ws, escapeKeys]) => {
        const parts = members.map(([k, v]) => {
          const key = escapeKeys && k.length > 0 ? `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k).slice(2)}` : JSON.stringify(k);
          return `${ws}${key}${ws}:${ws}${JSON.stringify(v) ?? 'null'}`;
        });
        return `${ws}{${parts.join(',')}${ws}}${ws}`;
      });
    fc.assert(fc.property(body, (text) => agree(text)), { numRuns: 3000 });
    const batch = fc
      .tuple(fc.array(body, { minLength: 1, maxLength: 4 }), fc.constantFrom('', ' ', '\n'))
      .map(([items, ws]) => `${ws}[${ws}${items.join(`${ws},${ws}`)}${ws}]${ws}`);
    fc.assert(fc.property(batch, (text) => agree(text)), { numRuns: 2000 });
    // Corruptions: a byte changed, dropped or inserted anywhere.
    fc.assert(
      fc.property(fc.oneof(body, batch), fc.nat(), fc.integer({ min: 0, max: 127 }), fc.constantFrom('set', 'drop', 'insert'), (text, at, byte, how) => {
        const i = text.length === 0 ? 0 : at % text.length;
        const ch = String.fromCharCode(byte);
        const broken = how === 'set' ? text.slice(0, i) + ch + text.slice(i + 1) : how === 'drop' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + ch + text.slice(i);
        agree(broken);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('writeUpstreamItem: each call as the gateway sends it on, alone or in a batch', () => {
  /** What the operator reads: the client's request with the index as its id (none for a notification). */
  function expected(request: Record<string, unknown>, index: number): Record<string, unknown> {
    return 'id' in request ? { ...request, id: index } : request;
  }
  /** One call alone as an upstream item (the batch's brackets taken off). */
  const itemOf = (call: RpcCall, index: number) => {
    const out = Buffer.alloc(call.upstreamItemLength(index));
    call.writeUpstreamItem(index, out, 0);
    return out.toString();
  };
  /** The calls as one upstream batch, the i-th with ids[i]. */
  const upstreamBatch = (calls: RpcCall[], ids: number[]) => Buffer.from(`[${calls.map((c, i) => itemOf(c, ids[i]!)).join(',')}]`);

  it('keeps the client\'s bytes around a new id when the batch took the fast path', () => {
    const items = [
      '{"jsonrpc":"2.0","id":"abc","method":"eth_call","params":[{"to":"0x1"},"latest"]}',
      '{ "id" : 12345678 , "method" : "eth_blockNumber" , "jsonrpc" : "2.0" }',
      '{"jsonrpc":"2.0","method":"eth_subscribe","params":["newHeads"]}',
      '{"jsonrpc":"2.0","method":"m","id":null,"extra":{"x":"é"}}',
      '{"jsonrpc":"2.0","method":"m","id":-1.5e3}',
    ];
    const parsed = parseRequestBody(Buffer.from(`[${items.join(',')}]`), 100);
    expect(parsed.kind).toBe('batch');
    if (parsed.kind !== 'batch') return;
    parsed.entries.forEach((entry, i) => {
      for (const index of [0, 7, 10, 99, 12345]) {
        const item = itemOf(entry.call!, index);
        expect(JSON.parse(item)).toEqual(expected(JSON.parse(items[i]!) as Record<string, unknown>, index));
        // The client's spelling of everything else is kept: the bytes were not re-serialized.
        expect(item.replace(/"id"\s*:\s*\d+/, '')).toBe(items[i]!.replace(/"id"\s*:\s*("abc"|null|-?[\d.e]+)/, ''));
      }
    });
  });

  it('keeps every member but the id when JSON.parse read the batch', () => {
    // An escaped key sends the whole batch to JSON.parse.
    const parsed = parseRequestBody(Buffer.from('[{"jsonrpc":"2.0","id":5,"method":"m","params":[1]},{"jsonrpc":"2.0","method":"n","\\u0078":1}]'), 100);
    expect(parsed.kind).toBe('batch');
    if (parsed.kind !== 'batch') return;
    const calls = parsed.entries.map((e) => e.call!);
    expect(JSON.parse(upstreamBatch(calls, [3, 4]).toString())).toEqual([
      { jsonrpc: '2.0', method: 'm', params: [1], id: 3 },
      { jsonrpc: '2.0', method: 'n', x: 1 },
    ]);
  });

  it('writes calls nested 100,000 levels deep that JSON.parse read (JSON.stringify would overflow the stack)', () => {
    // Every kind of value inside, written as JSON.stringify writes it.
    const deep = '['.repeat(100_000) + '{"a":[1,"x\\né",null,true,{},2.5,[]],"k\\"":{"":false}}' + ']'.repeat(100_000);
    // The escaped key sends the batch to JSON.parse; the repeated id makes the gateway renumber it.
    const item = `{"jsonrpc":"2.0","method":"eth_call","id":1,"\\u0078":-0.5,"params":${deep}}`;
    const parsed = parseRequestBody(Buffer.from(`[${item},${item}]`), 100);
    expect(parsed.kind).toBe('batch');
    if (parsed.kind !== 'batch') return;
    const out = upstreamBatch(parsed.entries.map((e) => e.call!), [7, 8]).toString();
    const expected = (id: number) => `{"jsonrpc":"2.0","method":"eth_call","id":${id},"x":-0.5,"params":${deep}}`;
    expect(out === `[${expected(7)},${expected(8)}]`).toBe(true);
  });

  it('agrees with the request on generated batches', () => {
    const request = fc.record(
      {
        jsonrpc: fc.constant('2.0'),
        method: fc.constantFrom('eth_call', 'eth_blockNumber', 'x'),
        params: fc.oneof(fc.array(fc.integer()), fc.dictionary(fc.string(), fc.string())),
        id: fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null)),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['jsonrpc', 'method'] },
    );
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 5 }), fc.nat({ max: 100_000 }), (requests, base) => {
        const parsed = parseRequestBody(Buffer.from(JSON.stringify(requests)), 100);
        expect(parsed.kind).toBe('batch');
        if (parsed.kind !== 'batch') return;
        const ids = parsed.entries.map((_, i) => base + i);
        const sent = JSON.parse(upstreamBatch(parsed.entries.map((e) => e.call!), ids).toString()) as unknown[];
        expect(sent).toEqual(requests.map((r, i) => expected(JSON.parse(JSON.stringify(r)) as Record<string, unknown>, ids[i]!)));
      }),
      { numRuns: 1000 },
    );
  });
});
