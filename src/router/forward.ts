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
import {
  NON_IDEMPOTENT_METHODS,
  canonicalRequest,
  gatewayErrorResponse,
  mayShareConnection,
  parseRequestBody,
  upstreamBatch,
  type BatchEntry,
  type JsonRpcId,
  type RpcCall,
} from './jsonrpc.js';
import type { OperatorRef, RandomSource, RoutingState } from './routing-table.js';
import type { CrossChecker } from './cross-check.js';
import { type ResponseScan, idEquals, idEqualsNumber, scanBatchResponse, scanResponse, withId } from './response-scan.js';
import { UpstreamError, type UpstreamHandler, type UpstreamReply } from './upstream.js';

export interface ForwarderOptions {
  readonly maxAttempts: number;
  readonly attemptTimeoutMs: number;
  readonly requestDeadlineMs: number;
  readonly maxBatchSize: number;
}

/** What goes back to the client. `body: null` means no body at all (notifications). */
export interface RpcReply {
  readonly status: number;
  readonly body: string | Buffer | null;
}

/**
 * Where the answer to one body goes (an HTTP exchange, a WebSocket message): an object the
 * front already has per request, rather than a callback closure per request.
 */
export interface ReplyTarget {
  /** Set by the Forwarder once it has answered: a body is answered exactly once. */
  answered: boolean;
  reply(status: number, body: string | Buffer | null): void;
}

const NO_CONTENT: RpcReply = Object.freeze({ status: 204, body: null });

const OUTCOME_OF: Readonly<Partial<Record<GatewayErrorCode, AttemptOutcome>>> = {
  UPSTREAM_CONNECT: 'connect',
  UPSTREAM_TIMEOUT: 'timeout',
  UPSTREAM_HTTP_5XX: 'http_5xx',
  UPSTREAM_HTTP_429: 'http_429',
  UPSTREAM_HTTP_OTHER: 'http_other',
  UPSTREAM_INVALID_ENVELOPE: 'invalid_envelope',
};

/** HTTP-level failures: 429 and 5xx are retried elsewhere; the body is not trusted. */
function httpFailure(status: number): UpstreamError | GatewayError | undefined {
  if (status === 429) return new GatewayError('UPSTREAM_HTTP_429', 'HTTP 429');
  if (status >= 500) return new GatewayError('UPSTREAM_HTTP_5XX', `HTTP ${status}`);
  return undefined;
}

function invalidEnvelope(status: number, detail: string): GatewayError {
  return status === 200 ? new GatewayError('UPSTREAM_INVALID_ENVELOPE', detail) : new GatewayError('UPSTREAM_HTTP_OTHER', `HTTP ${status}`);
}

function micros(startedMs: number, endedMs: number = performance.now()): number {
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

  constructor(
    private readonly routing: RoutingState,
    private readonly recorder: AttemptRecorder,
    readonly options: ForwarderOptions,
    private readonly random: RandomSource = Math.random,
    private readonly onInternalError: (err: unknown) => void = (err) => console.error(err),
  ) {}

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
    const route = this.routing.current.route(chain);
    if (route === undefined) {
      this.recorder.recordClientFault('unknown_chain');
      this.answerError(target, 'UNKNOWN_CHAIN', parsed.kind === 'single' ? parsed.call.id : null, `"${chain}"`);
      return;
    }
    // The first attempt goes to a pick from the route just looked up; none left makes `next` look again and give up.
    if (parsed.kind === 'single') new SingleCall(this, chain, parsed.call, body, target).next(route.pick(this.random, undefined));
    else {
      this.batch(chain, parsed.entries).then(
        (reply) => this.answer(target, reply.status, reply.body),
        (err: unknown) => this.internalError(err, target),
      );
    }
  }

  /** Answers `target` with the gateway's own error for the whole body. */
  answerError(target: ReplyTarget, code: GatewayErrorCode, id: JsonRpcId, detail?: string): void {
    this.answer(target, ERRORS[code].httpStatus, gatewayErrorResponse(id, code, detail));
  }

  pick(chain: string, tried: OperatorRef[] | undefined): OperatorRef | undefined {
    return this.routing.current.route(chain)?.pick(this.random, tried);
  }

  /** Records one attempt of a single call, which ended at `endedMs` (now if not given). */
  recordSingle(operator: OperatorRef, method: number, outcome: AttemptOutcome, startedMs: number, endedMs?: number): void {
    this.recorder.recordAttempt(operator.index, method, outcome, micros(startedMs, endedMs));
  }

  considerForCrossCheck(chain: string, call: RpcCall, operator: OperatorRef, answer: Buffer): void {
    this.crossChecker?.consider(chain, call, operator, answer);
  }

  /**
   * A batch goes out as one upstream batch with the gateway's own ids (the index of each
   * entry), so duplicate or odd client ids cannot confuse matching. Only the entries left
   * unanswered by an attempt go to the next operator.
   */
  private async batch(chain: string, entries: readonly BatchEntry[]): Promise<RpcReply> {
    const deadline = performance.now() + this.options.requestDeadlineMs;
    const answers: (string | Buffer | undefined)[] = entries.map((e) => e.error);
    let pending = entries.flatMap((e, i) => (e.call === undefined ? [] : [i]));
    let tried: OperatorRef[] | undefined;
    let lastError: GatewayError | undefined;
    for (let attempt = 0; attempt < this.options.maxAttempts && pending.length > 0; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        lastError = new GatewayError('DEADLINE_EXCEEDED');
        break;
      }
      const operator = this.pick(chain, tried);
      if (operator === undefined) break;
      const shareable = pending.every((i) => methodTraits(entries[i]!.call!.method).shareable);
      const upstreamBody = upstreamBatch(pending.map((i) => entries[i]!.call!), pending);
      const started = performance.now();
      let failure: GatewayError | undefined;
      const stillPending: number[] = [];
      try {
        const reply = await operator.upstream.send(upstreamBody, Math.min(this.options.attemptTimeoutMs, remaining), shareable);
        failure = httpFailure(reply.status);
        if (failure === undefined) failure = this.settleBatch(reply, entries, pending, answers, stillPending);
        else stillPending.push(...pending);
      } catch (err) {
        failure = err as UpstreamError;
        stillPending.push(...pending);
      }
      this.recorder.recordAttempt(
        operator.index,
        BATCH_METHOD,
        failure === undefined ? 'success' : OUTCOME_OF[failure.code] ?? 'invalid_envelope',
        micros(started),
      );
      if (failure === undefined) {
        pending = stillPending;
        break;
      }
      lastError = failure;
      // Writes that may have reached the operator are answered with the error, never resent.
      pending = stillPending.filter((i) => {
        const call = entries[i]!.call!;
        if (mayRetry(failure!, NON_IDEMPOTENT_METHODS.has(call.method))) return true;
        answers[i] = call.notification ? undefined : gatewayErrorResponse(call.id, failure!.code, failure!.detail);
        return false;
      });
      if (!failure.spec.retryable) break;
      (tried ??= []).push(operator);
    }
    const finalError = lastError?.code ?? 'NO_OPERATOR';
    for (const i of pending) {
      const call = entries[i]!.call!;
      if (!call.notification) answers[i] = gatewayErrorResponse(call.id, finalError, lastError?.detail);
    }
    // Operators' answers are spliced in as bytes (with the client's id), never re-serialized.
    const given = answers.filter((answer) => answer !== undefined);
    // A batch of only notifications gets no answer at all (spec §6).
    if (given.length === 0) return NO_CONTENT;
    return { status: 200, body: jsonArray(given) };
  }

  /**
   * Files the answers of one upstream batch reply. Entries it did not answer validly go to
   * `stillPending`; returns the failure to attribute to the operator, if any.
   */
  private settleBatch(
    reply: UpstreamReply,
    entries: readonly BatchEntry[],
    pending: readonly number[],
    answers: (string | Buffer | undefined)[],
    stillPending: number[],
  ): GatewayError | undefined {
    const expectsAnswer = pending.some((i) => !entries[i]!.call!.notification);
    if (!expectsAnswer) return undefined; // notifications delivered: any 2xx will do
    const scan = scanBatchResponse(reply.body);
    if (!scan.ok) {
      stillPending.push(...pending);
      return invalidEnvelope(reply.status, 'batch answered with something other than an array of JSON');
    }
    // The gateway's ids are the entries' indexes; an item with any other id answers nothing.
    const byIndex: (ResponseScan | undefined)[] = new Array(entries.length);
    for (const item of scan.items) {
      if (item.ok && item.idKind === 'number' && Number.isInteger(item.idNumber) && item.idNumber >= 0 && item.idNumber < entries.length) {
        byIndex[item.idNumber] = item;
      }
    }
    let missing = 0;
    for (const i of pending) {
      if (entries[i]!.call!.notification) continue;
      const item = byIndex[i];
      if (item === undefined) {
        stillPending.push(i);
        missing++;
      } else answers[i] = withId(reply.body, item, JSON.stringify(entries[i]!.call!.id));
    }
    return missing === 0 ? undefined : invalidEnvelope(reply.status, `${missing} of the batch's answers missing or malformed`);
  }
}

/**
 * A valid single request, as a handler object the upstream calls back (no promise, closure or
 * microtask per attempt). The common case (a string or safe-integer id) is forwarded byte for
 * byte and the answer returned byte for byte. Ids an operator may not read back faithfully
 * (fractions, huge numbers, odd spellings such as 1e3) go out re-serialized with the
 * gateway's own id, and the answer gets the client's id back.
 */
class SingleCall implements UpstreamHandler {
  private readonly deadline: number;
  private readonly write: boolean;
  private readonly shareable: boolean;
  private readonly method: number;
  private rewritten: boolean;
  private body: Buffer | string;
  private attempt = 0;
  private tried: OperatorRef[] | undefined;
  private lastError: GatewayError | undefined;
  /** The operator of the attempt in flight. */
  private operator: OperatorRef | undefined;
  private started = 0;

  constructor(
    private readonly forwarder: Forwarder,
    private readonly chain: string,
    private readonly call: RpcCall,
    raw: Buffer,
    private readonly target: ReplyTarget,
  ) {
    this.started = performance.now();
    this.deadline = this.started + forwarder.options.requestDeadlineMs;
    const traits = methodTraits(call.method);
    this.write = traits.write;
    this.shareable = traits.shareable;
    this.method = traits.index;
    this.rewritten = !passesThrough(call.id);
    this.body = this.rewritten ? JSON.stringify(canonicalRequest(call, 1)) : raw;
  }

  /**
   * Sends the next attempt to `chosen` (picked by the caller, or the same operator once more),
   * or to a fresh pick; answers with the last error when none is left.
   */
  next(chosen?: OperatorRef): void {
    const options = this.forwarder.options;
    if (this.attempt >= options.maxAttempts) return this.giveUp();
    this.attempt++;
    // The first attempt goes out as the call is made: no second clock read.
    const now = this.operator === undefined ? this.started : performance.now();
    const remaining = this.deadline - now;
    if (remaining <= 0) {
      this.lastError = new GatewayError('DEADLINE_EXCEEDED');
      return this.giveUp();
    }
    const operator = chosen ?? this.forwarder.pick(this.chain, this.tried);
    if (operator === undefined) return this.giveUp();
    this.operator = operator;
    this.started = now;
    operator.upstream.request(this.body, Math.min(options.attemptTimeoutMs, remaining), this.shareable, this, now);
  }

  onUpstreamReply(status: number, body: Buffer, receivedAt: number): void {
    try {
      this.settle(status, body, receivedAt);
    } catch (err) {
      this.forwarder.internalError(err, this.target);
    }
  }

  onUpstreamError(err: UpstreamError): void {
    try {
      this.failed(err);
    } catch (bug) {
      this.forwarder.internalError(bug, this.target);
    }
  }

  private settle(status: number, body: Buffer, receivedAt: number): void {
    const operator = this.operator!;
    const failure = httpFailure(status);
    if (failure !== undefined) return this.failed(failure);
    if (this.call.notification) {
      this.forwarder.recordSingle(operator, this.method, 'success', this.started, receivedAt);
      return this.forwarder.answer(this.target, 204, null);
    }
    // The envelope is checked without building the result: answers can be megabytes.
    const scan = scanResponse(body);
    if (!scan.ok) return this.failed(invalidEnvelope(status, 'not a JSON-RPC response'));
    const outcome: AttemptOutcome = scan.isError ? 'rpc_error' : 'success';
    const rewritten = this.rewritten;
    if (rewritten ? idEqualsNumber(body, scan, 1) : idEquals(body, scan, this.call.id)) {
      this.forwarder.recordSingle(operator, this.method, outcome, this.started, receivedAt);
      if (outcome === 'success') this.forwarder.considerForCrossCheck(this.chain, this.call, operator, body);
      return this.forwarder.answer(this.target, 200, rewritten ? withId(body, scan, JSON.stringify(this.call.id)) : body);
    }
    if (!rewritten && !this.write) {
      // The operator may have read the client's id spelling differently: ask it once more in
      // canonical form (not counted as an attempt) before holding the mismatch against it.
      this.forwarder.recordSingle(operator, this.method, 'rpc_error', this.started, receivedAt);
      this.rewritten = true;
      this.body = JSON.stringify(canonicalRequest(this.call, 1));
      this.attempt--;
      return this.next(operator);
    }
    this.failed(invalidEnvelope(status, 'answer carries the wrong id'));
  }

  private failed(failure: GatewayError): void {
    const operator = this.operator!;
    this.forwarder.recordSingle(operator, this.method, OUTCOME_OF[failure.code] ?? 'invalid_envelope', this.started);
    this.lastError = failure;
    if (!mayRetry(failure, this.write)) return this.giveUp();
    (this.tried ??= []).push(operator);
    this.next();
  }

  private giveUp(): void {
    if (this.call.notification) return this.forwarder.answer(this.target, 204, null);
    this.forwarder.answerError(this.target, this.lastError?.code ?? 'NO_OPERATOR', this.call.id, this.lastError?.detail);
  }
}

interface MethodTraits {
  /** The method's label index for measurement. */
  readonly index: number;
  /** Changes state: never resent once it may have left. */
  readonly write: boolean;
  /** May share an upstream connection (see mayShareConnection). */
  readonly shareable: boolean;
}

function traitsOf(method: string): MethodTraits {
  return { index: methodIndex(method), write: NON_IDEMPOTENT_METHODS.has(method), shareable: mayShareConnection(method) };
}

/** The labelled methods' traits, looked up once per call; a client's other method names are not kept. */
const KNOWN_TRAITS = new Map<string, MethodTraits>(KNOWN_METHODS.map((method) => [method, traitsOf(method)]));

function methodTraits(method: string): MethodTraits {
  return KNOWN_TRAITS.get(method) ?? traitsOf(method);
}

/** Ids every JSON-RPC server reads back as sent. */
function passesThrough(id: JsonRpcId): boolean {
  return typeof id === 'string' || id === null || Number.isSafeInteger(id);
}

/** The batch's answers (each one JSON value) as one JSON array, in one buffer. */
function jsonArray(items: readonly (Buffer | string)[]): Buffer {
  // The brackets, and a comma between each two items.
  let size = 2 + Math.max(0, items.length - 1);
  for (const item of items) size += typeof item === 'string' ? Buffer.byteLength(item) : item.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = 0x5b; // [
  let at = 1;
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    const item = items[i]!;
    if (typeof item === 'string') at += out.write(item, at, 'utf8');
    else {
      out.set(item, at);
      at += item.length;
    }
  }
  out[at] = 0x5d; // ]
  return out;
}
