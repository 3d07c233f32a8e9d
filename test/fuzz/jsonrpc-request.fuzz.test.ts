/**
 * Fuzzing the request parser (src/router/jsonrpc.ts parseRequestBody) with JSON.parse as the
 * oracle: the byte fast path (scanRequest, scanRequestBatch) may take a body only when it
 * reads it as the JSON.parse path does. Each body goes through both: as bytes (the fast path
 * first) and as its UTF-8 decoding (JSON.parse only). They must give the same kind, methods,
 * ids, notification flags and request objects, the same error (code, id and text) for every
 * invalid body, and the same upstream bytes once parsed. Bodies are generated requests and
 * batches, small and past the scanner's word-mode threshold, then mutated byte by byte, and
 * bodies nested 100,000 levels deep.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type ParsedBody, type RpcCall, parseRequestBody } from '../../src/router/jsonrpc.js';

/** The calls as one upstream batch, the i-th with ids[i]: each written as the upstream client writes it. */
function upstreamBatch(calls: readonly RpcCall[], ids: readonly number[]): Buffer {
  const items = calls.map((call, i) => {
    const out = Buffer.alloc(call.upstreamItemLength(ids[i]!));
    call.writeUpstreamItem(ids[i]!, out, 0);
    return out;
  });
  return Buffer.concat([Buffer.from('['), ...items.flatMap((item, i) => (i === 0 ? [item] : [Buffer.from(','), item])), Buffer.from(']')]);
}
import { scanRequest, scanRequestBatch } from '../../src/router/response-scan.js';
import { SCALE, TIMEOUT_MS, count, params, report } from './fuzz-options.js';
import { parseBytes } from './json-oracle.js';
import { mutate, mutationsArb } from './mutate.js';

afterAll(report);

const MAX_BATCH = 8;

/** What a parse means to the forwarder, comparable with toEqual (-0 kept apart from 0). */
function meaning(parsed: ParsedBody, withRequest: boolean): unknown {
  const call = (c: RpcCall) => ({
    method: c.method,
    id: c.id,
    negativeZero: Object.is(c.id, -0),
    notification: c.notification,
    ...(withRequest ? { request: c.request } : {}),
  });
  if (parsed.kind === 'error') return { kind: 'error', code: parsed.code, id: parsed.id, body: parsed.body };
  if (parsed.kind === 'single') return { kind: 'single', call: call(parsed.call) };
  return { kind: 'batch', entries: parsed.entries.map((e) => (e.call ? call(e.call) : { error: e.error })) };
}

function callsOf(parsed: ParsedBody): RpcCall[] {
  if (parsed.kind === 'single') return [parsed.call];
  if (parsed.kind === 'batch') return parsed.entries.flatMap((e) => (e.call ? [e.call] : []));
  return [];
}

/**
 * Both paths on `bytes`. `shallow`: the request objects and upstream bytes are compared too
 * (toEqual and JSON.stringify recurse, so not on deep inputs).
 */
function agree(bytes: Buffer, shallow = true): ParsedBody {
  count('parseRequestBody');
  const fromBytes = parseRequestBody(bytes, MAX_BATCH);
  const fromText = parseRequestBody(bytes.toString('utf8'), MAX_BATCH);
  expect(meaning(fromBytes, shallow), JSON.stringify(bytes.toString('latin1')).slice(0, 400)).toEqual(meaning(fromText, shallow));
  // The fast paths take only what JSON.parse reads as a valid single request or batch of them.
  const parsed = parseBytes(bytes);
  if (scanRequest(bytes).ok) expect(fromText.kind).toBe('single');
  if (scanRequestBatch(bytes, MAX_BATCH) !== undefined) {
    expect(parsed.json && Array.isArray(parsed.value)).toBe(true);
    expect(fromText.kind === 'batch' && fromText.entries.every((e) => e.call !== undefined)).toBe(true);
  }
  if (!shallow) {
    // Deep calls go upstream too, whichever path read them (JSON.stringify would overflow).
    for (const parsedBody of [fromBytes, fromText]) {
      const calls = callsOf(parsedBody);
      if (calls.length > 0) expect(upstreamBatch(calls, calls.map((_, i) => i)).length).toBeGreaterThan(0);
    }
  } else {
    // What goes upstream: the same requests, with the gateway's ids, whichever path read them.
    const calls = callsOf(fromBytes);
    if (calls.length > 0) {
      const ids = calls.map((_, i) => 1000 + i);
      // A known difference, not a framing one: the JSON.parse path re-serializes the request
      // (JSON.stringify), so a number JSON.parse reads as ±Infinity (1e400) goes upstream as
      // null, where the byte path sends the client's bytes. Both sides are compared after the
      // same round trip; precision is not at stake (both sides parse the same digits).
      const roundTrip = (b: Buffer) => JSON.parse(JSON.stringify(JSON.parse(b.toString('utf8')))) as unknown[];
      const sent = roundTrip(upstreamBatch(calls, ids));
      expect(sent).toEqual(roundTrip(upstreamBatch(callsOf(fromText), ids)));
      sent.forEach((item, i) => {
        const request = JSON.parse(JSON.stringify(calls[i]!.request)) as Record<string, unknown>;
        expect(item).toEqual(calls[i]!.notification ? request : { ...request, id: ids[i] });
      });
    }
  }
  return fromBytes;
}

// ---------------------------------------------------------------------------------------------
// Generated requests

const methodArb = fc.oneof(
  fc.constantFrom('eth_call', 'eth_blockNumber', 'eth_getBalance', 'eth_getLogs', 'net_version', 'eth_chainId', 'x'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);
const idArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.integer() },
  { weight: 4, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const hexArb = fc.nat(400).map((n) => '0x' + '0123456789abcdef'.repeat(26).slice(0, n));
const paramsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.oneof(hexArb, fc.constantFrom('latest', 'pending'), fc.record({ to: hexArb, data: hexArb }, { requiredKeys: ['to'] })), { maxLength: 3 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

const requestArb = fc
  .record(
    {
      jsonrpc: fc.oneof({ weight: 12, arbitrary: fc.constant<unknown>('2.0') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('1.0', 2, null) }),
      method: fc.oneof({ weight: 12, arbitrary: methodArb as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
      params: paramsArb,
      id: idArb,
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  )
  .chain((r) => fc.tuple(fc.constant(r), fc.nat(), fc.constantFrom(undefined, undefined, 1, '\t')))
  .map(([r, order, indent]) => {
    const members = Object.entries(r);
    const k = members.length === 0 ? 0 : order % members.length;
    return JSON.stringify(Object.fromEntries([...members.slice(k), ...members.slice(0, k)]), null, indent);
  });

const validRequestArb = requestArb.filter((text) => parseRequestBody(text, MAX_BATCH).kind === 'single');

const bodyArb = fc.oneof(
  { weight: 3, arbitrary: requestArb.map((t) => Buffer.from(t)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.array(fc.oneof({ weight: 8, arbitrary: validRequestArb }, { weight: 1, arbitrary: requestArb }), { maxLength: MAX_BATCH + 1 }), fc.constantFrom('', ' ', '\n'))
      .map(([items, ws]) => Buffer.from(`${ws}[${ws}${items.join(`${ws},${ws}`)}${ws}]${ws}`)),
  },
);
const validBodyArb = bodyArb.filter((b) => parseRequestBody(b, MAX_BATCH).kind !== 'error');

describe('parseRequestBody fuzzed: the byte fast path against JSON.parse', { timeout: TIMEOUT_MS }, () => {
  it('generated requests and batches, valid and not', () => {
    fc.assert(fc.property(bodyArb, (bytes) => void agree(bytes)), params(1000, 11));
  });

  it('valid bodies after byte mutations: flips, truncations, insertions, repeats, escapes, UTF-8 edges, BOM', () => {
    fc.assert(fc.property(validBodyArb, mutationsArb, (bytes, mutations) => void agree(mutate(bytes, mutations))), params(1200, 12));
  });

  it('bodies nested 100,000 levels deep, in params, ids, methods, extra members and batches', () => {
    const depth = 100_000;
    const arrays = '['.repeat(depth) + ']'.repeat(depth);
    const objects = '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth);
    const bodies: string[] = [`{"jsonrpc":"2.0","method":"eth_call","id":1,"params":${objects}}`];
    // Deep objects cost JSON.parse about 3x deep arrays: the short run nests arrays only.
    for (const deep of SCALE > 1 ? [arrays, objects] : [arrays]) {
      bodies.push(
        `{"jsonrpc":"2.0","method":"eth_call","id":1,"params":${deep}}`,
        `{"jsonrpc":"2.0","method":"eth_call","params":${deep}}`,
        `{"jsonrpc":"2.0","method":"eth_call","id":1,"params":[${deep}],"extra":${deep}}`,
        `{"jsonrpc":"2.0","method":"eth_call","id":${deep}}`,
        `{"jsonrpc":"2.0","method":${deep},"id":1}`,
        `[{"jsonrpc":"2.0","method":"eth_call","id":1,"params":${deep}},{"jsonrpc":"2.0","method":"m","id":2}]`,
        `[${deep}]`,
        deep,
        `{"jsonrpc":"2.0","method":"eth_call","id":1,"params":${deep.slice(0, -1)}}`,
        `{"jsonrpc":"2.0","method":"eth_call","id":1,"params":${deep}]}`,
      );
    }
    for (const body of bodies) agree(Buffer.from(body), false);
  });
});
