/**
 * Trust before traffic: a deterministic request (one the cross-check knows: the chain id, state
 * at a settled block) picked onto an operator that has not proven itself yet goes to a second
 * operator too (a proven one when there is one), and the client gets an answer only once two
 * operators agree on it:
 * - both agree: the answer goes out, and each unproven one of them is a step closer to proven;
 * - they disagree: a third operator decides; the client gets the answer two agree on, and the
 *   cross-check files the verdict (the outvoted operator's `wrong_result`, bad-data evidence);
 * - one of them fails: another operator takes its place as the second opinion.
 * The unproven operator's answer is never served on its own word. When no second opinion can be
 * had (the chain has one operator, or every other one failed), the client gets the verifier's
 * answer if there is one, else the last failure.
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { GatewayError } from '../errors.js';
import type { CrossChecker } from './cross-check.js';
import { type Forwarder, type ReplyTarget, withClientId } from './forward.js';
import type { RpcCall } from './jsonrpc.js';
import { type LegOwner, OperatorLeg } from './operator-leg.js';
import type { ResponseScan } from './response-scan.js';
import type { ChainRoute, OperatorRef, RandomSource } from './routing-table.js';

/** One operator's answer, copied (the upstream's body goes back to the pool). */
interface Opinion {
  readonly operator: OperatorRef;
  readonly body: Buffer;
  readonly scan: ResponseScan;
  /** The answer's key for agreement (CrossChecker.answerKey); undefined: an error or uninspectable. */
  readonly key: string | undefined;
}

/** At most this many operators are asked for one request: the unproven one, a verifier, a tie-breaker. */
const MAX_OPINIONS = 3;

export class VerifiedCall implements LegOwner {
  private readonly opinions: Opinion[] = [];
  private readonly asked: OperatorRef[] = [];
  private pending = 0;
  private answered = false;
  private lastFailure: GatewayError | undefined;

  constructor(
    private readonly forwarder: Forwarder,
    private readonly checker: CrossChecker,
    private readonly chain: string,
    private readonly route: ChainRoute,
    private readonly call: RpcCall,
    private readonly target: ReplyTarget,
    private readonly method: number,
    private readonly random: RandomSource,
  ) {}

  /** Asks `unproven` and a verifier at once. */
  start(unproven: OperatorRef): void {
    this.ask(unproven);
    const verifier = this.route.verifierFor(unproven, this.random);
    if (verifier !== undefined) this.ask(verifier);
  }

  private ask(operator: OperatorRef): void {
    this.asked.push(operator);
    this.pending++;
    const { attemptTimeoutMs, requestDeadlineMs } = this.forwarder.options;
    const started = performance.now();
    const leg = new OperatorLeg(this, this.forwarder, this.method, operator, started);
    operator.upstream.request(this.call, Math.min(attemptTimeoutMs, requestDeadlineMs), false, leg, started);
  }

  onLegAnswer(leg: OperatorLeg, body: Buffer, scan: ResponseScan): void {
    const key = scan.isError ? undefined : this.checker.answerKey(this.call, body);
    this.opinions.push({ operator: leg.operator, body: Buffer.from(body), scan: { ...scan }, key });
    this.settleOne();
  }

  onLegFailure(_leg: OperatorLeg, failure: GatewayError): void {
    this.lastFailure = failure;
    this.settleOne();
  }

  /** A bug caught in a callback: the client still gets an answer. */
  bug(err: unknown): void {
    if (this.answered) return;
    this.answered = true;
    this.forwarder.internalError(err, this.target);
  }

  private settleOne(): void {
    if (--this.pending > 0 || this.answered) return;
    const agreeing = this.agreement();
    if (agreeing !== undefined) return this.finish(agreeing);
    // Errors (a revert at a settled block, say) are not compared: another operator's error is the answer.
    if (this.opinions.some((o) => o.operator !== this.asked[0] && o.key === undefined) && this.opinions.every((o) => o.key === undefined)) return this.finish(undefined);
    // No two agree yet: one more opinion, if one may be asked.
    if (this.asked.length < MAX_OPINIONS) {
      const next = this.route.verifierFor(this.asked[0]!, this.random, this.asked.slice(1));
      if (next !== undefined) return this.ask(next);
    }
    this.finish(undefined);
  }

  /** Two opinions with the same key, if there are: the first pair found. */
  private agreement(): [Opinion, Opinion] | undefined {
    const { opinions } = this;
    for (let i = 0; i < opinions.length; i++) {
      for (let j = i + 1; j < opinions.length; j++) {
        const key = opinions[i]!.key;
        if (key !== undefined && key === opinions[j]!.key) return [opinions[i]!, opinions[j]!];
      }
    }
    return undefined;
  }

  private finish(agreeing: [Opinion, Opinion] | undefined): void {
    this.answered = true;
    const forwarder = this.forwarder;
    if (agreeing !== undefined) {
      for (const opinion of agreeing) forwarder.provingAnswer(opinion.operator, this.route);
      // Whoever answered otherwise is judged by the cross-check's vote (its evidence, its slash).
      const dissent = this.opinions.find((o) => o.key !== agreeing[0].key && o.key !== undefined);
      if (dissent !== undefined) this.checker.checkNow(this.chain, this.call, dissent.operator, dissent.body);
      const [chosen] = agreeing;
      return forwarder.answer(this.target, 200, withClientId(chosen.body, chosen.scan, this.call));
    }
    // Nobody agrees (or nobody else could be asked): never the unproven operator's word alone.
    const unproven = this.asked[0]!;
    const fallback = this.opinions.find((o) => o.operator !== unproven && this.route.isProven(o.operator))
      ?? (this.opinions.length === 1 && this.asked.length === 1 ? this.opinions[0] : undefined)
      ?? this.opinions.find((o) => o.operator !== unproven);
    if (fallback !== undefined) return forwarder.answer(this.target, 200, withClientId(fallback.body, fallback.scan, this.call));
    const failure = this.lastFailure ?? new GatewayError('NO_OPERATOR');
    forwarder.answerError(this.target, failure.code, this.call.id, failure.detail);
  }
}
