/**
 * Byte mutations of valid texts, for the JSON and HTTP fuzzers: flips, truncations,
 * insertions, deletions, repeated slices, repeated members, escapes, UTF-8 edge cases and
 * byte order marks. Positions are taken modulo the current length, so any list of
 * mutations applies to any text.
 */
import fc from 'fast-check';

/** Byte sequences that sit on an edge of JSON or UTF-8. */
export const EDGE_SEQUENCES: readonly Buffer[] = [
  // JSON structure and near misses.
  ...['"', '\\', '{', '}', '[', ']', ',', ':', '0', '-', '+', '.', 'e', 'E', 'n', 't', 'f', 'u', ' ', '\t', '\n', '\r', '\f', '\v', '/', '#', '\'', '\x00', '\x1f', '\x7f']
    .map((s) => Buffer.from(s, 'latin1')),
  // Escapes, good and bad.
  ...['\\u0069', '\\u0000', '\\ud800', '\\udc00', '\\ud83d\\ude00', '\\u12', '\\x41', '\\/', '\\"', '\\U0041', '\\u00e9']
    .map((s) => Buffer.from(s, 'latin1')),
  // UTF-8: overlong, lone continuation, encoded surrogate, truncated four-byte, beyond U+10FFFF,
  // never-valid bytes, the BOM, U+2028, NBSP, a valid emoji and a valid two-byte character.
  Buffer.from([0xc0, 0x80]),
  Buffer.from([0xc1, 0xbf]),
  Buffer.from([0x80]),
  Buffer.from([0xbf]),
  Buffer.from([0xe0, 0x80, 0x80]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf0, 0x9f, 0x98]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xf5]),
  Buffer.from([0xfe]),
  Buffer.from([0xff]),
  Buffer.from([0xef, 0xbb, 0xbf]),
  Buffer.from([0xe2, 0x80, 0xa8]),
  Buffer.from([0xc2, 0xa0]),
  Buffer.from([0xf0, 0x9f, 0x98, 0x80]),
  Buffer.from([0xc3, 0xa9]),
  // Members that repeat an envelope member when they land inside an object.
  ...[',"id":7', ',"id":"7"', ',"id":null', ',"jsonrpc":"2.0"', ',"result":1', ',"error":{"code":1,"message":"m"}', ',"code":2', ',"message":"n"',
    ',"method":"eth_call"', ',"params":[]', ',"\\u0069d":8', '"id":9,', '"jsonrpc":"2.0",']
    .map((s) => Buffer.from(s, 'latin1')),
];

export type Mutation =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'bit'; at: number; bit: number }
  | { kind: 'insert'; at: number; seq: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; length: number; to: number }
  | { kind: 'escape'; at: number }
  | { kind: 'bom' };

const byteArb = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x20, 0x80, 0xff));

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: byteArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('bit' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), seq: fc.nat(EDGE_SEQUENCES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }), to: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('escape' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bom' as const }) },
);

export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

/** Byte sequences that sit on an edge of HTTP/1.1 framing. */
export const HTTP_SEQUENCES: readonly Buffer[] = [
  '\r\n', '\n', '\r', '\r\n\r\n', ' ', '\t', ':', ';', ',', '0', '1', 'f', 'F', '\x00', '\x7f', '\x80', '\xff', '"', '=',
  'Content-Length: 0\r\n', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'Connection: close\r\n',
  'Connection: keep-alive\r\n', '0\r\n\r\n', '5\r\nhello\r\n', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', ';ext=1', 'X: y\r\n',
].map((s) => Buffer.from(s, 'latin1'));

/** `bytes` with `mutations` applied in order (a new buffer); insertions pick from `sequences`. */
export function mutate(bytes: Buffer, mutations: readonly Mutation[], sequences: readonly Buffer[] = EDGE_SEQUENCES): Buffer {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    const n = b.length;
    switch (m.kind) {
      case 'set':
        if (n > 0) b[m.at % n] = m.byte;
        break;
      case 'bit':
        if (n > 0) b[m.at % n] = b[m.at % n]! ^ (1 << m.bit);
        break;
      case 'insert': {
        const at = m.at % (n + 1);
        b = Buffer.concat([b.subarray(0, at), sequences[m.seq % sequences.length]!, b.subarray(at)]);
        break;
      }
      case 'delete': {
        if (n === 0) break;
        const at = m.at % n;
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + m.length))]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, m.at % (n + 1));
        break;
      case 'repeat': {
        if (n === 0) break;
        const at = m.at % n;
        const slice = b.subarray(at, Math.min(n, at + m.length));
        const to = m.to % (n + 1);
        b = Buffer.concat([b.subarray(0, to), slice, b.subarray(to)]);
        break;
      }
      case 'escape': {
        // An ASCII byte written as \u00XX: the same character inside a string, garbage outside.
        if (n === 0) break;
        const at = m.at % n;
        const c = b[at]!;
        if (c >= 0x80) break;
        const escape = Buffer.from(`\\u${c.toString(16).padStart(4, '0')}`, 'latin1');
        b = Buffer.concat([b.subarray(0, at), escape, b.subarray(at + 1)]);
        break;
      }
      case 'bom':
        b = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
        break;
    }
  }
  return b;
}
