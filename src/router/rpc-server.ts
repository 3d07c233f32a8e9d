/**
 * The public RPC listener (uWebSockets.js): JSON-RPC over HTTP POST and WebSocket on `/`
 * and `/rpc/:chain`, CORS, `/health` and `/ready`. It reads bodies and writes answers; all
 * JSON-RPC decisions belong to the Forwarder.
 */
// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';
import uWS from 'uWebSockets.js';
import { ERRORS } from '../errors.js';
import type { Forwarder, ReplyTarget } from './forward.js';
import { type BodySink, type Exchange, type Headers, joinHeaders, readBody, writeReply } from './http-reply.js';
import { gatewayErrorResponse } from './jsonrpc.js';
import type { MemoryBudget } from './memory-budget.js';
import { refuseAndClose, requestHeadProblem } from './request-head.js';
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
}

interface SocketData {
  readonly chain: string;
  open: boolean;
  inflight: number;
  /** Bytes of the requests in flight. */
  inflightBytes: number;
  /** Bytes of answers written that the client has not read yet, as taken from the memory budget. */
  unread: number;
}

/** One POST on the RPC path: its abort state, the body's destination, and the answer's. */
class HttpCall implements Exchange, BodySink, ReplyTarget {
  aborted = false;
  answered = false;
  held = 0;

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
    if (!this.aborted) writeReply(this.res, status, body === null ? this.server.textHeaders : this.server.jsonHeaders, body);
  }
}

/** One WebSocket message: its answer is sent as a message, unless the socket has closed. */
class SocketCall implements ReplyTarget {
  answered = false;
  held = 0;

  constructor(
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
      .ws<SocketData>('/', this.socketBehavior(() => defaultChain))
      .ws<SocketData>('/rpc/:chain', this.socketBehavior((req) => req.getParameter(0)))
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
  }

  private rpc(res: uWS.HttpResponse, req: uWS.HttpRequest, chain: string): void {
    if (this.refusedHead(res, req)) return;
    const call = new HttpCall(this, res, chain);
    res.onAborted(() => {
      call.aborted = true;
    });
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

  private socketBehavior(chainOf: (req: uWS.HttpRequest) => string): uWS.WebSocketBehavior<SocketData> {
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
        const data: SocketData = { chain: chainOf(req), open: true, inflight: 0, inflightBytes: 0, unread: 0 };
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
        this.forwarder.handle(data.chain, Buffer.copyBytesFrom(new Uint8Array(message)), new SocketCall(ws, data, bytes, budget));
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
