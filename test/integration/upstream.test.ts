/**
 * The upstream HTTP/1.1 client over real sockets: what goes on the wire, connection reuse,
 * the pool limit, pipelining, every way an attempt fails (and whether the operator may have
 * seen it), keep-alive expiry on both sides, close/destroy, and that nothing leaks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CallBody, FIRST_ID, Upstream, UpstreamError, type UpstreamOptions } from '../../src/router/upstream.js';

const BASE: UpstreamOptions = { connections: 4, pipelining: 1, keepAliveTimeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Everything opened by a test, closed after it whatever happened. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function upstream(url: string, options: Partial<UpstreamOptions> = {}): Upstream {
  const u = new Upstream(url, { ...BASE, ...options });
  cleanups.push(() => u.destroy());
  return u;
}

// ---------------------------------------------------------------------------------------------
// A raw server: each request parsed off the socket, the answer scripted byte for byte.

interface RawRequest {
  readonly head: string;
  readonly requestLine: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  readonly raw: Buffer;
  /** Which accepted connection it came on, from 0. */
  readonly conn: number;
  readonly socket: net.Socket;
}

interface RawServer {
  readonly port: number;
  readonly url: string;
  readonly requests: RawRequest[];
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open right now. */
  open: number;
  /** Resolves once the server side has no connection open. */
  allClosed(): Promise<void>;
  close(): Promise<void>;
}

type OnRequest = (req: RawRequest, server: RawServer) => void;

/** HTTP/1.1 200 with a Content-Length. */
function answer(body: string | Buffer, extraHead = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\n${extraHead}Content-Length: ${b.length}\r\n\r\n`), b]);
}

async function rawServer(onRequest: OnRequest, onConnection?: (socket: net.Socket, server: RawServer) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  let closedWaiters: (() => void)[] = [];
  const state = {
    port: 0,
    url: '',
    requests: [] as RawRequest[],
    accepted: 0,
    open: 0,
    allClosed: () => (state.open === 0 ? Promise.resolve() : new Promise<void>((resolve) => closedWaiters.push(resolve))),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((socket) => {
    const conn = state.accepted++;
    state.open++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      if (--state.open === 0) {
        const waiters = closedWaiters;
        closedWaiters = [];
        for (const w of waiters) w();
      }
    });
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const at = pending.indexOf('\r\n\r\n');
        if (at === -1) return;
        const head = pending.subarray(0, at).toString('latin1');
        const lines = head.split('\r\n');
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
        }
        const length = Number(headers.get('content-length') ?? 0);
        if (pending.length < at + 4 + length) return;
        const raw = Buffer.from(pending.subarray(0, at + 4 + length));
        const req: RawRequest = { head, requestLine: lines[0]!, headers, body: raw.subarray(at + 4), raw, conn, socket };
        pending = pending.subarray(at + 4 + length);
        state.requests.push(req);
        onRequest(req, state);
      }
    });
    onConnection?.(socket, state);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}/rpc`;
  cleanups.push(() => state.close());
  return state;
}

/** Answers every request with its own body. */
const echo: OnRequest = (req) => req.socket.write(answer(req.body));

interface CountingHttpServer {
  readonly url: string;
  readonly server: HttpServer;
  connections: number;
}

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void, tune?: (s: HttpServer) => void): Promise<CountingHttpServer> {
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => handler(req, res, Buffer.concat(parts)));
  });
  tune?.(server);
  const state = { url: '', server, connections: 0 };
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return state;
}

async function rejection(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  }
  throw new Error('expected the attempt to fail');
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------

describe('Upstream: the request on the wire', () => {
  it('sends exactly the request line, Host with port, Content-Type, Content-Length and the body', async () => {
    const server = await rawServer(echo);
    const u = upstream(`http://127.0.0.1:${server.port}/v1/key?x=1&y=%20`);
    const bodies: (string | Buffer)[] = ['{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', Buffer.from('[1,2,3]'), 'héllo € 😀 \u{10ffff}', '', Buffer.alloc(0), 'x'.repeat(100_000)];
    for (const body of bodies) {
      const reply = await u.send(body, 1_000, true);
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      expect(reply.status).toBe(200);
      expect(reply.body.equals(bytes)).toBe(true);
      const req = server.requests.at(-1)!;
      expect(req.raw.equals(Buffer.concat([
        Buffer.from(`POST /v1/key?x=1&y=%20 HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`),
        bytes,
      ]))).toBe(true);
    }
    // Nothing was written past the last body.
    await sleep(20);
    expect(server.requests).toHaveLength(bodies.length);
  });

  it('Content-Length counts UTF-8 bytes around every digit-count boundary', async () => {
    const server = await rawServer(echo);
    const u = upstream(server.url);
    for (const n of [9, 10, 99, 100, 999, 1000, 9999, 10_000, 99_999, 100_000]) {
      // Two-byte characters with a one-byte tail: bytes = n, characters fewer.
      const body = 'é'.repeat(Math.floor(n / 2)) + (n % 2 === 1 ? 'a' : '');
      expect(Buffer.byteLength(body)).toBe(n);
      const reply = await u.send(body, 1_000, true);
      expect(reply.body.toString('utf8')).toBe(body);
      expect(server.requests.at(-1)!.headers.get('content-length')).toBe(String(n));
    }
  });

  it('a URL without a path asks for /', async () => {
    const server = await rawServer(echo);
    const u = upstream(`http://127.0.0.1:${server.port}`);
    await u.send('{}', 1_000, true);
    expect(server.requests[0]!.requestLine).toBe('POST / HTTP/1.1');
  });

  it('sends Basic auth for a URL with user info, decoded', async () => {
    const server = await rawServer(echo);
    const u = upstream(`http://us%40er:p%3Ass%20word@127.0.0.1:${server.port}/`);
    await u.send('{}', 1_000, true);
    const req = server.requests[0]!;
    expect(req.headers.get('authorization')).toBe(`Basic ${Buffer.from('us@er:p:ss word').toString('base64')}`);
    expect(req.headers.get('host')).toBe(`127.0.0.1:${server.port}`);
    // No credentials are sent without user info.
    const plain = upstream(server.url);
    await plain.send('{}', 1_000, true);
    expect(server.requests[1]!.headers.has('authorization')).toBe(false);
  });

  it('brackets an IPv6 host in Host and connects to it', async () => {
    const probe = net.createServer();
    const hasV6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => resolve(true));
    });
    if (!hasV6) return;
    const port = (probe.address() as net.AddressInfo).port;
    const got: string[] = [];
    probe.on('connection', (s) => s.on('data', (d) => {
      got.push(d.toString('latin1'));
      s.write(answer('ok'));
    }));
    cleanups.push(() => new Promise<void>((resolve) => probe.close(() => resolve())));
    const u = upstream(`http://[::1]:${port}/`);
    const reply = await u.send('{}', 1_000, true);
    expect(reply.body.toString()).toBe('ok');
    expect(got[0]).toContain(`Host: [::1]:${port}\r\n`);
  });

  it('rejects URLs it cannot serve', () => {
    expect(() => new Upstream('ws://127.0.0.1:1/', BASE)).toThrow(/unsupported protocol/);
    expect(() => new Upstream('not a url', BASE)).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!hasOpenssl)('Upstream: https', () => {
  let dir = '';
  function makeCert(): { key: Buffer; cert: Buffer; certPath: string } {
    dir = mkdtempSync(join(tmpdir(), 'upstream-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const r = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    expect(r.status, r.stderr.toString()).toBe(0);
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), certPath: join(dir, 'cert.pem') };
  }

  async function httpsServer(key: Buffer, cert: Buffer): Promise<{ port: number; servernames: (string | false)[]; connections: number }> {
    const state = { port: 0, servernames: [] as (string | false)[], connections: 0 };
    const server = createHttpsServer({ key, cert }, (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => res.end(Buffer.concat([Buffer.from(`${req.headers.host} `), ...parts])));
    });
    server.on('secureConnection', (s) => {
      state.connections++;
      state.servernames.push((s as unknown as { servername: string | false }).servername);
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.port = (server.address() as net.AddressInfo).port;
    cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    return state;
  }

  it('an untrusted certificate is UPSTREAM_CONNECT, never sent (there is no option to trust a private CA)', async () => {
    const { key, cert } = makeCert();
    const server = await httpsServer(key, cert);
    const u = upstream(`https://localhost:${server.port}/`);
    const err = await rejection(u.send('{}', 2_000, false));
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(err.neverSent).toBe(true);
    expect(err.detail).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
  });

  it('with the CA trusted process-wide (NODE_EXTRA_CA_CERTS), answers come back over TLS, with SNI for names, reusing the connection', async () => {
    const { key, cert, certPath } = makeCert();
    const server = await httpsServer(key, cert);
    const script = join(dir, 'client.mts');
    const src = pathToFileURL(fileURLToPath(new URL('../../src/router/upstream.ts', import.meta.url))).href;
    writeFileSync(script, `
      import { Upstream } from ${JSON.stringify(src)};
      const out = [];
      for (const host of ['localhost', '127.0.0.1']) {
        const u = new Upstream('https://' + host + ':${server.port}/', { connections: 2, pipelining: 1, keepAliveTimeoutMs: 5000, maxResponseBytes: 1 << 20 });
        for (const body of ['{"a":1}', 'x'.repeat(200000)]) {
          const r = await u.send(body, 5000, true);
          out.push({ status: r.status, length: r.body.length, head: r.body.subarray(0, 40).toString() });
        }
        await u.close();
      }
      console.log(JSON.stringify(out));
    `);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: certPath }, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    const out = JSON.parse(stdout) as { status: number; length: number; head: string }[];
    const host = (h: string) => `${h}:${server.port} `;
    expect(out).toEqual([
      { status: 200, length: host('localhost').length + 7, head: `${host('localhost')}{"a":1}` },
      { status: 200, length: host('localhost').length + 200_000, head: `${host('localhost')}${'x'.repeat(40 - host('localhost').length)}` },
      { status: 200, length: host('127.0.0.1').length + 7, head: `${host('127.0.0.1')}{"a":1}` },
      { status: 200, length: host('127.0.0.1').length + 200_000, head: `${host('127.0.0.1')}${'x'.repeat(40 - host('127.0.0.1').length)}` },
    ]);
    // One connection per Upstream; SNI carries the name, never an IP address (RFC 6066 §3).
    expect(server.connections).toBe(2);
    expect(server.servernames).toEqual(['localhost', false]);
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------

describe('Upstream: connections', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const server = await httpServer((_req, res, body) => res.end(body));
    const u = upstream(server.url);
    for (let i = 0; i < 20; i++) expect((await u.send(`{"i":${i}}`, 1_000, i % 2 === 0)).body.toString()).toBe(`{"i":${i}}`);
    expect(server.connections).toBe(1);
  });

  it('with connections: 2, ten concurrent requests use at most two sockets and all succeed', async () => {
    let concurrent = 0;
    let peak = 0;
    const server = await httpServer((_req, res, body) => {
      peak = Math.max(peak, ++concurrent);
      setTimeout(() => {
        concurrent--;
        res.end(body);
      }, 20);
    });
    const u = upstream(server.url, { connections: 2 });
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => u.send(`"${i}"`, 2_000, i % 3 !== 0)));
    expect(replies.map((r) => r.body.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `"${i}"`));
    expect(server.connections).toBe(2);
    expect(peak).toBe(2);
  });

  it('pipelines reads on a shared connection and returns them in order', async () => {
    // The server holds answers until it has four requests on a connection, then answers in order.
    const server = await rawServer((req, s) => {
      const on = s.requests.filter((r) => r.conn === req.conn);
      if (on.length % 4 === 0) for (const r of on.slice(-4)) r.socket.write(answer(r.body));
    });
    const u = upstream(server.url, { connections: 1, pipelining: 4 });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => u.send(`{"n":${i}}`, 2_000, true)));
    expect(replies.map((r) => r.body.toString())).toEqual(Array.from({ length: 8 }, (_, i) => `{"n":${i}}`));
    expect(server.accepted).toBe(1);
  });

  it('a write never shares a connection, and nothing is pipelined behind it', async () => {
    // Answers are held 30 ms; the server records what was outstanding on a connection when each request arrived.
    const outstanding = new Map<number, Set<string>>();
    const violations: string[] = [];
    const server = await rawServer((req) => {
      const set = outstanding.get(req.conn) ?? new Set<string>();
      outstanding.set(req.conn, set);
      const name = req.body.toString();
      const others = [...set];
      if (name.startsWith('w') && others.length > 0) violations.push(`${name} arrived behind ${others.join(',')}`);
      if (others.some((o) => o.startsWith('w'))) violations.push(`${name} pipelined behind ${others.join(',')}`);
      if (others.length >= 4) violations.push(`${name} made ${others.length + 1} outstanding`);
      set.add(name);
      setTimeout(() => {
        set.delete(name);
        req.socket.write(answer(req.body));
      }, 30);
    });
    const u = upstream(server.url, { connections: 2, pipelining: 4 });
    const names = Array.from({ length: 40 }, (_, i) => (i % 5 === 2 ? `w${i}` : `r${i}`));
    const replies = await Promise.all(names.map((n) => u.send(n, 5_000, n.startsWith('r'))));
    expect(replies.map((r) => r.body.toString())).toEqual(names);
    expect(violations).toEqual([]);
    expect(server.accepted).toBe(2);
    // Reads did share connections.
    expect(server.requests.length).toBe(40);
  });

  it('without pipelining, requests beyond the pool wait their turn (none is pipelined)', async () => {
    let maxOutstanding = 0;
    const outstanding = new Map<number, number>();
    const server = await rawServer((req) => {
      const n = (outstanding.get(req.conn) ?? 0) + 1;
      outstanding.set(req.conn, n);
      maxOutstanding = Math.max(maxOutstanding, n);
      setTimeout(() => {
        outstanding.set(req.conn, outstanding.get(req.conn)! - 1);
        req.socket.write(answer(req.body));
      }, 5);
    });
    const u = upstream(server.url, { connections: 3, pipelining: 1 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => u.send(String(i), 2_000, true)));
    expect(maxOutstanding).toBe(1);
    expect(server.accepted).toBe(3);
  });

  /** A raw echo server that also counts the reads ('data' events) on each connection. */
  async function countingReads(holdMs = 0): Promise<{ server: RawServer; reads: number[] }> {
    const reads: number[] = [];
    const server = await rawServer(
      (req) => setTimeout(() => req.socket.write(answer(req.body)), holdMs),
      (socket, s) => {
        const conn = s.accepted - 1;
        reads[conn] = 0;
        socket.on('data', () => reads[conn]!++);
      },
    );
    return { server, reads };
  }

  it('with pipelining, shareable requests of one turn go out together: one connection, one write', async () => {
    const { server, reads } = await countingReads();
    const u = upstream(server.url, { connections: 4, pipelining: 8 });
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => u.send(`{"n":${i}}`, 2_000, true)));
    expect(replies.map((r) => r.body.toString())).toEqual(Array.from({ length: 6 }, (_, i) => `{"n":${i}}`));
    expect(server.accepted).toBe(1);
    expect(reads).toEqual([1]);
  });

  it('with pipelining, a request of a later turn takes an idle or new connection, not a busy one', async () => {
    // At a low rate nothing is pipelined: a slow answer never holds up a request sent after it.
    const { server } = await countingReads(50);
    const u = upstream(server.url, { connections: 4, pipelining: 8 });
    const first = u.send('"a"', 2_000, true);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const second = u.send('"b"', 2_000, true);
    await Promise.all([first, second]);
    expect(server.accepted).toBe(2);
    expect(new Set(server.requests.map((r) => r.conn)).size).toBe(2);
  });

  it('with pipelining, a request that may not share gets a connection of its own even within one turn', async () => {
    const { server } = await countingReads();
    const u = upstream(server.url, { connections: 4, pipelining: 8 });
    await Promise.all([u.send('"r1"', 2_000, true), u.send('"w"', 2_000, false), u.send('"r2"', 2_000, true), u.send('"r3"', 2_000, true)]);
    const connOf = (body: string) => server.requests.find((r) => r.body.toString() === body)!.conn;
    expect(server.accepted).toBe(2);
    expect(connOf('"r1"')).toBe(connOf('"r2"'));
    expect(connOf('"r3"')).toBe(connOf('"r1"'));
    expect(connOf('"w"')).not.toBe(connOf('"r1"'));
  });

  it('with pipelining, requests held for the end of the turn are never sent when their connection fails first', async () => {
    // The connection is refused: everything on it, held or not, was never sent.
    const port = await freePort();
    const u = upstream(`http://127.0.0.1:${port}/`, { connections: 1, pipelining: 8 });
    const errors = await Promise.all(Array.from({ length: 3 }, () => rejection(u.send('{}', 1_000, true))));
    for (const err of errors) {
      expect(err.code).toBe('UPSTREAM_CONNECT');
      expect(err.neverSent).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('Upstream: pipelining only after the operator has passed the check', () => {
  const CHECK = { method: 'eth_chainId', timeoutMs: 300 } as const;

  /** A JSON-RPC answer carrying the request's own id. */
  function rpcAnswer(req: RawRequest, extraHead = ''): Buffer {
    const id = (JSON.parse(req.body.toString()) as { id?: unknown }).id ?? null;
    return answer(JSON.stringify({ jsonrpc: '2.0', id, result: '0x1' }), extraHead);
  }

  async function until(u: Upstream, ...states: string[]): Promise<void> {
    for (let i = 0; i < 200 && !states.includes(u.pipeliningState); i++) await sleep(5);
    expect(states).toContain(u.pipeliningState);
  }

  /** The most requests ever outstanding at once on one connection, and on which connections they came. */
  function outstandingTracker(holdMs: number, reply: (req: RawRequest) => Buffer = rpcAnswer) {
    const open = new Map<number, number>();
    const seen = { max: 0 };
    const onRequest: OnRequest = (req) => {
      const n = (open.get(req.conn) ?? 0) + 1;
      open.set(req.conn, n);
      seen.max = Math.max(seen.max, n);
      setTimeout(() => {
        open.set(req.conn, open.get(req.conn)! - 1);
        if (!req.socket.destroyed) req.socket.write(reply(req));
      }, holdMs);
    };
    return { seen, onRequest };
  }

  it('sends two calls together on a fresh connection with the first request, then pipelines', async () => {
    const { seen, onRequest } = outstandingTracker(20);
    const server = await rawServer(onRequest);
    const changes: string[] = [];
    const u = upstream(server.url, { connections: 4, pipelining: 8, pipeliningCheck: CHECK, onPipeliningChange: (state) => changes.push(state) });
    expect(u.pipeliningState).toBe('unchecked');
    expect(u.depth).toBe(1);
    const first = await u.send('{"jsonrpc":"2.0","id":"a","method":"eth_blockNumber"}', 2_000, true);
    expect(first.status).toBe(200);
    await until(u, 'on');
    expect(u.depth).toBe(8);
    expect(changes).toEqual(['on']);
    const check = server.requests.filter((r) => r.body.toString().includes('eth_chainId'));
    expect(check.map((r) => JSON.parse(r.body.toString()).id)).toEqual([FIRST_ID, FIRST_ID + 1]);
    expect(check[0]!.conn).toBe(check[1]!.conn);
    // Once on, reads of one turn share a connection.
    seen.max = 0;
    await Promise.all(Array.from({ length: 6 }, (_, i) => u.send(`{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"}`, 2_000, true)));
    expect(seen.max).toBeGreaterThan(1);
  });

  it('an operator that reads only the first request of a write is never pipelined, and nothing fails', async () => {
    // A naive server: it answers the first request in each chunk it reads and drops the rest.
    const answered: number[] = [];
    const server = await rawServer(() => {}, (socket, s) => {
      const conn = s.accepted - 1;
      socket.removeAllListeners('data');
      socket.on('data', (d) => {
        const head = d.indexOf('\r\n\r\n');
        const length = Number(/content-length: (\d+)/i.exec(d.toString('latin1'))![1]);
        const body = d.subarray(head + 4, head + 4 + length);
        answered.push(conn);
        socket.write(answer(JSON.stringify({ jsonrpc: '2.0', id: JSON.parse(body.toString()).id, result: '0x1' })));
      });
    });
    const changes: [string, string][] = [];
    const u = upstream(server.url, { connections: 4, pipelining: 8, pipeliningCheck: CHECK, onPipeliningChange: (state, detail) => changes.push([state, detail]) });
    const replies = await Promise.all(Array.from({ length: 3 }, (_, i) => u.send(`{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"}`, 2_000, true)));
    expect(replies.map((r) => JSON.parse(r.body.toString()).id)).toEqual([0, 1, 2]);
    await until(u, 'refused');
    expect(changes).toEqual([['refused', 'answer 2 of 2: no answer within 300 ms']]);
    expect(u.depth).toBe(1);
    // Every later request still gets its answer: one request per connection at a time.
    for (let round = 0; round < 3; round++) {
      const more = await Promise.all(Array.from({ length: 8 }, (_, i) => u.send(`{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"}`, 2_000, true)));
      expect(more.map((r) => JSON.parse(r.body.toString()).id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
    expect(u.pipeliningState).toBe('refused');
  });

  it('fails the check when the operator closes after the first answer, or answers with the wrong ids', async () => {
    const closing = await rawServer((req) => req.socket.write(rpcAnswer(req, 'Connection: close\r\n')));
    const u1 = upstream(closing.url, { connections: 4, pipelining: 8, pipeliningCheck: CHECK });
    expect((await u1.send('{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber"}', 2_000, true)).status).toBe(200);
    await until(u1, 'refused');

    const wrongIds = await rawServer((req) => req.socket.write(answer('{"jsonrpc":"2.0","id":99,"result":"0x1"}')));
    const u2 = upstream(wrongIds.url, { connections: 4, pipelining: 8, pipeliningCheck: CHECK });
    await u2.send('{}', 2_000, true);
    await until(u2, 'refused');
    expect(u2.depth).toBe(1);
  });

  it('when a pipelining operator starts closing after each answer, the reads behind are sent again and pipelining stops', async () => {
    let closeAfterAnswer = false;
    const server = await rawServer((req) => {
      setTimeout(() => {
        if (req.socket.destroyed) return;
        req.socket.write(rpcAnswer(req, closeAfterAnswer ? 'Connection: close\r\n' : ''));
        if (closeAfterAnswer) req.socket.end();
      }, 10);
    });
    const u = upstream(server.url, { connections: 2, pipelining: 8, pipeliningCheck: CHECK });
    await u.send('{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber"}', 2_000, true);
    await until(u, 'on');
    closeAfterAnswer = true;
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => u.send(`{"jsonrpc":"2.0","id":${i},"method":"eth_blockNumber"}`, 2_000, true)));
    expect(replies.map((r) => JSON.parse(r.body.toString()).id)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(u.pipeliningState).toBe('refused');
    expect(u.depth).toBe(1);
  });

  it('an operator that is down gets no verdict: it is checked again once it answers', async () => {
    const port = await freePort();
    const u = upstream(`http://127.0.0.1:${port}/`, { connections: 4, pipelining: 8, pipeliningCheck: CHECK });
    expect((await rejection(u.send('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}', 1_000, true))).code).toBe('UPSTREAM_CONNECT');
    await until(u, 'unchecked');
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      let pending = '';
      socket.on('data', (d) => {
        pending += d.toString('latin1');
        for (let at = pending.indexOf('\r\n\r\n'); at !== -1; at = pending.indexOf('\r\n\r\n')) {
          const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, at))![1]);
          if (pending.length < at + 4 + length) return;
          const id = (JSON.parse(pending.slice(at + 4, at + 4 + length)) as { id: unknown }).id;
          pending = pending.slice(at + 4 + length);
          socket.write(answer(JSON.stringify({ jsonrpc: '2.0', id, result: '0x1' })));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    });
    expect((await u.send('{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"}', 1_000, true)).status).toBe(200);
    await until(u, 'on');
  });

  it('without a check configured, the depth applies at once; with pipelining 1 there is no check', async () => {
    const server = await rawServer((req) => req.socket.write(rpcAnswer(req)));
    expect(upstream(server.url, { pipelining: 8 }).pipeliningState).toBe('on');
    const off = upstream(server.url, { pipelining: 1, pipeliningCheck: CHECK });
    await off.send('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}', 2_000, true);
    expect(off.pipeliningState).toBe('off');
    expect(server.requests).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('Upstream: failures and neverSent', () => {
  it('connection refused: UPSTREAM_CONNECT, never sent', async () => {
    const u = upstream(`http://127.0.0.1:${await freePort()}/`);
    const started = performance.now();
    const errs = await Promise.all(Array.from({ length: 6 }, () => rejection(u.send('{}', 1_000, false))));
    for (const err of errs) {
      expect(err.code).toBe('UPSTREAM_CONNECT');
      expect(err.neverSent).toBe(true);
      expect(err.detail).toBe('ECONNREFUSED');
    }
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('an unresolvable host: never sent (UPSTREAM_CONNECT, or a timeout if the resolver is slow)', async () => {
    const u = upstream('http://no-such-host.invalid:8545/');
    const err = await rejection(u.send('{}', 300, false));
    expect(['UPSTREAM_CONNECT', 'UPSTREAM_TIMEOUT']).toContain(err.code);
    expect(err.neverSent).toBe(true);
  });

  it('the server accepts then closes without answering: UPSTREAM_CONNECT, maybe sent', async () => {
    const onRequest = await rawServer((req) => req.socket.destroy());
    let err = await rejection(upstream(onRequest.url).send('{}', 1_000, false));
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(err.neverSent).toBe(false);
    // Closed gracefully (FIN) right after reading the request.
    const graceful = await rawServer((req) => req.socket.end());
    err = await rejection(upstream(graceful.url).send('{}', 1_000, false));
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(err.neverSent).toBe(false);
  });

  it('a kept-alive connection closed under a read, before any answer byte: the read is sent once more on a fresh connection', async () => {
    // The operator answers the first request on each connection, then drops the connection on
    // the next one unanswered: what a keep-alive timeout racing our request looks like.
    const server = await rawServer((req, s) => {
      const onConn = s.requests.filter((r) => r.conn === req.conn).length;
      if (onConn === 1) req.socket.write(answer(req.body));
      else req.socket.destroy();
    });
    const u = upstream(server.url, { connections: 4 });
    expect((await u.send('"first"', 1_000, true)).body.toString()).toBe('"first"');
    expect((await u.send('"second"', 1_000, true)).body.toString()).toBe('"second"');
    expect(server.accepted).toBe(2);
    // Once only: a connection that drops again is the operator's failure.
    const always = await rawServer((req, s) => {
      if (s.requests.filter((r) => r.conn === req.conn).length === 1 && req.conn === 0) req.socket.write(answer(req.body));
      else req.socket.destroy();
    });
    const v = upstream(always.url, { connections: 4 });
    await v.send('"ok"', 1_000, true);
    const err = await rejection(v.send('"doomed"', 1_000, true));
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(always.accepted).toBe(2);
  });

  it('a kept-alive connection closed under a write: the write is not sent again', async () => {
    const server = await rawServer((req, s) => {
      if (s.requests.filter((r) => r.conn === req.conn).length === 1) req.socket.write(answer(req.body));
      else req.socket.destroy();
    });
    const u = upstream(server.url, { connections: 4 });
    await u.send('"first"', 1_000, true);
    const err = await rejection(u.send('"write"', 1_000, false));
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(err.neverSent).toBe(false);
    expect(server.requests.filter((r) => r.body.toString() === '"write"')).toHaveLength(1);
  });

  it('the server answers half a body then closes: an error, not a truncated success', async () => {
    for (const bytes of [
      'HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{"jsonrpc":"2.0"',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"jsonrpc":"2.0"\r\n',
      'HTTP/1.1 200 OK\r\nContent-Le',
    ]) {
      const server = await rawServer((req) => req.socket.end(bytes));
      const err = await rejection(upstream(server.url).send('{}', 1_000, true));
      expect(err.code, bytes).toBe('UPSTREAM_CONNECT');
      expect(err.neverSent).toBe(false);
    }
    // Without a length, the close is the end of the body: a success.
    const server = await rawServer((req) => req.socket.end('HTTP/1.1 200 OK\r\n\r\n{"ok":true}'));
    const u = upstream(server.url);
    expect((await u.send('{}', 1_000, true)).body.toString()).toBe('{"ok":true}');
    // ... and the connection is not reused.
    expect((await u.send('{}', 1_000, true)).body.toString()).toBe('{"ok":true}');
    expect(server.accepted).toBe(2);
  });

  it('a hung server: UPSTREAM_TIMEOUT on time; the connection is dropped and never reused', async () => {
    let hang = true;
    const server = await rawServer((req) => {
      if (!hang) req.socket.write(answer(req.body));
    });
    const u = upstream(server.url, { connections: 1 });
    const started = performance.now();
    const err = await rejection(u.send('{}', 100, true));
    const elapsed = performance.now() - started;
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(err.neverSent).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(99);
    expect(elapsed).toBeLessThan(350);
    // The client closed the hung connection.
    await server.allClosed();
    hang = false;
    expect((await u.send('"again"', 1_000, true)).body.toString()).toBe('"again"');
    expect(server.accepted).toBe(2);
  });

  it('a late answer to a timed-out attempt never reaches the next request', async () => {
    const server = await rawServer((req) => {
      const late = req.body.toString() === '"slow"';
      setTimeout(() => req.socket.write(answer(req.body)), late ? 120 : 0);
    });
    const u = upstream(server.url, { connections: 1 });
    const slow = rejection(u.send('"slow"', 60, true));
    const next = u.send('"next"', 1_000, true); // queued behind the slow one
    expect((await slow).code).toBe('UPSTREAM_TIMEOUT');
    expect((await next).body.toString()).toBe('"next"');
    await sleep(100);
    expect((await u.send('"third"', 1_000, true)).body.toString()).toBe('"third"');
  });

  it('an attempt that times out while waiting for a connection was never sent', async () => {
    const server = await rawServer(() => {}); // hangs
    const u = upstream(server.url, { connections: 1 });
    const first = rejection(u.send('"a"', 150, false));
    await sleep(10);
    const queued = await rejection(u.send('"b"', 50, false));
    expect(queued.code).toBe('UPSTREAM_TIMEOUT');
    expect(queued.neverSent).toBe(true);
    const sent = await first;
    expect(sent.code).toBe('UPSTREAM_TIMEOUT');
    expect(sent.neverSent).toBe(false);
    // The server only ever saw the first.
    expect(server.requests.map((r) => r.body.toString())).toEqual(['"a"']);
  });

  it('attempts share one deadline timer: each times out on its own deadline, whichever settled before it', async () => {
    // The timer is armed for the earliest deadline; when that attempt was answered long before,
    // the sweep must find the others and re-arm for the next one, neither early nor never.
    const server = await rawServer((req) => {
      if (req.body.toString() === '"quick"') req.socket.write(answer(req.body));
    });
    const u = upstream(server.url, { connections: 8 });
    const started = performance.now();
    expect((await u.send('"quick"', 40, true)).body.toString()).toBe('"quick"');
    const timeouts = [260, 120, 190].map(async (ms) => {
      const err = await rejection(u.send(`"hang ${ms}"`, ms, true));
      return { ms, code: err.code, at: performance.now() - started };
    });
    const results = await Promise.all(timeouts);
    for (const { ms, code, at } of results) {
      expect(code).toBe('UPSTREAM_TIMEOUT');
      expect(at).toBeGreaterThanOrEqual(ms - 1);
      expect(at).toBeLessThan(ms + 200);
    }
    // With nothing left in flight no timer is left behind (it would keep the process up).
    expect((u as unknown as { deadlineTimer: unknown }).deadlineTimer).toBeUndefined();
  });

  it('an attempt that times out before its connection came up (a TLS handshake that hangs) was never sent', async () => {
    // TCP is accepted but the TLS handshake never completes: the request is still in Node's buffer.
    const server = await rawServer(() => {});
    const u = upstream(`https://127.0.0.1:${server.port}/`);
    const [a, b] = await Promise.all([rejection(u.send('{}', 80, false)), rejection(u.send('{}', 120, false))]);
    for (const err of [a, b]) {
      expect(err.code).toBe('UPSTREAM_TIMEOUT');
      expect(err.neverSent).toBe(true);
    }
    await server.allClosed();
  });

  it('garbage from the server: UPSTREAM_INVALID_ENVELOPE, at once', async () => {
    for (const bytes of ['garbage\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n', 'HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\n{}', 'SSH-2.0-OpenSSH_9.6\r\n', '\0\0\0\0']) {
      // The server keeps the connection open: the answer must not wait for the timeout.
      const server = await rawServer((req) => req.socket.write(bytes));
      const started = performance.now();
      const err = await rejection(upstream(server.url).send('{}', 2_000, true));
      expect(err.code, bytes).toBe('UPSTREAM_INVALID_ENVELOPE');
      expect(err.neverSent).toBe(false);
      expect(performance.now() - started).toBeLessThan(1_000);
      // The client dropped the connection.
      await server.allClosed();
    }
  });

  it('an answer over maxResponseBytes: UPSTREAM_INVALID_ENVELOPE, declared or streamed', async () => {
    const big = Buffer.alloc(5_000, 0x61);
    for (const bytes of [
      answer(big),
      Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), ...Array.from({ length: 5 }, () => Buffer.from(`3e8\r\n${'a'.repeat(1000)}\r\n`)), Buffer.from('0\r\n\r\n')]),
      Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), big]),
    ]) {
      const server = await rawServer((req) => req.socket.write(bytes));
      const u = upstream(server.url, { maxResponseBytes: 4_096 });
      const err = await rejection(u.send('{}', 1_000, true));
      expect(err.code).toBe('UPSTREAM_INVALID_ENVELOPE');
      expect(err.detail).toMatch(/exceeds/);
    }
    // Exactly the limit is fine.
    const server = await rawServer((req) => req.socket.write(answer(Buffer.alloc(4_096, 0x62))));
    expect((await upstream(server.url, { maxResponseBytes: 4_096 }).send('{}', 1_000, true)).body.length).toBe(4_096);
  });

  it('unsolicited bytes on an idle connection: the connection is dropped, the next request still works', async () => {
    for (const extra of ['HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"bogus"', 'junk', 'HTTP/1.1 100 Continue\r\n\r\n']) {
      const server = await rawServer((req) => {
        req.socket.write(answer(req.body));
        if (req.conn === 0) setTimeout(() => req.socket.write(extra), 20);
      });
      const u = upstream(server.url, { connections: 1 });
      expect((await u.send('"one"', 1_000, true)).body.toString()).toBe('"one"');
      // The client drops the connection as the bytes arrive (a hang here means it kept it).
      await server.allClosed();
      expect((await u.send('"two"', 1_000, true)).body.toString()).toBe('"two"');
      expect(server.accepted).toBe(2);
    }
  });

  it('bytes after an answer in the same segment: not mistaken for the next answer', async () => {
    // A server that sends more than its Content-Length, or two answers to one request.
    for (const extra of ['junk', 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"bogus"']) {
      const server = await rawServer((req) => {
        req.socket.write(req.conn === 0 ? Buffer.concat([answer(req.body), Buffer.from(extra)]) : answer(req.body));
      });
      const u = upstream(server.url, { connections: 1 });
      // Two at once: the second waits in the queue while the first is answered.
      const [one, two] = await Promise.all([u.send('"one"', 1_000, true), u.send('"two"', 1_000, true)]);
      expect(one.body.toString()).toBe('"one"');
      expect(two.body.toString(), extra).toBe('"two"');
      expect((await u.send('"three"', 1_000, true)).body.toString()).toBe('"three"');
    }
  });

  it('Connection: close from the server: the connection is not reused', async () => {
    const server = await rawServer((req) => req.socket.write(answer(req.body, 'Connection: close\r\n')));
    const u = upstream(server.url);
    for (let i = 0; i < 3; i++) expect((await u.send(String(i), 1_000, true)).body.toString()).toBe(String(i));
    expect(server.accepted).toBe(3);
    await server.allClosed();
  });

  it('HTTP 5xx and 429 come back as replies, not errors (failover decides)', async () => {
    const server = await rawServer((req) => req.socket.write(`HTTP/1.1 ${req.body.toString()} x\r\nContent-Length: 2\r\n\r\nno`));
    const u = upstream(server.url);
    for (const status of [429, 500, 503, 404]) expect((await u.send(String(status), 1_000, true)).status).toBe(status);
    expect(server.accepted).toBe(1);
  });

  it('a 1xx before the answer is skipped', async () => {
    const server = await rawServer((req) => req.socket.write(Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), answer(req.body)])));
    expect((await upstream(server.url).send('"x"', 1_000, true)).body.toString()).toBe('"x"');
  });
});

// ---------------------------------------------------------------------------------------------

describe('Upstream: keep-alive expiry', () => {
  it('the server closed an idle connection (FIN arrived): the next request gets a fresh one', async () => {
    // No Keep-Alive hint: the client only learns from the FIN.
    const server = await rawServer((req) => {
      req.socket.write(answer(req.body));
      setTimeout(() => req.socket.end(), 80);
    });
    const u = upstream(server.url, { keepAliveTimeoutMs: 10_000 });
    expect((await u.send('"1"', 1_000, false)).body.toString()).toBe('"1"');
    await sleep(200);
    expect((await u.send('"2"', 1_000, false)).body.toString()).toBe('"2"');
    expect(server.accepted).toBe(2);
  });

  it('Node http with keepAliveTimeout 200 ms (it sends Keep-Alive: timeout=0): every request succeeds', async () => {
    const server = await httpServer((_req, res, body) => res.end(body), (s) => {
      s.keepAliveTimeout = 200;
    });
    const u = upstream(server.url, { keepAliveTimeoutMs: 10_000 });
    for (const wait of [0, 100, 210]) {
      await sleep(wait);
      expect((await u.send(`${wait}`, 1_000, false)).body.toString()).toBe(`${wait}`);
    }
    // timeout=0 leaves no safe window: no connection is reused.
    expect(server.connections).toBe(3);
  });

  it('Keep-Alive: timeout=1: reused well inside the hint, fresh past half of it, never a dead one', async () => {
    // Closes a connection exactly 1 s after its last answer, as it announced.
    const timers = new Map<net.Socket, NodeJS.Timeout>();
    const server = await rawServer((req) => {
      clearTimeout(timers.get(req.socket));
      req.socket.write(answer(req.body, 'Keep-Alive: timeout=1\r\n'));
      timers.set(req.socket, setTimeout(() => req.socket.end(), 1_000));
    });
    cleanups.push(() => timers.forEach((t) => clearTimeout(t)));
    const u = upstream(server.url, { keepAliveTimeoutMs: 10_000 });
    const sent: [number, number][] = [];
    const at = async (wait: number) => {
      await sleep(wait);
      expect((await u.send(`${wait}`, 1_000, false)).body.toString()).toBe(`${wait}`);
      sent.push([wait, server.accepted]);
    };
    await at(0);
    await at(300); // reused
    await at(600); // past the client's 500 ms: fresh
    await at(990); // the previous connection is about to close: fresh, not the dying one
    expect(sent).toEqual([[0, 1], [300, 1], [600, 2], [990, 3]]);
  });

  it('idle connections past keepAliveTimeoutMs are closed by the client, and not reused', async () => {
    const server = await rawServer(echo);
    const u = upstream(server.url, { keepAliveTimeoutMs: 100 });
    await u.send('1', 1_000, true);
    await sleep(150);
    // Expired at reuse time, even before the reaper runs.
    await u.send('2', 1_000, true);
    expect(server.accepted).toBe(2);
    // The reaper (every second) closes the idle one.
    const started = performance.now();
    await server.allClosed();
    expect(performance.now() - started).toBeLessThan(1_500);
  });
});

// ---------------------------------------------------------------------------------------------

describe('Upstream: close and destroy', () => {
  it('close() waits for attempts in flight, then closes every socket; twice is fine; send after close fails, never sent', async () => {
    const server = await rawServer((req) => setTimeout(() => req.socket.write(answer(req.body)), 80));
    const u = upstream(server.url, { connections: 2 });
    const inflight = [u.send('"a"', 1_000, true), u.send('"b"', 1_000, false)];
    await sleep(20);
    let closed = false;
    const closing = u.close().then(() => (closed = true));
    expect(u.close()).toBe(u.close());
    await sleep(20);
    expect(closed).toBe(false);
    const replies = await Promise.all(inflight);
    expect(replies.map((r) => r.body.toString())).toEqual(['"a"', '"b"']);
    await closing;
    await server.allClosed();
    const err = await rejection(u.send('{}', 1_000, false));
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(err.neverSent).toBe(true);
    await u.close();
  });

  it('close() with nothing in flight closes idle connections at once', async () => {
    const server = await rawServer(echo);
    const u = upstream(server.url);
    await Promise.all([u.send('1', 1_000, true), u.send('2', 1_000, true)]);
    expect(server.open).toBe(2);
    await u.close();
    await server.allClosed();
  });

  it('close() fails attempts still waiting for a connection as never sent', async () => {
    const server = await rawServer((req) => setTimeout(() => req.socket.write(answer(req.body)), 50));
    const u = upstream(server.url, { connections: 1 });
    const first = u.send('"a"', 1_000, false);
    const queued = rejection(u.send('"b"', 1_000, false));
    await sleep(10);
    await u.close();
    expect((await first).body.toString()).toBe('"a"');
    const err = await queued;
    expect(err.neverSent).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it('destroy() fails attempts in flight at once', async () => {
    const server = await rawServer(() => {});
    const u = upstream(server.url);
    const inflight = rejection(u.send('{}', 5_000, true));
    await sleep(20);
    const started = performance.now();
    await u.destroy();
    const err = await inflight;
    expect(performance.now() - started).toBeLessThan(300);
    expect(err.code).toBe('UPSTREAM_CONNECT');
    expect(err.neverSent).toBe(false);
    await server.allClosed();
    expect((await rejection(u.send('{}', 1_000, true))).neverSent).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

interface Internals {
  connections: Set<{ inflightCount: number }>;
  idle: unknown[];
  queue: unknown[];
  queueHead: number;
}

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

describe('Upstream: nothing leaks', () => {
  for (const pipelining of [1, 4]) {
    it(`1,000 requests with timeouts, drops and garbage (pipelining ${pipelining}): every answer is its own, nothing is left behind`, async () => {
      // Answers go out in request order on each connection (pipelined ones too), some after a delay.
      const chains = new Map<number, Promise<void>>();
      const server = await rawServer((req) => {
        const n = Number(req.body.toString());
        const previous = chains.get(req.conn) ?? Promise.resolve();
        chains.set(req.conn, previous.then(async () => {
          if (n % 97 === 5) return new Promise<void>(() => {}); // hangs: times out
          if (n % 89 === 7) return void req.socket.destroy();
          if (n % 83 === 11) return void req.socket.write('HTTP/1.1 2x\r\n\r\n');
          if (n % 2 === 1) await sleep(n % 7);
          req.socket.write(answer(req.body));
        }));
      });
      await sleep(10);
      const before = resources();
      const u = new Upstream(server.url, { ...BASE, connections: 8, pipelining });
      cleanups.push(() => u.destroy());
      const outcomes = new Map<string, number>();
      const codes = new Map<number, string>();
      let next = 0;
      const worker = async () => {
        while (next < 1_000) {
          const n = next++;
          try {
            const reply = await u.send(String(n), 200, n % 10 !== 0);
            // An answer must be the one to this request, never another's.
            expect(reply.body.toString()).toBe(String(n));
            expect(n % 97 === 5 || n % 89 === 7 || n % 83 === 11).toBe(false);
            outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
          } catch (err) {
            expect(err).toBeInstanceOf(UpstreamError);
            const code = (err as UpstreamError).code;
            if (pipelining === 1) {
              const expected = n % 97 === 5 ? 'UPSTREAM_TIMEOUT' : n % 89 === 7 ? 'UPSTREAM_CONNECT' : n % 83 === 11 ? 'UPSTREAM_INVALID_ENVELOPE' : 'none';
              expect(code, String(n)).toBe(expected);
            }
            outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
            codes.set(n, code);
          }
        }
      };
      await Promise.all(Array.from({ length: 24 }, worker));
      const failures = 1_000 - (outcomes.get('ok') ?? 0);
      const dooms = (n: number) => n % 97 === 5 || n % 89 === 7 || n % 83 === 11;
      const planned = Array.from({ length: 1_000 }, (_, n) => n).filter(dooms).length;
      if (pipelining === 1) expect(failures).toBe(planned);
      else expect(failures).toBeGreaterThanOrEqual(planned);
      // A hanging request times out unless its connection dies first, and fails with the connection
      // then: killed by a doomed request pipelined ahead of it, or abandoned when a request pipelined
      // behind it times out sooner. Deadlines follow send order, which is request number order, so
      // that is a smaller number written after it (one that waited in the queue). Each hanging request
      // the server saw with neither on its connection must have timed out.
      const byConn = new Map<number, number[]>();
      for (const req of server.requests) {
        const list = byConn.get(req.conn) ?? [];
        list.push(Number(req.body.toString()));
        byConn.set(req.conn, list);
      }
      const seenClean = new Set<number>();
      for (const list of byConn.values()) {
        list.forEach((n, i) => {
          if (n % 97 === 5 && !list.slice(0, i).some(dooms) && !list.slice(i + 1).some((m) => m < n)) seenClean.add(n);
        });
      }
      expect(seenClean.size).toBeGreaterThan(0);
      for (const n of seenClean) expect(codes.get(n), `request ${n}`).toBe('UPSTREAM_TIMEOUT');
      if (pipelining === 1) expect(outcomes.get('UPSTREAM_TIMEOUT')).toBe(Math.ceil((1_000 - 5) / 97));
      // Nothing in flight, nothing queued, every connection parked idle.
      const inner = u as unknown as Internals;
      expect(inner.queue.length - inner.queueHead).toBe(0);
      expect([...inner.connections].every((c) => c.inflightCount === 0)).toBe(true);
      expect(inner.idle.length).toBe(inner.connections.size);
      expect(inner.connections.size).toBeLessThanOrEqual(8);
      await sleep(50);
      expect(server.open).toBe(inner.connections.size);
      await u.close();
      await server.allClosed();
      await sleep(20);
      // No socket, timer or interval of the client's is left (other tests' timers may have ended meanwhile).
      const after = resources();
      for (const kind of ['TCPSocketWrap', 'TLSWrap', 'Timeout', 'GetAddrInfoReqWrap']) expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(before[kind] ?? 0);
    });
  }
});

describe('Upstream: every answer proven to be its own request\'s', () => {
  const idOf = (req: RawRequest) => (JSON.parse(req.body.toString()) as { id: number }).id;
  const rpc = (id: unknown, result = '0x1') => answer(JSON.stringify({ jsonrpc: '2.0', id, result }));
  const call = new CallBody('eth_blockNumber');

  it('sends each call with an id of its own, never used before on the pool', async () => {
    const server = await rawServer((req) => req.socket.write(rpc(idOf(req))));
    cleanups.push(() => server.close());
    const u = upstream(server.url, { connections: 2, pipelining: 1 });
    await Promise.all(Array.from({ length: 20 }, () => u.send(call, 1_000, true)));
    const ids = server.requests.map(idOf);
    expect(new Set(ids).size).toBe(20);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(FIRST_ID);
  });

  it.each([
    ['another request\'s id', (req: RawRequest) => rpc(idOf(req) + 1)],
    ['the id a client might have used', () => rpc(1)],
    ['a null id', () => rpc(null)],
    ['no JSON-RPC answer at all', () => answer('<html>busy</html>')],
  ])('%s: the request fails as the operator\'s invalid answer, and the connection is dropped', async (_name, reply) => {
    const server = await rawServer((req) => req.socket.write(reply(req)));
    cleanups.push(() => server.close());
    const u = upstream(server.url, { connections: 1, pipelining: 1 });
    const err = await rejection(u.send(call, 1_000, true));
    expect(err.code).toBe('UPSTREAM_INVALID_ENVELOPE');
    await server.allClosed();
    // The next request gets a connection of its own.
    await rejection(u.send(call, 1_000, true));
    expect(server.accepted).toBe(2);
  });

  it('an unsolicited answer written before the real one: the request fails, nothing after it on the connection is trusted', async () => {
    // Two requests pipelined on one connection; the operator slips an extra answer in first.
    const server = await rawServer((req) => {
      const id = idOf(req);
      req.socket.write(Buffer.concat([rpc(id - 1, '0xstale'), rpc(id)]));
    });
    cleanups.push(() => server.close());
    const u = upstream(server.url, { connections: 1, pipelining: 4 });
    const outcomes = await Promise.allSettled([u.send(call, 1_000, true), u.send(call, 1_000, true)]);
    for (const outcome of outcomes) expect(outcome.status).toBe('rejected');
    const codes = outcomes.map((o) => ((o as PromiseRejectedResult).reason as UpstreamError).code).sort();
    expect(codes[0]).toBe('UPSTREAM_CONNECT');
    expect(codes).toContain('UPSTREAM_INVALID_ENVELOPE');
  });

  it('a batch: every element must carry one of its own ids, none twice', async () => {
    const batch = { idCount: 2, isBatch: true, byteLength: (first: number) => `[${first},${first + 1}]`.length, write: (first: number, out: Buffer, at: number) => void out.write(`[${first},${first + 1}]`, at) };
    const replies: ((ids: number[]) => string)[] = [
      ([a, b]) => `[{"jsonrpc":"2.0","id":${b},"result":"0x2"},{"jsonrpc":"2.0","id":${a},"result":"0x1"}]`,
      ([a]) => `[{"jsonrpc":"2.0","id":${a},"result":"0x1"},{"jsonrpc":"2.0","id":${a},"result":"0x1"}]`,
      ([a]) => `[{"jsonrpc":"2.0","id":${a! - 1},"result":"0x1"}]`,
    ];
    const verdicts: string[] = [];
    for (const reply of replies) {
      const server = await rawServer((req) => req.socket.write(answer(reply(JSON.parse(req.body.toString()) as number[]))));
      cleanups.push(() => server.close());
      const u = upstream(server.url, { connections: 1, pipelining: 1 });
      verdicts.push(await u.send(batch, 1_000, true).then(() => 'ok', (err: UpstreamError) => err.code));
    }
    expect(verdicts).toEqual(['ok', 'UPSTREAM_INVALID_ENVELOPE', 'UPSTREAM_INVALID_ENVELOPE']);
  });
});

describe("Upstream: the operator's own time (issue 18)", () => {
  /** `request` as a promise of the reply's operatorMicros, in ms. */
  const operatorMs = (u: Upstream, body: string, shareable = true) =>
    new Promise<number>((resolve, reject) =>
      u.request(body, 5_000, shareable, {
        onUpstreamReply: (_status, _body, _receivedAt, _answer, operatorMicros) => resolve(operatorMicros / 1000),
        onUpstreamError: reject,
      }),
    );

  it('leaves out the time a request waited for a connection', async () => {
    const server = await rawServer((req) => setTimeout(() => req.socket.write(answer(req.body)), 40));
    const u = upstream(server.url, { connections: 1, pipelining: 1 });
    const started = performance.now();
    const times = await Promise.all(Array.from({ length: 6 }, (_, i) => operatorMs(u, String(i))));
    // The last one waited behind five answers of 40 ms; each still reports the server's 40 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(230);
    for (const ms of times) {
      expect(ms).toBeGreaterThanOrEqual(38);
      expect(ms).toBeLessThan(120);
    }
  });

  it('ends at the first byte of the answer, not its last', async () => {
    const server = await rawServer((req) => {
      const bytes = answer(req.body);
      setTimeout(() => req.socket.write(bytes.subarray(0, 10)), 20);
      setTimeout(() => req.socket.write(bytes.subarray(10)), 150);
    });
    const ms = await operatorMs(upstream(server.url), 'x');
    expect(ms).toBeGreaterThanOrEqual(18);
    expect(ms).toBeLessThan(120);
  });

  it('times each pipelined answer from the read that brought its own first byte', async () => {
    // Two reads on one connection: the first answer at once, the second 80 ms later.
    const server = await rawServer((req, s) => {
      const on = s.requests.filter((r) => r.conn === req.conn);
      if (on.length === 1) req.socket.write(answer(req.body));
      else setTimeout(() => req.socket.write(answer(req.body)), 80);
    });
    const u = upstream(server.url, { connections: 1, pipelining: 2 });
    const [first, second] = await Promise.all([operatorMs(u, 'a'), operatorMs(u, 'b')]);
    expect(server.accepted).toBe(1);
    expect(first).toBeLessThan(40);
    expect(second).toBeGreaterThanOrEqual(78);
    expect(second).toBeLessThan(160);
  });

  it('counts the requests that waited for a connection, and how long, for the gateway\'s own health', async () => {
    const server = await rawServer((req) => setTimeout(() => req.socket.write(answer(req.body)), 20));
    const u = upstream(server.url, { connections: 1, pipelining: 1 });
    await Promise.all(Array.from({ length: 4 }, (_, i) => operatorMs(u, String(i))));
    const stats = u.takeQueueStats();
    expect(stats.queued).toBe(3);
    expect(stats.maxDepth).toBe(3);
    expect(stats.maxWaitMs).toBeGreaterThanOrEqual(55);
    expect(stats.waiting).toBe(0);
    expect(u.takeQueueStats().queued).toBe(0);
  });
});
