/**
 * The sampled cross-check that catches bad data: a small share of deterministic requests
 * (same answer from every honest node: chain id, a settled block, a balance at a fixed
 * block) is sent again to two other operators after the client has its answer. Answers are
 * compared by their digest (`answer-digest.ts`: what consensus fixes, not how a client
 * formats it). When two of the three agree, the third is outvoted: its attempt is
 * re-recorded as `wrong_result` and the evidence goes to the sink (the staking side). Off
 * the client's path; nothing is awaited by the request that triggered it.
 */
import { createHash } from 'node:crypto';
import type { AttemptRecorder } from '../metrics/attempt-recorder.js';
import { reportInternalError } from '../metrics/internal-errors.js';
import { methodIndex } from '../metrics/method-labels.js';
import { answerDigest, type DigestKind, digestKindOf } from './answer-digest.js';
import { parseJsonBody, type RpcCall } from './jsonrpc.js';
import type { OperatorRef, RandomSource, RoutingState } from './routing-table.js';
import type { UpstreamBody } from './upstream.js';
import { canonicalJson, utf8Prefix } from './untrusted-json.js';

/**
 * What an outvoted operator is shown. `params` is the call's params as canonical JSON (sorted
 * keys, no spaces); `answer` and `majority` are the digests that disagreed (`comparedAs` names
 * the digest, see answer-digest.ts; each is canonical JSON too). Each is cut to
 * EVIDENCE_EXCERPT_BYTES, with the byte length and sha256 of the whole text in `full`: bounded
 * in the operator's record whatever the client asked or the operator answered, and still
 * checkable against the digest of the operator's own answer.
 */
export interface CrossCheckEvidence {
  readonly method: string;
  readonly params: string;
  /** How the answers were compared: the digest of the method's answers. */
  readonly comparedAs: DigestKind;
  /** The outvoted operator's digest. */
  readonly answer: string;
  /** The digest the two agreeing operators gave. */
  readonly majority: string;
  readonly full: { readonly params: WholeText; readonly answer: WholeText; readonly majority: WholeText };
  readonly agreeingOperators: readonly string[];
}

/** The size and digest of a canonical JSON text of which evidence keeps only the start. */
export interface WholeText {
  readonly bytes: number;
  /** sha256 of the UTF-8 bytes, in hex. */
  readonly sha256: string;
  readonly truncated: boolean;
}

/** How much of each canonical text a piece of evidence keeps. */
export const EVIDENCE_EXCERPT_BYTES = 512;

export interface CrossCheckSink {
  onOutvoted(operator: OperatorRef, evidence: CrossCheckEvidence): void;
}

export interface CrossCheckOptions {
  readonly sampleRate: number;
  readonly settledDepth: number;
  readonly timeoutMs: number;
  /** Checks in flight at once; beyond it samples are dropped, so a burst cannot pile up work. */
  readonly maxInflight?: number;
  /** Params or results nested deeper than this are not inspected (no check, no vote). */
  readonly maxJsonDepth: number;
}

/** Methods whose answer is fixed once their block is settled, and where the block number sits in params. */
const BLOCK_PARAM: Readonly<Record<string, number | null>> = {
  eth_chainId: null,
  net_version: null,
  eth_getBlockByNumber: 0,
  eth_getBlockReceipts: 0,
  eth_getBalance: 1,
  eth_getCode: 1,
  eth_getTransactionCount: 1,
  eth_getStorageAt: 2,
  eth_call: 1,
};

const HEX_BLOCK = /^0x[0-9a-fA-F]{1,16}$/;

export class CrossChecker {
  private inflight = 0;

  constructor(
    private readonly routing: RoutingState,
    private readonly recorder: AttemptRecorder,
    private readonly sink: CrossCheckSink,
    /** The chain's agreed head block, or null when unknown. */
    private readonly headOf: (chain: string) => number | null,
    private readonly options: CrossCheckOptions,
    private readonly random: RandomSource = Math.random,
  ) {}

  /**
   * Called after a successful single answer; costs one random() when not sampled. `answer` is
   * read before this returns (check's first, synchronous step): the caller then gives it back
   * to the body pool, so nothing here may read it later.
   */
  consider(chain: string, call: RpcCall, operator: OperatorRef, answer: Buffer): void {
    if (this.random() >= this.options.sampleRate) return;
    if (this.inflight >= (this.options.maxInflight ?? 16)) return;
    try {
      if (!this.isDeterministic(chain, call)) return;
    } catch (err) {
      reportInternalError('cross_check', err);
      return;
    }
    this.inflight++;
    // Nothing awaits a check: whatever goes wrong in it is caught here, counted, and costs only the check.
    this.check(chain, call, operator, answer)
      .catch((err: unknown) => reportInternalError('cross_check', err))
      .finally(() => this.inflight--);
  }

  isDeterministic(chain: string, call: RpcCall): boolean {
    const index = BLOCK_PARAM[call.method];
    if (index === undefined) return false;
    if (index === null) return true;
    const params = call.request['params'];
    if (!Array.isArray(params)) return false;
    const block = params[index];
    if (typeof block !== 'string' || !HEX_BLOCK.test(block)) return false;
    const head = this.headOf(chain);
    return head !== null && Number.parseInt(block, 16) <= head - this.options.settledDepth;
  }

  /**
   * What two answers to `call` must share to agree: the result's digest for its method (what
   * consensus fixes, as the vote compares); undefined for an error, garbage, or a result nested
   * deeper than the gateway inspects (it cannot be vouched for).
   */
  answerKey(call: RpcCall, answer: Buffer): string | undefined {
    return digestOf(digestKindOf(call.method), parseJsonBody(answer), this.options.maxJsonDepth);
  }

  /** Checks `call` now, whatever the sample rate (two operators disagreed on it): the vote files its verdict. */
  checkNow(chain: string, call: RpcCall, answered: OperatorRef, answer: Buffer): void {
    if (this.inflight >= (this.options.maxInflight ?? 16)) return;
    this.inflight++;
    this.check(chain, call, answered, answer)
      .catch((err: unknown) => reportInternalError('cross_check', err))
      .finally(() => this.inflight--);
  }

  /** Sends the call to up to two other operators and votes; resolves when the verdict is filed. */
  async check(chain: string, call: RpcCall, answered: OperatorRef, answer: Buffer): Promise<void> {
    // Before any await: `answer` may be reused once consider() returns.
    const maxDepth = this.options.maxJsonDepth;
    const comparedAs = digestKindOf(call.method);
    const first = digestOf(comparedAs, parseJsonBody(answer), maxDepth);
    if (first === undefined) return;
    // Params nested deeper than the gateway inspects are not checked; the client's bytes went upstream untouched.
    const params = canonicalJson(call.request['params'] ?? [], maxDepth);
    if (params === undefined) return;
    const route = this.routing.current.route(chain);
    const others: OperatorRef[] = [];
    while (route !== undefined && others.length < 2) {
      const pick = route.pick(this.random, [answered, ...others]);
      if (pick === undefined) break;
      others.push(pick);
    }
    if (others.length < 2) return;
    // The client's own bytes, with the upstream's ids: nothing of the call is re-serialized.
    const answers = await Promise.all(others.map((op) => this.ask(op, call, comparedAs)));
    const votes = [{ operator: answered, result: first }, ...others.map((operator, i) => ({ operator, result: answers[i] }))];
    if (votes.some((v) => v.result === undefined)) return;
    const [a, b, c] = votes as { operator: OperatorRef; result: string }[];
    let outvoted: { operator: OperatorRef; result: string } | undefined;
    let majority: { operator: OperatorRef; result: string }[] = [];
    if (a!.result === b!.result && b!.result !== c!.result) [outvoted, majority] = [c, [a!, b!]];
    else if (a!.result === c!.result && c!.result !== b!.result) [outvoted, majority] = [b, [a!, c!]];
    else if (b!.result === c!.result && a!.result !== b!.result) [outvoted, majority] = [a, [b!, c!]];
    if (outvoted === undefined) return;
    this.recorder.recordAttempt(outvoted.operator.index, methodIndex(call.method), 'wrong_result', 0);
    const [paramsExcerpt, paramsWhole] = excerpt(params);
    const [answerExcerpt, answerWhole] = excerpt(outvoted.result);
    const [majorityExcerpt, majorityWhole] = excerpt(majority[0]!.result);
    this.sink.onOutvoted(outvoted.operator, {
      method: call.method,
      params: paramsExcerpt,
      comparedAs,
      answer: answerExcerpt,
      majority: majorityExcerpt,
      full: { params: paramsWhole, answer: answerWhole, majority: majorityWhole },
      agreeingOperators: majority.map((m) => m.operator.id),
    });
  }

  private async ask(operator: OperatorRef, body: UpstreamBody, comparedAs: DigestKind): Promise<string | undefined> {
    try {
      const reply = await operator.upstream.send(body, this.options.timeoutMs, true);
      return reply.status === 200 ? digestOf(comparedAs, parseJsonBody(reply.body), this.options.maxJsonDepth) : undefined;
    } catch {
      return undefined; // an operator that cannot answer casts no vote
    }
  }
}

/**
 * The digest of a JSON-RPC answer's `result`; errors, garbage and results that have no digest
 * and nest deeper than `maxDepth` cast no vote.
 */
function digestOf(kind: DigestKind, response: unknown, maxDepth: number): string | undefined {
  if (typeof response !== 'object' || response === null || !('result' in response)) return undefined;
  return answerDigest(kind, (response as { result: unknown }).result, maxDepth);
}

/** The start of a canonical text that evidence keeps, and what it needs to check the rest. */
function excerpt(text: string): [string, WholeText] {
  const bytes = Buffer.byteLength(text);
  const kept = bytes <= EVIDENCE_EXCERPT_BYTES ? text : utf8Prefix(text, EVIDENCE_EXCERPT_BYTES);
  return [kept, { bytes, sha256: createHash('sha256').update(text).digest('hex'), truncated: kept.length !== text.length }];
}
