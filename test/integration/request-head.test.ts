/**
 * Issue 16, finding 6, over raw sockets: request heads RFC 9112 says to refuse and this
 * uWS build lets through (two Content-Length lines, even equal; two Host lines; a Host
 * that is not a host; two Transfer-Encoding lines or one whose last coding is not
 * chunked) get 400 with an error body on the RPC and the admin listener, the connection
 * is closed, and nothing sent after them on that connection is served: neither a request
 * smuggled in the same packet nor one sent after the 400.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, rpc, startStack, type Stack } from '../support/stack.js';

const TOKEN = 'request-head-admin-token-0123456';
let stack: Stack;
let rpcPort: number;
let adminPort: number;

beforeAll(async () => {
  stack = await startStack({ operators: [{}], config: { admin: { token: TOKEN } } });
  rpcPort = Number(new URL(stack.gateway.rpcUrl).port);
  adminPort = Number(new URL(stack.gateway.adminUrl).port);
});

afterAll(async () => {
  await stack.stop();
});

interface Exchange {
  /** Everything the server sent before it closed the connection. */
  readonly received: string;
}

/**
 * Writes `first`, then (once the server has answered or closed, or at once when `together`)
 * `then`, and resolves when the server closes the connection; a connection still open after
 * 5 s fails the test (the server kept it for more requests).
 */
function exchange(port: number, first: string, then = '', together = false): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let sentRest = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after 5 s; received ${JSON.stringify(received)}`));
    }, 5_000);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      // The answer to `first` is in: now the follow-up (which must go unserved).
      if (!sentRest && then !== '' && /\r\n\r\n/.test(received)) {
        sentRest = true;
        socket.write(then);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received });
    });
    socket.write(together ? first + then : first);
    if (together) sentRest = true;
  });
}

const BODY = JSON.stringify(rpc('eth_chainId', 7));
const smuggledPost = `POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
const smuggledAdmin = 'GET /v1/status HTTP/1.1\r\nHost: a\r\n\r\n';

/** A POST of `BODY` on `path` with these header lines. */
function head(path: string, lines: readonly string[], body = BODY): string {
  return `POST ${path} HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n${body}`;
}

const REFUSED: ReadonlyArray<[string, string[], string]> = [
  // The issue's primitive: uWS reads a 2-byte body and the smuggled request after it; a proxy trusting the last value forwards all as one.
  ['two different Content-Length', ['Host: a', 'Content-Length: 2', `Content-Length: ${2 + smuggledPost.length}`], 'Content-Length'],
  ['two equal Content-Length', ['Host: a', `Content-Length: ${BODY.length}`, `Content-Length: ${BODY.length}`], 'Content-Length'],
  ['two Host', ['Host: a', 'Host: b', `Content-Length: ${BODY.length}`], 'Host'],
  ['a Host with a space', ['Host: a b', `Content-Length: ${BODY.length}`], 'Host'],
  ['two Transfer-Encoding', ['Host: a', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], 'Transfer-Encoding'],
  ['chunked not the last coding', ['Host: a', 'Transfer-Encoding: chunked, gzip'], 'Transfer-Encoding'],
];

const chunked = (lines: string[]) => lines.some((l) => l.startsWith('Transfer-Encoding'));
const bodyFor = (lines: string[]) =>
  chunked(lines) ? `${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n` : lines.includes('Content-Length: 2') ? '{}' : BODY;

function expectOne400(received: string, mentions: string): void {
  expect(received.match(/HTTP\/1\.1 \d{3}/g), received).toEqual(['HTTP/1.1 400']);
  expect(received).toMatch(/\r\nConnection: close\r\n/i);
  expect(received).toContain(mentions);
}

describe('the RPC listener', () => {
  it.each(REFUSED)('answers 400 to %s and closes the connection, serving nothing sent after it', async (_name, lines, mentions) => {
    const before = stack.sims[0]!.stats.httpRequests;
    const { received } = await exchange(rpcPort, head('/', lines, bodyFor(lines)), smuggledPost);
    expectOne400(received, mentions);
    const error = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as { error: { code: number; message: string } };
    expect(error.error.code).toBe(-32600);
    expect(stack.sims[0]!.stats.httpRequests).toBe(before);
  });

  it.each(REFUSED)('serves nothing smuggled after %s in the same packet', async (_name, lines) => {
    const before = stack.sims[0]!.stats.httpRequests;
    const { received } = await exchange(rpcPort, head('/', lines, bodyFor(lines)), smuggledPost, true);
    // uWS ends the connection when a request follows one whose answer is pending: no answer at all, or only the 400.
    expect(received.match(/HTTP\/1\.1 \d{3}/g) ?? [], received).not.toContain('HTTP/1.1 200');
    expect(stack.sims[0]!.stats.httpRequests).toBe(before);
  });

  it.each(['OPTIONS /', 'GET /health', 'GET /ready', 'POST /rpc/ethereum', 'GET /nowhere'])('checks the head of %s too', async (line) => {
    const [method, path] = line.split(' ') as [string, string];
    const request = `${method} ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: ${smuggledPost.length}\r\n\r\n`;
    const { received } = await exchange(rpcPort, request, smuggledPost);
    expectOne400(received, 'Content-Length');
  });

  it('still serves a well-formed request, chunked or not', async () => {
    expect((await post(stack.url, rpc('eth_chainId', 1))).status).toBe(200);
    const { received } = await exchange(rpcPort, head('/', ['Host: 127.0.0.1:1', 'Connection: close', 'Transfer-Encoding: chunked'], bodyFor(['Transfer-Encoding'])));
    expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    expect(received).toContain('"id":7');
  });
});

describe('the admin listener', () => {
  it.each(REFUSED)('answers 400 to %s and closes the connection, serving nothing sent after it', async (_name, lines, mentions) => {
    const withAuth = [...lines, `Authorization: Bearer ${TOKEN}`];
    for (const path of ['/v1/operators/op0/stake', '/nowhere']) {
      const { received } = await exchange(adminPort, head(path, withAuth, bodyFor(lines)), smuggledAdmin);
      expectOne400(received, mentions);
      expect(received).toContain('"INVALID_REQUEST"');
      const together = await exchange(adminPort, head(path, withAuth, bodyFor(lines)), smuggledAdmin, true);
      expect(together.received).not.toContain('HTTP/1.1 200');
    }
  });
});
