/**
 * A cross-check violation's evidence is bounded in the operator's record, whatever the client
 * asked or the operator answered: each text is kept to its first 512 bytes, with the byte
 * length and sha256 of the whole canonical form so the operator can check it against its own
 * answer. Three raw operators, one of which answers eth_chainId with a 200 KB lie.
 */
import { createHash } from 'node:crypto';
import { afterEach, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { type CrossCheckEvidence, EVIDENCE_EXCERPT_BYTES } from '../../src/router/cross-check.js';
import { type RawOperator, startRawOperator } from '../support/raw-operator.js';
import { post } from '../support/stack.js';

let operators: RawOperator[] = [];
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.stop();
  await Promise.all(operators.map((o) => o.close()));
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

it('keeps 512 bytes of each of params, answer and majority, with the full length and sha256', async () => {
  const LIE = JSON.stringify({ note: 'é'.repeat(1_000), chainId: `0x${'ab'.repeat(100_000)}` });
  // What the gateway compares and keeps: the canonical form (keys sorted).
  const LIE_CANONICAL = JSON.stringify({ chainId: `0x${'ab'.repeat(100_000)}`, note: 'é'.repeat(1_000) });
  operators = [await startRawOperator(() => '"0x1"'), await startRawOperator(() => '"0x1"'), await startRawOperator(() => LIE)];
  gateway = await Gateway.start(
    parseConfig({
      logLevel: 'silent',
      rpc: { port: 0 },
      admin: { port: 0 },
      // The client's call must be the sampled one: no second opinion first (the proving period).
      staking: { crossCheck: { sampleRate: 1 }, provingAnswers: 0 },
      // The liar answers eth_chainId with an object: chain-aware routing would never admit it, and this test needs it voted on.
      routing: { chainAware: false },
      operators: operators.map((o, i) => ({ id: `op${i}`, url: o.url })),
    }),
    { autoMeasure: false },
  );
  const reported = vi.spyOn(gateway.controlLoop, 'reportBadData');
  // 20 KB of params, shallow: inspected, and kept only in part.
  const params = Array.from({ length: 1_000 }, (_, i) => ({ z: i, a: `0x${i.toString(16).padStart(16, '0')}` }));
  const paramsCanonical = JSON.stringify(params.map((p) => ({ a: p.a, z: p.z })));
  expect((await post(gateway.rpcUrl, { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params })).status).toBe(200);
  await vi.waitFor(() => expect(reported).toHaveBeenCalledTimes(1));
  await gateway.closeWindow();

  const violation = gateway.core.state('op2')!.violations.find((v) => v.type === 'bad_data')!;
  const [evidence] = violation.evidence as CrossCheckEvidence[];
  expect(evidence!.method).toBe('eth_chainId');
  expect(evidence!.agreeingOperators.toSorted()).toEqual(['op0', 'op1']);
  for (const [kept, whole, name] of [
    [evidence!.params, paramsCanonical, 'params'],
    [evidence!.answer, LIE_CANONICAL, 'answer'],
  ] as const) {
    expect(Buffer.byteLength(kept), name).toBeLessThanOrEqual(EVIDENCE_EXCERPT_BYTES);
    expect(Buffer.byteLength(kept), name).toBeGreaterThan(EVIDENCE_EXCERPT_BYTES - 4);
    expect(whole.startsWith(kept), name).toBe(true);
    expect(evidence!.full[name]).toEqual({ bytes: Buffer.byteLength(whole), sha256: sha256(whole), truncated: true });
  }
  expect(evidence!.majority).toBe('"0x1"');
  expect(evidence!.full.majority).toEqual({ bytes: 5, sha256: sha256('"0x1"'), truncated: false });
  // The whole record stays small: nothing of the 200 KB lie or the 20 KB params beyond the excerpts.
  const record = JSON.stringify(gateway.core.state('op2'), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  expect(record.length).toBeLessThan(8_000);
});
