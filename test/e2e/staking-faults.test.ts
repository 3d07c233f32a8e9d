/**
 * End to end: one gateway (in-process, injected clock, windows closed by hand) in front of
 * simulated operators with known faults, under client traffic. Each faulty operator must
 * get its own violation type and a slash that carries the violation id and its evidence;
 * good operators are never touched; clients never see an error; jailed and wrong-chain
 * operators get no client traffic afterwards; the ledger replays to the balances; a window
 * processed twice slashes once; the admin API and /metrics show it all. No mocks.
 *
 * The whole scenario runs once in beforeAll and records what happened per window; the
 * tests below assert on the record (and the idempotency test, which writes, runs last).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowMetrics } from '../../src/metrics/window-metrics.js';
import { replay } from '../../src/staking/ledger.js';
import type { LedgerEvent, OperatorState } from '../../src/staking/records.js';
import { unbondingTotal } from '../../src/staking/records.js';
import { DEFAULT_SLASH_TABLE } from '../../src/staking/slashing-policy.js';
import type { ViolationType } from '../../src/types.js';
import { post, rpc, type Stack, startStack } from '../support/stack.js';

const TOKEN = 'e2e-staking-faults-token-0123456789';
const WINDOW_MS = 10_000;
/** Windows driven while the faults are being found (the dead one needs 60 s of downtime). */
const DETECTION_WINDOWS = 10;
/** Windows driven afterwards, to show who still gets traffic. */
const AFTER_WINDOWS = 4;
const REQUESTS_PER_WINDOW = 120;
const STAKE_WEI = 2n * 10n ** 18n;

/** Operator index → role. ids are `op<index>` (test/support/stack.ts). */
const GOOD = [0, 1, 2] as const;
const DEAD = 3;
const SLOW = 4;
const WRONG_CHAIN = 5;
const GARBAGE = 6;
const BAD_DATA = 7;
const FAULTY: Readonly<Record<number, ViolationType>> = {
  [DEAD]: 'downtime',
  [SLOW]: 'performance_threshold',
  [WRONG_CHAIN]: 'bad_data',
  [GARBAGE]: 'misbehavior',
  [BAD_DATA]: 'bad_data',
};
const id = (i: number) => `op${i}`;

const ADDRESSES = [
  '0x742d35cc6634c0532925a3b844bc9e7595f0beb0',
  '0x00000000219ab540356cbb839cbe05303d7705fa',
  '0xbe0eb53f46cd790cd13851d5eff43d12404d33e8',
];
/** A settled block: deterministic for every honest node, and eligible for the cross-check. */
const SETTLED_BLOCK = '0x10';

interface Call {
  readonly method: string;
  readonly params: unknown[];
}

const CALLS: readonly Call[] = [
  { method: 'eth_chainId', params: [] },
  ...ADDRESSES.map((a) => ({ method: 'eth_getBalance', params: [a, SETTLED_BLOCK] })),
];
const keyOf = (c: Call) => JSON.stringify([c.method, c.params]);

interface ClientProblem {
  readonly window: number;
  readonly call: Call;
  readonly status: number;
  readonly body: string;
}

interface WindowRecord {
  readonly index: number;
  /** Per sim: JSON-RPC calls it received during the window (probes included). */
  readonly calls: number[];
  /** Per sim: eth_getBalance calls (client traffic and cross-checks; probes never send it). */
  readonly balanceCalls: number[];
  /** Answers equal to the bad-data sim's lie / the wrong-chain sim's answer. */
  readonly badDataLies: number;
  readonly wrongChainAnswers: number;
  /** State after the window was processed. */
  readonly states: OperatorState[];
  readonly windows: WindowMetrics[];
}

// Start on a whole hour: violation ids carry the hour (one slash per type × severity per
// period), and the ~140 s of injected time must not straddle two periods.
let now = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_000;
let stack: Stack;
let adminUrl: string;
const records: WindowRecord[] = [];
const problems: ClientProblem[] = [];
/** Honest answer and the two lies we can tell apart, per call. */
const honest = new Map<string, unknown>();
const badDataLie = new Map<string, unknown>();
const wrongChainAnswer = new Map<string, unknown>();
let probeRounds = 0;

async function ask(url: string, call: Call): Promise<unknown> {
  const reply = await post(url, rpc(call.method, 1, call.params));
  expect(reply.status).toBe(200);
  expect(reply.json.error).toBeUndefined();
  return reply.json.result;
}

function snapshot(): { calls: number[]; balance: number[] } {
  return {
    calls: stack.sims.map((s) => s.stats.rpcCalls),
    balance: stack.sims.map((s) => s.stats.byMethod.get('eth_getBalance') ?? 0),
  };
}

/**
 * Cross-checks run after the client has its answer, off the request path: wait until the
 * sims have seen every call of this window (no new call for 150 ms), so each window's
 * counts and evidence belong to it.
 */
async function settle(): Promise<void> {
  let last = JSON.stringify(snapshot());
  let stableSince = Date.now();
  const deadline = Date.now() + 3_000;
  while (Date.now() - stableSince < 150 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    const current = JSON.stringify(snapshot());
    if (current !== last) [last, stableSince] = [current, Date.now()];
  }
}

/** One window: probes, client traffic (all concurrent), close, let the control loop finish. */
async function driveWindow(index: number, requests = REQUESTS_PER_WINDOW): Promise<void> {
  const before = snapshot();
  await stack.gateway.prober.probeAll();
  probeRounds++;
  let lies = 0;
  let wrongChain = 0;
  await Promise.all(
    Array.from({ length: requests }, async (_, i) => {
      const call = CALLS[i % CALLS.length]!;
      const requestId = index * 10_000 + i;
      const reply = await post(stack.url, rpc(call.method, requestId, call.params));
      const json = reply.json as Record<string, unknown> | undefined;
      const valid =
        reply.status === 200 &&
        json !== undefined &&
        json['jsonrpc'] === '2.0' &&
        json['id'] === requestId &&
        'result' in json &&
        !('error' in json);
      if (!valid) {
        problems.push({ window: index, call, status: reply.status, body: reply.text.slice(0, 300) });
        return;
      }
      const result = json['result'];
      const key = keyOf(call);
      if (result === honest.get(key)) return;
      if (result === badDataLie.get(key)) lies++;
      else if (result === wrongChainAnswer.get(key)) wrongChain++;
      else problems.push({ window: index, call, status: reply.status, body: `unexplained result ${reply.text.slice(0, 300)}` });
    }),
  );
  await settle();
  now += WINDOW_MS;
  const windows = stack.gateway.measurement.closeWindow();
  await stack.gateway.controlLoop.idle();
  const after = snapshot();
  records.push({
    index,
    calls: after.calls.map((n, i) => n - before.calls[i]!),
    balanceCalls: after.balance.map((n, i) => n - before.balance[i]!),
    badDataLies: lies,
    wrongChainAnswers: wrongChain,
    states: [...stack.gateway.core.states()].map((s) => ({ ...s })),
    windows,
  });
}

function stateOf(record: WindowRecord, i: number): OperatorState {
  const s = record.states.find((x) => x.id === id(i));
  if (s === undefined) throw new Error(`no state for ${id(i)} in window ${record.index}`);
  return s;
}

/** The first window after which the operator carries a violation of `type`. */
function detectedAt(i: number, type: ViolationType): number {
  const r = records.find((rec) => stateOf(rec, i).violations.some((v) => v.type === type));
  return r === undefined ? -1 : r.index;
}

async function slashEvents(i: number): Promise<LedgerEvent[]> {
  return (await stack.gateway.core.events({ operatorId: id(i) })).filter((e) => e.type === 'slash');
}

async function admin(path: string, token: string | null = TOKEN): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${adminUrl}${path.replace(/^\//, '')}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

beforeAll(async () => {
  const profiles = [
    {},
    {},
    {},
    {}, // DEAD: stopped below
    { profile: { latencyMs: { median: 400, p99: 600 } } },
    { profile: { chainId: 5 } },
    { profile: { garbageRate: 1 } },
    { profile: { badDataRate: 1 } },
  ];
  stack = await startStack({
    now: () => now,
    autoMeasure: false,
    // 2 ETH each with a 1 ETH minimum: a slash alone never makes an operator ineligible,
    // so only a jail (or the wrong chain) can take one off the routes.
    operators: profiles.map((p) => ({ ...p, stakeEth: 2 })),
    config: {
      windowSeconds: WINDOW_MS / 1000,
      admin: { token: TOKEN },
      // Well above the slow sim's latency: slow is a performance fault, not a timeout.
      upstream: { attemptTimeoutMs: 3_000, requestDeadlineMs: 10_000 },
      staking: { crossCheck: { sampleRate: 1, settledDepth: 0 } },
    },
  });
  adminUrl = stack.gateway.adminUrl;
  // Expected answers, straight from the sims (before any of them is stopped).
  for (const call of CALLS) {
    honest.set(keyOf(call), await ask(stack.sims[GOOD[0]]!.url, call));
    badDataLie.set(keyOf(call), await ask(stack.sims[BAD_DATA]!.url, call));
    wrongChainAnswer.set(keyOf(call), await ask(stack.sims[WRONG_CHAIN]!.url, call));
  }
  // The fault model is what the test thinks it is.
  for (const a of ADDRESSES) {
    const key = keyOf({ method: 'eth_getBalance', params: [a, SETTLED_BLOCK] });
    expect(BigInt(badDataLie.get(key) as string)).toBe(BigInt(honest.get(key) as string) + 10n ** 18n);
    expect(wrongChainAnswer.get(key)).not.toBe(honest.get(key));
  }
  expect(honest.get(keyOf(CALLS[0]!))).toBe('0x1');
  expect(wrongChainAnswer.get(keyOf(CALLS[0]!))).toBe('0x5');

  await stack.sims[DEAD]!.stop();
  for (let w = 0; w < DETECTION_WINDOWS + AFTER_WINDOWS; w++) await driveWindow(w);
}, 55_000);

afterAll(async () => {
  await stack?.stop();
});

describe('staking end to end: faulty operators under client traffic', () => {
  it('clients never see an error: every answer is a valid result for the request', () => {
    expect(problems).toEqual([]);
    expect(records).toHaveLength(DETECTION_WINDOWS + AFTER_WINDOWS);
  });

  it('clients get the honest answer, except what a liar served before it was found out', () => {
    // The cross-check runs after the client has its answer (docs/architecture.md), so a
    // lie can reach a client until the liar is caught. Anything else is a failure above.
    const wrongChainFlaggedAt = detectedAt(WRONG_CHAIN, 'bad_data');
    expect(wrongChainFlaggedAt).toBe(0);
    for (const r of records) {
      if (r.index > wrongChainFlaggedAt) expect(r.wrongChainAnswers, `window ${r.index}`).toBe(0);
      // Every lie came from the liar: never more lies than it got calls.
      expect(r.badDataLies, `window ${r.index}`).toBeLessThanOrEqual(r.balanceCalls[BAD_DATA]!);
    }
    const total = records.reduce((n, r) => n + r.badDataLies + r.wrongChainAnswers, 0);
    expect(total).toBeLessThan(records.length * REQUESTS_PER_WINDOW);
  });

  it('every faulty operator gets its own violation type, and a slash with the violation id and evidence', async () => {
    const last = records[records.length - 1]!;
    for (const [index, type] of Object.entries(FAULTY)) {
      const i = Number(index);
      const state = stateOf(last, i);
      // Its own type, and no other: one fault, one violation type, the most specific. Each of
      // these faults also fails requests or lowers the score (wrong answers count as
      // failures), but a window judged for the fault is not also a performance window.
      expect(state.violations[0]?.type, id(i)).toBe(type);
      for (const v of state.violations) expect(v.type, `${id(i)} ${v.id}`).toBe(type);
      const slashes = await slashEvents(i);
      expect(slashes.length, id(i)).toBeGreaterThan(0);
      for (const v of state.violations) {
        expect(v.id, id(i)).toBe(`${id(i)}:${v.type}:${v.severity}:${Math.floor(v.timestamp / 3_600_000)}`);
        expect(v.evidence, `${v.id} evidence`).toBeDefined();
        const event = slashes.find((e) => e.id === v.id);
        expect(event, `slash event for ${v.id}`).toBeDefined();
        expect(event!.violationType).toBe(v.type);
        expect(event!.severity).toBe(v.severity);
        expect(event!.amount > 0n).toBe(true);
        expect(event!.amount.toString()).toBe(v.slashedWei);
        expect(event!.evidence).toEqual(v.evidence);
      }
      // Every slash event belongs to a recorded violation (none slashed without cause).
      for (const e of slashes) expect(state.violations.some((v) => v.id === e.id), e.id).toBe(true);
      // The first slash is the policy's base rate on the whole 2 ETH (no repeats yet).
      const first = slashes[0]!;
      const bps = DEFAULT_SLASH_TABLE[first.violationType!][first.severity!];
      expect(first.amount, first.id).toBe((STAKE_WEI * BigInt(bps)) / 10_000n);
    }
  });

  it('each fault is the one expected, found when expected', () => {
    const last = records[records.length - 1]!;
    // Garbage bodies are invalid envelopes: misbehavior, critical (all of its answers), jailed.
    expect(detectedAt(GARBAGE, 'misbehavior')).toBe(0);
    expect(stateOf(last, GARBAGE).violations.filter((v) => v.type === 'misbehavior').map((v) => v.severity)).toEqual(['critical']);
    // Wrong chain: bad data, critical, with the chain ids as evidence; jailed.
    const wrong = stateOf(last, WRONG_CHAIN).violations.filter((v) => v.type === 'bad_data');
    expect(wrong.map((v) => v.severity)).toEqual(['critical']);
    expect(wrong[0]!.evidence).toEqual({ expected: '0x1', reported: '0x5' });
    // Bad data: outvoted 2-of-3 by the cross-check; the evidence names the disagreeing answers.
    expect(detectedAt(BAD_DATA, 'bad_data')).toBe(0);
    for (const v of stateOf(last, BAD_DATA).violations.filter((x) => x.type === 'bad_data')) {
      expect(['medium', 'high']).toContain(v.severity);
      const evidence = v.evidence as { method: string; answer: string; majority: string; agreeingOperators: string[] }[];
      expect(evidence.length).toBeGreaterThan(0);
      for (const e of evidence) {
        expect(e.answer).not.toBe(e.majority);
        // The majority is honest operators (the slow one answers right, only slowly).
        for (const agreeing of e.agreeingOperators) expect([...GOOD, SLOW].map(id)).toContain(agreeing);
      }
    }
    // Slow: p95 over 250 ms for 3 consecutive judged windows.
    const slowAt = detectedAt(SLOW, 'performance_threshold');
    expect(slowAt).toBeGreaterThanOrEqual(2);
    expect(slowAt).toBeLessThan(DETECTION_WINDOWS);
    const slowWindow = records[slowAt]!.windows.find((w) => w.operatorId === id(SLOW))!;
    expect(slowWindow.p95Latency).toBeGreaterThan(250);
    expect(slowWindow.failures.timeout).toBe(0);
    // Dead: downtime once the outage has lasted downtimeMinSeconds (60 s = 6 windows).
    const deadAt = detectedAt(DEAD, 'downtime');
    expect(deadAt).toBe(5);
    expect(stateOf(last, DEAD).violations[0]!.durationMinutes).toBeGreaterThanOrEqual(1);
    // The slow one answers right and never times out: nothing but performance.
    expect(new Set(stateOf(last, SLOW).violations.map((v) => v.type))).toEqual(new Set(['performance_threshold']));
    // Critical ones are jailed; the others are not.
    for (const i of [GARBAGE, WRONG_CHAIN]) expect(stateOf(last, i).jailedUntil, id(i)).toBeGreaterThan(now);
    for (const i of [DEAD, SLOW, BAD_DATA]) expect(stateOf(last, i).jailedUntil, id(i)).toBe(0);
  });

  it('no good operator is ever slashed or has a violation', async () => {
    for (const i of GOOD) {
      for (const r of records) {
        const s = stateOf(r, i);
        expect(s.violations, `${id(i)} window ${r.index}`).toEqual([]);
        expect(s.slashed, `${id(i)} window ${r.index}`).toBe(0n);
        expect(s.jailedUntil).toBe(0);
      }
      expect(await slashEvents(i)).toEqual([]);
      expect(stack.gateway.core.state(id(i))!.active).toBe(STAKE_WEI);
      // And they did carry the traffic.
      expect(records.reduce((n, r) => n + r.balanceCalls[i]!, 0)).toBeGreaterThan(0);
    }
  });

  it('jailed and wrong-chain operators get no client traffic afterwards', () => {
    // The wrong chain is caught by the first probe round, before any client request: it
    // never serves a client at all.
    for (const r of records) expect(r.balanceCalls[WRONG_CHAIN], `${id(WRONG_CHAIN)} window ${r.index}`).toBe(0);
    for (const i of [GARBAGE, WRONG_CHAIN]) {
      const at = detectedAt(i, FAULTY[i]!);
      expect(at).toBeGreaterThanOrEqual(0);
      // Before: the garbage one was serving clients (so "nothing afterwards" means something).
      if (i === GARBAGE) expect(records[at]!.balanceCalls[i]!, `${id(i)} before`).toBeGreaterThan(0);
      for (const r of records.slice(at + 1)) {
        // Only the health probes of the window's round: eth_chainId and eth_blockNumber, and
        // the safe and finalized blocks in every fifth round (probes.finalityEveryRounds), the first included.
        expect(r.calls[i], `${id(i)} window ${r.index}`).toBe(r.index % 5 === 0 ? 4 : 2);
        expect(r.balanceCalls[i], `${id(i)} window ${r.index}`).toBe(0);
      }
    }
    // The operators that were slashed but not jailed are still routed (a slash is not a ban).
    const after = records.slice(DETECTION_WINDOWS);
    expect(after.reduce((n, r) => n + r.balanceCalls[SLOW]!, 0)).toBeGreaterThan(0);
    expect(probeRounds).toBe(records.length);
  });

  it('for every operator the ledger adds up: replay(events) equals the balances', async () => {
    await stack.gateway.core.refresh();
    for (const s of stack.gateway.core.states()) {
      const balances = replay(await stack.gateway.core.events({ operatorId: s.id }));
      expect(balances, s.id).toEqual({ active: s.active, unbonding: unbondingTotal(s), withdrawable: s.withdrawable, slashed: s.slashed });
      const view = stack.gateway.core.getOperator(s.id)!;
      expect([view.stakedAmount, view.unbondingAmount, view.withdrawableAmount, view.slashedAmount]).toEqual([
        balances.active,
        balances.unbonding,
        balances.withdrawable,
        balances.slashed,
      ]);
      expect(balances.active + balances.slashed).toBe(STAKE_WEI);
    }
  });

  it('the admin API shows the violations (behind the bearer token)', async () => {
    expect((await admin(`/v1/operators/${id(GARBAGE)}`, null)).status).toBe(401);
    expect((await admin(`/v1/operators/${id(GARBAGE)}`, 'wrong-token-wrong-token')).status).toBe(401);
    for (const [index, type] of Object.entries(FAULTY)) {
      const i = Number(index);
      const reply = await admin(`/v1/operators/${id(i)}`);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.id).toBe(id(i));
      expect(reply.body.violations.length).toBe(stack.gateway.core.state(id(i))!.violations.length);
      expect(reply.body.violations[0].type).toBe(type);
      for (const v of reply.body.violations) {
        expect(v.type).toBe(type);
        expect(typeof v.description).toBe('string');
        expect(typeof v.timestamp).toBe('number');
      }
      expect(BigInt(reply.body.slashedAmount)).toBe(stack.gateway.core.state(id(i))!.slashed);
      expect(BigInt(reply.body.slashedAmount) > 0n).toBe(true);
    }
    for (const i of GOOD) {
      const reply = await admin(`/v1/operators/${id(i)}`);
      expect(reply.status).toBe(200);
      expect(reply.body.violations).toEqual([]);
      expect(reply.body.slashedAmount).toBe('0');
    }
    const garbage = await admin(`/v1/operators/${id(GARBAGE)}`);
    expect(garbage.body.eligible).toBe(false);
    expect(garbage.body.jailedUntil).toBeGreaterThan(now);
  });

  it('/metrics shows din_operator_violations_total for the faulty ones only', async () => {
    const res = await fetch(`${adminUrl}metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const samples = text
      .split('\n')
      .filter((line) => line.startsWith('din_operator_violations_total{'))
      .map((line) => {
        const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
        return { labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) };
      });
    for (const [index, type] of Object.entries(FAULTY)) {
      const mine = samples.filter((s) => s.labels['operator'] === id(Number(index)));
      expect(mine.length, id(Number(index))).toBeGreaterThan(0);
      expect(mine.some((s) => s.labels['type'] === type), id(Number(index))).toBe(true);
      for (const s of mine) {
        expect(s.labels['type']).toBe(type);
        expect(s.value).toBeGreaterThanOrEqual(1);
      }
      const total = mine.reduce((n, s) => n + s.value, 0);
      expect(total).toBe(stack.gateway.core.state(id(Number(index)))!.violations.length);
    }
    for (const i of GOOD) expect(samples.filter((s) => s.labels['operator'] === id(i))).toEqual([]);
  });

  // Writes (drives two more windows): after the read-only checks.
  it('a liar that was caught stays demoted through a quiet window', async () => {
    // Probation is the fast demotion (weight 0, exploration traffic only) that a clean
    // window lifts. A window without client traffic (a quiet hour) has only health probes,
    // which ask eth_chainId and eth_blockNumber and compare nothing: it says nothing about
    // the answers that got the operator demoted, so it must not put a proven liar back at
    // full weight.
    expect(detectedAt(BAD_DATA, 'bad_data')).toBeGreaterThanOrEqual(0);
    const quiet = records.length;
    await driveWindow(quiet, 0);
    expect(records[quiet]!.balanceCalls[BAD_DATA]).toBe(0);
    const busy = records.length;
    await driveWindow(busy);
    const lies = records[busy]!.badDataLies;
    expect(problems).toEqual([]);
    expect(
      { probationAfterQuietWindow: stateOf(records[quiet]!, BAD_DATA).probation, liesToClientsNextWindow: lies },
      'the bad-data operator (badDataRate 1) after a window without traffic',
    ).toEqual({ probationAfterQuietWindow: true, liesToClientsNextWindow: expect.any(Number) });
    // Exploration alone (5 % of picks, spread over the eligible operators) stays well under this.
    expect(lies, 'lies served to clients in the busy window after the quiet one').toBeLessThanOrEqual(0.05 * REQUESTS_PER_WINDOW);
  });

  // Last: it writes (re-records windows).
  it('the same window processed again does not slash twice', async () => {
    const core = stack.gateway.core;
    const slashIds = async () => {
      const all: Record<string, string[]> = {};
      for (const i of [...GOOD, ...Object.keys(FAULTY).map(Number)]) all[id(i)] = (await slashEvents(i)).map((e) => e.id);
      return all;
    };
    const slashedNow = () => Object.fromEntries([...core.states()].map((s) => [s.id, s.slashed.toString()]));
    const before = await slashIds();
    const slashedBefore = slashedNow();
    const findingsOf = (i: number, violationEvidence: unknown) => ({
      badData: i === BAD_DATA ? (violationEvidence as never[]) : [],
      wrongChain: i === WRONG_CHAIN ? { expected: '0x1', reported: '0x5' } : null,
    });
    // The window in which each fault was first found, processed again with the same
    // findings (as a retried or duplicated delivery would), twice over.
    for (let round = 1; round <= 2; round++) {
      for (const [index, type] of Object.entries(FAULTY)) {
        const i = Number(index);
        const at = detectedAt(i, type);
        const window = records[at]!.windows.find((w) => w.operatorId === id(i))!;
        const violation = stateOf(records[at]!, i).violations.find((v) => v.type === type)!;
        await core.recordMetrics(id(i), window, findingsOf(i, violation.evidence));
      }
      expect(await slashIds(), `slash event ids after processing the same windows again (round ${round})`).toEqual(before);
      expect(slashedNow(), `slashed wei after round ${round}`).toEqual(slashedBefore);
    }
    for (const [operator, ids] of Object.entries(before)) expect(new Set(ids).size, operator).toBe(ids.length);
  });
});
