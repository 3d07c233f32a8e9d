/**
 * Large answers through real sockets, many at once, each different: every client must get its
 * own answer byte for byte. The gateway uses the buffers of large operator replies again
 * (src/router/body-pool.ts), so a buffer handed back while something still read it would show
 * here as one client receiving (part of) another's answer. The operator is a real HTTP server
 * scripted per test: answers of known content and size, with a Content-Length or chunked.
 */
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { until } from '../support/until.js';

type Framing = 'content-length' | 'chunked';

/** Deterministic hex text of `length` characters for `seed`: no two seeds alike at any offset. */
function hexOf(seed: number, length: number): string {
  const digits = Buffer.from('0123456789abcdef');
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32: cheap and seed-specific, so a stray byte of another answer cannot match.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = digits[x & 15]!;
  }
  return out.toString('latin1');
}

/** The result the operator gives `eth_getBlockByNumber [block, size]`: its size is chosen by the caller. */
const blockResult = (block: number, size: number) => ({ number: `0x${block.toString(16)}`, extraData: `0x${hexOf(block, size)}` });

/**
 * An operator answering `eth_getBlockByNumber` with `blockResult(params[0], params[1])`, single
 * or batched; anything else with "0x1". Chunked answers are written in 7,000-byte pieces.
 */
async function blockOperator(framing: Framing): Promise<{ url: string; blockCalls(): number; headCalls(): number; close(): Promise<void> }> {
  let blockCalls = 0;
  let headCalls = 0;
  const answer = (call: { id: unknown; method: string; params?: unknown[] }) => {
    if (call.method === 'eth_getBlockByNumber') blockCalls++;
    if (call.method === 'eth_blockNumber') headCalls++;
    return {
      jsonrpc: '2.0',
      id: call.id,
      result:
        call.method === 'eth_getBlockByNumber'
          ? blockResult(Number(call.params![0]), Number(call.params![1]))
          : call.method === 'eth_blockNumber'
            ? '0x100000'
            : '0x1',
    };
  };
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const parsed = JSON.parse(Buffer.concat(parts).toString()) as Parameters<typeof answer>[0] | Parameters<typeof answer>[0][];
      const text = JSON.stringify(Array.isArray(parsed) ? parsed.map(answer) : answer(parsed));
      res.setHeader('content-type', 'application/json');
      if (framing === 'content-length') {
        res.setHeader('content-length', Buffer.byteLength(text));
        res.end(text);
        return;
      }
      for (let at = 0; at < text.length; at += 7_000) res.write(text.slice(at, at + 7_000));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    blockCalls: () => blockCalls,
    headCalls: () => headCalls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let gateway: Gateway | undefined;
const operators: Awaited<ReturnType<typeof blockOperator>>[] = [];
afterEach(async () => {
  await gateway?.stop();
  for (const op of operators.splice(0)) await op.close();
  gateway = undefined;
});

async function startGateway(framing: Framing, { count = 1, crossCheck = false } = {}): Promise<string> {
  for (let i = 0; i < count; i++) operators.push(await blockOperator(framing));
  const config = parseConfig({
    logLevel: 'silent',
    rpc: { port: 0 },
    admin: { port: 0 },
    staking: { crossCheck: crossCheck ? { sampleRate: 1, settledDepth: 0 } : { sampleRate: 0 } },
    operators: operators.map((op, i) => ({ id: `op${i}`, url: op.url, stake: '32000000000000000000' })),
  });
  // Measurement on only for the cross-check: it needs the probes' chain head.
  gateway = await Gateway.start(config, { autoMeasure: crossCheck });
  return gateway.rpcUrl;
}

const getBlock = (id: unknown, block: number, size: number) => ({ jsonrpc: '2.0', id, method: 'eth_getBlockByNumber', params: [block, size] });

async function postJson(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return res.json();
}

/** Sizes from 20 KB to 1.5 MB, several in each of the pool's size classes. */
const sizeFor = (block: number) => [20_000, 40_000, 70_000, 123_000, 250_000, 600_000, 1_500_000][block % 7]!;

/**
 * A request whose answer is left unread: Node reads little ahead of a paused reader, so an
 * answer larger than the kernel's socket buffers leaves the gateway holding the rest (copied
 * out of the operator's buffer, which goes back to the pool). `read()` then reads the answer's
 * body; a connection closed before that rejects.
 */
function heldAnswer(url: string, request: unknown): { read(): Promise<string> } {
  const { hostname, port } = new URL(url);
  const text = JSON.stringify(request);
  const socket = net.connect({ host: hostname, port: Number(port) }, () =>
    socket.write(`POST / HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`),
  );
  socket.pause();
  const closed = new Promise<never>((_, reject) => {
    socket.once('close', () => reject(new Error('connection closed before the answer was read')));
    socket.once('error', reject);
  });
  // Awaited through read(); a test that fails before reading must not add an unhandled rejection.
  closed.catch(() => {});
  let startReading = () => {};
  const answer = new Promise<string>((resolve) => {
    let pending = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const headEnd = pending.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(pending.subarray(0, headEnd).toString())?.[1]);
      if (pending.length - headEnd - 4 < length) return;
      resolve(pending.subarray(headEnd + 4, headEnd + 4 + length).toString());
      socket.destroy();
    };
    startReading = () => {
      socket.on('data', onData);
      socket.resume();
    };
  });
  return {
    read() {
      startReading();
      return Promise.race([closed, answer]);
    },
  };
}

describe.each<Framing>(['content-length', 'chunked'])('large answers framed by %s', (framing) => {
  it('each of 150 concurrent answers, 20 KB to 1.5 MB, reaches its own client intact', async () => {
    const url = await startGateway(framing);
    const blocks = Array.from({ length: 150 }, (_, i) => 1000 + i);
    const answers = await Promise.all(blocks.map((block) => postJson(url, getBlock(`b${block}`, block, sizeFor(block)))));
    answers.forEach((answer, i) => expect(answer).toEqual({ jsonrpc: '2.0', id: `b${blocks[i]}`, result: blockResult(blocks[i]!, sizeFor(blocks[i]!)) }));
  });

  it('a client that reads slowly gets its whole answer while others are answered meanwhile', async () => {
    const url = await startGateway(framing);
    // A 10 MB answer (above what the pool keeps) and a 3 MB one left unread, while 20 others of
    // the 3 MB answer's size class go through buffers the pool hands out again: what the slow
    // readers have not taken was copied out of those buffers, and waits, counted in the budget.
    const big = heldAnswer(url, getBlock(1, 1, 10_000_000));
    const pooled = heldAnswer(url, getBlock(2, 2, 3_000_000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const others: unknown[] = [];
    for (let i = 0; i < 20; i++) others.push(await postJson(url, getBlock(i, 5000 + i, 3_000_000 - i * 1000)));
    others.forEach((answer, i) => expect(answer).toEqual({ jsonrpc: '2.0', id: i, result: blockResult(5000 + i, 3_000_000 - i * 1000) }));
    expect(JSON.parse(await big.read())).toEqual({ jsonrpc: '2.0', id: 1, result: blockResult(1, 10_000_000) });
    expect(JSON.parse(await pooled.read())).toEqual({ jsonrpc: '2.0', id: 2, result: blockResult(2, 3_000_000) });
    await until(() => gateway!.memoryBudget!.used === 0, 'the budget to be given back');
  });

  it('the cross-check reads a large answer before its buffer is used again: honest operators agree', async () => {
    const url = await startGateway(framing, { count: 3, crossCheck: true });
    // The probes learn the head (0x100000) at start; settled blocks are cross-checked from then.
    for (let waited = 0; operators.some((op) => op.headCalls() === 0); waited += 20) {
      if (waited > 10_000) throw new Error('the operators were never probed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The probe's answer is read and recorded just after the operator sent it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const blocks = Array.from({ length: 60 }, (_, i) => 3000 + i);
    const answers = await Promise.all(blocks.map((block) => postJson(url, { ...getBlock(block, block, sizeFor(block)), params: [`0x${block.toString(16)}`, sizeFor(block)] })));
    answers.forEach((answer, i) => expect(answer).toEqual({ jsonrpc: '2.0', id: blocks[i], result: blockResult(blocks[i]!, sizeFor(blocks[i]!)) }));
    // Let the cross-checks' second opinions come back.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const asked = operators.reduce((sum, op) => sum + op.blockCalls(), 0);
    // Some calls were asked again of the two other operators (at most 16 checks run at once).
    expect(asked).toBeGreaterThan(blocks.length + 20);
    const metrics = await (await fetch(`${gateway!.adminUrl}metrics`)).text();
    expect(metrics).not.toMatch(/din_upstream_requests_total\{[^}]*outcome="wrong_result"[^}]*\} [1-9]/);
  });

  it('batches of large items, answered whole or through the fallback, each intact', async () => {
    const url = await startGateway(framing);
    const batches = Array.from({ length: 30 }, (_, b) => {
      const blocks = [0, 1, 2, 3].map((k) => 2000 + b * 4 + k);
      // Every third batch repeats an id: its answer is rebuilt from the items (the fallback).
      const ids = b % 3 === 0 ? [7, 7, 8, 9] : blocks;
      return { blocks, ids, body: blocks.map((block, k) => getBlock(ids[k], block, sizeFor(block))) };
    });
    const answers = (await Promise.all(batches.map((batch) => postJson(url, batch.body)))) as { id: unknown; result: unknown }[][];
    answers.forEach((answer, b) => {
      const { blocks, ids } = batches[b]!;
      // Answers come in the operator's order (here the request's); clients match them by id.
      expect(answer).toEqual(blocks.map((block, k) => ({ jsonrpc: '2.0', id: ids[k], result: blockResult(block, sizeFor(block)) })));
    });
  });
});
