/**
 * Writing one HTTP answer through uWS: corked, status and fixed headers in few calls, the body
 * handed over whole. uWS writes what the socket takes and copies the rest into its own buffer,
 * which drains as the client reads: the caller's buffer is free once `writeReply` returns (an
 * operator's large reply is used again for the next one: body-pool.ts).
 */
// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';
import type { HttpResponse, RecognizedString } from 'uWebSockets.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

/** Status lines as bytes: uWS takes a Buffer as is, where a string is converted on every call. */
const STATUS_LINES = new Map(Object.entries(STATUS_TEXT).map(([status, text]) => [Number(status), Buffer.from(text, 'latin1')]));

export function statusLine(status: number): RecognizedString {
  return STATUS_LINES.get(status) ?? `${status} Status`;
}

/** Per-exchange state shared by the abort handler and the body reader. */
export interface Exchange {
  aborted: boolean;
}

/** Names and values; pass Buffers for fixed ones (see STATUS_LINES), or join them (joinHeaders). */
export type Headers = ReadonlyArray<readonly [RecognizedString, RecognizedString]>;

/**
 * Fixed headers as one name and value, for one `writeHeader` call per answer instead of one
 * per header: uWS writes `name: value\r\n` as given, so the other lines ride in the value.
 * Refuses a CR or LF inside a name or value, which would split a header in two.
 */
export function joinHeaders(headers: ReadonlyArray<readonly [string, string]>): Headers {
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${JSON.stringify(name)} holds a line break`);
  }
  if (headers.length === 0) return [];
  const [first, ...rest] = headers;
  const value = [first![1], ...rest.map(([name, v]) => `${name}: ${v}`)].join('\r\n');
  return [[Buffer.from(first![0], 'latin1'), Buffer.from(value, 'latin1')]];
}

/**
 * Sends status, headers and body. Must be called while `res` is valid (not aborted).
 * `closeConnection` ends keep-alive, for answers sent before the request body was read.
 */
export function writeReply(
  res: HttpResponse,
  status: number,
  headers: Headers,
  body: string | Buffer | null,
  closeConnection = false,
): void {
  res.cork(() => {
    // uWS writes "200 OK" itself when no status was written.
    if (status !== 200) res.writeStatus(statusLine(status));
    for (let i = 0; i < headers.length; i++) res.writeHeader(headers[i]![0], headers[i]![1]);
    if (body === null) {
      res.endWithoutBody(0, closeConnection);
      return;
    }
    res.end(body, closeConnection);
  });
}

/** Bodies from this size on are written as the socket takes them, what it does not take counted in a memory budget. */
export const STREAMED_MIN_BYTES = 64 * 1024;

/** What a large answer still to be written holds of the budget, released when it is written or the client goes away. */
export interface PendingWrite {
  /** Gives the budget back what is not written yet (the client went away). Idempotent. */
  release(): void;
}

/**
 * Sends status, headers and a large body with `tryEnd`: what the socket takes now goes at
 * once; the rest is copied (the caller's buffer may be used again once this returns), taken
 * from `budget` and written as the socket drains (`onWritable`), so a client that reads slowly
 * holds memory the budget sees, instead of uWS buffering it unseen. Returns the pending write,
 * or undefined when everything went at once. Must be called while `res` is valid.
 */
export function writeStreamedReply(
  res: HttpResponse,
  status: number,
  headers: Headers,
  body: Buffer,
  budget: { take(bytes: number): void; give(bytes: number): void },
): PendingWrite | undefined {
  const total = body.length;
  let rest: Buffer | undefined;
  // The body offset of rest[0].
  let restAt = 0;
  res.cork(() => {
    if (status !== 200) res.writeStatus(statusLine(status));
    for (let i = 0; i < headers.length; i++) res.writeHeader(headers[i]![0], headers[i]![1]);
    const [ok, done] = res.tryEnd(body, total);
    if (ok || done) return;
    restAt = res.getWriteOffset();
    rest = Buffer.from(body.subarray(restAt));
  });
  if (rest === undefined) return undefined;
  let held = rest.length;
  budget.take(held);
  const pending: PendingWrite = {
    release() {
      budget.give(held);
      held = 0;
      rest = undefined;
    },
  };
  res.onWritable((offset) => {
    if (rest === undefined) return true;
    const [ok, done] = res.tryEnd(rest.subarray(offset - restAt), total);
    if (done) pending.release();
    return ok;
  });
  return pending;
}

/** Where readBody hands the body, or says it is too large. */
export interface BodySink {
  onBody(body: Buffer): void;
  onTooLarge(): void;
}

/**
 * Reads the request body, copying each chunk once (uWS neuters it on return) and joining
 * once at the end. Calls `onTooLarge` as soon as the running total passes `maxBytes`.
 */
export function readBody(res: HttpResponse, exchange: Exchange, maxBytes: number, sink: BodySink): void {
  let chunks: Buffer[] | undefined;
  let size = 0;
  let rejected = false;
  res.onData((chunk, isLast) => {
    if (rejected || exchange.aborted) return;
    size += chunk.byteLength;
    if (size > maxBytes) {
      rejected = true;
      sink.onTooLarge();
      return;
    }
    const copy = Buffer.allocUnsafe(chunk.byteLength);
    copy.set(new Uint8Array(chunk));
    if (!isLast) {
      (chunks ??= []).push(copy);
      return;
    }
    if (chunks === undefined) sink.onBody(copy);
    else {
      chunks.push(copy);
      sink.onBody(Buffer.concat(chunks, size));
    }
  });
}
