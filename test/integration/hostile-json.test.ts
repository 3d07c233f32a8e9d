/**
 * Deeply nested JSON from a client or an operator costs nothing but the cross-check of that
 * request: the gateway (a child process, so that its death is observable) keeps serving.
 * A 20,000-deep value is about 40 KB, far under the body limit, and deep enough that any
 * recursive walk of it (JSON.stringify included) overflows the stack.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CliGateway, startCliGateway } from '../support/cli-gateway.js';
import { internalErrors } from '../support/internal-errors.js';
import { nestedArrays, type RawCall, type RawOperator, startRawOperator } from '../support/raw-operator.js';
import { post } from '../support/stack.js';

const DEEP = 20_000;
const DEEP_PARAMS_BODY = `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":${nestedArrays(DEEP)}}`;

let operators: RawOperator[] = [];
let gateway: CliGateway | undefined;

afterEach(async () => {
  // A gateway that died fails its test; it must not also hang the next one.
  if (gateway !== undefined) await gateway.stop();
  gateway = undefined;
  await Promise.all(operators.map((o) => o.close()));
  operators = [];
});

/** A gateway (every deterministic request cross-checked) in front of `ops`, with `workers` data-plane threads. */
async function startGateway(ops: RawOperator[], workers: number): Promise<CliGateway> {
  operators = ops;
  gateway = await startCliGateway({
    workers,
    // Counts the client's calls each operator sees: no second opinions for operators still proving themselves.
    staking: { crossCheck: { sampleRate: 1 }, provingAnswers: 0 },
    operators: ops.map((o, i) => ({ id: `op${i}`, url: o.url })),
  });
  return gateway;
}

const honest = () => startRawOperator(() => '"0x1"');

/** The process is alive and answers both listeners, and no failure reached the last resort. */
async function expectStillServing(g: CliGateway): Promise<void> {
  expect(g.exited, g.stderr).toBeUndefined();
  const res = await post(g.rpcUrl, { jsonrpc: '2.0', id: 'after', method: 'eth_chainId' });
  expect(res.json).toEqual({ jsonrpc: '2.0', id: 'after', result: '0x1' });
  expect(await internalErrors(g.adminUrl, 'unhandled_rejection')).toBe(0);
  expect(await internalErrors(g.adminUrl, 'uncaught')).toBe(0);
  expect(g.exited, g.stderr).toBeUndefined();
}

describe.each([1, 2])('with %i data-plane thread(s)', (workers) => {
  it('a block parameter nested 20,000 deep (where chain-aware routing reads the block a call needs) is forwarded, and the process lives', async () => {
    const g = await startGateway(await Promise.all([honest(), honest(), honest()]), workers);
    for (const body of [
      `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{},${nestedArrays(DEEP)}]}`,
      `{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":[${nestedArrays(DEEP)},false]}`,
      `{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"toBlock":${nestedArrays(DEEP)}}]}`,
      `{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{},{"blockNumber":${nestedArrays(DEEP)}}]}`,
    ]) {
      const res = await post(g.rpcUrl, body);
      expect(res.json).toEqual({ jsonrpc: '2.0', id: 1, result: '0x1' });
    }
    await expectStillServing(g);
  });

  it('a client sending params nested 20,000 deep a dozen times gets answers, and the process lives', async () => {
    const g = await startGateway(await Promise.all([honest(), honest(), honest()]), workers);
    for (let i = 0; i < 12; i++) {
      const res = await post(g.rpcUrl, DEEP_PARAMS_BODY);
      // Forwarded as sent: the operator answered it (the deep params are the client's business).
      expect(res.json).toEqual({ jsonrpc: '2.0', id: 1, result: '0x1' });
    }
    // Not checked (deeper than the gateway inspects), so no operator saw a cross-check of it.
    // The client's calls are the ones whose params are the deep value (the gateway's own probes have params of their own).
    const deepCalls = operators.flatMap((o) => o.calls).filter((c) => Array.isArray(c.request['params']) && Array.isArray((c.request['params'] as unknown[])[0]));
    expect(deepCalls).toHaveLength(12);
    await expectStillServing(g);
  });

  it('a fractional id with params nested 20,000 deep: answered by the operator, with the client\'s own id', async () => {
    const g = await startGateway(await Promise.all([honest(), honest(), honest()]), workers);
    const single = await post(g.rpcUrl, DEEP_PARAMS_BODY.replace('"id":1', '"id":1.5'));
    expect(single.json).toEqual({ jsonrpc: '2.0', id: 1.5, result: '0x1' });
    // An escaped key sends the body through JSON.parse: the request upstream is serialized again, without recursion.
    const parsed = await post(g.rpcUrl, DEEP_PARAMS_BODY.replace('"id":1', '"\\u0069d":2.5'));
    expect(parsed.json).toEqual({ jsonrpc: '2.0', id: 2.5, result: '0x1' });
    await expectStillServing(g);
  });

  it('an operator answering with a result nested 20,000 deep costs it the vote, not the process', async () => {
    // Clients' calls are told from the gateway's own (probes, checks) by their params: upstream, every id is the gateway's.
    const fromClient = (call: RawCall) => Array.isArray(call.request['params']) && (call.request['params'] as unknown[])[0] === 'client';
    const deep = await startRawOperator((call) => (fromClient(call) ? nestedArrays(DEEP) : '"0x1"'));
    const g = await startGateway([deep, await honest()], workers);
    const answeredByDeep = () => deep.calls.filter(fromClient).length;
    // Requests until the deep operator has answered a dozen clients (half of them go there).
    for (let i = 0; answeredByDeep() < 12; i++) {
      expect(i, 'the deep operator should get its share of the traffic').toBeLessThan(500);
      const res = await post(g.rpcUrl, { jsonrpc: '2.0', id: `client-${i}`, method: 'eth_chainId', params: ['client'] });
      expect(res.status).toBe(200);
    }
    await expectStillServing(g);
  });
});
