/**
 * The public RPC listener (uWebSockets.js): JSON-RPC over HTTP POST and WebSocket on `/`,
 * `/rpc/:chain` and `/rpc/:chain/:key`, CORS, `/health` and `/ready`. It reads bodies and
 * writes answers, identifies the client (IP, API key) and admits its bodies against the rate
 * limiter; all JSON-RPC decisions belong to the Forwarder.
 */
// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';
import uWS from 'uWebSockets.js';
import { ERRORS } from '../errors.js';
import type { AdmissibleBody, Forwarder, ReplyTarget } from './forward.js';
import { type BodySink, type Exchange, type Headers, joinHeaders, type PendingWrite, readBody, STREAMED_MIN_BYTES, writeReply, writeStreamedReply } from './http-reply.js';
import { gatewayErrorResponse } from './jsonrpc.js';
import type { MemoryBudget } from './memory-budget.js';
import { refuseAndClose, requestHeadProblem } from './request-head.js';
import type { ApiKeyPolicy, RateLimiter } from './rate-limit.js';
import type { RoutingState } from './routing-table.js';
import { UwsListener } from './uws-listener.js';

export interface RpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxBodyBytes: number;
  readonly allowOrigin: string;
  readonly defaultChain: string;
  /** Answers not yet sent on one WebSocket before further messages are refused. */
  readonly maxInflightPerSocket?: number;
  /** Request bytes in flight on one WebSocket before further messages are refused. */
  readonly maxInflightBytesPerSocket?: number;
  /** Rate limiting and API keys; absent: neither. */
  readonly rateLimit?: RpcRateLimitOptions;
}

export interface RpcRateLimitOptions {
  readonly limiter: RateLimiter;
  /** false: API keys are checked, no budget is charged (`rateLimit.enabled: false` with keys configured). */
  readonly chargeBudgets: boolean;
  /** Every request must carry a configured key. */
  readonly keysRequired: boolean;
  /** The header a key may come in (lowercase). */
  readonly keyHeader: string;
  /** Proxies whose X-Forwarded-For entries are believed: 0, the socket's address is the client's. */
  readonly trustedProxyHops: number;
}

/** Who sent a request, for the rate limiter: the key's policy when it came with one, else its IP. */
interface Client {
  /** See clientIp. */
  ip: string | number;
  key: ApiKeyPolicy | undefined;
  /** Seconds, for the Retry-After of a refusal. */
  retryAfter: number;
}

interface SocketData extends Client {
  readonly chain: string;
  open: boolean;
  inflight: number;
  /** Bytes of the requests in flight. */
  inflightBytes: number;
  /** Bytes of answers written that the client has not read yet, as taken from the memory budget. */
  unread: number;
}

/** One POST on the RPC path: its abort state, the body's destination, and the answer's. */
class HttpCall implements Exchange, BodySink, ReplyTarget, Client {
  aborted = false;
  answered = false;
  held = 0;
  /** A large answer the client has not taken all of yet. */
  private pending: PendingWrite | undefined;
  ip: string | number = 0;
  key: ApiKeyPolicy | undefined = undefined;
  retryAfter = 0;

  constructor(
    private readonly server: RpcServer,
    private readonly res: uWS.HttpResponse,
    private readonly chain: string,
  ) {}

  onBody(body: Buffer): void {
    this.server.forwarder.handle(this.chain, body, this);
  }

  onTooLarge(): void {
    this.server.tooLarge(this.res, this);
  }

  reply(status: number, body: string | Buffer | null): void {
    if (this.aborted) return;
    const headers = status === 429 ? this.server.retryAfterHeaders(this.retryAfter) : body === null ? this.server.textHeaders : this.server.jsonHeaders;
    if (body !== null && typeof body !== 'string' && body.length >= STREAMED_MIN_BYTES) {
      this.pending = writeStreamedReply(this.res, status, headers, body, this.server.forwarder.budget);
    } else writeReply(this.res, status, headers, body);
  }

  /** The client went away: nothing more is written, and what was waiting to be goes back to the budget. */
  abort(): void {
    this.aborted = true;
    this.pending?.release();
  }

  admit(parsed: AdmissibleBody): string | undefined {
    return this.server.admit(parsed, this);
  }
}

/** One WebSocket message: its answer is sent as a message, unless the socket has closed. */
class SocketCall implements ReplyTarget {
  answered = false;
  held = 0;

  constructor(
    private readonly server: RpcServer,
    private readonly ws: uWS.WebSocket<SocketData>,
    /** Read at the message: once the socket has closed, `ws` may no longer be touched. */
    private readonly data: SocketData,
    private readonly bytes: number,
    private readonly budget: MemoryBudget,
  ) {}

  reply(_status: number, body: string | Buffer | null): void {
    const data = this.data;
    data.inflight--;
    data.inflightBytes -= this.bytes;
    if (!data.open || body === null) return;
    const ws = this.ws;
    ws.cork(() => {
      const before = ws.getBufferedAmount();
      ws.send(body, false);
      // What the client has not read stays in uWS's buffer: counted until it drains.
      const added = ws.getBufferedAmount() - before;
      if (added > 0) {
        data.unread += added;
        this.budget.take(added);
      }
    });
  }

  admit(parsed: AdmissibleBody): string | undefined {
    return this.server.admit(parsed, this.data);
  }
}

/** uWS's HTTP idle timeout (HTTP_IDLE_TIMEOUT_S, fixed in the build): an idle keep-alive connection is closed after it. */
const UWS_HTTP_IDLE_TIMEOUT_S = 10;

/** A socket whose unsent data passes this is closed: a reader too slow to keep up. */
const WS_MAX_BACKPRESSURE = 64 * 1024 * 1024;

export class RpcServer {
  private readonly app: uWS.TemplatedApp;
  private readonly listener: UwsListener;
  readonly jsonHeaders: Headers;
  readonly textHeaders: Headers;
  /** The JSON headers with `Retry-After: <index>`, made on first use. */
  private readonly retryHeaders: Headers[] = [];
  private readonly allowOrigin: readonly [string, string];
  private readonly keepAlive: readonly [string, string];

  constructor(
    readonly forwarder: Forwarder,
    private readonly routing: RoutingState,
    private readonly options: RpcServerOptions,
  ) {
    const allowOrigin = ['access-control-allow-origin', options.allowOrigin] as const;
    // uWS closes an HTTP connection after 10 s without traffic. Said in advance, a client that
    // reads the hint (undici does) closes its idle connection first, instead of writing a
    // request into one as it is being closed (ECONNRESET, and a POST is not retried).
    const keepAlive = ['keep-alive', `timeout=${UWS_HTTP_IDLE_TIMEOUT_S}`] as const;
    this.allowOrigin = allowOrigin;
    this.keepAlive = keepAlive;
    this.jsonHeaders = joinHeaders([['content-type', 'application/json'], allowOrigin, keepAlive]);
    this.textHeaders = joinHeaders([allowOrigin, keepAlive]);
    this.app = uWS.App();
    const defaultChain = options.defaultChain;
    this.app
      .get('/health', (res, req) => {
        if (!this.refusedHead(res, req)) this.sendStatic(res, 200, '{"status":"ok"}');
      })
      .get('/ready', (res, req) => {
        if (!this.refusedHead(res, req)) this.ready(res);
      })
      .options('/*', (res, req) => this.preflight(res, req))
      .post('/', (res, req) => this.rpc(res, req, defaultChain))
      .post('/rpc/:chain', (res, req) => this.rpc(res, req, req.getParameter(0)))
      .post('/rpc/:chain/:key', (res, req) => this.rpc(res, req, req.getParameter(0), req.getParameter(1)))
      .ws<SocketData>('/', this.socketBehavior(() => defaultChain))
      .ws<SocketData>('/rpc/:chain', this.socketBehavior((req) => req.getParameter(0)))
      .ws<SocketData>('/rpc/:chain/:key', this.socketBehavior((req) => req.getParameter(0), true))
      .any('/*', (res, req) => this.notFound(res, req));
    this.listener = new UwsListener(this.app);
  }

  get port(): number {
    return this.listener.port;
  }

  /** `shared`: the port is shared with this process's other data-plane workers (see UwsListener.listen). */
  listen(shared = false): Promise<number> {
    return this.listener.listen(this.options.host, this.options.port, shared);
  }

  /** Stops accepting connections; open ones keep being served. */
  stopAccepting(): void {
    this.listener.stopAccepting();
  }

  /** Closes every connection, HTTP and WebSocket. */
  close(): void {
    this.listener.close();
    this.options.rateLimit?.limiter.close();
  }

  private rpc(res: uWS.HttpResponse, req: uWS.HttpRequest, chain: string, pathKey?: string): void {
    if (this.refusedHead(res, req)) return;
    const call = new HttpCall(this, res, chain);
    res.onAborted(() => call.abort());
    if (this.options.rateLimit !== undefined && !this.identify(res, req, pathKey, call)) {
      // The body is never read, so the connection cannot be reused.
      writeReply(res, ERRORS.API_KEY_REJECTED.httpStatus, this.jsonHeaders, gatewayErrorResponse(null, 'API_KEY_REJECTED'), true);
      call.aborted = true;
      return;
    }
    const declared = req.getHeader('content-length');
    if (declared !== '' && Number(declared) > this.options.maxBodyBytes) {
      this.tooLarge(res, call);
      return;
    }
    if (declared !== '' && !this.forwarder.budget.fits(2 * Number(declared))) {
      this.overloaded(res, call);
      return;
    }
    readBody(res, call, this.options.maxBodyBytes, call);
  }

  /** A head RFC 9112 says to refuse (request-head.ts): answered 400, the connection closed, true. */
  private refusedHead(res: uWS.HttpResponse, req: uWS.HttpRequest): boolean {
    const problem = requestHeadProblem(req);
    if (problem === undefined) return false;
    this.forwarder.recordClientFault('invalid_request');
    refuseAndClose(res, ERRORS.INVALID_REQUEST.httpStatus, this.jsonHeaders, gatewayErrorResponse(null, 'INVALID_REQUEST', problem));
    return true;
  }

  tooLarge(res: uWS.HttpResponse, exchange: Exchange): void {
    this.forwarder.recordClientFault('body_too_large');
    const body = gatewayErrorResponse(null, 'BODY_TOO_LARGE', `at most ${this.options.maxBodyBytes} bytes`);
    // The rest of the body is never read, so the connection cannot be reused.
    writeReply(res, ERRORS.BODY_TOO_LARGE.httpStatus, this.jsonHeaders, body, true);
    exchange.aborted = true;
  }

  /** The memory budget is spent: refused before the body is read, so the connection cannot be reused. */
  private overloaded(res: uWS.HttpResponse, exchange: Exchange): void {
    this.forwarder.budget.refusals++;
    writeReply(res, ERRORS.OVERLOADED.httpStatus, this.jsonHeaders, gatewayErrorResponse(null, 'OVERLOADED'), true);
    exchange.aborted = true;
  }

  /**
   * Reads who sent the request into `client`: its API key's policy (from the path's last
   * segment or the key header), else its IP. False when the key is unknown, or missing where
   * keys are required. Must run before the handler returns (uWS's `req` is valid only then).
   */
  private identify(res: uWS.HttpResponse, req: uWS.HttpRequest, pathKey: string | undefined, client: Client): boolean {
    const rl = this.options.rateLimit!;
    const limiter = rl.limiter;
    const key = pathKey ?? (limiter.hasKeys ? req.getHeader(rl.keyHeader) : '');
    if (key !== '') {
      // Never echoed or logged: the answer says only that the key was refused. No configured key is longer than 128.
      client.key = key.length <= 128 ? limiter.keyPolicy(key) : undefined;
      if (client.key === undefined) {
        this.forwarder.recordClientFault('api_key_rejected');
        return false;
      }
      return true;
    }
    if (rl.keysRequired) {
      this.forwarder.recordClientFault('api_key_rejected');
      return false;
    }
    // Read only when IPs are limited: uWS allocates for every read.
    if (limiter.options.perIp !== null) client.ip = clientIp(res, req, rl.trustedProxyHops);
    return true;
  }

  /** Charges a body's cost to its client: undefined when admitted, else the refusal (and `client.retryAfter` set). */
  admit(parsed: AdmissibleBody, client: Client): string | undefined {
    const rl = this.options.rateLimit;
    if (rl === undefined || !rl.chargeBudgets) return undefined;
    const limiter = rl.limiter;
    const cost = parsed.kind === 'single' ? limiter.costs.of(parsed.call.method) : limiter.costs.ofBatch(parsed.entries);
    const wait = limiter.charge(client.ip, client.key, cost);
    if (wait === 0) return undefined;
    this.forwarder.recordClientFault(client.key === undefined ? 'rate_limited_ip' : 'rate_limited_key');
    client.retryAfter = wait;
    return gatewayErrorResponse(parsed.kind === 'single' ? parsed.call.id : null, 'LIMIT_EXCEEDED', `retry after ${wait} s`);
  }

  /** The JSON headers and `Retry-After: seconds`, made once per distinct value up to an hour. */
  retryAfterHeaders(seconds: number): Headers {
    const cached = seconds <= 3600 ? this.retryHeaders[seconds] : undefined;
    if (cached !== undefined) return cached;
    const headers = joinHeaders([['content-type', 'application/json'], this.allowOrigin, this.keepAlive, ['retry-after', String(seconds)]]);
    if (seconds <= 3600) this.retryHeaders[seconds] = headers;
    return headers;
  }

  private socketBehavior(chainOf: (req: uWS.HttpRequest) => string, keyInPath = false): uWS.WebSocketBehavior<SocketData> {
    const maxInflight = this.options.maxInflightPerSocket ?? 1024;
    const maxInflightBytes = this.options.maxInflightBytesPerSocket ?? 4 * this.options.maxBodyBytes;
    const budget = this.forwarder.budget;
    return {
      maxPayloadLength: this.options.maxBodyBytes,
      maxBackpressure: WS_MAX_BACKPRESSURE,
      closeOnBackpressureLimit: 1,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        const data: SocketData = { chain: chainOf(req), open: true, inflight: 0, inflightBytes: 0, unread: 0, ip: 0, key: undefined, retryAfter: 0 };
        if (this.options.rateLimit !== undefined && !this.identify(res, req, keyInPath ? req.getParameter(1) : undefined, data)) {
          writeReply(res, ERRORS.API_KEY_REJECTED.httpStatus, this.jsonHeaders, gatewayErrorResponse(null, 'API_KEY_REJECTED'), true);
          return;
        }
        res.upgrade(
          data,
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      message: (ws, message) => {
        const data = ws.getUserData();
        if (data.inflight >= maxInflight) {
          ws.send(gatewayErrorResponse(null, 'INVALID_REQUEST', `more than ${maxInflight} requests in flight on this socket`));
          return;
        }
        const bytes = message.byteLength;
        if (data.inflightBytes + bytes > maxInflightBytes) {
          ws.send(gatewayErrorResponse(null, 'OVERLOADED', `more than ${maxInflightBytes} bytes of requests in flight on this socket`));
          return;
        }
        data.inflight++;
        data.inflightBytes += bytes;
        this.forwarder.handle(data.chain, Buffer.copyBytesFrom(new Uint8Array(message)), new SocketCall(this, ws, data, bytes, budget));
      },
      drain: (ws) => {
        const data = ws.getUserData();
        const unread = ws.getBufferedAmount();
        if (unread < data.unread) {
          budget.give(data.unread - unread);
          data.unread = unread;
        }
      },
      close: (ws) => {
        const data = ws.getUserData();
        data.open = false;
        budget.give(data.unread);
        data.unread = 0;
      },
    };
  }

  private ready(res: uWS.HttpResponse): void {
    const table = this.routing.current;
    const chains: Record<string, number> = {};
    for (const route of table.routes) chains[route.chain] = route.operators.length;
    const ready = table.ready;
    this.sendStatic(res, ready ? 200 : 503, JSON.stringify({ status: ready ? 'ready' : 'not_ready', chains }));
  }

  private preflight(res: uWS.HttpResponse, req: uWS.HttpRequest): void {
    if (this.refusedHead(res, req)) return;
    const requested = req.getHeader('access-control-request-headers');
    writeReply(res, 204, [
      ['access-control-allow-origin', this.options.allowOrigin],
      ['access-control-allow-methods', 'POST, GET, OPTIONS'],
      ['access-control-allow-headers', requested === '' ? 'content-type' : requested],
      ['access-control-max-age', '86400'],
    ], null);
  }

  private notFound(res: uWS.HttpResponse, req: uWS.HttpRequest): void {
    if (this.refusedHead(res, req)) return;
    const url = req.getUrl();
    const isRpcPath = url === '/' || url.startsWith('/rpc/');
    const status = isRpcPath ? 405 : 404;
    const message = isRpcPath ? 'JSON-RPC is served by POST (or a WebSocket upgrade) on this path' : 'no such route';
    this.sendStatic(res, status, JSON.stringify({ error: { code: isRpcPath ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', message } }));
  }

  private sendStatic(res: uWS.HttpResponse, status: number, body: string): void {
    writeReply(res, status, this.jsonHeaders, body);
  }
}

/**
 * The client, as the rate limiter keys it: the socket's peer, or with `trustedProxyHops`
 * proxies in front, the address the outermost trusted one saw (X-Forwarded-For read from the
 * right, as Express's "trust proxy" count does; a header with fewer entries gives its
 * leftmost). A socket's IPv4 address is a number (no string per request); an IPv6 one its
 * /64, the block one subscriber is usually given, so a client cannot multiply its budget by
 * changing addresses inside it.
 */
function clientIp(res: uWS.HttpResponse, req: uWS.HttpRequest, trustedProxyHops: number): string | number {
  if (trustedProxyHops > 0) {
    const forwarded = req.getHeader('x-forwarded-for');
    if (forwarded !== '') {
      const hops = forwarded.split(',');
      // An address is at most 45 characters: a longer entry (which only a client left of the trusted proxies can write) is cut, to bound the buckets' keys.
      return hops[Math.max(0, hops.length - trustedProxyHops)]!.trim().slice(0, 45);
    }
  }
  const a = new Uint8Array(res.getRemoteAddress());
  if (a.length === 4) return ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  if (a.length !== 16) return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  let mapped = a[10] === 0xff && a[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = a[i] === 0;
  if (mapped) return ((a[12]! << 24) | (a[13]! << 16) | (a[14]! << 8) | a[15]!) >>> 0;
  return `${Buffer.from(a.subarray(0, 8)).toString('hex')}/64`;
}
