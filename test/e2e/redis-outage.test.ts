/**
 * End to end: a gateway on its own private redis-server, which the test pauses (SIGSTOP:
 * the connection stays open, commands hang) and kills (SIGKILL: connection refused), then
 * brings back on the same port with its data (append-only file, fsync always). Through
 * both outages clients keep getting answers, admin writes answer 503 STORE_UNAVAILABLE,
 * the control loop does not crash; afterwards writes succeed, windows are recorded again,
 * and nothing is half-written (the ledger still replays to the balances). No mocks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { SimulatedOperator } from '../../src/sim/index.js';
import { replay } from '../../src/staking/ledger.js';
import { type OperatorState, unbondingTotal } from '../../src/staking/records.js';
import { RedisStore } from '../../src/staking/redis-store.js';
import { INSTANT, post, rpc } from '../support/stack.js';
import { redisReachable } from '../support/redis.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const TOKEN = 'e2e-redis-outage-token-0123456789';
const PREFIX = 'din-outage:';
const WINDOW_MS = 10_000;
const INITIAL_STAKE = 3n * 10n ** 18n;
const OPERATORS = ['op0', 'op1', 'op2'];
const ADDRESS = '0x742d35cc6634c0532925a3b844bc9e7595f0beb0';

let port: number;
let dataDir: string;
let redis: ChildProcess | undefined;
let redisOutput = '';
let gateway: Gateway;
let now = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_000;
const sims: SimulatedOperator[] = [];
const logs: { level: number; msg: string }[] = [];
/** Stakes the API accepted (200): the only ones that may be in the ledger. */
let acceptedStakes = 0n;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as { port: number };
      server.close(() => resolve(p));
    });
  });
}

const ping = (timeoutMs = 500) => redisReachable(`redis://127.0.0.1:${port}`, timeoutMs);

async function startRedis(): Promise<void> {
  // --save '': no RDB snapshots; the append-only file (fsync on every write) keeps the data across a kill.
  redis = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  redis.stdout!.on('data', (chunk: Buffer) => (redisOutput += chunk.toString('utf8')));
  redis.stderr!.on('data', (chunk: Buffer) => (redisOutput += chunk.toString('utf8')));
  const deadline = Date.now() + 10_000;
  while (!(await ping())) {
    if (Date.now() > deadline || redis.exitCode !== null) throw new Error(`redis-server did not start on ${port}:\n${redisOutput}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killRedis(): Promise<void> {
  const child = redis;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT'); // in case it is paused
  child.kill('SIGKILL');
  await exited;
  redis = undefined;
}

interface Reply {
  status: number;
  body: any;
  ms: number;
}

async function admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
  const started = Date.now();
  const res = await fetch(`${gateway.adminUrl}${path.replace(/^\//, '')}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), ms: Date.now() - started };
}

async function stake(id: string, amount: bigint): Promise<Reply> {
  const reply = await admin('POST', `/v1/operators/${id}/stake`, { amount: amount.toString() });
  if (reply.status === 200) acceptedStakes += amount;
  return reply;
}

/** 30 reads through the gateway: every one must be a result, whatever the store is doing. */
async function clientTraffic(): Promise<void> {
  const replies = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      post(gateway.rpcUrl, i % 2 === 0 ? rpc('eth_chainId', i) : rpc('eth_getBalance', i, [ADDRESS, '0x10'])),
    ),
  );
  for (const [i, r] of replies.entries()) {
    expect(r.status, r.text).toBe(200);
    expect(r.json.id).toBe(i);
    expect(r.json.error, r.text).toBeUndefined();
    if (i % 2 === 0) expect(r.json.result).toBe('0x1');
    else expect(r.json.result).toMatch(/^0x[0-9a-f]+$/);
  }
}

/** One window by hand: probes, traffic, close, and the control loop must come back. */
async function window(): Promise<void> {
  await gateway.prober.probeAll();
  await clientTraffic();
  now += WINDOW_MS;
  gateway.measurement.closeWindow();
  await gateway.controlLoop.idle();
}

function expectStoreUnavailable(reply: Reply): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(503);
  expect(reply.body?.error?.code).toBe('STORE_UNAVAILABLE');
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Balances straight from the store (a separate connection), and the replay of its events. */
async function ledgerFromStore(): Promise<Map<string, { state: ReturnType<typeof balancesOf>; replayed: ReturnType<typeof replay> }>> {
  const store = await RedisStore.connect(`redis://127.0.0.1:${port}`, { keyPrefix: PREFIX, connectTimeoutMs: 2_000 });
  try {
    const out = new Map<string, { state: ReturnType<typeof balancesOf>; replayed: ReturnType<typeof replay> }>();
    for (const s of await store.listOperators()) out.set(s.id, { state: balancesOf(s), replayed: replay(await store.listEvents({ operatorId: s.id })) });
    return out;
  } finally {
    await store.close();
  }
}

function balancesOf(s: Pick<OperatorState, 'active' | 'unbonding' | 'withdrawable' | 'slashed'>) {
  return { active: s.active, unbonding: unbondingTotal(s), withdrawable: s.withdrawable, slashed: s.slashed };
}

function lastChecks(): Record<string, number> {
  return Object.fromEntries(OPERATORS.map((id) => [id, gateway.core.state(id)!.lastPerformanceCheck]));
}

beforeAll(async () => {
  port = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'din-redis-outage-'));
  await startRedis();
  for (const id of OPERATORS) {
    const sim = new SimulatedOperator({ name: id, profile: INSTANT });
    await sim.start();
    sims.push(sim);
  }
  const config = parseConfig({
    rpc: { port: 0 },
    admin: { port: 0, token: TOKEN },
    redisUrl: `redis://127.0.0.1:${port}`,
    windowSeconds: WINDOW_MS / 1000,
    staking: { redisKeyPrefix: PREFIX },
    operators: sims.map((s, i) => ({ id: OPERATORS[i]!, url: s.url, stake: INITIAL_STAKE.toString() })),
  });
  const logger = createLogger('info', {
    write(line: string) {
      const entry = JSON.parse(line) as { level: number; msg: string };
      logs.push({ level: entry.level, msg: entry.msg });
    },
  });
  gateway = await Gateway.start(config, { now: () => now, autoMeasure: false, logger });
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await Promise.all(sims.map((s) => s.stop()));
  await killRedis();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
}, 20_000);

describe('Redis outage under a running gateway', () => {
  it('works normally with Redis up', async () => {
    expect((await stake('op0', 7n)).status).toBe(200);
    const before = lastChecks();
    await window();
    for (const id of OPERATORS) expect(gateway.core.state(id)!.lastPerformanceCheck, id).toBe(now);
    expect(lastChecks()).not.toEqual(before);
    expect(gateway.core.state('op0')!.active).toBe(INITIAL_STAKE + 7n);
  });

  it('Redis paused (SIGSTOP): clients are served, admin writes answer 503, the control loop carries on', async () => {
    const before = lastChecks();
    const scoreBefore = gateway.core.state('op0')!.performanceScore;
    redis!.kill('SIGSTOP');
    try {
      // Everything at once: a stalled store costs one command timeout, not one per request.
      const [write, events, read] = await Promise.all([
        stake('op0', 11n),
        admin('GET', '/v1/events?operator=op0'),
        admin('GET', '/v1/operators/op0'),
        window(),
      ]);
      expectStoreUnavailable(write);
      expectStoreUnavailable(events);
      // Reads of what the gateway holds still answer (the last known state).
      expect(read.status).toBe(200);
      expect(BigInt(read.body.stakedAmount)).toBe(INITIAL_STAKE + 7n);
      // The window was dropped, not half-applied.
      expect(lastChecks()).toEqual(before);
      expect(gateway.core.state('op0')!.performanceScore).toBe(scoreBefore);
      // And the next one does not hang behind it.
      await window();
      await clientTraffic();
    } finally {
      redis!.kill('SIGCONT');
    }
    expect(logs.some((l) => l.level >= 50 && /state store unavailable/.test(l.msg))).toBe(true);
  }, 40_000);

  it('after SIGCONT: writes succeed, windows are recorded, and the 503 write never lands', async () => {
    await until('a stake to be accepted again', 10_000, async () => (await stake('op1', 5n)).status === 200);
    const before = lastChecks();
    await window();
    for (const id of OPERATORS) expect(gateway.core.state(id)!.lastPerformanceCheck, id).toBe(now);
    expect(lastChecks()).not.toEqual(before);
    expect(logs.some((l) => /state store is back/.test(l.msg))).toBe(true);
    await gateway.core.refresh();
    // op0: the 7 wei before the outage, not the 11 refused during it.
    expect(gateway.core.state('op0')!.active).toBe(INITIAL_STAKE + 7n);
    expect(gateway.core.state('op1')!.active).toBe(INITIAL_STAKE + 5n);
  }, 30_000);

  it('Redis killed (SIGKILL): clients are served, admin writes fail fast with 503, the control loop carries on', async () => {
    await killRedis();
    const before = lastChecks();
    const write = await stake('op2', 13n);
    expectStoreUnavailable(write);
    // No offline queue: refused at once, not after a timeout.
    expect(write.ms).toBeLessThan(2_000);
    expectStoreUnavailable(await admin('POST', '/v1/operators/op2/unstake', { amount: '1' }));
    await window();
    await window();
    expect(lastChecks()).toEqual(before);
    const read = await admin('GET', '/v1/operators/op2');
    expect(read.status).toBe(200);
    expect(BigInt(read.body.stakedAmount)).toBe(INITIAL_STAKE);
    expect((await fetch(`${gateway.rpcUrl}ready`)).status).toBe(200);
  }, 30_000);

  it('Redis restarted on the same port with its data: writes succeed, windows are recorded again', async () => {
    await startRedis();
    // ioredis reconnects with backoff (at most 2 s between tries).
    await until('a stake to be accepted after the restart', 15_000, async () => (await stake('op2', 17n)).status === 200);
    const before = lastChecks();
    await window();
    for (const id of OPERATORS) expect(gateway.core.state(id)!.lastPerformanceCheck, id).toBe(now);
    expect(lastChecks()).not.toEqual(before);
    // What was written before the kill survived it; what was refused is not there.
    await gateway.core.refresh();
    expect(gateway.core.state('op0')!.active).toBe(INITIAL_STAKE + 7n);
    expect(gateway.core.state('op1')!.active).toBe(INITIAL_STAKE + 5n);
    expect(gateway.core.state('op2')!.active).toBe(INITIAL_STAKE + 17n);
    expect(acceptedStakes).toBe(7n + 5n + 17n);
    expect(gateway.core.getMetrics('op0').length).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('Redis refusing writes for a while (CLIENT PAUSE WRITE, as in a failover): a write answered 503 never lands later', async () => {
    // The 503 says "nothing was written". A commit that waits out the command timeout
    // behind the pause must not be applied once the pause ends: the client was told it
    // failed and will retry (a double stake), or give up (a stake it believes it lacks).
    const before = gateway.core.state('op1')!.active;
    const eventsBefore = (await gateway.core.events({ operatorId: 'op1' })).length;
    const control = new Redis({ port, host: '127.0.0.1' });
    const PAUSE_MS = 7_000;
    try {
      await control.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
      const pausedAt = Date.now();
      const write = await stake('op1', 19n);
      expectStoreUnavailable(write);
      await new Promise((r) => setTimeout(r, Math.max(0, PAUSE_MS + 500 - (Date.now() - pausedAt))));
      await control.call('CLIENT', 'UNPAUSE');
    } finally {
      control.disconnect();
    }
    await until('the store to answer again', 10_000, async () => {
      try {
        await gateway.core.refresh();
        return true;
      } catch {
        return false;
      }
    });
    const events = await gateway.core.events({ operatorId: 'op1' });
    expect(
      { active: gateway.core.state('op1')!.active - before, newEvents: events.slice(eventsBefore).map((e) => `${e.type} ${e.amount}`) },
      'op1 after a stake that was answered 503',
    ).toEqual({ active: 0n, newEvents: [] });
    expect(replay(events)).toEqual(balancesOf(gateway.core.state('op1')!));
  }, 30_000);

  it('nothing is half-written: every operator replays to its balances, in the gateway and in Redis', async () => {
    await gateway.core.refresh();
    for (const s of gateway.core.states()) {
      const events = await gateway.core.events({ operatorId: s.id });
      // State and events are one Lua script: both or neither, whatever happened to Redis.
      expect(replay(events), s.id).toEqual(balancesOf(s));
      expect(new Set(events.map((e) => e.id)).size, s.id).toBe(events.length);
      expect(events[0]).toMatchObject({ type: 'stake', amount: INITIAL_STAKE });
    }
    const fromStore = await ledgerFromStore();
    expect([...fromStore.keys()].sort()).toEqual(OPERATORS);
    for (const [id, { state, replayed }] of fromStore) {
      expect(replayed, id).toEqual(state);
      expect(state, id).toEqual(balancesOf(gateway.core.state(id)!));
    }
    // The control loop is still alive and well.
    await window();
    expect(gateway.core.state('op0')!.lastPerformanceCheck).toBe(now);
    expect(logs.filter((l) => /control loop failed/.test(l.msg))).toEqual([]);
  }, 30_000);
});
