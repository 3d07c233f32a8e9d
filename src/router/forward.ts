/**
 * Forwarding with failover. A request goes to one weighted pick; when the attempt fails in
 * a retryable way it goes to a different operator, up to `maxAttempts`, inside the client's
 * deadline. Every attempt is reported to the recorder, attributed to the operator that made it.
 */
import { ERRORS, GatewayError, type GatewayErrorCode } from '../errors.js';
import type { AttemptOutcome, AttemptRecorder, ClientFault } from '../metrics/attempt-recorder.js';
import { BATCH_METHOD, methodIndex } from '../metrics/method-labels.js';
import {
  NON_IDEMPOTENT_METHODS,
  gatewayErrorResponse,
  mayShareConnection,
  parseRequestBody,
  type BatchEntry,
  type JsonRpcId,
  type RpcCall,
} from './jsonrpc.js';
import type { OperatorRef, RandomSource, RoutingState } from './routing-table.js';
import type { CrossChecker } from './cross-check.js';
import { type ResponseScan, idEquals, idEqualsNumber, scanBatchResponse, scanResponse, withId } from './response-scan.js';
import { UpstreamError, type UpstreamReply } from './upstream.js';

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

const NO_CONTENT: RpcReply = Object.freeze({ status: 204, body: null });
const OPEN_BRACKET = Buffer.from('[');
const CLOSE_BRACKET = Buffer.from(']');
const COMMA = Buffer.from(',');

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

function micros(startedMs: number): number {
  return Math.round((performance.now() - startedMs) * 1000);
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
    private readonly options: ForwarderOptions,
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

  /** Answers one HTTP body or WebSocket message for `chain`. Never rejects. */
  async handle(chain: string, body: Buffer): Promise<RpcReply> {
    if (this.draining) return this.wholeError('SHUTTING_DOWN', null);
    this.inflight++;
    try {
      return await this.dispatch(chain, body);
    } catch (err) {
      // A bug, not an input: answer rather than leave the client hanging, and say so loudly.
      this.onInternalError(err);
      return this.wholeError('INTERNAL_ERROR', null);
    } finally {
      if (--this.inflight === 0 && this.drained) this.drained();
    }
  }

  /** Refuses new requests and resolves when those in flight have been answered (or after `graceMs`). */
  drain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.drained = () => {
        clearTimeout(timer);
        // The last answer is written in a promise callback that runs after this one: let it.
        setImmediate(resolve);
      };
    });
  }

  private async dispatch(chain: string, body: Buffer): Promise<RpcReply> {
    const parsed = parseRequestBody(body.toString('utf8'), this.options.maxBatchSize);
    if (parsed.kind === 'error') {
      this.recorder.recordClientFault(
        parsed.code === 'PARSE_ERROR' ? 'parse_error' : parsed.code === 'BATCH_TOO_LARGE' ? 'batch_too_large' : 'invalid_request',
      );
      return { status: ERRORS[parsed.code].httpStatus, body: parsed.body };
    }
    if (this.routing.current.route(chain) === undefined) {
      this.recorder.recordClientFault('unknown_chain');
      return this.wholeError('UNKNOWN_CHAIN', parsed.kind === 'single' ? parsed.call.id : null, `"${chain}"`);
    }
    if (parsed.kind === 'single') return this.single(chain, parsed.call, body);
    return this.batch(chain, parsed.entries);
  }

  private wholeError(code: GatewayErrorCode, id: JsonRpcId, detail?: string): RpcReply {
    return { status: ERRORS[code].httpStatus, body: gatewayErrorResponse(id, code, detail) };
  }

  private pick(chain: string, tried: OperatorRef[] | undefined): OperatorRef | undefined {
    return this.routing.current.route(chain)?.pick(this.random, tried);
  }

  /**
   * A valid single request. The common case (a string or safe-integer id) is forwarded byte
   * for byte and the answer returned byte for byte. Ids an operator may not read back
   * faithfully (fractions, huge numbers, odd spellings such as 1e3) go out re-serialized
   * with the gateway's own id, and the answer gets the client's id back.
   */
  private async single(chain: string, call: RpcCall, raw: Buffer): Promise<RpcReply> {
    const deadline = performance.now() + this.options.requestDeadlineMs;
    const write = NON_IDEMPOTENT_METHODS.has(call.method);
    const shareable = mayShareConnection(call.method);
    const method = methodIndex(call.method);
    let rewritten = !passesThrough(call.id);
    let body: Buffer | string = rewritten ? JSON.stringify(upstreamRequest(call, 1)) : raw;
    let tried: OperatorRef[] | undefined;
    let lastError: GatewayError | undefined;
    let again: OperatorRef | undefined;
    for (let attempt = 0; attempt < this.options.maxAttempts; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        lastError = new GatewayError('DEADLINE_EXCEEDED');
        break;
      }
      const operator = again ?? this.pick(chain, tried);
      again = undefined;
      if (operator === undefined) break;
      const started = performance.now();
      let reply: UpstreamReply | undefined;
      let failure: GatewayError | undefined;
      try {
        reply = await operator.upstream.send(body, Math.min(this.options.attemptTimeoutMs, remaining), shareable);
      } catch (err) {
        failure = err as UpstreamError;
      }
      let answer: RpcReply | undefined;
      let outcome: AttemptOutcome = 'success';
      if (reply !== undefined) {
        failure = httpFailure(reply.status);
        if (failure === undefined) {
          if (call.notification) answer = NO_CONTENT;
          else {
            // The envelope is checked without building the result: answers can be megabytes.
            const scan = scanResponse(reply.body);
            if (scan.ok) {
              if (scan.isError) outcome = 'rpc_error';
              if (rewritten ? idEqualsNumber(reply.body, scan, 1) : idEquals(reply.body, scan, call.id)) {
                answer = { status: 200, body: rewritten ? withId(reply.body, scan, JSON.stringify(call.id)) : reply.body };
                if (outcome === 'success') this.crossChecker?.consider(chain, call, operator, reply.body);
              } else if (!rewritten && !write) {
                // The operator may have read the client's id spelling differently: ask it once
                // more in canonical form before holding the mismatch against it.
                outcome = 'rpc_error';
                rewritten = true;
                body = JSON.stringify(upstreamRequest(call, 1));
                again = operator;
                attempt--;
              } else failure = invalidEnvelope(reply.status, 'answer carries the wrong id');
            } else failure = invalidEnvelope(reply.status, 'not a JSON-RPC response');
          }
        }
      }
      if (failure !== undefined) outcome = OUTCOME_OF[failure.code] ?? 'invalid_envelope';
      this.recorder.recordAttempt(operator.index, method, outcome, micros(started));
      if (answer !== undefined) return answer;
      if (again !== undefined) continue;
      lastError = failure;
      if (!mayRetry(failure!, write)) break;
      (tried ??= []).push(operator);
    }
    if (call.notification) return NO_CONTENT;
    return this.wholeError(lastError?.code ?? 'NO_OPERATOR', call.id, lastError?.detail);
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
      const shareable = pending.every((i) => mayShareConnection(entries[i]!.call!.method));
      const upstreamBody = JSON.stringify(pending.map((i) => upstreamRequest(entries[i]!.call!, i)));
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
    const parts: Buffer[] = [OPEN_BRACKET];
    for (const answer of answers) {
      if (answer === undefined) continue;
      if (parts.length > 1) parts.push(COMMA);
      parts.push(typeof answer === 'string' ? Buffer.from(answer) : answer);
    }
    // A batch of only notifications gets no answer at all (spec §6).
    if (parts.length === 1) return NO_CONTENT;
    parts.push(CLOSE_BRACKET);
    return { status: 200, body: Buffer.concat(parts) };
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
    const byId = new Map<number, ResponseScan>();
    for (const item of scan.items) {
      if (item.ok && item.idKind === 'number' && Number.isInteger(item.idNumber)) byId.set(item.idNumber, item);
    }
    let missing = 0;
    for (const i of pending) {
      if (entries[i]!.call!.notification) continue;
      const item = byId.get(i);
      if (item === undefined) {
        stillPending.push(i);
        missing++;
      } else answers[i] = withId(reply.body, item, JSON.stringify(entries[i]!.call!.id));
    }
    return missing === 0 ? undefined : invalidEnvelope(reply.status, `${missing} of the batch's answers missing or malformed`);
  }
}

/** Ids every JSON-RPC server reads back as sent. */
function passesThrough(id: JsonRpcId): boolean {
  return typeof id === 'string' || id === null || Number.isSafeInteger(id);
}

function upstreamRequest(call: RpcCall, index: number): Record<string, unknown> {
  const params = call.request['params'];
  const req: Record<string, unknown> = { jsonrpc: '2.0', method: call.method };
  if (params !== undefined) req['params'] = params;
  if (!call.notification) req['id'] = index;
  return req;
}
