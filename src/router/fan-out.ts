/**
 * One call sent to several operators at once, answered from what they say together:
 * - `first_acceptance` (eth_sendRawTransaction with `routing.broadcastTransactions` > 1): the
 *   transaction reaches several mempools at once; the first operator that accepts it answers
 *   (a node that already knows it counts as accepting: the client gets the hash); when none
 *   does, the first operator's own error.
 * - `highest_quantity` (eth_getTransactionCount at `pending` with `routing.pendingNonceOperators`
 *   2): every operator's count is awaited and the highest answers, so a node that has not seen
 *   the client's last transaction yet cannot hand out a nonce already used.
 * No leg is resent: a write that may have reached an operator is never sent twice, and the
 * other legs already are the second chance.
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { ERRORS, GatewayError } from '../errors.js';
import { isNonceError, quantityResult, saysAlreadyKnown, transactionHash } from './answer-facts.js';
import { type Forwarder, type ReplyTarget, resultAnswer, withClientId } from './forward.js';
import type { RpcCall } from './jsonrpc.js';
import { type LegOwner, OperatorLeg } from './operator-leg.js';
import type { ResponseScan } from './response-scan.js';
import { ROUTING_REASON, type OperatorRef, type OperatorSet, type RandomSource } from './routing-table.js';

export type FanOutPolicy = 'first_acceptance' | 'highest_quantity';

/** An answer kept (copied) until every leg has spoken. */
interface KeptAnswer {
  readonly body: Buffer;
  readonly scan: ResponseScan;
}

export class FanOutCall implements LegOwner {
  private legs = 0;
  private settled = 0;
  private answered = false;
  /** The first operator error, to answer with when nobody accepts. */
  private firstError: KeptAnswer | undefined;
  /** highest_quantity: the best answer so far and its value. */
  private best: KeptAnswer | undefined;
  private bestValue = -1;
  private lastFailure: GatewayError | undefined;

  constructor(
    private readonly forwarder: Forwarder,
    private readonly chain: string,
    private readonly call: RpcCall,
    private readonly target: ReplyTarget,
    private readonly policy: FanOutPolicy,
    private readonly method: number,
  ) {}

  /** Sends the call to `count` distinct operators of `set` (fewer if it has fewer). */
  start(set: OperatorSet, count: number, random: RandomSource): void {
    const chosen: OperatorRef[] = [];
    for (let i = 0; i < count; i++) {
      const operator = set.pick(random, chosen);
      if (operator === undefined) break;
      chosen.push(operator);
    }
    if (chosen.length === 0) return this.forwarder.answerError(this.target, 'NO_OPERATOR', this.call.id);
    this.legs = chosen.length;
    const { attemptTimeoutMs, requestDeadlineMs } = this.forwarder.options;
    const timeoutMs = Math.min(attemptTimeoutMs, requestDeadlineMs);
    const started = performance.now();
    for (const operator of chosen) {
      operator.upstream.request(this.call, timeoutMs, false, new OperatorLeg(this, this.forwarder, this.method, operator, started), started);
    }
  }

  onLegAnswer(leg: OperatorLeg, body: Buffer, scan: ResponseScan): void {
    if (this.policy === 'first_acceptance') this.onTransactionAnswer(leg, body, scan);
    else if (!scan.isError) {
      const value = quantityResult(body, scan);
      if (value > this.bestValue) {
        this.bestValue = value;
        this.best = { body: Buffer.from(body), scan: { ...scan } };
      }
    } else this.firstError ??= { body: Buffer.from(body), scan: { ...scan } };
    this.legDone();
  }

  private onTransactionAnswer(leg: OperatorLeg, body: Buffer, scan: ResponseScan): void {
    const forwarder = this.forwarder;
    if (!scan.isError) {
      const hash = transactionHash(this.call.param(0));
      if (hash !== undefined) forwarder.chainReads.accepted(hash, leg.operator);
      if (!this.answered) this.answer(200, withClientId(body, scan, this.call));
      return;
    }
    if (saysAlreadyKnown(body, scan)) {
      const hash = transactionHash(this.call.param(0));
      if (hash !== undefined) {
        if (!this.answered) {
          forwarder.chainReads.count(this.chain, ROUTING_REASON.already_known);
          this.answer(200, resultAnswer(this.call, `"${hash}"`));
        }
        return;
      }
    }
    this.firstError ??= { body: Buffer.from(body), scan: { ...scan } };
  }

  onLegFailure(_leg: OperatorLeg, failure: GatewayError): void {
    this.lastFailure ??= failure;
    this.legDone();
  }

  /** A bug caught in a leg's callback: the client still gets an answer (the forwarder's internal error). */
  bug(err: unknown): void {
    this.answered = true;
    this.forwarder.internalError(err, this.target);
  }

  private legDone(): void {
    if (++this.settled < this.legs || this.answered) return;
    const kept = this.best ?? this.firstError;
    if (kept !== undefined && kept === this.firstError && this.policy === 'first_acceptance' && isNonceError(kept.body, kept.scan)) {
      // Answered as the operator said it; the transaction went to several operators and may have landed through another.
      this.forwarder.notice('nonce error answered for a transaction sent to several operators: it may have landed through another', { chain: this.chain, operators: this.legs });
    }
    if (kept !== undefined) return this.answer(200, withClientId(kept.body, kept.scan, this.call));
    const failure = this.lastFailure ?? new GatewayError('NO_OPERATOR');
    this.answer(ERRORS[failure.code].httpStatus, null, failure);
  }

  private answer(status: number, body: Buffer | null, failure?: GatewayError): void {
    this.answered = true;
    if (failure !== undefined) this.forwarder.answerError(this.target, failure.code, this.call.id, failure.detail);
    else this.forwarder.answer(this.target, status, body);
  }
}
