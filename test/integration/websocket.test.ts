/**
 * JSON-RPC over WebSocket on `/` and `/rpc/:chain`, with the `ws` client (Node 20 has no
 * global WebSocket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Stack, rpc, startStack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ operators: [{}, {}] });
});
afterAll(() => stack.stop());

async function connect(path: string): Promise<{ ws: WebSocket; next: () => Promise<unknown>; silentFor: (ms: number) => Promise<boolean> }> {
  const ws = new WebSocket(stack.url.replace('http', 'ws') + path);
  const inbox: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  ws.on('message', (data) => {
    const value = JSON.parse(String(data));
    const waiter = waiters.shift();
    if (waiter) waiter(value);
    else inbox.push(value);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    next: () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiters.push(resolve))),
    silentFor: (ms) => new Promise((resolve) => setTimeout(() => resolve(inbox.length === 0 && waiters.length === 0), ms)),
  };
}

describe('JSON-RPC over WebSocket', () => {
  it('answers single requests and batches, ids preserved', async () => {
    const { ws, next } = await connect('');
    ws.send(JSON.stringify(rpc('eth_chainId', 'a')));
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 'a', result: '0x1' });
    ws.send(JSON.stringify([rpc('eth_chainId', 1), rpc('net_version', 2)]));
    expect(await next()).toEqual([
      { jsonrpc: '2.0', id: 1, result: '0x1' },
      { jsonrpc: '2.0', id: 2, result: '1' },
    ]);
    ws.close();
  });

  it('serves /rpc/:chain, answers many concurrent requests on one socket', async () => {
    const { ws, next } = await connect('rpc/ethereum');
    for (let i = 0; i < 100; i++) ws.send(JSON.stringify(rpc('eth_chainId', i)));
    const ids = new Set<number>();
    for (let i = 0; i < 100; i++) ids.add(((await next()) as { id: number }).id);
    expect(ids.size).toBe(100);
    ws.close();
  });

  it('sends nothing for notifications and errors for bad messages', async () => {
    const { ws, next, silentFor } = await connect('');
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notify' }));
    expect(await silentFor(100)).toBe(true);
    ws.send('{oops');
    expect(await next()).toMatchObject({ id: null, error: { code: -32700 } });
    ws.close();
  });

  it('answers an unknown chain with an error, not a closed socket', async () => {
    const { ws, next } = await connect('rpc/nochain');
    ws.send(JSON.stringify(rpc('eth_chainId', 4)));
    expect(await next()).toMatchObject({ id: 4, error: { code: -32602 } });
    ws.close();
  });
});
