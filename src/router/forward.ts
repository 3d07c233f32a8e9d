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
  type ParsedBody,
  type RpcCall,
} from './jsonrpc.js';
import type { OperatorRef, RandomSource, RoutingState } from './routing-table.js';
import { giveBody, takeBody } from './body-pool.js';
import type { CrossChecker } from './cross-check.js';
import { type ResponseScan, idEquals, idEqualsNumber, scanBatchResponse, scanResponse, withId, withIdLength, writeWithId } from './response-scan.js';
import { UpstreamError, type UpstreamHandler } from './upstream.js';

export interface ForwarderOptions {
  readonly maxAttempts: number;
  readonly attemptTimeoutMs: number;
  readonly requestDeadlineMs: number;
  readonly maxBatchSize: number;
}

/**
 * Where the answer to one body goes (an HTTP exchange, a WebSocket message): an object the
 * front already has per request, rather than a callback closure per request.
 */
export interface ReplyTarget {
  /** Set by the Forwarder once it has answered: a body is answered exactly once. */
  answered: boolean;
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
    // The first attempt goes to a pick from the route just looked up; none left makes `next` look again and give up.
    const first = route.pick(this.random, undefined);
    if (parsed.kind === 'single') new SingleCall(this, chain, parsed.call, body, target).next(first);
    else new BatchCall(this, chain, parsed.entries, body, target).next(first);
  }

  /** Answers `target` with the gateway's own error for the whole body. */
  answerError(target: ReplyTarget, code: GatewayErrorCode, id: JsonRpcId, detail?: string): void {
    this.answer(target, ERRORS[code].httpStatus, gatewayErrorResponse(id, code, detail));
  }

  pick(chain: string, tried: OperatorRef[] | undefined): OperatorRef | undefined {
    return this.routing.current.route(chain)?.pick(this.random, tried);
  }

  /** Records one attempt (of a single call, or of a batch as BATCH_METHOD), which ended at `endedMs` (now if not given). */
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
    const operator = chosen ?? this.forwarder.pick(this.chain, this.tried);
    if (operator === undefined) return -1;
    this.operator = operator;
    this.started = now;
    return Math.min(options.attemptTimeoutMs, remaining);
  }
}

/**
 * A valid single request, as a handler object the upstream calls back (no promise, closure or
 * microtask per attempt). The common case (a string or safe-integer id) is forwarded byte for
 * byte and the answer returned byte for byte. Ids an operator may not read back faithfully
 * (fractions, huge numbers, odd spellings such as 1e3) go out re-serialized with the
 * gateway's own id, and the answer gets the client's id back.
 */
class SingleCall extends Attempts implements UpstreamHandler {
  private readonly write: boolean;
  private readonly shareable: boolean;
  private readonly method: number;
  private rewritten: boolean;
  private body: Buffer | string;

  constructor(
    forwarder: Forwarder,
    chain: string,
    private readonly call: RpcCall,
    raw: Buffer,
    private readonly target: ReplyTarget,
  ) {
    super(forwarder, chain);
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
    const timeoutMs = this.begin(chosen);
    if (timeoutMs < 0) return this.giveUp();
    this.operator!.upstream.request(this.body, timeoutMs, this.shareable, this, this.started);
  }

  onUpstreamReply(status: number, body: Buffer, receivedAt: number): void {
    try {
      this.settle(status, body, receivedAt);
    } catch (err) {
      this.forwarder.internalError(err, this.target);
    }
    // Settled: answered (ReplyTarget.reply keeps no body; the cross-check reads the answer
    // before it returns) or asked again elsewhere. Nothing holds the body any more.
    giveBody(body);
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
      this.forwarder.recordAttempt(operator, this.method, 'success', this.started, receivedAt);
      return this.forwarder.answer(this.target, 204, null);
    }
    // The envelope is checked without building the result: answers can be megabytes.
    const scan = scanResponse(body);
    if (!scan.ok) return this.failed(invalidEnvelope(status, 'not a JSON-RPC response'));
    const outcome: AttemptOutcome = scan.isError ? 'rpc_error' : 'success';
    const rewritten = this.rewritten;
    if (rewritten ? idEqualsNumber(body, scan, 1) : idEquals(body, scan, this.call.id)) {
      this.forwarder.recordAttempt(operator, this.method, outcome, this.started, receivedAt);
      if (outcome === 'success') this.forwarder.considerForCrossCheck(this.chain, this.call, operator, body);
      return this.forwarder.answer(this.target, 200, rewritten ? withId(body, scan, JSON.stringify(this.call.id)) : body);
    }
    if (!rewritten && !this.write) {
      // The operator may have read the client's id spelling differently: ask it once more in
      // canonical form (not counted as an attempt) before holding the mismatch against it.
      this.forwarder.recordAttempt(operator, this.method, 'rpc_error', this.started, receivedAt);
      this.rewritten = true;
      this.body = JSON.stringify(canonicalRequest(this.call, 1));
      this.attempt--;
      return this.next(operator);
    }
    this.failed(invalidEnvelope(status, 'answer carries the wrong id'));
  }

  private failed(failure: GatewayError): void {
    const operator = this.operator!;
    this.forwarder.recordAttempt(operator, this.method, OUTCOME_OF[failure.code] ?? 'invalid_envelope', this.started);
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

/**
 * A batch, as a handler object like SingleCall. When the client's ids can be matched back
 * (each a string or a safe integer, all distinct, no invalid element), the first attempt sends
 * the client's bytes as they are, and an operator's answer that answers every call, once each,
 * goes back as it is: a batch costs what a single call does, plus scanning the items. Any
 * other attempt sends one upstream batch with the gateway's own ids (each entry's index), so
 * duplicate or odd client ids cannot confuse matching; only the entries an attempt left
 * unanswered go to the next operator. Answers are then kept where they arrived, as spans of
 * the operators' replies, and written once, with the client's ids, into one buffer.
 */
class BatchCall extends Attempts implements UpstreamHandler {
  /** Per entry: what it is answered with so far (the gateway's own JSON, or an operator's reply holding it), if anything. */
  private readonly answers: (string | Buffer | undefined)[];
  /** Per entry answered from a reply: where in that reply its answer lies (the item's scan). */
  private readonly items: (ResponseScan | undefined)[];
  /** Entries still to be sent, by index. */
  private pending: number[] = [];
  /** The client's body, when its ids can be matched back: what the first attempt sends. */
  private readonly asSent: Buffer | undefined;
  /** The attempt in flight sent `asSent`: its answers carry the client's ids. */
  private sentAsIs = false;
  /** In a reply to `asSent`: the call expected next, the one after the last matched (not a notification). */
  private nextInOrder = 0;
  /** The calls by their client ids (a large batch answered out of order only). */
  private entryOfId: Map<JsonRpcId, number> | undefined;
  /** An operator's reply that is the whole answer as it stands. */
  private verbatim: Buffer | undefined;

  constructor(
    forwarder: Forwarder,
    chain: string,
    private readonly entries: readonly BatchEntry[],
    raw: Buffer,
    private readonly target: ReplyTarget,
  ) {
    super(forwarder, chain);
    const n = entries.length;
    this.answers = new Array<string | Buffer | undefined>(n).fill(undefined);
    this.items = new Array<ResponseScan | undefined>(n).fill(undefined);
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!;
      if (entry.call === undefined) this.answers[i] = entry.error;
      else this.pending.push(i);
    }
    this.asSent = this.pending.length === n && matchableIds(entries) ? raw : undefined;
  }

  /** Sends the pending entries to `chosen`, or to a fresh pick; answers once none is left to send or no attempt is. */
  next(chosen?: OperatorRef): void {
    if (this.pending.length === 0) return this.finish();
    const timeoutMs = this.begin(chosen);
    if (timeoutMs < 0) return this.finish();
    const calls = this.pending.map((i) => this.entries[i]!.call!);
    const shareable = calls.every((call) => methodTraits(call.method).shareable);
    // Only the first attempt carries every entry: a later one sends what is left, with the gateway's ids.
    this.sentAsIs = this.asSent !== undefined && this.attempt === 1;
    const body = this.sentAsIs ? this.asSent! : upstreamBatch(calls, this.pending);
    this.operator!.upstream.request(body, timeoutMs, shareable, this, this.started);
  }

  onUpstreamReply(status: number, body: Buffer, receivedAt: number): void {
    try {
      const failure = httpFailure(status) ?? this.file(status, body);
      this.forwarder.recordAttempt(this.operator!, BATCH_METHOD, failure === undefined ? 'success' : OUTCOME_OF[failure.code] ?? 'invalid_envelope', this.started, receivedAt);
      if (failure === undefined) this.finish();
      else this.failed(failure);
    } catch (err) {
      this.forwarder.internalError(err, this.target);
    }
  }

  onUpstreamError(err: UpstreamError): void {
    try {
      this.forwarder.recordAttempt(this.operator!, BATCH_METHOD, OUTCOME_OF[err.code] ?? 'invalid_envelope', this.started);
      this.failed(err);
    } catch (bug) {
      this.forwarder.internalError(bug, this.target);
    }
  }

  /**
   * Files the answers of one upstream batch reply; the entries it did not answer validly stay
   * pending. Returns the failure to attribute to the operator, if any.
   */
  private file(status: number, body: Buffer): GatewayError | undefined {
    const entries = this.entries;
    const pending = this.pending;
    if (pending.every((i) => entries[i]!.call!.notification)) {
      // Notifications delivered: any 2xx will do.
      this.pending = [];
      return undefined;
    }
    const scan = scanBatchResponse(body);
    if (!scan.ok) return invalidEnvelope(status, 'batch answered with something other than an array of JSON');
    // An item answers the entry whose id it carries (the client's, or the gateway's: the entry's
    // index), once; any other item answers nothing.
    const answers = this.answers;
    let filed = 0;
    for (const item of scan.items) {
      if (!item.ok) continue;
      const i = this.sentAsIs ? this.entryWithClientId(body, item) : entryWithIndex(item, entries.length);
      if (i < 0 || answers[i] !== undefined) continue;
      // Entries answered already hold their answer; the others are calls, pending or notifications.
      if (entries[i]!.call!.notification) continue;
      filed++;
      answers[i] = body;
      this.items[i] = item;
    }
    const stillPending: number[] = [];
    let missing = 0;
    for (const i of pending) {
      if (entries[i]!.call!.notification) continue;
      if (answers[i] === undefined) {
        stillPending.push(i);
        missing++;
      }
    }
    this.pending = stillPending;
    if (missing > 0) return invalidEnvelope(status, `${missing} of the batch's answers missing or malformed`);
    // Every call answered by this reply, and nothing else in it: the reply is the answer, as it is.
    if (this.sentAsIs && filed === scan.items.length) this.verbatim = body;
    return undefined;
  }

  /** The entry whose call has the id `item` carries, or -1. */
  private entryWithClientId(body: Buffer, item: ResponseScan): number {
    const entries = this.entries;
    const n = entries.length;
    // Operators answer in order as a rule: the call after the last one matched is tried first.
    let i = this.nextInOrder;
    if (i >= n || entries[i]!.call!.notification || !idEquals(body, item, entries[i]!.call!.id)) {
      i = -1;
      if (n <= 32) {
        for (let j = 0; j < n && i < 0; j++) if (!entries[j]!.call!.notification && idEquals(body, item, entries[j]!.call!.id)) i = j;
      } else {
        // A large batch answered out of order: one lookup per item, not a pass over the entries.
        this.entryOfId ??= indexByClientId(entries);
        const id = clientIdOf(body, item);
        i = id === undefined ? -1 : this.entryOfId.get(id) ?? -1;
      }
      if (i < 0) return -1;
    }
    let next = i + 1;
    while (next < n && entries[next]!.call!.notification) next++;
    this.nextInOrder = next;
    return i;
  }

  /** An attempt failed for the entries still pending: those that may go out again do, elsewhere. */
  private failed(failure: GatewayError): void {
    this.lastError = failure;
    // Writes that may have reached the operator are answered with the error, never resent.
    this.pending = this.pending.filter((i) => {
      const call = this.entries[i]!.call!;
      if (mayRetry(failure, NON_IDEMPOTENT_METHODS.has(call.method))) return true;
      if (!call.notification) this.answers[i] = gatewayErrorResponse(call.id, failure.code, failure.detail);
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
      if (!call.notification) this.answers[i] = gatewayErrorResponse(call.id, finalError, this.lastError?.detail);
    }
    this.pending = [];
    const out = this.verbatim ?? this.answerArray();
    if (out === undefined) this.forwarder.answer(this.target, 204, null);
    else {
      this.forwarder.answer(this.target, 200, out);
      giveBody(out);
    }
    // The replies the answers were taken from are written, or copied into `out`, by now.
    for (const answer of this.answers) if (typeof answer !== 'string' && answer !== undefined) giveBody(answer);
  }

  /** The answers as one JSON array, in entry order, each operator's answer with its client's id; undefined when there is none. */
  private answerArray(): Buffer | undefined {
    const { answers, items, entries } = this;
    const n = answers.length;
    // The clients' ids as JSON, for the answers taken from operators' replies.
    const ids = new Array<string | undefined>(n).fill(undefined);
    // "]", and before each answer "[" or ",".
    let size = 1;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const answer = answers[i];
      if (answer === undefined) continue;
      count++;
      if (typeof answer === 'string') size += 1 + Buffer.byteLength(answer);
      else size += 1 + withIdLength(items[i]!, (ids[i] = JSON.stringify(entries[i]!.call!.id)));
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
      else at = writeWithId(answer, items[i]!, ids[i]!, out, at);
    }
    out[at] = 0x5d; // ]
    return out;
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

/**
 * Whether answers can be told apart by the clients' ids: every entry a call, each id a string
 * or a safe integer (ids every server reads back as sent), no two alike. Notifications have none.
 */
function matchableIds(entries: readonly BatchEntry[]): boolean {
  const n = entries.length;
  // Small batches compare pairwise; a set is cheaper only for larger ones.
  const seen = n > 16 ? new Set<JsonRpcId>() : undefined;
  for (let i = 0; i < n; i++) {
    const call = entries[i]!.call;
    if (call === undefined) return false;
    if (call.notification) continue;
    const id = call.id;
    if (!(typeof id === 'string' || Number.isSafeInteger(id))) return false;
    if (seen !== undefined) {
      if (seen.has(id)) return false;
      seen.add(id);
    } else {
      for (let j = 0; j < i; j++) {
        const other = entries[j]!.call!;
        if (!other.notification && other.id === id) return false;
      }
    }
  }
  return true;
}

/** The calls' entries by client id (matchableIds holds: no two alike). */
function indexByClientId(entries: readonly BatchEntry[]): Map<JsonRpcId, number> {
  const index = new Map<JsonRpcId, number>();
  for (let i = 0; i < entries.length; i++) {
    const call = entries[i]!.call!;
    if (!call.notification) index.set(call.id, i);
  }
  return index;
}

/** The id `item` carries, as JSON.parse would read it (the key of indexByClientId), or undefined for none or null. */
function clientIdOf(body: Buffer, item: ResponseScan): JsonRpcId | undefined {
  if (item.idKind === 'number') return item.idNumber;
  if (item.idKind !== 'string') return undefined;
  return item.idEscaped ? (JSON.parse(body.toString('utf8', item.idStart, item.idEnd)) as string) : body.toString('utf8', item.idStart + 1, item.idEnd - 1);
}

/** The entry whose index is the gateway's id `item` carries, or -1. */
function entryWithIndex(item: ResponseScan, count: number): number {
  const i = item.idKind === 'number' ? item.idNumber : -1;
  return Number.isInteger(i) && i >= 0 && i < count ? i : -1;
}
