/**
 * Validation of upstream JSON-RPC 2.0 answers straight from their bytes, without JSON.parse.
 *
 * The forwarder only needs to know that an answer is (1) syntactically valid JSON, since it
 * forwards the bytes verbatim, and (2) a JSON-RPC 2.0 response object, and where its id is,
 * so it can compare it with the request's id and, when needed, splice in the client's id.
 * Materialising a 120 KB `result` for that is wasted work: this module walks the bytes once,
 * validating every value it skips (strings and their escapes, numbers per the JSON grammar,
 * literals, nesting) and allocating nothing on the common path.
 *
 * Design choices (the verdict matches `JSON.parse(buf.toString('utf8'))` followed by the
 * forwarder's envelope check, except where noted):
 *
 * - Duplicate members: an object with two `jsonrpc`, `id`, `result` or `error` members (or an
 *   `error` object with two `code` or `message` members) is rejected (reason DUPLICATE), even
 *   though JSON.parse would keep the last one: a client whose parser keeps the first one would
 *   read a different answer from the one the gateway checked. Keys are compared by their
 *   decoded value, so `"\u0069d"` is an `id` member. Other duplicate members are tolerated.
 * - Depth: nesting is followed with an explicit stack (one byte per level, grown on demand), so
 *   there is no depth limit and no recursion, like V8's JSON.parse.
 * - BOM: a leading U+FEFF is rejected, as JSON.parse rejects it (Buffer#toString keeps it).
 * - UTF-8: bytes >= 0x80 inside strings are not validated, as Buffer#toString turns invalid
 *   sequences into U+FFFD, which JSON.parse then accepts. Outside strings they are rejected.
 *   (Use `buffer.isUtf8` as well if strict UTF-8 is wanted.)
 * - Numbers: an id that JSON.parse would turn into ±Infinity (1e400) is rejected, as the
 *   forwarder's isValidId does; `error.code` must be a number whose value Number.isInteger
 *   accepts (so 1.0 and 1e3 pass, as with JSON.parse).
 * - Results: `scanResponse` fills and returns a module-level object unless the caller passes
 *   its own `out`; the shared object is overwritten by the next call (measured: a fresh object
 *   per call costs ~10-30 % on a tiny answer, nothing visible on large ones). Reason strings
 *   are constants (SCAN_REASONS), never built per call. `scanBatchResponse` allocates one
 *   object per element.
 *
 * Speed (bench/response-scan.ts; ~0.5 ns per byte of an Ethereum block with full transactions,
 * 4x JSON.parse): Ethereum answers are mostly short hex strings and short keys, so the cost is
 * per string rather than per byte. skipValue is one loop without calls on the common path
 * (strings, keys included, scanned inline; the compact joints `":"` and `","` between two strings
 * taken directly); texts of VIEW_MIN_LENGTH bytes or more are read through a DataView, strings
 * four bytes at a time, with backslashes located by the native Buffer#indexOf instead of per
 * byte; shorter texts byte by byte. The envelope's own few strings (depth-1 keys, the version,
 * string ids) are scanned byte by byte by skipString. Allocation happens only off the common
 * path: that view (one per long scan), escaped keys or version strings, ids and error codes that
 * are not plain integers of up to 15 digits, string ids with escapes or non-ASCII bytes compared
 * by idEqualsString.
 */

// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';
import { copyBytes } from './bytes.js';

export type IdKind = 'none' | 'string' | 'number' | 'null' | 'invalid';

export const SCAN_REASONS = {
  OK: 'ok',
  // Syntax: the bytes are not one valid JSON text.
  EMPTY: 'no JSON value',
  TRUNCATED: 'JSON text ends early',
  UNEXPECTED: 'unexpected byte in JSON text',
  BAD_STRING: 'control character in JSON string',
  BAD_ESCAPE: 'invalid escape in JSON string',
  BAD_NUMBER: 'invalid JSON number',
  BAD_LITERAL: 'invalid JSON literal',
  TRAILING: 'bytes after the JSON value',
  // Envelope: valid JSON, but not a JSON-RPC 2.0 response object.
  NOT_OBJECT: 'not a JSON object',
  NOT_ARRAY: 'not a JSON array',
  DUPLICATE: 'duplicate jsonrpc, id, result, error, code or message member',
  NO_VERSION: 'jsonrpc missing',
  BAD_VERSION: 'jsonrpc is not "2.0"',
  NO_ID: 'id missing',
  BAD_ID: 'id is not a string, number or null',
  ID_NOT_FINITE: 'id is not a finite number',
  BOTH: 'both result and error',
  NEITHER: 'neither result nor error',
  ERROR_NOT_OBJECT: 'error is not an object',
  BAD_ERROR_CODE: 'error.code is not an integer',
  BAD_ERROR_MESSAGE: 'error.message is not a string',
} as const;

export type ScanReason = (typeof SCAN_REASONS)[keyof typeof SCAN_REASONS];

const R = SCAN_REASONS;

/** What a scan found. Field values other than `ok`, `reason`, `validJson`, `start`, `end` mean something only when `ok`. */
export interface ResponseScan {
  /** Valid JSON and a valid JSON-RPC 2.0 response object. */
  ok: boolean;
  /** SCAN_REASONS.OK, or why not. */
  reason: ScanReason;
  /** The bytes are syntactically valid JSON (whatever the envelope). */
  validJson: boolean;
  /** Byte span [start, end) of the value (the object), without surrounding whitespace; -1 when unknown. */
  start: number;
  end: number;
  /** It carries `error` rather than `result`. */
  isError: boolean;
  idKind: IdKind;
  /** Byte span of the id's JSON token (quotes included for a string); -1 when there is none. */
  idStart: number;
  idEnd: number;
  /** A string id containing backslash escapes. */
  idEscaped: boolean;
  /** The id's value when idKind is 'number' (as JSON.parse reads it), else NaN. */
  idNumber: number;
  /** error.code when isError, else NaN. */
  errorCode: number;
  /** Byte span [resultStart, resultEnd) of the `result` member's value; -1 when there is none. */
  resultStart: number;
  resultEnd: number;
}

export interface BatchScan {
  /** The whole text is a valid JSON array (its items may still be invalid response objects). */
  ok: boolean;
  reason: ScanReason;
  /** One scan per array element, in order; each has its own `ok` and its byte span. Empty when !ok. */
  items: ResponseScan[];
}

export function newResponseScan(): ResponseScan {
  return {
    ok: false,
    reason: R.EMPTY,
    validJson: false,
    start: -1,
    end: -1,
    isError: false,
    idKind: 'none',
    idStart: -1,
    idEnd: -1,
    idEscaped: false,
    idNumber: NaN,
    errorCode: NaN,
    resultStart: -1,
    resultEnd: -1,
  };
}

// ---------------------------------------------------------------------------------------------
// Byte constants and tables

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const TWO = 0x32;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RBRACKET = 0x5d;
const LOWER_A = 0x61;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_L = 0x6c;
const LOWER_N = 0x6e;
const LOWER_R = 0x72;
const LOWER_S = 0x73;
const LOWER_T = 0x74;
const LOWER_U = 0x75;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/** 1 for the bytes that end the plain run of a string: '"', '\\' and control characters. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;

/** Value of a hex digit + 1, 0 for other bytes. */
const HEX = new Uint8Array(256);
for (let i = 0; i < 10; i++) HEX[ZERO + i] = i + 1;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 11 + i;
  HEX[0x61 + i] = 11 + i;
}

/** The code unit of a single-character escape (\" \\ \/ \b \f \n \r \t), 0 for other bytes. */
const SIMPLE_ESCAPE = new Uint8Array(256);
SIMPLE_ESCAPE[QUOTE] = QUOTE;
SIMPLE_ESCAPE[BACKSLASH] = BACKSLASH;
SIMPLE_ESCAPE[0x2f] = 0x2f;
SIMPLE_ESCAPE[0x62] = 0x08;
SIMPLE_ESCAPE[LOWER_F] = 0x0c;
SIMPLE_ESCAPE[LOWER_N] = LF;
SIMPLE_ESCAPE[LOWER_R] = CR;
SIMPLE_ESCAPE[LOWER_T] = TAB;

// ---------------------------------------------------------------------------------------------
// Module state. Scans never re-enter (no callbacks), so this is safe and saves allocations.

/** Why the last low-level function returned -1. */
let failReason: ScanReason = R.UNEXPECTED;
/** Set by skipString when it meets a backslash; callers that care reset it first. */
let sawEscape = false;

const STACK_INITIAL = 64;
const STACK_KEEP = 1 << 16;
/** Open containers of skipValue: 1 object, 0 array. Grown on demand: no depth limit. */
let stack = new Uint8Array(STACK_INITIAL);

function growStack(): void {
  const bigger = new Uint8Array(stack.length * 2);
  bigger.set(stack);
  stack = bigger;
}

/** A pathological input may have grown the stack a lot: do not keep megabytes around. */
function trimStack(): void {
  if (stack.length > STACK_KEEP) stack = new Uint8Array(STACK_INITIAL);
}

function fail(reason: ScanReason): number {
  failReason = reason;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Low-level skippers: each takes the position of its first byte and returns the position after
// the token, or -1 (with failReason set) when the bytes are not valid JSON.

function skipWs(buf: Buffer, p: number, end: number): number {
  while (p < end) {
    const c = buf[p];
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
    p++;
  }
  return p;
}

/**
 * Word mode: a DataView of the scanned text [0, end) of `buf`, set for the duration of a scan of
 * a long text, else null (byte mode). skipValue reads strings through it four bytes at a time
 * (unaligned little-endian reads, so no alignment step and no byte-order condition).
 */
let view: DataView | null = null;
/**
 * In word mode the word test does not look for backslashes: `nextBackslash` is the position
 * of the next one at or after the scan's progress (found with the native Buffer#indexOf,
 * `backslashEnd` when there is none), and skipValue checks it against each string's end.
 * Backslashes outside strings never get that far (they are unexpected bytes), so whenever a
 * string is being scanned, nextBackslash is at or after its opening quote; every escape that
 * is skipped (skipEscape) moves it on.
 */
let nextBackslash = 0;
let backslashEnd = 0;
let backslashBuf: Buffer | null = null;
/**
 * Texts shorter than this are scanned byte by byte: creating the view (~100 ns) costs more than
 * word mode saves on them (measured: equal at ~200 bytes, word mode 10 % faster at 280 bytes,
 * 40 % at 780 bytes).
 */
const VIEW_MIN_LENGTH = 256;
/** Word mode computes positions in int32 (see skipValue): texts ending beyond this go byte by byte. */
const VIEW_MAX_END = 0x7fffffff - 64;

/** Sets up a scan of [start, end): word mode for long texts. Every public entry point calls it. */
function attachView(buf: Buffer, start: number, end: number): void {
  nextBackslash = 0; // unused in byte mode
  if (end - start < VIEW_MIN_LENGTH || end > VIEW_MAX_END) return;
  view = new DataView(buf.buffer, buf.byteOffset, end);
  backslashBuf = end === buf.length ? buf : buf.subarray(0, end);
  backslashEnd = end;
  findBackslash(start);
}

function findBackslash(from: number): void {
  const at = backslashBuf!.indexOf(BACKSLASH, from);
  nextBackslash = at < 0 ? backslashEnd : at;
}

/** Do not keep the caller's buffer alive after the scan. */
function detachView(): void {
  view = null;
  backslashBuf = null;
}

/** An escape inside a string, `p` at its backslash. Sets sawEscape and, in word mode, moves nextBackslash on. */
function skipEscape(buf: Buffer, p: number, end: number): number {
  sawEscape = true;
  if (++p >= end) return fail(R.TRUNCATED);
  const e = buf[p]!;
  if (e === LOWER_U) {
    // \uXXXX: any four hex digits, lone surrogates included (JSON.parse accepts them).
    if (p + 4 >= end) return fail(R.TRUNCATED);
    if (HEX[buf[p + 1]!] === 0 || HEX[buf[p + 2]!] === 0 || HEX[buf[p + 3]!] === 0 || HEX[buf[p + 4]!] === 0) {
      return fail(R.BAD_ESCAPE);
    }
    p += 5;
  } else if (SIMPLE_ESCAPE[e] !== 0) p++;
  else return fail(R.BAD_ESCAPE);
  if (view !== null) findBackslash(p);
  return p;
}

/**
 * A string, `p` just after the opening quote; byte by byte, in either mode. For the few
 * strings of the envelope (depth-1 keys, the version, string ids); skipValue scans the others.
 */
function skipString(buf: Buffer, p: number, end: number): number {
  for (;;) {
    while (p < end && STRING_STOP[buf[p]!] === 0) p++;
    if (p >= end) return fail(R.TRUNCATED);
    const c = buf[p]!;
    if (c === QUOTE) return p + 1;
    if (c !== BACKSLASH) return fail(R.BAD_STRING);
    p = skipEscape(buf, p, end);
    if (p < 0) return -1;
  }
}

function skipDigits(buf: Buffer, p: number, end: number): number {
  while (p < end) {
    const c = buf[p]!;
    if (c < ZERO || c > NINE) break;
    p++;
  }
  return p;
}

/** -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?  — `p` is at '-' or a digit. */
function skipNumber(buf: Buffer, p: number, end: number): number {
  if (buf[p] === MINUS && ++p >= end) return fail(R.TRUNCATED);
  let c = buf[p]!;
  if (c === ZERO) p++;
  else if (c >= ONE && c <= NINE) p = skipDigits(buf, p + 1, end);
  else return fail(R.BAD_NUMBER);
  if (p >= end) return p;
  c = buf[p]!;
  if (c === DOT) {
    if (++p >= end) return fail(R.TRUNCATED);
    c = buf[p]!;
    if (c < ZERO || c > NINE) return fail(R.BAD_NUMBER);
    p = skipDigits(buf, p + 1, end);
    if (p >= end) return p;
    c = buf[p]!;
  }
  if (c === LOWER_E || c === UPPER_E) {
    if (++p >= end) return fail(R.TRUNCATED);
    c = buf[p]!;
    if (c === PLUS || c === MINUS) {
      if (++p >= end) return fail(R.TRUNCATED);
      c = buf[p]!;
    }
    if (c < ZERO || c > NINE) return fail(R.BAD_NUMBER);
    p = skipDigits(buf, p + 1, end);
  }
  return p;
}

/** true, false or null — `p` is at 't', 'f' or 'n'. */
function skipLiteral(buf: Buffer, p: number, end: number): number {
  const c = buf[p];
  if (c === LOWER_T || c === LOWER_N) {
    if (p + 4 > end) return fail(R.TRUNCATED);
    const ok = c === LOWER_T
      ? buf[p + 1] === LOWER_R && buf[p + 2] === LOWER_U && buf[p + 3] === LOWER_E
      : buf[p + 1] === LOWER_U && buf[p + 2] === LOWER_L && buf[p + 3] === LOWER_L;
    return ok ? p + 4 : fail(R.BAD_LITERAL);
  }
  if (p + 5 > end) return fail(R.TRUNCATED);
  return buf[p + 1] === LOWER_A && buf[p + 2] === LOWER_L && buf[p + 3] === LOWER_S && buf[p + 4] === LOWER_E
    ? p + 5
    : fail(R.BAD_LITERAL);
}

/** The word test: bit 7 of each byte of the result flags a byte < 0x23 of `x` (see skipValue). */
const FLAG_SUB = 0x23232323;
const FLAG_HIGH = 0x80808080;

/**
 * Any JSON value, `p` at its first byte (not whitespace). One loop, no calls on the common path
 * (V8 optimises it far better than small functions calling each other): strings, values and
 * keys alike, are scanned inline, and the compact joints `":"` and `","` between two strings
 * are taken without going round the loop. Iterative: no recursion and no depth limit; the open
 * containers are in `stack`, the innermost one's kind also in `inObject`.
 *
 * Strings. In byte mode (short texts) each byte is looked up in STRING_STOP. In word mode four
 * bytes are read at once: for a little-endian word x, (x - 0x23232323) & ~x & 0x80808080 (the
 * "hasless" bit trick) flags every byte < 0x23, plus possibly a '#' just above a flagged byte
 * (a borrow runs upwards), never missing one. The lowest flag is a quote, a control character,
 * or a byte to step over (' ', '!' or a spurious flag), and the loop goes on from there.
 * Backslashes are not looked for by the word test: the one at nextBackslash comes first if it
 * is before that byte (it may escape that quote).
 *
 * Integer hygiene (measured, ~10 %): flags are 0/1 rather than booleans, nextBackslash is read
 * as an int32, and word mode's position arithmetic is `| 0` (int32, no overflow checks: word mode
 * only runs on texts ending below VIEW_MAX_END), so that V8 keeps them untagged in registers.
 */
function skipValue(buf: Buffer, p: number, end: number): number {
  const dv = view;
  const end4 = end - 4;
  const end16 = end - 16;
  let nb = nextBackslash | 0;
  let depth = 0;
  let inObject = 0;
  let key = 0;
  let c = 0;
  values: for (;;) {
    if (p >= end) return fail(R.TRUNCATED);
    c = buf[p]!;
    if (c === QUOTE) {
      for (;;) {
        // p at an opening quote (of a key when `key`): find the closing one.
        p++;
        for (;;) {
          if (dv !== null) {
            let m = 0;
            let x = 0;
            // Four words per round: fewer loop overheads (bounds, interrupt checks) per byte.
            while (p <= end16) {
              x = dv.getUint32(p, true);
              m = (x - FLAG_SUB) & ~x & FLAG_HIGH;
              if (m !== 0) break;
              x = dv.getUint32(p + 4, true);
              m = (x - FLAG_SUB) & ~x & FLAG_HIGH;
              if (m !== 0) {
                p = (p + 4) | 0;
                break;
              }
              x = dv.getUint32(p + 8, true);
              m = (x - FLAG_SUB) & ~x & FLAG_HIGH;
              if (m !== 0) {
                p = (p + 8) | 0;
                break;
              }
              x = dv.getUint32(p + 12, true);
              m = (x - FLAG_SUB) & ~x & FLAG_HIGH;
              if (m !== 0) {
                p = (p + 12) | 0;
                break;
              }
              p = (p + 16) | 0;
            }
            while (m === 0 && p <= end4) {
              x = dv.getUint32(p, true);
              m = (x - FLAG_SUB) & ~x & FLAG_HIGH;
              if (m === 0) p = (p + 4) | 0;
            }
            if (m !== 0) {
              const b = (31 - Math.clz32(m & -m)) >>> 3;
              p = (p + b) | 0;
              c = (x >>> (b << 3)) & 0xff;
            } else {
              // The last 0-3 bytes of the text.
              while (p < end && STRING_STOP[buf[p]!] === 0) p++;
              if (p >= end) return fail(R.TRUNCATED);
              c = buf[p]!;
            }
            if (nb < p) {
              p = nb;
              c = BACKSLASH;
            }
          } else {
            while (p < end && STRING_STOP[buf[p]!] === 0) p++;
            if (p >= end) return fail(R.TRUNCATED);
            c = buf[p]!;
          }
          if (c === QUOTE) break;
          if (c === BACKSLASH) {
            p = skipEscape(buf, p, end);
            if (p < 0) return -1;
            nb = nextBackslash | 0;
            continue;
          }
          if (c < SPACE) return fail(R.BAD_STRING);
          p++; // ' ', '!' or a spurious flag
        }
        // p at the closing quote. The compact joints first: `":"` after a key, `","` after a
        // value in a container; then a key's colon, whitespace, and the end of a value.
        if (dv !== null && p < end4) {
          const t = dv.getUint16(p + 1, true);
          if (key !== 0) {
            if (t === 0x223a) {
              p = (p + 2) | 0;
              key = 0;
              continue;
            }
          } else if (t === 0x222c && depth !== 0) {
            p = (p + 2) | 0;
            key = inObject;
            continue;
          }
        } else if (p + 2 < end) {
          if (key !== 0) {
            if (buf[p + 1] === COLON && buf[p + 2] === QUOTE) {
              p += 2;
              key = 0;
              continue;
            }
          } else if (depth !== 0 && buf[p + 1] === COMMA && buf[p + 2] === QUOTE) {
            p += 2;
            key = inObject;
            continue;
          }
        }
        p++;
        if (key !== 0) {
          key = 0;
          if (p < end && buf[p] === COLON) p++;
          else {
            p = skipWs(buf, p, end);
            if (p >= end) return fail(R.TRUNCATED);
            if (buf[p] !== COLON) return fail(R.UNEXPECTED);
            p++;
          }
          if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
          continue values;
        }
        break;
      }
    } else if (c === LBRACE || c === LBRACKET) {
      p++;
      if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
      if (p >= end) return fail(R.TRUNCATED);
      if (c === LBRACE) {
        c = buf[p]!;
        if (c === RBRACE) p++;
        else {
          if (c !== QUOTE) return fail(R.UNEXPECTED);
          if (depth === stack.length) growStack();
          stack[depth++] = 1;
          inObject = 1;
          key = 1;
          continue;
        }
      } else if (buf[p] === RBRACKET) p++;
      else {
        if (depth === stack.length) growStack();
        stack[depth++] = 0;
        inObject = 0;
        continue;
      }
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      p = skipNumber(buf, p, end);
      if (p < 0) return -1;
    } else if (c === LOWER_T || c === LOWER_F || c === LOWER_N) {
      p = skipLiteral(buf, p, end);
      if (p < 0) return -1;
    } else return fail(R.UNEXPECTED);
    // A value is complete: close the containers it completes, or move on to the next element.
    for (;;) {
      if (depth === 0) return p;
      if (p >= end) return fail(R.TRUNCATED);
      c = buf[p]!;
      if (c <= SPACE) {
        p = skipWs(buf, p, end);
        if (p >= end) return fail(R.TRUNCATED);
        c = buf[p]!;
      }
      if (c === COMMA) {
        p++;
        if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
        if (inObject !== 0) {
          if (p >= end) return fail(R.TRUNCATED);
          if (buf[p] !== QUOTE) return fail(R.UNEXPECTED);
          key = 1;
        }
        break;
      }
      if (c !== (inObject !== 0 ? RBRACE : RBRACKET)) return fail(R.UNEXPECTED);
      p++;
      depth--;
      inObject = depth > 0 ? stack[depth - 1]! : 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values the envelope check reads

/** JSON.parse's reading of a number token [a, b) (already validated). */
function numberValue(buf: Buffer, a: number, b: number): number {
  let p = a;
  const negative = buf[p] === MINUS;
  if (negative) p++;
  // Up to 15 digits and nothing else: exact in a double, computed without allocating.
  if (b - p <= 15) {
    let v = 0;
    for (; p < b; p++) {
      const c = buf[p]!;
      if (c < ZERO || c > NINE) return Number(buf.toString('latin1', a, b));
      v = v * 10 + (c - ZERO);
    }
    return negative ? -v : v;
  }
  return Number(buf.toString('latin1', a, b));
}

/** The decoded value of a string token [a, b) (quotes included) equals the ASCII `s`; for tokens with escapes. */
function decodedEquals(buf: Buffer, a: number, b: number, s: string): boolean {
  return JSON.parse(buf.toString('utf8', a, b)) === s;
}

const KEY_OTHER = 0;
const KEY_JSONRPC = 1;
const KEY_ID = 2;
const KEY_RESULT = 4;
const KEY_ERROR = 8;
const KEY_CODE = 16;
const KEY_MESSAGE = 32;

/** The 2 bytes at `a` spell `id`. */
function isId(buf: Buffer, a: number): boolean {
  return buf[a] === 0x69 && buf[a + 1] === 0x64;
}

/** The 7 bytes at `a` spell `jsonrpc` (unrolled: measured, a loop over a name costs more). */
function isJsonrpc(buf: Buffer, a: number): boolean {
  return buf[a] === 0x6a && buf[a + 1] === 0x73 && buf[a + 2] === 0x6f && buf[a + 3] === 0x6e && buf[a + 4] === 0x72
    && buf[a + 5] === 0x70 && buf[a + 6] === 0x63;
}

/** Which member a key token [a, b) (quotes included) names, `escaped` when it has backslashes. */
function classifyKey(buf: Buffer, a: number, b: number, escaped: boolean, inError: boolean): number {
  if (escaped) {
    const key: unknown = JSON.parse(buf.toString('utf8', a, b));
    if (inError) return key === 'code' ? KEY_CODE : key === 'message' ? KEY_MESSAGE : KEY_OTHER;
    return key === 'jsonrpc' ? KEY_JSONRPC : key === 'id' ? KEY_ID : key === 'result' ? KEY_RESULT : key === 'error' ? KEY_ERROR : KEY_OTHER;
  }
  // The bytes between the quotes, compared unrolled (measured: a loop over a name costs more).
  a++;
  const n = b - a - 1;
  if (inError) {
    if (n === 4) {
      return buf[a] === 0x63 && buf[a + 1] === 0x6f && buf[a + 2] === 0x64 && buf[a + 3] === 0x65 ? KEY_CODE : KEY_OTHER;
    }
    if (n === 7) {
      return buf[a] === 0x6d && buf[a + 1] === 0x65 && buf[a + 2] === 0x73 && buf[a + 3] === 0x73
        && buf[a + 4] === 0x61 && buf[a + 5] === 0x67 && buf[a + 6] === 0x65
        ? KEY_MESSAGE
        : KEY_OTHER;
    }
    return KEY_OTHER;
  }
  switch (n) {
    case 2:
      return isId(buf, a) ? KEY_ID : KEY_OTHER;
    case 5: // error
      return buf[a] === 0x65 && buf[a + 1] === 0x72 && buf[a + 2] === 0x72 && buf[a + 3] === 0x6f && buf[a + 4] === 0x72
        ? KEY_ERROR
        : KEY_OTHER;
    case 6: // result
      return buf[a] === 0x72 && buf[a + 1] === 0x65 && buf[a + 2] === 0x73 && buf[a + 3] === 0x75 && buf[a + 4] === 0x6c
        && buf[a + 5] === 0x74
        ? KEY_RESULT
        : KEY_OTHER;
    case 7:
      return isJsonrpc(buf, a) ? KEY_JSONRPC : KEY_OTHER;
    default:
      return KEY_OTHER;
  }
}

/** After a member's key, `p` just after its closing quote: the position of its value (after the colon and whitespace). */
function skipColon(buf: Buffer, p: number, end: number): number {
  if (p < end && buf[p] === COLON) p++;
  else {
    p = skipWs(buf, p, end);
    if (p >= end) return fail(R.TRUNCATED);
    if (buf[p] !== COLON) return fail(R.UNEXPECTED);
    p++;
  }
  if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
  return p < end ? p : fail(R.TRUNCATED);
}

/**
 * After a member's value, `p` just after it: the position of the next key's quote (after the
 * comma), or minus the position after the closing brace (<= -2, as that brace follows the
 * object's '{'), or fail()'s -1.
 */
function skipMemberEnd(buf: Buffer, p: number, end: number): number {
  if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
  if (p >= end) return fail(R.TRUNCATED);
  const c = buf[p];
  if (c === COMMA) {
    p++;
    if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
    if (p >= end) return fail(R.TRUNCATED);
    return buf[p] === QUOTE ? p : fail(R.UNEXPECTED);
  }
  return c === RBRACE ? -(p + 1) : fail(R.UNEXPECTED);
}

/**
 * An object's opening, `p` at '{': the position of its first key's quote, or minus the position
 * after '}' for an empty object (<= -2), or fail()'s -1. The same convention as skipMemberEnd,
 * so the member loops read `for (p = skipObjectStart(…); p >= 0; p = skipMemberEnd(…))`.
 */
function skipObjectStart(buf: Buffer, p: number, end: number): number {
  p++;
  if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
  if (p >= end) return fail(R.TRUNCATED);
  if (buf[p] === RBRACE) return -(p + 1);
  return buf[p] === QUOTE ? p : fail(R.UNEXPECTED);
}

/** A scalar the envelope reads (version, id, error.code), `p` at its first byte: strings and numbers without skipValue's set-up. */
function skipScalar(buf: Buffer, p: number, end: number): number {
  const c = buf[p]!;
  if (c === QUOTE) return skipString(buf, p + 1, end);
  if (c === MINUS || (c >= ZERO && c <= NINE)) return skipNumber(buf, p, end);
  return skipValue(buf, p, end);
}

// Findings of scanErrorObject.
let errorVerdict: ScanReason = R.OK;
let errorCodeValue = NaN;

/** The `error` member's object, `p` at '{'. Sets errorVerdict and errorCodeValue. */
function scanErrorObject(buf: Buffer, p: number, end: number): number {
  let seen = 0;
  let duplicate = false;
  let codeOk = false;
  let messageOk = false;
  let code = NaN;
  for (p = skipObjectStart(buf, p, end); p >= 0; p = skipMemberEnd(buf, p, end)) {
    const keyStart = p;
    sawEscape = false;
    p = skipString(buf, p + 1, end);
    if (p < 0) return -1;
    const key = classifyKey(buf, keyStart, p, sawEscape, true);
    p = skipColon(buf, p, end);
    if (p < 0) return -1;
    const valueStart = p;
    const c = buf[p]!;
    if (key === KEY_OTHER) {
      p = skipValue(buf, p, end);
      if (p < 0) return -1;
    } else {
      p = skipScalar(buf, p, end);
      if (p < 0) return -1;
      if ((seen & key) !== 0) duplicate = true;
      seen |= key;
      if (key === KEY_CODE) {
        codeOk = false;
        if (c === MINUS || (c >= ZERO && c <= NINE)) {
          code = numberValue(buf, valueStart, p);
          codeOk = Number.isInteger(code);
        }
      } else messageOk = c === QUOTE;
    }
  }
  if (p === -1) return -1;
  p = -p;
  errorCodeValue = code;
  errorVerdict = duplicate ? R.DUPLICATE : !codeOk ? R.BAD_ERROR_CODE : !messageOk ? R.BAD_ERROR_MESSAGE : R.OK;
  return p;
}

/**
 * A response object, `p` at '{'. Fills `out` (all fields but validJson) and returns the
 * position after '}', or -1 when the bytes are not valid JSON.
 */
function scanObject(buf: Buffer, p: number, end: number, out: ResponseScan): number {
  const start = p;
  let seen = 0;
  let duplicate = false;
  let versionOk = false;
  let idKind: IdKind = 'none';
  let idStart = -1;
  let idEnd = -1;
  let idEscaped = false;
  let idNumber = NaN;
  let errorReason: ScanReason = R.OK;
  let errorCode = NaN;
  let resultStart = -1;
  let resultEnd = -1;
  for (p = skipObjectStart(buf, p, end); p >= 0; p = skipMemberEnd(buf, p, end)) {
    const keyStart = p;
    sawEscape = false;
    p = skipString(buf, p + 1, end);
    if (p < 0) return -1;
    const key = classifyKey(buf, keyStart, p, sawEscape, false);
    p = skipColon(buf, p, end);
    if (p < 0) return -1;
    const valueStart = p;
    const c = buf[p]!;
    if (key === KEY_OTHER || key === KEY_RESULT) {
      p = skipValue(buf, p, end);
      if (p < 0) return -1;
      if (key === KEY_RESULT) {
        resultStart = valueStart;
        resultEnd = p;
      }
    } else if (key === KEY_ERROR) {
      if (c === LBRACE) {
        p = scanErrorObject(buf, p, end);
        if (p < 0) return -1;
        errorReason = errorVerdict;
        errorCode = errorCodeValue;
      } else {
        p = skipValue(buf, p, end);
        if (p < 0) return -1;
        errorReason = R.ERROR_NOT_OBJECT;
        errorCode = NaN;
      }
    } else {
      sawEscape = false;
      p = skipScalar(buf, p, end);
      if (p < 0) return -1;
      if (key === KEY_JSONRPC) {
        versionOk = c === QUOTE
          && (sawEscape
            ? decodedEquals(buf, valueStart, p, '2.0')
            : p - valueStart === 5 && buf[valueStart + 1] === TWO && buf[valueStart + 2] === DOT && buf[valueStart + 3] === ZERO);
      } else {
        idStart = valueStart;
        idEnd = p;
        idEscaped = false;
        idNumber = NaN;
        if (c === QUOTE) {
          idKind = 'string';
          idEscaped = sawEscape;
        } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
          idKind = 'number';
          idNumber = numberValue(buf, valueStart, p);
        } else idKind = c === LOWER_N ? 'null' : 'invalid';
      }
    }
    if ((seen & key) !== 0) duplicate = true;
    seen |= key;
  }
  if (p === -1) return -1;
  p = -p;
  const both = KEY_RESULT | KEY_ERROR;
  const reason: ScanReason = duplicate
    ? R.DUPLICATE
    : (seen & KEY_JSONRPC) === 0
      ? R.NO_VERSION
      : !versionOk
        ? R.BAD_VERSION
        : (seen & KEY_ID) === 0
          ? R.NO_ID
          : idKind === 'invalid'
            ? R.BAD_ID
            : idKind === 'number' && !Number.isFinite(idNumber)
              ? R.ID_NOT_FINITE
              : (seen & both) === both
                ? R.BOTH
                : (seen & both) === 0
                  ? R.NEITHER
                  : (seen & KEY_ERROR) !== 0
                    ? errorReason
                    : R.OK;
  out.ok = reason === R.OK;
  out.reason = reason;
  out.start = start;
  out.end = p;
  out.isError = (seen & KEY_ERROR) !== 0;
  out.idKind = idKind;
  out.idStart = idStart;
  out.idEnd = idEnd;
  out.idEscaped = idEscaped;
  out.idNumber = idNumber;
  out.errorCode = (seen & KEY_ERROR) !== 0 ? errorCode : NaN;
  out.resultStart = resultStart;
  out.resultEnd = resultEnd;
  return p;
}

function clear(out: ResponseScan, reason: ScanReason, start: number, end: number): void {
  out.ok = false;
  out.reason = reason;
  out.validJson = false;
  out.start = start;
  out.end = end;
  out.isError = false;
  out.idKind = 'none';
  out.idStart = -1;
  out.idEnd = -1;
  out.idEscaped = false;
  out.idNumber = NaN;
  out.errorCode = NaN;
  out.resultStart = -1;
  out.resultEnd = -1;
}

/**
 * A value of a batch or the whole text, `p` at its first byte: a response object or some
 * other JSON value. Returns the position after it, or -1 on invalid JSON (out not filled).
 */
function scanItem(buf: Buffer, p: number, end: number, out: ResponseScan): number {
  if (buf[p] === LBRACE) return scanObject(buf, p, end, out);
  const q = skipValue(buf, p, end);
  if (q >= 0) clear(out, R.NOT_OBJECT, p, q);
  return q;
}

// ---------------------------------------------------------------------------------------------
// Public API

const SHARED = newResponseScan();

/**
 * Checks that bytes [start, end) are exactly one JSON value (JSON whitespace around it
 * allowed) and that it is a JSON-RPC 2.0 response object. Without `out` the answer is a
 * module-level object that the next call overwrites: copy what you need before calling again.
 */
export function scanResponse(buf: Buffer, start = 0, end = buf.length, out: ResponseScan = SHARED): ResponseScan {
  let p = skipWs(buf, start, end);
  if (p >= end) {
    clear(out, R.EMPTY, -1, -1);
    return out;
  }
  attachView(buf, p, end);
  try {
    p = scanItem(buf, p, end, out);
  } finally {
    detachView();
    trimStack();
  }
  if (p < 0) clear(out, failReason, -1, -1);
  else if (skipWs(buf, p, end) !== end) clear(out, R.TRAILING, -1, -1);
  else out.validJson = true;
  return out;
}

/**
 * A batch answer: bytes [start, end) must be one JSON array (else `ok` is false and `items`
 * empty). Each element gets its own scan (fresh objects) with its byte span; elements that are
 * not valid response objects have `ok: false` and a reason, without failing the batch.
 */
export function scanBatchResponse(buf: Buffer, start = 0, end = buf.length): BatchScan {
  const p = skipWs(buf, start, end);
  if (p >= end) return { ok: false, reason: R.EMPTY, items: [] };
  const items: ResponseScan[] = [];
  let reason: ScanReason;
  attachView(buf, p, end);
  try {
    reason = scanArray(buf, p, end, items);
  } finally {
    detachView();
    trimStack();
  }
  return reason === R.OK ? { ok: true, reason, items } : { ok: false, reason, items: [] };
}

function scanArray(buf: Buffer, p: number, end: number, items: ResponseScan[]): ScanReason {
  if (buf[p] !== LBRACKET) {
    // Tell "some other JSON value" from "not JSON at all".
    p = skipValue(buf, p, end);
    return p < 0 ? failReason : skipWs(buf, p, end) !== end ? R.TRAILING : R.NOT_ARRAY;
  }
  p = skipWs(buf, p + 1, end);
  if (p < end && buf[p] === RBRACKET) p++;
  else {
    for (;;) {
      if (p >= end) return R.TRUNCATED;
      const item = newResponseScan();
      p = scanItem(buf, p, end, item);
      if (p < 0) return failReason;
      item.validJson = true;
      items.push(item);
      p = skipWs(buf, p, end);
      if (p >= end) return R.TRUNCATED;
      const c = buf[p];
      if (c === COMMA) {
        p = skipWs(buf, p + 1, end);
        continue;
      }
      if (c !== RBRACKET) return R.UNEXPECTED;
      p++;
      break;
    }
  }
  return skipWs(buf, p, end) !== end ? R.TRAILING : R.OK;
}

/** The scanned id is the number `n` (as JSON.parse would read it: 1.0 and 1e0 equal 1). */
export function idEqualsNumber(_buf: Buffer, scan: ResponseScan, n: number): boolean {
  return scan.idKind === 'number' && scan.idNumber === n;
}

/** The scanned id is a string whose decoded value (escapes resolved) is `s`. */
export function idEqualsString(buf: Buffer, scan: ResponseScan, s: string): boolean {
  if (scan.idKind !== 'string') return false;
  let p = scan.idStart + 1;
  const end = scan.idEnd - 1;
  const n = s.length;
  let j = 0;
  if (!scan.idEscaped) {
    // ASCII bytes are their own UTF-16 code units; anything else goes the slow way.
    for (; p < end; p++, j++) {
      const c = buf[p]!;
      if (c >= 0x80) return slowStringEquals(buf, scan, s);
      if (j >= n || c !== s.charCodeAt(j)) return false;
    }
    return j === n;
  }
  while (p < end) {
    let c = buf[p]!;
    if (c >= 0x80) return slowStringEquals(buf, scan, s);
    if (c === BACKSLASH) {
      const e = buf[p + 1]!;
      if (e === LOWER_U) {
        c = ((HEX[buf[p + 2]!]! - 1) << 12) | ((HEX[buf[p + 3]!]! - 1) << 8) | ((HEX[buf[p + 4]!]! - 1) << 4) | (HEX[buf[p + 5]!]! - 1);
        p += 6;
      } else {
        c = SIMPLE_ESCAPE[e]!;
        p += 2;
      }
    } else p++;
    if (j >= n || c !== s.charCodeAt(j)) return false;
    j++;
  }
  return j === n;
}

function slowStringEquals(buf: Buffer, scan: ResponseScan, s: string): boolean {
  return JSON.parse(buf.toString('utf8', scan.idStart, scan.idEnd)) === s;
}

/** The scanned id equals `id` as `===` would compare JSON.parse's id with it. */
export function idEquals(buf: Buffer, scan: ResponseScan, id: string | number | null): boolean {
  if (typeof id === 'string') return idEqualsString(buf, scan, id);
  if (typeof id === 'number') return idEqualsNumber(buf, scan, id);
  return scan.idKind === 'null';
}

/**
 * The bytes of a scanned object [scan.start, scan.end) with its id token replaced by
 * `clientIdJson` (a JSON token, e.g. JSON.stringify(call.id)). Throws when the scan has no id.
 */
export function withId(buf: Buffer, scan: ResponseScan, clientIdJson: string): Buffer {
  const out = Buffer.allocUnsafe(withIdLength(scan, clientIdJson));
  writeWithId(buf, scan, clientIdJson, out, 0);
  return out;
}

/** The length in bytes of `withId(buf, scan, clientIdJson)`. */
export function withIdLength(scan: ResponseScan, clientIdJson: string): number {
  const { start, end, idStart, idEnd } = scan;
  if (idStart < 0 || start < 0) throw new RangeError('withId: the scan has no id span');
  const idLength = asciiLength(clientIdJson);
  return idStart - start + (idLength < 0 ? Buffer.byteLength(clientIdJson) : idLength) + (end - idEnd);
}

/** Writes the bytes of `withId(buf, scan, clientIdJson)` at out[at, ...); returns the position after them. */
export function writeWithId(buf: Buffer, scan: ResponseScan, clientIdJson: string, out: Buffer, at: number): number {
  const { start, end, idStart, idEnd } = scan;
  if (idStart < 0 || start < 0) throw new RangeError('withId: the scan has no id span');
  // Small answers are copied in JS: each native copy costs more than a few dozen bytes do.
  copyBytes(buf, start, idStart, out, at);
  let q = at + idStart - start;
  const idLength = asciiLength(clientIdJson);
  if (idLength >= 0) for (let i = 0; i < idLength; i++) out[q++] = clientIdJson.charCodeAt(i);
  else q += out.write(clientIdJson, q, 'utf8');
  copyBytes(buf, idEnd, end, out, q);
  return q + end - idEnd;
}

/** s.length when `s` is all ASCII (and short enough to copy by hand), else -1. */
function asciiLength(s: string): number {
  if (s.length > 64) return -1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1;
  return s.length;
}

// ---------------------------------------------------------------------------------------------
// Requests: the fast path of the common single call, and of batches of such calls

/**
 * What `scanRequest` found in a single JSON-RPC request. `ok` only for the plain case: one
 * valid JSON object with a `jsonrpc` of exactly "2.0", a string `method`, `params` (if any) an
 * array or object, an `id` (if any) a string, a finite number or null, no escapes in keys, the
 * method or a string id, and none of those four members twice. Everything else (invalid
 * requests, the odd spellings) is for JSON.parse to judge, so its verdicts stay the only ones.
 */
export interface RequestScan {
  ok: boolean;
  /** The method's bytes, quotes excluded. */
  methodStart: number;
  methodEnd: number;
  /** 'none': a notification. */
  idKind: IdKind;
  /** The id's token; quotes excluded for a string id. */
  idStart: number;
  idEnd: number;
  /** The id's value when idKind is 'number'. */
  idNumber: number;
  /** Byte span [paramsStart, paramsEnd) of the `params` member's value (an array or an object); -1 when absent. */
  paramsStart: number;
  paramsEnd: number;
  /** The number of elements of an array `params`; 0 when params is absent, empty or an object. */
  paramCount: number;
  /**
   * The first byte of the last element of an array `params`, -1 when there is none: the block
   * parameter is usually the last one, and is then read without walking the ones before it.
   */
  lastParamStart: number;
}

const KEY_METHOD = 64;
const KEY_PARAMS = 128;

/** Which request member a key token [a, b) (quotes included, no escapes) names. */
function classifyRequestKey(buf: Buffer, a: number, b: number): number {
  a++;
  switch (b - a - 1) {
    case 2:
      return isId(buf, a) ? KEY_ID : KEY_OTHER;
    case 6: // method, params
      if (buf[a] === 0x6d) {
        return buf[a + 1] === 0x65 && buf[a + 2] === 0x74 && buf[a + 3] === 0x68 && buf[a + 4] === 0x6f && buf[a + 5] === 0x64 ? KEY_METHOD : KEY_OTHER;
      }
      return buf[a] === 0x70 && buf[a + 1] === 0x61 && buf[a + 2] === 0x72 && buf[a + 3] === 0x61 && buf[a + 4] === 0x6d && buf[a + 5] === 0x73
        ? KEY_PARAMS
        : KEY_OTHER;
    case 7:
      return isJsonrpc(buf, a) ? KEY_JSONRPC : KEY_OTHER;
    default:
      return KEY_OTHER;
  }
}

const REQUEST_SHARED: RequestScan = {
  ok: false,
  methodStart: -1,
  methodEnd: -1,
  idKind: 'none',
  idStart: -1,
  idEnd: -1,
  idNumber: NaN,
  paramsStart: -1,
  paramsEnd: -1,
  paramCount: 0,
  lastParamStart: -1,
};

/** Members of a request object, `p` at '{'; fills `out` and returns the position after '}', or -1 (invalid JSON, or not the plain case). */
function scanRequestObject(buf: Buffer, p: number, end: number, out: RequestScan): number {
  let seen = 0;
  // `{}` ends the loop at once and fails the jsonrpc and method check below.
  for (p = skipObjectStart(buf, p, end); p >= 0; p = skipMemberEnd(buf, p, end)) {
    const keyStart = p;
    sawEscape = false;
    p = skipString(buf, p + 1, end);
    if (p < 0 || sawEscape) return -1;
    const key = classifyRequestKey(buf, keyStart, p);
    if ((seen & key) !== 0) return -1;
    seen |= key;
    p = skipColon(buf, p, end);
    if (p < 0) return -1;
    const valueStart = p;
    const c = buf[p]!;
    if (key === KEY_OTHER) p = skipValue(buf, p, end);
    else if (key === KEY_PARAMS) {
      if (c === LBRACKET) p = scanParamsArray(buf, p, end, out);
      else if (c === LBRACE) p = skipValue(buf, p, end);
      else return -1;
      out.paramsStart = valueStart;
      out.paramsEnd = p;
    } else {
      sawEscape = false;
      p = skipScalar(buf, p, end);
      if (p < 0 || sawEscape) return -1;
      if (key === KEY_JSONRPC) {
        if (!(c === QUOTE && p - valueStart === 5 && buf[valueStart + 1] === TWO && buf[valueStart + 2] === DOT && buf[valueStart + 3] === ZERO)) return -1;
      } else if (key === KEY_METHOD) {
        if (c !== QUOTE) return -1;
        out.methodStart = valueStart + 1;
        out.methodEnd = p - 1;
      } else if (c === QUOTE) {
        out.idKind = 'string';
        out.idStart = valueStart + 1;
        out.idEnd = p - 1;
      } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
        const n = numberValue(buf, valueStart, p);
        if (!Number.isFinite(n)) return -1;
        out.idKind = 'number';
        out.idNumber = n;
        out.idStart = valueStart;
        out.idEnd = p;
      } else if (c === LOWER_N) {
        out.idKind = 'null';
        out.idStart = valueStart;
        out.idEnd = p;
      } else return -1;
    }
    if (p < 0) return -1;
  }
  if (p === -1) return -1;
  return (seen & KEY_JSONRPC) !== 0 && (seen & KEY_METHOD) !== 0 ? -p : -1;
}

/**
 * An array `params`, `p` at '[': its elements validated one by one (as skipValue would the
 * whole array) to count them and note where the last one starts. Returns the position after
 * ']', or -1.
 */
function scanParamsArray(buf: Buffer, p: number, end: number, out: RequestScan): number {
  p++;
  if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
  if (p >= end) return fail(R.TRUNCATED);
  let count = 0;
  let last = -1;
  if (buf[p] !== RBRACKET) {
    for (;;) {
      last = p;
      count++;
      p = skipValue(buf, p, end);
      if (p < 0) return -1;
      if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
      if (p >= end) return fail(R.TRUNCATED);
      const c = buf[p];
      if (c === RBRACKET) break;
      if (c !== COMMA) return fail(R.UNEXPECTED);
      p++;
      if (p < end && buf[p]! <= SPACE) p = skipWs(buf, p, end);
      if (p >= end) return fail(R.TRUNCATED);
    }
  }
  out.paramCount = count;
  out.lastParamStart = last;
  return p + 1;
}

/**
 * The fast path for a single request: bytes [start, end) checked as one JSON value without
 * building it (see RequestScan for what `ok` covers). Without `out` the answer is a
 * module-level object that the next call overwrites.
 */
export function scanRequest(buf: Buffer, start = 0, end = buf.length, out: RequestScan = REQUEST_SHARED): RequestScan {
  out.ok = false;
  out.idKind = 'none';
  out.idStart = out.idEnd = out.methodStart = out.methodEnd = out.paramsStart = out.paramsEnd = out.lastParamStart = -1;
  out.paramCount = 0;
  out.idNumber = NaN;
  let p = skipWs(buf, start, end);
  if (p >= end || buf[p] !== LBRACE) return out;
  attachView(buf, p, end);
  try {
    p = scanRequestObject(buf, p, end, out);
  } finally {
    detachView();
    trimStack();
  }
  out.ok = p >= 0 && skipWs(buf, p, end) === end;
  return out;
}

/** One element of a batch taken by `scanRequestBatch`: a plain request at [start, end). */
export interface BatchItemScan extends RequestScan {
  start: number;
  end: number;
}

/**
 * The fast path for a batch: a non-empty JSON array of at most `maxItems` elements, every one
 * a plain request as `scanRequest` defines it, and nothing but whitespace around. Anything
 * else (an empty or oversized batch, one element JSON.parse must judge) gives undefined: the
 * whole body then goes to JSON.parse, so an invalid element is answered as before.
 */
export function scanRequestBatch(buf: Buffer, maxItems: number): BatchItemScan[] | undefined {
  const end = buf.length;
  let p = skipWs(buf, 0, end);
  if (p >= end || buf[p] !== LBRACKET) return undefined;
  const items: BatchItemScan[] = [];
  attachView(buf, p, end);
  try {
    p = skipWs(buf, p + 1, end);
    for (;;) {
      if (p >= end || buf[p] !== LBRACE || items.length === maxItems) return undefined;
      const item: BatchItemScan = {
        ok: false,
        methodStart: -1,
        methodEnd: -1,
        idKind: 'none',
        idStart: -1,
        idEnd: -1,
        idNumber: NaN,
        paramsStart: -1,
        paramsEnd: -1,
        paramCount: 0,
        lastParamStart: -1,
        start: p,
        end: -1,
      };
      p = scanRequestObject(buf, p, end, item);
      if (p < 0) return undefined;
      item.ok = true;
      item.end = p;
      items.push(item);
      p = skipWs(buf, p, end);
      if (p >= end) return undefined;
      if (buf[p] === RBRACKET) break;
      if (buf[p] !== COMMA) return undefined;
      p = skipWs(buf, p + 1, end);
    }
  } finally {
    detachView();
    trimStack();
  }
  return skipWs(buf, p + 1, end) === end ? items : undefined;
}
