/**
 * An incremental HTTP/1.1 response parser for the upstream client: bytes in (from a read
 * buffer that is reused by the next read), whole responses out (status, body, whether the
 * connection may carry another request). It reads only what a JSON-RPC proxy needs from the
 * head: the status, Content-Length, Transfer-Encoding, Connection and Keep-Alive.
 *
 * Strict where leniency lets two parties disagree on where a response ends (RFC 9112 §6.3,
 * §11.2): Content-Length together with Transfer-Encoding, differing Content-Lengths, codings
 * other than `chunked`, bare LF line ends and obs-fold are errors, and an error ends the
 * connection. Bodies are copied out of the read buffer once: into a buffer of the declared
 * size when there is a Content-Length, else into a list of blocks joined at the end. Large
 * bodies and blocks come from body-pool.ts (blocks go back once joined).
 */

// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';
import { giveBody, takeBody } from './body-pool.js';
import type { MemoryBudget } from './memory-budget.js';

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const COLON = 58;
const SEMICOLON = 59;

/** Why a byte stream is not a valid response; the connection carrying it is dropped. */
export class ResponseParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponseParseError';
  }
}

export interface ParsedResponse {
  readonly status: number;
  readonly body: Buffer;
  /** False when the server asked to close, spoke HTTP/1.0, or delimited the body by closing. */
  readonly keepAlive: boolean;
  /** The server's `Keep-Alive: timeout=N` in ms, when it sent one. */
  readonly keepAliveTimeoutMs: number | undefined;
}

export interface ResponseParserLimits {
  /** Status line and header fields together. */
  readonly maxHeadBytes: number;
  readonly maxBodyBytes: number;
  /** Where a body's bytes are taken from as it is buffered, and given back once it is handed on. */
  readonly budget?: MemoryBudget;
}

/** A body the gateway has no room for: not the operator's fault; the connection is dropped. */
export class BudgetExceededError extends Error {
  constructor(readonly bytes: number) {
    super(`no room for a ${bytes}-byte answer within the memory budget`);
    this.name = 'BudgetExceededError';
  }
}

const enum State {
  Head,
  FixedBody,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Failed,
}

const EMPTY = Buffer.alloc(0);
/** Smallest block a body of unknown length grows by, after its first piece. */
const BODY_BLOCK_BYTES = 16 * 1024;

/**
 * A plain Uint8Array over the same bytes as `buf`: V8 reads its elements faster than a
 * Buffer's (measured: a byte loop over a 140-byte head, 128 vs 193 ns). The connection passes
 * the same read buffer every time, so its view is made once.
 */
let viewedBuffer: Buffer | undefined;
let view: Uint8Array = new Uint8Array(0);
function viewOf(buf: Buffer): Uint8Array {
  if (buf !== viewedBuffer) {
    viewedBuffer = buf;
    view = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  }
  return view;
}

/**
 * A DataView over the same bytes as `data`, to read them four at a time. Made once per view,
 * like the view itself: parseHead gets the read buffer's, except for a head split across reads.
 */
let dataViewed: Uint8Array | undefined;
let dataView: DataView = new DataView(new ArrayBuffer(0));
function wordsOf(data: Uint8Array): DataView {
  if (data !== dataViewed) {
    dataViewed = data;
    dataView = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  return dataView;
}

interface Head {
  status: number;
  contentLength: number;
  chunked: boolean;
  close: boolean;
  keepAliveTimeoutMs: number | undefined;
}

export class ResponseParser {
  private state = State.Head;
  /** A head or chunk-size line split across reads, kept until its end arrives. */
  private partial: Buffer = EMPTY;
  private head: Head | undefined;
  private fixed: Buffer = EMPTY;
  private filled = 0;
  private chunks: Buffer[] = [];
  /** Bytes used of the last of `chunks` (the others are full). */
  private lastFill = 0;
  private size = 0;
  private chunkLeft = 0;
  /** Set by parseHead: the index just past the head's empty line. */
  private headEnd = 0;
  /** Bytes of the body being read taken from the budget. */
  private reserved = 0;

  constructor(
    private readonly limits: ResponseParserLimits,
    /** Called once per complete final response, in order. */
    private readonly onResponse: (response: ParsedResponse) => void,
  ) {}

  /** True between responses: nothing of the next one has arrived yet. */
  get idle(): boolean {
    return this.state === State.Head && this.partial.length === 0;
  }

  /**
   * Consumes `buf[0, length)`. Throws ResponseParseError on a malformed stream; after that
   * the parser refuses everything. `buf` may be overwritten once this returns.
   */
  execute(buf: Buffer, length: number): void {
    let pos = 0;
    while (pos < length) {
      switch (this.state) {
        case State.Head:
          pos = this.readHead(buf, pos, length);
          break;
        case State.FixedBody: {
          const n = Math.min(length - pos, this.fixed.length - this.filled);
          this.fixed.set(viewOf(buf).subarray(pos, pos + n), this.filled);
          this.filled += n;
          pos += n;
          if (this.filled === this.fixed.length) this.complete(this.fixed);
          break;
        }
        case State.ChunkSize:
          pos = this.readChunkSize(buf, pos, length);
          break;
        case State.ChunkData: {
          const n = Math.min(length - pos, this.chunkLeft);
          this.keep(buf, pos, pos + n);
          this.chunkLeft -= n;
          pos += n;
          if (this.chunkLeft === 0) this.state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd:
          pos = this.readChunkDataEnd(buf, pos, length);
          break;
        case State.Trailers:
          pos = this.readTrailers(buf, pos, length);
          break;
        case State.UntilClose:
          this.keep(buf, pos, length);
          pos = length;
          break;
        case State.Failed:
          throw new ResponseParseError('parser already failed');
      }
    }
  }

  /**
   * The peer closed its side. Completes a body delimited by the close; anything else in
   * progress is a truncated response. Returns whether a response was completed.
   */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.complete(this.joined());
      return true;
    }
    if (!this.idle) this.fail('connection closed in the middle of a response');
    return false;
  }

  private readHead(buf: Buffer, pos: number, length: number): number {
    let data = buf;
    let start = pos;
    let end = length;
    if (this.partial.length > 0) {
      // Only a head split across reads is joined; the common case parses in place.
      data = Buffer.concat([this.partial, buf.subarray(pos, length)]);
      start = 0;
      end = data.length;
    }
    // The read buffer is reused: bytes past `end` are stale, so the head must lie wholly before it.
    const head = this.parseHead(viewOf(data), start, end);
    if (head === undefined) {
      if (end - start > this.limits.maxHeadBytes) this.fail(`response head over ${this.limits.maxHeadBytes} bytes`);
      // A non-HTTP peer (a banner, a TLS alert) never sends the blank line waited for here:
      // refuse it now rather than at the attempt's timeout.
      if (!couldStartStatusLine(data, start, end)) this.fail('not an HTTP/1.x status line');
      this.partial = Buffer.from(data.subarray(start, end));
      return length;
    }
    const headEnd = this.headEnd;
    if (headEnd - start > this.limits.maxHeadBytes) this.fail(`response head over ${this.limits.maxHeadBytes} bytes`);
    const consumedFromBuf = this.partial.length > 0 ? headEnd - this.partial.length : headEnd - pos;
    this.partial = EMPTY;
    const next = pos + consumedFromBuf;
    if (head.status < 200) {
      // 1xx interim answers (100 Continue, 103 Early Hints) precede the real one; 101 would switch protocols.
      if (head.status === 101) this.fail('unexpected 101 Switching Protocols');
      // llhttp (Node) knows only 100-103 as bodiless and reads a body after 104-199 when one is
      // framed; RFC 9110 forbids Content-Length on a 1xx: refused rather than framed either way.
      if (head.status > 103 && (head.chunked || head.contentLength !== -1)) this.fail('framing headers on an interim answer');
      return next;
    }
    this.head = head;
    if (head.status === 204 || head.status === 304) this.complete(EMPTY);
    else if (head.chunked) {
      this.state = State.ChunkSize;
      this.chunks = [];
      this.size = 0;
    } else if (head.contentLength >= 0) {
      if (head.contentLength > this.limits.maxBodyBytes) this.fail(`response of ${head.contentLength} bytes exceeds the limit`);
      if (head.contentLength === 0) this.complete(EMPTY);
      else {
        this.reserve(head.contentLength);
        this.fixed = takeBody(head.contentLength);
        this.filled = 0;
        this.state = State.FixedBody;
      }
    } else {
      head.close = true;
      this.chunks = [];
      this.size = 0;
      this.state = State.UntilClose;
    }
    return next;
  }

  /**
   * Parses the head at `data[start, ...)`, the status line and header lines, each ending in
   * CRLF, up to the empty line, and sets `headEnd` past it. Returns undefined when `data[start,
   * end)` holds only part of a head (nothing is judged that has not fully arrived); throws on a
   * malformed line. One pass finds the lines and the head's end together.
   */
  private parseHead(data: Uint8Array, start: number, end: number): Head | undefined {
    // "HTTP/1.1 200 ..." : version, space, three digits, then a space or the line end.
    if (end - start < 13) return undefined;
    if (
      data[start] !== 72 || data[start + 1] !== 84 || data[start + 2] !== 84 || data[start + 3] !== 80 ||
      data[start + 4] !== 47 || data[start + 5] !== 49 || data[start + 6] !== 46 ||
      (data[start + 7] !== 49 && data[start + 7] !== 48) || data[start + 8] !== SPACE
    ) {
      this.fail('not an HTTP/1.x status line');
    }
    const http10 = data[start + 7] === 48;
    const status = digit(data[start + 9]!) * 100 + digit(data[start + 10]!) * 10 + digit(data[start + 11]!);
    if (!(status >= 100 && status <= 999) || (data[start + 12] !== SPACE && data[start + 12] !== CR)) this.fail('bad status code');
    const words = wordsOf(data);
    let line = scanLine(data, words, start + 12, end, CR);
    if (line < end && data[line] === LF) this.fail('line not ended by CRLF');
    if (line + 1 >= end) return undefined;
    if (data[line + 1] !== LF) this.fail('line not ended by CRLF');
    const head: Head = { status, contentLength: -1, chunked: false, close: false, keepAliveTimeoutMs: undefined };
    let sawTransferEncoding = false;
    let keepAliveToken = false;
    let closeToken = false;
    for (;;) {
      const lineStart = line + 2;
      if (lineStart + 1 >= end) return undefined;
      if (data[lineStart] === CR) {
        if (data[lineStart + 1] !== LF) this.fail('line not ended by CRLF');
        this.headEnd = lineStart + 2;
        break;
      }
      // One pass per line: find its first colon, then its CR, refusing bare LFs on the way.
      let colon = -1;
      let i = scanLine(data, words, lineStart, end, COLON);
      if (i < end && data[i] === COLON) {
        colon = i;
        i = scanLine(data, words, i + 1, end, CR);
      }
      if (i < end && data[i] === LF) this.fail('line not ended by CRLF');
      if (i + 1 >= end) return undefined;
      if (data[i + 1] !== LF) this.fail('line not ended by CRLF');
      line = i;
      const first = data[lineStart]!;
      if (first === SPACE || first === TAB) this.fail('obsolete line folding');
      if (colon === -1 || colon === lineStart) this.fail('malformed header line');
      if (data[colon - 1] === SPACE || data[colon - 1] === TAB) this.fail('whitespace before a header colon');
      let vStart = colon + 1;
      let vEnd = line;
      while (vStart < vEnd && (data[vStart] === SPACE || data[vStart] === TAB)) vStart++;
      while (vEnd > vStart && (data[vEnd - 1] === SPACE || data[vEnd - 1] === TAB)) vEnd--;
      const nameLength = colon - lineStart;
      if (nameLength === 14 && nameIs(words, lineStart, CONTENT_LENGTH)) {
        const value = this.parseContentLength(data, vStart, vEnd);
        if (head.contentLength !== -1 && head.contentLength !== value) this.fail('conflicting Content-Length values');
        head.contentLength = value;
      } else if (nameLength === 17 && nameIs(words, lineStart, TRANSFER_ENCODING)) {
        if (sawTransferEncoding) this.fail('more than one Transfer-Encoding field');
        sawTransferEncoding = true;
        // llhttp (Node) reads "chunked<TAB>" as another coding and the body as delimited by
        // the close: refused, so that no two parsers frame such a response differently.
        if (tabAfter(data, vEnd, line)) this.fail('tab after a Transfer-Encoding value');
        if (vEnd - vStart !== 7 || !nameIs(words, vStart, CHUNKED)) this.fail('unsupported Transfer-Encoding');
        head.chunked = true;
      } else if (nameLength === 10 && nameIs(words, lineStart, CONNECTION)) {
        // Node and Go send exactly "keep-alive" or "close"; other lists take the slow path.
        if (vEnd - vStart === 10 && nameIs(words, vStart, KEEP_ALIVE)) keepAliveToken = true;
        else if (vEnd - vStart === 5 && nameIs(words, vStart, CLOSE)) closeToken = true;
        else {
          for (const token of Buffer.from(data.buffer, data.byteOffset + vStart, vEnd - vStart).toString('latin1').toLowerCase().split(',')) {
            const t = token.trim();
            if (t === 'close') closeToken = true;
            else if (t === 'keep-alive') keepAliveToken = true;
          }
        }
      } else if (nameLength === 10 && nameIs(words, lineStart, KEEP_ALIVE)) {
        head.keepAliveTimeoutMs = keepAliveTimeout(data, words, vStart, vEnd);
      }
    }
    head.close = closeToken || (http10 && !keepAliveToken);
    if (head.chunked && head.contentLength !== -1) this.fail('both Content-Length and Transfer-Encoding');
    return head;
  }

  private parseContentLength(data: Uint8Array, start: number, end: number): number {
    if (start === end || end - start > 15) this.fail('bad Content-Length');
    let value = 0;
    for (let i = start; i < end; i++) {
      const d = data[i]! - 48;
      if (d < 0 || d > 9) this.fail('bad Content-Length');
      value = value * 10 + d;
    }
    return value;
  }

  private readChunkSize(buf: Buffer, pos: number, length: number): number {
    const lf = buf.indexOf(LF, pos);
    if (lf === -1 || lf >= length) {
      this.partial = Buffer.concat([this.partial, buf.subarray(pos, length)]);
      if (this.partial.length > 1024) this.fail('chunk size line too long');
      return length;
    }
    // The same limit whether or not the line was split across reads.
    if (this.partial.length + lf - pos > 1024) this.fail('chunk size line too long');
    let line = buf.subarray(pos, lf + 1);
    if (this.partial.length > 0) {
      line = Buffer.concat([this.partial, line]);
      this.partial = EMPTY;
    }
    const end = line.length - 1; // at the LF
    // A CR that does not end the line (in an extension, say) is refused, as in the head.
    if (end < 1 || line.indexOf(CR) !== end - 1) this.fail('chunk size line not ended by CRLF');
    let size = 0;
    let i = 0;
    for (; i < end - 1; i++) {
      const h = hexDigit(line[i]!);
      if (h < 0) break;
      size = size * 16 + h;
      if (size > this.limits.maxBodyBytes) this.fail(`response exceeds ${this.limits.maxBodyBytes} bytes`);
    }
    if (i === 0) this.fail('bad chunk size');
    // Chunk extensions (";name=value", after optional whitespace) carry nothing we use; anything
    // else after the size is refused (llhttp refuses it too: "1 x" is not a size to guess at).
    while (i < end - 1 && (line[i] === SPACE || line[i] === TAB)) i++;
    if (i < end - 1 && line[i] !== SEMICOLON) this.fail('bad chunk size');
    if (size === 0) this.state = State.Trailers;
    else {
      if (this.size + size > this.limits.maxBodyBytes) this.fail(`response exceeds ${this.limits.maxBodyBytes} bytes`);
      this.chunkLeft = size;
      this.state = State.ChunkData;
    }
    return lf + 1;
  }

  private readChunkDataEnd(buf: Buffer, pos: number, length: number): number {
    // The CRLF after a chunk's data may itself be split across reads.
    const have = this.partial.length;
    const need = 2 - have;
    const take = Math.min(need, length - pos);
    const bytes = have === 0 ? buf.subarray(pos, pos + take) : Buffer.concat([this.partial, buf.subarray(pos, pos + take)]);
    if (bytes[0] !== CR || (bytes.length > 1 && bytes[1] !== LF)) this.fail('chunk data not followed by CRLF');
    if (bytes.length < 2) {
      this.partial = Buffer.from(bytes);
      return pos + take;
    }
    this.partial = EMPTY;
    this.state = State.ChunkSize;
    return pos + take;
  }

  private readTrailers(buf: Buffer, pos: number, length: number): number {
    // Trailer fields are read and dropped; an empty line ends the message.
    const lf = buf.indexOf(LF, pos);
    if (lf === -1 || lf >= length) {
      this.partial = Buffer.concat([this.partial, buf.subarray(pos, length)]);
      if (this.partial.length > this.limits.maxHeadBytes) this.fail('trailers too large');
      return length;
    }
    if (this.partial.length + lf - pos > this.limits.maxHeadBytes) this.fail('trailers too large');
    const line = this.partial.length > 0 ? Buffer.concat([this.partial, buf.subarray(pos, lf + 1)]) : buf.subarray(pos, lf + 1);
    this.partial = EMPTY;
    // A CR that does not end the line is refused, as in the head: a parser taking it for a line
    // end would find the empty line that ends the message elsewhere.
    if (line.length < 2 || line.indexOf(CR) !== line.length - 2) this.fail('trailer line not ended by CRLF');
    if (line.length === 2) this.complete(this.joined());
    // A field line, as in the head: a name, then a colon; no obs-fold.
    else if (line.indexOf(COLON) <= 0 || line[0] === SPACE || line[0] === TAB) this.fail('malformed trailer line');
    return lf + 1;
  }

  private keep(buf: Buffer, start: number, end: number): void {
    if (end === start) return;
    this.size += end - start;
    if (this.size > this.limits.maxBodyBytes) this.fail(`response exceeds ${this.limits.maxBodyBytes} bytes`);
    this.reserve(end - start);
    // A buffer per piece would let a body of 1-byte chunks cost ~100 bytes of heap per byte:
    // pieces after the first are packed into blocks of at least BODY_BLOCK_BYTES.
    const last = this.chunks[this.chunks.length - 1];
    if (last !== undefined && this.lastFill < last.length) {
      const n = Math.min(end - start, last.length - this.lastFill);
      buf.copy(last, this.lastFill, start, start + n);
      this.lastFill += n;
      start += n;
      if (start === end) return;
    }
    const block = takeBody(last === undefined ? end - start : Math.max(BODY_BLOCK_BYTES, end - start));
    buf.copy(block, 0, start, end);
    this.chunks.push(block);
    this.lastFill = end - start;
  }

  /** Takes `bytes` more of the body from the budget; throws BudgetExceededError when they do not fit. */
  private reserve(bytes: number): void {
    const budget = this.limits.budget;
    if (budget === undefined) return;
    if (!budget.tryTake(bytes)) {
      this.state = State.Failed;
      this.chunks = [];
      this.release();
      throw new BudgetExceededError(bytes);
    }
    this.reserved += bytes;
  }

  /** Gives the budget back what the body being read (or just handed on) took. Idempotent. */
  release(): void {
    if (this.reserved === 0) return;
    this.limits.budget!.give(this.reserved);
    this.reserved = 0;
  }

  private joined(): Buffer {
    const chunks = this.chunks;
    this.chunks = [];
    if (chunks.length === 1) return chunks[0]!;
    const body = takeBody(this.size);
    let at = 0;
    for (const chunk of chunks) {
      // The last block is filled only in part.
      at += chunk.copy(body, at, 0, Math.min(chunk.length, this.size - at));
      giveBody(chunk);
    }
    return body;
  }

  private complete(body: Buffer): void {
    const head = this.head!;
    this.head = undefined;
    this.fixed = EMPTY;
    this.state = State.Head;
    try {
      this.onResponse({ status: head.status, body, keepAlive: !head.close, keepAliveTimeoutMs: head.keepAliveTimeoutMs });
    } finally {
      // Handed on: what the receiver keeps of it is no longer this parser's to count.
      this.release();
    }
  }

  private fail(message: string): never {
    this.state = State.Failed;
    this.partial = EMPTY;
    this.chunks = [];
    this.release();
    throw new ResponseParseError(message);
  }
}

/**
 * The index of the first CR, LF or `stop` byte in `data[from, end)`, or `end` when there is
 * none; `words` views the same bytes. A byte loop costs ~1.2 ns a byte, most of a head's parse
 * time: this reads four bytes at a time, up to the last whole word before `end` (past it lie
 * stale bytes of the reused read buffer), and byte by byte only the up to three after it.
 */
function scanLine(data: Uint8Array, words: DataView, from: number, end: number, stop: number): number {
  const stops = stop * 0x01010101;
  let i = from;
  for (; i + 4 <= end; i += 4) {
    const word = words.getUint32(i, true);
    // XOR turns each byte equal to the one sought into a zero byte. The word is little-endian:
    // its lowest flag marks the first of the three in memory, 8 zero bits below it per byte.
    const flags = zeroBytes(word ^ 0x0d0d0d0d) | zeroBytes(word ^ 0x0a0a0a0a) | zeroBytes(word ^ stops);
    if (flags !== 0) return i + ((31 - Math.clz32(flags & -flags)) >> 3);
  }
  for (; i < end; i++) {
    const b = data[i]!;
    if (b === CR || b === LF || b === stop) return i;
  }
  return end;
}

/**
 * Flags (sets the top bit of) every zero byte of the word `x` and no byte below the first one:
 * zero exactly when `x` has none, and the lowest flag marks the first. Below the first zero byte
 * nothing borrows, so `x - 0x01010101` sets a top bit there only in bytes of 0x81 and above,
 * which `& ~x` clears; a zero byte becomes 0xff (or 0xfe) and keeps it. Above the first zero
 * byte, its borrow may also flag a byte of 0x01.
 */
function zeroBytes(x: number): number {
  return (x - 0x01010101) & ~x & 0x80808080;
}

/** `timeout=N` (seconds) from a Keep-Alive field value such as "timeout=5, max=1000", in ms. */
function keepAliveTimeout(data: Uint8Array, words: DataView, start: number, end: number): number | undefined {
  let i = start;
  while (i < end) {
    while (i < end && (data[i] === SPACE || data[i] === TAB || data[i] === 44)) i++;
    if (end - i > 8 && nameIs(words, i, TIMEOUT)) {
      let seconds = 0;
      let j = i + 8;
      for (; j < end && j - i < 16; j++) {
        const d = data[j]! - 48;
        if (d < 0 || d > 9) break;
        seconds = seconds * 10 + d;
      }
      return j > i + 8 ? seconds * 1000 : undefined;
    }
    while (i < end && data[i] !== 44) i++;
  }
  return undefined;
}

const STATUS_LINE_START = Buffer.from('HTTP/1.');

/** Whether `data[start, end)`, a head still arriving, may yet become "HTTP/1.x ...". */
function couldStartStatusLine(data: Buffer, start: number, end: number): boolean {
  const n = Math.min(end - start, STATUS_LINE_START.length);
  for (let i = 0; i < n; i++) {
    if (data[start + i] !== STATUS_LINE_START[i]) return false;
  }
  return true;
}

/** A tab in the whitespace data[from, to) that ends a field value. */
function tabAfter(data: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (data[i] === TAB) return true;
  return false;
}

function digit(byte: number): number {
  const d = byte - 48;
  return d >= 0 && d <= 9 ? d : NaN;
}

function hexDigit(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * A lowercase ASCII name of four bytes or more as the little-endian words at its offsets 0, 4,
 * 8, ... and, last, at its final four bytes (overlapping the word before when the length is not
 * a multiple of four): matched four bytes at a time, never past its end. Byte by byte, matching
 * the framing headers' names and values was about a quarter of a typical head's parse time.
 */
interface Name {
  readonly length: number;
  readonly words: Int32Array;
}

function lowerName(lowercase: string): Name {
  const bytes = Buffer.from(lowercase, 'latin1');
  const words: number[] = [];
  for (let at = 0; at + 4 < bytes.length; at += 4) words.push(bytes.readInt32LE(at));
  words.push(bytes.readInt32LE(bytes.length - 4));
  return { length: bytes.length, words: Int32Array.from(words) };
}

const CONTENT_LENGTH = lowerName('content-length');
const TRANSFER_ENCODING = lowerName('transfer-encoding');
const CONNECTION = lowerName('connection');
const KEEP_ALIVE = lowerName('keep-alive');
const CLOSE = lowerName('close');
const CHUNKED = lowerName('chunked');
const TIMEOUT = lowerName('timeout=');

/**
 * Case-insensitive match of the bytes at `at`, which `words` views, against `name`: every byte
 * ORed with 0x20 (which lowercases ASCII letters and leaves '-' and '=' as they are) must equal
 * the name's. The caller has checked that `name.length` bytes at `at` are before `end`: the
 * view goes on over stale bytes.
 */
function nameIs(words: DataView, at: number, name: Name): boolean {
  const expected = name.words;
  const last = expected.length - 1;
  for (let k = 0; k < last; k++) {
    if ((words.getInt32(at + 4 * k, true) | 0x20202020) !== expected[k]) return false;
  }
  return (words.getInt32(at + name.length - 4, true) | 0x20202020) === expected[last];
}
