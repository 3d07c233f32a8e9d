/**
 * JSON-RPC 2.0 request parsing and validation, exactly as the specification says:
 * https://www.jsonrpc.org/specification (sections 4-6).
 *
 * The common single request, and a batch of such requests, is checked straight from its
 * bytes (`scanRequest`, `scanRequestBatch`: the whole body validated as JSON, the envelopes
 * read, nothing built) and forwarded as bytes; the parsed form is built only if something
 * asks for it. Anything else, invalid requests included, goes through JSON.parse, whose
 * verdicts are the reference: the fast paths only take bodies on which the two agree (see
 * RequestScan).
 */
// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';
import { ERRORS, type GatewayErrorCode } from '../errors.js';
import { KNOWN_METHODS } from '../metrics/method-labels.js';
import { copyBytes, decimalLength, writeDecimal } from './bytes.js';
import { arrayElementStart, hexQuantity, hexQuantityAt, plainStringValue, skipValue, stringEnd } from './json-walk.js';
import { type RequestScan, scanRequest, scanRequestBatch } from './response-scan.js';
import { stringifyParsed } from './untrusted-json.js';
import type { UpstreamBody } from './upstream.js';

export type JsonRpcId = string | number | null;

/**
 * One valid request. `notification` requests carry no `id` member and get no answer. As an
 * UpstreamBody it is the client's request with the upstream's id in place of the client's.
 */
export interface RpcCall extends UpstreamBody {
  readonly method: string;
  readonly id: JsonRpcId;
  readonly notification: boolean;
  /** The parsed request object. */
  readonly request: Record<string, unknown>;
  /**
   * The k-th (0-based) positional parameter as JSON.parse reads it, or undefined when there is
   * none: `params` missing, shorter than k + 1, or an object (named parameters). Nothing is
   * cached: each call reads it again.
   */
  param(k: number): unknown;
  /**
   * The k-th positional param when it is a hex quantity string ("0x1b4"), as a number (capped
   * at Number.MAX_SAFE_INTEGER, as block-need.ts reads one); -1 for anything else. Read from
   * the bytes without building the string: the common block parameter, on the hot path.
   */
  quantityParam(k: number): number;
  /**
   * The length in bytes of the call with `id` (a non-negative integer) in place of the client's
   * id, as sent upstream alone or as one item of a batch; a notification keeps none.
   */
  upstreamItemLength(id: number): number;
  /** Writes that item at out[at, at + upstreamItemLength(id)). */
  writeUpstreamItem(id: number, out: Buffer, at: number): void;
  /** The length of the client's id token as the client wrote it (quotes included), to go back into the answer. */
  idTokenLength(): number;
  /** Writes that token at out[at, at + idTokenLength()). */
  writeIdToken(out: Buffer, at: number): void;
}

/** A batch element: either a call to forward or an answer already known (an invalid element). */
export type BatchEntry = { readonly call: RpcCall; readonly error?: undefined } | { readonly call?: undefined; readonly error: string };

export type ParsedBody =
  | { readonly kind: 'single'; readonly call: RpcCall }
  | { readonly kind: 'batch'; readonly entries: readonly BatchEntry[] }
  /** The whole body is answered at once with one error object. */
  | { readonly kind: 'error'; readonly code: GatewayErrorCode; readonly id: JsonRpcId; readonly body: string };

/** JSON.parse of a body, or undefined when it is not JSON (an operator's garbage, say). */
export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function isValidId(id: unknown): id is JsonRpcId {
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) || id === null;
}

/** Serializes one JSON-RPC error response object. `data` must be JSON-safe. */
export function errorResponse(id: JsonRpcId, code: number, message: string, data?: unknown): string {
  const error: Record<string, unknown> = { code, message };
  if (data !== undefined) error['data'] = data;
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

export function gatewayErrorResponse(id: JsonRpcId, code: GatewayErrorCode, detail?: string): string {
  const spec = ERRORS[code];
  return errorResponse(id, spec.jsonRpcCode, detail ? `${spec.message}: ${detail}` : spec.message);
}

function wholeBodyError(code: GatewayErrorCode, id: JsonRpcId, detail?: string): ParsedBody {
  return { kind: 'error', code, id, body: gatewayErrorResponse(id, code, detail) };
}

/** Why `value` is not a valid request object, or undefined when it is one. */
function invalidReason(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a request must be a JSON object';
  const req = value as Record<string, unknown>;
  if (req['jsonrpc'] !== '2.0') return 'jsonrpc must be exactly "2.0"';
  if (typeof req['method'] !== 'string') return 'method must be a string';
  const params = req['params'];
  if (params !== undefined && (typeof params !== 'object' || params === null)) return 'params must be an array or an object';
  if ('id' in req && !isValidId(req['id'])) return 'id must be a string, a number or null';
  return undefined;
}

/** The id to answer an invalid request with: its own when it can be read, else null (spec §5). */
function detectableId(value: unknown): JsonRpcId {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const id = (value as Record<string, unknown>)['id'];
    if (isValidId(id)) return id;
  }
  return null;
}

/** What every call is as an UpstreamBody: one request, written as its upstream item with the upstream's id. */
abstract class UpstreamCall {
  abstract readonly notification: boolean;
  abstract upstreamItemLength(id: number): number;
  abstract writeUpstreamItem(id: number, out: Buffer, at: number): void;

  get idCount(): number {
    return this.notification ? 0 : 1;
  }

  get isBatch(): boolean {
    return false;
  }

  byteLength(firstId: number): number {
    return this.upstreamItemLength(firstId);
  }

  write(firstId: number, out: Buffer, at: number): void {
    this.writeUpstreamItem(firstId, out, at);
  }
}

/** A call taken by a fast path, at body[start, end): its request object is parsed from there only when read. */
class ScannedCall extends UpstreamCall implements RpcCall {
  private parsed: Record<string, unknown> | undefined;
  /** The id's token (quotes included), for `writeUpstreamItem` to replace; -1 for a notification. */
  private readonly idTokenStart: number;
  private readonly idTokenEnd: number;
  /** The params value's bytes; -1 when the call has none. */
  private readonly paramsStart: number;
  private readonly paramsEnd: number;
  /** The number of positional params (0 for named ones) and where the last one starts. */
  private readonly paramCount: number;
  private readonly lastParamStart: number;

  constructor(
    readonly method: string,
    readonly id: JsonRpcId,
    readonly notification: boolean,
    private readonly body: Buffer,
    scan: RequestScan,
    private readonly start = 0,
    private readonly end = body.length,
  ) {
    super();
    const quoted = scan.idKind === 'string' ? 1 : 0;
    this.idTokenStart = notification ? -1 : scan.idStart - quoted;
    this.idTokenEnd = notification ? -1 : scan.idEnd + quoted;
    this.paramsStart = scan.paramsStart;
    this.paramsEnd = scan.paramsEnd;
    this.paramCount = scan.paramCount;
    this.lastParamStart = scan.lastParamStart;
  }

  get request(): Record<string, unknown> {
    return (this.parsed ??= JSON.parse(this.body.toString('utf8', this.start, this.end)) as Record<string, unknown>);
  }

  // From the bytes (scanRequest validated them): only the element itself is decoded, a string
  // without escapes by slicing it, anything else by JSON.parse of its own bytes.
  quantityParam(k: number): number {
    if (this.parsed !== undefined || !Number.isInteger(k) || k < 0 || k >= this.paramCount) return -1;
    const { body, paramsEnd } = this;
    const at = k === this.paramCount - 1 ? this.lastParamStart : arrayElementStart(body, this.paramsStart, paramsEnd, k);
    return at < 0 || body[at] !== 0x22 ? -1 : hexQuantityAt(body, at, stringEnd(body, at, paramsEnd));
  }

  param(k: number): unknown {
    if (this.parsed !== undefined) return ParsedCall.paramOf(this.parsed, k);
    if (!Number.isInteger(k) || k < 0 || k >= this.paramCount) return undefined;
    const { body, paramsEnd } = this;
    const at = k === this.paramCount - 1 ? this.lastParamStart : arrayElementStart(body, this.paramsStart, paramsEnd, k);
    if (at < 0) return undefined;
    const after = skipValue(body, at, paramsEnd);
    return plainStringValue(body, at, after) ?? (JSON.parse(body.toString('utf8', at, after)) as unknown);
  }

  idTokenLength(): number {
    return this.idTokenEnd - this.idTokenStart;
  }

  writeIdToken(out: Buffer, at: number): void {
    copyBytes(this.body, this.idTokenStart, this.idTokenEnd, out, at);
  }

  // The client's bytes with only the id token replaced: nothing parsed or serialized.
  upstreamItemLength(id: number): number {
    if (this.notification) return this.end - this.start;
    return this.end - this.start - (this.idTokenEnd - this.idTokenStart) + decimalLength(id);
  }

  writeUpstreamItem(id: number, out: Buffer, at: number): void {
    if (this.notification) {
      copyBytes(this.body, this.start, this.end, out, at);
      return;
    }
    copyBytes(this.body, this.start, this.idTokenStart, out, at);
    at += this.idTokenStart - this.start;
    const digits = decimalLength(id);
    writeDecimal(id, out, at, digits);
    copyBytes(this.body, this.idTokenEnd, this.end, out, at + digits);
  }
}

/** A call JSON.parse read. */
class ParsedCall extends UpstreamCall implements RpcCall {
  readonly method: string;
  readonly id: JsonRpcId;
  readonly notification: boolean;
  /** The last item serialized, as the upstream asks for its length and then for its bytes. */
  private item = '';
  private itemId = -1;

  /** The id as JSON, made when first asked for. */
  private idToken: Buffer | undefined;

  constructor(readonly request: Record<string, unknown>) {
    super();
    this.notification = !('id' in request);
    this.method = request['method'] as string;
    this.id = this.notification ? null : (request['id'] as JsonRpcId);
  }

  /** The k-th positional parameter of a parsed request object. */
  static paramOf(request: Record<string, unknown>, k: number): unknown {
    const params = request['params'];
    return Array.isArray(params) && Number.isInteger(k) && k >= 0 ? (params[k] as unknown) : undefined;
  }

  param(k: number): unknown {
    return ParsedCall.paramOf(this.request, k);
  }

  quantityParam(k: number): number {
    const value = ParsedCall.paramOf(this.request, k);
    return typeof value === 'string' ? hexQuantity(value) : -1;
  }

  idTokenLength(): number {
    return (this.idToken ??= Buffer.from(JSON.stringify(this.id), 'utf8')).length;
  }

  writeIdToken(out: Buffer, at: number): void {
    out.set((this.idToken ??= Buffer.from(JSON.stringify(this.id), 'utf8')), at);
  }

  // Every member as the client sent it (as the byte path keeps them) but the id.
  upstreamItemLength(id: number): number {
    if (this.itemId !== id) {
      // Without recursion whatever the nesting: params come from the client.
      this.item = stringifyParsed(this.notification ? this.request : { ...this.request, id });
      this.itemId = id;
    }
    return Buffer.byteLength(this.item);
  }

  writeUpstreamItem(id: number, out: Buffer, at: number): void {
    this.upstreamItemLength(id);
    out.write(this.item, at, 'utf8');
  }
}

/** The labelled methods by length, to recognise a common method from its bytes. */
const KNOWN_BY_LENGTH: string[][] = [];
for (const method of KNOWN_METHODS) (KNOWN_BY_LENGTH[method.length] ??= []).push(method);

/**
 * The method name at body[start, end) (no escapes: scanRequest refuses them). A labelled
 * method comes back as the constant string, whose hash V8 already holds for every lookup by
 * method that follows; decoding a new string and hashing it cost about 50 ns more.
 */
function methodName(body: Buffer, start: number, end: number): string {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    next: for (const method of candidates) {
      for (let i = 0; i < method.length; i++) if (body[start + i] !== method.charCodeAt(i)) continue next;
      return method;
    }
  }
  return body.toString('utf8', start, end);
}

/** The call `scan` read at body[start, end). */
function scannedCall(body: Buffer, scan: RequestScan, start?: number, end?: number): RpcCall {
  const method = methodName(body, scan.methodStart, scan.methodEnd);
  switch (scan.idKind) {
    case 'none':
      return new ScannedCall(method, null, true, body, scan, start, end);
    case 'string':
      return new ScannedCall(method, body.toString('utf8', scan.idStart, scan.idEnd), false, body, scan, start, end);
    case 'number':
      return new ScannedCall(method, scan.idNumber, false, body, scan, start, end);
    default:
      return new ScannedCall(method, null, false, body, scan, start, end);
  }
}

/** The plain single request or batch of plain requests, read from the bytes; undefined when JSON.parse must judge the body. */
function scannedBody(body: Buffer, maxBatchSize: number): ParsedBody | undefined {
  const scan = scanRequest(body);
  if (scan.ok) return { kind: 'single', call: scannedCall(body, scan) };
  const items = scanRequestBatch(body, maxBatchSize);
  if (items === undefined) return undefined;
  const entries: BatchEntry[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) entries[i] = { call: scannedCall(body, items[i]!, items[i]!.start, items[i]!.end) };
  return { kind: 'batch', entries };
}

/** A request body: bytes from the wire (fast path for the plain single call), or text. */
export function parseRequestBody(body: Buffer | string, maxBatchSize: number): ParsedBody {
  if (typeof body !== 'string') {
    const scanned = scannedBody(body, maxBatchSize);
    if (scanned !== undefined) return scanned;
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return wholeBodyError('PARSE_ERROR', null);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return wholeBodyError('INVALID_REQUEST', null, 'empty batch');
    if (value.length > maxBatchSize) {
      return wholeBodyError('BATCH_TOO_LARGE', null, `${value.length} requests, at most ${maxBatchSize} allowed`);
    }
    const entries: BatchEntry[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const reason = invalidReason(item);
      entries[i] = reason === undefined
        ? { call: new ParsedCall(item as Record<string, unknown>) }
        : { error: gatewayErrorResponse(detectableId(item), 'INVALID_REQUEST', reason) };
    }
    return { kind: 'batch', entries };
  }
  const reason = invalidReason(value);
  if (reason !== undefined) return wholeBodyError('INVALID_REQUEST', detectableId(value), reason);
  return { kind: 'single', call: new ParsedCall(value as Record<string, unknown>) };
}

/**
 * Methods that change state. They are sent again to another operator only when the first
 * attempt surely never reached an operator (connection refused), never after a timeout.
 */
export const NON_IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'eth_sendRawTransaction',
  'eth_sendTransaction',
  'eth_sendRawTransactionConditional',
  'eth_sendUserOperation',
  'eth_submitWork',
  'eth_submitHashrate',
  'personal_sendTransaction',
]);

/** Reads that can take an operator seconds: they get a connection to themselves, like writes. */
const SLOW_METHODS: ReadonlySet<string> = new Set(['eth_getLogs', 'eth_getFilterLogs', 'eth_newFilter']);
const SLOW_PREFIXES = ['debug_', 'trace_', 'ots_', 'arbtrace_'] as const;

/**
 * Whether a call may share an upstream connection with others (HTTP/1.1 pipelining). Not
 * writes: a write that has left is never resent, so it must not be lost because another
 * request on its connection timed out and took the connection down. Not slow reads: they
 * would hold up every answer queued behind them on the connection.
 */
export function mayShareConnection(method: string): boolean {
  if (NON_IDEMPOTENT_METHODS.has(method) || SLOW_METHODS.has(method)) return false;
  for (const prefix of SLOW_PREFIXES) if (method.startsWith(prefix)) return false;
  return true;
}
