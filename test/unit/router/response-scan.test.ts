import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SCAN_REASONS,
  idEquals,
  idEqualsNumber,
  idEqualsString,
  newResponseScan,
  scanBatchResponse,
  scanRequest,
  scanRequestBatch,
  scanResponse,
  withId,
  type ResponseScan,
} from '../../../src/router/response-scan.js';
import { BASE_BLOCK_NUMBER, ChainModel } from '../../../src/sim/chain-model.js';
import { seededRandom } from '../../../src/sim/profiles.js';

type Rec = Record<string, unknown>;
type Id = string | number | null;

// ---------------------------------------------------------------------------------------------
// Reference: JSON.parse + the forwarder's envelope check + the documented duplicate rule.

function isValidId(id: unknown): id is Id {
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) || id === null;
}

/** Copy of src/router/forward.ts's isResponseObject. */
function isResponseObject(value: unknown): value is Rec & { id: Id } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const obj = value as Rec;
  if (obj['jsonrpc'] !== '2.0' || !isValidId(obj['id'])) return false;
  const hasResult = 'result' in obj;
  const error = obj['error'];
  if (error === undefined) return hasResult;
  return !hasResult && typeof error === 'object' && error !== null
    && Number.isInteger((error as Rec)['code'])
    && typeof (error as Rec)['message'] === 'string';
}

/**
 * For a valid JSON text whose top value is an object: does it repeat jsonrpc/id/result/error,
 * or does one of its `error` object members repeat code/message? An independent tokenizer.
 */
function hasEnvelopeDuplicates(text: string): boolean {
  interface Frame { object: boolean; expectKey: boolean; key: string | undefined; keys: string[] }
  const stack: Frame[] = [];
  let i = 0;
  const watchTop = ['jsonrpc', 'id', 'result', 'error'];
  const watchError = ['code', 'message'];
  const dup = (keys: string[], watch: string[]) => watch.some((k) => keys.indexOf(k) !== keys.lastIndexOf(k));
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const str = JSON.parse(text.slice(i, j + 1)) as string;
      const top = stack[stack.length - 1];
      if (top?.object && top.expectKey) {
        top.keys.push(str);
        top.key = str;
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      stack.push({ object: c === '{', expectKey: c === '{', key: undefined, keys: [] });
    } else if (c === '}' || c === ']') {
      const frame = stack.pop()!;
      const parent = stack[stack.length - 1];
      if (frame.object && stack.length === 0 && dup(frame.keys, watchTop)) return true;
      if (frame.object && stack.length === 1 && parent?.key === 'error' && dup(frame.keys, watchError)) return true;
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.object) top.expectKey = true;
    }
    i++;
  }
  return false;
}

interface Reference {
  json: boolean;
  ok: boolean;
  value?: unknown;
}

function reference(bytes: Buffer): Reference {
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { json: false, ok: false };
  }
  const ok = isResponseObject(value) && !hasEnvelopeDuplicates(text);
  return { json: true, ok, value };
}

// ---------------------------------------------------------------------------------------------
// A serializer with random whitespace, random escapes, odd number spellings and duplicate keys.

class Raw {
  constructor(readonly text: string) {}
}
/** An object given as entries, so that it may repeat keys. */
class Obj {
  constructor(readonly entries: [string, unknown][]) {}
}

interface Style {
  rng: () => number;
  wsRate: number;
  escapeRate: number;
  oddNumbers: number;
}

const WS = [' ', '\n', '\t', '\r'];
const SHORT: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x2f: '\\/', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

function ws(st: Style): string {
  if (st.rng() >= st.wsRate) return '';
  let s = '';
  const n = 1 + Math.floor(st.rng() * 3);
  for (let i = 0; i < n; i++) s += WS[Math.floor(st.rng() * 4)]!;
  return s;
}

function escapeUnit(c: number, st: Style): string {
  const short = SHORT[c];
  if (short !== undefined && st.rng() < 0.5) return short;
  const hex = c.toString(16).padStart(4, '0');
  return `\\u${st.rng() < 0.5 ? hex : hex.toUpperCase()}`;
}

function serString(s: string, st: Style): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const next = s.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      // A pair: both raw or both escaped (half raw would not survive UTF-8).
      if (st.rng() < st.escapeRate) out += escapeUnit(c, st) + escapeUnit(next, st);
      else out += s[i]! + s[i + 1]!;
      i++;
      continue;
    }
    const must = c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff);
    out += must || st.rng() < st.escapeRate ? escapeUnit(c, st) : s[i]!;
  }
  return `${out}"`;
}

function serNumber(n: number, st: Style): string {
  const text = JSON.stringify(n);
  if (!/^-?[0-9]+$/.test(text) || st.rng() >= st.oddNumbers) return text;
  const forms = [`${text}.0`, `${text}e0`, `${text}E+0`, `${text}.000e-0`, n === 0 ? `${text}e5` : `${text}0e-1`];
  return forms[Math.floor(st.rng() * forms.length)]!;
}

function ser(v: unknown, st: Style): string {
  if (v instanceof Raw) return v.text;
  if (v === null) return 'null';
  if (typeof v === 'string') return serString(v, st);
  if (typeof v === 'number') return serNumber(v, st);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return `[${ws(st)}]`;
    return `[${v.map((x) => ws(st) + ser(x, st) + ws(st)).join(',')}]`;
  }
  const entries = v instanceof Obj ? v.entries : Object.entries(v as Rec);
  if (entries.length === 0) return `{${ws(st)}}`;
  return `{${entries.map(([k, x]) => `${ws(st)}${serString(k, st)}${ws(st)}:${ws(st)}${ser(x, st)}${ws(st)}`).join(',')}}`;
}

const styleArb = fc.record({
  seed: fc.integer(),
  wsRate: fc.constantFrom(0, 0, 0.1, 0.5),
  escapeRate: fc.constantFrom(0, 0, 0.05, 0.3),
  oddNumbers: fc.constantFrom(0, 0.3),
});
function style(s: { seed: number; wsRate: number; escapeRate: number; oddNumbers: number }): Style {
  return { rng: seededRandom(s.seed), wsRate: s.wsRate, escapeRate: s.escapeRate, oddNumbers: s.oddNumbers };
}

// ---------------------------------------------------------------------------------------------
// Generators

const anyUnitString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const textString = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 8 }), anyUnitString);
const jsonValue = fc.jsonValue({ maxDepth: 3 });

const idArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer() },
  { weight: 4, arbitrary: textString },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom(new Raw('1e400'), new Raw('-1e400'), new Raw('-0'), new Raw('1.0'), new Raw('12345678901234567890'), new Raw('1e-400')) },
  { weight: 1, arbitrary: jsonValue },
);

const codeArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -33000, max: 33000 }) },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constantFrom(new Raw('1.0'), new Raw('1e3'), new Raw('1.5'), new Raw('1e400'), new Raw('-1e-400'), new Raw('-0')) },
  { weight: 1, arbitrary: jsonValue },
);

const errorArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record(
        {
          code: codeArb,
          message: fc.oneof({ weight: 6, arbitrary: textString }, { weight: 1, arbitrary: jsonValue }),
          data: jsonValue,
          dup: fc.constantFrom('code', 'message'),
        },
        { requiredKeys: [] },
      )
      .chain((e) => fc.tuple(fc.constant(e), fc.integer({ min: 0, max: 9 })))
      .map(([e, r]) => {
        const entries: [string, unknown][] = [];
        if ('code' in e) entries.push(['code', e.code]);
        if ('message' in e) entries.push(['message', e.message]);
        if ('data' in e) entries.push(['data', e.data]);
        if (e.dup !== undefined && r === 0) entries.push([e.dup, e.dup === 'code' ? 1 : 'again']);
        return new Obj(entries);
      }),
  },
  { weight: 1, arbitrary: jsonValue },
);

const versionArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('2.0') },
  { weight: 1, arbitrary: fc.constantFrom('1.0', '2', '2.00', ' 2.0', '2.0 ', '') },
  { weight: 1, arbitrary: fc.constantFrom(2, 2.0, null, true) },
);

/** A long filler member, to get texts past the word-mode threshold. */
const padArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.nat(1200).map((n) => '0123456789abcdef'.repeat(80).slice(0, n)) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', ' ', '!', '#', '"', '\\', '\n', 'é', '€', '😀', '\u0001', '\ud800'), maxLength: 900 }) },
);

type Entries = [string, unknown][];

const validIdArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer() },
  { weight: 4, arbitrary: textString },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constantFrom(new Raw('-0'), new Raw('1.0'), new Raw('1e-400'), new Raw('12345678901234567890')) },
);

function rarely<T>(arb: fc.Arbitrary<T>, weight = 12): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/** Answer objects as entries; `valid` ones get the envelope right (bar the error object's contents). */
function envelopeArbitrary(valid: boolean): fc.Arbitrary<Entries> {
  return fc
    .record({
      version: valid ? fc.constant('2.0') : fc.option(versionArb, { freq: 20, nil: undefined }),
      id: valid ? validIdArb : fc.option(idArb, { freq: 20, nil: undefined }),
      body: fc.oneof(
        { weight: 6, arbitrary: jsonValue.map((r) => [['result', r]] as Entries) },
        { weight: 4, arbitrary: errorArb.map((e) => [['error', e]] as Entries) },
        { weight: valid ? 0 : 1, arbitrary: fc.tuple(jsonValue, errorArb).map(([r, e]) => [['result', r], ['error', e]] as Entries) },
        { weight: valid ? 0 : 1, arbitrary: fc.constant([] as Entries) },
      ),
      extras: fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('ids', 'i', 'results', 'jsonrpc2', 'code')), jsonValue), { maxLength: 2 }),
      dup: valid
        ? fc.constant(undefined)
        : rarely(fc.tuple(fc.constantFrom('jsonrpc', 'id', 'result', 'error'), fc.constantFrom<unknown>('2.0', 1, null, 'x', new Obj([['code', 1], ['message', 'm']])))),
      pad: padArb,
      order: fc.integer(),
    })
    .map(({ version, id, body, extras, dup, pad, order }) => {
      const entries: Entries = [];
      if (version !== undefined) entries.push(['jsonrpc', version]);
      if (id !== undefined) entries.push(['id', id]);
      entries.push(...body, ...extras);
      if (dup !== undefined) entries.push(dup);
      if (pad !== undefined) entries.push(['pad', pad]);
      const rng = seededRandom(order);
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [entries[i], entries[j]] = [entries[j]!, entries[i]!];
      }
      return entries;
    });
}

const envelopeArb = envelopeArbitrary(false);

function answerArbitrary(entriesArb: fc.Arbitrary<Entries>): fc.Arbitrary<Buffer> {
  return fc.tuple(entriesArb, styleArb).map(([entries, s]) => {
    const st = style(s);
    return Buffer.from(ws(st) + ser(new Obj(entries), st) + ws(st));
  });
}

const answerArb = answerArbitrary(envelopeArb);
const validAnswerArb = answerArbitrary(envelopeArbitrary(true)).filter((b) => reference(b).ok);

/** Places `bytes` at a random offset of a bigger buffer among garbage, or passes them as they are. */
const placementArb = fc.record({
  embed: fc.boolean(),
  before: fc.uint8Array({ maxLength: 9 }),
  after: fc.uint8Array({ maxLength: 9 }),
});
function place(bytes: Buffer, p: { embed: boolean; before: Uint8Array; after: Uint8Array }): [Buffer, number, number] {
  if (!p.embed) return [bytes, 0, bytes.length];
  const buf = Buffer.concat([p.before, bytes, p.after.length === 0 ? Buffer.from('"}]') : p.after]);
  return [buf, p.before.length, p.before.length + bytes.length];
}

const INTERESTING = [...'"\\{}[],:01-+.eEuntfa '].map((c) => c.charCodeAt(0)).concat([0x0a, 0x0d, 0x09, 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xef, 0xff]);
const byteArb = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 }));
const mutationsArb = fc.array(fc.record({ kind: fc.constantFrom('flip', 'insert', 'delete'), pos: fc.nat(), byte: byteArb }), { minLength: 1, maxLength: 3 });

function mutate(bytes: Buffer, mutations: { kind: string; pos: number; byte: number }[]): Buffer {
  const a = [...bytes];
  for (const m of mutations) {
    const pos = a.length === 0 ? 0 : m.pos % (a.length + (m.kind === 'insert' ? 1 : 0));
    if (m.kind === 'flip' && a.length > 0) a[pos] = m.byte;
    else if (m.kind === 'insert') a.splice(pos, 0, m.byte);
    else if (a.length > 0) a.splice(pos, 1);
  }
  return Buffer.from(a);
}

// ---------------------------------------------------------------------------------------------
// The comparison

/** Candidates for the id comparisons: the id itself and near misses. */
function idCandidates(id: Id): Id[] {
  const c: Id[] = [null, 0, 1, -1, '', '1', 'a', 2 ** 53 - 1];
  if (typeof id === 'string') c.push(id, `${id} `, id.slice(1), id.toUpperCase(), `${id}\u0000`);
  if (typeof id === 'number') c.push(id, id + 1, -id, String(id));
  return c;
}

function checkAgainstReference(buf: Buffer, start: number, end: number): void {
  const bytes = buf.subarray(start, end);
  const ref = reference(bytes);
  const scan = scanResponse(buf, start, end);
  expect({ json: scan.validJson, ok: scan.ok }, `${scan.reason} for ${JSON.stringify(bytes.toString('latin1'))}`).toEqual({ json: ref.json, ok: ref.ok });
  expect(scan.ok).toBe(scan.reason === SCAN_REASONS.OK);
  if (!ref.ok) return;
  const v = ref.value as Rec & { id: Id };
  expect(JSON.parse(buf.toString('utf8', scan.start, scan.end))).toEqual(v);
  expect(scan.isError).toBe('error' in v);
  if (scan.isError) expect(Object.is(scan.errorCode, (v['error'] as Rec)['code'])).toBe(true);
  else expect(scan.errorCode).toBeNaN();
  expect(scan.idKind).toBe(v.id === null ? 'null' : typeof v.id);
  const idText = buf.toString('utf8', scan.idStart, scan.idEnd);
  expect(Object.is(JSON.parse(idText), v.id)).toBe(true);
  for (const candidate of idCandidates(v.id)) {
    expect(idEquals(buf, scan, candidate), `id ${idText} vs ${JSON.stringify(candidate)}`).toBe(v.id === candidate);
    if (typeof candidate === 'number') expect(idEqualsNumber(buf, scan, candidate)).toBe(v.id === candidate);
    if (typeof candidate === 'string') expect(idEqualsString(buf, scan, candidate)).toBe(v.id === candidate);
  }
}

function check(bytes: Buffer): void {
  checkAgainstReference(bytes, 0, bytes.length);
}

// ---------------------------------------------------------------------------------------------

describe('scanResponse: the JSON-RPC 2.0 specification examples', () => {
  it.each([
    ['{"jsonrpc": "2.0", "result": 19, "id": 1}', false, 1],
    ['{"jsonrpc": "2.0", "result": -19, "id": 2}', false, 2],
    ['{"jsonrpc": "2.0", "result": 19, "id": 3}', false, 3],
    ['{"jsonrpc": "2.0", "result": 19, "id": 4}', false, 4],
    ['{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}', true, '1'],
    ['{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}', true, null],
    ['{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}', true, null],
    ['{"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}', false, '9'],
  ])('accepts %s', (text, isError, id) => {
    const buf = Buffer.from(text);
    const scan = scanResponse(buf);
    expect(scan).toMatchObject({ ok: true, reason: SCAN_REASONS.OK, validJson: true, isError, start: 0, end: buf.length });
    expect(idEquals(buf, scan, id)).toBe(true);
    if (isError) expect(scan.errorCode).toBe((JSON.parse(text) as { error: { code: number } }).error.code);
    check(buf);
  });

  it('accepts the specification batch answer and reports each element', () => {
    const text = `[
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ]`;
    const buf = Buffer.from(text);
    const batch = scanBatchResponse(buf);
    expect(batch.ok).toBe(true);
    const parsed = JSON.parse(text) as Rec[];
    expect(batch.items.map((i) => i.ok)).toEqual([true, true, true, true, true]);
    expect(batch.items.map((i) => JSON.parse(buf.toString('utf8', i.start, i.end)))).toEqual(parsed);
    expect(batch.items.map((i) => i.isError)).toEqual([false, false, true, true, false]);
    expect(idEqualsString(buf, batch.items[4]!, '9')).toBe(true);
    expect(JSON.parse(withId(buf, batch.items[3]!, '"client"').toString())).toEqual({ ...parsed[3], id: 'client' });
  });
});

describe('scanResponse: rejections', () => {
  const R = SCAN_REASONS;
  it.each([
    ['wrong version', '{"jsonrpc":"1.0","id":1,"result":1}', R.BAD_VERSION],
    ['version a number', '{"jsonrpc":2.0,"id":1,"result":1}', R.BAD_VERSION],
    ['no version', '{"id":1,"result":1}', R.NO_VERSION],
    ['both result and error', '{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}', R.BOTH],
    ['neither result nor error', '{"jsonrpc":"2.0","id":1}', R.NEITHER],
    ['no id', '{"jsonrpc":"2.0","result":1}', R.NO_ID],
    ['error without code', '{"jsonrpc":"2.0","id":1,"error":{"message":"m"}}', R.BAD_ERROR_CODE],
    ['error with a fractional code', '{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}', R.BAD_ERROR_CODE],
    ['error with a string code', '{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"m"}}', R.BAD_ERROR_CODE],
    ['error with an infinite code', '{"jsonrpc":"2.0","id":1,"error":{"code":1e400,"message":"m"}}', R.BAD_ERROR_CODE],
    ['error without message', '{"jsonrpc":"2.0","id":1,"error":{"code":1}}', R.BAD_ERROR_MESSAGE],
    ['error with a number message', '{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":5}}', R.BAD_ERROR_MESSAGE],
    ['error not an object', '{"jsonrpc":"2.0","id":1,"error":"boom"}', R.ERROR_NOT_OBJECT],
    ['error null', '{"jsonrpc":"2.0","id":1,"error":null}', R.ERROR_NOT_OBJECT],
    ['id an object', '{"jsonrpc":"2.0","id":{"a":1},"result":1}', R.BAD_ID],
    ['id an array', '{"jsonrpc":"2.0","id":[1],"result":1}', R.BAD_ID],
    ['id a boolean', '{"jsonrpc":"2.0","id":true,"result":1}', R.BAD_ID],
    ['id infinite', '{"jsonrpc":"2.0","id":1e400,"result":1}', R.ID_NOT_FINITE],
    ['an array', '[{"jsonrpc":"2.0","id":1,"result":1}]', R.NOT_OBJECT],
    ['a string', '"hello"', R.NOT_OBJECT],
    ['null', 'null', R.NOT_OBJECT],
    ['duplicate id', '{"jsonrpc":"2.0","id":1,"id":2,"result":1}', R.DUPLICATE],
    ['duplicate id, spelled with an escape', '{"jsonrpc":"2.0","id":1,"\\u0069d":2,"result":1}', R.DUPLICATE],
    ['duplicate result', '{"jsonrpc":"2.0","id":1,"result":1,"result":2}', R.DUPLICATE],
    ['duplicate jsonrpc', '{"jsonrpc":"1.0","jsonrpc":"2.0","id":1,"result":1}', R.DUPLICATE],
    ['duplicate error code', '{"jsonrpc":"2.0","id":1,"error":{"code":1,"code":2,"message":"m"}}', R.DUPLICATE],
    ['trailing garbage', '{"jsonrpc":"2.0","id":1,"result":1}x', R.TRAILING],
    ['two values', '{"jsonrpc":"2.0","id":1,"result":1} {}', R.TRAILING],
    ['trailing comma', '{"jsonrpc":"2.0","id":1,"result":1,}', R.UNEXPECTED],
    ['empty', '', R.EMPTY],
    ['only whitespace', ' \n\t\r ', R.EMPTY],
    ['truncated', '{"jsonrpc":"2.0","id":1,"result":"0x12', R.TRUNCATED],
    ['invalid escape \\x', '{"jsonrpc":"2.0","id":1,"result":"a\\x"}', R.BAD_ESCAPE],
    ['invalid escape \\u12g4', '{"jsonrpc":"2.0","id":1,"result":"\\u12g4"}', R.BAD_ESCAPE],
    ['invalid escape \\U1234', '{"jsonrpc":"2.0","id":1,"result":"\\U1234"}', R.BAD_ESCAPE],
    ['raw newline in a string', '{"jsonrpc":"2.0","id":1,"result":"a\nb"}', R.BAD_STRING],
    ['raw tab in a string', '{"jsonrpc":"2.0","id":1,"result":"a\tb"}', R.BAD_STRING],
    ['raw NUL in a string', '{"jsonrpc":"2.0","id":1,"result":"a\u0000b"}', R.BAD_STRING],
    ['single quotes', "{'jsonrpc':'2.0','id':1,'result':1}", R.UNEXPECTED],
    ['a bare word', '{"jsonrpc":"2.0","id":1,"result":nul}', R.BAD_LITERAL],
    ['TRUE', '{"jsonrpc":"2.0","id":1,"result":TRUE}', R.UNEXPECTED],
    ['NaN', '{"jsonrpc":"2.0","id":1,"result":NaN}', R.UNEXPECTED],
  ])('rejects %s', (_name, text, reason) => {
    const buf = Buffer.from(text);
    expect(scanResponse(buf).reason).toBe(reason);
    check(buf);
  });

  it.each(['01', '1.', '.5', '-', '1e', '1e+', '+1', '-01', '00', '1.e3', '0x10', '1_000', '--1', 'Infinity', '-Infinity'])(
    'rejects the invalid number %s anywhere',
    (n) => {
      for (const text of [`{"jsonrpc":"2.0","id":${n},"result":1}`, `{"jsonrpc":"2.0","id":1,"result":[${n}]}`, `{"jsonrpc":"2.0","id":1,"result":{"a":${n}}}`]) {
        const scan = scanResponse(Buffer.from(text));
        expect(scan.validJson, text).toBe(false);
        check(Buffer.from(text));
      }
    },
  );

  it.each(['0', '-0', '1', '-1', '0.5', '-0.5e-3', '1E+2', '1e400', '123456789012345678901234567890', '0e0', '1.25E-5'])('accepts the number %s', (n) => {
    const buf = Buffer.from(`{"jsonrpc":"2.0","id":1,"result":[${n}]}`);
    expect(scanResponse(buf).ok).toBe(true);
    check(buf);
  });

  it('accepts lone surrogates written as escapes, as JSON.parse does', () => {
    const buf = Buffer.from('{"jsonrpc":"2.0","id":"\\ud800x","result":"\\udfff\\ud83d\\ude00"}');
    const scan = scanResponse(buf);
    expect(scan.ok).toBe(true);
    expect(idEqualsString(buf, scan, '\ud800x')).toBe(true);
    expect(idEqualsString(buf, scan, '\ud801x')).toBe(false);
    check(buf);
  });

  it('rejects a UTF-8 byte order mark, as JSON.parse(buf.toString()) does', () => {
    const buf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"jsonrpc":"2.0","id":1,"result":1}')]);
    expect(scanResponse(buf)).toMatchObject({ ok: false, validJson: false, reason: SCAN_REASONS.UNEXPECTED });
    check(buf);
  });

  it('accepts invalid UTF-8 inside strings, as Buffer#toString + JSON.parse do, and nowhere else', () => {
    const inString = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"a'), Buffer.from([0xff, 0xc3]), Buffer.from('","result":1}')]);
    expect(scanResponse(inString).ok).toBe(true);
    check(inString);
    expect(idEqualsString(inString, scanResponse(inString), 'a\ufffd\ufffd')).toBe(true);
    const outside = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"result":1'), Buffer.from([0xc2, 0xa0]), Buffer.from('}')]);
    expect(scanResponse(outside).validJson).toBe(false);
    check(outside);
  });

  it('reads keys and the version through escapes, as JSON.parse does', () => {
    for (const text of [
      '{"\\u006asonrpc":"2\\u002e0","\\u0069\\u0064":"\\u0041","r\\u0065sult":1}',
      '{"jsonrpc":"2.0","id":"A","\\u0065rror":{"\\u0063ode":-1,"m\\u0065ssage":"m"}}',
    ]) {
      const buf = Buffer.from(text);
      const scan = scanResponse(buf);
      expect(scan.ok, text).toBe(true);
      expect(idEqualsString(buf, scan, 'A')).toBe(true);
      check(buf);
    }
  });

  it('compares numeric ids by value, as === on JSON.parse does', () => {
    for (const [spelling, value] of [['1.0', 1], ['1e0', 1], ['10E-1', 1], ['-0', 0], ['9007199254740993', 9007199254740992], ['0.1', 0.1]] as const) {
      const buf = Buffer.from(`{"jsonrpc":"2.0","id":${spelling},"result":1}`);
      const scan = scanResponse(buf);
      expect(idEqualsNumber(buf, scan, value), spelling).toBe(true);
      expect(idEqualsString(buf, scan, String(value))).toBe(false);
    }
  });

  it('rejects every strict prefix of a valid answer', () => {
    const texts = [
      '{"jsonrpc":"2.0","id":1,"result":{"a":[1,-2.5e+3,true,false,null,"x\\"\\\\\\u00e9y"],"b":{}}}',
      ' {"jsonrpc" : "2.0" , "error" : {"code" : -32000 , "message" : "m\\n" , "data" : [ ] } , "id" : "q\\t" } ',
      JSON.stringify({ jsonrpc: '2.0', id: 7, result: { pad: 'x'.repeat(700), hex: '0x' + 'ab'.repeat(300), esc: 'a\\b"c\u0001'.repeat(40) } }),
    ];
    for (const text of texts) {
      const buf = Buffer.from(text);
      expect(scanResponse(buf).ok).toBe(true);
      const trimmed = text.trimEnd().length;
      for (let n = 0; n < trimmed; n++) {
        const scan = scanResponse(buf, 0, n);
        if (scan.validJson) throw new Error(`prefix of ${n} bytes accepted: ${text.slice(0, n)}`);
      }
    }
  });

  it('follows deep nesting without a stack overflow, like JSON.parse', () => {
    for (const depth of [1000, 100_000]) {
      const arrays = Buffer.from(`{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      expect(scanResponse(arrays).ok).toBe(true);
      const objects = Buffer.from(`{"jsonrpc":"2.0","id":1,"result":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`);
      expect(scanResponse(objects).ok).toBe(true);
      const unbalanced = Buffer.from(`{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}${']'.repeat(depth - 1)}}`);
      expect(scanResponse(unbalanced).validJson).toBe(false);
      const mismatched = Buffer.from(`{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}}${']'.repeat(depth - 1)}}`);
      expect(scanResponse(mismatched).validJson).toBe(false);
      const deepError = Buffer.from(`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
      expect(scanResponse(deepError).ok).toBe(true);
    }
    // And small inputs still work after the stack grew.
    check(Buffer.from('{"jsonrpc":"2.0","id":1,"result":[[[{"a":[1]}]]]}'));
  });

  it('reuses one result object unless the caller passes its own', () => {
    const a = Buffer.from('{"jsonrpc":"2.0","id":1,"result":1}');
    const b = Buffer.from('{"jsonrpc":"2.0","id":2,"result":1}');
    const shared = scanResponse(a);
    expect(scanResponse(b)).toBe(shared);
    expect(shared.idNumber).toBe(2);
    const mine: ResponseScan = newResponseScan();
    expect(scanResponse(a, 0, a.length, mine)).toBe(mine);
    expect(mine.idNumber).toBe(1);
    expect(shared.idNumber).toBe(2);
  });

  it('scans only [start, end) of a bigger buffer', () => {
    const inner = '{"jsonrpc":"2.0","id":"x","result":"' + 'y'.repeat(600) + '"}';
    const buf = Buffer.from(`garbage"${inner}"}]more`);
    const start = 8;
    const scan = scanResponse(buf, start, start + Buffer.byteLength(inner));
    expect(scan).toMatchObject({ ok: true, start, end: start + inner.length });
    expect(scanResponse(buf, start, start + inner.length - 1).validJson).toBe(false);
  });
});

describe('scanResponse: differential properties against JSON.parse + the envelope check', () => {
  it('agrees on generated answers (valid and invalid envelopes, whitespace, escapes, duplicates)', () => {
    fc.assert(
      fc.property(answerArb, placementArb, (bytes, placement) => {
        const [buf, start, end] = place(bytes, placement);
        checkAgainstReference(buf, start, end);
      }),
      { numRuns: 4000 },
    );
  });

  it('agrees on arbitrary JSON texts (fc.json) and values with random whitespace', () => {
    fc.assert(
      fc.property(fc.json(), (text) => check(Buffer.from(text))),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), styleArb, placementArb, (v, s, placement) => {
        const st = style(s);
        const [buf, start, end] = place(Buffer.from(ws(st) + ser(v, st) + ws(st)), placement);
        checkAgainstReference(buf, start, end);
      }),
      { numRuns: 1500 },
    );
  });

  it('agrees on answers with flipped, inserted and deleted bytes', () => {
    fc.assert(
      fc.property(validAnswerArb, mutationsArb, placementArb, (bytes, mutations, placement) => {
        const [buf, start, end] = place(mutate(bytes, mutations), placement);
        checkAgainstReference(buf, start, end);
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees on arbitrary strings and bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: fc.constantFrom(...'{}[]":,\\ 0123456789.eE+-truefalsnl'.split('')), maxLength: 40 }), fc.string()), (text) =>
        check(Buffer.from(text)),
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => check(Buffer.from(bytes))),
      { numRuns: 1000 },
    );
  });

  it('rejects every strict prefix of generated valid answers', () => {
    fc.assert(
      fc.property(validAnswerArb, fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), (bytes, cuts) => {
        const trimmed = bytes.toString('latin1').trimEnd().length;
        for (const cut of cuts) {
          const n = cut % trimmed;
          expect(scanResponse(bytes, 0, n).validJson, `prefix ${n} of ${bytes.toString()}`).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('scanBatchResponse and withId', () => {
  const itemArb: fc.Arbitrary<Entries | unknown> = fc.oneof({ weight: 8, arbitrary: envelopeArb }, { weight: 1, arbitrary: jsonValue });
  const batchArb = fc.tuple(fc.array(itemArb, { maxLength: 8 }), styleArb).map(([items, s]) => {
    const st = style(s);
    const texts = items.map((item) => (Array.isArray(item) && item.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string') && item.length > 0
      ? ser(new Obj(item as Entries), st)
      : ser(item, st)));
    return Buffer.from(`${ws(st)}[${texts.map((t) => ws(st) + t + ws(st)).join(',')}${texts.length === 0 ? ws(st) : ''}]${ws(st)}`);
  });
  const clientIdArb = fc.oneof(fc.string(), fc.integer(), fc.constant(null), anyUnitString);

  function checkBatch(buf: Buffer, clientId: Id): void {
    const text = buf.toString('utf8');
    let parsed: unknown;
    let json = true;
    try {
      parsed = JSON.parse(text);
    } catch {
      json = false;
    }
    const batch = scanBatchResponse(buf);
    expect(batch.ok, batch.reason).toBe(json && Array.isArray(parsed));
    if (!batch.ok) {
      expect(batch.items).toEqual([]);
      return;
    }
    const values = parsed as unknown[];
    expect(batch.items.length).toBe(values.length);
    batch.items.forEach((item, i) => {
      const span = buf.subarray(item.start, item.end);
      expect(JSON.parse(span.toString('utf8'))).toEqual(values[i]);
      const ref = reference(span);
      expect(item.ok, `${item.reason}: ${span.toString()}`).toBe(ref.ok);
      // The same verdict as scanning the item on its own.
      expect(scanResponse(buf, item.start, item.end).ok).toBe(item.ok);
      if (!item.ok) return;
      const v = values[i] as Rec & { id: Id };
      expect(idEquals(buf, item, v.id)).toBe(true);
      const replaced = withId(buf, item, JSON.stringify(clientId));
      const again = JSON.parse(replaced.toString('utf8')) as Rec;
      expect(again).toEqual({ ...v, id: clientId });
      // The spliced answer is itself a valid answer carrying the client's id.
      const rescan = scanResponse(replaced, 0, replaced.length, newResponseScan());
      expect(rescan.ok).toBe(true);
      expect(idEquals(replaced, rescan, clientId)).toBe(true);
    });
  }

  it('reports each element of generated batches, with exact spans', () => {
    fc.assert(fc.property(batchArb, clientIdArb, (buf, clientId) => checkBatch(buf, clientId)), { numRuns: 1000 });
  });

  it('rejects the whole batch when the array is not valid JSON, and agrees after mutations', () => {
    fc.assert(
      fc.property(batchArb, mutationsArb, clientIdArb, (buf, mutations, clientId) => checkBatch(mutate(buf, mutations), clientId)),
      { numRuns: 1500 },
    );
  });

  it('handles empty, non-array and bad-element batches', () => {
    expect(scanBatchResponse(Buffer.from(' [ ] '))).toEqual({ ok: true, reason: SCAN_REASONS.OK, items: [] });
    expect(scanBatchResponse(Buffer.from('{"jsonrpc":"2.0","id":1,"result":1}')).reason).toBe(SCAN_REASONS.NOT_ARRAY);
    expect(scanBatchResponse(Buffer.from('[1,]')).ok).toBe(false);
    expect(scanBatchResponse(Buffer.from('[1')).ok).toBe(false);
    expect(scanBatchResponse(Buffer.from('')).reason).toBe(SCAN_REASONS.EMPTY);
    const buf = Buffer.from('[{"jsonrpc":"2.0","id":0,"result":"a"}, 5, {"jsonrpc":"1.0","id":1,"result":1}, {"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m"}}]');
    const batch = scanBatchResponse(buf);
    expect(batch.ok).toBe(true);
    expect(batch.items.map((i) => [i.ok, i.reason, i.idNumber])).toEqual([
      [true, SCAN_REASONS.OK, 0],
      [false, SCAN_REASONS.NOT_OBJECT, NaN],
      [false, SCAN_REASONS.BAD_VERSION, 1],
      [true, SCAN_REASONS.OK, 2],
    ]);
    expect(batch.items[3]!.errorCode).toBe(-1);
    expect(() => withId(buf, batch.items[1]!, '1')).toThrow(RangeError);
    const spliced = withId(buf, batch.items[0]!, '"caf\u00e9"');
    expect(spliced.toString()).toBe('{"jsonrpc":"2.0","id":"caf\u00e9","result":"a"}');
  });
});

// ---------------------------------------------------------------------------------------------
// The fast paths of skipValue: word mode (texts of 256 bytes or more, read four bytes at a time
// through a DataView, 16 bytes per round), the byte-wise tail, the compact joints `":"` and
// `","`, and the envelope's own byte-wise strings. Every case is checked against JSON.parse.

describe('scanResponse: fast-path edges', () => {
  /** Long enough to put any answer into word mode; has no quote, backslash or control byte. */
  const LONG_PAD = 'p'.repeat(300);
  const SPECIALS: [string, Buffer][] = [
    ['quote', Buffer.from('"')],
    ['escaped quote', Buffer.from('\\"')],
    ['escaped backslash', Buffer.from('\\\\')],
    ['lone backslash', Buffer.from('\\')],
    ['bad escape', Buffer.from('\\x')],
    ['unicode escape', Buffer.from('\\u00e9')],
    ['truncated unicode escape', Buffer.from('\\u00')],
    ['raw newline', Buffer.from([0x0a])],
    ['raw NUL', Buffer.from([0x00])],
    ['raw 0x1f', Buffer.from([0x1f])],
    ['space', Buffer.from(' ')],
    ['bang', Buffer.from('!')],
    ['hash after a quote-like byte', Buffer.from('!#')],
    ['hash', Buffer.from('#')],
    ['DEL', Buffer.from([0x7f])],
    ['0xa2 (a quote with bit 7)', Buffer.from([0xa2])],
    ['0xdc (a backslash with bit 7)', Buffer.from([0xdc])],
    ['0x80', Buffer.from([0x80])],
    ['0xff', Buffer.from([0xff])],
  ];
  /** Around one word (4 bytes), one round of the word loop (16), two rounds, and a 66-byte hash. */
  const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 20, 31, 32, 33, 66];

  /** The verdict and the id only (the full check() on ~23 000 texts per mode takes too long). */
  function sameVerdict(buf: Buffer): void {
    const ref = reference(buf);
    const scan = scanResponse(buf);
    if (scan.validJson !== ref.json || scan.ok !== ref.ok) {
      expect({ json: scan.validJson, ok: scan.ok }, `${scan.reason} for ${JSON.stringify(buf.toString('latin1'))}`).toEqual({ json: ref.json, ok: ref.ok });
    }
    if (ref.ok) expect(Object.is(JSON.parse(buf.toString('utf8', scan.idStart, scan.idEnd)), (ref.value as Rec)['id'])).toBe(true);
  }

  /** The string contents `s` (raw bytes) placed as a value, a deep key, an array element and the id. */
  function placements(s: Buffer, long: boolean): Buffer[] {
    const pad = long ? `,"pad":"${LONG_PAD}"` : '';
    const q = (t: string) => Buffer.from(t);
    return [
      Buffer.concat([q('{"jsonrpc":"2.0","id":1,"result":{"a":"'), s, q('","b":"0x1"}' + pad + '}')]),
      Buffer.concat([q('{"jsonrpc":"2.0","id":1' + pad + ',"result":{"a":1,"'), s, q('":"0x1","c":[]}}')]),
      Buffer.concat([q('{"jsonrpc":"2.0","id":1,"result":["0x0","'), s, q('",null]' + pad + '}')]),
      Buffer.concat([q('{"jsonrpc":"2.0"' + pad + ',"id":"'), s, q('","result":"0x1"}')]),
    ];
  }

  it.each([false, true])('agrees with JSON.parse on a special byte at every position of a string (word mode: %s)', (long) => {
    for (const [, special] of SPECIALS) {
      for (const n of LENGTHS) {
        for (let at = 0; at <= n; at++) {
          const s = Buffer.concat([Buffer.from('a'.repeat(at)), special, Buffer.from('b'.repeat(n - at))]);
          for (const text of placements(s, long)) {
            expect(text.length >= 256).toBe(long);
            sameVerdict(text);
          }
        }
      }
    }
  });

  it('agrees at every offset of the text in a bigger buffer (alignment of the word reads)', () => {
    const inner = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 'x', result: { h: `0x${'ab'.repeat(32)}`, e: 'q"\\\n', pad: LONG_PAD } }));
    for (let offset = 0; offset < 8; offset++) {
      const buf = Buffer.concat([Buffer.from('"\\'.repeat(8).slice(0, offset)), inner, Buffer.from('"}\\x')]);
      checkAgainstReference(buf, offset, offset + inner.length);
      // The same text cut short anywhere is never accepted.
      for (let cut = inner.length - 24; cut < inner.length; cut++) {
        expect(scanResponse(buf, offset, offset + cut).validJson).toBe(false);
      }
    }
  });

  it('agrees on strings that end within the last 20 bytes of the text (the byte-wise tail of word mode)', () => {
    for (let n = 240; n <= 300; n++) {
      for (const tail of ['', 'x', 'xy', 'xyz', ' ', '\\"', '\\\\', '\\u0041', '\u0001', '#']) {
        const body = 'a'.repeat(n) + tail;
        check(Buffer.from(`"${body}"`)); // a top-level string: valid JSON, not an object
        check(Buffer.from(`"${body}`)); // unterminated
        check(Buffer.from(`{"jsonrpc":"2.0","id":1,"result":"${body}"}`));
        check(Buffer.from(`{"jsonrpc":"2.0","id":1,"result":["${body}"]}`));
        check(Buffer.from(`{"jsonrpc":"2.0","id":1,"result":{"${body}":1}}`));
        check(Buffer.from(`{"jsonrpc":"2.0","id":1,"result":{"k":"${body}"}} `));
      }
    }
  });

  it('gives the same verdicts just below, at and above the word-mode threshold', () => {
    const texts = [
      (pad: string) => `{"jsonrpc":"2.0","id":1,"result":{"a":"${pad}","b":["x","y"],"c":"\\"q\\""}}`,
      (pad: string) => `{"jsonrpc":"2.0","id":"i\\u0064","result":["${pad}", "z" ,"w"]}`,
      (pad: string) => `{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"${pad}"}}`,
      (pad: string) => `{"jsonrpc":"2.0","id":1,"result":{"a":"${pad}\n"}}`,
    ];
    for (const make of texts) {
      const base = make('').length;
      for (let total = 250; total <= 262; total++) {
        const text = make('x'.repeat(total - base));
        expect(Buffer.byteLength(text)).toBe(total);
        check(Buffer.from(text));
      }
    }
  });

  it('takes the compact joints only where they are joints', () => {
    const cases = [
      '{"a":"b","c":"d"}', '{"a" :"b","c":"d"}', '{"a": "b","c":"d"}', '{"a":"b" ,"c":"d"}', '{"a":"b", "c":"d"}',
      '{"a":"b","c"}', '{"a","b"}', '{"a":"b",}', '{"a":"b","c":}', '{"a":"b":"c"}', '{"a":"b" "c":"d"}',
      '["a","b"]', '["a" ,"b"]', '["a", "b"]', '["a":"b"]', '["a",]', '["a","b"', '{"a":["b","c"],"d":{"e":"f"}}',
      '{"a":"b","c":1}', '{"a":"b","c":{"d":"e"}}', '{"a":"","":""}', '{"":""}', '[""]', '["",""]',
      '"a","b"', '"a":"b"', '"a"', '{"a":"b"}}', '{"a":"b"]',
    ];
    for (const value of cases) {
      for (const pad of ['', LONG_PAD]) {
        check(Buffer.from(`{"jsonrpc":"2.0","id":1,"result":${value},"pad":"${pad}"}`));
        check(Buffer.from(`{"jsonrpc":"2.0","id":1,"pad":"${pad}","result":${value}}`));
        check(Buffer.from(`[${value},"${pad}"]`));
      }
    }
  });

  it('decodes and deduplicates escaped keys at depth 1 only, and keeps track of backslashes after them', () => {
    const R = SCAN_REASONS;
    for (const pad of ['', LONG_PAD]) {
      const cases: [string, string][] = [
        [`{"jsonrpc":"2.0","\\u0069d":1,"result":{"\\u0069d":2,"id":3,"a\\"b":"c\\\\","pad":"${pad}"}}`, R.OK],
        [`{"jsonrpc":"2.0","id":1,"result":{"id":1,"id":2,"result":3,"jsonrpc":"1.0","pad":"${pad}"}}`, R.OK],
        [`{"jsonrpc":"2.0","id":1,"result":[{"error":1,"error":2}],"pad":"${pad}"}`, R.OK],
        [`{"jsonrpc":"2.0","id":1,"r\\u0065sult":{"x":"\\"${pad}\\""},"\\u0069d":2}`, R.DUPLICATE],
        [`{"\\u006asonrpc":"2.0","id":"\\\\","result":"${pad}\\n","pad":"a\\"b"}`, R.OK],
        [`{"jsonrpc":"2.0","id":1,"error":{"c\\u006fde":1,"message":"m${pad}","code":2}}`, R.DUPLICATE],
        [`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":{"code":"x","message":1,"p":"${pad}"}}}`, R.OK],
        [`{"jsonrpc":"2.0","id":1,"result":{"k\\u00":1,"pad":"${pad}"}}`, R.BAD_ESCAPE],
        [`{"jsonrpc":"2.0","\\x69d":1,"result":"${pad}"}`, R.BAD_ESCAPE],
      ];
      for (const [text, reason] of cases) {
        const buf = Buffer.from(text);
        expect(scanResponse(buf).reason, text).toBe(reason);
        check(buf);
      }
    }
  });
});

describe('scanResponse: differential properties on Ethereum-shaped answers', () => {
  const chain = new ChainModel({ chainId: 1 });
  const block = chain.block(BASE_BLOCK_NUMBER, true);
  const txs = block.transactions as unknown as Rec[];
  const fixtures = [
    { jsonrpc: '2.0', id: 1, result: '0x1234' },
    { jsonrpc: '2.0', id: 7, result: { ...txs[3], accessList: [], chainId: '0x1', yParity: '0x1' } },
    { jsonrpc: '2.0', id: 'a', result: { ...chain.block(BASE_BLOCK_NUMBER, false), transactions: txs.slice(0, 3).map((t) => t['hash']) } },
    { jsonrpc: '2.0', id: null, result: txs.slice(0, 4) },
  ].map((v) => Buffer.from(JSON.stringify(v)));

  it('accepts the fixtures as they are, pretty-printed, and in every byte mode', () => {
    for (const buf of fixtures) {
      check(buf);
      check(Buffer.from(JSON.stringify(JSON.parse(buf.toString()), null, 2)));
    }
  });

  it('agrees after flipped, inserted and deleted bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fixtures), mutationsArb, placementArb, (bytes, mutations, placement) => {
        const [buf, start, end] = place(mutate(bytes, mutations), placement);
        checkAgainstReference(buf, start, end);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('value spans: result (scanResponse) and params (scanRequest)', () => {
  const spaced = fc.constantFrom<(v: unknown) => string>(
    (v) => JSON.stringify(v),
    (v) => JSON.stringify(v, null, 2),
    (v) => ` \n${JSON.stringify(v)}\t `,
  );

  it('the result span holds exactly the result value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), spaced, fc.boolean(), (value, space, resultFirst) => {
        const members = [`"jsonrpc":"2.0"`, `"id":7`];
        const result = `"result":${space(value)}`;
        const text = `{${resultFirst ? [result, ...members].join(',') : [...members, result].join(' , ')}}`;
        const body = Buffer.from(text);
        const scan = scanResponse(body, 0, body.length, newResponseScan());
        expect(scan.ok).toBe(true);
        const span = body.toString('utf8', scan.resultStart, scan.resultEnd);
        expect(span).toBe(span.trim());
        expect(JSON.parse(span)).toStrictEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('has no result span for an error answer or a failed scan, and the same span in a batch element', () => {
    const error = Buffer.from('{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"x"}}');
    const scan = scanResponse(error, 0, error.length, newResponseScan());
    expect([scan.resultStart, scan.resultEnd]).toEqual([-1, -1]);
    const bad = Buffer.from('{"jsonrpc":"2.0","id":1,"result":"0x1"');
    const failed = scanResponse(bad, 0, bad.length, newResponseScan());
    expect([failed.ok, failed.resultStart, failed.resultEnd]).toEqual([false, -1, -1]);
    const batch = Buffer.from('[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":null}]');
    const items = scanBatchResponse(batch).items;
    expect(items.map((item) => batch.toString('utf8', item.resultStart, item.resultEnd))).toEqual(['"0x1"', 'null']);
  });

  it('the params span holds exactly the params value, -1 when there are none', () => {
    const withParams = Buffer.from('{"jsonrpc":"2.0","id":1,"params": [ "0x1" , {"a":[1]} ] ,"method":"eth_call"}');
    const scan = scanRequest(withParams);
    expect(scan.ok).toBe(true);
    expect(withParams.toString('utf8', scan.paramsStart, scan.paramsEnd)).toBe('[ "0x1" , {"a":[1]} ]');
    const named = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1}}');
    const namedScan = scanRequest(named);
    expect(named.toString('utf8', namedScan.paramsStart, namedScan.paramsEnd)).toBe('{"a":1}');
    const none = scanRequest(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'));
    expect([none.ok, none.paramsStart, none.paramsEnd]).toEqual([true, -1, -1]);
    const batch = '[{"jsonrpc":"2.0","id":1,"method":"a","params":[1]},{"jsonrpc":"2.0","id":2,"method":"b"}]';
    const items = scanRequestBatch(Buffer.from(batch), 10)!;
    expect(items.map((item) => [item.paramsStart, item.paramsEnd])).toEqual([[batch.indexOf('[1]'), batch.indexOf('[1]') + 3], [-1, -1]]);
  });
});
