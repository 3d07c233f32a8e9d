/**
 * An HTTP proxy in front of one JSON-RPC node that records every call it forwards (method
 * and params, batches item by item), so a test can count what reached that node through the
 * gateway: register the proxy's URL as the operator's URL instead of the node's.
 *
 * Requests are forwarded one for one over a keep-alive agent and answered with the node's
 * status, content type and body; a request the node cannot take (it is down) is answered 502.
 * Memory is bounded: at most `maxRecorded` calls are kept (later ones are dropped), and a
 * request body beyond 1 MiB is forwarded cut short (the node then refuses it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  readonly method: string;
  readonly params: readonly unknown[];
}

export interface CountingProxy {
  /** http://127.0.0.1:<port>/ */
  readonly url: string;
  /** Every call recorded so far, in arrival order (batches item by item). */
  readonly calls: readonly RecordedCall[];
  /** Calls of `method` recorded so far. */
  count(method: string): number;
  /** Calls recorded so far for which `predicate` holds. */
  countWhere(predicate: (call: RecordedCall) => boolean): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

function recordBody(body: Buffer, into: RecordedCall[], maxRecorded: number): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return;
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    const { method, params } = item as { method?: unknown; params?: unknown };
    if (typeof method !== 'string') continue;
    if (into.length < maxRecorded) into.push({ method, params: Array.isArray(params) ? params : [] });
  }
}

export async function startCountingProxy(targetUrl: string, options: { maxRecorded?: number } = {}): Promise<CountingProxy> {
  const maxRecorded = options.maxRecorded ?? 200_000;
  const target = new URL(targetUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const calls: RecordedCall[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      recordBody(body, calls, maxRecorded);
      const upstream = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: req.method,
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json', 'content-length': String(body.length) },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const payload = Buffer.concat(parts);
            res.writeHead(answer.statusCode ?? 502, {
              'content-type': answer.headers['content-type'] ?? 'application/json',
              'content-length': String(payload.length),
            });
            res.end(payload);
          });
          answer.on('error', () => res.destroy());
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502, { 'content-length': '0' });
        res.end();
      });
      upstream.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    calls,
    count: (method) => calls.reduce((n, c) => n + (c.method === method ? 1 : 0), 0),
    countWhere: (predicate) => calls.reduce((n, c) => n + (predicate(c) ? 1 : 0), 0),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
