/**
 * One operator's HTTP endpoint: an undici Pool with keep-alive, and one `send` that turns
 * every way an attempt can fail into a GatewayError the failover logic understands.
 */
import { type Dispatcher, Pool } from 'undici';
import { GatewayError } from '../errors.js';

export interface UpstreamOptions {
  readonly connections: number;
  readonly pipelining: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxResponseBytes: number;
}

export interface UpstreamReply {
  readonly status: number;
  readonly body: Buffer;
}

/** Socket-level failures raised before any byte of the request could have left. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** A failed attempt. `neverSent` is true only when the operator surely never saw the request. */
export class UpstreamError extends GatewayError {
  constructor(
    code: 'UPSTREAM_CONNECT' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_INVALID_ENVELOPE',
    readonly neverSent: boolean,
    detail: string,
    cause?: unknown,
  ) {
    super(code, detail, { cause });
  }
}

const JSON_HEADERS = { 'content-type': 'application/json' };

export class Upstream {
  private readonly pool: Pool;
  private readonly path: string;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly options: UpstreamOptions,
  ) {
    const parsed = new URL(url);
    this.path = parsed.pathname + parsed.search;
    this.pool = new Pool(parsed.origin, {
      connections: options.connections,
      pipelining: options.pipelining,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      connectTimeout: 5_000,
    });
  }

  /**
   * POSTs `body` and resolves with the status and whole response body, or rejects with an
   * UpstreamError. `idempotent` lets undici pipeline the request; writes are never pipelined.
   *
   * Uses undici's dispatch API with a small handler rather than `request()`: no Readable
   * stream, no async iterator and no AbortController per request, which the profile showed
   * as a large share of the gateway's own CPU per request.
   */
  send(body: Buffer | string, timeoutMs: number, idempotent: boolean): Promise<UpstreamReply> {
    if (this.closed) return Promise.reject(new UpstreamError('UPSTREAM_CONNECT', true, 'upstream closed'));
    return new Promise<UpstreamReply>((resolve, reject) => {
      const exchange = new Exchange(resolve, reject, this.options.maxResponseBytes, timeoutMs);
      this.pool.dispatch(
        {
          path: this.path,
          method: 'POST',
          headers: JSON_HEADERS,
          body,
          idempotent,
          blocking: !idempotent,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        exchange,
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close().catch(() => this.pool.destroy());
  }

  /** Drops connections at once, failing what is in flight. */
  async destroy(): Promise<void> {
    this.closed = true;
    await this.pool.destroy();
  }
}

/** One attempt in flight: collects the answer, enforces the deadline and the size cap. */
class Exchange implements Dispatcher.DispatchHandler {
  private status = 0;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private timedOut = false;
  private settled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly resolve: (reply: UpstreamReply) => void,
    private readonly reject: (err: UpstreamError) => void,
    private readonly maxBytes: number,
    private readonly timeoutMs: number,
  ) {
    // One deadline for the whole attempt; undici's own timeouts only bound each phase.
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.fail(new UpstreamError('UPSTREAM_TIMEOUT', false, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Error('attempt already settled'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = statusCode;
    const declared = Number(headers['content-length']);
    if (declared > this.maxBytes) this.fail(new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, `response of ${declared} bytes exceeds the limit`));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.fail(new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, `response exceeds ${this.maxBytes} bytes`));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    const chunks = this.chunks;
    this.resolve({ status: this.status, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size) });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.fail(classify(err, this.timedOut, this.timeoutMs));
  }

  /** Settles once with `err` and stops the exchange (the connection is dropped, not reused). */
  private fail(err: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.reject(err);
    if (this.controller !== undefined && !this.controller.aborted) this.controller.abort(err);
  }
}

function classify(err: unknown, aborted: boolean, timeoutMs: number): UpstreamError {
  const code = (err as { code?: string } | null)?.code ?? '';
  if (aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamError('UPSTREAM_TIMEOUT', false, `no answer within ${timeoutMs} ms`, err);
  }
  if (NEVER_SENT_CODES.has(code)) return new UpstreamError('UPSTREAM_CONNECT', true, code, err);
  return new UpstreamError('UPSTREAM_CONNECT', false, code || (err as Error)?.message || 'socket error', err);
}
