/**
 * Memory has a bound: what the gateway buffers for requests in flight (operator answers as they
 * arrive, client bodies, answers a WebSocket client has not read) stays within
 * `limits.maxBufferedBytes`; beyond it requests fail at once with OVERLOADED (-32059, HTTP 503),
 * counted, and not held against the operator.
 */
import net from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { onRequests } from '../support/http-requests.js';
import { until as waitUntil } from '../support/until.js';

const MIB = 1024 * 1024;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/**
 * An operator answering every call with an `answerBytes` result: the head and the first half of
 * the body at once, the rest only when `release()` is called, so answers pile up half-read.
 */
async function slowLargeOperator(answerBytes: number): Promise<{ url: string; heads: () => number; release(): void; close(): Promise<void> }> {
  const waiting: (() => void)[] = [];
  let released = false;
  let heads = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onRequests(socket, (request) => {
      const call = JSON.parse(request.toString('utf8')) as { id: unknown; method: string };
      const result = call.method === 'eth_getBlockByNumber' ? `"0x${'ab'.repeat((answerBytes - 64) / 2)}"` : '"0x1"';
      const body = Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(call.id)},"result":${result}}`);
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      if (call.method !== 'eth_getBlockByNumber') {
        socket.write(body);
        return;
      }
      heads++;
      const half = body.length >> 1;
      socket.write(body.subarray(0, half));
      const rest = () => socket.write(body.subarray(half));
      if (released) rest();
      else waiting.push(rest);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    heads: () => heads,
    release() {
      released = true;
      for (const rest of waiting.splice(0)) rest();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function gatewayInFront(operatorUrl: string, maxBufferedBytes: number): Promise<Gateway> {
  const config = parseConfig({
    logLevel: 'silent',
    rpc: { port: 0 },
    admin: { port: 0 },
    limits: { maxBufferedBytes, maxResponseBytes: 16 * MIB },
    // Answers are held half-sent until all 100 calls arrived: no attempt may time out meanwhile, however slow the machine.
    upstream: { pipelining: 1, connections: 128, attemptTimeoutMs: 60_000, requestDeadlineMs: 60_000 },
    staking: { crossCheck: { sampleRate: 0 } },
    // Every eth_getBlockByNumber here is a test's (the admission probe would ask for the safe and finalized blocks).
    routing: { chainAware: false },
    operators: [{ id: 'big', url: operatorUrl }],
  });
  const gateway = await Gateway.start(config, { autoMeasure: false });
  closers.push(() => gateway.stop());
  return gateway;
}

/** Conditions here wait on 100 answers of 8 MiB: 20 s, however loaded the machine. */
const until = (condition: () => boolean, what: string) => waitUntil(condition, what, 20_000);

describe('the memory budget', () => {
  it('100 clients asking for 8 MiB answers at once: the budget holds, the rest fail fast with OVERLOADED, nobody blames the operator', async () => {
    const operator = await slowLargeOperator(8 * MIB);
    closers.push(() => operator.close());
    const gateway = await gatewayInFront(operator.url, 64 * MIB);
    const budget = gateway.memoryBudget!;
    const dispatcher = new Agent({ connections: 100 });
    closers.push(() => dispatcher.close());
    const answers = Array.from({ length: 100 }, (_, i) =>
      request(gateway.rpcUrl, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_getBlockByNumber', params: ['0x1', true] }),
      }).then(async (res) => ({ status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) })),
    );
    // Every request reached the operator; all answers are half sent, and those refused are answered already.
    await until(() => operator.heads() === 100, 'the operator to see all 100 calls');
    await until(() => gateway.routing.current !== undefined && budget.refusals > 0, 'refusals');
    operator.release();
    const results = await Promise.all(answers);
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 503);
    expect(ok.length + refused.length, results.filter((r) => r.status !== 200 && r.status !== 503).map((r) => `${r.status} ${r.body.toString().slice(0, 120)}`).join('; ')).toBe(100);
    // At most 64 MiB / 8 MiB answers were buffered at once.
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.length).toBeLessThanOrEqual(8);
    for (const r of ok) expect(r.body.length).toBeGreaterThan(8 * MIB - 100);
    // Refused at the door (id null: the body is not read) or when the answer's head came (its own id).
    for (const r of refused) expect(JSON.parse(r.body.toString())).toMatchObject({ jsonrpc: '2.0', error: { code: -32059 } });
    expect(budget.peak).toBeLessThanOrEqual(64 * MIB);
    expect(budget.refusals).toBeGreaterThanOrEqual(refused.length);
    // Everything taken was given back.
    expect(budget.used).toBe(0);
    // The operator answered every call it was sent: none of it counts against it.
    const index = gateway.operatorRef('big')!.index;
    expect(gateway.measurement.count(index, 'invalid_envelope') + gateway.measurement.count(index, 'connect')).toBe(0);
    const metrics = await (await fetch(`${gateway.adminUrl}metrics`)).text();
    expect(metrics).toMatch(/din_memory_budget_refusals_total \d+/);
    expect(metrics).toMatch(new RegExp(`din_memory_budget_bytes\\{state="limit"\\} ${64 * MIB}`));
  }, 60_000);

  it('an HTTP client that does not read its 8 MiB answer: what it has not taken counts against the budget until it reads or goes away', async () => {
    const operator = await slowLargeOperator(8 * MIB);
    closers.push(() => operator.close());
    operator.release();
    const gateway = await gatewayInFront(operator.url, 64 * MIB);
    const budget = gateway.memoryBudget!;
    const { port } = new URL(gateway.rpcUrl);
    const ask = (id: number) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'eth_getBlockByNumber', params: ['0x1', true] });
      socket.write(`POST / HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return socket;
    };
    // Not read: the kernel's buffers fill, and the rest waits in the gateway, counted.
    const stalled = ask(1);
    stalled.pause();
    await until(() => budget.used > 4 * MIB && gateway.memoryBudget!.used < 9 * MIB, 'the unread part to be held');
    stalled.destroy();
    await until(() => budget.used === 0, 'the budget to be given back when the client goes away');
    // Read slowly, to the end: the whole answer arrives, and the budget is back to 0.
    const slow = ask(2);
    slow.pause();
    await until(() => budget.used > 4 * MIB, 'the unread part to be held');
    let received = 0;
    slow.on('data', (chunk: Buffer) => (received += chunk.length));
    slow.resume();
    await until(() => received > 8 * MIB && budget.used === 0, 'the whole answer, and the budget back');
    slow.destroy();
  }, 60_000);

  it('one WebSocket sending 100 requests of 4 MiB without reading: its requests in flight are capped, the rest refused, the budget back to 0 at close', async () => {
    const operator = await slowLargeOperator(1024);
    closers.push(() => operator.close());
    const gateway = await gatewayInFront(operator.url, 64 * MIB);
    const budget = gateway.memoryBudget!;
    const ws = new WebSocket(gateway.rpcUrl.replace('http', 'ws'), { maxPayload: 64 * MIB });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answers: { id: unknown; error?: { code: number } }[] = [];
    ws.on('message', (data) => answers.push(JSON.parse(data.toString()) as (typeof answers)[number]));
    // A 4 MiB request: the params carry the bulk, the operator answers it with a small result once released.
    const filler = 'f'.repeat(4 * MIB);
    for (let i = 0; i < 100; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_getBlockByNumber', params: ['0x1', true, filler] }));
    // maxBodyBytes is 5 MiB: at most 4 x 5 MiB of requests in flight on one socket, so 4 of these.
    await until(() => answers.length >= 96, 'the refusals');
    expect(answers.filter((a) => a.error?.code === -32059)).toHaveLength(96);
    expect(operator.heads()).toBe(4);
    expect(budget.peak).toBeLessThanOrEqual(64 * MIB);
    operator.release();
    await until(() => answers.length === 100, 'every answer');
    ws.close();
    await until(() => budget.used === 0, 'the budget to be given back');
  }, 60_000);
});
