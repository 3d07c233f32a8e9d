/**
 * Forwarding with failover. A request goes to one weighted pick; when the attempt fails in
 * a retryable way it goes to a different operator, up to `maxAttempts`, inside the client's
 * deadline. Every attempt is reported to the recorder, attributed to the operator that made it.
 */
// Imported rather than global: Node's globals Buffer and performance are accessors, a getter call on every use.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { ERRORS, GatewayError, type GatewayErrorCode } from '../errors.js';
import type { AttemptOutcome, AttemptRecorder, ClientFault } from '../metrics/attempt-recorder.js';
import { BATCH_METHOD, KNOWN_METHODS, methodIndex } from '../metrics/method-labels.js';
import { NON_IDEMPOTENT_METHODS, gatewayErrorResponse, mayShareConnection, parseRequestBody, type BatchEntry, type JsonRpcId, type ParsedBody, type RpcCall } from './jsonrpc.js';
import { type ChainRoute, type OperatorRef, type OperatorSet, type RandomSource, ROUTED_ANYWHERE, ROUTING_REASON, type RoutingState } from './routing-table.js';
import { NEED_ANY, NEED_TIP, blockNeed } from './block-need.js';
import { blockNumberOfResult, isNonceError, quantityResult, resultIsNull, saysAlreadyKnown, saysBlockUnknown, transactionHash } from './answer-facts.js';
import { ChainReads } from './chain-reads.js';
import { FanOutCall } from './fan-out.js';
import { VerifiedCall } from './verified-call.js';
import { giveBody, takeBody } from './body-pool.js';
import type { CrossChecker } from './cross-check.js';
import { copyBytes } from './bytes.js';
import { type MemoryBudget, UNLIMITED_BUDGET } from './memory-budget.js';
import type { BatchScan, ResponseScan } from './response-scan.js';
import { UpstreamError, type UpstreamBody, type UpstreamHandler, type VerifiedAnswer } from './upstream.js';

export interface ForwarderOptions {
  readonly maxAttempts: number;
  readonly attemptTimeoutMs: number;
  readonly requestDeadlineMs: number;
  readonly maxBatchSize: number;
  /** Chain-aware routing (see ChainRoute.setFor and SingleCall's answer checks); off: every request may go to any operator. */
  readonly chainAware?: boolean;
  /** Operators an eth_sendRawTransaction goes to at once (the first acceptance answers). */
  readonly broadcastTransactions?: number;
  /** Operators at the tip asked for eth_getTransactionCount at `pending` (the highest answers). */
  readonly pendingNonceOperators?: number;
  /** How long an eth_blockNumber answer sets a floor for the later ones. */
  readonly blockNumberHoldMs?: number;
  /** How long reads of an accepted transaction prefer the operator that accepted it. */
  readonly readAfterWriteMs?: number;
}

/** What the forwarder tells its owner about operators and clients, off the answer's path. */
export interface ForwarderEvents {
  /** An answer showed `operator` at block `head` or beyond (eth_blockNumber, the latest block). */
  readonly onAnswerHead?: (operator: OperatorRef, head: number) => void;
  /** Something a person running the gateway should read (a nonce error after a write that may have landed). */
  readonly onNotice?: (message: string, detail: Record<string, unknown>) => void;
  /** An operator still proving itself gave an answer another operator agreed with. */
  readonly onProvingAnswer?: (operator: OperatorRef) => void;
}

/**
 * Where the answer to one body goes (an HTTP exchange, a WebSocket message): an object the
 * front already has per request, rather than a callback closure per request.
 */
export interface ReplyTarget {
  /** Set by the Forwarder once it has answered: a body is answered exactly once. */
  answered: boolean;
  /** Bytes the request holds of the memory budget until it is answered (set by the Forwarder). */
  held: number;
  /** Writes or copies `body` before it returns, and keeps no reference to it: it may be an operator's reply, used again next (body-pool.ts). */
  reply(status: number, body: string | Buffer | null): void;
  /**
   * Charges a valid body to its client's rate limit (rpc-server.ts): undefined when admitted,
   * else the refusal to answer with (HTTP 429).
   */
  admit?(parsed: AdmissibleBody): string | undefined;
}

/** A body that parsed into calls: what admission charges. */
export type AdmissibleBody = Exclude<ParsedBody, { kind: 'error' }>;

export const OUTCOME_OF: Readonly<Partial<Record<GatewayErrorCode, AttemptOutcome>>> = {
  UPSTREAM_CONNECT: 'connect',
  UPSTREAM_TIMEOUT: 'timeout',
  UPSTREAM_HTTP_5XX: 'http_5xx',
  UPSTREAM_HTTP_429: 'http_429',
  UPSTREAM_HTTP_OTHER: 'http_other',
  UPSTREAM_INVALID_ENVELOPE: 'invalid_envelope',
};

/** HTTP-level failures: 429 and 5xx are retried elsewhere; the body is not trusted. */
export function httpFailure(status: number): UpstreamError | GatewayError | undefined {
  if (status === 429) return new GatewayError('UPSTREAM_HTTP_429', 'HTTP 429');
  if (status >= 500) return new GatewayError('UPSTREAM_HTTP_5XX', `HTTP ${status}`);
  return undefined;
}

function invalidEnvelope(status: number, detail: string): GatewayError {
  return status === 200 ? new GatewayError('UPSTREAM_INVALID_ENVELOPE', detail) : new GatewayError('UPSTREAM_HTTP_OTHER', `HTTP ${status}`);
}

export function micros(startedMs: number, endedMs: number = performance.now()): number {
  return Math.round((endedMs - startedMs) * 1000);
}

/** Another attempt may go out only if the error is retryable and, for writes, surely never sent. */
function mayRetry(err: GatewayError, write: boolean): boolean {
  if (!err.spec.retryable) return false;
  return !write || (err instanceof UpstreamError && err.neverSent);
}

export class Forwarder {
  private inflight = 0;
  private crossChecker: CrossChecker | undefined;
  private draining = false;
  private drained: (() => void) | undefined;
  /** This thread's memory of what it answered (block number floors, accepted transactions) and routing counts. */
  readonly chainReads: ChainReads;
  readonly chainAware: boolean;
  private events: ForwarderEvents = {};

  constructor(
    private readonly routing: RoutingState,
    private readonly recorder: AttemptRecorder,
    readonly options: ForwarderOptions,
    private readonly random: RandomSource = Math.random,
    private readonly onInternalError: (err: unknown) => void = (err) => console.error(err),
    /** What requests in flight hold: the client's body, and the request written upstream from it. */
    readonly budget: MemoryBudget = UNLIMITED_BUDGET,
  ) {
    this.chainAware = options.chainAware ?? false;
    this.chainReads = new ChainReads({ holdMs: options.blockNumberHoldMs ?? 60_000, readAfterWriteMs: options.readAfterWriteMs ?? 5_000 });
  }

  /** Where heads learned from answers and notices go. */
  useEvents(events: ForwarderEvents): void {
    this.events = events;
  }

  /** The highest head each operator's answers showed (by dense index), so only a new block is told. */
  private readonly answerHeads: number[] = [];

  /** An answer showed `operator` at `head`: told to the owner when it is higher than any before (once per block, not per answer). */
  answerHead(operator: OperatorRef, head: number): void {
    const known = this.answerHeads[operator.index];
    if (known !== undefined && head <= known) return;
    this.answerHeads[operator.index] = head;
    this.events.onAnswerHead?.(operator, head);
  }

  notice(message: string, detail: Record<string, unknown>): void {
    this.events.onNotice?.(message, detail);
  }

  /**
   * The block number to answer an `eth_blockNumber` with, which `operator` answered `reported`
   * (the floor and ceiling of ChainReads.blockNumber, a change counted as block_number_held);
   * the head it showed is told on the way.
   */
  heldBlockNumber(chain: string, route: ChainRoute, operator: OperatorRef, reported: number): number {
    this.answerHead(operator, reported);
    const heights = route.heights;
    const held = this.chainReads.blockNumber(chain, reported, heights?.tip ?? -1, heights?.maxBlockLag ?? 0);
    if (held !== reported) this.chainReads.count(chain, ROUTING_REASON.block_number_held);
    return held;
  }

  /** `operator` answered in agreement with another: a step towards proven, if it is not yet. */
  provingAnswer(operator: OperatorRef, route: ChainRoute): void {
    if (!route.isProven(operator)) this.events.onProvingAnswer?.(operator);
  }

  /** Samples successful deterministic answers for a 2-of-3 check against other operators. */
  useCrossChecker(checker: CrossChecker): void {
    this.crossChecker = checker;
  }

  /** For faults the HTTP front detects before a body reaches `handle` (an oversized body). */
  recordClientFault(fault: ClientFault): void {
    this.recorder.recordClientFault(fault);
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  /**
   * Answers one HTTP body or WebSocket message for `chain`: calls `target.reply` exactly once,
   * at once for what the gateway answers itself, else from the upstream's socket callback.
   */
  handle(chain: string, body: Buffer, target: ReplyTarget): void {
    if (this.draining) {
      target.answered = true;
      target.reply(ERRORS.SHUTTING_DOWN.httpStatus, gatewayErrorResponse(null, 'SHUTTING_DOWN'));
      return;
    }
    // The client's copy of the body and the request written from it, held until the answer.
    const held = 2 * body.length;
    if (!this.budget.tryTake(held)) {
      target.answered = true;
      target.reply(ERRORS.OVERLOADED.httpStatus, gatewayErrorResponse(null, 'OVERLOADED'));
      return;
    }
    target.held = held;
    this.inflight++;
    try {
      this.dispatch(chain, body, target);
    } catch (err) {
      this.internalError(err, target);
    }
  }

  /** Answers `target` unless it has been answered already (a bug caught after the answer went out). */
  answer(target: ReplyTarget, status: number, body: string | Buffer | null): void {
    if (target.answered) return;
    target.answered = true;
    this.budget.give(target.held);
    try {
      target.reply(status, body);
    } finally {
      if (--this.inflight === 0 && this.drained) this.drained();
    }
  }

  /** A bug, not an input: answer rather than leave the client hanging, and say so loudly. */
  internalError(err: unknown, target: ReplyTarget): void {
    this.onInternalError(err);
    this.answerError(target, 'INTERNAL_ERROR', null);
  }

  /** Refuses new requests and resolves when those in flight have been answered (or after `graceMs`). */
  drain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.drained = () => {
        clearTimeout(timer);
        // Let anything the last answer scheduled (its write's completion) run first.
        setImmediate(resolve);
      };
    });
  }

  private dispatch(chain: string, body: Buffer, target: ReplyTarget): void {
    const parsed = parseRequestBody(body, this.options.maxBatchSize);
    if (parsed.kind === 'error') {
      this.recorder.recordClientFault(
        parsed.code === 'PARSE_ERROR' ? 'parse_error' : parsed.code === 'BATCH_TOO_LARGE' ? 'batch_too_large' : 'invalid_request',
      );
      this.answer(target, ERRORS[parsed.code].httpStatus, parsed.body);
      return;
    }
    const refusal = target.admit?.(parsed);
    if (refusal !== undefined) {
      this.answer(target, ERRORS.LIMIT_EXCEEDED.httpStatus, refusal);
      return;
    }
    const route = this.routing.current.route(chain);
    if (route === undefined) {
      this.recorder.recordClientFault('unknown_chain');
      this.answerError(target, 'UNKNOWN_CHAIN', parsed.kind === 'single' ? parsed.call.id : null, `"${chain}"`);
      return;
    }
    if (parsed.kind === 'single') this.dispatchSingle(chain, route, parsed.call, target);
    else {
      const set = this.chainAware ? route.setFor(batchNeed(parsed.entries)) : route;
      if (set.reason !== ROUTED_ANYWHERE) this.chainReads.count(chain, set.reason);
      // The first attempt goes to a pick from the set just looked up; none left makes `next` look again and give up.
      new BatchCall(this, chain, route, set, parsed.entries, target).next(this.batchPick(chain, route, set, parsed.entries));
    }
  }

  private dispatchSingle(chain: string, route: ChainRoute, call: RpcCall, target: ReplyTarget): void {
    if (!this.chainAware) {
      const traits = methodTraits(call.method);
      const first = route.pick(this.random, undefined);
      if (!this.verifiedFirst(chain, route, first, call, target, traits.index)) new SingleCall(this, chain, route, route, NEED_ANY, call, traits, target).next(first);
      return;
    }
    const need = blockNeed(call);
    const set = route.setFor(need);
    if (set.reason !== ROUTED_ANYWHERE) this.chainReads.count(chain, set.reason);
    const traits = methodTraits(call.method);
    if (!call.notification) {
      const legs = traits.answer === SEND_RAW ? this.options.broadcastTransactions ?? 1 : traits.answer === NONCE && isPendingNonce(call) ? this.options.pendingNonceOperators ?? 1 : 1;
      if (legs > 1 && set.operators.length > 1) {
        new FanOutCall(this, chain, call, target, traits.answer === SEND_RAW ? 'first_acceptance' : 'highest_quantity', traits.index).start(set, legs, this.random);
        return;
      }
    }
    const first = set.pick(this.random, undefined);
    if (this.verifiedFirst(chain, route, first, call, target, traits.index)) return;
    const single = new SingleCall(this, chain, route, set, need, call, traits, target);
    // A receipt or transaction the gateway saw accepted: ask the operator that accepted it first.
    if (traits.answer === TX_LOOKUP) {
      const acceptor = this.chainReads.acceptedBy(call.param(0));
      if (acceptor !== undefined && route.operators.includes(acceptor)) {
        single.preferred = acceptor;
        this.chainReads.count(chain, ROUTING_REASON.read_after_write);
        return single.next(acceptor);
      }
    }
    single.next(first);
  }

  /**
   * A batch's first operator. Trust before traffic: a batch is not checked call by call, so one
   * with a deterministic call goes to an operator still proving itself only when a few draws
   * find no proven one in its set.
   */
  private batchPick(chain: string, route: ChainRoute, set: OperatorSet, entries: readonly BatchEntry[]): OperatorRef | undefined {
    const first = set.pick(this.random, undefined);
    if (!route.hasUnproven || first === undefined || route.isProven(first)) return first;
    const checker = this.crossChecker;
    if (checker === undefined || !entries.some((e) => e.call !== undefined && !e.call.notification && checker.isDeterministic(chain, e.call))) return first;
    const tried = [first];
    for (let i = 0; i < 4; i++) {
      const other = set.pick(this.random, tried);
      if (other === undefined) break;
      if (route.isProven(other)) return other;
      tried.push(other);
    }
    return first;
  }

  /**
   * Trust before traffic: an operator still proving itself is not taken at its word on what can
   * be checked (VerifiedCall). Returns whether the call went that way.
   */
  private verifiedFirst(chain: string, route: ChainRoute, first: OperatorRef | undefined, call: RpcCall, target: ReplyTarget, method: number): boolean {
    if (!route.hasUnproven || first === undefined || route.isProven(first) || call.notification) return false;
    const checker = this.crossChecker;
    if (checker === undefined || !checker.isDeterministic(chain, call)) return false;
    new VerifiedCall(this, checker, chain, route, call, target, method, this.random).start(first);
    return true;
  }

  /** Answers `target` with the gateway's own error for the whole body. */
  answerError(target: ReplyTarget, code: GatewayErrorCode, id: JsonRpcId, detail?: string): void {
    this.answer(target, ERRORS[code].httpStatus, gatewayErrorResponse(id, code, detail));
  }

  pick(set: OperatorSet, tried: OperatorRef[] | undefined): OperatorRef | undefined {
    return set.pick(this.random, tried);
  }

  /**
   * Records one attempt that got an answer: `latencyMicros` is the operator's own time (see
   * UpstreamHandler.onUpstreamReply), never the time the request spent in the gateway.
   */
  recordAnswer(operator: OperatorRef, method: number, outcome: AttemptOutcome, latencyMicros: number): void {
    this.recorder.recordAttempt(operator.index, method, outcome, latencyMicros);
  }

  /** Records one attempt (of a single call, or of a batch as BATCH_METHOD) that failed, which ended at `endedMs` (now if not given). */
  recordAttempt(operator: OperatorRef, method: number, outcome: AttemptOutcome, startedMs: number, endedMs?: number): void {
    this.recorder.recordAttempt(operator.index, method, outcome, micros(startedMs, endedMs));
  }

  considerForCrossCheck(chain: string, call: RpcCall, operator: OperatorRef, answer: Buffer): void {
    this.crossChecker?.consider(chain, call, operator, answer);
  }
}

/**
 * What a single call and a batch share: attempts counted against `maxAttempts`, one deadline
 * for them all, the operators tried, and the last error to answer with when none is left.
 */
abstract class Attempts {
  protected readonly deadline: number;
  protected attempt = 0;
  protected tried: OperatorRef[] | undefined;
  protected lastError: GatewayError | undefined;
  /** The operator of the attempt in flight. */
  protected operator: OperatorRef | undefined;
  protected started: number;

  constructor(
    protected readonly forwarder: Forwarder,
    protected readonly chain: string,
    /** The operators this request may go to (chain-aware routing narrows it by the block it needs). */
    protected readonly set: OperatorSet,
  ) {
    this.started = performance.now();
    this.deadline = this.started + forwarder.options.requestDeadlineMs;
  }

  /**
   * Starts the next attempt, on `chosen` or on a fresh pick among the operators not tried, and
   * returns its timeout; -1 when there is none to make (attempts or time used up, no operator
   * left), `lastError` saying why.
   */
  protected begin(chosen: OperatorRef | undefined): number {
    const options = this.forwarder.options;
    if (this.attempt >= options.maxAttempts) return -1;
    this.attempt++;
    // The first attempt goes out as the call is made: no second clock read.
    const now = this.operator === undefined ? this.started : performance.now();
    const remaining = this.deadline - now;
    if (remaining <= 0) {
      this.lastError = new GatewayError('DEADLINE_EXCEEDED');
      return -1;
    }
    const operator = chosen ?? this.forwarder.pick(this.set, this.tried);
    if (operator === undefined) return -1;
    this.operator = operator;
    this.started = now;
    return Math.min(options.attemptTimeoutMs, remaining);
  }
}

/**
 * A valid single request, as a handler object the upstream calls back (no promise, closure or
 * microtask per attempt). It goes upstream as the client's bytes with the upstream's own id in
 * place of the client's (the call is its own UpstreamBody), and its answer, proven by that id
 * to be its own, comes back with the client's id token put back in.
 */
class SingleCall extends Attempts implements UpstreamHandler {
  private readonly write: boolean;
  private readonly shareable: boolean;
  private readonly method: number;
  /** What the answer is checked for (chain-aware routing): ANSWER_PLAIN for most methods. */
  private readonly answerKind: number;
  /** The operator that accepted the transaction this call reads (read after write), if any. */
  preferred: OperatorRef | undefined;
  /** An operator's own answer that it lacks the block, kept (copied) to answer with when no other operator has it. */
  private chainAnswer: { body: Buffer; scan: ResponseScan } | undefined;

  constructor(
    forwarder: Forwarder,
    chain: string,
    /** The chain's whole route (its heights), and the set this call draws from. */
    private readonly route: ChainRoute,
    set: OperatorSet,
    /** The block the call needs (NEED_* or a number), for the answer's checks. */
    private readonly need: number,
    private readonly call: RpcCall,
    traits: MethodTraits,
    private readonly target: ReplyTarget,
  ) {
    super(forwarder, chain, set);
    this.write = traits.write;
    this.shareable = traits.shareable;
    this.method = traits.index;
    this.answerKind = forwarder.chainAware ? traits.answer : ANSWER_PLAIN;
  }

  /** Sends the next attempt to `chosen` (picked by the caller), or to a fresh pick; answers with the last error when none is left. */
  next(chosen?: OperatorRef): void {
    const timeoutMs = this.begin(chosen);
    if (timeoutMs < 0) return this.giveUp();
    this.operator!.upstream.request(this.call, timeoutMs, this.shareable, this, this.started);
  }

  onUpstreamReply(status: number, body: Buffer, _receivedAt: number, answer: VerifiedAnswer, operatorMicros: number): void {
    let out: Buffer | undefined;
    try {
      out = this.settle(status, body, operatorMicros, answer as ResponseScan | undefined);
    } catch (err) {
      this.forwarder.internalError(err, this.target);
    }
    // Settled: answered (ReplyTarget.reply keeps no body; the cross-check reads the answer
    // before it returns) or asked again elsewhere. Nothing holds the bodies any more.
    giveBody(body);
    if (out !== undefined && out !== body) giveBody(out);
  }

  onUpstreamError(err: UpstreamError): void {
    try {
      this.failed(err);
    } catch (bug) {
      this.forwarder.internalError(bug, this.target);
    }
  }

  /** Answers or fails over; returns the buffer answered with, when it is not `body`. */
  private settle(status: number, body: Buffer, operatorMicros: number, scan: ResponseScan | undefined): Buffer | undefined {
    const operator = this.operator!;
    const failure = httpFailure(status);
    if (failure !== undefined) return void this.failed(failure);
    if (this.call.notification) {
      this.forwarder.recordAnswer(operator, this.method, 'success', operatorMicros);
      return void this.forwarder.answer(this.target, 204, null);
    }
    // The upstream scanned the envelope and proved the id: only the client's id is left to put back.
    if (this.answerKind !== ANSWER_PLAIN || (this.need !== NEED_ANY && scan!.isError)) {
      const checked = this.checkChainAnswer(body, scan!, operatorMicros);
      if (checked !== undefined) return checked === body ? undefined : checked;
    }
    const outcome: AttemptOutcome = scan!.isError ? 'rpc_error' : 'success';
    this.forwarder.recordAnswer(operator, this.method, outcome, operatorMicros);
    if (outcome === 'success') this.forwarder.considerForCrossCheck(this.chain, this.call, operator, body);
    const out = withClientId(body, scan!, this.call);
    this.forwarder.answer(this.target, 200, out);
    return out;
  }

  /**
   * Chain-aware checks of a valid answer. Returns undefined to answer it as it is; otherwise
   * the call was settled here (answered, or sent elsewhere) and the return is the buffer
   * answered with (`body` when none of its own).
   */
  private checkChainAnswer(body: Buffer, scan: ResponseScan, operatorMicros: number): Buffer | undefined {
    const operator = this.operator!;
    const heights = this.route.heights;
    const tip = heights?.tip ?? -1;
    if (scan.isError) {
      if (this.need !== NEED_ANY && saysBlockUnknown(body, scan)) return this.lacksBlock(body, scan, operatorMicros, this.claimsBlock(operator));
      if (this.answerKind === SEND_RAW) {
        if (saysAlreadyKnown(body, scan)) {
          // The node holds this very transaction already (a retry, or another operator passed it on): it was accepted.
          const hash = transactionHash(this.call.param(0));
          if (hash !== undefined) {
            this.forwarder.recordAnswer(operator, this.method, 'success', operatorMicros);
            this.forwarder.chainReads.count(this.chain, ROUTING_REASON.already_known);
            const out = resultAnswer(this.call, `"${hash}"`);
            this.forwarder.answer(this.target, 200, out);
            return out;
          }
        } else if (isNonceError(body, scan) && this.attempt > 1) {
          this.forwarder.notice('nonce error after an earlier attempt of the same transaction may have landed', { operator: operator.id, chain: this.chain });
        }
      }
      return undefined;
    }
    switch (this.answerKind) {
      case BLOCK_NUMBER: {
        const reported = quantityResult(body, scan);
        if (reported < 0) return undefined;
        const held = this.forwarder.heldBlockNumber(this.chain, this.route, operator, reported);
        if (held === reported) return undefined;
        this.forwarder.recordAnswer(operator, this.method, 'success', operatorMicros);
        const out = resultAnswer(this.call, `"0x${held.toString(16)}"`);
        this.forwarder.answer(this.target, 200, out);
        return out;
      }
      case BLOCK_BY_NUMBER: {
        if (this.need >= 0) {
          // null for a block at or below the served tip: this operator lacks a block the chain has.
          if (this.need <= tip && resultIsNull(body, scan)) return this.lacksBlock(body, scan, operatorMicros, this.claimsBlock(operator));
          return undefined;
        }
        if (this.need !== NEED_TIP) return undefined;
        const number = blockNumberOfResult(body, scan);
        if (number < 0) return undefined;
        this.forwarder.answerHead(operator, number);
        // "latest" older than the tip's predecessor: ask an operator at the tip, if one is left.
        if (tip >= 0 && number < tip - 1 && this.set.reason !== ROUTING_REASON.best_effort && this.hasAnotherTry()) {
          this.forwarder.recordAnswer(operator, this.method, 'success', operatorMicros);
          this.forwarder.chainReads.count(this.chain, ROUTING_REASON.stale_latest_retry);
          (this.tried ??= []).push(operator);
          this.next();
          return body;
        }
        return undefined;
      }
      case TX_LOOKUP: {
        // Not found here, but the operator that accepted it has not been asked yet.
        const preferred = this.preferred;
        if (preferred === undefined || preferred === operator || this.tried?.includes(preferred) || !resultIsNull(body, scan)) return undefined;
        this.forwarder.recordAnswer(operator, this.method, 'success', operatorMicros);
        this.forwarder.chainReads.count(this.chain, ROUTING_REASON.read_after_write);
        (this.tried ??= []).push(operator);
        this.next(preferred);
        return body;
      }
      case SEND_RAW: {
        const accepted = transactionHash(this.call.param(0));
        if (accepted !== undefined) this.forwarder.chainReads.accepted(accepted, operator);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /** Whether another attempt may go out: attempts left, and an operator of the set not tried yet (this one included). */
  private hasAnotherTry(): boolean {
    return this.attempt < this.forwarder.options.maxAttempts && this.set.operators.length > 1 + (this.tried?.length ?? 0);
  }

  /** Whether `operator` claimed (by its head) to have the block this call needs: a tag needs the tip, which it was picked for. */
  private claimsBlock(operator: OperatorRef): boolean {
    return this.need < 0 || this.need <= this.route.headOf(operator);
  }

  /**
   * The operator answered that it does not have the block the call names: counted against it
   * when it claimed to have it (a block beyond its head is the client's question, not its
   * fault), and the call goes to another operator that should have it; when none is left, the
   * operator's own answer (the chain's error) is the client's.
   */
  private lacksBlock(body: Buffer, scan: ResponseScan, operatorMicros: number, claimed: boolean): Buffer {
    const operator = this.operator!;
    this.forwarder.recordAnswer(operator, this.method, claimed ? 'missing_block' : 'rpc_error', operatorMicros);
    this.forwarder.chainReads.count(this.chain, ROUTING_REASON.unknown_block_retry);
    this.chainAnswer = { body: Buffer.from(body), scan: { ...scan } };
    (this.tried ??= []).push(operator);
    this.next();
    return body;
  }

  private failed(failure: GatewayError): void {
    const operator = this.operator!;
    // The gateway's own overload is not the operator's attempt failing.
    if (failure.code !== 'OVERLOADED') this.forwarder.recordAttempt(operator, this.method, OUTCOME_OF[failure.code] ?? 'invalid_envelope', this.started);
    this.lastError = failure;
    if (!mayRetry(failure, this.write)) return this.giveUp();
    (this.tried ??= []).push(operator);
    this.next();
  }

  private giveUp(): void {
    if (this.call.notification) return this.forwarder.answer(this.target, 204, null);
    // An operator's own answer that the block is unknown says more than a later attempt's failure.
    const chainAnswer = this.chainAnswer;
    if (chainAnswer !== undefined) {
      return this.forwarder.answer(this.target, 200, withClientId(chainAnswer.body, chainAnswer.scan, this.call));
    }
    this.forwarder.answerError(this.target, this.lastError?.code ?? 'NO_OPERATOR', this.call.id, this.lastError?.detail);
  }
}

/**
 * A batch, as a handler object like SingleCall, and the UpstreamBody of its attempts: each
 * attempt sends the entries still pending as one upstream batch, the k-th with the upstream's
 * id `firstId + k`, so duplicate or odd client ids cannot confuse matching and an answer from
 * anywhere else cannot be taken for one of them. Only the entries an attempt left unanswered go
 * to the next operator. Answers are kept where they arrived, as spans of the operators'
 * replies; one reply that answers every call and nothing else goes back as it is, each id
 * rewritten in place, else the answers are written once, with the clients' ids, into one buffer.
 */
class BatchCall extends Attempts implements UpstreamHandler, UpstreamBody {
  readonly isBatch = true;
  /** Per entry: what it is answered with so far (the gateway's own JSON, or an operator's reply holding it), if anything. */
  private readonly answers: (string | Buffer | undefined)[];
  /** Per entry answered from a reply: where in that reply its answer lies (the item's scan). */
  private readonly items: (ResponseScan | undefined)[];
  /** Entries still to be sent, by index. */
  private pending: number[] = [];
  /** The entries the attempt in flight carries, in the order written (the k-th has id firstId + k). */
  private sent: number[] = [];
  /** How many of `sent` are calls (not notifications). */
  private sentCalls = 0;
  private firstId = 0;
  /** Replies that answered something, and whether the last such was a whole answer on its own (every call, nothing else). */
  private replies = 0;
  private wholeReply = false;
  /** The entries answered by the gateway itself (invalid ones; failures). */
  private ownAnswers = 0;

  constructor(
    forwarder: Forwarder,
    chain: string,
    /** The chain's whole route (its heights, for eth_blockNumber's floor). */
    private readonly route: ChainRoute,
    set: OperatorSet,
    private readonly entries: readonly BatchEntry[],
    private readonly target: ReplyTarget,
  ) {
    super(forwarder, chain, set);
    const n = entries.length;
    this.answers = new Array<string | Buffer | undefined>(n).fill(undefined);
    this.items = new Array<ResponseScan | undefined>(n).fill(undefined);
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!;
      if (entry.call === undefined) {
        this.answers[i] = entry.error;
        this.ownAnswers++;
      } else this.pending.push(i);
    }
  }

  /** Ids for every entry sent; none when all of them are notifications (nothing is answered). */
  get idCount(): number {
    return this.sentCalls > 0 ? this.sent.length : 0;
  }

  byteLength(firstId: number): number {
    const { sent, entries } = this;
    // The brackets, and a comma between each two items.
    let size = 2 + Math.max(0, sent.length - 1);
    for (let k = 0; k < sent.length; k++) size += entries[sent[k]!]!.call!.upstreamItemLength(firstId + k);
    return size;
  }

  write(firstId: number, out: Buffer, at: number): void {
    const { sent, entries } = this;
    this.firstId = firstId;
    out[at++] = 0x5b; // [
    for (let k = 0; k < sent.length; k++) {
      if (k > 0) out[at++] = 0x2c; // ,
      const call = entries[sent[k]!]!.call!;
      call.writeUpstreamItem(firstId + k, out, at);
      at += call.upstreamItemLength(firstId + k);
    }
    out[at] = 0x5d; // ]
  }

  /** Sends the pending entries to `chosen`, or to a fresh pick; answers once none is left to send or no attempt is. */
  next(chosen?: OperatorRef): void {
    if (this.pending.length === 0) return this.finish();
    const timeoutMs = this.begin(chosen);
    if (timeoutMs < 0) return this.finish();
    this.sent = this.pending;
    let shareable = true;
    this.sentCalls = 0;
    for (const i of this.sent) {
      const call = this.entries[i]!.call!;
      if (!call.notification) this.sentCalls++;
      if (!methodTraits(call.method).shareable) shareable = false;
    }
    this.operator!.upstream.request(this, timeoutMs, shareable, this, this.started);
  }

  onUpstreamReply(status: number, body: Buffer, _receivedAt: number, answer: VerifiedAnswer, operatorMicros: number): void {
    try {
      const failure = httpFailure(status) ?? this.file(status, body, answer as BatchScan | undefined);
      this.forwarder.recordAnswer(this.operator!, BATCH_METHOD, failure === undefined ? 'success' : OUTCOME_OF[failure.code] ?? 'invalid_envelope', operatorMicros);
      if (failure === undefined) this.finish();
      else this.failed(failure);
    } catch (err) {
      this.forwarder.internalError(err, this.target);
    }
  }

  onUpstreamError(err: UpstreamError): void {
    try {
      // The gateway's own overload is not the operator's attempt failing.
      if (err.code !== 'OVERLOADED') this.forwarder.recordAttempt(this.operator!, BATCH_METHOD, OUTCOME_OF[err.code] ?? 'invalid_envelope', this.started);
      this.failed(err);
    } catch (bug) {
      this.forwarder.internalError(bug, this.target);
    }
  }

  /**
   * Files the answers of one upstream batch reply, whose ids the upstream proved to be this
   * attempt's; the entries it did not answer validly stay pending. Returns the failure to
   * attribute to the operator, if any.
   */
  private file(status: number, body: Buffer, scan: BatchScan | undefined): GatewayError | undefined {
    const { entries, sent, answers } = this;
    if (scan === undefined) {
      // Nothing to prove: every entry sent was a notification. Delivered: any 2xx will do.
      this.pending = [];
      return undefined;
    }
    let filed = 0;
    for (const item of scan.items) {
      if (!item.ok || item.idKind === 'null') continue;
      const i = sent[item.idNumber - this.firstId]!;
      // A notification's slot answers nothing.
      if (entries[i]!.call!.notification) continue;
      filed++;
      answers[i] = body;
      this.items[i] = item;
      if (this.forwarder.chainAware && !item.isError && entries[i]!.call!.method === 'eth_blockNumber') this.holdBlockNumber(i, body, item);
    }
    if (filed > 0) this.replies++;
    const stillPending: number[] = [];
    let missing = 0;
    for (const i of sent) {
      if (entries[i]!.call!.notification) continue;
      if (answers[i] === undefined) {
        stillPending.push(i);
        missing++;
      }
    }
    this.pending = stillPending;
    this.wholeReply = filed === scan.items.length;
    if (missing > 0) return invalidEnvelope(status, `${missing} of the batch's answers missing or malformed`);
    return undefined;
  }

  /**
   * eth_blockNumber inside a batch obeys the same floor as alone (ChainReads.blockNumber): an
   * answer below it is replaced by the gateway's own, with the held number.
   */
  private holdBlockNumber(i: number, body: Buffer, item: ResponseScan): void {
    const reported = quantityResult(body, item);
    if (reported < 0) return;
    const held = this.forwarder.heldBlockNumber(this.chain, this.route, this.operator!, reported);
    if (held === reported) return;
    this.answers[i] = resultAnswer(this.entries[i]!.call!, `"0x${held.toString(16)}"`).toString('utf8');
    this.ownAnswers++;
  }

  /** An attempt failed for the entries still pending: those that may go out again do, elsewhere. */
  private failed(failure: GatewayError): void {
    this.lastError = failure;
    // Writes that may have reached the operator are answered with the error, never resent.
    this.pending = this.pending.filter((i) => {
      const call = this.entries[i]!.call!;
      if (mayRetry(failure, NON_IDEMPOTENT_METHODS.has(call.method))) return true;
      if (!call.notification) {
        this.answers[i] = gatewayErrorResponse(call.id, failure.code, failure.detail);
        this.ownAnswers++;
      }
      return false;
    });
    if (!failure.spec.retryable) return this.finish();
    (this.tried ??= []).push(this.operator!);
    this.next();
  }

  /** Answers the client: entries still pending get the last error; a batch of only notifications gets no answer (spec §6). */
  private finish(): void {
    const finalError = this.lastError?.code ?? 'NO_OPERATOR';
    for (const i of this.pending) {
      const call = this.entries[i]!.call!;
      if (!call.notification) {
        this.answers[i] = gatewayErrorResponse(call.id, finalError, this.lastError?.detail);
        this.ownAnswers++;
      }
    }
    this.pending = [];
    const out = this.inPlaceAnswer() ?? this.answerArray();
    if (out === undefined) this.forwarder.answer(this.target, 204, null);
    else this.forwarder.answer(this.target, 200, out);
    // The replies the answers were taken from are written, or copied into `out`, by now.
    if (out !== undefined) giveBody(out);
    for (const answer of this.answers) if (typeof answer !== 'string' && answer !== undefined && answer !== out) giveBody(answer);
  }

  /**
   * One operator's reply that is the whole answer (every call answered by it, nothing else in
   * it, no answer of the gateway's own), with each client's id written over the upstream's in
   * place: when every client id fits. Undefined otherwise.
   */
  private inPlaceAnswer(): Buffer | undefined {
    if (this.replies !== 1 || !this.wholeReply || this.ownAnswers > 0) return undefined;
    const { answers, items, entries } = this;
    let reply: Buffer | undefined;
    for (let i = 0; i < answers.length; i++) {
      const answer = answers[i];
      if (answer === undefined) continue;
      reply = answer as Buffer;
      const item = items[i]!;
      if (entries[i]!.call!.idTokenLength() > item.idEnd - item.idStart) return undefined;
    }
    if (reply === undefined) return undefined;
    for (let i = 0; i < answers.length; i++) if (answers[i] !== undefined) putClientIdInPlace(reply, items[i]!, entries[i]!.call!);
    return reply;
  }

  /** The answers as one JSON array, in entry order, each operator's answer with its client's id; undefined when there is none. */
  private answerArray(): Buffer | undefined {
    const { answers, items, entries } = this;
    const n = answers.length;
    // "]", and before each answer "[" or ",".
    let size = 1;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const answer = answers[i];
      if (answer === undefined) continue;
      count++;
      if (typeof answer === 'string') size += 1 + Buffer.byteLength(answer);
      else size += 1 + withClientIdLength(items[i]!, entries[i]!.call!);
    }
    if (count === 0) return undefined;
    const out = takeBody(size);
    out[0] = 0x5b; // [
    let at = 1;
    for (let i = 0; i < n; i++) {
      const answer = answers[i];
      if (answer === undefined) continue;
      if (at > 1) out[at++] = 0x2c; // ,
      if (typeof answer === 'string') at += out.write(answer, at, 'utf8');
      else at = writeWithClientId(answer, items[i]!, entries[i]!.call!, out, at);
    }
    out[at] = 0x5d; // ]
    return out;
  }
}

/**
 * `body`, the answer `scan` found, with the client's id token in place of the upstream's: in
 * place when it fits (padded with spaces, which JSON allows around a value), else copied.
 */
export function withClientId(body: Buffer, scan: ResponseScan, call: RpcCall): Buffer {
  if (call.idTokenLength() <= scan.idEnd - scan.idStart) {
    putClientIdInPlace(body, scan, call);
    return body;
  }
  const out = takeBody(withClientIdLength(scan, call));
  writeWithClientId(body, scan, call, out, 0);
  return out;
}

/** Writes the client's id token over the upstream's (which is at least as long), padding with spaces. */
function putClientIdInPlace(body: Buffer, scan: ResponseScan, call: RpcCall): void {
  call.writeIdToken(body, scan.idStart);
  for (let at = scan.idStart + call.idTokenLength(); at < scan.idEnd; at++) body[at] = 0x20;
}

/** The length of the answer at [scan.start, scan.end) with the client's id token in place of the upstream's. */
function withClientIdLength(scan: ResponseScan, call: RpcCall): number {
  return scan.idStart - scan.start + call.idTokenLength() + (scan.end - scan.idEnd);
}

/** Writes that answer at out[at, ...); returns the position after it. */
function writeWithClientId(body: Buffer, scan: ResponseScan, call: RpcCall, out: Buffer, at: number): number {
  copyBytes(body, scan.start, scan.idStart, out, at);
  at += scan.idStart - scan.start;
  call.writeIdToken(out, at);
  at += call.idTokenLength();
  copyBytes(body, scan.idEnd, scan.end, out, at);
  return at + scan.end - scan.idEnd;
}

/**
 * `{"jsonrpc":"2.0","id":<the client's id token>,"result":<result>}`: an answer the gateway
 * writes itself (a held block number, the hash of a transaction a node already knew).
 */
export function resultAnswer(call: RpcCall, result: string): Buffer {
  const head = '{"jsonrpc":"2.0","id":';
  const tail = `,"result":${result}}`;
  const idLength = call.idTokenLength();
  const out = Buffer.allocUnsafe(head.length + idLength + Buffer.byteLength(tail));
  let at = out.write(head, 0, 'latin1');
  call.writeIdToken(out, at);
  at += idLength;
  out.write(tail, at, 'utf8');
  return out;
}

/** The strictest need of a batch's calls: the tip if any needs it (unless a block beyond it is named), else the highest block named. */
function batchNeed(entries: readonly BatchEntry[]): number {
  let tip = false;
  let highest = NEED_ANY;
  for (const entry of entries) {
    if (entry.call === undefined) continue;
    const need = blockNeed(entry.call);
    if (need === NEED_TIP) tip = true;
    else if (need > highest) highest = need;
  }
  return tip && highest < 0 ? NEED_TIP : highest >= 0 ? highest : tip ? NEED_TIP : NEED_ANY;
}

function isPendingNonce(call: RpcCall): boolean {
  return call.param(1) === 'pending';
}

/** What a single call's answer is checked for when routing is chain-aware. */
const ANSWER_PLAIN = 0;
/** eth_blockNumber: the head it shows, and the floor of monotonic reads. */
const BLOCK_NUMBER = 1;
/** eth_getBlockByNumber: `latest` not older than the tip's predecessor; `null` for a block the chain has. */
const BLOCK_BY_NUMBER = 2;
/** eth_sendRawTransaction: who accepted it, and "already known". */
const SEND_RAW = 3;
/** Receipts and transactions by hash: read after write. */
const TX_LOOKUP = 4;
/** eth_getTransactionCount: at `pending`, optionally the highest of two operators. */
const NONCE = 5;

const ANSWER_KINDS: Readonly<Record<string, number>> = {
  eth_blockNumber: BLOCK_NUMBER,
  eth_getBlockByNumber: BLOCK_BY_NUMBER,
  eth_getBlockReceipts: BLOCK_BY_NUMBER,
  eth_sendRawTransaction: SEND_RAW,
  eth_getTransactionReceipt: TX_LOOKUP,
  eth_getTransactionByHash: TX_LOOKUP,
  eth_getTransactionCount: NONCE,
};


interface MethodTraits {
  /** The method's label index for measurement. */
  readonly index: number;
  /** Changes state: never resent once it may have left. */
  readonly write: boolean;
  /** May share an upstream connection (see mayShareConnection). */
  readonly shareable: boolean;
  /** ANSWER_PLAIN or what chain-aware routing checks in the answer. */
  readonly answer: number;
}

function traitsOf(method: string): MethodTraits {
  return {
    index: methodIndex(method),
    write: NON_IDEMPOTENT_METHODS.has(method),
    shareable: mayShareConnection(method),
    answer: Object.hasOwn(ANSWER_KINDS, method) ? ANSWER_KINDS[method]! : ANSWER_PLAIN,
  };
}

/** The labelled methods' traits, looked up once per call; a client's other method names are not kept. */
const KNOWN_TRAITS = new Map<string, MethodTraits>(KNOWN_METHODS.map((method) => [method, traitsOf(method)]));

function methodTraits(method: string): MethodTraits {
  return KNOWN_TRAITS.get(method) ?? traitsOf(method);
}
