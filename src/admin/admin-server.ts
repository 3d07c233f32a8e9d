/**
 * The admin listener: a small REST surface over the gateway's state, behind a bearer token.
 * Routes are registered by whoever owns the state (the composition root), so this file
 * knows nothing about operators or stakes.
 */
import uWS from 'uWebSockets.js';
import { type Exchange, readBody, writeReply } from '../router/http-reply.js';
import { refuseAndClose, requestHeadProblem } from '../router/request-head.js';
import { UwsListener } from '../router/uws-listener.js';
import { bearerMatches, isLoopback } from './bearer-auth.js';

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  /** Unset: the API is open, which is only allowed on a loopback address. */
  readonly token: string | undefined;
  readonly maxBodyBytes?: number;
}

export interface AdminRequest {
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  /** Parsed JSON body for POST; undefined otherwise. */
  readonly body: unknown;
  /** The `Idempotency-Key` header, when sent: a retried write with the same key applies once. */
  readonly idempotencyKey: string | undefined;
}

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
}

export class AdminError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export type AdminHandler = (req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

const JSON_HEADERS = [['content-type', 'application/json']] as const;

/** A head RFC 9112 says to refuse (request-head.ts): answered 400 and the connection closed, true. */
function refusedHead(res: uWS.HttpResponse, req: uWS.HttpRequest): boolean {
  const problem = requestHeadProblem(req);
  if (problem === undefined) return false;
  refuseAndClose(res, 400, JSON_HEADERS, JSON.stringify({ error: { code: 'INVALID_REQUEST', message: problem } }));
  return true;
}

export class AdminServer {
  private readonly app = uWS.App();
  private readonly listener = new UwsListener(this.app);

  constructor(private readonly options: AdminServerOptions) {
    if (options.token === undefined && !isLoopback(options.host)) {
      throw new Error(`admin listener on non-loopback address ${options.host} requires an admin token (DIN_ADMIN_TOKEN)`);
    }
  }

  get port(): number {
    return this.listener.port;
  }

  /** A route that needs the bearer token. `paramCount` names how many `:params` the pattern has. */
  route(method: 'get' | 'post', pattern: string, paramCount: number, handler: AdminHandler): this {
    this.app[method](pattern, (res, req) => {
      if (refusedHead(res, req)) return;
      const exchange: Exchange = { aborted: false };
      res.onAborted(() => {
        exchange.aborted = true;
      });
      const params: string[] = [];
      let malformed = false;
      for (let i = 0; i < paramCount; i++) {
        try {
          params.push(decodeURIComponent(req.getParameter(i) ?? ''));
        } catch {
          malformed = true;
        }
      }
      const query = new URLSearchParams(req.getQuery() ?? '');
      const idempotencyKey = req.getHeader('idempotency-key') || undefined;
      if (this.options.token !== undefined && !bearerMatches(req.getHeader('authorization'), this.options.token)) {
        this.send(res, exchange, { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } } });
        return;
      }
      if (idempotencyKey !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(idempotencyKey)) {
        this.send(res, exchange, { status: 400, body: { error: { code: 'INVALID_INPUT', message: 'Idempotency-Key: 1-128 characters of letters, digits, ".", "_", ":" or "-"' } } });
        return;
      }
      if (malformed) {
        this.send(res, exchange, { status: 400, body: { error: { code: 'INVALID_INPUT', message: 'malformed percent-encoding in the path' } } });
        return;
      }
      const run = (body: unknown) => {
        Promise.resolve()
          .then(() => handler({ params, query, body, idempotencyKey }))
          .catch((err: unknown) =>
            err instanceof AdminError
              ? { status: err.status, body: { error: { code: err.code, message: err.message } } }
              : { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } },
          )
          .then((reply) => this.send(res, exchange, reply));
      };
      if (method === 'get') {
        run(undefined);
        return;
      }
      readBody(res, exchange, this.options.maxBodyBytes ?? 64 * 1024, {
        onBody: (raw) => {
          let body: unknown;
          try {
            body = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
          } catch {
            this.send(res, exchange, { status: 400, body: { error: { code: 'INVALID_JSON', message: 'body is not valid JSON' } } });
            return;
          }
          run(body);
        },
        onTooLarge: () => {
          writeReply(res, 413, JSON_HEADERS, JSON.stringify({ error: { code: 'BODY_TOO_LARGE', message: 'body too large' } }), true);
          exchange.aborted = true;
        },
      });
    });
    return this;
  }

  /**
   * A GET route for scrapers: its own optional token (Prometheus holds a different secret
   * than an operator admin), a text body with its own content type.
   */
  scrapeRoute(pattern: string, token: string | undefined, produce: () => Promise<{ contentType: string; body: string }>): this {
    this.app.get(pattern, (res, req) => {
      if (refusedHead(res, req)) return;
      const exchange: Exchange = { aborted: false };
      res.onAborted(() => {
        exchange.aborted = true;
      });
      if (token !== undefined && !bearerMatches(req.getHeader('authorization'), token)) {
        this.send(res, exchange, { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } } });
        return;
      }
      produce().then(
        ({ contentType, body }) => {
          if (!exchange.aborted) writeReply(res, 200, [['content-type', contentType]], body);
        },
        () => this.send(res, exchange, { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } }),
      );
    });
    return this;
  }

  listen(): Promise<number> {
    this.app.any('/*', (res, req) => {
      if (!refusedHead(res, req)) this.send(res, { aborted: false }, { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such route' } } });
    });
    return this.listener.listen(this.options.host, this.options.port);
  }

  close(): void {
    this.listener.close();
  }

  private send(res: uWS.HttpResponse, exchange: Exchange, reply: AdminResponse): void {
    if (exchange.aborted) return;
    writeReply(res, reply.status, JSON_HEADERS, JSON.stringify(reply.body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  }
}
