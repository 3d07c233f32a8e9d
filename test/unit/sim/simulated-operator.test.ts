import { afterEach, describe, expect, it } from 'vitest';
import {
  BASE_BLOCK_NUMBER,
  DEFAULT_BLOCK_TIME_MS,
  DEFAULT_GENESIS_MS,
  PROFILES,
  SimulatedOperator,
  drawLatencyMs,
  seededRandom,
  type SimOptions,
  type SimProfile,
} from '../../../src/sim/index.js';

const ADDRESS = '0x00000000219ab540356cBB839Cbe05303d7705Fa';
const INSTANT = { latencyMs: { median: 0, p99: 0 } };

const running: SimulatedOperator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
});

async function startSim(profile: Partial<SimProfile> = {}, options: Partial<SimOptions> = {}): Promise<SimulatedOperator> {
  const sim = new SimulatedOperator({ name: `sim-${running.length}`, ...options, profile: { ...INSTANT, ...profile } });
  running.push(sim);
  await sim.start();
  return sim;
}

async function post(sim: SimulatedOperator, body: unknown): Promise<Response> {
  return fetch(sim.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface Envelope {
  jsonrpc: string;
  id: unknown;
  result?: any;
  error?: { code: number; message: string };
}

async function rpc(sim: SimulatedOperator, method: string, params: unknown[] = [], id: unknown = 1): Promise<Envelope> {
  const res = await post(sim, { jsonrpc: '2.0', id, method, params });
  expect(res.status).toBe(200);
  return (await res.json()) as Envelope;
}

function expectedHead(now: number): number {
  return BASE_BLOCK_NUMBER + Math.floor((now - DEFAULT_GENESIS_MS) / DEFAULT_BLOCK_TIME_MS);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SimulatedOperator methods', () => {
  it('answers eth_chainId and net_version from the profile chainId', async () => {
    const mainnet = await startSim();
    expect(await rpc(mainnet, 'eth_chainId')).toEqual({ jsonrpc: '2.0', id: 1, result: '0x1' });
    expect((await rpc(mainnet, 'net_version')).result).toBe('1');

    const polygon = await startSim({ chainId: 137 });
    expect((await rpc(polygon, 'eth_chainId')).result).toBe('0x89');
    expect((await rpc(polygon, 'net_version')).result).toBe('137');
  });

  it('answers eth_blockNumber from the shared clock', async () => {
    const sim = await startSim();
    const before = expectedHead(Date.now());
    const { result } = await rpc(sim, 'eth_blockNumber');
    const after = expectedHead(Date.now());
    expect(result).toMatch(/^0x[0-9a-f]+$/);
    expect(Number(result)).toBeGreaterThanOrEqual(before);
    expect(Number(result)).toBeLessThanOrEqual(after);
  });

  it('derives the head from genesisMs and blockTimeMs', async () => {
    const sim = await startSim({}, { genesisMs: Date.now() - 10_500, blockTimeMs: 1_000 });
    const head = Number((await rpc(sim, 'eth_blockNumber')).result);
    expect(head - BASE_BLOCK_NUMBER).toBeGreaterThanOrEqual(10);
    expect(head - BASE_BLOCK_NUMBER).toBeLessThanOrEqual(11);
  });

  it('answers eth_getBalance deterministically and validates the address', async () => {
    const sim = await startSim();
    const a = await rpc(sim, 'eth_getBalance', [ADDRESS, 'latest']);
    expect(a.result).toMatch(/^0x[0-9a-f]+$/);
    expect((await rpc(sim, 'eth_getBalance', [ADDRESS.toLowerCase(), '0x10'])).result).toBe(a.result);
    const other = await rpc(sim, 'eth_getBalance', ['0x' + '1'.repeat(40), 'latest']);
    expect(other.result).not.toBe(a.result);

    for (const params of [['0x1234', 'latest'], [ADDRESS, 'nonsense'], [], { address: ADDRESS }]) {
      const res = await post(sim, { jsonrpc: '2.0', id: 2, method: 'eth_getBalance', params });
      expect(((await res.json()) as Envelope).error?.code).toBe(-32602);
    }
  });

  it('answers eth_getBlockByNumber with a consistent chain of blocks', async () => {
    const sim = await startSim();
    const latest = (await rpc(sim, 'eth_getBlockByNumber', ['latest', false])).result;
    const head = Number(latest.number);
    expect(head).toBeGreaterThan(BASE_BLOCK_NUMBER);
    expect(latest.hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(latest.transactions).toHaveLength(200);
    expect(typeof latest.transactions[0]).toBe('string');

    const parent = (await rpc(sim, 'eth_getBlockByNumber', [`0x${(head - 1).toString(16)}`, false])).result;
    expect(latest.parentHash).toBe(parent.hash);
    expect(Number(latest.timestamp)).toBeGreaterThan(Number(parent.timestamp));

    const full = (await rpc(sim, 'eth_getBlockByNumber', [parent.number, true])).result;
    expect(full.hash).toBe(parent.hash);
    expect(full.transactions[0].hash).toBe(parent.transactions[0]);
    expect(full.transactions[0].blockHash).toBe(parent.hash);

    const future = await rpc(sim, 'eth_getBlockByNumber', [`0x${(head + 1000).toString(16)}`, false]);
    expect(future).toEqual({ jsonrpc: '2.0', id: 1, result: null });

    const bad = await rpc(sim, 'eth_getBlockByNumber', ['tomorrow', false]);
    expect(bad.error?.code).toBe(-32602);
  });

  it('answers eth_call with a word fixed by the call, at any block it has, and header not found beyond its head', async () => {
    const sim = await startSim();
    const call = { to: ADDRESS, data: '0x70a08231' };
    const atLatest = await rpc(sim, 'eth_call', [call, 'latest']);
    expect(atLatest.result).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await rpc(sim, 'eth_call', [call, '0x10'])).result).toBe(atLatest.result);
    expect((await rpc(sim, 'eth_call', [{ ...call, to: ADDRESS.toLowerCase() }])).result).toBe(atLatest.result);
    expect((await rpc(sim, 'eth_call', [{ ...call, data: '0x70a08232' }, 'latest'])).result).not.toBe(atLatest.result);

    const head = Number((await rpc(sim, 'eth_blockNumber', [])).result);
    const future = await rpc(sim, 'eth_call', [call, `0x${(head + 1000).toString(16)}`]);
    expect(future.error).toEqual({ code: -32000, message: 'header not found' });

    for (const params of [[{ data: '0x' }, 'latest'], [{ ...call, data: '0x1' }, 'latest'], [call, 'tomorrow'], [call, { blockHash: '0x00' }], ['0x1234']]) {
      const res = await post(sim, { jsonrpc: '2.0', id: 2, method: 'eth_call', params });
      expect(((await res.json()) as Envelope).error?.code, JSON.stringify(params)).toBe(-32602);
    }
  });

  it('serves a full-transaction block larger than 80 KB', async () => {
    const sim = await startSim();
    const res = await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_getBlockByNumber', params: ['latest', true] });
    const text = await res.text();
    expect(text.length).toBeGreaterThan(80 * 1024);
    expect(JSON.parse(text).result.transactions).toHaveLength(200);
  });

  it('answers unknown methods with -32601 and echoes ids exactly', async () => {
    const sim = await startSim();
    const unknown = await rpc(sim, 'eth_sendBribe', [], 'abc');
    expect(unknown).toEqual({ jsonrpc: '2.0', id: 'abc', error: { code: -32601, message: 'Method not found' } });
    expect((await rpc(sim, 'eth_chainId', [], 42)).id).toBe(42);
    expect((await rpc(sim, 'eth_chainId', [], null)).id).toBeNull();
    expect((await rpc(sim, 'eth_chainId', [], '0007')).id).toBe('0007');
  });

  it('answers invalid JSON with -32700 and invalid items with -32600', async () => {
    const sim = await startSim();
    const parseError = await post(sim, '{"jsonrpc": "2.0", "method"');
    expect(await parseError.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });

    expect(((await (await post(sim, [])).json()) as Envelope).error?.code).toBe(-32600);
    const batch = (await (await post(sim, [1, { jsonrpc: '2.0', id: 5 }, { jsonrpc: '1.0', id: 6, method: 'x' }])).json()) as Envelope[];
    expect(batch.map((e) => [e.id, e.error?.code])).toEqual([
      [null, -32600],
      [5, -32600],
      [6, -32600],
    ]);
  });

  it('rejects non-POST requests', async () => {
    const sim = await startSim();
    const res = await fetch(sim.url);
    expect(res.status).toBe(405);
  });
});

describe('SimulatedOperator consistency', () => {
  it('agrees with a sim started later on head, balances and blocks', async () => {
    const early = await startSim({}, { random: seededRandom(1) });
    await sleep(50);
    const late = await startSim({ latencyMs: { median: 3, p99: 10 } }, { random: seededRandom(2) });

    // Straddling a block boundary between the two calls is legitimate; the late answer must be bracketed.
    const a1 = Number((await rpc(early, 'eth_blockNumber')).result);
    const b = Number((await rpc(late, 'eth_blockNumber')).result);
    const a2 = Number((await rpc(early, 'eth_blockNumber')).result);
    expect(b).toBeGreaterThanOrEqual(a1);
    expect(b).toBeLessThanOrEqual(a2);

    expect((await rpc(late, 'eth_getBalance', [ADDRESS, 'latest'])).result).toBe(
      (await rpc(early, 'eth_getBalance', [ADDRESS, 'latest'])).result,
    );
    const tag = `0x${(a1 - 5).toString(16)}`;
    expect((await rpc(late, 'eth_getBlockByNumber', [tag, true])).result).toEqual(
      (await rpc(early, 'eth_getBlockByNumber', [tag, true])).result,
    );
  });

  it('differs between chains', async () => {
    const mainnet = await startSim();
    const other = await startSim({ chainId: 10 });
    const tag = `0x${(BASE_BLOCK_NUMBER + 1).toString(16)}`;
    const a = (await rpc(mainnet, 'eth_getBlockByNumber', [tag, false])).result;
    const b = (await rpc(other, 'eth_getBlockByNumber', [tag, false])).result;
    expect(a.hash).not.toBe(b.hash);
  });
});

describe('SimulatedOperator batches and notifications', () => {
  it('answers every item of a batch except notifications', async () => {
    const sim = await startSim();
    const res = await post(sim, [
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId' },
      { jsonrpc: '2.0', method: 'eth_blockNumber' },
      { jsonrpc: '2.0', id: 'b', method: 'net_version', params: [] },
    ]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      { jsonrpc: '2.0', id: 1, result: '0x1' },
      { jsonrpc: '2.0', id: 'b', result: '1' },
    ]);
  });

  it('answers 204 with no body when every item is a notification', async () => {
    const sim = await startSim();
    const batch = await post(sim, [
      { jsonrpc: '2.0', method: 'eth_chainId' },
      { jsonrpc: '2.0', method: 'eth_blockNumber' },
    ]);
    expect(batch.status).toBe(204);
    expect(await batch.text()).toBe('');

    const single = await post(sim, { jsonrpc: '2.0', method: 'eth_chainId' });
    expect(single.status).toBe(204);
    expect(await single.text()).toBe('');
  });

  it('counts HTTP requests, JSON-RPC items and methods', async () => {
    const sim = await startSim();
    await post(sim, Array.from({ length: 10 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_chainId' })));
    await rpc(sim, 'eth_blockNumber');
    expect(sim.stats.httpRequests).toBe(2);
    expect(sim.stats.rpcCalls).toBe(11);
    expect(sim.stats.byMethod.get('eth_chainId')).toBe(10);
    expect(sim.stats.byMethod.get('eth_blockNumber')).toBe(1);

    sim.resetStats();
    expect(sim.stats).toEqual({ httpRequests: 0, rpcCalls: 0, byMethod: new Map() });
  });

  it('answers 413 to a body over 10 MiB', async () => {
    const sim = await startSim();
    const res = await post(sim, 'x'.repeat(10 * 1024 * 1024 + 1)).catch((err: unknown) => err);
    // The socket closes right after the 413; depending on timing the client may see the reset instead.
    if (res instanceof Response) expect(res.status).toBe(413);
    else expect(res).toBeInstanceOf(Error);
    expect(sim.stats.rpcCalls).toBe(0);
  });
});

describe('SimulatedOperator faults', () => {
  it('errorRate 1 answers HTTP 500 with a text body', async () => {
    const sim = await startSim({ errorRate: 1 });
    const res = await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
    expect(res.status).toBe(500);
    expect((await res.text()).length).toBeGreaterThan(0);
  });

  it('rateLimitRate 1 answers HTTP 429', async () => {
    const sim = await startSim({ rateLimitRate: 1 });
    const res = await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
    expect(res.status).toBe(429);
    await res.text();
  });

  it('garbageRate 1 answers HTTP 200 with a body that is not JSON', async () => {
    const sim = await startSim({ garbageRate: 1 });
    const res = await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(() => JSON.parse(text)).toThrow();
  });

  it('wrongIdRate 1 answers a valid envelope with a different id', async () => {
    const sim = await startSim({ wrongIdRate: 1 });
    for (const id of [7, 'req-7', null]) {
      const answer = await rpc(sim, 'eth_chainId', [], id);
      expect(answer.result).toBe('0x1');
      expect(answer.jsonrpc).toBe('2.0');
      expect(answer.id).not.toBe(id);
    }
  });

  it('badDataRate 1 gives well-formed answers that differ from an honest sim', async () => {
    const honest = await startSim();
    const liar = await startSim({ badDataRate: 1 });

    const honestHead = Number((await rpc(honest, 'eth_blockNumber')).result);
    const liarHead = Number((await rpc(liar, 'eth_blockNumber')).result);
    expect(Math.abs(liarHead - honestHead)).toBeGreaterThan(1_000);

    const honestBalance = (await rpc(honest, 'eth_getBalance', [ADDRESS, 'latest'])).result;
    const liarBalance = (await rpc(liar, 'eth_getBalance', [ADDRESS, 'latest'])).result;
    expect(liarBalance).toMatch(/^0x[0-9a-f]+$/);
    expect(liarBalance).not.toBe(honestBalance);

    const tag = `0x${(honestHead - 3).toString(16)}`;
    const honestBlock = (await rpc(honest, 'eth_getBlockByNumber', [tag, false])).result;
    const liarBlock = (await rpc(liar, 'eth_getBlockByNumber', [tag, false])).result;
    expect(liarBlock.hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(liarBlock.hash).not.toBe(honestBlock.hash);
    expect(liarBlock.number).toBe(honestBlock.number);

    // Methods outside the bad-data set stay honest.
    expect((await rpc(liar, 'eth_chainId')).result).toBe('0x1');
  });

  it('setProfile takes effect for the next request', async () => {
    const sim = await startSim();
    expect((await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' })).status).toBe(200);
    sim.setProfile({ errorRate: 1 });
    expect((await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' })).status).toBe(500);
    sim.setProfile({ errorRate: 0 });
    expect((await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' })).status).toBe(200);
  });

  it('splits one draw per request into bands in the documented order', async () => {
    // 0.1 falls in errorRate's band, 0.3 in rateLimitRate's, 0.5 in garbageRate's, 0.7 in wrongIdRate's, 0.9 in none.
    const draws = [0.1, 0.3, 0.5, 0.7, 0.9];
    const sim = await startSim(
      { errorRate: 0.2, rateLimitRate: 0.2, garbageRate: 0.2, wrongIdRate: 0.2 },
      { random: () => draws.shift() ?? 0.99 },
    );
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
      const text = await res.text();
      if (res.status !== 200) seen.push(String(res.status));
      else if (!text.startsWith('{')) seen.push('garbage');
      else seen.push(JSON.parse(text).id === 1 ? 'ok' : 'wrongId');
    }
    expect(seen).toEqual(['500', '429', 'garbage', 'wrongId', 'ok']);
  });

  it('rejects rates outside [0, 1]', () => {
    expect(() => new SimulatedOperator({ name: 'bad', profile: { errorRate: 1.5 } })).toThrow(RangeError);
  });
});

describe('latency draw', () => {
  function quantile(sorted: number[], q: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  }

  it('matches the profile median and p99', () => {
    const random = seededRandom(42);
    for (const latency of [PROFILES.fast.latencyMs, PROFILES.slow.latencyMs, PROFILES.flaky.latencyMs]) {
      const draws = Array.from({ length: 20_000 }, () => drawLatencyMs(latency, random)).sort((a, b) => a - b);
      expect(Math.abs(quantile(draws, 0.5) / latency.median - 1)).toBeLessThan(0.05);
      expect(Math.abs(quantile(draws, 0.99) / latency.p99 - 1)).toBeLessThan(0.15);
      expect(draws[0]).toBeGreaterThan(0);
    }
  });

  it('is zero for 0/0 and constant when p99 equals the median', () => {
    const random = seededRandom(7);
    expect(drawLatencyMs({ median: 0, p99: 0 }, random)).toBe(0);
    expect(drawLatencyMs({ median: 10, p99: 10 }, random)).toBe(10);
  });

  it('is reproducible with the same seed', () => {
    const a = seededRandom(3);
    const b = seededRandom(3);
    const latency = { median: 5, p99: 30 };
    const drawsA = Array.from({ length: 10 }, () => drawLatencyMs(latency, a));
    const drawsB = Array.from({ length: 10 }, () => drawLatencyMs(latency, b));
    expect(drawsA).toEqual(drawsB);
  });

  it('delays the answer', async () => {
    const sim = await startSim({ latencyMs: { median: 80, p99: 80 } });
    const started = performance.now();
    await rpc(sim, 'eth_chainId');
    expect(performance.now() - started).toBeGreaterThanOrEqual(70);
  });
});

describe('SimulatedOperator lifecycle', () => {
  it('binds an ephemeral port on 127.0.0.1', async () => {
    const sim = await startSim();
    expect(sim.port).toBeGreaterThan(0);
    expect(sim.url).toBe(`http://127.0.0.1:${sim.port}/`);
  });

  it('stop() frees a hanging request', async () => {
    const sim = await startSim({ hang: true });
    const pending = post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
    pending.catch(() => {});
    while (sim.stats.rpcCalls === 0) await sleep(5);
    await sim.stop();
    await expect(pending).rejects.toThrow();
  });

  it('stop() frees requests waiting out their latency', async () => {
    const sim = await startSim({ latencyMs: { median: 60_000, p99: 60_000 } });
    const pending = post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
    pending.catch(() => {});
    while (sim.stats.rpcCalls === 0) await sleep(5);
    await sim.stop();
    await expect(pending).rejects.toThrow();
  });

  it('refuses connections after stop() and answers on the same port after restart()', async () => {
    const sim = await startSim();
    const url = sim.url;
    expect((await rpc(sim, 'eth_chainId')).result).toBe('0x1');

    await sim.stop();
    const refused = await post(sim, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(Error);
    expect(String((refused as Error & { cause?: unknown }).cause)).toMatch(/ECONNREFUSED/);

    expect(await sim.restart()).toBe(url);
    expect((await rpc(sim, 'eth_chainId')).result).toBe('0x1');
  });

  it('stop() is idempotent and start() twice returns the same url', async () => {
    const sim = await startSim();
    expect(await sim.start()).toBe(sim.url);
    await sim.stop();
    await sim.stop();
  });
});
