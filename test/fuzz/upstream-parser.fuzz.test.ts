/**
 * Fuzzing the upstream client's HTTP/1.1 response parser (src/router/http1-response-parser.ts)
 * differentially against llhttp, Node's own parser in strict mode (test/fuzz/llhttp.ts).
 * Streams of one to four generated responses (status lines, Content-Length in many spellings,
 * chunked with extensions and trailers, close-delimited, keep-alive and close, 1xx, 204 and
 * 304) are fed as they are and after byte mutations, whole, at every split position through a
 * reused read buffer, and at random splits.
 *
 * The rule: every response the gateway's parser delivers is the response llhttp delivers at the
 * same place in the stream (status, body bytes, the offset where it ends, keep-alive), and when
 * it accepts the whole stream, so does llhttp, with the same responses. Refusing what llhttp
 * accepts is allowed (stricter); accepting with a different framing never is.
 *
 * Deliberate differences, which the comparison takes into account:
 * - 1xx interim responses (100, 103, ...) are skipped by the gateway's parser and reported by
 *   llhttp as messages of their own (node:http's client skips them too): llhttp's are dropped.
 * - 101 Switching Protocols, or any upgrade, is refused by the gateway's parser; llhttp stops
 *   parsing there. Only what comes before it is compared.
 * - After a response that ends the connection (Connection: close, HTTP/1.0 without
 *   keep-alive), llhttp refuses any further byte (HPE_CLOSED_CONNECTION); the gateway's parser
 *   reports keepAlive: false and the connection (upstream.ts onResponse) is destroyed at once,
 *   dropping the rest. The harness stops there as the connection does.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type ParsedResponse, ResponseParseError, ResponseParser, type ResponseParserLimits } from '../../src/router/http1-response-parser.js';
import { TIMEOUT_MS, count, params, report } from './fuzz-options.js';
import { LENIENT_SPACES_AFTER_CHUNK_SIZE, type LlhttpMessage, llhttpParse } from './llhttp.js';
import { HTTP_SEQUENCES, mutate, mutationsArb } from './mutate.js';

afterAll(report);

const LIMITS: ResponseParserLimits = { maxHeadBytes: 16 * 1024, maxBodyBytes: 1024 * 1024 };

interface Delivered {
  status: number;
  body: string; // latin1
  keepAlive: boolean;
  end: number;
}

interface OursResult {
  responses: Delivered[];
  /** The offset of the byte on which the parser threw (the length when finish() threw), else -1. */
  errorAt: number;
}

const POISON = Buffer.from('\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX\n');

/**
 * Feeds `bytes` cut at `cuts` through one reused buffer (stale bytes poisoned around each
 * read, as the socket's read buffer holds the previous read), then finish(). Ends are exact
 * when every byte is a cut.
 */
function feedOurs(bytes: Buffer, cuts: readonly number[]): OursResult {
  const responses: Delivered[] = [];
  let at = 0;
  const parser = new ResponseParser(LIMITS, (r: ParsedResponse) => {
    responses.push({ status: r.status, body: r.body.toString('latin1'), keepAlive: r.keepAlive, end: at });
  });
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const shared = Buffer.alloc(bytes.length + 80);
  let from = 0;
  try {
    for (const to of [...points, bytes.length]) {
      if (to === from) continue;
      const n = to - from;
      for (let i = 0; i < shared.length; i++) shared[i] = POISON[i % POISON.length]!;
      bytes.copy(shared, 0, from, to);
      at = to;
      parser.execute(shared, n);
      from = to;
    }
    at = bytes.length;
    parser.finish();
  } catch (err) {
    if (!(err instanceof ResponseParseError)) throw err;
    return { responses, errorAt: at - 1 };
  }
  return { responses, errorAt: -1 };
}

const everyByte = (bytes: Buffer) => Array.from({ length: bytes.length }, (_, i) => i);

/** What the connection takes from the parser: everything up to and including the first response that ends the connection. */
function asUsed(result: OursResult): { responses: Delivered[]; refused: boolean } {
  const close = result.responses.findIndex((r) => !r.keepAlive);
  if (close < 0) return { responses: result.responses, refused: result.errorAt >= 0 };
  const responses = result.responses.slice(0, close + 1);
  return { responses, refused: result.errorAt >= 0 && result.errorAt < responses[close]!.end };
}

/**
 * llhttp's final responses before any upgrade, and whether it accepted the whole stream, once
 * the deliberate differences are taken out of its way (see the file's comment): BWS before a
 * chunk extension through llhttp's own lenient flag; the constructs the gateway's parser
 * ignores by design patched in place, byte for byte so that every offset stays, and the stream
 * parsed again.
 */
function llhttpReference(bytes: Buffer): { messages: LlhttpMessage[]; accepted: boolean } {
  let stream = bytes;
  let result = llhttpParse(stream, true, LENIENT_SPACES_AFTER_CHUNK_SIZE);
  for (let round = 0; round < 64 && result.errorAt >= 0; round++) {
    const last = result.messages.length - 1;
    const lastMessage = result.messages[last];
    const interim = lastMessage !== undefined && lastMessage.status >= 100 && lastMessage.status <= 199
      ? { start: last === 0 ? 0 : result.messages[last - 1]!.end, end: lastMessage.end }
      : undefined;
    const patched = patchIgnored(stream, result.error!, result.errorAt, interim);
    if (patched === undefined) break;
    count('llhttp patches');
    stream = patched;
    result = llhttpParse(stream, true, LENIENT_SPACES_AFTER_CHUNK_SIZE);
  }
  const upgrade = result.messages.findIndex((m) => m.upgrade || m.status === 101);
  const before = upgrade < 0 ? result.messages : result.messages.slice(0, upgrade);
  return { messages: before.filter((m) => m.status < 100 || m.status > 199), accepted: result.errorAt < 0 && upgrade < 0 };
}

/**
 * The stream with what llhttp refused at `at` neutralised, when it is something the gateway's
 * parser ignores on purpose; undefined otherwise.
 * - A byte llhttp refuses in a header name, in the value of a header that does not frame the
 *   body, or in a chunk extension (the parser reads only Content-Length and Transfer-Encoding
 *   for framing, matches Connection and Keep-Alive tokens exactly, and skips extensions): the
 *   byte becomes 'x', which leaves the parser's reading unchanged.
 * - Connection: close or HTTP/1.0 on an interim (1xx) answer: the parser skips interim answers
 *   whole and takes the connection's fate from the final one; llhttp closes the connection
 *   there. The interim head is rewritten to keep the connection.
 * - A Content-Length repeated with the same value (RFC 9110 section 8.6 allows a recipient to
 *   take it as one), or one in the trailers (trailer fields never frame the message, RFC 9110
 *   section 6.5.1): that field is renamed, so llhttp ignores it as the parser does. A tab
 *   after a Content-Length value (whitespace, RFC 9110 section 5.5) becomes a space. A repeated
 *   Content-Length with another value is refused by the parser, so a rename that changes the
 *   framing shows up as a mismatch.
 */
/** The fields whose values frame the body: a byte llhttp refuses there is never patched. */
const FRAMING = ['content-length', 'transfer-encoding'];

function patchIgnored(bytes: Buffer, error: string, at: number, interim: { start: number; end: number } | undefined): Buffer | undefined {
  const copy = Buffer.from(bytes);
  if (error === 'HPE_CLOSED_CONNECTION' && interim !== undefined) {
    // The connection "closed" by an interim answer's head: its Connection: close and HTTP/1.0 are ignored.
    const head = bytes.subarray(interim.start, interim.end).toString('latin1');
    const patched = head.replace(/^HTTP\/1\.0/, 'HTTP/1.1').replace(/close/gi, 'xxxxx');
    if (patched === head) return undefined;
    copy.write(patched, interim.start, 'latin1');
    return copy;
  }
  if (at >= bytes.length) return undefined;
  const lineStart = bytes.lastIndexOf('\n', at - 1) + 1;
  const line = bytes.subarray(lineStart, at).toString('latin1');
  const extension = /^[0-9a-fA-F]+[ \t]*;/.exec(line);
  // llhttp says HPE_STRICT for whatever it refuses in an extension; other codes come from elsewhere (a body's bytes, say).
  if (extension !== null && error === 'HPE_STRICT') {
    // Anything refused in a chunk extension: the whole extension becomes a plain name.
    const lineEnd = bytes.indexOf('\r\n', lineStart);
    // Not a bare CR or LF: one that could end the line is framing, not an extension.
    if (lineEnd < 0 || bytes.indexOf('\r', lineStart) !== lineEnd || bytes.indexOf('\n', lineStart) !== lineEnd + 1) return undefined;
    copy.fill(0x78, lineStart + extension[0].length, lineEnd);
    // An empty extension (`0;`): the semicolon becomes whitespace, which the lenient flag allows.
    if (copy.equals(bytes)) copy[lineStart + extension[0].length - 1] = 0x20;
    return copy.equals(bytes) ? undefined : copy;
  }
  // Line ends are framing: never patched.
  if (bytes[at] === 0x0d || bytes[at] === 0x0a) return undefined;
  if (error === 'HPE_INVALID_HEADER_TOKEN' || error === 'HPE_STRICT') {
    // Only inside a header name, the value of a header that does not frame the message, or a
    // chunk extension; never in a status line or a framing header's value.
    const colon = line.indexOf(':');
    const inName = colon < 0 && !line.startsWith('HTTP/');
    const inOtherValue = colon > 0 && !FRAMING.includes(line.slice(0, colon).toLowerCase());
    if (!inName && !inOtherValue) return undefined;
    copy[at] = 0x78;
    return copy;
  }
  if (error === 'HPE_INVALID_CONTENT_LENGTH' && bytes[at] === 0x09) {
    // A tab after the digits: whitespace around a field value (RFC 9110 section 5.5), which
    // llhttp accepts as a space there.
    copy[at] = 0x20;
    return copy;
  }
  if (error === 'HPE_UNEXPECTED_CONTENT_LENGTH' || error === 'HPE_INVALID_CONTENT_LENGTH') {
    const name = bytes.subarray(0, at + 1).toString('latin1').toLowerCase().lastIndexOf('content-length');
    if (name < 0) return undefined;
    copy[name] = 0x58;
    return copy;
  }
  return undefined;
}

function differential(bytes: Buffer, splits: readonly number[]): void {
  count('ResponseParser vs llhttp');
  const show = () => JSON.stringify(bytes.toString('latin1'));
  const bytewise = feedOurs(bytes, everyByte(bytes));
  // Every way of cutting the stream gives the same responses and the same verdict.
  const whole = feedOurs(bytes, []);
  const split = feedOurs(bytes, splits.map((s) => s % (bytes.length + 1)));
  const strip = (r: OursResult) => ({ responses: r.responses.map(({ end: _, ...rest }) => rest), refused: r.errorAt >= 0 });
  expect(strip(whole), show()).toEqual(strip(bytewise));
  expect(strip(split), show()).toEqual(strip(bytewise));

  const ours = asUsed(bytewise);
  const ll = llhttpReference(bytes);
  // Every response delivered is llhttp's at the same index, ending at the same byte.
  ours.responses.forEach((r, i) => {
    const m = ll.messages[i];
    expect(m, `response ${i} delivered, llhttp has none: ${show()}`).toBeDefined();
    // Keeping the connection where llhttp would not is a framing risk; closing where it would keep it is not.
    const keepAlive = r.keepAlive && m!.keepAlive;
    expect(JSON.stringify(r), show()).toBe(JSON.stringify({ status: m!.status, body: m!.body, keepAlive, end: m!.end }));
  });
  const stoppedAtClose = ours.responses.length > 0 && !ours.responses[ours.responses.length - 1]!.keepAlive;
  if (!ours.refused && !stoppedAtClose) {
    expect(ll.accepted, `accepted, llhttp refused: ${show()}`).toBe(true);
    expect(ours.responses.length, show()).toBe(ll.messages.length);
  }
}

// ---------------------------------------------------------------------------------------------
// Generated response streams

const tokenArb = fc.string({ unit: fc.constantFrom(...'abcXYZ09-!#$%&\'*+.^_`|~'.split('')), minLength: 1, maxLength: 8 });
const fieldValueArb = fc.string({ unit: fc.constantFrom(...'abc XYZ 019 :;,="\t/\\()<>?@[]{}\x80\xff'.split('')), maxLength: 12 });

const responseArb = fc
  .record({
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
    status: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(200, 200, 201, 204, 304, 404, 500, 100, 103) }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 999 }) }),
    reason: fc.constantFrom('OK', '', 'Not Found', 'a\tb', '\xe9t\xe9', 'x: y'),
    body: fc.string({ unit: fc.constantFrom('a', 'Z', '0', '\r', '\n', ' ', '\x00', '\xff', 'HTTP/1.1 200 OK\r\n\r\n'), maxLength: 24 }),
    framing: fc.constantFrom('length', 'length', 'length', 'chunked', 'chunked', 'close', 'none'),
    length: fc.constantFrom('exact', 'exact', 'exact', 'exact', 'repeated', 'differing', 'spaces', 'zeros', 'plus', 'list', 'more', 'less', 'both'),
    coding: fc.constantFrom('chunked', 'chunked', 'chunked', 'Chunked', 'gzip, chunked', 'chunked, gzip', 'identity', ' chunked ', 'chunked\t'),
    chunkCuts: fc.array(fc.nat(24), { maxLength: 4 }),
    extension: fc.constantFrom('', '', ';a=b', ';a="x y"', ';a', ' ;a=b', ';a=b;c'),
    hex: fc.constantFrom('lower', 'upper', 'zeros'),
    trailers: fc.constantFrom('', '', 'T: 1\r\n', 'Expires: 0\r\nX-Y: z\r\n', 'Content-Length: 5\r\n'),
    connection: fc.constantFrom(undefined, undefined, undefined, 'close', 'keep-alive', 'Keep-Alive', 'close, x', 'upgrade', 'x'),
    keepAliveHint: fc.constantFrom(undefined, undefined, 'timeout=5', 'timeout=5, max=100', 'max=1'),
    extra: fc.array(fc.tuple(tokenArb, fieldValueArb), { maxLength: 3 }),
    order: fc.nat(),
  })
  .map((r) => {
    const headers: string[] = r.extra.map(([n, v]) => `${n}: ${v}`);
    const n = Buffer.byteLength(r.body, 'latin1');
    let body = r.body;
    if (r.framing === 'length') {
      const value = { exact: `${n}`, repeated: `${n}`, differing: `${n}`, spaces: ` \t${n} `, zeros: `00${n}`, plus: `+${n}`, list: `${n}, ${n}`, more: `${n + 1}`, less: `${Math.max(0, n - 1)}`, both: `${n}` }[r.length];
      headers.push(`Content-Length: ${value}`);
      if (r.length === 'repeated') headers.push(`content-length: ${n}`);
      if (r.length === 'differing') headers.push(`Content-Length: ${n + 2}`);
      if (r.length === 'both') headers.push('Transfer-Encoding: chunked');
    } else if (r.framing === 'chunked') {
      headers.push(`Transfer-Encoding: ${r.coding}`);
      const cuts = [...new Set(r.chunkCuts.map((c) => c % (n + 1)))].sort((a, b) => a - b);
      let text = '';
      let from = 0;
      for (const to of [...cuts, n]) {
        if (to <= from) continue;
        const size = (to - from).toString(16);
        text += `${r.hex === 'upper' ? size.toUpperCase() : r.hex === 'zeros' ? `000${size}` : size}${r.extension}\r\n${r.body.slice(from, to)}\r\n`;
        from = to;
      }
      body = `${text}0${r.extension}\r\n${r.trailers}\r\n`;
    } else if (r.framing === 'none') body = '';
    if (r.connection !== undefined) headers.push(`Connection: ${r.connection}`);
    if (r.keepAliveHint !== undefined) headers.push(`Keep-Alive: ${r.keepAliveHint}`);
    const k = headers.length === 0 ? 0 : r.order % headers.length;
    const ordered = [...headers.slice(k), ...headers.slice(0, k)];
    return `${r.version} ${r.status} ${r.reason}\r\n${ordered.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
  });


const streamArb = fc.array(responseArb, { minLength: 1, maxLength: 4 }).map((rs) => Buffer.from(rs.join(''), 'latin1'));
const splitsArb = fc.array(fc.nat(), { maxLength: 6 });

describe('ResponseParser fuzzed against llhttp', { timeout: TIMEOUT_MS }, () => {
  it('generated response streams: same responses, ends and keep-alive, or refused', () => {
    fc.assert(fc.property(streamArb, splitsArb, (bytes, splits) => differential(bytes, splits)), params(500, 21));
  });

  it('mutated response streams: byte flips, insertions of framing bytes, truncations, repeats', () => {
    fc.assert(
      fc.property(streamArb, mutationsArb, splitsArb, (bytes, mutations, splits) => differential(mutate(bytes, mutations, HTTP_SEQUENCES), splits)),
      params(900, 22),
    );
  });
});
