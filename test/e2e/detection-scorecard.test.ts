/**
 * The detection scorecard: honest operators of several kinds and faulty ones of each kind
 * behind one gateway (in-process, injected clock, windows closed by hand), under client
 * traffic, for a fixed number of windows; once at normal load and once with the gateway's own
 * event loop saturated. Every honest operator must end with no violation, every faulty one with
 * its own violation type (and no other) within the documented number of windows. The suite
 * prints the confusion table (docs/architecture.md keeps it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { SimProfile } from '../../src/sim/index.js';
import type { ViolationType } from '../../src/types.js';
import { post, rpc, type Stack, startStack } from '../support/stack.js';
import { saturateEventLoop } from '../support/event-loop.js';

const WINDOW_MS = 10_000;
const WINDOWS = 10;
const REQUESTS_PER_WINDOW = 300;
const SETTLED = '0x10';
const ADDRESS = '0x742d35cc6634c0532925a3b844bc9e7595f0beb0';
const CONTRACT = '0x00000000219ab540356cbb839cbe05303d7705fa';

interface Role {
  readonly name: string;
  readonly profile: Partial<SimProfile>;
  /** The violation it must get (null: none), at normal load and with the gateway overloaded. */
  readonly expected: ViolationType | null;
  readonly expectedOverloaded: ViolationType | null;
  /** The window by which it must be found (1-based), at normal load. */
  readonly within?: number;
  /** Stopped before the first window. */
  readonly dead?: boolean;
  /** With the gateway overloaded, being on probation at the end (no traffic, not yet convicted) is accepted. */
  readonly demotedSufficesOverloaded?: boolean;
}

const ROLES: readonly Role[] = [
  { name: 'honest-geth', profile: {}, expected: null, expectedOverloaded: null },
  { name: 'honest-nethermind', profile: { client: 'nethermind' }, expected: null, expectedOverloaded: null },
  { name: 'honest-far', profile: { latencyMs: { median: 150, p99: 200 } }, expected: null, expectedOverloaded: null },
  { name: 'honest-geth-2', profile: {}, expected: null, expectedOverloaded: null },
  { name: 'dead', profile: {}, expected: 'downtime', expectedOverloaded: 'downtime', within: 8, dead: true },
  // Beyond the 250 ms p95 target; judged only when the gateway is not itself the bottleneck.
  { name: 'slow', profile: { latencyMs: { median: 400, p99: 600 } }, expected: 'performance_threshold', expectedOverloaded: null, within: 5 },
  { name: 'wrong-chain', profile: { chainId: 5 }, expected: 'bad_data', expectedOverloaded: 'bad_data', within: 1 },
  // Under the gateway's overload its first windows may bring it too little traffic to judge; its
  // invalid probes demote it at once (no client traffic but exploration), and it stays convicted
  // of nothing until it is given traffic again: accepted there as demoted, shown as such.
  { name: 'garbage', profile: { garbageRate: 0.3 }, expected: 'misbehavior', expectedOverloaded: 'misbehavior', within: 4, demotedSufficesOverloaded: true },
  // The two liars lie on different methods: simulated lies are deterministic, so two liars asked the
  // same question would tell the same lie and outvote an honest operator (collusion, which a 2-of-3
  // vote cannot tell from the truth: docs/security.md).
  { name: 'subtle-liar', profile: { badDataRate: 0.05, lieMethods: ['eth_getBalance', 'eth_getBlockByNumber'] }, expected: 'bad_data', expectedOverloaded: 'bad_data', within: 6 },
  { name: 'call-liar', profile: { badDataRate: 0.5, lieMethods: ['eth_call'] }, expected: 'bad_data', expectedOverloaded: 'bad_data', within: 4 },
];

const CALLS: ReadonlyArray<{ method: string; params: unknown[] }> = [
  { method: 'eth_chainId', params: [] },
  { method: 'eth_getBalance', params: [ADDRESS, SETTLED] },
  { method: 'eth_getBalance', params: [CONTRACT, SETTLED] },
  { method: 'eth_getBlockByNumber', params: [SETTLED, false] },
  { method: 'eth_call', params: [{ to: CONTRACT, data: '0x70a08231' }, SETTLED] },
  { method: 'eth_blockNumber', params: [] },
  { method: 'eth_getBalance', params: [ADDRESS, 'latest'] },
];

/** Per role: the window (1-based) each violation type was first seen. */
type Detections = Map<string, Map<ViolationType, number>>;
/** The roles on probation when the run ended. */
type Demoted = Set<string>;

async function runScenario(overloaded: boolean): Promise<{ detections: Detections; demoted: Demoted; clientErrors: number; overloadedWindows: number }> {
  // Windows on a whole hour (violation ids carry the hour), the clock moved by hand.
  let now = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1_000;
  const stack: Stack = await startStack({
    now: () => now,
    autoMeasure: false,
    operators: ROLES.map((r) => ({ profile: r.profile, stakeEth: 2 })),
    config: {
      windowSeconds: WINDOW_MS / 1000,
      routing: { chainAware: true },
      upstream: { attemptTimeoutMs: 3_000, requestDeadlineMs: 10_000 },
      staking: { provingAnswers: 50, crossCheck: { sampleRate: 0.5 } },
    },
  });
  stacks.push(stack);
  const detections: Detections = new Map(ROLES.map((r) => [r.name, new Map()]));
  let clientErrors = 0;
  let overloadedWindows = 0;
  const demoted: Demoted = new Set();
  try {
    for (const [i, role] of ROLES.entries()) if (role.dead) await stack.sims[i]!.stop();
    for (let w = 1; w <= WINDOWS; w++) {
      const release = overloaded ? saturateEventLoop(120, 130) : () => {};
      try {
        await stack.gateway.prober.probeAll();
        stack.gateway.rebuildRoutes();
        const replies = await Promise.all(
          Array.from({ length: REQUESTS_PER_WINDOW }, (_, k) => {
            const call = CALLS[k % CALLS.length]!;
            return post(stack.url, rpc(call.method, k, call.params));
          }),
        );
        clientErrors += replies.filter((r) => r.status !== 200 || r.json?.error !== undefined).length;
      } finally {
        release();
      }
      now += WINDOW_MS;
      stack.gateway.measurement.closeWindow();
      await stack.gateway.controlLoop.idle();
      for (const [i, role] of ROLES.entries()) {
        const seen = detections.get(role.name)!;
        for (const v of stack.gateway.core.state(`op${i}`)!.violations) if (!seen.has(v.type)) seen.set(v.type, w);
      }
    }
    overloadedWindows = stack.gateway.controlLoop.gatewayJudgment.overloadedWindows;
    for (const [i, role] of ROLES.entries()) if (stack.gateway.core.state(`op${i}`)!.probation) demoted.add(role.name);
  } finally {
    await stack.stop();
  }
  return { detections, demoted, clientErrors, overloadedWindows };
}

/** The confusion table: per role, what was expected, what was found and when, and the verdict. */
function table(title: string, detections: Detections, demoted: Demoted, overloaded: boolean): string {
  const rows = ROLES.map((role) => {
    const expected = overloaded ? role.expectedOverloaded : role.expected;
    const found = detections.get(role.name)!;
    const foundText = found.size === 0 ? (demoted.has(role.name) ? '- (demoted: on probation)' : '-') : [...found].map(([type, w]) => `${type} (window ${w})`).join(', ');
    const verdict =
      expected === null
        ? found.size === 0 ? 'true negative' : 'FALSE POSITIVE'
        : found.has(expected) && found.size === 1
          ? 'true positive'
          : found.has(expected)
            ? 'true positive + FALSE POSITIVE'
            : demoted.has(role.name) && found.size === 0 ? 'demoted, not yet convicted' : 'FALSE NEGATIVE';
    return `| ${role.name} | ${expected ?? 'none'} | ${foundText} | ${verdict} |`;
  });
  return [`${title}`, '| operator | expected | found (first window) | verdict |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const stacks: Stack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop().catch(() => {});
});

describe('detection scorecard', () => {
  for (const overloaded of [false, true]) {
    it(`${overloaded ? 'with the gateway overloaded' : 'at normal load'}: no honest operator convicted, every faulty one convicted of its own fault`, async () => {
      const { detections, demoted, clientErrors, overloadedWindows } = await runScenario(overloaded);
      console.log(table(`Detection scorecard, ${WINDOWS} windows of ${WINDOW_MS / 1000} s, ${overloaded ? 'gateway overloaded' : 'normal load'} (${overloadedWindows} windows judged the gateway's overload):`, detections, demoted, overloaded));
      // The gateway saw its own overload in every window of the overloaded run. At normal load a
      // machine busy with other work (the rest of the test suite) may starve it for a window or
      // two, which it must then see as its own overload: those windows judge no performance, so
      // they give the slow operator's deadline that much more.
      if (overloaded) expect(overloadedWindows).toBe(WINDOWS);
      else expect(overloadedWindows).toBeLessThanOrEqual(WINDOWS / 2);
      for (const role of ROLES) {
        const expected = overloaded ? role.expectedOverloaded : role.expected;
        const found = detections.get(role.name)!;
        if (overloaded && role.demotedSufficesOverloaded && found.size === 0 && demoted.has(role.name)) continue;
        expect([...found.keys()], role.name).toEqual(expected === null ? [] : [expected]);
        if (expected !== null && !overloaded && role.within !== undefined) {
          expect(found.get(expected), `${role.name}: found by window ${role.within}`).toBeLessThanOrEqual(role.within + overloadedWindows);
        }
      }
      // Clients are served throughout: the faulty operators' failures are retried elsewhere.
      expect(clientErrors).toBeLessThanOrEqual(overloaded ? REQUESTS_PER_WINDOW : 5);
    }, 120_000);
  }
});
