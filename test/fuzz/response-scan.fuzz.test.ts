/**
 * Fuzzing the answer scanner (src/router/response-scan.ts) with JSON.parse as the oracle:
 * generated answers, small and past the word-mode threshold, then mutated byte by byte
 * (flips, truncations, insertions, repeated slices and members, escapes, UTF-8 edge cases,
 * byte order marks), alone, embedded in a bigger buffer, and as batch elements; and inputs
 * nested 100,000 levels deep. test/unit/router/response-scan.test.ts has the hand-written
 * cases and the envelope generator with odd spellings; this suite adds the byte mutations,
 * the depth and the splicing of ids into mutated answers.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  idEquals,
  newResponseScan,
  scanBatchResponse,
  scanResponse,
  withId,
  withIdLength,
  writeWithId,
  type ResponseScan,
} from '../../src/router/response-scan.js';
import { SCALE, TIMEOUT_MS, count, params, report } from './fuzz-options.js';
import { type Id, hasEnvelopeDuplicates, isResponseObject, parseBytes, referenceResponse } from './json-oracle.js';
import { mutate, mutationsArb } from './mutate.js';

type Rec = Record<string, unknown>;

afterAll(report);

// ---------------------------------------------------------------------------------------------
// Generated answers

const textArb = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 6 }),
);
const idArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.integer() },
  { weight: 4, arbitrary: textArb },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const errorArb = fc.record(
  { code: fc.oneof(fc.integer({ min: -33000, max: 100 }), fc.double({ noNaN: true, noDefaultInfinity: true })), message: textArb, data: fc.jsonValue({ maxDepth: 2 }) },
  { requiredKeys: ['code', 'message'] },
);
/** A long member, to take texts past the scanner's word-mode threshold (256 bytes). */
const padArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.nat(1500).map((n) => '0x' + 'a1b2c3d4e5f60789'.repeat(100).slice(0, n)) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('"', '\\', '\n', 'é', '😀', 'abcdefgh', '\u0001', '\ud800'), { maxLength: 300 }).map((a) => a.join('')) },
);

const answerArb = fc
  .record({
    version: fc.oneof({ weight: 10, arbitrary: fc.constant<unknown>('2.0') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('1.0', 2, undefined) }),
    id: fc.oneof({ weight: 12, arbitrary: idArb }, { weight: 1, arbitrary: fc.constant(undefined) }),
    result: fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 2, arbitrary: fc.constant(undefined) }),
    error: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: errorArb }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
    pad: padArb,
    order: fc.nat(),
    indent: fc.constantFrom(undefined, undefined, 0, 1, '\t', ' \r\n'.slice(0, 1)),
    asciiOnly: fc.boolean(),
  })
  .map((a) => {
    const members: [string, unknown][] = [];
    if (a.version !== undefined) members.push(['jsonrpc', a.version]);
    if (a.id !== undefined) members.push(['id', a.id]);
    if (a.result !== undefined || a.error === undefined) members.push(['result', a.result ?? null]);
    if (a.error !== undefined) members.push(['error', a.error]);
    if (a.pad !== undefined) members.push(['pad', a.pad]);
    // Rotate the members: the id may come first, last or between.
    const k = a.order % members.length;
    const ordered = [...members.slice(k), ...members.slice(0, k)];
    let text = JSON.stringify(Object.fromEntries(ordered), null, a.indent);
    // Non-ASCII only occurs inside strings in JSON.stringify's output: escaping it keeps the value.
    if (a.asciiOnly) text = text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return Buffer.from(text);
  });

const validAnswerArb = answerArb.filter((b) => referenceResponse(b).ok);
const newIdArb = fc.oneof(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.integer(), textArb, fc.constant(null));

// ---------------------------------------------------------------------------------------------
// The comparison

/** The scan of `bytes` alone, and embedded in garbage, against the reference; the ids and their splicing when valid. */
function checkAnswer(bytes: Buffer, newId: Id, junk: number): void {
  count('scanResponse');
  const ref = referenceResponse(bytes);
  const scan = scanResponse(bytes, 0, bytes.length, newResponseScan());
  const what = () => `${scan.reason}: ${JSON.stringify(bytes.toString('latin1'))}`;
  expect(scan.validJson, what()).toBe(ref.json);
  expect(scan.ok, what()).toBe(ref.ok);
  // The same bytes between junk that would complete or break them if the scan read past its end.
  const before = Buffer.from('"}]\\,'.repeat(junk % 3));
  const padded = Buffer.concat([before, bytes, Buffer.from('"}],\\ 1')]);
  const inner = scanResponse(padded, before.length, before.length + bytes.length, newResponseScan());
  expect({ json: inner.validJson, ok: inner.ok }, what()).toEqual({ json: scan.validJson, ok: scan.ok });
  if (!ref.ok) return;
  expect([inner.start, inner.end, inner.idStart, inner.idEnd]).toEqual([scan.start, scan.end, scan.idStart, scan.idEnd].map((p) => p + before.length));
  checkIds(bytes, scan, ref.value as Rec & { id: Id }, newId);
}

function checkIds(bytes: Buffer, scan: ResponseScan, value: Rec & { id: Id }, newId: Id): void {
  expect(JSON.parse(bytes.toString('utf8', scan.start, scan.end))).toEqual(value);
  expect(scan.isError).toBe('error' in value);
  if (scan.isError) expect(Object.is(scan.errorCode, (value['error'] as Rec)['code'])).toBe(true);
  expect(scan.idKind).toBe(value.id === null ? 'null' : typeof value.id);
  expect(Object.is(JSON.parse(bytes.toString('utf8', scan.idStart, scan.idEnd)), value.id)).toBe(true);
  if (typeof value.id === 'number') expect(scan.idNumber).toBe(value.id);
  expect(idEquals(bytes, scan, value.id)).toBe(true);
  if (newId !== value.id) expect(idEquals(bytes, scan, newId)).toBe(false);
  // withId and writeWithId: the same answer with only the id changed, the same bytes either way.
  const idJson = JSON.stringify(newId);
  const spliced = withId(bytes, scan, idJson);
  expect(spliced.length).toBe(withIdLength(scan, idJson));
  expect(JSON.parse(spliced.toString('utf8'))).toEqual({ ...value, id: newId });
  const out = Buffer.alloc(spliced.length + 9, 0x23);
  expect(writeWithId(bytes, scan, idJson, out, 4)).toBe(4 + spliced.length);
  expect(out.subarray(4, 4 + spliced.length).equals(spliced)).toBe(true);
  expect(out.subarray(0, 4).toString('latin1') + out.subarray(4 + spliced.length).toString('latin1')).toBe('#'.repeat(9));
  const rescan = scanResponse(spliced, 0, spliced.length, newResponseScan());
  expect(rescan.ok).toBe(true);
  expect(idEquals(spliced, rescan, newId)).toBe(true);
}

/** A batch of `items` (with whitespace between), then its scan against JSON.parse, element by element. */
function checkBatch(bytes: Buffer, newId: Id): void {
  count('scanBatchResponse');
  const parsed = parseBytes(bytes);
  const batch = scanBatchResponse(bytes);
  const isArray = parsed.json && Array.isArray(parsed.value);
  expect(batch.ok, `${batch.reason}: ${JSON.stringify(bytes.toString('latin1'))}`).toBe(isArray);
  if (!batch.ok || !parsed.json) {
    expect(batch.items).toEqual([]);
    return;
  }
  const values = parsed.value as unknown[];
  expect(batch.items.length).toBe(values.length);
  batch.items.forEach((item, i) => {
    const span = bytes.subarray(item.start, item.end);
    expect(JSON.parse(span.toString('utf8'))).toEqual(values[i]);
    const ok = isResponseObject(values[i]) && !hasEnvelopeDuplicates(span.toString('utf8'));
    expect(item.ok, `${item.reason}: ${span.toString('latin1')}`).toBe(ok);
    if (ok) checkIds(bytes, item, values[i] as Rec & { id: Id }, newId);
  });
}

const batchArb = fc
  .tuple(fc.array(fc.oneof({ weight: 6, arbitrary: answerArb }, { weight: 1, arbitrary: fc.json({ maxDepth: 2 }).map((t) => Buffer.from(t)) }), { maxLength: 6 }), fc.constantFrom('', ' ', '\n\t'))
  .map(([items, ws]) => Buffer.concat([Buffer.from(`${ws}[${ws}`), ...items.flatMap((item, i) => (i === 0 ? [item] : [Buffer.from(`${ws},${ws}`), item])), Buffer.from(`${ws}]${ws}`)]));

describe('scanResponse fuzzed against JSON.parse', { timeout: TIMEOUT_MS }, () => {
  it('generated answers, valid and not, small and past the word-mode threshold', () => {
    fc.assert(fc.property(answerArb, newIdArb, fc.nat(), (bytes, newId, junk) => checkAnswer(bytes, newId, junk)), params(1000, 1));
  });

  it('valid answers after byte mutations: flips, truncations, insertions, repeats, escapes, UTF-8 edges, BOM', () => {
    fc.assert(
      fc.property(validAnswerArb, mutationsArb, newIdArb, fc.nat(), (bytes, mutations, newId, junk) => checkAnswer(mutate(bytes, mutations), newId, junk)),
      params(2000, 2),
    );
  });

  it('batches of generated answers, as they are and mutated', () => {
    fc.assert(fc.property(batchArb, newIdArb, (bytes, newId) => checkBatch(bytes, newId)), params(500, 3));
    fc.assert(fc.property(batchArb, mutationsArb, newIdArb, (bytes, mutations, newId) => checkBatch(mutate(bytes, mutations), newId)), params(600, 4));
  });
});

// ---------------------------------------------------------------------------------------------
// Depth

const DEPTH = 100_000;

/** Deep texts in every place an answer can nest: result, error.data, an extra member, the id, a batch element. */
function deepAnswers(depth: number): string[] {
  const arrays = '['.repeat(depth) + ']'.repeat(depth);
  const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  const mixed = '[{"k":'.repeat(depth / 2) + '"x"' + '}]'.repeat(depth / 2);
  const answers: string[] = [];
  // Deep objects cost JSON.parse about 3x deep arrays: the short run nests them in two places only.
  answers.push(`{"jsonrpc":"2.0","id":1,"result":${objects}}`, `{"jsonrpc":"2.0","id":1,"result":${mixed},"result":2}`);
  for (const deep of SCALE > 1 ? [arrays, objects, mixed] : [arrays]) {
    answers.push(
      `{"jsonrpc":"2.0","id":1,"result":${deep}}`,
      `{"result":${deep},"id":"a","jsonrpc":"2.0"}`,
      `{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m","data":${deep}}}`,
      `{"jsonrpc":"2.0","id":3,"extra":${deep},"result":0}`,
      `{"jsonrpc":"2.0","id":${deep},"result":0}`,
      `{"jsonrpc":"2.0","id":4,"error":${deep}}`,
      `{"jsonrpc":"2.0","id":5,"result":${deep},"result":1}`,
      deep,
    );
  }
  // Unbalanced, mismatched and unterminated.
  answers.push(
    `{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}${']'.repeat(depth - 1)}}`,
    `{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}${']'.repeat(depth + 1)}}`,
    `{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}}${']'.repeat(depth - 1)}`,
    `{"jsonrpc":"2.0","id":1,"result":${'{"a":'.repeat(depth)}`,
    '['.repeat(depth),
    `{"jsonrpc":"2.0","id":1,"result":${'[1,'.repeat(depth)}2${']'.repeat(depth)}}`,
    `{"jsonrpc":"2.0","id":1,"result":${'[1,'.repeat(depth)}2,${']'.repeat(depth)}}`,
  );
  return answers;
}

describe('scanners on inputs nested 100,000 levels deep', { timeout: TIMEOUT_MS }, () => {
  it('never throw, and agree with JSON.parse on every one, alone, in a batch and with its id replaced', () => {
    for (const text of deepAnswers(DEPTH)) {
      const bytes = Buffer.from(text);
      count('deep');
      const ref = referenceResponse(bytes);
      const scan = scanResponse(bytes, 0, bytes.length, newResponseScan());
      expect({ json: scan.validJson, ok: scan.ok }, `${scan.reason}: ${text.slice(0, 60)}`).toEqual({ json: ref.json, ok: ref.ok });
      if (scan.ok) {
        // The spliced text is the original with the id token replaced, nothing else.
        const spliced = withId(bytes, scan, '"new"').toString('utf8');
        expect(spliced).toBe(text.slice(0, scan.idStart) + '"new"' + text.slice(scan.idEnd));
        expect((JSON.parse(spliced) as Rec)['id']).toBe('new');
      }
      // As a batch element too (the short run: the texts without deep objects, which JSON.parse reads slowly).
      if (SCALE === 1 && text.includes('{"a":{"a":')) continue;
      const batch = scanBatchResponse(Buffer.from(`[${text},${text}]`));
      expect(batch.ok).toBe(ref.json);
      if (batch.ok) expect(batch.items.map((i) => i.ok)).toEqual([ref.ok, ref.ok]);
    }
    // A small answer after the stack grew is scanned as before.
    const small = Buffer.from('{"jsonrpc":"2.0","id":1,"result":[[[{"a":[1]}]]]}');
    expect(scanResponse(small).ok).toBe(true);
  });

  it('truncated and mutated deep answers', () => {
    const text = `{"jsonrpc":"2.0","id":1,"result":${'[{"a":"\\u00e9","b":'.repeat(DEPTH / 4)}0${'}]'.repeat(DEPTH / 4)}}`;
    const bytes = Buffer.from(text);
    expect(scanResponse(bytes).ok).toBe(true);
    fc.assert(
      fc.property(mutationsArb, (mutations) => {
        count('deep');
        const mutated = mutate(bytes, mutations);
        const ref = referenceResponse(mutated);
        const scan = scanResponse(mutated, 0, mutated.length, newResponseScan());
        expect({ json: scan.validJson, ok: scan.ok }).toEqual({ json: ref.json, ok: ref.ok });
      }),
      params(40, 5),
    );
  });
});
