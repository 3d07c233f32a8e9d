/**
 * The state of ONE chain as the gateway sees it: each operator's head (and `safe`/`finalized`
 * where it serves them), the heights the gateway serves, which operators are admitted to
 * routing and which are at the tip. Main thread only, off the hot path; every time comes from
 * the injected clock (`now`, ms).
 *
 * Inputs: probe reports (`recordProbe`), heads read from client answers (`recordAnswerHead`),
 * revocations (`revoke`). Served heights and admissions are recomputed by `update()`, which
 * says whether anything routing reads changed; revocations take effect at once. `view()`
 * derives an operator's lag and routing fields at call time from the last served heights.
 *
 * Rules:
 * - Voters: operators whose last probe reached them and confirmed their chain id
 *   (`chainIdMatches === true`). The served tip, `safe` and `finalized` are each the quorum
 *   of the voters that report that height, held against going back (served-height.ts).
 *   `safe` is served no higher than the tip, `finalized` no higher than `safe` (or the tip).
 * - Heads: a probe's head replaces the operator's (a reset or a reorg to a lower height is
 *   believed from a probe); a probe that asked and got no valid head forgets it; a probe
 *   that did not ask (`head` undefined) keeps it. A head from a client answer only raises
 *   it. A height is a non-negative safe integer: an answer's other values are ignored, a
 *   probe's count as no valid answer.
 * - Admission: an operator starts not admitted (`awaiting_probe`). A probe that reached it,
 *   confirmed its chain id and found its head no more than `maxBlockLag` below the served
 *   tip (computed with it voting) admits it at the next `update()`; one whose head is lower
 *   stays out (`lagging`). A probe that does not reach it (`unreachable`), a wrong chain id
 *   (`wrong_chain`) or `revoke(id, 'jailed')` takes admission away at once; after that only a
 *   later probe that meets the rule admits it again. An admitted operator that falls behind
 *   stays admitted, but is not at the tip. This is the chain's side only: stake, jail and
 *   score are judged elsewhere.
 * - Lag: `lagBlocks` = max(0, tip - head); `lagSeconds` = 0 at or above the tip, else the time
 *   since the served tip first passed the head (tip-history.ts).
 * - At the tip: admitted, tip - maxBlockLag <= head <= tip + maxBlockLag (a claim far ahead
 *   of the quorum is not "at the tip") and lagSeconds <= maxLagSeconds.
 * - routingHead: min(head, tip + maxBlockLag) for an admitted operator with a head (the
 *   highest block block-aware routing believes it has), -1 otherwise.
 * - Admission counts (`takeAdmissionCounts`, for `din_admissions_total`): one per change of an
 *   operator's admission state, labelled with the new state (`admitted` or the reason).
 *
 * Memory: one record per added operator (reports for unknown ids are ignored), the last
 * MAX_HEIGHTS tip times, six counters.
 */
import { ServedHeight, quorumHeight } from './served-height.js';
import { TipHistory } from './tip-history.js';

export interface ChainStateOptions {
  /** Blocks an operator may be off the served tip and still be at it; also how far below the tip a probe may find it and admit it. */
  readonly maxBlockLag: number;
  /** Seconds an operator may be behind the served tip and still be at it. */
  readonly maxLagSeconds: number;
  /** How long the quorum must stay below a served height before the height goes back to it. */
  readonly tipHoldMs: number;
  readonly now: () => number;
}

export type AdmissionReason = 'awaiting_probe' | 'wrong_chain' | 'lagging' | 'unreachable' | 'jailed';
export type AdmissionResult = 'admitted' | AdmissionReason;

/**
 * One probe of one operator. For each height: undefined when this probe did not ask for it
 * (what is known is kept), null when it asked and got no valid answer (forgotten).
 */
export interface ProbeReport {
  readonly reached: boolean;
  /** The chain id it answered is the chain's (true), another (false), or no valid answer (null). */
  readonly chainIdMatches: boolean | null;
  readonly head?: number | null;
  readonly safe?: number | null;
  readonly finalized?: number | null;
}

export interface OperatorChainView {
  readonly admitted: boolean;
  /** Why it is not admitted; null when admitted. */
  readonly reason: AdmissionReason | null;
  readonly head: number | null;
  /** When the current head was last reported (by a probe, or an answer at or above it). */
  readonly headAt: number | null;
  /** When a client answer last reported the current head or raised it (null: never since a probe set it). */
  readonly answerHeadAt: number | null;
  readonly lagBlocks: number | null;
  readonly lagSeconds: number | null;
  readonly atTip: boolean;
  readonly routingHead: number;
  /** Its own `safe` and `finalized`, as last probed. */
  readonly safe: number | null;
  readonly finalized: number | null;
}

interface OperatorRecord {
  head: number | null;
  headAt: number | null;
  answerHeadAt: number | null;
  safe: number | null;
  finalized: number | null;
  /** From the last probe: it reached the operator, and confirmed its chain id. */
  reached: boolean;
  chainConfirmed: boolean;
  admitted: boolean;
  reason: AdmissionReason | null;
  /** A probe that may admit it awaits the next update(). */
  probeToJudge: boolean;
  /** What the last update() published for routing. */
  publishedAdmitted: boolean;
  publishedAtTip: boolean;
  publishedRoutingHead: number;
}

type HeightKind = 'head' | 'safe' | 'finalized';

function validHeight(value: number | null): number | null {
  return value !== null && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function minOf(a: number | null, b: number | null): number | null {
  return a === null ? null : b === null ? a : Math.min(a, b);
}

export class ChainState {
  private readonly operators = new Map<string, OperatorRecord>();
  private readonly servedTip: ServedHeight;
  private readonly servedSafe: ServedHeight;
  private readonly servedFinalized: ServedHeight;
  private readonly history = new TipHistory();
  private readonly admissionCounts = new Map<AdmissionResult, number>();
  private membershipChanged = false;
  private published: { tip: number | null; safe: number | null; finalized: number | null } = { tip: null, safe: null, finalized: null };

  constructor(
    readonly chain: string,
    private readonly options: ChainStateOptions,
  ) {
    this.servedTip = new ServedHeight(options.tipHoldMs);
    this.servedSafe = new ServedHeight(options.tipHoldMs);
    this.servedFinalized = new ServedHeight(options.tipHoldMs);
  }

  /** The served tip: null until some voter reported a head. */
  get tip(): number | null {
    return this.servedTip.value;
  }

  get safe(): number | null {
    return minOf(this.servedSafe.value, this.tip);
  }

  get finalized(): number | null {
    return minOf(this.servedFinalized.value, this.safe ?? this.tip);
  }

  addOperator(id: string): void {
    if (this.operators.has(id)) return;
    this.operators.set(id, {
      head: null,
      headAt: null,
      answerHeadAt: null,
      safe: null,
      finalized: null,
      reached: false,
      chainConfirmed: false,
      admitted: false,
      reason: 'awaiting_probe',
      probeToJudge: false,
      publishedAdmitted: false,
      publishedAtTip: false,
      publishedRoutingHead: -1,
    });
    this.count('awaiting_probe');
    this.membershipChanged = true;
  }

  removeOperator(id: string): void {
    if (this.operators.delete(id)) this.membershipChanged = true;
  }

  recordProbe(id: string, report: ProbeReport): void {
    const op = this.operators.get(id);
    if (op === undefined) return;
    op.reached = report.reached;
    op.chainConfirmed = report.reached && report.chainIdMatches === true;
    op.probeToJudge = false;
    if (!report.reached) {
      this.setAdmission(op, false, 'unreachable');
      return;
    }
    const now = this.options.now();
    if (report.head !== undefined) {
      op.head = validHeight(report.head);
      op.headAt = op.head === null ? null : now;
      op.answerHeadAt = null;
    }
    if (report.safe !== undefined) op.safe = validHeight(report.safe);
    if (report.finalized !== undefined) op.finalized = validHeight(report.finalized);
    if (report.chainIdMatches === false) this.setAdmission(op, false, 'wrong_chain');
    else if (report.chainIdMatches === true) op.probeToJudge = true;
    else if (!op.admitted) this.setAdmission(op, false, 'awaiting_probe');
  }

  /** A head read from a client answer (eth_blockNumber, the latest block): raises the operator's head, never lowers it. */
  recordAnswerHead(id: string, head: number): void {
    const op = this.operators.get(id);
    if (op === undefined || validHeight(head) === null) return;
    if (op.head !== null && head < op.head) return;
    const now = this.options.now();
    op.head = head;
    op.headAt = now;
    op.answerHeadAt = now;
  }

  /** Takes the operator out of routing (jailed, below the minimum stake): only a later probe admits it again. */
  revoke(id: string, reason: 'jailed'): void {
    const op = this.operators.get(id);
    if (op === undefined) return;
    op.probeToJudge = false;
    this.setAdmission(op, false, reason);
  }

  /** Recomputes the served heights and judges waiting probes; true when anything routing reads changed since the last call. */
  update(): boolean {
    const now = this.options.now();
    this.servedTip.update(quorumHeight(this.voterHeights('head')), now);
    this.servedSafe.update(quorumHeight(this.voterHeights('safe')), now);
    this.servedFinalized.update(quorumHeight(this.voterHeights('finalized')), now);
    const tip = this.tip;
    if (tip !== null) this.history.observe(tip, now);
    for (const op of this.operators.values()) if (op.probeToJudge) this.judge(op, tip);

    let changed = this.membershipChanged;
    this.membershipChanged = false;
    const served = { tip, safe: this.safe, finalized: this.finalized };
    if (served.tip !== this.published.tip || served.safe !== this.published.safe || served.finalized !== this.published.finalized) changed = true;
    this.published = served;
    for (const op of this.operators.values()) {
      const v = this.derive(op, now);
      if (v.admitted === op.publishedAdmitted && v.atTip === op.publishedAtTip && v.routingHead === op.publishedRoutingHead) continue;
      changed = true;
      op.publishedAdmitted = v.admitted;
      op.publishedAtTip = v.atTip;
      op.publishedRoutingHead = v.routingHead;
    }
    return changed;
  }

  view(id: string): OperatorChainView | undefined {
    const op = this.operators.get(id);
    return op === undefined ? undefined : this.derive(op, this.options.now());
  }

  /** Estimated from how the served tip advances; null before it has advanced twice. */
  blockTimeMs(): number | null {
    return this.history.blockTimeMs();
  }

  /** Admission state changes since the last call, by the state entered; resets them. */
  takeAdmissionCounts(): Map<AdmissionResult, number> {
    const taken = new Map(this.admissionCounts);
    this.admissionCounts.clear();
    return taken;
  }

  private *voterHeights(kind: HeightKind): Generator<number> {
    for (const op of this.operators.values()) {
      if (!op.reached || !op.chainConfirmed) continue;
      const height = op[kind];
      if (height !== null) yield height;
    }
  }

  private judge(op: OperatorRecord, tip: number | null): void {
    op.probeToJudge = false;
    if (op.admitted) return;
    if (op.head === null || tip === null) this.setAdmission(op, false, 'awaiting_probe');
    else if (op.head >= tip - this.options.maxBlockLag) this.setAdmission(op, true, null);
    else this.setAdmission(op, false, 'lagging');
  }

  private setAdmission(op: OperatorRecord, admitted: boolean, reason: AdmissionReason | null): void {
    if (op.admitted === admitted && op.reason === reason) return;
    op.admitted = admitted;
    op.reason = reason;
    this.count(reason ?? 'admitted');
  }

  private count(result: AdmissionResult): void {
    this.admissionCounts.set(result, (this.admissionCounts.get(result) ?? 0) + 1);
  }

  private derive(op: OperatorRecord, now: number): OperatorChainView {
    const { maxBlockLag, maxLagSeconds } = this.options;
    const tip = this.tip;
    const head = op.head;
    let lagBlocks: number | null = null;
    let lagSeconds: number | null = null;
    if (head !== null && tip !== null) {
      lagBlocks = Math.max(0, tip - head);
      // The tip passed the head when it reached head + 1 (kept, or older than what is kept).
      lagSeconds = head >= tip ? 0 : Math.max(0, now - (this.history.reachedAt(head + 1) ?? now)) / 1000;
    }
    const known = op.admitted && head !== null && tip !== null;
    const atTip = known && Math.abs(head - tip) <= maxBlockLag && lagSeconds! <= maxLagSeconds;
    return {
      admitted: op.admitted,
      reason: op.reason,
      head,
      headAt: op.headAt,
      answerHeadAt: op.answerHeadAt,
      lagBlocks,
      lagSeconds,
      atTip,
      routingHead: known ? Math.min(head, tip + maxBlockLag) : -1,
      safe: op.safe,
      finalized: op.finalized,
    };
  }
}
