/**
 * Active health probes: every interval, each operator gets `eth_chainId` and
 * `eth_blockNumber` (one after the other, never batched, since not every node takes
 * batches). Results feed uptime, head lag and chain identity, apart from client traffic.
 *
 * - Finality: every `finalityEveryRounds`-th round (the first included) also asks
 *   `eth_getBlockByNumber` for "safe", then "finalized", and reads the block's number. An
 *   operator that answers one of them with a JSON-RPC error does not serve it: it is asked
 *   for it again only every NOT_SERVING_RETRY_ROUNDS-th such round.
 * - Pacing: `intervalMs` may be a function, read again for every round (the gateway derives
 *   it from the chain's block time).
 * - `skipHeadProbe(index)`: true for an operator whose head is known well enough (from client
 *   answers): that round asks it eth_chainId only, and tells the sink `headAsked: false`.
 */
import { parseJsonBody } from '../router/jsonrpc.js';
import { blockNumberOfAnswer } from './block-number-answer.js';
import { reportInternalError } from './internal-errors.js';
import { CallBody, type Upstream } from '../router/upstream.js';

export interface ProbeTarget {
  readonly index: number;
  readonly upstream: Upstream;
}

/** `unreachable`: refused or timed out (down). `invalid`: it answered, but not with a well-formed quantity. */
export type ProbeResult = 'ok' | 'invalid' | 'unreachable';

/** How a probe that was not `ok` failed: refused (or reset), no answer in time, or answered but not validly. */
export type ProbeFailure = 'connect' | 'timeout' | 'invalid';

/** What a probe found beyond its result, head and chain id. */
export interface ProbeDetails {
  /**
   * False when this probe did not ask for the head (skipHeadProbe): `head` is then null
   * because it was not asked, not because the answer was invalid; the result is `ok` when the
   * chain id was.
   */
  readonly headAsked: boolean;
  /**
   * Present only when this probe asked for them (a finality round, the operator not known to
   * refuse them, reached): the block number, or null (a JSON-RPC error, no block, an answer
   * that is not a valid block number, no answer in time).
   */
  readonly safe?: number | null;
  readonly finalized?: number | null;
  /** Present when the result is not `ok`: how it failed (evidence a downtime violation carries). */
  readonly failure?: ProbeFailure;
}

export interface ProbeSink {
  recordProbe(operatorIndex: number, result: ProbeResult, head: number | null, chainId: string | null, details?: ProbeDetails): void;
}

export interface HealthProberOptions {
  /** Between the starts of two rounds, in ms: a number, or a function read before each round is scheduled. */
  readonly intervalMs: number | (() => number);
  readonly timeoutMs: number;
  /** Every how many rounds `safe` and `finalized` are asked as well (default 5). */
  readonly finalityEveryRounds?: number;
  /** True for an operator whose head need not be asked this round: only its chain id is. */
  readonly skipHeadProbe?: (index: number) => boolean;
}

/** An operator that refused a finality tag is asked for it again every this many finality rounds. */
export const NOT_SERVING_RETRY_ROUNDS = 10;
/** Bounds on a timer delay from an `intervalMs` function, whatever it returns. */
const MIN_TIMER_MS = 10;
const MAX_TIMER_MS = 2 ** 31 - 1;

const CHAIN_ID = new CallBody('eth_chainId');
const BLOCK_NUMBER = new CallBody('eth_blockNumber');
const FINALITY_TAGS = ['safe', 'finalized'] as const;
type FinalityTag = (typeof FINALITY_TAGS)[number];
const BLOCK_BY_TAG: Record<FinalityTag, CallBody> = {
  safe: new CallBody('eth_getBlockByNumber', '["safe",false]'),
  finalized: new CallBody('eth_getBlockByNumber', '["finalized",false]'),
};
const HEX_QUANTITY = /^0x[0-9a-fA-F]{1,16}$/;

/** An upstream failure that means the operator did answer, with something that is not an answer to the call. */
function answeredInvalidly(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UPSTREAM_INVALID_ENVELOPE' || code === 'UPSTREAM_HTTP_OTHER';
}

/** The `result` of a JSON-RPC answer (its id proven by the upstream) when it is a hex quantity, else null. */
function hexResult(body: Buffer): string | null {
  const answer = parseJsonBody(body) as { result?: unknown } | undefined;
  return typeof answer?.result === 'string' && HEX_QUANTITY.test(answer.result) ? answer.result.toLowerCase() : null;
}

export class HealthProber {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private rounds = 0;
  /** Per operator index and tag: finality rounds left to skip after it refused the tag. */
  private readonly notServing = new Map<number, Record<FinalityTag, number>>();

  constructor(
    private readonly targets: () => Iterable<ProbeTarget>,
    private readonly sink: ProbeSink,
    private readonly options: HealthProberOptions,
    /** Called after every round, e.g. to act on a chain id at once rather than at the window. */
    private readonly onRound: () => void = () => {},
  ) {}

  /** Probes one operator: ok when the chain id and the head (when asked) answer with well-formed quantities. */
  async probe(target: ProbeTarget, askFinality = false): Promise<void> {
    const headAsked = this.options.skipHeadProbe?.(target.index) !== true;
    let chainId: string | null = null;
    let head: number | null = null;
    let reached = true;
    let timedOut = false;
    try {
      chainId = await this.ask(target, CHAIN_ID);
      if (headAsked) {
        const hex = await this.ask(target, BLOCK_NUMBER);
        if (hex !== null) head = Number.parseInt(hex, 16);
      }
    } catch (err) {
      // An unreachable or timed-out operator is exactly what the probe records.
      reached = false;
      timedOut = (err as { code?: unknown } | null)?.code === 'UPSTREAM_TIMEOUT';
    }
    const details: { headAsked: boolean; safe?: number | null; finalized?: number | null; failure?: ProbeFailure } = { headAsked };
    if (reached && askFinality) {
      for (const tag of FINALITY_TAGS) {
        const height = await this.askFinality(target, tag);
        if (height !== undefined) details[tag] = height;
      }
    }
    const result = chainId !== null && (head !== null || !headAsked) ? 'ok' : reached ? 'invalid' : 'unreachable';
    if (result !== 'ok') details.failure = result === 'invalid' ? 'invalid' : timedOut ? 'timeout' : 'connect';
    this.sink.recordProbe(target.index, result, head, chainId, details);
  }

  /** The number of the operator's `tag` block; null when it gave none; undefined when not asked (it refused the tag lately). */
  private async askFinality(target: ProbeTarget, tag: FinalityTag): Promise<number | null | undefined> {
    const skips = this.notServing.get(target.index);
    if (skips !== undefined && skips[tag] > 0) {
      skips[tag]--;
      return undefined;
    }
    let height: number | null | 'error';
    try {
      const reply = await target.upstream.send(BLOCK_BY_TAG[tag], this.options.timeoutMs, true);
      height = reply.status === 200 ? blockNumberOfAnswer(reply.body) : null;
    } catch {
      // No answer this time (a timeout, a broken envelope): not a refusal.
      return null;
    }
    if (height !== 'error') return height;
    const refused = skips ?? { safe: 0, finalized: 0 };
    refused[tag] = NOT_SERVING_RETRY_ROUNDS - 1;
    this.notServing.set(target.index, refused);
    return null;
  }

  /**
   * The hex quantity one call answers with; null when the operator answered, but not with one
   * (an error, garbage, another request's id: the upstream refuses those); throws when it was
   * not reached.
   */
  private async ask(target: ProbeTarget, call: CallBody): Promise<string | null> {
    try {
      const reply = await target.upstream.send(call, this.options.timeoutMs, true);
      return reply.status === 200 ? hexResult(reply.body) : null;
    } catch (err) {
      if (answeredInvalidly(err)) return null;
      throw err;
    }
  }

  /** One round over every operator, concurrently. */
  async probeAll(): Promise<void> {
    const askFinality = this.rounds % (this.options.finalityEveryRounds ?? 5) === 0;
    this.rounds++;
    const targets = Array.from(this.targets());
    await Promise.all(targets.map((t) => this.probe(t, askFinality)));
    // Operators gone since are forgotten.
    if (this.notServing.size > 0) {
      const present = new Set(targets.map((t) => t.index));
      for (const index of this.notServing.keys()) if (!present.has(index)) this.notServing.delete(index);
    }
    this.onRound();
  }

  /** The delay before the next round. */
  private nextDelay(): number {
    const interval = this.options.intervalMs;
    const ms = typeof interval === 'function' ? interval() : interval;
    return Number.isFinite(ms) ? Math.min(Math.max(ms, MIN_TIMER_MS), MAX_TIMER_MS) : MIN_TIMER_MS;
  }

  start(): void {
    if (this.timer !== undefined) return;
    const tick = () => {
      // A round that outlives the interval is not doubled up.
      this.running ??= this.probeAll()
        .catch((err: unknown) => reportInternalError('probe', err))
        .finally(() => (this.running = undefined));
      this.timer = setTimeout(tick, this.nextDelay());
      this.timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
