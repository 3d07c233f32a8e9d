/**
 * The JSON-RPC 2.0 specification's examples (section 7) and our HTTP surface, through a
 * real gateway in front of real simulated operators.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, post, rpc, startStack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ operators: [{}, {}], config: { limits: { maxBatchSize: 20, maxBodyBytes: 64 * 1024 }, routing: { chainAware: true } } });
});
afterAll(() => stack.stop());

describe('JSON-RPC 2.0 over HTTP', () => {
  it('answers a single call with the operator\'s answer and the same id', async () => {
    for (const id of [1, 'abc', null, 0, -5, 1.5]) {
      const res = await post(stack.url, rpc('eth_chainId', id));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.json).toEqual({ jsonrpc: '2.0', id, result: '0x1' });
    }
  });

  it('serves /rpc/:chain and refuses an unknown chain', async () => {
    expect((await post(`${stack.url}rpc/ethereum`, rpc('net_version'))).json.result).toBe('1');
    const res = await post(`${stack.url}rpc/polygon`, rpc('net_version', 9));
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ id: 9, error: { code: -32602 } });
  });

  it('passes an operator\'s JSON-RPC error through untouched', async () => {
    const res = await post(stack.url, { jsonrpc: '2.0', method: 'foobar', id: '1' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ jsonrpc: '2.0', id: '1', error: { code: -32601, message: 'Method not found' } });
  });

  it('answers invalid JSON with -32700, invalid requests with -32600', async () => {
    const parseError = await post(stack.url, '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
    expect(parseError.status).toBe(400);
    expect(parseError.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    const invalid = await post(stack.url, '{"jsonrpc": "2.0", "method": 1, "params": "bar"}');
    expect(invalid.status).toBe(400);
    expect(invalid.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
  });

  it('answers a batch with invalid JSON with one -32700', async () => {
    const res = await post(stack.url, '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method"]');
    expect(res.json).toMatchObject({ id: null, error: { code: -32700 } });
  });

  it('answers an empty array with a single error object', async () => {
    const res = await post(stack.url, '[]');
    expect(Array.isArray(res.json)).toBe(false);
    expect(res.json).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('answers [1] and [1,2,3] with one -32600 per element', async () => {
    expect((await post(stack.url, '[1]')).json).toEqual([expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) })]);
    const three = await post(stack.url, '[1,2,3]');
    expect(three.json).toHaveLength(3);
    for (const item of three.json) expect(item).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('answers a mixed batch in request order, every non-notification answered, notifications silent', async () => {
    const res = await post(stack.url, [
      rpc('eth_chainId', '1'),
      { jsonrpc: '2.0', method: 'notify_hello', params: [7] },
      rpc('net_version', '2'),
      { foo: 'boo' },
      rpc('foo.get', '5', [{ name: 'myself' }]),
      rpc('eth_getBalance', '9', ['0x742d35cc6634c0532925a3b844bc9e7595f0beb0', 'latest']),
    ]);
    expect(res.status).toBe(200);
    expect(res.json.map((r: { id: unknown }) => r.id)).toEqual(['1', '2', null, '5', '9']);
    expect(res.json[0]).toEqual({ jsonrpc: '2.0', id: '1', result: '0x1' });
    expect(res.json[1]).toEqual({ jsonrpc: '2.0', id: '2', result: '1' });
    expect(res.json[2]).toMatchObject({ error: { code: -32600 } });
    expect(res.json[3]).toMatchObject({ error: { code: -32601 } });
    expect(res.json[4].result).toMatch(/^0x[0-9a-f]+$/);
  });

  it('keeps duplicate and odd ids apart inside a batch', async () => {
    const res = await post(stack.url, [rpc('eth_chainId', 5), rpc('net_version', 5), rpc('eth_chainId', '5'), rpc('net_version', null)]);
    expect(res.json).toEqual([
      { jsonrpc: '2.0', id: 5, result: '0x1' },
      { jsonrpc: '2.0', id: 5, result: '1' },
      { jsonrpc: '2.0', id: '5', result: '0x1' },
      { jsonrpc: '2.0', id: null, result: '1' },
    ]);
  });

  it('gives a notification, and a batch of only notifications, no body at all', async () => {
    const before = stack.sims.reduce((n, s) => n + (s.stats.byMethod.get('notify_sum') ?? 0), 0);
    const single = await post(stack.url, { jsonrpc: '2.0', method: 'notify_sum', params: [1, 2, 4] });
    expect(single.status).toBe(204);
    expect(single.text).toBe('');
    const batch = await post(stack.url, [{ jsonrpc: '2.0', method: 'notify_sum', params: [1, 2, 4] }, { jsonrpc: '2.0', method: 'notify_hello', params: [7] }]);
    expect(batch.status).toBe(204);
    expect(batch.text).toBe('');
    // The notifications were delivered to an operator, not dropped.
    const after = stack.sims.reduce((n, s) => n + (s.stats.byMethod.get('notify_sum') ?? 0), 0);
    expect(after - before).toBe(2);
  });

  it('refuses a batch over the configured maximum with one clear error', async () => {
    const res = await post(stack.url, Array.from({ length: 21 }, (_, i) => rpc('eth_chainId', i)));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ id: null, error: { code: -32600, message: expect.stringContaining('at most 20') } });
  });

  it('refuses a body over the limit with HTTP 413, declared or streamed', async () => {
    const big = JSON.stringify(rpc('eth_chainId', 1, ['x'.repeat(70 * 1024)]));
    const declared = await post(stack.url, big);
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ error: { code: -32600 } });
    // Chunked: no content-length, the cap applies while reading.
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(10 * 1024)));
        controller.close();
      },
    });
    const chunked = await fetch(stack.url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    // The gateway still serves afterwards.
    expect((await post(stack.url, rpc('eth_chainId'))).status).toBe(200);
  });

  it('reads a body that arrives in many chunks', async () => {
    const body = JSON.stringify(rpc('eth_getBalance', 3, ['0x742d35cc6634c0532925a3b844bc9e7595f0beb0', 'latest'])) + ' '.repeat(40 * 1024);
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
        controller.close();
      },
    });
    const res = await fetch(stack.url, { method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/json' } } as RequestInit);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: unknown }).id).toBe(3);
  });
});

describe('HTTP surface', () => {
  it('answers /health and /ready', async () => {
    const health = await fetch(`${stack.url}health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${stack.url}ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', chains: { ethereum: 2 } });
  });

  it('answers CORS preflight and sets the allowed origin on answers', async () => {
    const pre = await fetch(stack.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://dapp.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type');
    const res = await post(stack.url, rpc('eth_chainId'), { origin: 'https://dapp.example' });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('writes each answer head line once and whole: status, content type, origin and keep-alive hint (joined for uWS, split on the wire)', async () => {
    const body = JSON.stringify(rpc('eth_chainId', 7));
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(stack.url).port), '127.0.0.1');
      let got = '';
      socket.on('data', (d) => {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(got.slice(0, got.indexOf('\r\n\r\n')));
        }
      });
      socket.on('error', reject);
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    const lines = head.split('\r\n');
    expect(lines[0]).toBe('HTTP/1.1 200 OK');
    const fields = lines.slice(1).map((line) => line.toLowerCase());
    for (const line of fields) expect(line).toMatch(/^[a-z0-9-]+: [^\r\n]*$/);
    expect(fields.filter((f) => f === 'content-type: application/json')).toHaveLength(1);
    expect(fields.filter((f) => f === 'access-control-allow-origin: *')).toHaveLength(1);
    // The idle timeout said in advance, so that clients close idle connections before uWS does (10 s).
    expect(fields.filter((f) => f === 'keep-alive: timeout=10')).toHaveLength(1);
    expect(fields.filter((f) => /^(content-type|access-control-allow-origin|keep-alive):/.test(f))).toHaveLength(3);
  });

  it('says 405 for GET on an RPC path and 404 elsewhere', async () => {
    expect((await fetch(stack.url)).status).toBe(405);
    expect((await fetch(`${stack.url}nope`)).status).toBe(404);
  });
});
