/**
 * Rate limiting through real sockets: per-IP and per-key token buckets, method and batch
 * costs, HTTP 429 + Retry-After + -32005 over HTTP and WebSocket, refill on an injected clock
 * (no sleeps), API keys by path and header (401 for unknown ones), /metrics counts, and no
 * key in logs or metrics.
 */
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { LimitExceededRpcError, createPublicClient, http, webSocket } from 'viem';
import { mainnet } from 'viem/chains';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../src/log.js';
import { CLIENT_FAULTS } from '../../src/metrics/attempt-recorder.js';
import { type Stack, post, rpc, startStack } from '../support/stack.js';
import { connectWs } from '../support/ws-client.js';

const ALPHA_KEY = 'alpha-key-0123456789abcdef';
const BETA_KEY = 'beta-key-0123456789abcdef0';
const UNKNOWN_KEY = 'nobody-key-0123456789abcd';

/** The limiter's clock: tests move it instead of sleeping. */
let clock = 1_000_000;
/** Every bucket full again: an hour later at any rate used here. */
const refillAll = () => {
  clock += 3_600_000;
};

const logs: string[] = [];
let stack: Stack;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  stack = await startStack({
    operators: [{}],
    rateLimitNow: () => clock,
    logger: createLogger('trace', sink),
    config: {
      rateLimit: {
        perIp: { rate: 1, burst: 5 },
        apiKeys: {
          keys: [
            { key: ALPHA_KEY, name: 'alpha', rate: 1, burst: 3 },
            { key: BETA_KEY, name: 'beta', rate: 2, burst: 4 },
          ],
        },
        costs: { default: 1, methods: { eth_getLogs: 3 }, prefixes: { debug_: 4 } },
      },
    },
  });
});
afterAll(() => stack.stop());

const faults = (reason: (typeof CLIENT_FAULTS)[number]) => stack.recorder.clientFaults[CLIENT_FAULTS.indexOf(reason)]!;

async function expectRefused(res: Awaited<ReturnType<typeof post>>, retryAfter: number, id: unknown): Promise<void> {
  expect(res.status).toBe(429);
  expect(res.headers.get('retry-after')).toBe(String(retryAfter));
  expect(res.json).toEqual({ jsonrpc: '2.0', id, error: { code: -32005, message: `Limit exceeded: retry after ${retryAfter} s` } });
}

describe('rate limiting over HTTP', () => {
  it('answers 429 with Retry-After and -32005 once an IP spent its burst, and admits again after the refill', async () => {
    refillAll();
    const before = faults('rate_limited_ip');
    for (let i = 0; i < 5; i++) expect((await post(stack.url, rpc('eth_chainId', i))).status).toBe(200);
    await expectRefused(await post(stack.url, rpc('eth_chainId', 'sixth')), 1, 'sixth');
    expect(faults('rate_limited_ip')).toBe(before + 1);
    // The connection stays usable, and one second later one token is back: one call, not two.
    clock += 1_000;
    expect((await post(stack.url, rpc('eth_chainId', 7))).json).toEqual({ jsonrpc: '2.0', id: 7, result: '0x1' });
    await expectRefused(await post(stack.url, rpc('eth_chainId', 8)), 1, 8);
    clock += 2_500;
    expect((await post(stack.url, rpc('eth_chainId', 9))).status).toBe(200);
    expect((await post(stack.url, rpc('eth_chainId', 10))).status).toBe(200);
    await expectRefused(await post(stack.url, rpc('eth_chainId', 11)), 1, 11);
  });

  it('charges each method its cost: eth_getLogs and debug_* more than the default', async () => {
    refillAll();
    const logsCall = rpc('eth_getLogs', 1, [{ fromBlock: '0x1', toBlock: '0x1' }]);
    expect((await post(stack.url, logsCall)).status).toBe(200); // 5 - 3 = 2 left
    await expectRefused(await post(stack.url, logsCall), 1, 1); // needs 3
    expect((await post(stack.url, rpc('eth_chainId', 2))).status).toBe(200); // 1 left
    clock += 2_000; // 3 left
    await expectRefused(await post(stack.url, rpc('debug_traceTransaction', 3, ['0x' + '11'.repeat(32)])), 1, 3); // needs 4
    clock += 1_000; // 4 left
    expect((await post(stack.url, rpc('debug_traceTransaction', 4, ['0x' + '11'.repeat(32)]))).status).not.toBe(429);
    await expectRefused(await post(stack.url, rpc('eth_chainId', 5)), 1, 5);
  });

  it('charges a batch the sum of its calls, and refuses it whole with id null', async () => {
    refillAll();
    const batch = [rpc('eth_chainId', 1), rpc('net_version', 2), rpc('eth_chainId', 3)];
    const first = await post(stack.url, batch);
    expect(first.status).toBe(200);
    expect(first.json).toHaveLength(3); // 2 left
    await expectRefused(await post(stack.url, batch), 1, null);
    // eth_getLogs in a batch costs 3 too: 1 + 3 needs 4, 2 left, two seconds short.
    await expectRefused(await post(stack.url, [rpc('eth_chainId', 1), rpc('eth_getLogs', 2, [{}])]), 2, null);
    expect((await post(stack.url, [rpc('eth_chainId', 1), rpc('eth_chainId', 2)])).status).toBe(200);
  });

  it('keeps per-IP and per-key budgets apart, the key from the path or the header', async () => {
    refillAll();
    for (let i = 0; i < 5; i++) expect((await post(stack.url, rpc('eth_chainId', i))).status).toBe(200);
    await expectRefused(await post(stack.url, rpc('eth_chainId', 'ip')), 1, 'ip');
    // The IP is out; alpha's own budget (3) is whole, by header and by path alike.
    const beforeKey = faults('rate_limited_key');
    expect((await post(stack.url, rpc('eth_chainId', 1), { 'x-api-key': ALPHA_KEY })).status).toBe(200);
    expect((await post(`${stack.url}rpc/ethereum/${ALPHA_KEY}`, rpc('eth_chainId', 2))).status).toBe(200);
    expect((await post(stack.url, rpc('eth_chainId', 3), { 'x-api-key': ALPHA_KEY })).status).toBe(200);
    await expectRefused(await post(`${stack.url}rpc/ethereum/${ALPHA_KEY}`, rpc('eth_chainId', 4)), 1, 4);
    expect(faults('rate_limited_key')).toBe(beforeKey + 1);
    // beta is a budget of its own (4), untouched by alpha's.
    for (let i = 0; i < 4; i++) expect((await post(`${stack.url}rpc/ethereum/${BETA_KEY}`, rpc('eth_chainId', i))).status).toBe(200);
    await expectRefused(await post(stack.url, rpc('eth_chainId', 5), { 'x-api-key': BETA_KEY }), 1, 5);
    // And the keyed traffic never paid from the IP's budget: one second gives the IP exactly one call.
    clock += 1_000;
    expect((await post(stack.url, rpc('eth_chainId', 6))).status).toBe(200);
    await expectRefused(await post(stack.url, rpc('eth_chainId', 7)), 1, 7);
  });

  it('answers an unknown key with 401 and -32065, never echoing it', async () => {
    refillAll();
    const before = faults('api_key_rejected');
    for (const res of [
      await post(`${stack.url}rpc/ethereum/${UNKNOWN_KEY}`, rpc('eth_chainId', 1)),
      await post(stack.url, rpc('eth_chainId', 1), { 'x-api-key': UNKNOWN_KEY }),
    ]) {
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32065, message: 'Unknown or missing API key' } });
      expect(res.text).not.toContain(UNKNOWN_KEY);
    }
    expect(faults('api_key_rejected')).toBe(before + 2);
  });
});

const connect = (path: string) => connectWs(stack.url.replace('http', 'ws') + path);

describe('rate limiting over WebSocket', () => {
  it('charges every message: over the limit a -32005 answer, the socket kept open', async () => {
    refillAll();
    const { ws, next } = await connect('rpc/ethereum');
    for (let i = 0; i < 5; i++) {
      ws.send(JSON.stringify(rpc('eth_chainId', i)));
      expect(await next()).toEqual({ jsonrpc: '2.0', id: i, result: '0x1' });
    }
    ws.send(JSON.stringify([rpc('eth_chainId', 5)]));
    expect(await next()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32005, message: 'Limit exceeded: retry after 1 s' } });
    ws.send(JSON.stringify(rpc('eth_chainId', 6)));
    expect(await next()).toMatchObject({ id: 6, error: { code: -32005 } });
    clock += 1_000;
    ws.send(JSON.stringify(rpc('eth_chainId', 7)));
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 7, result: '0x1' });
    ws.close();
  });

  it('takes the key from the socket path, and refuses the upgrade for an unknown one with 401', async () => {
    refillAll();
    const { ws, next } = await connect(`rpc/ethereum/${ALPHA_KEY}`);
    for (let i = 0; i < 3; i++) {
      ws.send(JSON.stringify(rpc('eth_chainId', i)));
      expect(await next()).toMatchObject({ id: i, result: '0x1' });
    }
    ws.send(JSON.stringify(rpc('eth_chainId', 3)));
    expect(await next()).toMatchObject({ id: 3, error: { code: -32005 } });
    ws.close();
    // alpha's budget is spent, the IP's is not.
    expect((await post(stack.url, rpc('eth_chainId', 4))).status).toBe(200);

    const refused = new WebSocket(stack.url.replace('http', 'ws') + `rpc/ethereum/${UNKNOWN_KEY}`);
    const status = await new Promise<number>((resolve, reject) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('open', () => reject(new Error('upgraded with an unknown key')));
      refused.once('error', () => {});
    });
    expect(status).toBe(401);
  });
});

describe('what a client library makes of a refusal (viem)', () => {
  it('raises LimitExceededRpcError over HTTP (with the 429 and its Retry-After beneath) and over WebSocket', async () => {
    refillAll();
    const overHttp = createPublicClient({ chain: mainnet, transport: http(stack.url, { retryCount: 0 }) });
    for (let i = 0; i < 5; i++) expect(await overHttp.getChainId()).toBe(1);
    const httpError = await overHttp.getChainId().catch((err: unknown) => err);
    expect(httpError).toBeInstanceOf(LimitExceededRpcError);
    // Under it, the HTTP answer: status and the Retry-After viem's retry delay reads (utils/buildRequest.ts).
    const cause = (httpError as LimitExceededRpcError).cause as { status?: number; headers?: Headers };
    expect(cause.status).toBe(429);
    expect(cause.headers?.get('Retry-After')).toBe('1');

    refillAll();
    const transport = webSocket(stack.url.replace('http', 'ws'), { retryCount: 0 });
    const overWs = createPublicClient({ chain: mainnet, transport });
    try {
      for (let i = 0; i < 5; i++) expect(await overWs.getBlockNumber({ cacheTime: 0 })).toBeTypeOf('bigint');
      const wsError = await overWs.getBlockNumber({ cacheTime: 0 }).catch((err: unknown) => err);
      expect(wsError).toBeInstanceOf(LimitExceededRpcError);
    } finally {
      await (await overWs.transport.getRpcClient()).close();
    }
  });
});

describe('what the gateway tells about rate limiting', () => {
  it('counts refusals on /metrics with bounded labels, and shows no key in metrics or logs', async () => {
    const text = await (await fetch(`${stack.gateway.adminUrl}metrics`)).text();
    const line = (reason: string) => text.split('\n').find((l) => l.startsWith('din_client_faults_total{') && l.includes(`reason="${reason}"`));
    expect(Number(line('rate_limited_ip')?.split(' ').pop())).toBeGreaterThan(0);
    expect(Number(line('rate_limited_key')?.split(' ').pop())).toBeGreaterThan(0);
    expect(Number(line('api_key_rejected')?.split(' ').pop())).toBeGreaterThan(0);
    const logged = logs.join('');
    // The startup line names the keys' holders, so the logs do say something about keys.
    expect(logged).toContain('"rate limiting"');
    expect(logged).toContain('"alpha"');
    for (const key of [ALPHA_KEY, BETA_KEY, UNKNOWN_KEY]) {
      expect(text).not.toContain(key);
      expect(logged).not.toContain(key);
    }
  });

  it('redacts keys from any logged config or request headers', () => {
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    logger.info({ rateLimit: stack.gateway.config.rateLimit }, 'config');
    logger.info({ headers: { 'x-api-key': ALPHA_KEY }, apiKey: BETA_KEY }, 'request');
    logger.flush();
    const out = lines.join('');
    expect(out).toContain('[redacted]');
    expect(out).toContain('alpha');
    expect(out).not.toContain(ALPHA_KEY);
    expect(out).not.toContain(BETA_KEY);
  });
});

describe('required API keys with budgets off', () => {
  let keyed: Stack;
  beforeAll(async () => {
    keyed = await startStack({
      operators: [{}],
      config: {
        rateLimit: { enabled: false, apiKeys: { required: true, header: 'x-din-key', keys: [{ key: ALPHA_KEY, name: 'alpha', rate: 0.001, burst: 1 }] } },
      },
    });
  });
  afterAll(() => keyed.stop());

  it('answers a request without a key 401, with one 200, in the configured header or the path', async () => {
    const missing = await post(keyed.url, rpc('eth_chainId', 1));
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ error: { code: -32065 } });
    // The default header name is not the configured one.
    expect((await post(keyed.url, rpc('eth_chainId', 1), { 'x-api-key': ALPHA_KEY })).status).toBe(401);
    expect((await post(keyed.url, rpc('eth_chainId', 2), { 'x-din-key': ALPHA_KEY })).json).toEqual({ jsonrpc: '2.0', id: 2, result: '0x1' });
    expect((await post(`${keyed.url}rpc/ethereum/${ALPHA_KEY}`, rpc('eth_chainId', 3))).status).toBe(200);
    // The key's budget of 1 is not charged: budgets are off, only the key is checked.
    expect((await post(`${keyed.url}rpc/ethereum/${ALPHA_KEY}`, rpc('eth_chainId', 4))).status).toBe(200);
  });
});

describe('client IP behind a trusted proxy', () => {
  let proxied: Stack;
  beforeAll(async () => {
    proxied = await startStack({
      operators: [{}],
      rateLimitNow: () => clock,
      config: { rateLimit: { perIp: { rate: 1, burst: 2 }, trustedProxyHops: 1 } },
    });
  });
  afterAll(() => proxied.stop());

  it('reads X-Forwarded-For from the right when configured: each forwarded client has its own budget', async () => {
    refillAll();
    const from = (chain: string) => ({ 'x-forwarded-for': chain });
    for (let i = 0; i < 2; i++) expect((await post(proxied.url, rpc('eth_chainId', i), from('203.0.113.7'))).status).toBe(200);
    expect((await post(proxied.url, rpc('eth_chainId', 2), from('203.0.113.7'))).status).toBe(429);
    // A client-written entry to the left is not believed: the proxy's own (rightmost) entry is the client.
    expect((await post(proxied.url, rpc('eth_chainId', 3), from('198.51.100.1, 203.0.113.7'))).status).toBe(429);
    expect((await post(proxied.url, rpc('eth_chainId', 4), from('203.0.113.7, 198.51.100.1'))).status).toBe(200);
  });
});

describe('data-plane workers', () => {
  let workers: Stack;
  beforeAll(async () => {
    workers = await startStack({
      operators: [{}],
      config: { workers: 2, rateLimit: { perIp: { rate: 0.001, burst: 10 }, leaseTokens: 2, allowance: 1 } },
    });
  }, 60_000);
  afterAll(() => workers?.stop());

  it('share one budget per client for the process: the workers lease from the main thread', async () => {
    // One connection per request, so the kernel spreads them over both workers.
    let admitted = 0;
    for (let i = 0; i < 40; i++) {
      const dispatcher = new Agent({ connections: 1 });
      try {
        const res = await request(workers.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rpc('eth_chainId', i)), dispatcher });
        await res.body.text();
        if (res.statusCode === 200) admitted++;
        else expect(res.statusCode).toBe(429);
      } finally {
        await dispatcher.close();
      }
    }
    // One budget of 10, give or take each worker's allowance while a lease is in flight; two budgets would admit 20.
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(10 + 2 * 1);
  });
});
