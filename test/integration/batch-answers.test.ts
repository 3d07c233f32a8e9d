/**
 * Batches byte for byte, through real sockets, against operators scripted per test (real
 * HTTP servers: no simulated profile reorders, drops or re-spells batch answers): what an
 * operator is sent, and what the client gets back.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { FIRST_ID } from '../../src/router/upstream.js';

interface Scripted {
  readonly url: string;
  /** Every batch body the operator was sent, as received. */
  readonly batches: string[];
  close(): Promise<void>;
}

/** An operator that answers each batch with `answer(body)`, as raw text. Single calls (none expected) get `0x1`. */
async function scriptedOperator(answer: (body: string, calls: { id?: unknown; method: string }[]) => string): Promise<Scripted> {
  const batches: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const parsed = JSON.parse(body) as unknown;
      res.setHeader('content-type', 'application/json');
      if (!Array.isArray(parsed)) {
        res.end(JSON.stringify({ jsonrpc: '2.0', id: (parsed as { id: unknown }).id, result: '0x1' }));
        return;
      }
      batches.push(body);
      res.end(answer(body, parsed as { id?: unknown; method: string }[]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    batches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The upstream's id of the k-th element of a batch attempt whose first id is `first`. */
const upstreamIndex = (id: unknown, first: number) => (id as number) - first;

/**
 * Each call answered, in the order given, with `result` built from its method and its place in
 * the batch the operator was sent (its id minus the attempt's first id).
 */
const answerEach = (calls: { id?: unknown; method: string }[], order: (xs: typeof calls) => typeof calls = (xs) => xs) => {
  const first = Math.min(...calls.filter((c) => 'id' in c).map((c) => c.id as number));
  return JSON.stringify(order(calls.filter((c) => 'id' in c)).map((c) => ({ jsonrpc: '2.0', id: c.id, result: `${c.method}:${upstreamIndex(c.id, first)}` })));
};

/** The ids of the calls of one upstream batch body, in order (notifications have none). */
const idsSent = (batch: string) => (JSON.parse(batch) as { id?: number }[]).flatMap((c) => ('id' in c ? [c.id!] : []));

let gateway: Gateway | undefined;
const operators: Scripted[] = [];
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  for (const op of operators.splice(0)) await op.close();
});

/** A gateway in front of `ops`, the first pick always the first of them (all the stake, no exploration). */
async function startGateway(...ops: Scripted[]): Promise<string> {
  operators.push(...ops);
  const config = parseConfig({
    logLevel: 'silent',
    rpc: { port: 0 },
    admin: { port: 0 },
    routing: { explorationShare: 0 },
    // Every request an operator sees is a test's: no pipelining check, no cross-checks.
    upstream: { pipelining: 1 },
    staking: { crossCheck: { sampleRate: 0 } },
    operators: ops.map((op, i) => ({ id: `op${i}`, url: op.url, stake: i === 0 ? '1000000000000000000000000' : '1000000000000000000' })),
  });
  gateway = await Gateway.start(config, { autoMeasure: false });
  return gateway.rpcUrl;
}

async function postText(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text() };
}

const call = (id: unknown, method = 'eth_chainId') => ({ jsonrpc: '2.0', id, method, params: [] });

describe('a batch on its way to an operator and back', () => {
  it('goes out as the client wrote each call, under ids of the upstream\'s own, and comes back as the operator wrote it, with the clients\' ids', async () => {
    // Odd spacing on both sides: neither side is re-serialized.
    const items = [`{ "jsonrpc":"2.0", "id" : 7 ,"method":"eth_chainId","params":[]}`, JSON.stringify(call('a')), JSON.stringify(call(-3, 'net_version'))];
    let reply = '';
    const op = await scriptedOperator((_, calls) => {
      const [a, b, c] = calls.map((x) => x.id as number);
      reply = `[{"jsonrpc":"2.0","id":${a},"result":"0x1"} , {"id":${b},"jsonrpc":"2.0","result":"0x2"},\n{"jsonrpc":"2.0","id":${c},"result":"1"}]`;
      return reply;
    });
    const res = await postText(await startGateway(op), `[ ${items.join(' ,\n')} ]`);
    expect(op.batches).toHaveLength(1);
    const [a, b, c] = idsSent(op.batches[0]!);
    expect(a).toBeGreaterThanOrEqual(FIRST_ID);
    expect([b, c]).toEqual([a! + 1, a! + 2]);
    // Each call's bytes as the client wrote them, but for the id.
    expect(op.batches[0]).toBe(`[${items[0]!.replace('7', String(a))},${items[1]!.replace('"a"', String(b))},${items[2]!.replace('-3', String(c))}]`);
    // The operator's bytes, each client's id written over the upstream's in place, padded with spaces.
    const pad = (token: string) => token.padEnd(10, ' ');
    expect(res).toEqual({ status: 200, text: reply.replace(String(a), pad('7')).replace(String(b), pad('"a"')).replace(String(c), pad('-3')) });
    expect(JSON.parse(res.text)).toEqual([
      { jsonrpc: '2.0', id: 7, result: '0x1' },
      { jsonrpc: '2.0', id: 'a', result: '0x2' },
      { jsonrpc: '2.0', id: -3, result: '1' },
    ]);
  });

  it('keeps an operator answer out of order, as the specification allows', async () => {
    const op = await scriptedOperator((_, calls) => answerEach(calls, (xs) => [...xs].reverse()));
    const res = await postText(await startGateway(op), JSON.stringify([call(1), call(2), call(3)]));
    expect(op.batches).toHaveLength(1);
    expect(JSON.parse(res.text)).toEqual([3, 2, 1].map((id) => ({ jsonrpc: '2.0', id, result: `eth_chainId:${id - 1}` })));
  });

  it('matches a large batch answered in reverse; ids longer than the upstream\'s, escapes and duplicates come back as the client wrote them', async () => {
    // Ids of every kind: numbers, strings longer than the upstream's ids (copied, not written in
    // place), strings with escapes (which send the batch through JSON.parse), and one id twice.
    const tokens = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? String(i) : i % 3 === 1 ? `"s${i}-a-string-id-longer-than-ten-bytes"` : `"\\u0073${i}"`));
    tokens.push('1', '1');
    const op = await scriptedOperator((_, calls) => answerEach(calls, (xs) => [...xs].reverse()));
    const res = await postText(await startGateway(op), `[${tokens.map((t) => `{"jsonrpc":"2.0","id":${t},"method":"eth_chainId","params":[]}`).join(',')}]`);
    expect(op.batches).toHaveLength(1);
    const answers = JSON.parse(res.text) as { id: unknown; result: string }[];
    expect(answers.map((a) => a.id)).toEqual(tokens.map((t) => JSON.parse(t) as unknown));
    answers.forEach((a, i) => expect(a.result).toBe(`eth_chainId:${i}`));
  });

  it('leaves notifications unanswered, as the operator does; a batch of only notifications is delivered once', async () => {
    const op = await scriptedOperator((_, calls) => answerEach(calls));
    const { id: _none, ...note } = call(0, 'eth_subscribeNothing');
    const res = await postText(await startGateway(op), JSON.stringify([note, call(1), note, call(2)]));
    expect(op.batches).toHaveLength(1);
    expect(JSON.parse(op.batches[0]!)).toEqual([note, { ...call(1), id: expect.any(Number) }, note, { ...call(2), id: expect.any(Number) }]);
    // The calls were the 2nd and 4th elements sent (places 1 and 3; answerEach counts from the first call's id).
    expect(JSON.parse(res.text)).toEqual([
      { jsonrpc: '2.0', id: 1, result: 'eth_chainId:0' },
      { jsonrpc: '2.0', id: 2, result: 'eth_chainId:2' },
    ]);
    const batches = op.batches.length;
    expect((await postText(gateway!.rpcUrl, JSON.stringify([note, note]))).status).toBe(204);
    expect(op.batches.length - batches).toBe(1);
  });
});

describe("answers the gateway must not pass on", () => {
  it('an answer missing an item: the rest goes to the next operator, and the client gets its own ids', async () => {
    const first = await scriptedOperator((_, calls) => answerEach(calls.slice(0, 2)));
    const second = await scriptedOperator((_, calls) => answerEach(calls));
    const res = await postText(await startGateway(first, second), JSON.stringify([call(10), call(20), call(30)]));
    expect(first.batches).toHaveLength(1);
    // Only the unanswered entry.
    expect(second.batches).toHaveLength(1);
    expect(JSON.parse(second.batches[0]!)).toEqual([{ ...call(30), id: expect.any(Number) }]);
    expect(JSON.parse(res.text)).toEqual([
      { jsonrpc: '2.0', id: 10, result: 'eth_chainId:0' },
      { jsonrpc: '2.0', id: 20, result: 'eth_chainId:1' },
      { jsonrpc: '2.0', id: 30, result: 'eth_chainId:0' },
    ]);
  });

  it('an answer with an element carrying another request\'s id, or one id twice: refused whole, the batch answered by the next operator', async () => {
    for (const extra of [(first: number) => `{"jsonrpc":"2.0","id":${first + 99},"result":"0xbad"}`, (first: number) => `{"jsonrpc":"2.0","id":${first},"result":"0xdup"}`, () => '{"jsonrpc":"2.0","id":1,"result":"0xclient-id"}']) {
      const liar = await scriptedOperator((_, calls) => {
        const [a, b] = calls.map((c) => c.id as number);
        return `[{"jsonrpc":"2.0","id":${a},"result":"0x1"},${extra(a!)},{"jsonrpc":"2.0","id":${b},"result":"0x2"}]`;
      });
      const honest = await scriptedOperator((_, calls) => answerEach(calls));
      const res = await postText(await startGateway(liar, honest), JSON.stringify([call(1), call(2)]));
      expect(honest.batches).toHaveLength(1);
      expect(JSON.parse(res.text)).toEqual([
        { jsonrpc: '2.0', id: 1, result: 'eth_chainId:0' },
        { jsonrpc: '2.0', id: 2, result: 'eth_chainId:1' },
      ]);
      await gateway!.stop();
      gateway = undefined;
    }
  });

  it('an answer to a notification: left out', async () => {
    const { id: _none, ...note } = call(0);
    // The operator answers the notification with a null id: an element that answers nothing.
    const op = await scriptedOperator((_, calls) => `[{"jsonrpc":"2.0","id":${calls[0]!.id as number},"result":"0x1"},{"jsonrpc":"2.0","id":null,"result":"0xnote"}]`);
    const res = await postText(await startGateway(op), JSON.stringify([call(1), note]));
    expect(JSON.parse(res.text)).toEqual([{ jsonrpc: '2.0', id: 1, result: '0x1' }]);
  });

  it('an invalid element: answered by the gateway, the others sent on', async () => {
    const op = await scriptedOperator((_, sent) => answerEach(sent));
    const res = await postText(await startGateway(op), JSON.stringify([call(5), { jsonrpc: '2.0', id: 6 }]));
    expect(JSON.parse(op.batches[0]!)).toEqual([{ ...call(5), id: expect.any(Number) }]);
    const answers = JSON.parse(res.text) as { id: number; result?: string; error?: { code: number } }[];
    expect(answers[0]).toEqual({ jsonrpc: '2.0', id: 5, result: 'eth_chainId:0' });
    expect(answers[1]).toMatchObject({ id: 6, error: { code: -32600 } });
  });
});
