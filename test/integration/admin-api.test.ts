/**
 * The staking REST API on the admin listener through real sockets: auth, operators,
 * addresses, amounts, events, signed registration, metrics history and body limits.
 */
import { getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../../src/admin/admin-server.js';
import { registerStakingRoutes } from '../../src/admin/staking-routes.js';
import { CoreError, DINInfrastructureCore, registrationMessage } from '../../src/staking/core.js';
import { MemoryStore } from '../../src/staking/memory-store.js';
import type { PerformanceMetrics } from '../../src/types.js';

const TOKEN = 'test-token-0123456789';
// Anvil's first two well-known development keys.
const KEY_A = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const KEY_B = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const accountA = privateKeyToAccount(KEY_A);
const accountB = privateKeyToAccount(KEY_B);
const WALLET = accountA.address; // EIP-55 checksummed
const WALLET_LOWER = WALLET.toLowerCase();
const WALLET_B = accountB.address;

let core: DINInfrastructureCore;
let admin: AdminServer;
let base: string;
let signedCore: DINInfrastructureCore;
let signedAdmin: AdminServer;
let signedBase: string;

interface Reply {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

async function call(url: string, method: 'GET' | 'POST', body?: unknown, token: string | null = TOKEN, extra: Record<string, string> = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...extra };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(url, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await res.text();
  return { status: res.status, body: text.length > 0 ? JSON.parse(text) : undefined };
}

const get = (path: string, token?: string | null) => call(`${base}${path}`, 'GET', undefined, token);
const post = (path: string, body: unknown, token?: string | null) => call(`${base}${path}`, 'POST', body, token);

function expectError(reply: Reply, status: number, code: string, mentions?: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(reply.body.error.code).toBe(code);
  expect(typeof reply.body.error.message).toBe('string');
  if (mentions !== undefined) expect(reply.body.error.message).toContain(mentions);
}

function metrics(overrides: Partial<PerformanceMetrics> = {}): PerformanceMetrics {
  return {
    serviceId: 'eth-mainnet',
    successRate: 99.5,
    p95Latency: 120,
    p99Latency: 200,
    throughput: 1_000_000,
    uptime: 99.95,
    timestamp: Date.now() - 1000,
    ...overrides,
  };
}

beforeAll(async () => {
  core = await DINInfrastructureCore.open({ store: new MemoryStore(), unbondingMs: 0 });
  admin = new AdminServer({ host: '127.0.0.1', port: 0, token: TOKEN });
  registerStakingRoutes(admin, core);
  await admin.listen();
  base = `http://127.0.0.1:${admin.port}`;

  signedCore = await DINInfrastructureCore.open({ store: new MemoryStore(), unbondingMs: 0, requireOperatorSignature: true });
  signedAdmin = new AdminServer({ host: '127.0.0.1', port: 0, token: TOKEN });
  registerStakingRoutes(signedAdmin, signedCore);
  await signedAdmin.listen();
  signedBase = `http://127.0.0.1:${signedAdmin.port}`;
});

afterAll(() => {
  admin?.close();
  signedAdmin?.close();
});

describe('authentication', () => {
  const routes: Array<['GET' | 'POST', string]> = [
    ['GET', '/v1/status'],
    ['GET', '/v1/operators'],
    ['GET', '/v1/operators/op-auth'],
    ['POST', '/v1/operators'],
    ['POST', '/v1/operators/op-auth/stake'],
    ['POST', '/v1/operators/op-auth/unstake'],
    ['GET', '/v1/operators/op-auth/metrics'],
    ['GET', '/v1/events'],
  ];

  it('answers 401 without a token and with a wrong one, on every route, and changes nothing', async () => {
    const body = { id: 'op-auth', walletAddress: WALLET, url: 'http://127.0.0.1:1', amount: '1' };
    for (const [method, path] of routes) {
      for (const token of [null, 'wrong-token-0123456789', '']) {
        const reply = await call(`${base}${path}`, method, method === 'POST' ? body : undefined, token);
        expect(reply.status, `${method} ${path} with token ${String(token)}`).toBe(401);
        expect(reply.body.error.code).toBe('UNAUTHORIZED');
      }
    }
    expect(core.getOperator('op-auth')).toBeUndefined();
  });
});

describe('operators', () => {
  it('registers (201), gets and lists an operator', async () => {
    const created = await post('/v1/operators', {
      id: 'op-1',
      walletAddress: WALLET,
      url: 'https://node.example.com/rpc',
      chain: 'ethereum',
      initialStake: '1000000000000000000',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      id: 'op-1',
      walletAddress: WALLET,
      url: 'https://node.example.com/rpc',
      chain: 'ethereum',
      stakedAmount: '1000000000000000000',
      unbondingAmount: '0',
      withdrawableAmount: '0',
      slashedAmount: '0',
      performanceScore: 100,
      violations: [],
      eligible: true,
    });

    const got = await get('/v1/operators/op-1');
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const list = await get('/v1/operators');
    expect(list.status).toBe(200);
    expect(list.body.operators.map((o: { id: string }) => o.id)).toContain('op-1');
    expect(list.body.operators.find((o: { id: string }) => o.id === 'op-1')).toEqual(created.body);
  });

  it('registers without optional fields: chain defaults, no stake', async () => {
    const created = await post('/v1/operators', { id: 'op-bare', walletAddress: WALLET, url: 'http://10.0.0.1:8545' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.stakedAmount).toBe('0');
    expect(created.body.chain).toBe('ethereum');
    expect(created.body.eligible).toBe(false);
  });

  it('refuses a duplicate id with 409 and keeps the first registration', async () => {
    const dup = await post('/v1/operators', { id: 'op-1', walletAddress: WALLET_B, url: 'https://other.example.com' });
    expectError(dup, 409, 'OPERATOR_EXISTS');
    expect((await get('/v1/operators/op-1')).body.walletAddress).toBe(WALLET);
  });

  it('answers 404 for an unknown operator on every per-operator route', async () => {
    expectError(await get('/v1/operators/nope'), 404, 'OPERATOR_NOT_FOUND');
    expectError(await post('/v1/operators/nope/stake', { amount: '1' }), 404, 'OPERATOR_NOT_FOUND');
    expectError(await post('/v1/operators/nope/unstake', { amount: '1' }), 404, 'OPERATOR_NOT_FOUND');
    expectError(await get('/v1/operators/nope/metrics'), 404, 'OPERATOR_NOT_FOUND');
    expectError(await get('/v1/events?operator=nope'), 404, 'OPERATOR_NOT_FOUND');
  });

  it('reports status with totalStaked as a decimal string', async () => {
    const status = await get('/v1/status');
    expect(status.status).toBe(200);
    expect(status.body.totalOperators).toBe(core.status().totalOperators);
    expect(status.body.totalStaked).toBe(core.status().totalStaked.toString());
    expect(typeof status.body.totalStaked).toBe('string');
    expect(status.body).toHaveProperty('activeOperators');
    expect(status.body).toHaveProperty('averagePerformanceScore');
  });

  it('validates the registration body and names each bad field', async () => {
    const ok = { id: 'op-v', walletAddress: WALLET, url: 'https://a.example.com' };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ok, url: 'ftp://a.example.com' }, 'url:'],
      [{ ...ok, url: 'not a url' }, 'url:'],
      // Parsed by URL, but its user part is not decodable: the upstream client would throw (issue 16, finding 3).
      [{ ...ok, url: 'http://%ZZ@127.0.0.1:1/' }, 'url:'],
      [{ ...ok, url: 'http://127.0.0.1:0/' }, 'url:'],
      [{ ...ok, id: 'has space' }, 'id:'],
      [{ ...ok, id: '' }, 'id:'],
      [{ ...ok, chain: 'Ethereum' }, 'chain:'],
      [{ ...ok, chain: 'eth_main' }, 'chain:'],
      [{ ...ok, initialStake: '-1' }, 'initialStake:'],
      [{ ...ok, initialStake: '1.5' }, 'initialStake:'],
      [{ ...ok, initialStake: '01' }, 'initialStake:'],
      [{ ...ok, initialStake: 10 }, 'initialStake:'],
      [{ ...ok, expiresAt: 1.5 }, 'expiresAt:'],
      [{ ...ok, expiresAt: '123' }, 'expiresAt:'],
      [{ ...ok, walletAddress: 42 }, 'walletAddress:'],
      [{ ...ok, extra: true }, 'extra:'],
      [{ walletAddress: WALLET, url: 'https://a.example.com' }, 'id:'],
    ];
    for (const [body, field] of cases) expectError(await post('/v1/operators', body), 400, 'INVALID_INPUT', field);
    expectError(await post('/v1/operators', [ok]), 400, 'INVALID_INPUT', 'body:');
    expectError(await post('/v1/operators', 'null'), 400, 'INVALID_INPUT', 'body:');
    expect((await get('/v1/operators/op-v')).status).toBe(404);
  });
});

describe('wallet addresses', () => {
  it("rejects the seed's 39-hex-digit example address with INVALID_ADDRESS", async () => {
    const reply = await post('/v1/operators', {
      id: 'op-seed',
      walletAddress: '0x742d35Cc6634C0532925a3b844Bc9e7595f0bEb',
      url: 'https://a.example.com',
    });
    expectError(reply, 400, 'INVALID_ADDRESS');
  });

  it('rejects a mixed-case address whose EIP-55 checksum is wrong', async () => {
    // Flip the case of the first letter of a valid checksummed address.
    const i = WALLET.slice(2).search(/[a-fA-F]/) + 2;
    const ch = WALLET[i]!;
    const wrong = WALLET.slice(0, i) + (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()) + WALLET.slice(i + 1);
    expect(wrong).not.toBe(WALLET);
    expect(wrong.toLowerCase()).toBe(WALLET_LOWER);
    expectError(await post('/v1/operators', { id: 'op-badsum', walletAddress: wrong, url: 'https://a.example.com' }), 400, 'INVALID_ADDRESS');
  });

  it('accepts an all-lowercase address and returns it EIP-55 checksummed', async () => {
    const reply = await post('/v1/operators', { id: 'op-lower', walletAddress: WALLET_LOWER, url: 'https://a.example.com' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body.walletAddress).toBe(WALLET);
    expect(reply.body.walletAddress).toBe(getAddress(WALLET_LOWER));
  });
});

describe('stake and unstake', () => {
  beforeAll(async () => {
    const reply = await post('/v1/operators', { id: 'op-stake', walletAddress: WALLET, url: 'https://s.example.com', initialStake: '100' });
    expect(reply.status).toBe(201);
  });

  it('rejects malformed amounts with 400 naming `amount`', async () => {
    for (const path of ['/v1/operators/op-stake/stake', '/v1/operators/op-stake/unstake']) {
      for (const amount of ['abc', '-1', '1.5', '0', 5, '', ' 1', '1e3', '0x10', '01', null, (2n ** 256n).toString()]) {
        expectError(await post(path, { amount }), 400, 'INVALID_INPUT', 'amount:');
      }
      expectError(await post(path, {}), 400, 'INVALID_INPUT', 'amount:');
      expectError(await post(path, { amount: '1', memo: 'x' }), 400, 'INVALID_INPUT', 'memo:');
    }
    const reply = await post('/v1/operators/op-stake/stake', { amount: 'abc' });
    expect(reply.body.error.message).toMatch(/^amount: must be a decimal string of wei/);
    expect((await get('/v1/operators/op-stake')).body.stakedAmount).toBe('100');
  });

  it('stakes and unstakes, returning the updated operator', async () => {
    const staked = await post('/v1/operators/op-stake/stake', { amount: '50' });
    expect(staked.status, JSON.stringify(staked.body)).toBe(200);
    expect(staked.body).toMatchObject({ id: 'op-stake', stakedAmount: '150' });

    const unstaked = await post('/v1/operators/op-stake/unstake', { amount: '30' });
    expect(unstaked.status, JSON.stringify(unstaked.body)).toBe(200);
    // unbondingMs 0: released to withdrawable at once.
    expect(unstaked.body).toMatchObject({ stakedAmount: '120', unbondingAmount: '0', withdrawableAmount: '30' });
  });

  it('refuses to unstake more than the active stake with 409 INSUFFICIENT_STAKE', async () => {
    expectError(await post('/v1/operators/op-stake/unstake', { amount: '121' }), 409, 'INSUFFICIENT_STAKE');
    expect((await get('/v1/operators/op-stake')).body.stakedAmount).toBe('120');
  });

  it('round-trips wei above 2^64 exactly', async () => {
    const big = '100000000000000000000000000000';
    expect(BigInt(big) > 2n ** 64n).toBe(true);
    const created = await post('/v1/operators', { id: 'op-big', walletAddress: WALLET, url: 'https://b.example.com', initialStake: big });
    expect(created.status).toBe(201);
    expect(created.body.stakedAmount).toBe(big);
    const staked = await post('/v1/operators/op-big/stake', { amount: '123456789012345678901234567891' });
    expect(staked.body.stakedAmount).toBe('223456789012345678901234567891');
    const unstaked = await post('/v1/operators/op-big/unstake', { amount: '23456789012345678901234567891' });
    expect(unstaked.body.stakedAmount).toBe('200000000000000000000000000000');
    expect(unstaked.body.withdrawableAmount).toBe('23456789012345678901234567891');
    expect((await get('/v1/operators/op-big')).body.stakedAmount).toBe('200000000000000000000000000000');
    const events = await get('/v1/events?operator=op-big');
    expect(events.body.events.map((e: { amount: string }) => e.amount)).toEqual([
      big,
      '123456789012345678901234567891',
      '23456789012345678901234567891',
      '23456789012345678901234567891',
    ]);
  });
});

describe('events', () => {
  it('lists stake, unstake and release newest last, amounts as strings, summing to the balances', async () => {
    const created = await post('/v1/operators', { id: 'op-ev', walletAddress: WALLET, url: 'https://e.example.com', initialStake: '1000' });
    expect(created.status).toBe(201);
    await post('/v1/operators/op-ev/stake', { amount: '500' });
    await post('/v1/operators/op-ev/unstake', { amount: '200' });
    await post('/v1/operators/op-ev/unstake', { amount: '300' });

    const reply = await get('/v1/events?operator=op-ev');
    expect(reply.status).toBe(200);
    const events: Array<{ type: string; amount: unknown; operatorId: string; timestamp: number }> = reply.body.events;
    expect(events.map((e) => e.type)).toEqual(['stake', 'stake', 'unstake', 'release', 'unstake', 'release']);
    expect(events.map((e) => e.amount)).toEqual(['1000', '500', '200', '200', '300', '300']);
    for (const e of events) {
      expect(e.operatorId).toBe('op-ev');
      expect(typeof e.amount).toBe('string');
    }
    for (let i = 1; i < events.length; i++) expect(events[i]!.timestamp).toBeGreaterThanOrEqual(events[i - 1]!.timestamp);

    const sum = (type: string) => events.filter((e) => e.type === type).reduce((acc, e) => acc + BigInt(e.amount as string), 0n);
    const op = (await get('/v1/operators/op-ev')).body;
    expect((sum('stake') - sum('unstake')).toString()).toBe(op.stakedAmount);
    expect((sum('unstake') - sum('release')).toString()).toBe(op.unbondingAmount);
    expect(sum('release').toString()).toBe(op.withdrawableAmount);
    expect(op).toMatchObject({ stakedAmount: '1000', unbondingAmount: '0', withdrawableAmount: '500' });
  });

  it('honours limit (the newest N) and lists every operator without a filter', async () => {
    const last2 = await get('/v1/events?operator=op-ev&limit=2');
    expect(last2.body.events.map((e: { type: string; amount: string }) => `${e.type}:${e.amount}`)).toEqual(['unstake:300', 'release:300']);

    const all = await get('/v1/events?limit=1000');
    const ids = new Set(all.body.events.map((e: { operatorId: string }) => e.operatorId));
    expect(ids.has('op-ev')).toBe(true);
    expect(ids.has('op-1')).toBe(true);
    expect(all.body.events.at(-1)).toMatchObject({ operatorId: 'op-ev', type: 'release', amount: '300' });

    const unfiltered = await get('/v1/events?operator=');
    expect(unfiltered.status).toBe(200);
    expect(unfiltered.body.events.length).toBeLessThanOrEqual(100);
  });

  it('rejects a bad limit naming `limit`', async () => {
    for (const limit of ['0', '1001', 'abc', '-1', '1.5', '10000000']) {
      expectError(await get(`/v1/events?limit=${limit}`), 400, 'INVALID_INPUT', 'limit:');
    }
  });
});

describe('signed registration', () => {
  const url = 'https://signed.example.com/rpc';
  const chain = 'ethereum';
  const register = (body: unknown) => call(`${signedBase}/v1/operators`, 'POST', body);

  it('registers with a valid signature by the wallet (201)', async () => {
    const expiresAt = Date.now() + 10 * 60_000;
    const signature = await accountA.signMessage({ message: registrationMessage('op-signed', url, chain, expiresAt) });
    const reply = await register({ id: 'op-signed', walletAddress: WALLET, url, chain, signature, expiresAt, initialStake: '10' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    expect(reply.body).toMatchObject({ id: 'op-signed', walletAddress: WALLET, url, chain, stakedAmount: '10' });
  });

  it('requires a signature when the core is configured to', async () => {
    expectError(await register({ id: 'op-nosig', walletAddress: WALLET, url, chain }), 400, 'SIGNATURE_REQUIRED');
    const expiresAt = Date.now() + 60_000;
    const signature = await accountA.signMessage({ message: registrationMessage('op-nosig', url, chain, expiresAt) });
    expectError(await register({ id: 'op-nosig', walletAddress: WALLET, url, chain, signature }), 400, 'SIGNATURE_REQUIRED');
  });

  it('rejects a signature by another key', async () => {
    const expiresAt = Date.now() + 60_000;
    const signature = await accountB.signMessage({ message: registrationMessage('op-other', url, chain, expiresAt) });
    expectError(await register({ id: 'op-other', walletAddress: WALLET, url, chain, signature, expiresAt }), 400, 'INVALID_SIGNATURE');
  });

  it('rejects an expired registration', async () => {
    const expiresAt = Date.now() - 1000;
    const signature = await accountA.signMessage({ message: registrationMessage('op-expired', url, chain, expiresAt) });
    expectError(await register({ id: 'op-expired', walletAddress: WALLET, url, chain, signature, expiresAt }), 400, 'INVALID_SIGNATURE', 'expired');
  });

  it('rejects a registration whose url differs from the signed one', async () => {
    const expiresAt = Date.now() + 60_000;
    const signature = await accountA.signMessage({ message: registrationMessage('op-tamper', url, chain, expiresAt) });
    const reply = await register({ id: 'op-tamper', walletAddress: WALLET, url: 'https://evil.example.com/rpc', chain, signature, expiresAt });
    expectError(reply, 400, 'INVALID_SIGNATURE');
  });

  it('rejects a malformed signature and a tampered expiresAt', async () => {
    const expiresAt = Date.now() + 60_000;
    expectError(await register({ id: 'op-garbage', walletAddress: WALLET, url, chain, signature: '0x1234', expiresAt }), 400, 'INVALID_SIGNATURE');
    const signature = await accountA.signMessage({ message: registrationMessage('op-exp', url, chain, expiresAt) });
    expectError(await register({ id: 'op-exp', walletAddress: WALLET, url, chain, signature, expiresAt: expiresAt + 1 }), 400, 'INVALID_SIGNATURE');
  });

  it('registered nothing for the refused attempts', async () => {
    const list = await call(`${signedBase}/v1/operators`, 'GET');
    expect(list.body.operators.map((o: { id: string }) => o.id)).toEqual(['op-signed']);
  });
});

describe('metrics', () => {
  const now = Date.now();
  const recorded = [
    metrics({ timestamp: now - 3000, p95Latency: 100, p99Latency: 150 }),
    metrics({ timestamp: now - 2000, p95Latency: 110, p99Latency: 160 }),
    metrics({ timestamp: now - 1000, p95Latency: 120, p99Latency: 170 }),
  ];

  beforeAll(async () => {
    const reply = await post('/v1/operators', { id: 'op-m', walletAddress: WALLET, url: 'https://m.example.com', initialStake: '1' });
    expect(reply.status).toBe(201);
    for (const m of recorded) await core.recordMetrics('op-m', m);
  });

  it('returns what recordMetrics recorded, oldest first', async () => {
    const reply = await get('/v1/operators/op-m/metrics');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ metrics: recorded });
  });

  it('honours limit (the newest N) and rejects a bad one', async () => {
    expect((await get('/v1/operators/op-m/metrics?limit=1')).body).toEqual({ metrics: recorded.slice(-1) });
    expect((await get('/v1/operators/op-m/metrics?limit=2')).body).toEqual({ metrics: recorded.slice(-2) });
    expect((await get('/v1/operators/op-m/metrics?limit=1000')).body).toEqual({ metrics: recorded });
    for (const limit of ['0', '1001', 'x', '-5']) {
      expectError(await get(`/v1/operators/op-m/metrics?limit=${limit}`), 400, 'INVALID_INPUT', 'limit:');
    }
  });

  it('an operator with no metrics has an empty history', async () => {
    expect((await get('/v1/operators/op-1/metrics')).body).toEqual({ metrics: [] });
  });

  it('recordMetrics rejects inconsistent metrics with INVALID_METRICS', async () => {
    const bad: Array<[Partial<PerformanceMetrics>, string]> = [
      [{ p95Latency: 300, p99Latency: 200 }, 'p99Latency'],
      [{ successRate: 101 }, 'successRate'],
      [{ timestamp: Date.now() + 3600_000 }, 'future'],
    ];
    for (const [overrides, mentions] of bad) {
      const err = await core.recordMetrics('op-m', metrics(overrides)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CoreError);
      expect((err as CoreError).code).toBe('INVALID_METRICS');
      expect((err as CoreError).message).toContain(mentions);
    }
    expect((await get('/v1/operators/op-m/metrics')).body).toEqual({ metrics: recorded });
  });
});

describe('request bodies', () => {
  it('answers 413 for a body over 64 KiB', async () => {
    const huge = JSON.stringify({ amount: '1', pad: 'x'.repeat(70 * 1024) });
    let status: number | undefined;
    try {
      const res = await fetch(`${base}/v1/operators/op-1/stake`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: huge,
      });
      status = res.status;
      await res.text();
    } catch (err) {
      throw new Error(`expected a 413 answer, the request failed: ${String(err)}`);
    }
    expect(status).toBe(413);
    expect((await get('/v1/operators/op-1')).body.stakedAmount).toBe('1000000000000000000');
  });

  it('answers 400 for invalid JSON', async () => {
    expectError(await post('/v1/operators', '{"id": "op-x",'), 400, 'INVALID_JSON');
    expectError(await post('/v1/operators/op-1/stake', 'amount=1'), 400, 'INVALID_JSON');
  });
});

describe('Idempotency-Key', () => {
  it('applies a retried stake once, and refuses a malformed key', async () => {
    const adminUrl = base;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    expect((await post('/v1/operators', { id: 'idem-op', walletAddress: WALLET, url: 'http://127.0.0.1:1/' })).status).toBe(201);
    const stake = (key: string) =>
      fetch(`${adminUrl}/v1/operators/idem-op/stake`, { method: 'POST', headers: { ...headers, 'idempotency-key': key }, body: JSON.stringify({ amount: '7' }) });
    expect((await stake('req-1')).status).toBe(200);
    expect((await stake('req-1')).status).toBe(200);
    expect((await stake('req-2')).status).toBe(200);
    const op = (await (await fetch(`${adminUrl}/v1/operators/idem-op`, { headers })).json()) as { stakedAmount: string };
    expect(op.stakedAmount).toBe('14');
    expect((await stake('bad key with spaces')).status).toBe(400);
  });

  it('refuses with 422 a key reused for another amount, operation or operator, and applies nothing', async () => {
    expect((await post('/v1/operators', { id: 'idem-a', walletAddress: WALLET, url: 'http://127.0.0.1:1/', initialStake: '100' })).status).toBe(201);
    expect((await post('/v1/operators', { id: 'idem-b', walletAddress: WALLET, url: 'http://127.0.0.1:1/', initialStake: '100' })).status).toBe(201);
    const keyed = (path: string, amount: string) =>
      call(`${base}${path}`, 'POST', { amount }, TOKEN, { 'idempotency-key': 'pay-1' });
    const first = await keyed('/v1/operators/idem-a/stake', '10');
    expect(first.status).toBe(200);
    expect(first.body.stakedAmount).toBe('110');
    // The same request again: the same answer, applied once.
    const again = await keyed('/v1/operators/idem-a/stake', '10');
    expect(again.status).toBe(200);
    expect(again.body.stakedAmount).toBe('110');
    expectError(await keyed('/v1/operators/idem-a/stake', '11'), 422, 'IDEMPOTENCY_CONFLICT', 'pay-1');
    expectError(await keyed('/v1/operators/idem-a/unstake', '10'), 422, 'IDEMPOTENCY_CONFLICT', 'unstake');
    expectError(await keyed('/v1/operators/idem-b/stake', '10'), 422, 'IDEMPOTENCY_CONFLICT', 'idem-b');
    expect((await get('/v1/operators/idem-a')).body.stakedAmount).toBe('110');
    expect((await get('/v1/operators/idem-b')).body.stakedAmount).toBe('100');
    const events = await get('/v1/events?operator=idem-a');
    expect(events.body.events.filter((e: { type: string }) => e.type === 'stake').map((e: { amount: string }) => e.amount)).toEqual(['100', '10']);
  });
});

describe('stake cap', () => {
  it('refuses with 409 STAKE_LIMIT a stake that would take the operator past 2^256 - 1 wei', async () => {
    const max = (2n ** 256n - 1n).toString();
    expect((await post('/v1/operators', { id: 'op-max', walletAddress: WALLET, url: 'https://max.example.com' })).status).toBe(201);
    expect((await post('/v1/operators/op-max/stake', { amount: max })).body.stakedAmount).toBe(max);
    expectError(await post('/v1/operators/op-max/stake', { amount: max }), 409, 'STAKE_LIMIT', '2^256 - 1');
    expectError(await post('/v1/operators/op-max/stake', { amount: '1' }), 409, 'STAKE_LIMIT');
    // Unstaked wei still counts: it is held (unbonding or withdrawable) until withdrawn.
    expect((await post('/v1/operators/op-max/unstake', { amount: '5' })).status).toBe(200);
    expectError(await post('/v1/operators/op-max/stake', { amount: '1' }), 409, 'STAKE_LIMIT');
    expect((await get('/v1/operators/op-max')).body.stakedAmount).toBe((2n ** 256n - 6n).toString());
  });
});
