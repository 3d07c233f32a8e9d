/**
 * The upstream client's HTTP/1.1 response parser: every framing, bytes split anywhere and fed
 * through one reused read buffer (as the socket's `onread` buffer is), the strict rejections,
 * and a differential check against what Node's own `http` server puts on the wire.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParsedResponse, ResponseParseError, ResponseParser, type ResponseParserLimits } from '../../../src/router/http1-response-parser.js';

const LIMITS: ResponseParserLimits = { maxHeadBytes: 16 * 1024, maxBodyBytes: 1024 * 1024 };

interface Result {
  status: number;
  body: string; // latin1, so any byte compares exactly
  keepAlive: boolean;
  keepAliveTimeoutMs: number | undefined;
}

function toResult(r: ParsedResponse): Result {
  return { status: r.status, body: r.body.toString('latin1'), keepAlive: r.keepAlive, keepAliveTimeoutMs: r.keepAliveTimeoutMs };
}

/**
 * Stale bytes a reused read buffer holds past the current read: a head end, chunk-size line
 * ends and a plausible status line, so a parser that looks past `length` finds "answers".
 */
const POISON = Buffer.from('\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX\n');

/** Poisons `buf[from, to)`; a window past each read is enough, since POISON repeats every few bytes. */
function poison(buf: Buffer, from: number, to = buf.length): void {
  for (let i = from; i < Math.min(to, buf.length); i++) buf[i] = POISON[i % POISON.length]!;
}

interface Fed {
  responses: Result[];
  /** What `finish()` returned, when it was called. */
  finished?: boolean;
}

/** Feeds `bytes` in one call, through a buffer of exactly its size. */
function feedWhole(bytes: Buffer, finish: boolean, limits = LIMITS): Fed {
  const responses: Result[] = [];
  const parser = new ResponseParser(limits, (r) => responses.push(toResult(r)));
  parser.execute(Buffer.from(bytes), bytes.length);
  const fed: Fed = { responses };
  if (finish) fed.finished = parser.finish();
  return fed;
}

/**
 * Feeds `bytes` cut at `cuts`, each piece copied into the same buffer (overwriting the last
 * read, stale bytes poisoned before and after each call), the way the socket reads.
 */
function feedSplit(bytes: Buffer, cuts: readonly number[], finish: boolean, limits = LIMITS, parserOut?: { parser?: ResponseParser }): Fed {
  const responses: Result[] = [];
  const parser = new ResponseParser(limits, (r) => responses.push(toResult(r)));
  if (parserOut) parserOut.parser = parser;
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const shared = Buffer.alloc(Math.max(64, bytes.length + 16));
  poison(shared, 0);
  let from = 0;
  for (const to of [...points, bytes.length]) {
    if (to === from) continue;
    const n = to - from;
    bytes.copy(shared, 0, from, to);
    poison(shared, n, n + 64);
    parser.execute(shared, n);
    poison(shared, 0, n + 64);
    from = to;
  }
  const fed: Fed = { responses };
  if (finish) fed.finished = parser.finish();
  return fed;
}

function everyByte(bytes: Buffer): number[] {
  return Array.from({ length: bytes.length }, (_, i) => i);
}

/** Both ways of feeding, whole and one byte at a time, must agree; returns the responses. */
function parse(text: string | Buffer, finish = false, limits = LIMITS): Result[] {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const whole = feedWhole(bytes, finish, limits);
  const bytewise = feedSplit(bytes, everyByte(bytes), finish, limits);
  expect(bytewise).toEqual(whole);
  return whole.responses;
}

function ok(body: string, extra: Partial<Result> = {}): Result {
  return { status: 200, body, keepAlive: true, keepAliveTimeoutMs: undefined, ...extra };
}

/** Whole and one byte at a time: both must throw ResponseParseError (from execute or finish). */
function expectRejected(text: string | Buffer, finish = false, limits = LIMITS, message?: RegExp): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  for (const feed of [() => feedWhole(bytes, finish, limits), () => feedSplit(bytes, everyByte(bytes), finish, limits)]) {
    let error: unknown;
    try {
      feed();
    } catch (err) {
      error = err;
    }
    expect(error, `accepted: ${JSON.stringify(bytes.toString('latin1'))}`).toBeInstanceOf(ResponseParseError);
    if (message) expect((error as Error).message).toMatch(message);
  }
}

describe('ResponseParser: valid responses', () => {
  it('Content-Length, including 0, with and without a reason phrase', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello')).toEqual([ok('hello')]);
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).toEqual([ok('')]);
    expect(parse('HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi')).toEqual([ok('hi')]);
    expect(parse('HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nhi')).toEqual([ok('hi')]);
    expect(parse('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3\r\n\r\nbad')).toEqual([ok('bad', { status: 503 })]);
    // The same length twice is one length (RFC 9110 §8.6).
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc')).toEqual([ok('abc')]);
    // A body may hold any byte, head-like sequences included.
    const odd = '\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\0\xff';
    expect(parse(`HTTP/1.1 200 OK\r\nContent-Length: ${odd.length}\r\n\r\n${odd}`)).toEqual([ok(odd)]);
  });

  it('chunked, with chunk extensions, hex in either case, leading zeros and trailers', () => {
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')).toEqual([ok('hello')]);
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).toEqual([ok('')]);
    const ext = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
      + '3;name=value\r\nabc\r\n'
      + '0A;a="quoted;\\"x";b\r\n0123456789\r\n'
      + '0b ;ws\r\nhello world\r\n'
      + '1\t;tab\r\n!\r\n'
      + '000;last=1\r\nX-Trailer: yes\r\nAnother: one\r\n\r\n';
    expect(parse(ext)).toEqual([ok('abc0123456789hello world!')]);
  });

  it('close-delimited: the body ends when finish() is called, and the connection is not kept', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":1}', true)).toEqual([ok('{"a":1}', { keepAlive: false })]);
    expect(parse('HTTP/1.1 200 OK\r\n\r\n', true)).toEqual([ok('', { keepAlive: false })]);
    expect(parse('HTTP/1.0 200 OK\r\n\r\nold school', true)).toEqual([ok('old school', { keepAlive: false })]);
    // Nothing is delivered before the close.
    expect(feedWhole(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'), false).responses).toEqual([]);
    expect(feedWhole(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'), true)).toEqual({ responses: [ok('abc', { keepAlive: false })], finished: true });
  });

  it('204 and 304 have no body, with or without headers (even a Content-Length)', () => {
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n')).toEqual([ok('', { status: 204 })]);
    expect(parse('HTTP/1.1 204 No Content\r\nDate: x\r\nContent-Length: 0\r\n\r\n')).toEqual([ok('', { status: 204 })]);
    expect(parse('HTTP/1.1 304 Not Modified\r\n\r\n')).toEqual([ok('', { status: 304 })]);
    // A 304's Content-Length describes the representation, not this message.
    expect(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 123\r\nETag: "x"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz')).toEqual([
      ok('', { status: 304 }),
      ok('z'),
    ]);
  });

  it('skips 100 Continue and 103 Early Hints before the final answer', () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nContent-Length: 99\r\n\r\n';
    expect(parse(`${interim}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`)).toEqual([ok('ok')]);
    expect(parse(`${interim}HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n`)).toEqual([ok('ok')]);
  });

  it('HTTP/1.0 keeps the connection only with Connection: keep-alive', () => {
    expect(parse('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na')).toEqual([ok('a', { keepAlive: false })]);
    expect(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\na')).toEqual([ok('a')]);
    expect(parse('HTTP/1.0 200 OK\r\nCONNECTION: Keep-Alive\r\nKeep-Alive: timeout=7\r\nContent-Length: 1\r\n\r\na')).toEqual([
      ok('a', { keepAliveTimeoutMs: 7000 }),
    ]);
    // keep-alive without a length still ends at the close.
    expect(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nabc', true)).toEqual([ok('abc', { keepAlive: false })]);
  });

  it('Connection: close, alone, in any case or inside a list', () => {
    for (const value of ['close', 'Close', 'CLOSE', 'foo, close', 'close,foo', 'keep-alive, close', ' upgrade ,  Close ']) {
      expect(parse(`HTTP/1.1 200 OK\r\nConnection: ${value}\r\nContent-Length: 1\r\n\r\na`), value).toEqual([ok('a', { keepAlive: false })]);
    }
    for (const value of ['keep-alive', 'Keep-Alive', 'upgrade', 'closed', 'x-close', '']) {
      expect(parse(`HTTP/1.1 200 OK\r\nConnection: ${value}\r\nContent-Length: 1\r\n\r\na`), value).toEqual([ok('a')]);
    }
  });

  it('Keep-Alive: timeout=N, in seconds, anywhere in the list', () => {
    const cases: [string, number | undefined][] = [
      ['timeout=5', 5000],
      ['timeout=5, max=1000', 5000],
      ['max=1000, timeout=30', 30_000],
      ['max=1000,timeout=2', 2000],
      ['Timeout=1', 1000],
      ['TIMEOUT=0', 0],
      ['timeout=', undefined],
      ['timeout=abc', undefined],
      ['max=5', undefined],
      ['xtimeout=5', undefined],
      ['', undefined],
    ];
    for (const [value, ms] of cases) {
      expect(parse(`HTTP/1.1 200 OK\r\nKeep-Alive: ${value}\r\nContent-Length: 0\r\n\r\n`)[0]!.keepAliveTimeoutMs, value).toBe(ms);
    }
  });

  it('header names in any case, optional whitespace around values', () => {
    const heads = [
      'content-length: 3',
      'CONTENT-LENGTH: 3',
      'CoNtEnT-lEnGtH:3',
      'Content-Length:   3   ',
      'Content-Length:\t3\t',
      'Content-Length: \t 3 \t ',
    ];
    for (const h of heads) expect(parse(`HTTP/1.1 200 OK\r\n${h}\r\n\r\nabc`), h).toEqual([ok('abc')]);
    expect(parse('HTTP/1.1 200 OK\r\ntransfer-ENCODING:\t CHUNKED \r\n\r\n1\r\na\r\n0\r\n\r\n')).toEqual([ok('a')]);
    // Names that merely start like the framing headers are other headers.
    expect(parse('HTTP/1.1 200 OK\r\nContent-Lengths: 9\r\nTransfer-Encodings: gzip\r\nX-Content-Length: 7\r\nContent-Length: 1\r\n\r\na')).toEqual([ok('a')]);
    // Empty values and colons inside values are fine.
    expect(parse('HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Url: http://a:1/b\r\nContent-Length: 1\r\n\r\na')).toEqual([ok('a')]);
  });

  it('several pipelined responses in one buffer, every framing, in order', () => {
    const all =
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na'
      + 'HTTP/1.1 204 No Content\r\n\r\n'
      + 'HTTP/1.1 100 Continue\r\n\r\n'
      + 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbc\r\n0\r\nT: 1\r\n\r\n'
      + 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
      + 'HTTP/1.1 429 Too Many Requests\r\nKeep-Alive: timeout=3\r\nContent-Length: 2\r\n\r\nno'
      + 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe rest';
    expect(parse(all, true)).toEqual([
      ok('a'),
      ok('', { status: 204 }),
      ok('bc', { status: 201 }),
      ok(''),
      ok('no', { status: 429, keepAliveTimeoutMs: 3000 }),
      ok('the rest', { keepAlive: false }),
    ]);
  });

  it('idle is true only between responses', () => {
    const responses: Result[] = [];
    const parser = new ResponseParser(LIMITS, (r) => responses.push(toResult(r)));
    expect(parser.idle).toBe(true);
    const a = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHT');
    parser.execute(a, a.length);
    expect(responses).toHaveLength(1);
    expect(parser.idle).toBe(false);
    const b = Buffer.from('TP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    parser.execute(b, b.length);
    expect(responses).toHaveLength(2);
    expect(parser.idle).toBe(true);
    expect(parser.finish()).toBe(false);
  });

  it('a head of exactly maxHeadBytes is accepted, one more byte is not', () => {
    const limits = { maxHeadBytes: 200, maxBodyBytes: 100 };
    const base = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: \r\n\r\n';
    const head = base.replace('X: ', `X: ${'y'.repeat(200 - base.length)}`);
    expect(head.length).toBe(200);
    expect(parse(`${head}a`, false, limits)).toEqual([ok('a')]);
    expectRejected(`${head.replace('X: ', 'X: y')}a`, false, limits, /head/);
  });

  it('a body of exactly maxBodyBytes is accepted in every framing', () => {
    const limits = { maxHeadBytes: 1024, maxBodyBytes: 10 };
    const body = '0123456789';
    expect(parse(`HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n${body}`, false, limits)).toEqual([ok(body)]);
    expect(parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n`, false, limits)).toEqual([ok(body)]);
    expect(parse(`HTTP/1.1 200 OK\r\n\r\n${body}`, true, limits)).toEqual([ok(body, { keepAlive: false })]);
  });

  it('a body of many tiny chunks or reads, across block boundaries, comes out whole', () => {
    const body = Buffer.alloc(70_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) & 0xff;
    const sizes = [1, 1, 3, 20_000, 1, 16_384, 2, 16_383, 5];
    let wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    let at = 0;
    for (let k = 0; at < body.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, body.length - at);
      wire += `${n.toString(16)}\r\n${body.toString('latin1', at, at + n)}\r\n`;
      at += n;
    }
    wire += '0\r\n\r\n';
    const bytes = Buffer.from(wire, 'latin1');
    const expected = [ok(body.toString('latin1'))];
    expect(feedWhole(bytes, false).responses).toEqual(expected);
    expect(feedSplit(bytes, Array.from({ length: 500 }, (_, i) => i * 137 + (i % 7)), false).responses).toEqual(expected);
    // Close-delimited, read in uneven pieces.
    const untilClose = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), body]);
    expect(feedSplit(untilClose, Array.from({ length: 900 }, (_, i) => i * 71 + (i % 3) * 9000), true).responses).toEqual([ok(body.toString('latin1'), { keepAlive: false })]);
  });

  it('bodies do not alias the read buffer or each other', () => {
    const responses: ParsedResponse[] = [];
    const parser = new ResponseParser(LIMITS, (r) => responses.push(r));
    const shared = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ndef\r\n0\r\n\r\n');
    parser.execute(shared, shared.length);
    shared.fill(0x21);
    expect(responses.map((r) => r.body.toString())).toEqual(['abc', 'def']);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated responses: any framing, headers in any case and spacing, split anywhere.

const tchar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&\'*+.^_`|~'.split(''));
const vchar = fc.constantFrom(...'abc XYZ 019 :;,="\t/\\()<>?@[]{}\x80\xff'.split(''));
const token = (max: number) => fc.array(tchar, { minLength: 1, maxLength: max }).map((a) => a.join(''));
const fieldValue = fc.array(vchar, { maxLength: 24 }).map((a) => a.join('').trim());
const ows = fc.constantFrom('', ' ', '\t', '  ', ' \t ');
const nameCase = fc.constantFrom<(s: string) => string>(
  (s) => s,
  (s) => s.toLowerCase(),
  (s) => s.toUpperCase(),
  (s) => s.split('').map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c.toLowerCase())).join(''),
);
const header = (name: string, value: string, after = ows) => fc.tuple(nameCase, ows, after).map(([nc, a, b]) => `${nc(name)}:${a}${value}${b}\r\n`);
const otherHeader = fc
  .tuple(fc.oneof(token(12), fc.constantFrom('Date', 'Server', 'Content-Type', 'Vary', 'Content-Lengths', 'X-Connection', 'Keep-Alive-X')), fieldValue)
  .chain(([n, v]) => header(n, v));

interface Generated {
  bytes: string; // latin1
  expected: Result;
  closeDelimited: boolean;
  /** Where each interim (1xx) answer in front ends: cutting there leaves nothing in progress. */
  interimEnds: number[];
}

const response: fc.Arbitrary<Generated> = fc
  .record({
    interim: fc.array(fc.constantFrom('HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n', 'HTTP/1.1 102\r\n\r\n'), { maxLength: 2 }),
    http10: fc.boolean(),
    status: fc.oneof(fc.constantFrom(200, 201, 204, 304, 400, 404, 429, 500, 502, 503), fc.integer({ min: 200, max: 999 })),
    reason: fc.constantFrom('', ' ', ' OK', ' Some Reason: x'),
    framing: fc.constantFrom('length', 'chunked', 'close'),
    body: fc.uint8Array({ maxLength: 300 }),
    cuts: fc.array(fc.nat({ max: 300 }), { maxLength: 4 }),
    extensions: fc.array(fc.constantFrom('', ';a=b', ';x', ' ;y="1;2"', '\t;z'), { minLength: 6, maxLength: 6 }),
    sizeForm: fc.constantFrom<(n: number) => string>((n) => n.toString(16), (n) => n.toString(16).toUpperCase(), (n) => `00${n.toString(16)}`),
    trailers: fc.array(otherHeader, { maxLength: 2 }),
    connection: fc.option(fc.constantFrom('close', 'keep-alive', 'Keep-Alive', 'CLOSE', 'keep-alive, Upgrade', 'upgrade, close', 'te'), { nil: undefined }),
    keepAlive: fc.option(fc.tuple(fc.integer({ min: 0, max: 600 }), fc.constantFrom('', ', max=100')), { nil: undefined }),
    extra: fc.array(otherHeader, { maxLength: 3 }),
    headerOrder: fc.nat(),
  })
  .chain((s) => {
    const noBody = s.status === 204 || s.status === 304;
    const framingHeader = s.framing === 'length' ? header('Content-Length', String(s.body.length)) : s.framing === 'chunked' ? header('Transfer-Encoding', 'chunked', fc.constantFrom('', ' ', '  ')) : fc.constant('');
    const connectionHeader = s.connection === undefined ? fc.constant('') : header('Connection', s.connection);
    const keepAliveHeader = s.keepAlive === undefined ? fc.constant('') : header('Keep-Alive', `timeout=${s.keepAlive[0]}${s.keepAlive[1]}`);
    return fc.tuple(framingHeader, connectionHeader, keepAliveHeader).map(([f, c, k]): Generated => {
      const headers = [...s.extra, f, c, k].filter((h) => h !== '');
      const rot = headers.length === 0 ? 0 : s.headerOrder % headers.length;
      const ordered = [...headers.slice(rot), ...headers.slice(0, rot)];
      const body = Buffer.from(s.body).toString('latin1');
      let payload = '';
      if (!noBody) {
        if (s.framing === 'chunked') {
          const points = [...new Set(s.cuts.filter((c) => c > 0 && c < body.length))].sort((a, b) => a - b);
          let from = 0;
          let n = 0;
          for (const to of [...points, body.length]) {
            if (to === from) continue;
            payload += `${s.sizeForm(to - from)}${s.extensions[n++ % 6]}\r\n${body.slice(from, to)}\r\n`;
            from = to;
          }
          payload += `0${s.extensions[5]}\r\n${s.trailers.join('')}\r\n`;
        } else payload = body;
      }
      const token = (t: string) => (s.connection ?? '').toLowerCase().split(',').map((x) => x.trim()).includes(t);
      const closeDelimited = !noBody && s.framing === 'close';
      let interimEnd = 0;
      const interimEnds = s.interim.map((i) => (interimEnd += i.length));
      return {
        interimEnds,
        bytes: `${s.interim.join('')}HTTP/1.${s.http10 ? 0 : 1} ${s.status}${s.reason}\r\n${ordered.join('')}\r\n${payload}`,
        closeDelimited,
        expected: {
          status: s.status,
          body: noBody ? '' : body,
          keepAlive: !(token('close') || (s.http10 && !token('keep-alive')) || closeDelimited),
          keepAliveTimeoutMs: s.keepAlive === undefined ? undefined : s.keepAlive[0] * 1000,
        },
      };
    });
  });

/** Responses a connection may carry one after another: only the last may end at the close. */
const conversation = fc
  .tuple(fc.array(response.filter((r) => !r.closeDelimited), { maxLength: 5 }), fc.option(response, { nil: undefined }))
  .map(([rs, last]) => (last === undefined ? rs : [...rs, last]))
  .filter((rs) => rs.length > 0);

describe('ResponseParser: generated responses', () => {
  it('splitting anywhere, through a reused buffer, gives exactly the responses sent', () => {
    fc.assert(
      fc.property(conversation, fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (rs, cuts, bytewise) => {
        const bytes = Buffer.from(rs.map((r) => r.bytes).join(''), 'latin1');
        const expected = { responses: rs.map((r) => r.expected), finished: rs.at(-1)!.closeDelimited };
        const whole = feedWhole(bytes, true);
        expect(whole).toEqual(expected);
        const at = bytewise ? everyByte(bytes) : cuts.map((c) => c % (bytes.length + 1));
        const holder: { parser?: ResponseParser } = {};
        expect(feedSplit(bytes, at, true, LIMITS, holder)).toEqual(expected);
        expect(holder.parser!.idle).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('a response cut short anywhere is never delivered complete', () => {
    fc.assert(
      fc.property(response.filter((r) => !r.closeDelimited), fc.nat(), (r, n) => {
        const bytes = Buffer.from(r.bytes, 'latin1');
        const cut = n % bytes.length; // strictly shorter
        let error: unknown;
        let fed: Fed | undefined;
        try {
          fed = feedSplit(bytes.subarray(0, cut), everyByte(bytes).slice(0, cut), true);
        } catch (err) {
          error = err;
        }
        // Either nothing arrived yet (cut in front of the head), or finish() calls it truncated.
        if (error === undefined) {
          expect(fed!.responses).toEqual([]);
          expect(fed!.finished).toBe(false);
          expect([0, ...r.interimEnds]).toContain(cut);
        } else expect(error).toBeInstanceOf(ResponseParseError);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('ResponseParser: rejections', () => {
  const cl = (head: string) => `${head}\r\n\r\n`;
  const cases: [string, string, boolean?][] = [
    ['HTTP/2', cl('HTTP/2 200 OK\r\nContent-Length: 0')],
    ['HTTP/1.2', cl('HTTP/1.2 200 OK\r\nContent-Length: 0')],
    ['HTTP/2.0', cl('HTTP/2.0 200 OK\r\nContent-Length: 0')],
    ['lower-case http', cl('http/1.1 200 OK\r\nContent-Length: 0')],
    ['ICY', cl('ICY 200 OK\r\nContent-Length: 0')],
    ['no version', cl('200 OK\r\nContent-Length: 0')],
    ['a request line', cl('POST / HTTP/1.1\r\nContent-Length: 0')],
    ['leading CRLF', `\r\n${cl('HTTP/1.1 200 OK\r\nContent-Length: 0')}`],
    ['two-digit status', cl('HTTP/1.1 20 OK\r\nContent-Length: 0')],
    ['four-digit status', cl('HTTP/1.1 2000 OK\r\nContent-Length: 0')],
    ['status under 100', cl('HTTP/1.1 099 OK\r\nContent-Length: 0')],
    ['letters for status', cl('HTTP/1.1 abc OK\r\nContent-Length: 0')],
    ['two spaces before status', cl('HTTP/1.1  200 OK\r\nContent-Length: 0')],
    ['status then tab', cl('HTTP/1.1 200\tOK\r\nContent-Length: 0')],
    ['bare LF ends the status line', cl('HTTP/1.1 200 OK\nContent-Length: 0')],
    ['bare LF ends a header', cl('HTTP/1.1 200 OK\r\nX: y\nContent-Length: 0')],
    ['bare CR inside a header', cl('HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0')],
    ['bare CR inside the status line', cl('HTTP/1.1 200 O\rK\r\nContent-Length: 0')],
    ['obs-fold (space)', cl('HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0')],
    ['obs-fold (tab)', cl('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\tb')],
    ['space before colon', cl('HTTP/1.1 200 OK\r\nContent-Length : 0')],
    ['tab before colon', cl('HTTP/1.1 200 OK\r\nContent-Length\t: 0')],
    ['header without colon', cl('HTTP/1.1 200 OK\r\nContent-Length 0')],
    ['empty header name', cl('HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0')],
    ['CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n'],
    ['TE and CL', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n1\r\na\r\n0\r\n\r\n'],
    ['two differing CLs', cl('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2') + 'ab'],
    ['a CL list', cl('HTTP/1.1 200 OK\r\nContent-Length: 1, 1') + 'a'],
    ['non-numeric CL', cl('HTTP/1.1 200 OK\r\nContent-Length: abc')],
    ['hex CL', cl('HTTP/1.1 200 OK\r\nContent-Length: 0x1') + 'a'],
    ['negative CL', cl('HTTP/1.1 200 OK\r\nContent-Length: -1')],
    ['signed CL', cl('HTTP/1.1 200 OK\r\nContent-Length: +1') + 'a'],
    ['empty CL', cl('HTTP/1.1 200 OK\r\nContent-Length: ')],
    ['CL with inner space', cl('HTTP/1.1 200 OK\r\nContent-Length: 1 2')],
    ['huge CL', cl('HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999')],
    ['CL past 2^53', cl('HTTP/1.1 200 OK\r\nContent-Length: 9007199254740993')],
    ['TE gzip', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip')],
    ['TE identity', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: identity')],
    ['TE gzip, chunked', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked') + '0\r\n\r\n'],
    ['TE chunked, chunked', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked') + '0\r\n\r\n'],
    ['TE twice', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked') + '0\r\n\r\n'],
    ['TE chunkedx', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedx') + '0\r\n\r\n'],
    // llhttp (Node's parser) reads both as another coding, and the body as delimited by the close.
    ['TE chunked then a tab', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t') + '0\r\n\r\n'],
    ['TE chunked then space and tab', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \t ') + '0\r\n\r\n'],
    ['chunk size not hex', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + 'g\r\nx\r\n0\r\n\r\n'],
    ['chunk size empty', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '\r\nx\r\n0\r\n\r\n'],
    ['chunk size negative', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '-1\r\nx\r\n0\r\n\r\n'],
    ['chunk size 0x', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0x1\r\nx\r\n0\r\n\r\n'],
    ['chunk size then junk', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1x\r\nx\r\n0\r\n\r\n'],
    ['chunk size, whitespace, then junk', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1 x\r\nx\r\n0\r\n\r\n'],
    ['chunk size bare LF', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1\nx\r\n0\r\n\r\n'],
    ['chunk size too large', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + 'fffffffffffffffffff\r\nx\r\n0\r\n\r\n'],
    ['chunk data longer than its size', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1\r\nxy\r\n0\r\n\r\n'],
    ['chunk data without CRLF', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1\r\nx0\r\n\r\n'],
    ['chunk data then LF only', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1\r\nx\n0\r\n\r\n'],
    ['chunk data then CR only', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1\r\nx\r0\r\n\r\n'],
    ['trailer with bare LF', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\nT: 1\n\r\n'],
    ['trailer without a colon', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\n=b\r\n\r\n'],
    ['trailer with an empty name', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\n: b\r\n\r\n'],
    ['trailer obs-fold', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\nT: 1\r\n 2\r\n\r\n'],
    ['trailer with bare CR', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\nT: 1\rU: 2\r\n\r\n'],
    ['trailer line of a bare CR', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\nT: 1\r\r\n\r\n'],
    ['chunk extension with bare CR', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '1;a\rb\r\nx\r\n0\r\n\r\n'],
    ['last line bare LF', cl('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked') + '0\r\n\n'],
    // llhttp reads a body after these (it knows only 100-103 as bodiless): here, the 200 is the 150's body to it.
    ['1xx past 103 with Content-Length', 'HTTP/1.1 150 X\r\nContent-Length: 38\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['1xx past 103 with Transfer-Encoding', 'HTTP/1.1 199 X\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['101 Switching Protocols', cl('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade')],
  ];
  for (const [name, text] of cases) {
    it(name, () => expectRejected(text));
  }

  it('a head over maxHeadBytes, complete or still arriving', () => {
    const limits = { maxHeadBytes: 100, maxBodyBytes: 1000 };
    expectRejected(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(100)}\r\nContent-Length: 0\r\n\r\n`, false, limits, /head/);
    // No blank line ever comes: refused once the limit is passed, not buffered forever.
    expectRejected(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(200)}`, false, limits, /head/);
    // Endless 1xx-free header lines from the default limit too.
    expectRejected(`HTTP/1.1 200 OK\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(400)}\r\n`, false, LIMITS, /head/);
  });

  it('a body over maxBodyBytes: declared, chunked or streamed until the close', () => {
    const limits = { maxHeadBytes: 1000, maxBodyBytes: 10 };
    // Declared: refused at the head, before any body byte arrives.
    expectRejected('HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n', false, limits, /exceeds/);
    expectRejected('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n', false, limits, /exceeds/);
    expectRejected('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n1\r\n', false, limits, /exceeds/);
    expectRejected('HTTP/1.1 200 OK\r\n\r\n01234567890', false, limits, /exceeds/);
    expectRejected('HTTP/1.0 200 OK\r\n\r\n01234567890', false, limits, /exceeds/);
  });

  it('a response truncated by the close, in every state, then finish()', () => {
    const truncated = [
      'H',
      'HTTP/1.1 200 OK\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n',
    ];
    for (const text of truncated) expectRejected(text, true);
    // After only a 1xx nothing of the final answer has arrived: not a response, not an error.
    expect(feedWhole(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), true)).toEqual({ responses: [], finished: false });
  });

  it('after an error the parser refuses everything', () => {
    const parser = new ResponseParser(LIMITS, () => {});
    const bad = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n');
    expect(() => parser.execute(bad, bad.length)).toThrow(ResponseParseError);
    const good = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect(() => parser.execute(good, good.length)).toThrow(ResponseParseError);
    expect(() => parser.finish()).toThrow(ResponseParseError);
  });

  it('bytes that cannot start a status line are refused at once, without waiting for a blank line', () => {
    // An operator URL pointing at a non-HTTP service (a banner, a TLS alert): fail fast, not at the timeout.
    for (const text of ['SSH-2.0-OpenSSH_9.6\r\n', '\x15\x03\x03\x00\x02\x02\x46', 'hello', '-ERR unknown command\r\n', '\r\n']) {
      const parser = new ResponseParser(LIMITS, () => {});
      const bytes = Buffer.from(text, 'latin1');
      expect(() => parser.execute(bytes, bytes.length), JSON.stringify(text)).toThrow(ResponseParseError);
    }
    // A valid prefix still waits for more.
    const parser = new ResponseParser(LIMITS, () => {});
    for (const c of Buffer.from('HTTP/1.1 200 OK\r\n')) parser.execute(Buffer.from([c]), 1);
    expect(parser.idle).toBe(false);
  });

  it('a chunk-size or trailer line over the limit is refused whether or not it arrives in one read', () => {
    expectRejected(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(2000)}\r\na\r\n0\r\n\r\n`, false, LIMITS, /chunk size line/);
    // 1024 bytes before the CRLF is the most a chunk-size line may have.
    expect(parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(1021)}\r\na\r\n0\r\n\r\n`)).toEqual([ok('a')]);
    expectRejected(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(1022)}\r\na\r\n0\r\n\r\n`, false, LIMITS, /chunk size line/);
    const limits = { maxHeadBytes: 100, maxBodyBytes: 100 };
    expectRejected(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: ${'t'.repeat(200)}\r\n\r\n`, false, limits, /trailers/);
  });
});

// ---------------------------------------------------------------------------------------------
// The head is read four bytes at a time: every position of a byte within a word, and every
// offset of the head in the read buffer, must give what a byte loop gives.

describe('ResponseParser: head bytes read a word at a time', () => {
  /** A response of `k` body bytes in front, so that the next head starts at each offset modulo 4. */
  const lead = (k: number) => `HTTP/1.1 200 OK\r\nContent-Length: ${k}\r\n\r\n${'x'.repeat(k)}`;
  const after = (k: number, head: string) => `${lead(k)}${head}`;

  it('finds the CR ending a line, and refuses a bare LF or CR, at every position modulo 4', () => {
    for (let k = 0; k < 4; k++) {
      for (let n = 0; n < 9; n++) {
        const v = 'v'.repeat(n);
        const where = `offset ${k}, ${n} bytes`;
        // In a value, short or long enough to be skipped a few words at a time.
        for (const value of [v, `${'w'.repeat(40)}${v}`]) {
          expect(parse(after(k, `HTTP/1.1 200 OK\r\nX: ${value}\r\nContent-Length: 3\r\n\r\nabc`)), where).toEqual([ok('x'.repeat(k)), ok('abc')]);
          expectRejected(after(k, `HTTP/1.1 200 OK\r\nX: ${value}\nvvvv\r\nContent-Length: 0\r\n\r\n`), false, LIMITS, /line not ended by CRLF/);
          for (const next of ['v', '\x0b', '\x0c', '\x0e', '\r']) {
            expectRejected(after(k, `HTTP/1.1 200 OK\r\nX: ${value}\r${next}vvvv\r\nContent-Length: 0\r\n\r\n`), false, LIMITS, /line not ended by CRLF/);
          }
        }
        // In a name, with or without a colon to come.
        expectRejected(after(k, `HTTP/1.1 200 OK\r\nN${v}\nX: y\r\nContent-Length: 0\r\n\r\n`), false, LIMITS, /line not ended by CRLF/);
        expectRejected(after(k, `HTTP/1.1 200 OK\r\nN${v}\r\nContent-Length: 0\r\n\r\n`), false, LIMITS, /malformed header line/);
        // In the reason phrase.
        expect(parse(after(k, `HTTP/1.1 200 O${v}\r\nContent-Length: 1\r\n\r\na`)), where).toEqual([ok('x'.repeat(k)), ok('a')]);
        expectRejected(after(k, `HTTP/1.1 200 O${v}\nContent-Length: 0\r\n\r\n`), false, LIMITS, /line not ended by CRLF/);
      }
    }
  });

  it('refuses a bare LF, or a CR and another byte, on the read that brings it, wherever it falls in a word', () => {
    for (let k = 0; k < 4; k++) {
      for (let n = 0; n < 9; n++) {
        const v = 'v'.repeat(n);
        const cuts = [`HTTP/1.1 200 OK\r\nX: ${v}\n`, `HTTP/1.1 200 OK\r\nX: ${v}\rv`, `HTTP/1.1 200 OK\r\nN${v}\n`, `HTTP/1.1 200 O${v}\n`, `HTTP/1.1 200 O${v}\rv`];
        // Nothing follows: no finish(), so only this read can throw.
        for (const cut of cuts) expectRejected(after(k, cut), false, LIMITS, /line not ended by CRLF/);
      }
    }
  });

  it('ends a value exactly at its CR: Content-Length and Keep-Alive with any whitespace around', () => {
    for (let k = 0; k < 4; k++) {
      for (let n = 0; n < 9; n++) {
        const head = `HTTP/1.1 200 OK\r\nContent-Length:${' '.repeat(n)}10${' '.repeat(n)}\r\nKeep-Alive:${'\t'.repeat(n)}timeout=1234${'\t'.repeat(n)}\r\n\r\n`;
        expect(parse(after(k, `${head}0123456789`)), `offset ${k}, ${n} bytes`).toEqual([ok('x'.repeat(k)), ok('0123456789', { keepAliveTimeoutMs: 1_234_000 })]);
      }
    }
  });

  it('takes bytes near CR, LF and colon, or with the top bit set, for what they are', () => {
    // Each is one bit or a borrow away from CR (0x0d), LF (0x0a) or a colon (0x3a).
    const near = '\x00\x01\x09\x0b\x0c\x0e\x1d\x2a\x2d\x39\x3b\x7f\x80\x8a\x8d\x9a\xba\xcd\xfe\xff';
    for (let r = 0; r < near.length; r++) {
      const bytes = near.slice(r) + near.slice(0, r);
      for (let k = 0; k < 4; k++) {
        expect(parse(after(k, `HTTP/1.1 200 ${bytes}\r\nN${bytes}N: ${bytes}\r\nX:${bytes}\r\nContent-Length: 1\r\n\r\na`))).toEqual([ok('x'.repeat(k)), ok('a')]);
      }
    }
  });

  it('a head ending exactly at the end of the read, at every length modulo 4', () => {
    for (let n = 0; n < 8; n++) {
      const head = `HTTP/1.1 204 No Content\r\nX: ${'v'.repeat(n)}\r\n\r\n`;
      // Whole: the buffer ends with the head. Split: the reused buffer holds stale line ends past it.
      expect(parse(head)).toEqual([ok('', { status: 204 })]);
      const bytes = Buffer.from(`${head}HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na`);
      expect(feedSplit(bytes, [head.length], false).responses).toEqual([ok('', { status: 204 }), ok('a')]);
    }
  });

  /** The responses or the error's message, whole and one byte at a time (which must agree). */
  function outcome(text: string): Result[] | string {
    const bytes = Buffer.from(text, 'latin1');
    const run = (feed: () => Fed): Result[] | string => {
      try {
        return feed().responses;
      } catch (err) {
        if (err instanceof ResponseParseError) return err.message;
        throw err;
      }
    };
    const whole = run(() => feedWhole(bytes, false));
    expect(run(() => feedSplit(bytes, everyByte(bytes), false))).toEqual(whole);
    return whole;
  }

  it('matches the names and tokens it reads in every byte, in either case; one byte off is another', () => {
    const cases: [(word: string) => string, string, Result[] | string, Result[] | string][] = [
      [(n) => `HTTP/1.1 200 OK\r\n${n}: 2\r\nContent-Length: 1\r\n\r\na`, 'content-length', 'conflicting Content-Length values', [ok('a')]],
      [(n) => `HTTP/1.1 200 OK\r\n${n}: gzip\r\nContent-Length: 1\r\n\r\na`, 'transfer-encoding', 'unsupported Transfer-Encoding', [ok('a')]],
      [(n) => `HTTP/1.1 200 OK\r\n${n}: close\r\nContent-Length: 1\r\n\r\na`, 'connection', [ok('a', { keepAlive: false })], [ok('a')]],
      [(n) => `HTTP/1.1 200 OK\r\n${n}: timeout=9\r\nContent-Length: 1\r\n\r\na`, 'keep-alive', [ok('a', { keepAliveTimeoutMs: 9000 })], [ok('a')]],
      [(t) => `HTTP/1.1 200 OK\r\nTransfer-Encoding: ${t}\r\n\r\n1\r\na\r\n0\r\n\r\n`, 'chunked', [ok('a')], 'unsupported Transfer-Encoding'],
      [(t) => `HTTP/1.0 200 OK\r\nConnection: ${t}\r\nContent-Length: 1\r\n\r\na`, 'keep-alive', [ok('a')], [ok('a', { keepAlive: false })]],
      [(t) => `HTTP/1.1 200 OK\r\nConnection: ${t}\r\nContent-Length: 1\r\n\r\na`, 'close', [ok('a', { keepAlive: false })], [ok('a')]],
      [(t) => `HTTP/1.1 200 OK\r\nKeep-Alive: ${t}5\r\nContent-Length: 1\r\n\r\na`, 'timeout=', [ok('a', { keepAliveTimeoutMs: 5000 })], [ok('a')]],
    ];
    for (const [text, word, matched, other] of cases) {
      expect(outcome(text(word)), word).toEqual(matched);
      for (let j = 0; j < word.length; j++) {
        const upper = `${word.slice(0, j)}${word[j]!.toUpperCase()}${word.slice(j + 1)}`;
        const off = `${word.slice(0, j)}x${word.slice(j + 1)}`;
        expect(outcome(text(upper)), upper).toEqual(matched);
        expect(outcome(text(off)), off).toEqual(other);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Differential: what Node's http server writes, read back by the parser.

type Mode = 'end' | 'write-end' | 'close-delimited' | 'http10';

describe('ResponseParser against Node http server output', () => {
  let server: Server;
  let port = 0;
  /** Body to answer with, keyed by the request path. */
  const planned = new Map<string, { mode: Mode; parts: Buffer[] }>();

  beforeAll(async () => {
    server = createServer((req, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        const plan = planned.get(req.url!)!;
        res.setHeader('Content-Type', 'application/json');
        if (plan.mode === 'end') res.end(Buffer.concat(plan.parts));
        else if (plan.mode === 'write-end' || plan.mode === 'http10') {
          for (const p of plan.parts.slice(0, -1)) res.write(p);
          res.end(plan.parts.at(-1));
        } else {
          res.setHeader('Connection', 'close');
          res.removeHeader('Transfer-Encoding');
          res.removeHeader('Content-Length');
          for (const p of plan.parts.slice(0, -1)) res.write(p);
          res.end(plan.parts.at(-1));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Sends the requests pipelined on one raw connection (the last asks to close) and returns every byte the server wrote. */
  function rawExchange(requests: { path: string; http10: boolean }[]): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const got: Buffer[] = [];
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          requests
            .map((r, i) => {
              const last = i === requests.length - 1;
              return `POST ${r.path} HTTP/1.${r.http10 ? 0 : 1}\r\nHost: x\r\nContent-Length: 2\r\n${last ? 'Connection: close\r\n' : r.http10 ? 'Connection: keep-alive\r\n' : ''}\r\n{}`;
            })
            .join(''),
        );
      });
      socket.on('data', (d) => got.push(d));
      socket.on('end', () => resolve(Buffer.concat(got)));
      socket.on('error', reject);
    });
  }

  let seq = 0;
  const part = fc.uint8Array({ maxLength: 40_000 }).map((a) => Buffer.from(a));
  const plan = fc.record({
    mode: fc.constantFrom<Mode>('end', 'write-end', 'close-delimited', 'http10'),
    parts: fc.array(fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) }, { weight: 1, arbitrary: part }), { minLength: 1, maxLength: 4 }),
  });

  it('parses the bodies Node sent, whole and split through a reused buffer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(plan, { minLength: 1, maxLength: 4 }).map((ps) => {
          // A close-delimited answer ends the connection: only the last may be one. Node answers
          // an HTTP/1.0 request without a length, so that is one too.
          const i = ps.findIndex((p) => p.mode === 'close-delimited' || p.mode === 'http10');
          return i === -1 ? ps : ps.slice(0, i + 1);
        }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (plans, cuts) => {
          const requests = plans.map((p) => {
            const path = `/r${seq++}`;
            planned.set(path, p);
            return { path, http10: p.mode === 'http10' };
          });
          const bytes = await rawExchange(requests);
          const text = bytes.toString('latin1');
          // The server did frame each answer the way this case means to test.
          const heads = text.match(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/g) ?? [];
          const firstHead = heads[0] ?? '';
          const mode = plans[0]!.mode;
          if (mode === 'end') expect(firstHead).toMatch(/Content-Length/i);
          if (mode === 'write-end' && plans[0]!.parts.length > 1) expect(firstHead).toMatch(/Transfer-Encoding: chunked/i);
          if (mode === 'close-delimited') expect(firstHead).not.toMatch(/Content-Length|Transfer-Encoding/i);
          const expected = plans.map((p) => Buffer.concat(p.parts).toString('latin1'));
          const whole = feedWhole(bytes, true);
          expect(whole.responses.map((r) => r.body)).toEqual(expected);
          expect(whole.responses.map((r) => r.status)).toEqual(plans.map(() => 200));
          // Every answer but the last (which carries Connection: close) keeps the connection.
          expect(whole.responses.map((r) => r.keepAlive)).toEqual(plans.map((_, i) => i < plans.length - 1));
          const split = feedSplit(bytes, cuts.map((c) => c % (bytes.length + 1)), true);
          expect(split).toEqual(whole);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('parses a large chunked answer read one socket read at a time through a 64 KiB buffer', async () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    planned.set('/big', { mode: 'write-end', parts: [body.subarray(0, 100_000), body.subarray(100_000, 250_000), body.subarray(250_000)] });
    const responses: ParsedResponse[] = [];
    const parser = new ResponseParser(LIMITS, (r) => responses.push(r));
    const shared = Buffer.allocUnsafe(64 * 1024);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({
        port,
        host: '127.0.0.1',
        onread: {
          buffer: shared,
          callback: (n: number, buf: Uint8Array) => {
            parser.execute(buf as Buffer, n);
            return true;
          },
        },
      });
      socket.on('connect', () => socket.write('POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    expect(parser.finish()).toBe(false);
    expect(responses).toHaveLength(1);
    expect(responses[0]!.body.equals(body)).toBe(true);
  });
});
