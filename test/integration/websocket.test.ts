/**
 * JSON-RPC over WebSocket on `/` and `/rpc/:chain`, with the `ws` client (Node 20 has no
 * global WebSocket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, rpc, startStack } from '../support/stack.js';
import { connectWs } from '../support/ws-client.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ operators: [{}, {}] });
});
afterAll(() => stack.stop());

const connect = (path: string) => connectWs(stack.url.replace('http', 'ws') + path);

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
