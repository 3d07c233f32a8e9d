/**
 * Batches byte for byte, through real sockets, against operators scripted per test (real
 * HTTP servers: no simulated profile reorders, drops or re-spells batch answers): what an
 * operator is sent, and what the client gets back.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';

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

/** Each call answered with `result` built from its id and method, in the order given. */
const answerEach = (calls: { id?: unknown; method: string }[], order: (xs: typeof calls) => typeof calls = (xs) => xs) =>
  JSON.stringify(order(calls.filter((c) => 'id' in c)).map((c) => ({ jsonrpc: '2.0', id: c.id, result: `${c.method}:${String(c.id)}` })));

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

describe('a batch whose ids can be matched back', () => {
  it('goes to the operator as the client wrote it, and its answer comes back as the operator wrote it', async () => {
    // Odd spacing on both sides: neither side is re-serialized.
    const sent = `[ ${JSON.stringify(call(7))} ,\n${JSON.stringify(call('a'))},${JSON.stringify(call(-3, 'net_version'))} ]`;
    const reply = '[{"jsonrpc":"2.0","id":7,"result":"0x1"} , {"id":"a","jsonrpc":"2.0","result":"0x2"},\n{"jsonrpc":"2.0","id":-3,"result":"1"}]';
    const op = await scriptedOperator(() => reply);
    const res = await postText(await startGateway(op), sent);
    expect(op.batches).toEqual([sent]);
    expect(res).toEqual({ status: 200, text: reply });
  });

  it('keeps an operator answer out of order, as the specification allows', async () => {
    const op = await scriptedOperator((_, calls) => answerEach(calls, (xs) => [...xs].reverse()));
    const sent = JSON.stringify([call(1), call(2), call(3)]);
    const res = await postText(await startGateway(op), sent);
    expect(op.batches).toEqual([sent]);
    expect(JSON.parse(res.text)).toEqual([3, 2, 1].map((id) => ({ jsonrpc: '2.0', id, result: `eth_chainId:${id}` })));
  });

  it('matches a large batch answered in reverse, and string ids by value, escapes and all', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => (i % 2 ? i : `s${i}`));
    // The operator spells every string id with a \u escape: the same value, other bytes.
    const op = await scriptedOperator((_, calls) =>
      answerEach(calls, (xs) => [...xs].reverse()).replace(/"id":"s(\d+)"/g, (_m, n: string) => `"id":"\\u0073${n}"`),
    );
    const res = await postText(await startGateway(op), JSON.stringify(ids.map((id) => call(id))));
    expect(op.batches).toHaveLength(1);
    const answers = JSON.parse(res.text) as { id: unknown; result: string }[];
    expect(answers).toHaveLength(60);
    expect(new Set(answers.map((a) => a.id))).toEqual(new Set(ids));
    for (const a of answers) expect(a.result).toBe(`eth_chainId:${String(a.id)}`);
  });

  it('leaves notifications unanswered, as the operator does', async () => {
    const op = await scriptedOperator((_, calls) => answerEach(calls));
    const { id: _none, ...note } = call(0, 'eth_subscribeNothing');
    const sent = JSON.stringify([note, call(1), note, call(2)]);
    const res = await postText(await startGateway(op), sent);
    expect(op.batches).toEqual([sent]);
    expect(JSON.parse(res.text)).toEqual([1, 2].map((id) => ({ jsonrpc: '2.0', id, result: `eth_chainId:${id}` })));
  });
});

describe("answers the gateway must not pass on as they are", () => {
  it('an answer missing an item: the rest goes to the next operator, with the gateway ids, and the client gets its own ids', async () => {
    const first = await scriptedOperator((_, calls) => answerEach(calls.slice(0, 2)));
    const second = await scriptedOperator((_, calls) => answerEach(calls));
    const res = await postText(await startGateway(first, second), JSON.stringify([call(10), call(20), call(30)]));
    expect(first.batches).toEqual([JSON.stringify([call(10), call(20), call(30)])]);
    // Only the unanswered entry, under its index.
    expect(second.batches).toEqual([JSON.stringify([call(2)])]);
    expect(JSON.parse(res.text)).toEqual([
      { jsonrpc: '2.0', id: 10, result: 'eth_chainId:10' },
      { jsonrpc: '2.0', id: 20, result: 'eth_chainId:20' },
      { jsonrpc: '2.0', id: 30, result: 'eth_chainId:2' },
    ]);
  });

  it('an answer with an extra item or one answered twice: only one answer per call reaches the client', async () => {
    for (const extra of ['{"jsonrpc":"2.0","id":99,"result":"0xbad"}', '{"jsonrpc":"2.0","id":1,"result":"0xdup"}']) {
      const op = await scriptedOperator(() => `[{"jsonrpc":"2.0","id":1,"result":"0x1"},${extra},{"jsonrpc":"2.0","id":2,"result":"0x2"}]`);
      const res = await postText(await startGateway(op), JSON.stringify([call(1), call(2)]));
      expect(JSON.parse(res.text)).toEqual([
        { jsonrpc: '2.0', id: 1, result: '0x1' },
        { jsonrpc: '2.0', id: 2, result: '0x2' },
      ]);
      await gateway!.stop();
      gateway = undefined;
    }
  });

  it('an answer to a notification: left out', async () => {
    const { id: _none, ...note } = call(0);
    // Sent as written: the operator answers the notification with a null id.
    let op = await scriptedOperator(() => '[{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":null,"result":"0xnote"}]');
    let res = await postText(await startGateway(op), JSON.stringify([call(1), note]));
    expect(JSON.parse(res.text)).toEqual([{ jsonrpc: '2.0', id: 1, result: '0x1' }]);
    await gateway!.stop();
    // Sent with the gateway ids: the operator answers the notification's index as if it were an id.
    op = await scriptedOperator(() => '[{"jsonrpc":"2.0","id":0,"result":"0x0"},{"jsonrpc":"2.0","id":1,"result":"0x1"},{"jsonrpc":"2.0","id":2,"result":"0xnote"}]');
    res = await postText(await startGateway(op), JSON.stringify([call(1), call(1), note]));
    expect(op.batches).toEqual([JSON.stringify([call(0), call(1), note])]);
    expect(JSON.parse(res.text)).toEqual([
      { jsonrpc: '2.0', id: 1, result: '0x0' },
      { jsonrpc: '2.0', id: 1, result: '0x1' },
    ]);
  });
});

describe('a batch whose ids cannot be matched back', () => {
  it.each([
    ['two calls with one id', [call(1), call(1)]],
    ['a null id', [call(null), call(2)]],
    ['a fractional id', [call(1.5), call(2)]],
  ])('%s: goes out with the gateway ids, and each answer gets its client id back', async (_name, calls) => {
    const op = await scriptedOperator((_, sent) => answerEach(sent));
    const res = await postText(await startGateway(op), JSON.stringify(calls));
    expect(op.batches).toEqual([JSON.stringify(calls.map((c, i) => ({ ...c, id: i })))]);
    expect(JSON.parse(res.text)).toEqual(calls.map((c, i) => ({ jsonrpc: '2.0', id: c.id, result: `eth_chainId:${i}` })));
  });

  it('an invalid element: answered by the gateway, the others sent with the gateway ids', async () => {
    const op = await scriptedOperator((_, sent) => answerEach(sent));
    const res = await postText(await startGateway(op), JSON.stringify([call(5), { jsonrpc: '2.0', id: 6 }]));
    expect(op.batches).toEqual([JSON.stringify([call(0)])]);
    const answers = JSON.parse(res.text) as { id: number; result?: string; error?: { code: number } }[];
    expect(answers[0]).toEqual({ jsonrpc: '2.0', id: 5, result: 'eth_chainId:0' });
    expect(answers[1]).toMatchObject({ id: 6, error: { code: -32600 } });
  });
});
