/**
 * Reading parts of a JSON text the scanners have already validated (a request by scanRequest,
 * an answer by scanResponse), straight from its bytes: where the k-th element of an array is,
 * where a member of an object is, where a value ends, and the hex quantity a string holds.
 *
 * These walkers do not validate: on bytes that are not valid JSON they return some position
 * within [start, end] (or -1) without throwing and without looping, but what they return then
 * means nothing. Iterative (no recursion whatever the nesting), allocation-free except where
 * noted (an escaped key is decoded to compare it).
 */
import type { Buffer } from 'node:buffer';

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/** Strings longer than this are searched for their closing quote natively (Buffer#indexOf): a call costs more than short strings do byte by byte. */
const NATIVE_SEARCH_AFTER = 48;

export function skipWhitespace(buf: Buffer, p: number, end: number): number {
  while (p < end) {
    const c = buf[p];
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
    p++;
  }
  return p;
}

/** A string token, `p` at its opening quote: the position after its closing quote. */
export function stringEnd(buf: Buffer, p: number, end: number): number {
  p++;
  const byteLimit = Math.min(end, p + NATIVE_SEARCH_AFTER);
  while (p < byteLimit) {
    const c = buf[p]!;
    if (c === QUOTE) return p + 1;
    p += c === BACKSLASH ? 2 : 1;
  }
  if (p >= end) return end;
  // A long string (eth_call data, transaction input): find quotes natively; a quote is the
  // closing one when the run of backslashes just before it is even (each pair is an escaped
  // backslash). The opening quote bounds the run from below.
  for (;;) {
    const q = buf.indexOf(QUOTE, p);
    if (q < 0 || q >= end) return end;
    let b = q - 1;
    while (buf[b] === BACKSLASH) b--;
    if (((q - 1 - b) & 1) === 0) return q + 1;
    p = q + 1;
  }
}

/** Byte classes for skipValue: 1 quote, 2 opening bracket, 3 closing bracket, 0 other. */
const CLASS = new Uint8Array(256);
CLASS[QUOTE] = 1;
CLASS[LBRACE] = 2;
CLASS[LBRACKET] = 2;
CLASS[RBRACE] = 3;
CLASS[RBRACKET] = 3;
/** Bytes that end a string's plain run: 1 quote, 2 backslash. */
const IN_STRING = new Uint8Array(256);
IN_STRING[QUOTE] = 1;
IN_STRING[BACKSLASH] = 2;

/** Any value, `p` at its first byte: the position after it. */
export function skipValue(buf: Buffer, p: number, end: number): number {
  const first = buf[p];
  if (first === QUOTE) return stringEnd(buf, p, end);
  if (first !== LBRACE && first !== LBRACKET) {
    // A number or a literal: it runs to the next delimiter.
    while (p < end) {
      const c = buf[p]!;
      if (c === COMMA || c === RBRACKET || c === RBRACE || c === SPACE || c === LF || c === CR || c === TAB) break;
      p++;
    }
    return p;
  }
  // Containers: only their depth matters, as the text is valid. Strings inside are skipped
  // inline (most are short: keys, addresses); a long one goes to stringEnd's native search.
  let depth = 0;
  while (p < end) {
    const kind = CLASS[buf[p++]!]!;
    if (kind === 0) continue;
    if (kind === 1) {
      const stop = p + NATIVE_SEARCH_AFTER < end ? p + NATIVE_SEARCH_AFTER : end;
      let s = 0;
      while (p < stop && (s = IN_STRING[buf[p++]!]!) !== 1) if (s === 2) p++;
      if (s !== 1 && p < end) p = stringEnd(buf, p - 1, end);
    } else if (kind === 2) depth++;
    else if (--depth === 0) return p;
  }
  return end;
}

/** The first byte of element `k` (0-based) of the array whose '[' is at `p`, or -1 when it has no such element (or `p` is not at '['). */
export function arrayElementStart(buf: Buffer, p: number, end: number, k: number): number {
  if (p < 0 || p >= end || buf[p] !== LBRACKET) return -1;
  p = skipWhitespace(buf, p + 1, end);
  if (p >= end || buf[p] === RBRACKET) return -1;
  for (let i = 0; i < k; i++) {
    p = skipWhitespace(buf, skipValue(buf, p, end), end);
    if (p >= end || buf[p] !== COMMA) return -1;
    p = skipWhitespace(buf, p + 1, end);
  }
  return p < end ? p : -1;
}

/**
 * The first byte of the value of the first member named `key` (ASCII) of the object whose '{'
 * is at `p`, looking at its own members only (never inside nested values), or -1.
 */
export function objectMemberStart(buf: Buffer, p: number, end: number, key: string): number {
  if (p < 0 || p >= end || buf[p] !== LBRACE) return -1;
  p = skipWhitespace(buf, p + 1, end);
  while (p < end && buf[p] === QUOTE) {
    const keyEnd = stringEnd(buf, p, end);
    const matches = keyEquals(buf, p, keyEnd, key);
    p = skipWhitespace(buf, keyEnd, end);
    if (p >= end || buf[p] !== COLON) return -1;
    p = skipWhitespace(buf, p + 1, end);
    if (p >= end) return -1;
    if (matches) return p;
    p = skipWhitespace(buf, skipValue(buf, p, end), end);
    if (p >= end || buf[p] !== COMMA) return -1;
    p = skipWhitespace(buf, p + 1, end);
  }
  return -1;
}

/** The string token [a, b) (quotes included) decodes to the ASCII `key`. */
function keyEquals(buf: Buffer, a: number, b: number, key: string): boolean {
  const n = key.length;
  const length = b - a - 2;
  // Each character of the decoded key takes 1 to 6 bytes ("\uXXXX").
  if (length < n || length > 6 * n) return false;
  let i = 0;
  for (let p = a + 1; p < b - 1; p++, i++) {
    const c = buf[p];
    if (c === BACKSLASH) return decodedKeyEquals(buf, a, b, key);
    if (i >= n || c !== key.charCodeAt(i)) return false;
  }
  return i === n;
}

function decodedKeyEquals(buf: Buffer, a: number, b: number, key: string): boolean {
  try {
    return JSON.parse(buf.toString('utf8', a, b)) === key;
  } catch {
    return false;
  }
}

/** The block tags by length (all lengths differ): parameters that come back as these constants cost no decoding. */
const TAGS_BY_LENGTH: (string | undefined)[] = [];
for (const tag of ['safe', 'latest', 'pending', 'earliest', 'finalized']) TAGS_BY_LENGTH[tag.length] = tag;

/**
 * The value of the string token [a, b) (quotes included) when it has no backslash escapes (its
 * bytes are then its UTF-8 value), else undefined. A block tag comes back as the constant string.
 */
export function plainStringValue(buf: Buffer, a: number, b: number): string | undefined {
  if (b - a < 2 || buf[a] !== QUOTE || buf[b - 1] !== QUOTE) return undefined;
  let ascii = true;
  for (let p = a + 1; p < b - 1; p++) {
    const c = buf[p]!;
    if (c === BACKSLASH) return undefined;
    if (c >= 0x80) ascii = false;
  }
  if (!ascii) return buf.toString('utf8', a + 1, b - 1);
  const tag = TAGS_BY_LENGTH[b - a - 2];
  if (tag !== undefined) {
    let i = 0;
    while (i < tag.length && buf[a + 1 + i] === tag.charCodeAt(i)) i++;
    if (i === tag.length) return tag;
  }
  return buf.toString('latin1', a + 1, b - 1);
}

/** A hexadecimal quantity of more significant digits than this (more than 64 bits) is not taken as a number. */
const MAX_QUANTITY_DIGITS = 16;
/** Nor one longer than this in all (a 32-byte word with its prefix): bounds the work on a long run of leading zeros. */
const MAX_QUANTITY_LENGTH = 66;

/** Value of a hex digit + 1, 0 for other code units. */
const HEX = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i + 1;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 11 + i;
  HEX[0x61 + i] = 11 + i;
}

/**
 * A hex quantity "0x…" (or "0X…"), leading zeros accepted as anvil accepts them (geth refuses
 * them: either way the operator judges the request, this only tells which block it names): its
 * value, Number.MAX_SAFE_INTEGER when above it (up to 64 bits), or -1 when `s` is not one
 * ("0x", non-hex digits, more than 64 bits, longer than 66 characters).
 */
export function hexQuantity(s: string): number {
  const n = s.length;
  if (n < 3 || n > MAX_QUANTITY_LENGTH || s.charCodeAt(0) !== 0x30 || (s.charCodeAt(1) | 0x20) !== 0x78) return -1;
  let value = 0;
  let significant = 0;
  for (let i = 2; i < n; i++) {
    const c = s.charCodeAt(i);
    const d = c < 128 ? HEX[c]! : 0;
    if (d === 0) return -1;
    if (significant !== 0 || d !== 1) significant++;
    value = value * 16 + (d - 1);
  }
  if (significant > MAX_QUANTITY_DIGITS) return -1;
  return value > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : value;
}

/** hexQuantity of the string token [a, b) (quotes included, no escapes expected), read from the bytes. */
export function hexQuantityAt(buf: Buffer, a: number, b: number): number {
  const n = b - a - 2;
  if (n < 3 || n > MAX_QUANTITY_LENGTH || buf[a] !== QUOTE || buf[b - 1] !== QUOTE || buf[a + 1] !== 0x30 || (buf[a + 2]! | 0x20) !== 0x78) return -1;
  let value = 0;
  let significant = 0;
  for (let i = a + 3; i < b - 1; i++) {
    const c = buf[i]!;
    const d = c < 128 ? HEX[c]! : 0;
    if (d === 0) return -1;
    if (significant !== 0 || d !== 1) significant++;
    value = value * 16 + (d - 1);
  }
  if (significant > MAX_QUANTITY_DIGITS) return -1;
  return value > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : value;
}
