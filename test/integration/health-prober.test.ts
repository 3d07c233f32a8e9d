/**
 * The health prober over real sockets: what it asks each operator and when (finality rounds,
 * operators that refuse a tag, skipped heads, adaptive pacing), and what the sink is told.
 */
import * as net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HealthProber, type HealthProberOptions, NOT_SERVING_RETRY_ROUNDS, type ProbeDetails, type ProbeResult, type ProbeTarget } from '../../src/metrics/health-prober.js';
import { Upstream } from '../../src/router/upstream.js';
import { startAnvil, stopAllAnvils } from '../support/anvil.js';
import { type RawAnswer, type RawCall, type RawOperator, startRawOperator } from '../support/raw-operator.js';
import { until } from '../support/until.js';

interface Recorded {
  readonly index: number;
  readonly result: ProbeResult;
  readonly head: number | null;
  readonly chainId: string | null;
  readonly details: ProbeDetails | undefined;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => stopAllAnvils());

function target(index: number, url: string): ProbeTarget {
  const upstream = new Upstream(url, { connections: 2, pipelining: 1, keepAliveTimeoutMs: 5_000, maxResponseBytes: 8 << 20 });
  cleanups.push(() => upstream.destroy());
  return { index, upstream };
}

async function rawOperator(answer: (call: RawCall) => RawAnswer): Promise<RawOperator> {
  const op = await startRawOperator(answer);
  cleanups.push(() => op.close());
  return op;
}

function prober(targets: ProbeTarget[], options: Partial<HealthProberOptions> = {}) {
  const recorded: Recorded[] = [];
  const sink = { recordProbe: (index: number, result: ProbeResult, head: number | null, chainId: string | null, details?: ProbeDetails) => recorded.push({ index, result, head, chainId, details }) };
  const p = new HealthProber(() => targets, sink, { intervalMs: 60_000, timeoutMs: 2_000, ...options });
  cleanups.push(() => p.stop());
  return { prober: p, recorded };
}

const tagOf = (call: RawCall) => (call.method === 'eth_getBlockByNumber' ? (call.request['params'] as unknown[])[0] : undefined);

/** A node at block 0x10 whose safe block is 0xe and finalized 0xc. */
function node(call: RawCall): RawAnswer {
  if (call.method === 'eth_chainId') return '"0x1"';
  if (call.method === 'eth_blockNumber') return '"0x10"';
  if (tagOf(call) === 'safe') return '{"number":"0xe","hash":"0x01","transactions":[]}';
  if (tagOf(call) === 'finalized') return '{"number":"0xc","hash":"0x02","transactions":[]}';
  return { errorJson: '{"code":-32601,"message":"method not found"}' };
}

describe('finality rounds', () => {
  it('ask safe then finalized after the chain id and the head, in the first round and every finalityEveryRounds-th', async () => {
    const op = await rawOperator(node);
    const { prober: p, recorded } = prober([target(0, op.url)], { finalityEveryRounds: 3 });
    for (let round = 0; round < 7; round++) await p.probeAll();
    expect(op.calls.slice(0, 4).map((c) => [c.method, c.request['params']])).toEqual([
      ['eth_chainId', undefined],
      ['eth_blockNumber', undefined],
      ['eth_getBlockByNumber', ['safe', false]],
      ['eth_getBlockByNumber', ['finalized', false]],
    ]);
    expect(recorded.map((r) => r.details)).toEqual([
      { headAsked: true, safe: 14, finalized: 12 },
      { headAsked: true },
      { headAsked: true },
      { headAsked: true, safe: 14, finalized: 12 },
      { headAsked: true },
      { headAsked: true },
      { headAsked: true, safe: 14, finalized: 12 },
    ]);
    expect(recorded.every((r) => r.result === 'ok' && r.head === 16 && r.chainId === '0x1')).toBe(true);
  });

  it('ask again for a tag an operator refused with a JSON-RPC error only every tenth such round; the other tag every round', async () => {
    const op = await rawOperator((call) => (tagOf(call) === 'safe' ? { errorJson: '{"code":-32602,"message":"unknown block tag"}' } : node(call)));
    const { prober: p, recorded } = prober([target(0, op.url)], { finalityEveryRounds: 1 });
    const rounds = 2 * NOT_SERVING_RETRY_ROUNDS + 1;
    for (let round = 0; round < rounds; round++) await p.probeAll();
    const safeAskedIn = recorded.flatMap((r, round) => (r.details && 'safe' in r.details ? [round] : []));
    expect(safeAskedIn).toEqual([0, NOT_SERVING_RETRY_ROUNDS, 2 * NOT_SERVING_RETRY_ROUNDS]);
    expect(recorded.filter((r) => r.details && 'safe' in r.details).every((r) => r.details!.safe === null)).toBe(true);
    expect(recorded.every((r) => r.details?.finalized === 12)).toBe(true);
    expect(op.calls.filter((c) => tagOf(c) === 'safe')).toHaveLength(3);
  });

  it('read no block, an odd shape or a number past 2^53 as null, and a block of several megabytes by its number', async () => {
    const hashes = Array.from({ length: 60_000 }, (_, i) => `"0x${i.toString(16).padStart(64, '0')}"`).join(',');
    const answers: RawAnswer[][] = [
      ['null', `{"transactions":[${hashes}],"number":"0x1234"}`],
      ['["0x10"]', '{"number":"0x20000000000000"}'],
      ['"0x10"', '{"number":16}'],
    ];
    const ops = await Promise.all(answers.map(([safe, finalized]) => rawOperator((call) => (tagOf(call) === 'safe' ? safe! : tagOf(call) === 'finalized' ? finalized! : node(call)))));
    const { prober: p, recorded } = prober(ops.map((o, i) => target(i, o.url)));
    await p.probeAll();
    const byIndex = (i: number) => recorded.find((r) => r.index === i)!.details;
    expect(byIndex(0)).toEqual({ headAsked: true, safe: null, finalized: 0x1234 });
    expect(byIndex(1)).toEqual({ headAsked: true, safe: null, finalized: null });
    expect(byIndex(2)).toEqual({ headAsked: true, safe: null, finalized: null });
    // Nothing of this counts as a refusal: the next finality round asks again.
    for (let round = 0; round < 5; round++) await p.probeAll();
    expect(ops.every((o) => o.calls.filter((c) => tagOf(c) === 'safe').length === 2)).toBe(true);
  });

  it('are not asked of an operator that was not reached', async () => {
    const op = await startRawOperator(node);
    const url = op.url;
    await op.close();
    const { prober: p, recorded } = prober([target(0, url)]);
    await p.probeAll();
    expect(recorded).toEqual([{ index: 0, result: 'unreachable', head: null, chainId: null, details: { headAsked: true, failure: 'connect' } }]);
  });

  it('tell the sink how a probe failed: refused, timed out, or answered invalidly (a downtime violation\'s evidence)', async () => {
    const closed = await startRawOperator(node);
    await closed.close();
    // Accepts the connection and never answers.
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentSockets = new Set<net.Socket>();
    silent.on('connection', (socket) => silentSockets.add(socket));
    cleanups.push(() => new Promise((resolve) => { for (const socket of silentSockets) socket.destroy(); silent.close(resolve); }));
    const garbage = await rawOperator(() => '"not a quantity"');
    const { prober: p, recorded } = prober(
      [target(0, closed.url), target(1, `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`), target(2, garbage.url)],
      { timeoutMs: 200, finalityEveryRounds: 1_000 },
    );
    await p.probeAll();
    const failureOf = (index: number) => recorded.filter((r) => r.index === index).map((r) => [r.result, r.details?.failure]);
    expect(failureOf(0)).toEqual([['unreachable', 'connect']]);
    expect(failureOf(1)).toEqual([['unreachable', 'timeout']]);
    expect(failureOf(2)).toEqual([['invalid', 'invalid']]);
  });

  it('read from anvil match what anvil itself says its safe and finalized blocks are', async () => {
    const anvil = await startAnvil();
    await anvil.rpc('anvil_mine', ['0x64']);
    const { prober: p, recorded } = prober([target(0, anvil.url)]);
    await p.probeAll();
    const numberOf = async (tag: string) => Number.parseInt((await anvil.rpc<{ number: string }>('eth_getBlockByNumber', [tag, false])).number, 16);
    expect(recorded[0]).toMatchObject({ result: 'ok', head: 100, chainId: '0x7a69', details: { headAsked: true, safe: await numberOf('safe'), finalized: await numberOf('finalized') } });
    expect(typeof recorded[0]!.details!.safe).toBe('number');
  });
});

describe('skipHeadProbe', () => {
  it('asks a skipped operator its chain id only and tells the sink the head was not asked; others as before', async () => {
    const skipped = await rawOperator(node);
    const asked = await rawOperator(node);
    const garbled = await rawOperator((call) => (call.method === 'eth_blockNumber' ? '"not a number"' : node(call)));
    const { prober: p, recorded } = prober([target(0, skipped.url), target(1, asked.url), target(2, garbled.url)], { skipHeadProbe: (i) => i === 0, finalityEveryRounds: 2 });
    await p.probeAll();
    await p.probeAll();
    expect(skipped.calls.map((c) => c.method)).toEqual(['eth_chainId', 'eth_getBlockByNumber', 'eth_getBlockByNumber', 'eth_chainId']);
    const second = (i: number) => recorded.filter((r) => r.index === i)[1];
    expect(second(0)).toEqual({ index: 0, result: 'ok', head: null, chainId: '0x1', details: { headAsked: false } });
    expect(second(1)).toEqual({ index: 1, result: 'ok', head: 16, chainId: '0x1', details: { headAsked: true } });
    // Asked and answered invalidly: told apart from not asked.
    expect(second(2)).toEqual({ index: 2, result: 'invalid', head: null, chainId: '0x1', details: { headAsked: true, failure: 'invalid' } });
  });
});

describe('pacing', () => {
  it('reads an intervalMs function again for every round', async () => {
    const op = await rawOperator(node);
    let reads = 0;
    const { prober: p, recorded } = prober([target(0, op.url)], {
      intervalMs: () => {
        reads++;
        return 20;
      },
    });
    p.start();
    // At the 60 s a fixed interval would take (or the 5 s default), five rounds would take minutes.
    await until(() => recorded.length >= 5, 'five rounds at 20 ms');
    expect(reads).toBeGreaterThanOrEqual(5);
  });
});
