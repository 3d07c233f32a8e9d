/**
 * A socket-level fuzzer for the public front: a gateway in front of two simulated operators
 * (test/support/stack.ts), fed generated and mutated HTTP/1.1 requests and WebSocket frames
 * over raw `net` sockets, several connections at once: request lines, paths, header names and
 * values, Content-Length lies, chunked bodies, pipelined requests, writes split anywhere.
 *
 * Invariants, every round:
 * - the process stays up, and /health answers 200 between rounds;
 * - whatever comes back on a connection is a well-formed stream of HTTP responses (parsed by
 *   llhttp, Node's own parser, strict), or of WebSocket frames after a 101;
 * - every JSON-RPC answer carries an id its own connection sent (ids are unique per request
 *   across the run, so another client's answer is caught), answers come in request order, and
 *   on a connection of well-formed requests sent one after the other's answer, the k-th answer
 *   carries exactly the k-th request's ids.
 *
 * No answer is demanded for a mangled request: this uWS build never answers some heads
 * (HTTP/1.0, obs-fold, a space before the colon) and closes only at its 10 s idle timeout,
 * so each connection is closed by the fuzzer once it has been quiet for a short while.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../support/stack.js';
import { SCALE, SEED, count, report, rng } from './fuzz-options.js';
import { llhttpParse } from './llhttp.js';
import { HTTP_SEQUENCES, type Mutation, mutate } from './mutate.js';

/** How long a connection may stay quiet before the fuzzer closes it. */
const QUIET_MS = 120;
/** The longest a connection is kept, answers or not. */
const MAX_CONNECTION_MS = 10_000;
const CONNECTIONS_PER_ROUND = 6;
const ROUNDS = Math.round(16 * SCALE);

let stack: Stack;
let port: number;

beforeAll(async () => {
  // Chain-aware routing on: every fuzzed body also goes through the block-need reading and the answer checks.
  stack = await startStack({ operators: [{}, {}], config: { limits: { maxBodyBytes: 64 * 1024 }, routing: { chainAware: true } } });
  port = Number(new URL(stack.url).port);
});

afterAll(async () => {
  report();
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------
// Requests

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const chance = (r: Rand, p: number) => r() < p;

let nextId = 1;
/** A fresh id, unique across the run: a number or a string. */
function freshId(r: Rand): number | string {
  const n = nextId++;
  return chance(r, 0.5) ? 7_000_000 + n : `q${n}z`;
}

const METHODS = ['eth_blockNumber', 'eth_chainId', 'net_version', 'eth_getBalance', 'eth_getBlockByNumber', 'eth_call', 'nope_method'];

interface Body {
  bytes: Buffer;
  /** The ids of the calls in it that get an answer. */
  ids: (number | string)[];
  batch: boolean;
}

function rpcBody(r: Rand): Body {
  const call = () => {
    const id = freshId(r);
    const method = pick(r, METHODS);
    const params = method === 'eth_getBalance' ? ['0x' + '11'.repeat(20), 'latest'] : method === 'eth_getBlockByNumber' ? ['latest', false] : [];
    return { id, request: { jsonrpc: '2.0', id, method, params } };
  };
  if (chance(r, 0.25)) {
    const calls = Array.from({ length: 1 + Math.floor(r() * 4) }, call);
    const notification = chance(r, 0.2) ? [{ jsonrpc: '2.0', method: 'eth_blockNumber' }] : [];
    return { bytes: Buffer.from(JSON.stringify([...calls.map((c) => c.request), ...notification])), ids: calls.map((c) => c.id), batch: true };
  }
  const c = call();
  return { bytes: Buffer.from(JSON.stringify(c.request)), ids: [c.id], batch: false };
}

interface Request {
  bytes: Buffer;
  ids: (number | string)[];
}

/** A well-formed POST of a JSON-RPC body: its answer is certain. */
function wellFormed(r: Rand): Request {
  const body = rpcBody(r);
  const path = pick(r, ['/', '/rpc/ethereum']);
  const headers = [`Host: 127.0.0.1:${port}`, 'Content-Type: application/json', `Content-Length: ${body.bytes.length}`];
  if (chance(r, 0.3)) headers.push(pick(r, ['Accept: */*', 'User-Agent: fuzz', 'X-Trace: ' + 'a'.repeat(Math.floor(r() * 200))]));
  const head = `POST ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
  return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), body.bytes]), ids: body.ids };
}

/** Chunked transfer coding of `body`, with extensions and trailers now and then. */
function chunked(r: Rand, body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const n = Math.min(body.length - at, 1 + Math.floor(r() * 40));
    parts.push(Buffer.from(`${n.toString(16)}${chance(r, 0.2) ? ';x=y' : ''}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  parts.push(Buffer.from(`0\r\n${chance(r, 0.2) ? 'T: 1\r\n' : ''}\r\n`));
  return Buffer.concat(parts);
}

/** A request with an odd head or framing: lies, other methods and paths, odd headers. */
function odd(r: Rand): Request {
  const body = rpcBody(r);
  const method = pick(r, ['POST', 'POST', 'POST', 'GET', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'CONNECT', 'post', 'P0ST', '']);
  const path = pick(r, ['/', '/rpc/ethereum', '/rpc/', '/rpc/nochain', '/health', '/ready', '/nope', '*', '/%00', '/rpc/ethereum?x=1', '//', '/' + 'a'.repeat(3000), 'http://h/']);
  const version = pick(r, ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', 'HTTP/9']);
  const headers: string[] = [];
  if (chance(r, 0.9)) headers.push('Host: x');
  if (chance(r, 0.7)) headers.push('Content-Type: application/json');
  let payload = body.bytes;
  const framing = pick(r, ['length', 'length', 'more', 'less', 'twice', 'differing', 'chunked', 'chunked+length', 'none', 'negative', 'huge', 'spaces']);
  const n = payload.length;
  switch (framing) {
    case 'length': headers.push(`Content-Length: ${n}`); break;
    case 'more': headers.push(`Content-Length: ${n + 1 + Math.floor(r() * 10)}`); break;
    case 'less': headers.push(`Content-Length: ${Math.max(0, n - 1 - Math.floor(r() * 10))}`); break;
    case 'twice': headers.push(`Content-Length: ${n}`, `Content-Length: ${n}`); break;
    case 'differing': headers.push('Content-Length: 2', `Content-Length: ${n}`); break;
    case 'chunked': headers.push('Transfer-Encoding: chunked'); payload = chunked(r, payload); break;
    case 'chunked+length': headers.push('Transfer-Encoding: chunked', `Content-Length: ${n}`); payload = chunked(r, payload); break;
    case 'negative': headers.push('Content-Length: -1'); break;
    case 'huge': headers.push('Content-Length: 99999999999999999999'); break;
    case 'spaces': headers.push(`Content-Length:   ${n}  `); break;
    default: break;
  }
  if (chance(r, 0.3)) {
    headers.push(pick(r, ['Connection: close', 'Connection: keep-alive', 'Expect: 100-continue', 'Transfer-Encoding: gzip', 'Upgrade: websocket',
      'X: a\r\n b', 'Bad Name: 1', 'X : y', ': empty', 'X-Long: ' + 'v'.repeat(5000), 'X-Bin: \x01\x7f\xff', 'Cookie: ' + 'c=1; '.repeat(100)]));
  }
  const head = `${method} ${path} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`;
  return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), payload]), ids: body.ids };
}

function mutations(r: Rand): Mutation[] {
  const kinds = ['set', 'bit', 'insert', 'delete', 'truncate', 'repeat'] as const;
  return Array.from({ length: 1 + Math.floor(r() * 3) }, (): Mutation => {
    const at = Math.floor(r() * 1e9);
    switch (pick(r, kinds)) {
      case 'set': return { kind: 'set', at, byte: Math.floor(r() * 256) };
      case 'bit': return { kind: 'bit', at, bit: Math.floor(r() * 8) };
      case 'insert': return { kind: 'insert', at, seq: Math.floor(r() * HTTP_SEQUENCES.length) };
      case 'delete': return { kind: 'delete', at, length: 1 + Math.floor(r() * 8) };
      case 'truncate': return { kind: 'truncate', at };
      default: return { kind: 'repeat', at, length: 1 + Math.floor(r() * 60), to: Math.floor(r() * 1e9) };
    }
  });
}

/** `bytes` cut into 1-6 writes at random places. */
function splitWrites(r: Rand, bytes: Buffer): Buffer[] {
  const cuts = Array.from({ length: Math.floor(r() * 6) }, () => Math.floor(r() * bytes.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One connection

interface Exchanged {
  received: Buffer;
  closedByServer: boolean;
}

/**
 * Writes `writes` on a fresh connection, each once the previous one has been handed to the
 * kernel and `gate(i, received)` allows write i, then reads until the server closes,
 * `done(received)` holds, or the connection has been quiet for `quietMs` (Infinity: answers
 * are certain, so only the cap ends the wait).
 */
function exchange(
  writes: readonly Buffer[],
  done: (received: Buffer) => boolean,
  gate?: (index: number, received: Buffer) => boolean,
  quietMs = QUIET_MS,
): Promise<Exchanged> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = Buffer.alloc(0);
    let finished = false;
    let writing = false;
    let quiet: NodeJS.Timeout | undefined;
    const cap = setTimeout(() => finish(false), MAX_CONNECTION_MS);
    const finish = (closedByServer: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(cap);
      clearTimeout(quiet);
      socket.destroy();
      resolve({ received, closedByServer });
    };
    const arm = () => {
      clearTimeout(quiet);
      if (quietMs !== Infinity) quiet = setTimeout(() => finish(false), quietMs);
    };
    let next = 0;
    const writeNext = () => {
      if (finished || writing) return;
      if (next >= writes.length || (gate !== undefined && next > 0 && !gate(next, received))) return arm();
      writing = true;
      socket.write(writes[next++]!, () => {
        writing = false;
        setImmediate(writeNext);
      });
    };
    socket.on('connect', writeNext);
    socket.on('data', (data) => {
      chunks.push(data);
      received = Buffer.concat(chunks);
      if (done(received)) return finish(false);
      writeNext();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

/** The final answers llhttp reads in `received`; fails the test when the stream is not well formed. */
function responses(received: Buffer, closedByServer: boolean, sent: Buffer): { status: number; body: string }[] {
  const parsed = llhttpParse(received, closedByServer);
  const refused = parsed.errorAt >= 0 && !(parsed.errorAt === received.length && !closedByServer);
  expect(refused, `malformed answer stream (${parsed.error}) to ${JSON.stringify(sent.toString('latin1').slice(0, 300))}: ${JSON.stringify(received.toString('latin1').slice(0, 600))}`).toBe(false);
  return parsed.messages.filter((m) => m.status >= 200).map((m) => ({ status: m.status, body: m.body }));
}

/** The ids in a JSON-RPC answer body (one object or a batch); undefined when the body is not JSON-RPC. */
function answerIds(body: string): unknown[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body, 'latin1').toString('utf8'));
  } catch {
    return undefined;
  }
  const items = Array.isArray(value) ? value : [value];
  const ids: unknown[] = [];
  for (const item of items) {
    if (typeof item === 'object' && item !== null && 'jsonrpc' in item) ids.push((item as { id?: unknown }).id);
  }
  return ids.length > 0 ? ids : undefined;
}

/** Every JSON string and number token in `text`, as JSON.parse reads it (escapes resolved). */
function tokensOf(text: string): Set<unknown> {
  const tokens = new Set<unknown>();
  for (const match of text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)) {
    try {
      tokens.add(JSON.parse(match[0]));
    } catch {
      // not a token after all
    }
  }
  return tokens;
}

/**
 * Every non-null id answered was sent on this connection: one of the ids generated for it, or
 * one a mutation made, found in the bytes sent. (A mutation can also split an id with bytes
 * the server drops, such as a frame header, so the generated ids are not looked for as text.)
 */
function expectOwnIds(ids: readonly unknown[], generated: readonly (number | string)[], sent: Buffer, received: string): void {
  const text = sent.toString('latin1');
  // As the gateway reads the bytes: invalid UTF-8 becomes U+FFFD.
  const decoded = sent.toString('utf8');
  for (const id of ids) {
    if (id === null) continue;
    count('answers checked');
    const json = JSON.stringify(id);
    const own = generated.includes(id as number | string) || text.includes(json) || decoded.includes(json) || tokensOf(decoded).has(id);
    expect(own, `answer id ${JSON.stringify(id)} was not sent on this connection: ${received.slice(0, 300)}; sent: ${JSON.stringify(text.slice(0, 1000))}`).toBe(true);
  }
}

/**
 * One connection of 1-4 requests. `sequential`: well-formed requests, each written once the
 * previous one is answered: every one answered, in order, with exactly its own ids.
 * `pipelined`: well-formed requests written at once; `odd` and `mutated`: odd heads and
 * framings, or byte mutations: no answer demanded, but those that come are in request order
 * and carry ids of this connection.
 */
async function httpConnection(r: Rand): Promise<void> {
  count('HTTP connections');
  const mode = pick(r, ['sequential', 'sequential', 'pipelined', 'odd', 'odd', 'mutated', 'mutated']);
  const requests = Array.from({ length: 1 + Math.floor(r() * 4) }, () => (mode === 'odd' ? odd(r) : wellFormed(r)));
  let bytes: Buffer = Buffer.concat(requests.map((q) => q.bytes));
  if (mode === 'mutated') bytes = mutate(bytes, mutations(r), HTTP_SEQUENCES);
  const finals = (received: Buffer) => llhttpParse(received, false).messages.filter((m) => m.status >= 200).length;
  const { received, closedByServer } = mode === 'sequential'
    ? await exchange(requests.map((q) => q.bytes), (got) => finals(got) >= requests.length, (i, got) => finals(got) >= i, Infinity)
    : await exchange(splitWrites(r, bytes), () => false);
  const answers = responses(received, closedByServer, bytes);
  let lastIndex = -1;
  for (const answer of answers) {
    const ids = answerIds(answer.body);
    if (ids === undefined) continue;
    expectOwnIds(ids, requests.flatMap((q) => q.ids), bytes, answer.body);
    if (mode === 'mutated') continue;
    // Answers come in request order: the request an answer's ids belong to never goes back.
    const index = requests.findIndex((q) => ids.some((id) => q.ids.includes(id as number | string)));
    if (index < 0) continue;
    expect(index, `answer out of order: ${answer.body}`).toBeGreaterThan(lastIndex);
    lastIndex = index;
  }
  if (mode === 'sequential') {
    expect(answers.length, `answers to ${requests.length} requests (closed by the server: ${closedByServer}): ${JSON.stringify(bytes.toString("latin1").slice(0, 500))} got ${received.toString("latin1").slice(0, 400)}`).toBe(requests.length);
    answers.forEach((answer, k) => {
      expect(answer.status).toBe(200);
      const ids = answerIds(answer.body) ?? [];
      expect([...ids].sort(), answer.body).toEqual([...requests[k]!.ids].sort());
    });
  }
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/**
 * A client frame. `zeroMask`: the masking key 0 (legal, if not advised), so the payload stays
 * readable in the bytes sent and an id a mutation made can still be found there.
 */
let zeroMask = false;
function frame(r: Rand, opcode: number, payload: Buffer, fin = true, masked = true): Buffer {
  const n = payload.length;
  const head = [((fin ? 0x80 : 0) | opcode)];
  const maskBit = masked ? 0x80 : 0;
  if (n < 126) head.push(maskBit | n);
  else if (n < 65536) head.push(maskBit | 126, n >> 8, n & 0xff);
  else head.push(maskBit | 127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = zeroMask ? Buffer.alloc(4) : Buffer.from([r() * 256, r() * 256, r() * 256, r() * 256].map(Math.floor));
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/** Server frames after the 101's head: text payloads, and whether the stream is well formed. */
function serverFrames(bytes: Buffer): { texts: string[]; wellFormed: boolean } {
  const texts: string[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    if ((b1 & 0x80) !== 0 || (b0 & 0x70) !== 0) return { texts, wellFormed: false }; // masked, or reserved bits
    const opcode = b0 & 0x0f;
    if (![0, 1, 2, 8, 9, 10].includes(opcode)) return { texts, wellFormed: false };
    let n = b1 & 0x7f;
    let p = at + 2;
    if (n === 126) {
      if (p + 2 > bytes.length) break;
      n = bytes.readUInt16BE(p);
      p += 2;
    } else if (n === 127) {
      if (p + 8 > bytes.length) break;
      n = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    if (p + n > bytes.length) break; // cut by our own close
    if (opcode === 1) texts.push(bytes.toString('utf8', p, p + n));
    at = p + n;
  }
  return { texts, wellFormed: true };
}

async function webSocketConnection(r: Rand): Promise<void> {
  count('WebSocket connections');
  const path = pick(r, ['/', '/rpc/ethereum']);
  const handshake = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`, 'latin1');
  const frames: Buffer[] = [];
  const ids: (number | string)[] = [];
  const mutated = chance(r, 0.4);
  zeroMask = mutated || chance(r, 0.3);
  for (let i = 0, n = 1 + Math.floor(r() * 5); i < n; i++) {
    const body = rpcBody(r);
    ids.push(...body.ids);
    const kind = pick(r, ['text', 'text', 'text', 'fragmented', 'binary', 'ping', 'unmasked', 'bad-opcode', 'reserved', 'close', 'length-lie']);
    switch (kind) {
      case 'fragmented': {
        const cut = Math.floor(r() * body.bytes.length);
        frames.push(frame(r, 1, body.bytes.subarray(0, cut), false), frame(r, 0, body.bytes.subarray(cut)));
        break;
      }
      case 'binary': frames.push(frame(r, 2, body.bytes)); break;
      case 'ping': frames.push(frame(r, 9, Buffer.from('p')), frame(r, 1, body.bytes)); break;
      case 'unmasked': frames.push(frame(r, 1, body.bytes, true, false)); break;
      case 'bad-opcode': frames.push(frame(r, 3 + Math.floor(r() * 5), body.bytes)); break;
      case 'reserved': {
        const f = frame(r, 1, body.bytes);
        f[0]! |= 0x40;
        frames.push(f);
        break;
      }
      case 'close': frames.push(frame(r, 8, Buffer.from([0x03, 0xe8])), frame(r, 1, body.bytes)); break;
      case 'length-lie': {
        const f = frame(r, 1, body.bytes);
        f[1] = 0x80 | Math.min(125, (f[1]! & 0x7f) + 1 + Math.floor(r() * 5));
        frames.push(f);
        break;
      }
      default: frames.push(frame(r, 1, body.bytes));
    }
  }
  let tail: Buffer = Buffer.concat(frames);
  if (mutated) tail = mutate(tail, mutations(r), HTTP_SEQUENCES);
  // In clear when the mask is 0 (a mutated id can be found); else only the generated ids count.
  const sent = zeroMask ? Buffer.concat([handshake, tail]) : handshake;
  const headEnd = (got: Buffer) => got.indexOf('\r\n\r\n');
  const { received, closedByServer } = await exchange([handshake, ...splitWrites(r, tail)], () => false, (_, got) => headEnd(got) >= 0);
  const end = headEnd(received);
  if (end < 0) {
    if (received.length > 0) responses(received, closedByServer, sent);
    return;
  }
  const head = received.subarray(0, end + 4).toString('latin1');
  if (!head.startsWith('HTTP/1.1 101 ')) {
    responses(received, closedByServer, sent);
    return;
  }
  const { texts, wellFormed } = serverFrames(received.subarray(end + 4));
  expect(wellFormed, `malformed WebSocket frames: ${JSON.stringify(received.subarray(end + 4).toString('latin1').slice(0, 300))}`).toBe(true);
  for (const text of texts) {
    const answered = answerIds(Buffer.from(text).toString('latin1'));
    if (answered !== undefined) expectOwnIds(answered, ids, sent, text);
  }
}

async function health(): Promise<void> {
  const res = await fetch(`${stack.url.replace(/\/$/, '')}/health`);
  expect(res.status).toBe(200);
  await res.text();
}

describe('the front fuzzed over raw sockets', () => {
  it(`stays up and answers only well-formed, own answers (${ROUNDS} rounds of ${CONNECTIONS_PER_ROUND} connections)`, async () => {
    await health();
    for (let round = 0; round < ROUNDS; round++) {
      const r = rng(SEED + round * 7919 + Math.round(SCALE) * 1_000_003);
      await Promise.all(Array.from({ length: CONNECTIONS_PER_ROUND }, () => (chance(r, 0.25) ? webSocketConnection(r) : httpConnection(r))));
      await health();
    }
  }, Math.max(60_000, ROUNDS * 5_000));
});
