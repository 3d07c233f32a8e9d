/**
 * One operator's HTTP endpoint: a small HTTP/1.1 client with a pool of keep-alive
 * connections, and one `send` that turns every way an attempt can fail into an UpstreamError
 * the failover logic understands.
 *
 * Why not undici: a JSON-RPC proxy needs one kind of request (POST, JSON body, whole answer
 * buffered). undici's general machinery (request objects, header arrays, stream plumbing, a
 * setImmediate hop before each write) was about half of the gateway's CPU per request in the
 * profile; this client writes each request as one buffer and reads answers through one
 * static read buffer (`onread`), so the answer is copied once, from the kernel's bytes into
 * its own buffer. The numbers are in docs/performance.md.
 */
// Imported rather than global: Node's globals Buffer and performance are accessors, a getter call on every use.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import tls from 'node:tls';
import { GatewayError } from '../errors.js';
import { reportInternalError } from '../metrics/internal-errors.js';
import { decimalLength, writeDecimal } from './bytes.js';
import { giveBody } from './body-pool.js';
import { BudgetExceededError, type ParsedResponse, ResponseParseError, ResponseParser } from './http1-response-parser.js';
import type { MemoryBudget } from './memory-budget.js';
import { type BatchScan, type ResponseScan, idEqualsNumber, newResponseScan, scanBatchResponse, scanResponse } from './response-scan.js';

export interface UpstreamOptions {
  readonly connections: number;
  /**
   * Requests one connection may carry at once (HTTP/1.1 pipelining). Above 1, shareable
   * requests that go out in the same event-loop turn are also written together, in one
   * write. Writes and slow reads never share a connection (`send`'s `shareable`).
   */
  readonly pipelining: number;
  /**
   * Pipeline only once the operator has shown it can: with the first request, two calls of
   * this JSON-RPC `method` (two consecutive ids of the pool's) go out together on a fresh connection, and only both
   * answered 200 with their own ids, in order, turn pipelining on (see PipeliningCheck).
   * Without it, `pipelining` applies at once (the mechanics' tests, a known operator).
   */
  readonly pipeliningCheck?: { readonly method: string; readonly timeoutMs: number };
  /** Told when a check passes or fails, or pipelining breaks (to log it). */
  readonly onPipeliningChange?: (state: PipeliningState, detail: string) => void;
  readonly keepAliveTimeoutMs: number;
  readonly maxResponseBytes: number;
  readonly connectTimeoutMs?: number;
  /** Answers' bodies are taken from it as they arrive; one that does not fit fails its request with OVERLOADED. */
  readonly budget?: MemoryBudget;
}

export interface UpstreamReply {
  readonly status: number;
  readonly body: Buffer;
}

/** One pool's queue since the last look (Upstream.takeQueueStats): the gateway's own congestion. */
export interface PoolQueueStats {
  /** Attempts that found every connection busy and waited. */
  readonly queued: number;
  /** The most attempts waiting at once. */
  readonly maxDepth: number;
  /** The longest and the summed waits of the attempts that left the queue for a connection, ms. */
  readonly maxWaitMs: number;
  readonly waitSumMs: number;
  /** Attempts waiting right now. */
  readonly waiting: number;
}

/**
 * A request body that the client writes with ids of its own: unique on every connection, so
 * each answer is proven to answer its own request. A duplicated, unsolicited or shifted
 * response carries another request's id (or none), and ends its connection.
 */
export interface UpstreamBody {
  /**
   * Ids the body takes: 0 when nothing in it is answered (notifications), 1 for one call, n for
   * a batch whose k-th element gets `firstId + k`.
   */
  readonly idCount: number;
  /** The answer is a JSON array (a batch), not one response object. */
  readonly isBatch: boolean;
  /** Its length in bytes with `firstId` as its (first) id. */
  byteLength(firstId: number): number;
  /** Writes it at out[at, at + byteLength(firstId)). */
  write(firstId: number, out: Buffer, at: number): void;
}

/** What every call the gateway makes itself starts with. */
const CALL_HEAD = Buffer.from('{"jsonrpc":"2.0","id":', 'latin1');

/**
 * One call the gateway makes itself (probes, checks): `{"jsonrpc":"2.0","id":N,"method":M}`,
 * with `params` when given as JSON text.
 */
export class CallBody implements UpstreamBody {
  readonly idCount = 1;
  readonly isBatch = false;
  private readonly head = CALL_HEAD;
  private readonly tail: Buffer;

  constructor(method: string, paramsJson?: string) {
    this.tail = Buffer.from(`,"method":${JSON.stringify(method)}${paramsJson === undefined ? '' : `,"params":${paramsJson}`}}`, 'utf8');
  }

  byteLength(firstId: number): number {
    return this.head.length + decimalLength(firstId) + this.tail.length;
  }

  write(firstId: number, out: Buffer, at: number): void {
    out.set(this.head, at);
    at += this.head.length;
    const digits = decimalLength(firstId);
    writeDecimal(firstId, out, at, digits);
    out.set(this.tail, at + digits);
  }
}

/**
 * The answer an upstream proved to be its request's: the scan of its one response object, or
 * of its array (a batch); undefined when there was nothing to prove (a notification's answer,
 * an opaque body's, or an HTTP 429 or 5xx, whose body is never read).
 */
export type VerifiedAnswer = ResponseScan | BatchScan | undefined;

/**
 * Receives the outcome of one `request`: exactly one of the two calls, never from inside
 * `request` itself. Called from socket and timer callbacks, so it must not throw.
 */
export interface UpstreamHandler {
  /**
   * `receivedAt`: performance.now() when the read holding the answer's end came in. `body` is
   * the handler's: a large one comes from body-pool.ts, and the handler may give it back there
   * once nothing holds it (else the garbage collector takes it). `answer` is the scan that
   * proved it (see VerifiedAnswer): a ResponseScan is the connection's own, valid only until
   * this call returns. `operatorMicros`: the operator's own time for this answer, in integer
   * microseconds, from the request's last byte handed to the kernel to the read holding the
   * answer's first byte: what the request spent waiting for a connection, held for the turn's
   * pipelined write, or in a connect is not in it.
   */
  onUpstreamReply(status: number, body: Buffer, receivedAt: number, answer: VerifiedAnswer, operatorMicros: number): void;
  onUpstreamError(err: UpstreamError): void;
}

/** A failed attempt. `neverSent` is true only when the operator surely never saw the request. */
type UpstreamErrorCode = 'UPSTREAM_CONNECT' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_INVALID_ENVELOPE' | 'UPSTREAM_HTTP_OTHER' | 'OVERLOADED';

export class UpstreamError extends GatewayError {
  constructor(
    code: UpstreamErrorCode,
    readonly neverSent: boolean,
    detail: string,
    cause?: unknown,
  ) {
    super(code, detail, { cause });
  }

  /** The same failure, for a request that had not left yet. */
  asNeverSent(): UpstreamError {
    return this.neverSent ? this : new UpstreamError(this.code as UpstreamErrorCode, true, this.detail ?? '', this.cause);
  }
}

const MAX_HEAD_BYTES = 16 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Shared by every connection of this thread: a read is parsed (and copied out) before the next. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** Idle connections are checked for expiry this often, and before each reuse. */
const REAP_INTERVAL_MS = 1_000;
/** After a failed pipelining check, or pipelining that broke, the next check waits this long. */
export const PIPELINING_RECHECK_MS = 10 * 60_000;
/**
 * Ids upstream run through [FIRST_ID, LAST_ID): always ten digits, so a client's id of up to
 * ten bytes is written back into the answer in place, and below 2^31 for operators that read
 * ids as 32-bit integers. A connection would have to carry a billion requests to see one again.
 */
export const FIRST_ID = 1_000_000_000;
const LAST_ID = 2_000_000_000;

/**
 * `off`: configured off. `unchecked`: wanted, not yet tried. `checking`: the check is out.
 * `on`: checked and in use. `refused`: the check failed (or pipelining broke); depth 1 until
 * the next check.
 */
export type PipeliningState = 'off' | 'unchecked' | 'checking' | 'on' | 'refused';

export class Upstream {
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;
  private readonly servername: string | undefined;
  /** Everything of a request before its Content-Length value. */
  private readonly requestPrefix: Buffer;
  private readonly connections = new Set<Connection>();
  /** Connections with nothing in flight, most recently used last (reused first: the others expire). */
  private readonly idle: Connection[] = [];
  /** Connections holding writes until the end of this event-loop turn (pipelining only). */
  private unflushed: Connection[] = [];
  /** Attempts waiting for a connection, oldest first. */
  private queue: Exchange[] = [];
  private queueHead = 0;
  /** Since the last takeQueueStats: attempts that waited for a connection, the deepest queue, the waits. */
  private readonly queueStats = { queued: 0, maxDepth: 0, maxWaitMs: 0, waitSumMs: 0 };
  private reaper: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private whenEmpty: (() => void) | undefined;
  private currentDepth: number;
  private pipelining: PipeliningState;
  private nextCheckAt = 0;
  /** Attempts not yet settled, queued or on a connection. */
  private unsettled = 0;
  /**
   * One timer for all attempts' deadlines, armed for the earliest and swept when it fires: a
   * Node timer per attempt (set, then cleared) cost about 100 ns of each request.
   */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private nextId = FIRST_ID;

  constructor(
    readonly url: string,
    private readonly options: UpstreamOptions,
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`unsupported protocol ${parsed.protocol} in ${url}`);
    this.secure = parsed.protocol === 'https:';
    this.host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    this.port = parsed.port === '' ? (this.secure ? 443 : 80) : Number(parsed.port);
    this.servername = this.secure && net.isIP(this.host) === 0 ? this.host : undefined;
    const auth = parsed.username === '' ? '' : `Authorization: Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}\r\n`;
    this.requestPrefix = Buffer.from(
      `POST ${parsed.pathname}${parsed.search} HTTP/1.1\r\nHost: ${parsed.host}\r\n${auth}Content-Type: application/json\r\nContent-Length: `,
      'latin1',
    );
    this.pipelining = options.pipelining <= 1 ? 'off' : options.pipeliningCheck === undefined ? 'on' : 'unchecked';
    this.currentDepth = this.pipelining === 'on' ? options.pipelining : 1;
  }

  get pipeliningState(): PipeliningState {
    return this.pipelining;
  }

  /** Requests one connection may carry now: `options.pipelining` once pipelining is on, else 1. */
  get depth(): number {
    return this.currentDepth;
  }

  /**
   * POSTs `body` and tells `handler` the status and whole response body, or the UpstreamError.
   * `shareable` lets the request share a connection with other shareable ones when pipelining
   * is on; otherwise it gets a connection to itself. The request path uses this rather than
   * `send`: a handler object costs no promise, closure or microtask per attempt. `now`, the
   * caller's performance.now() if it has one, starts the `timeoutMs` deadline.
   */
  request(body: UpstreamBody | Buffer | string, timeoutMs: number, shareable: boolean, handler: UpstreamHandler, now = performance.now()): void {
    if (this.closed) {
      queueMicrotask(() => handler.onUpstreamError(new UpstreamError('UPSTREAM_CONNECT', true, 'upstream closed')));
      return;
    }
    if (this.pipelining === 'unchecked' || this.pipelining === 'refused') this.checkPipelining();
    this.dispatch(this.exchange(body, shareable, handler, timeoutMs, now), now);
  }

  /** A new attempt with its ids, encoded and watched for its deadline until it settles. */
  private exchange(body: UpstreamBody | Buffer | string, shareable: boolean, handler: UpstreamHandler, timeoutMs: number, now: number): Exchange {
    let firstId = 0;
    let idCount = 0;
    let isBatch = false;
    let request: Buffer;
    if (typeof body === 'string' || Buffer.isBuffer(body)) request = this.encodeOpaque(body);
    else {
      idCount = body.idCount;
      isBatch = body.isBatch;
      firstId = this.takeIds(Math.max(1, idCount));
      request = this.encode(body, firstId);
    }
    const exchange = new Exchange(this, request, shareable, handler, timeoutMs, now + timeoutMs, firstId, idCount, isBatch);
    this.unsettled++;
    if (exchange.deadline < this.armedFor) this.armDeadlineTimer(exchange.deadline, now);
    return exchange;
  }

  /** `count` consecutive ids never used before on any connection of this pool (see FIRST_ID). */
  private takeIds(count: number): number {
    if (this.nextId + count > LAST_ID) this.nextId = FIRST_ID;
    const first = this.nextId;
    this.nextId += count;
    return first;
  }

  /** Told by each attempt as it settles: with none left, the deadline timer goes too. */
  settledOne(): void {
    if (--this.unsettled === 0 && this.deadlineTimer !== undefined) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      this.armedFor = Infinity;
    }
  }

  private armDeadlineTimer(at: number, now: number): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.armedFor = at;
    this.deadlineTimer = setTimeout(this.expireAttempts, Math.max(0, at - now));
  }

  /** Times out every attempt past its deadline, then re-arms for the earliest of the rest. */
  private readonly expireAttempts = (): void => {
    this.deadlineTimer = undefined;
    this.armedFor = Infinity;
    const now = performance.now();
    let earliest = Infinity;
    const expired: Exchange[] = [];
    const consider = (exchange: Exchange): void => {
      if (exchange.settled) return;
      if (exchange.deadline <= now) expired.push(exchange);
      else if (exchange.deadline < earliest) earliest = exchange.deadline;
    };
    for (const conn of this.connections) conn.forEachInflight(consider);
    for (let i = this.queueHead; i < this.queue.length; i++) consider(this.queue[i]!);
    // Timing one out can fail its connection and send others elsewhere: they keep their deadlines.
    for (const exchange of expired) exchange.timeout();
    if (earliest < this.armedFor && this.unsettled > 0) this.armDeadlineTimer(earliest, now);
  };

  /**
   * Sends the pipelining check when one is due (see `pipeliningCheck`). Its two requests are
   * the gateway's own: whatever happens to them is never recorded against the operator.
   */
  checkPipelining(): void {
    const check = this.options.pipeliningCheck;
    if (check === undefined || this.closed || this.pipelining === 'checking' || this.pipelining === 'on') return;
    const now = performance.now();
    if (now < this.nextCheckAt || this.connections.size >= this.options.connections) return;
    this.pipelining = 'checking';
    const verdict = new PipeliningCheck((passed, detail) => {
      if (this.pipelining !== 'checking' || this.closed) return;
      if (passed === undefined) {
        // Not reached at all: nothing was learnt, so the next request checks again.
        this.pipelining = 'unchecked';
        return;
      }
      this.pipelining = passed ? 'on' : 'refused';
      this.currentDepth = passed ? this.options.pipelining : 1;
      if (!passed) this.nextCheckAt = performance.now() + PIPELINING_RECHECK_MS;
      this.options.onPipeliningChange?.(this.pipelining, detail);
    });
    const call = new CallBody(check.method, '[]');
    const first = this.exchange(call, true, verdict, check.timeoutMs, now);
    const second = this.exchange(call, true, verdict, check.timeoutMs, now);
    // A check that needs a second try has failed: never resent.
    first.retried = second.retried = true;
    this.open().assignTogether(first, second, now);
  }

  /** Pipelining went wrong on a connection: back to one request per connection until the next check. */
  pipeliningBroke(): void {
    if (this.pipelining !== 'on' || this.options.pipeliningCheck === undefined) return;
    this.pipelining = 'refused';
    this.currentDepth = 1;
    this.nextCheckAt = performance.now() + PIPELINING_RECHECK_MS;
    this.options.onPipeliningChange?.('refused', 'a connection closed with requests pipelined behind an answer');
  }

  /**
   * `request` as a promise, for callers off the request path (probes, cross-checks). An opaque
   * body (bytes or text) goes out as it is and its answer is not checked: for tests of the
   * transport, never for a client's request.
   */
  send(body: UpstreamBody | Buffer | string, timeoutMs: number, shareable: boolean): Promise<UpstreamReply> {
    return new Promise<UpstreamReply>((resolve, reject) => {
      this.request(body, timeoutMs, shareable, {
        onUpstreamReply: (status, replyBody) => resolve({ status, body: replyBody }),
        onUpstreamError: reject,
      });
    });
  }

  /** Stops taking requests; resolves once the attempts in flight are settled and every connection is closed. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    this.closing = new Promise((resolve) => (this.whenEmpty = resolve));
    this.failQueue(new UpstreamError('UPSTREAM_CONNECT', true, 'upstream closed'));
    for (const conn of this.idle.splice(0)) conn.destroy();
    if (this.reaper !== undefined) clearInterval(this.reaper);
    this.reaper = undefined;
    if (this.connections.size === 0) this.whenEmpty!();
    return this.closing;
  }

  /** Drops connections at once, failing what is in flight. */
  async destroy(): Promise<void> {
    // Closed first, so failing connections opens none for the queue; close() fails the queue.
    this.closed = true;
    for (const conn of [...this.connections]) conn.fail(new UpstreamError('UPSTREAM_CONNECT', false, 'upstream destroyed'));
    await this.close();
  }

  /** Request line and headers, then the body written with its ids: one buffer, one write. */
  private encode(body: UpstreamBody, firstId: number): Buffer {
    const bodyLength = body.byteLength(firstId);
    const out = this.encodeHead(bodyLength);
    body.write(firstId, out, out.length - bodyLength);
    return out;
  }

  private encodeOpaque(body: Buffer | string): Buffer {
    const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const out = this.encodeHead(bodyLength);
    if (typeof body === 'string') out.write(body, out.length - bodyLength, 'utf8');
    else out.set(body, out.length - bodyLength);
    return out;
  }

  /** A buffer for the whole request, its request line and headers written, `bodyLength` bytes left for the body. */
  private encodeHead(bodyLength: number): Buffer {
    const prefix = this.requestPrefix;
    const digits = decimalLength(bodyLength);
    const out = Buffer.allocUnsafe(prefix.length + digits + 4 + bodyLength);
    // TypedArray set, not Buffer copy: the same memcpy without copy's argument handling.
    out.set(prefix, 0);
    // The Content-Length digits written in place: no string made and copied for them.
    writeDecimal(bodyLength, out, prefix.length, digits);
    const at = prefix.length + digits;
    out[at] = 13;
    out[at + 1] = 10;
    out[at + 2] = 13;
    out[at + 3] = 10;
    return out;
  }

  /** `now`: performance.now() as the attempt is given a connection (its write, if it goes out at once). */
  private dispatch(exchange: Exchange, now: number): void {
    const conn =
      this.batchTarget(exchange) ??
      this.takeIdle() ??
      (this.connections.size < this.options.connections ? this.open() : this.pipelineTarget(exchange));
    if (conn === undefined) this.enqueue(exchange);
    else conn.assign(exchange, now);
  }

  /** Every connection is busy: the attempt waits, and the pool's queue statistics see it. */
  private enqueue(exchange: Exchange): void {
    const depth = this.queue.push(exchange) - this.queueHead;
    this.queueStats.queued++;
    if (depth > this.queueStats.maxDepth) this.queueStats.maxDepth = depth;
  }

  /** A queued attempt leaves the queue for a connection at `now`: how long it waited. */
  private dequeued(exchange: Exchange, now: number): void {
    const waited = now - exchange.createdAt;
    if (waited > this.queueStats.maxWaitMs) this.queueStats.maxWaitMs = waited;
    this.queueStats.waitSumMs += waited;
  }

  /**
   * Attempts that waited for a connection since the last call (the gateway's own congestion,
   * never counted in an operator's latency), and the counts reset.
   */
  takeQueueStats(): PoolQueueStats {
    const stats = { ...this.queueStats, waiting: this.queue.length - this.queueHead };
    this.queueStats.queued = 0;
    this.queueStats.maxDepth = 0;
    this.queueStats.maxWaitMs = 0;
    this.queueStats.waitSumMs = 0;
    return stats;
  }

  /**
   * With pipelining on, a connection whose writes of this turn are still waiting: joining it
   * costs no syscall of its own, and the answers come back together too. Only requests that
   * go out in the same turn share this way, so at low rates every request still gets an idle
   * connection, and under load the gateway spends its CPU on requests rather than syscalls.
   */
  private batchTarget(exchange: Exchange): Connection | undefined {
    if (!exchange.shareable) return undefined;
    const pending = this.unflushed;
    for (let i = pending.length - 1; i >= 0; i--) {
      if (pending[i]!.accepts(this.depth)) return pending[i];
    }
    return undefined;
  }

  /** Called by a connection that holds writes for the end of this turn. */
  holdWrites(conn: Connection): void {
    if (this.unflushed.push(conn) === 1) setImmediate(this.flushWrites);
  }

  /** Runs after the turn's I/O callbacks (setImmediate): one write per connection for all it was given. */
  private readonly flushWrites = (): void => {
    const pending = this.unflushed;
    this.unflushed = [];
    for (const conn of pending) conn.flush();
  };

  /** The most recently idle connection that has not outlived its keep-alive. */
  private takeIdle(): Connection | undefined {
    let conn = this.idle.pop();
    if (conn === undefined) return undefined;
    const now = performance.now();
    while (conn !== undefined && conn.expired(now)) {
      conn.destroy();
      conn = this.idle.pop();
    }
    return conn;
  }

  /** With pipelining on, the least busy connection that may take one more read. */
  private pipelineTarget(exchange: Exchange): Connection | undefined {
    // Without pipelining no busy connection accepts more: skip the scan of the whole pool.
    if (this.depth <= 1 || !exchange.shareable) return undefined;
    let best: Connection | undefined;
    for (const conn of this.connections) {
      if (conn.accepts(this.depth) && (best === undefined || conn.inflightCount < best.inflightCount)) best = conn;
    }
    return best;
  }

  private open(): Connection {
    const conn = new Connection(this, this.options.keepAliveTimeoutMs, this.options.maxResponseBytes, this.options.budget);
    this.connections.add(conn);
    const onread = { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => conn.onData(n, buf as Buffer) };
    const socket = this.secure
      ? tls.connect({ host: this.host, port: this.port, servername: this.servername, ALPNProtocols: ['http/1.1'], onread } as tls.ConnectionOptions)
      : net.connect({ host: this.host, port: this.port, noDelay: true, onread });
    conn.attach(socket, this.secure ? 'secureConnect' : 'connect', this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    return conn;
  }

  /** A connection finished an attempt: fill it from the queue, or park it when it has nothing to do. */
  released(conn: Connection): void {
    let next: Exchange | undefined;
    // Read only when something waited: the answers' handlers ran since the read, so its time is past.
    let now = -1;
    while ((next = this.peekQueued()) !== undefined) {
      // An empty connection takes anything; a busy one only another read, within the pipelining depth.
      if (conn.inflightCount > 0 && !(next.shareable && conn.accepts(this.depth))) break;
      this.queueHead++;
      if (now < 0) now = performance.now();
      this.dequeued(next, now);
      conn.assign(next, now);
    }
    if (conn.inflightCount > 0) return;
    if (this.closed) {
      conn.destroy();
      return;
    }
    this.idle.push(conn);
    this.reaper ??= setInterval(() => this.reap(), REAP_INTERVAL_MS).unref();
  }

  /** An attempt whose connection closed before it was answered, to be sent again (it keeps its deadline). */
  retry(exchange: Exchange): void {
    if (exchange.settled) return;
    if (this.closed) exchange.fail(new UpstreamError('UPSTREAM_CONNECT', true, 'upstream closed'));
    // A fresh connection: the operator may have closed its other idle ones at the same moment.
    else if (this.connections.size < this.options.connections) this.open().assign(exchange, performance.now());
    else this.dispatch(exchange, performance.now());
  }

  /** A connection is gone; its attempts are already failed. Queued ones get a new connection. */
  removed(conn: Connection): void {
    this.connections.delete(conn);
    const at = this.idle.indexOf(conn);
    if (at !== -1) this.idle.splice(at, 1);
    if (this.connections.size === 0 && this.whenEmpty !== undefined) this.whenEmpty();
    if (this.closed) return;
    let next: Exchange | undefined;
    while (this.connections.size < this.options.connections && (next = this.nextQueued()) !== undefined) {
      const now = performance.now();
      this.dequeued(next, now);
      this.open().assign(next, now);
    }
  }

  /** The oldest queued attempt still waiting (timed-out ones are dropped on the way). */
  private peekQueued(): Exchange | undefined {
    while (this.queueHead < this.queue.length) {
      const exchange = this.queue[this.queueHead]!;
      if (!exchange.settled) return exchange;
      this.queueHead++;
    }
    if (this.queueHead > 0) {
      this.queue = [];
      this.queueHead = 0;
    }
    return undefined;
  }

  private nextQueued(): Exchange | undefined {
    const exchange = this.peekQueued();
    if (exchange !== undefined) this.queueHead++;
    return exchange;
  }

  private failQueue(err: UpstreamError): void {
    let exchange: Exchange | undefined;
    while ((exchange = this.nextQueued()) !== undefined) exchange.fail(err);
  }

  private reap(): void {
    const now = performance.now();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]!;
      if (conn.expired(now)) {
        this.idle.splice(i, 1);
        conn.destroy();
      }
    }
    if (this.idle.length === 0 && this.reaper !== undefined) {
      clearInterval(this.reaper);
      this.reaper = undefined;
    }
  }
}

/** One keep-alive connection: its socket, its parser, and its attempts in flight in order. */
class Connection {
  private socket: net.Socket | undefined;
  private readonly parser: ResponseParser;
  private readonly inflight: Exchange[] = [];
  private connected = false;
  /** Carries a request that may not share (a write, a slow read): nothing may be pipelined behind it. */
  private exclusive = false;
  /** Requests given to it this turn, written together by `flush` (pipelining only). */
  private outbox: Exchange[] | undefined;
  private reusable = true;
  private gone = false;
  private idleSince = 0;
  /**
   * performance.now() at the read being parsed: every answer in one read arrived together,
   * so one clock read serves them all (pipelined, up to `pipelining` answers).
   */
  private readAt = 0;
  /** performance.now() at the read holding the first byte of the answer being parsed. */
  private answerStartedAt = 0;
  private keepAliveMs: number;
  private connectTimer: NodeJS.Timeout | undefined;
  /** An answer completed during the current read: hand the connection back once the read is parsed. */
  private releaseAfterRead = false;

  /** Answers completed on this connection. */
  private answered = 0;
  /** Where the answer being delivered was scanned (handed to its handler, read before the next). */
  private readonly scan = newResponseScan();

  constructor(
    private readonly owner: Upstream,
    keepAliveTimeoutMs: number,
    maxResponseBytes: number,
    budget: MemoryBudget | undefined,
  ) {
    this.keepAliveMs = keepAliveTimeoutMs;
    this.parser = new ResponseParser({ maxHeadBytes: MAX_HEAD_BYTES, maxBodyBytes: maxResponseBytes, ...(budget ? { budget } : {}) }, (r) => this.onResponse(r));
  }

  get inflightCount(): number {
    return this.inflight.length;
  }

  /** Whether a request written to it may have left (before this, writes wait in Node's buffer). */
  get isUp(): boolean {
    return this.connected;
  }

  attach(socket: net.Socket, connectEvent: string, connectTimeoutMs: number): void {
    this.socket = socket;
    this.connectTimer = setTimeout(() => {
      const err = new Error(`no connection within ${connectTimeoutMs} ms`) as NodeJS.ErrnoException;
      err.code = 'CONNECT_TIMEOUT';
      socket.destroy(err);
    }, connectTimeoutMs);
    socket.once(connectEvent, () => {
      this.connected = true;
      clearTimeout(this.connectTimer);
      // What was written before the connection came up leaves now (Node writes it right after this event).
      const now = performance.now();
      for (const exchange of this.inflight) if (exchange.written) exchange.sentAt = now;
      if (this.socket instanceof tls.TLSSocket) this.socket.setNoDelay(true);
    });
    socket.on('error', (err) => this.fail(classify(err, this.connected), this.closedWhileIdle()));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.fail(new UpstreamError('UPSTREAM_CONNECT', !this.connected, 'connection closed by the operator'), this.closedWhileIdle()));
  }

  forEachInflight(visit: (exchange: Exchange) => void): void {
    for (const exchange of this.inflight) visit(exchange);
  }

  accepts(pipelining: number): boolean {
    return this.reusable && !this.exclusive && !this.gone && this.inflight.length < pipelining;
  }

  expired(now: number): boolean {
    return now - this.idleSince >= this.keepAliveMs;
  }

  /** `now`: performance.now() at this call, the request's write time if it is written at once on a connection that is up. */
  assign(exchange: Exchange, now: number): void {
    this.inflight.push(exchange);
    if (!exchange.shareable) this.exclusive = true;
    exchange.connection = this;
    if (this.owner.depth <= 1 && this.outbox === undefined) {
      exchange.written = true;
      // Before the connection is up the write waits in Node's buffer: the connect event sets the time.
      exchange.sentAt = now;
      this.socket!.write(exchange.request);
    } else if (this.outbox === undefined) {
      this.outbox = [exchange];
      this.owner.holdWrites(this);
    } else this.outbox.push(exchange);
  }

  /** Two requests written together, one behind the other: the pipelining check. */
  assignTogether(first: Exchange, second: Exchange, now: number): void {
    this.inflight.push(first, second);
    first.connection = this;
    second.connection = this;
    first.written = true;
    second.written = true;
    first.sentAt = second.sentAt = now;
    this.socket!.write(Buffer.concat([first.request, second.request]));
  }

  /** Writes what `assign` held this turn, in one write. */
  flush(): void {
    const outbox = this.outbox;
    this.outbox = undefined;
    if (outbox === undefined || this.gone) return;
    let bytes: Buffer;
    if (outbox.length === 1) bytes = outbox[0]!.request;
    else {
      let size = 0;
      for (const exchange of outbox) size += exchange.request.length;
      bytes = Buffer.allocUnsafe(size);
      let at = 0;
      for (const exchange of outbox) {
        bytes.set(exchange.request, at);
        at += exchange.request.length;
      }
    }
    // One clock read for the whole write: held since `assign`, the requests leave only now.
    const now = performance.now();
    for (const exchange of outbox) {
      exchange.written = true;
      exchange.sentAt = now;
    }
    this.socket!.write(bytes);
  }

  onData(length: number, buf: Buffer): boolean {
    if (this.gone) return false;
    if (this.inflight.length === 0) {
      this.fail(new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, 'data from the operator with no request in flight'));
      return false;
    }
    this.readAt = performance.now();
    // No answer in progress: this read holds the first byte of the next one.
    if (this.parser.idle) this.answerStartedAt = this.readAt;
    try {
      this.parser.execute(buf, length);
    } catch (err) {
      if (err instanceof BudgetExceededError) {
        // The gateway has no room for the answer: not the operator's fault, and nothing on this connection can be read.
        this.fail(new UpstreamError('OVERLOADED', false, err.message, err));
        return false;
      }
      if (!(err instanceof ResponseParseError)) {
        // Not the operator's bytes but a callback that threw: it costs this connection, never the process.
        reportInternalError('upstream_socket', err);
        this.fail(new UpstreamError('UPSTREAM_CONNECT', false, 'connection dropped after an internal error'), true);
        return false;
      }
      this.failHead(new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, `malformed HTTP response: ${err.message}`, err));
      return false;
    }
    if (this.releaseAfterRead) {
      this.releaseAfterRead = false;
      // Bytes after the last answer (past its Content-Length, a second answer) answer no request:
      // handed back mid-read, the connection would pass them off as the next request's answer.
      if (this.inflight.length === 0 && !this.parser.idle) {
        this.fail(new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, 'data from the operator with no request in flight'));
        return false;
      }
      if (!this.gone) this.owner.released(this);
    }
    return !this.gone;
  }

  private onResponse(response: ParsedResponse): void {
    const exchange = this.inflight.shift();
    if (exchange === undefined) {
      this.fail(new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, 'response with no request in flight'));
      return;
    }
    this.answered++;
    const firstByteAt = this.answerStartedAt;
    // Bytes after this answer in the same read begin the next one: they came in with this read.
    this.answerStartedAt = this.readAt;
    const answer = exchange.verify(response.status, response.body, this.scan);
    if (answer instanceof UpstreamError) {
      // Not the answer to this request: whatever else the connection carries cannot be trusted either.
      // The connection goes first, so that nothing the failure sets off is given to it.
      this.fail(new UpstreamError('UPSTREAM_CONNECT', false, `connection dropped after an answer that was not its request's (${answer.detail})`));
      giveBody(response.body);
      exchange.fail(answer);
      return;
    }
    exchange.succeed(response.status, response.body, this.readAt, answer, firstByteAt);
    if (response.keepAliveTimeoutMs !== undefined) {
      // Leave a margin so the operator does not close the connection as a request goes out.
      const hint = response.keepAliveTimeoutMs > 2_000 ? response.keepAliveTimeoutMs - 1_000 : response.keepAliveTimeoutMs / 2;
      if (hint < this.keepAliveMs) this.keepAliveMs = hint;
    }
    if (!response.keepAlive) {
      this.reusable = false;
      if (this.inflight.length === 0) this.destroy();
      else {
        // It answered one and said it would read no more: those pipelined behind it were never
        // read, so they go out again rather than count against the operator (they are all reads:
        // nothing shares a connection with a write).
        this.fail(new UpstreamError('UPSTREAM_CONNECT', false, 'operator closed the connection after an earlier answer'), true);
      }
      return;
    }
    if (this.inflight.length === 0) {
      this.exclusive = false;
      this.idleSince = this.readAt;
    }
    this.releaseAfterRead = true;
  }

  private onEnd(): void {
    // An answer delimited by the connection's close ends here, not at a read.
    this.readAt = performance.now();
    try {
      this.parser.finish();
    } catch (err) {
      if (!(err instanceof ResponseParseError)) reportInternalError('upstream_socket', err);
    }
    this.fail(new UpstreamError('UPSTREAM_CONNECT', !this.connected, 'connection closed by the operator'), this.closedWhileIdle());
  }

  /**
   * A kept-alive connection that the operator closed (or reset) before any byte of the next
   * answer: most likely it timed the connection out as our request went out, a race no
   * keep-alive hint fully closes. Its reads are tried once more on a fresh connection rather
   * than charged to the operator; a write is not (it may have been read before the close).
   */
  private closedWhileIdle(): boolean {
    return this.answered > 0 && this.parser.idle;
  }

  /** The attempt being answered gets `err`; those behind it lost their connection. */
  private failHead(err: UpstreamError): void {
    const head = this.inflight.shift();
    head?.fail(err);
    this.fail(new UpstreamError('UPSTREAM_CONNECT', false, 'connection dropped after a malformed answer'));
  }

  /**
   * Ends the connection, failing everything in flight with `err`, or with `retryReads`,
   * handing its shareable requests back to the pool once (see closedWhileIdle). Idempotent.
   */
  fail(err: UpstreamError, retryReads = false): void {
    if (this.gone) return;
    // Closed under more than one request after answering: what pipelining risks, so stop it.
    if (retryReads && this.inflight.length > 1) this.owner.pipeliningBroke();
    this.gone = true;
    this.reusable = false;
    clearTimeout(this.connectTimer);
    // A body cut off mid-way is dropped with the connection: its bytes go back to the budget.
    this.parser.release();
    const inflight = this.inflight.splice(0);
    this.outbox = undefined;
    this.socket?.destroy();
    const again: Exchange[] = [];
    for (const exchange of inflight) {
      if (retryReads && exchange.shareable && !exchange.retried) {
        exchange.retried = true;
        exchange.written = false;
        exchange.connection = undefined;
        again.push(exchange);
      } else {
        // A request still held for the end of the turn never left, whatever happened to the others.
        exchange.fail(exchange.written ? err : err.asNeverSent());
      }
    }
    this.owner.removed(this);
    for (const exchange of again) this.owner.retry(exchange);
  }

  /** Closes a connection with nothing in flight. */
  destroy(): void {
    this.fail(new UpstreamError('UPSTREAM_CONNECT', false, 'connection closed'));
  }

  /** An attempt timed out: its answer may still come, so the connection cannot be reused. */
  abandon(exchange: Exchange): void {
    if (this.inflight.includes(exchange)) this.fail(new UpstreamError('UPSTREAM_CONNECT', !this.connected, 'connection dropped after an attempt timed out'));
  }
}

/**
 * The verdict on two check requests sent together: passed only when both are answered 200
 * with their own ids, in order. A timeout, a close or anything else fails it.
 */
class PipeliningCheck implements UpstreamHandler {
  private answered = 0;
  private failed = false;

  /** `passed` undefined: the check's connection never came up (the operator is down), no verdict. */
  constructor(private readonly verdict: (passed: boolean | undefined, detail: string) => void) {}

  // Each answer's id was checked against its own request's by the connection, which refuses one out of order.
  onUpstreamReply(status: number): void {
    if (this.failed) return;
    const n = ++this.answered;
    if (status !== 200) return this.refuse(`answer ${n} of 2: HTTP ${status}`);
    if (n === 2) this.verdict(true, 'two calls written together were answered in order');
  }

  onUpstreamError(err: UpstreamError): void {
    if (err.code === 'UPSTREAM_CONNECT' && err.neverSent && !this.failed) {
      this.failed = true;
      this.verdict(undefined, err.detail ?? err.code);
      return;
    }
    this.refuse(`answer ${this.answered + 1} of 2: ${err.detail ?? err.code}`);
  }

  private refuse(detail: string): void {
    if (this.failed) return;
    this.failed = true;
    this.verdict(false, detail);
  }
}

/** One attempt: the encoded request, its deadline, and how to settle it. */
class Exchange {
  settled = false;
  /** Handed to the socket (which may still be connecting: see Connection.isUp). */
  written = false;
  /** Already re-sent once after its kept-alive connection closed under it. */
  retried = false;
  connection: Connection | undefined;
  /**
   * performance.now() when its last byte was handed to the kernel: the write, or the connect
   * of a connection it was written to before it was up. The operator's time starts here.
   */
  sentAt = 0;

  constructor(
    private readonly owner: Upstream,
    readonly request: Buffer,
    readonly shareable: boolean,
    private readonly handler: UpstreamHandler,
    private readonly timeoutMs: number,
    /** performance.now() past which the owner's deadline timer times it out. */
    readonly deadline: number,
    /** The request's (first) id; its `idCount` ids are unique on every connection of the pool. */
    private readonly firstId: number,
    /** 0: an answer with nothing to prove (notifications only, or an opaque body). */
    private readonly idCount: number,
    private readonly isBatch: boolean,
  ) {}

  /**
   * Proves that `body` answers this request: its id (every element's, for a batch) is one this
   * request was sent with, none twice. Returns the scan, or the error when it does not. An HTTP
   * 429 or 5xx is not read (its body never reaches a client), nor a notification's answer.
   */
  verify(status: number, body: Buffer, scan: ResponseScan): VerifiedAnswer | UpstreamError {
    if (this.idCount === 0 || status === 429 || status >= 500) return undefined;
    const code = status === 200 ? 'UPSTREAM_INVALID_ENVELOPE' : 'UPSTREAM_HTTP_OTHER';
    if (!this.isBatch) {
      scanResponse(body, 0, body.length, scan);
      if (!scan.ok) return new UpstreamError(code, false, `HTTP ${status}, not a JSON-RPC response: ${scan.reason}`);
      if (!idEqualsNumber(body, scan, this.firstId)) return new UpstreamError(code, false, `HTTP ${status}, the answer carries another request's id`);
      return scan;
    }
    const batch = scanBatchResponse(body);
    if (!batch.ok) return new UpstreamError(code, false, `HTTP ${status}, batch answered with something other than an array of JSON: ${batch.reason}`);
    const seen = new Uint8Array(this.idCount);
    for (const item of batch.items) {
      // A malformed element, or one with a null id (a server's answer to an element it could not
      // read), answers nothing: its call stays unanswered, and it cannot be passed off as another's.
      if (!item.ok || item.idKind === 'null') continue;
      const k = item.idKind === 'number' ? item.idNumber - this.firstId : -1;
      if (!(Number.isInteger(k) && k >= 0 && k < this.idCount)) return new UpstreamError(code, false, `HTTP ${status}, a batch element carries another request's id`);
      if (seen[k] === 1) return new UpstreamError(code, false, `HTTP ${status}, two batch elements carry the same id`);
      seen[k] = 1;
    }
    return batch;
  }

  /** performance.now() when the attempt was made (`request`'s `now`). */
  get createdAt(): number {
    return this.deadline - this.timeoutMs;
  }

  /** `firstByteAt`: performance.now() at the read that held the answer's first byte. */
  succeed(status: number, body: Buffer, receivedAt: number, answer: VerifiedAnswer, firstByteAt: number): void {
    if (this.settled) return;
    this.settled = true;
    this.owner.settledOne();
    // Rounded to whole microseconds (a small integer, no heap number); never negative.
    const operatorMicros = firstByteAt > this.sentAt ? Math.round((firstByteAt - this.sentAt) * 1000) : 0;
    this.handler.onUpstreamReply(status, body, receivedAt, answer, operatorMicros);
  }

  fail(err: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    this.owner.settledOne();
    this.handler.onUpstreamError(err);
  }

  timeout(): void {
    if (this.settled) return;
    // Still queued, or its connection never came up: the operator surely never saw it, so a write may go elsewhere.
    const neverSent = this.connection === undefined || !this.connection.isUp || !this.written;
    this.fail(new UpstreamError('UPSTREAM_TIMEOUT', neverSent, `no answer within ${this.timeoutMs} ms`));
    this.connection?.abandon(this);
  }
}

/** Before the connection is up, the request is still in Node's write buffer: it never left. */
function classify(err: unknown, connected: boolean): UpstreamError {
  const code = (err as { code?: string } | null)?.code ?? '';
  return new UpstreamError('UPSTREAM_CONNECT', !connected, code || (err as Error)?.message || 'socket error', err);
}
