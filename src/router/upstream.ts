/**
 * One operator's HTTP endpoint: an undici Pool with keep-alive, and one `send` that turns
 * every way an attempt can fail into a GatewayError the failover logic understands.
 */
import { Pool } from 'undici';
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
   */
  async send(body: Buffer | string, timeoutMs: number, idempotent: boolean): Promise<UpstreamReply> {
    if (this.closed) throw new UpstreamError('UPSTREAM_CONNECT', true, 'upstream closed');
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: JSON_HEADERS,
        body,
        signal: abort.signal,
        idempotent,
        blocking: !idempotent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const declared = Number(response.headers['content-length']);
      if (declared > this.options.maxResponseBytes) {
        response.body.destroy();
        throw new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, `response of ${declared} bytes exceeds the limit`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.options.maxResponseBytes) {
          response.body.destroy();
          throw new UpstreamError('UPSTREAM_INVALID_ENVELOPE', false, `response exceeds ${this.options.maxResponseBytes} bytes`);
        }
        chunks.push(chunk);
      }
      return { status: response.statusCode, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) };
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw classify(err, abort.signal.aborted, timeoutMs);
    } finally {
      clearTimeout(timer);
    }
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

function classify(err: unknown, aborted: boolean, timeoutMs: number): UpstreamError {
  const code = (err as { code?: string } | null)?.code ?? '';
  if (aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamError('UPSTREAM_TIMEOUT', false, `no answer within ${timeoutMs} ms`, err);
  }
  if (NEVER_SENT_CODES.has(code)) return new UpstreamError('UPSTREAM_CONNECT', true, code, err);
  return new UpstreamError('UPSTREAM_CONNECT', false, code || (err as Error)?.message || 'socket error', err);
}
