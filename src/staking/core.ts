/**
 * DINInfrastructureCore: the seed's API (registerOperator, stake, unstake, getOperator,
 * recordMetrics, getMetrics, status) over a Store. Writes go to the store first (a
 * compare-and-set, retried on conflict) and then to a local cache, which is what the
 * synchronous getters read and what the control loop turns into routing weights.
 */
import { verifyMessage } from 'viem';
import { checksumAddress, isValidAddress } from './address.js';
import type { GatewayHealth } from '../metrics/gateway-health.js';
import type { WindowMetrics } from '../metrics/window-metrics.js';
import type { DINInfrastructureStatus, NodeOperator, PerformanceMetrics } from '../types.js';
import * as ledger from './ledger.js';
import type { LedgerEvent, OperatorState, ViolationRecord } from './records.js';
import { unbondingTotal } from './records.js';
import { DEFAULT_SCORING, nextScore, type ScoringPolicy } from './scoring.js';
import { DEFAULT_SLASHING, jailUntil, slashBps, type SlashingPolicy } from './slashing-policy.js';
import { type Store, StoreUnavailableError } from './store.js';
import { type BadDataEvidence, DEFAULT_DETECTION, type DetectionPolicy, detectViolations } from './violations.js';

export type CoreErrorCode =
  | 'INVALID_INPUT'
  | 'INVALID_ADDRESS'
  | 'INVALID_METRICS'
  | 'SIGNATURE_REQUIRED'
  | 'INVALID_SIGNATURE'
  | 'OPERATOR_NOT_FOUND'
  | 'OPERATOR_EXISTS'
  | 'INSUFFICIENT_STAKE'
  | 'STAKE_LIMIT'
  | 'IDEMPOTENCY_CONFLICT'
  | 'CONFLICT'
  | 'STORE_UNAVAILABLE';

/** One error class for the staking API; the admin listener maps `code` to an HTTP status. */
export class CoreError extends Error {
  override readonly name = 'CoreError';
  constructor(readonly code: CoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const CORE_ERROR_STATUS: Readonly<Record<CoreErrorCode, number>> = {
  INVALID_INPUT: 400,
  INVALID_ADDRESS: 400,
  INVALID_METRICS: 400,
  SIGNATURE_REQUIRED: 400,
  INVALID_SIGNATURE: 400,
  OPERATOR_NOT_FOUND: 404,
  OPERATOR_EXISTS: 409,
  INSUFFICIENT_STAKE: 409,
  STAKE_LIMIT: 409,
  IDEMPOTENCY_CONFLICT: 422,
  CONFLICT: 409,
  STORE_UNAVAILABLE: 503,
};

export interface CoreOptions {
  readonly store: Store;
  readonly now?: () => number;
  /** Active stake an operator needs to receive traffic. */
  readonly minStakeWei?: bigint;
  readonly unbondingMs?: number;
  readonly requireOperatorSignature?: boolean;
  readonly scoring?: ScoringPolicy;
  readonly detection?: DetectionPolicy;
  readonly slashing?: SlashingPolicy;
  /** Metrics entries kept per operator. */
  readonly metricsHistory?: number;
  /** Violations kept in an operator's record (the full history is in the events). */
  readonly violationsKept?: number;
  /** The chain of operators registered without one. */
  readonly defaultChain?: string;
}

export interface OperatorDetails {
  readonly url: string;
  /** Defaults to the core's `defaultChain`. */
  readonly chain?: string | undefined;
  /** EIP-191 signature by the wallet over `registrationMessage(...)`. */
  readonly signature?: string | undefined;
  /** Expiry of the signed message, ms since epoch. */
  readonly expiresAt?: number | undefined;
}

/** The seed's NodeOperator, with the routing and ledger details an admin needs. */
export interface OperatorView extends NodeOperator {
  url: string;
  chain: string;
  unbondingAmount: bigint;
  withdrawableAmount: bigint;
  slashedAmount: bigint;
  jailedUntil: number;
  probation: boolean;
  eligible: boolean;
}

/** The window extras the control loop has beyond the seed's PerformanceMetrics. */
export interface WindowFindings {
  readonly badData: readonly BadDataEvidence[];
  readonly wrongChain: { readonly expected: string; readonly reported: string } | null;
  /** The gateway's own health in the window: when it was overloaded, neither score nor streak moves. */
  readonly gatewayHealth?: GatewayHealth;
}

/** The message an operator's wallet signs to register (EIP-191 personal_sign). */
export function registrationMessage(operatorId: string, url: string, chain: string, expiresAt: number): string {
  return ['din-gateway operator registration', `operator: ${operatorId}`, `url: ${url}`, `chain: ${chain}`, `expires: ${expiresAt}`].join('\n');
}

const MAX_SIGNATURE_VALIDITY_MS = 24 * 3600_000;
/** Writers in this process queue per operator; these retries are for other gateways' writes. */
const MAX_COMMIT_RETRIES = 50;

function isWindow(m: PerformanceMetrics): m is WindowMetrics {
  return typeof (m as Partial<WindowMetrics>).requests === 'number' && typeof (m as Partial<WindowMetrics>).failures === 'object';
}

export class DINInfrastructureCore {
  private readonly cache = new Map<string, OperatorState>();
  private readonly recentMetrics = new Map<string, PerformanceMetrics[]>();
  private readonly listeners: (() => void)[] = [];
  /** The tail of each operator's write queue: this process never races itself. */
  private readonly writeQueues = new Map<string, Promise<unknown>>();
  private lastCheck: number | null = null;
  readonly now: () => number;
  readonly minStakeWei: bigint;
  readonly unbondingMs: number;
  private readonly scoring: ScoringPolicy;
  private readonly detection: DetectionPolicy;
  private readonly slashing: SlashingPolicy;
  private readonly metricsHistory: number;
  private readonly violationsKept: number;

  private constructor(readonly store: Store, private readonly options: CoreOptions) {
    this.now = options.now ?? Date.now;
    this.minStakeWei = options.minStakeWei ?? 0n;
    this.unbondingMs = options.unbondingMs ?? 7 * 24 * 3600_000;
    this.scoring = options.scoring ?? DEFAULT_SCORING;
    this.detection = options.detection ?? DEFAULT_DETECTION;
    this.slashing = options.slashing ?? DEFAULT_SLASHING;
    this.metricsHistory = options.metricsHistory ?? 1000;
    this.violationsKept = options.violationsKept ?? 100;
  }

  /** Opens the core over `store`, loading every operator into the cache. */
  static async open(options: CoreOptions): Promise<DINInfrastructureCore> {
    const core = new DINInfrastructureCore(options.store, options);
    await core.refresh();
    return core;
  }

  /**
   * A core over a store that starts empty (a fresh MemoryStore), usable at once: nothing
   * to load, so no await. The package's default export is one of these.
   */
  static inMemory(store: Store, options: Omit<CoreOptions, 'store'> = {}): DINInfrastructureCore {
    return new DINInfrastructureCore(store, { unbondingMs: 0, ...options, store });
  }

  /** Reloads the cache from the store: other gateways' writes, or a catch-up after an outage. */
  async refresh(): Promise<void> {
    const all = await this.guard(() => this.store.listOperators());
    const ids = new Set<string>();
    for (const state of all) {
      this.cache.set(state.id, state);
      ids.add(state.id);
    }
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
    // Histories are loaded once per operator; afterwards this gateway appends its own.
    // `loadMetrics` reads the store for the history every gateway wrote.
    const unseen = all.filter((s) => !this.recentMetrics.has(s.id));
    await Promise.all(unseen.map(async (s) => this.recentMetrics.set(s.id, await this.guard(() => this.store.getMetrics(s.id, this.metricsHistory)))));
    this.changed();
  }

  /** Called after every change of any operator (the gateway republishes routes). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  // ── The seed's API ────────────────────────────────────────────────────────────

  async registerOperator(operatorId: string, walletAddress: string, initialStake?: bigint, details?: OperatorDetails): Promise<void> {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(operatorId)) {
      throw new CoreError('INVALID_INPUT', 'operator id must be 1-64 characters of letters, digits, ".", "_" or "-"');
    }
    const wallet = checksummed(walletAddress);
    const url = details?.url ?? '';
    const chain = details?.chain ?? this.options.defaultChain ?? 'ethereum';
    if (details?.signature !== undefined || this.options.requireOperatorSignature) {
      await this.verifyRegistration(operatorId, wallet, url, chain, details);
    }
    if (initialStake !== undefined && initialStake < 0n) throw new CoreError('INVALID_INPUT', 'initialStake must not be negative');
    const now = this.now();
    let state = ledger.newOperatorState({ id: operatorId, walletAddress: wallet, url, chain, now });
    let events: readonly LedgerEvent[] = [];
    if (initialStake !== undefined && initialStake > 0n) ({ state, events } = ledger.stake(state, initialStake, now, 'initial stake'));
    const created = await this.guard(() => this.store.createOperator(state, events));
    if (!created) throw new CoreError('OPERATOR_EXISTS', `operator "${operatorId}" is already registered`);
    this.cache.set(operatorId, state);
    this.recentMetrics.set(operatorId, []);
    this.changed();
  }

  /**
   * `requestId` (the admin API's Idempotency-Key) makes a retry safe: the stake event takes
   * it as its id, so a second call with the same id and the same request (after a 503 whose
   * outcome was unknown) is recognized and applies nothing; the same id with a different
   * operator, operation or amount is refused (IDEMPOTENCY_CONFLICT), never silently ignored.
   */
  async stake(operatorId: string, amount: bigint, requestId?: string): Promise<void> {
    const request = requestId === undefined ? undefined : { requestId, operatorId, type: 'stake' as const, amount };
    if (request !== undefined && (await this.alreadyApplied(request))) return;
    await this.mutate(operatorId, (s) => this.ledgerCall(() => {
      const released = ledger.release(s, this.now());
      const change = ledger.stake(released.state, amount, this.now(), 'stake', request && requestEventId(request.requestId));
      return { state: change.state, events: [...released.events, ...change.events] };
    }));
    // A concurrent request with the same key may have won the commit ('duplicate'): it must be this same request.
    if (request !== undefined) await this.alreadyApplied(request);
  }

  async unstake(operatorId: string, amount: bigint, requestId?: string): Promise<void> {
    const request = requestId === undefined ? undefined : { requestId, operatorId, type: 'unstake' as const, amount };
    if (request !== undefined && (await this.alreadyApplied(request))) return;
    await this.mutate(operatorId, (s) => this.ledgerCall(() => {
      const released = ledger.release(s, this.now());
      const change = ledger.unstake(released.state, amount, this.now(), this.unbondingMs, 'unstake', request && requestEventId(request.requestId));
      return { state: change.state, events: [...released.events, ...change.events] };
    }));
    if (request !== undefined) await this.alreadyApplied(request);
  }

  /**
   * True when the request with this key was already applied (its operator's record is
   * reloaded so the caller answers with the current state); throws IDEMPOTENCY_CONFLICT when
   * the key was used for a different request.
   */
  private async alreadyApplied(request: { requestId: string; operatorId: string; type: 'stake' | 'unstake'; amount: bigint }): Promise<boolean> {
    const prior = await this.guard(() => this.store.getEvent(requestEventId(request.requestId)));
    if (prior === undefined) return false;
    if (prior.operatorId !== request.operatorId || prior.type !== request.type || prior.amount !== request.amount) {
      throw new CoreError(
        'IDEMPOTENCY_CONFLICT',
        `Idempotency-Key "${request.requestId}" was already used for a ${prior.type} of ${prior.amount} wei on operator "${prior.operatorId}"; ` +
          `this request is a ${request.type} of ${request.amount} wei on operator "${request.operatorId}": use a new key`,
      );
    }
    const current = await this.guard(() => this.store.getOperator(request.operatorId));
    if (current !== undefined) this.cache.set(request.operatorId, current);
    return true;
  }

  getOperator(operatorId: string): OperatorView | undefined {
    const s = this.cache.get(operatorId);
    return s === undefined ? undefined : this.view(s);
  }

  /**
   * Validates and records one window of metrics: appends to the history, updates the
   * score, and (for a gateway-measured window) detects violations and slashes.
   */
  async recordMetrics(operatorId: string, metrics: PerformanceMetrics, findings?: WindowFindings): Promise<void> {
    validateMetrics(metrics, this.now());
    if (!this.cache.has(operatorId)) {
      await this.refresh();
      if (!this.cache.has(operatorId)) throw new CoreError('OPERATOR_NOT_FOUND', `no operator "${operatorId}"`);
    }
    const stored = toPerformanceMetrics(metrics);
    await this.guard(() => this.store.appendMetrics(operatorId, stored, this.metricsHistory));
    const history = this.recentMetrics.get(operatorId) ?? [];
    history.push(stored);
    if (history.length > this.metricsHistory) history.splice(0, history.length - this.metricsHistory);
    this.recentMetrics.set(operatorId, history);

    let violations: ViolationRecord[] = [];
    await this.mutate(operatorId, (s) => {
      // A window at or before the last one recorded (the same window again, or another
      // gateway's report of a period already scored) changes no score or streak; only its
      // evidence of bad data still counts, and that is slashed once per violation id.
      if (metrics.timestamp <= s.lastPerformanceCheck) {
        if (isWindow(metrics) && findings !== undefined) {
          violations = detectViolations(
            { state: s, window: metrics, score: s.performanceScore, badData: findings.badData, wrongChain: findings.wrongChain },
            this.detection,
            this.slashing,
          ).violations.filter((v) => v.type === 'bad_data');
        }
        return null;
      }
      // A window of the gateway's own overload says nothing of the operator's performance.
      const score = findings?.gatewayHealth?.overloaded === true ? s.performanceScore : nextScore(s.performanceScore, metrics, this.scoring);
      let next: OperatorState = { ...s, performanceScore: score, lastPerformanceCheck: metrics.timestamp, version: s.version + 1 };
      if (isWindow(metrics)) {
        const found = detectViolations(
          { state: s, window: metrics, score, badData: findings?.badData ?? [], wrongChain: findings?.wrongChain ?? null, gatewayHealth: findings?.gatewayHealth ?? null },
          this.detection,
          this.slashing,
        );
        violations = found.violations;
        next = { ...next, downSince: found.downSince, outage: found.outage, badWindows: found.badWindows, probation: found.probation, quietProbationWindows: found.quietProbationWindows, pendingInvalid: found.pendingInvalid };
      }
      const released = ledger.release(next, this.now());
      return { state: { ...released.state, version: s.version + 1 }, events: released.events };
    });
    this.lastCheck = metrics.timestamp;
    for (const violation of violations) await this.applyViolation(operatorId, violation);
  }

  getMetrics(operatorId: string, limit?: number): PerformanceMetrics[] {
    const history = this.recentMetrics.get(operatorId) ?? [];
    if (limit === undefined) return [...history];
    return limit <= 0 ? [] : history.slice(-limit);
  }

  /** The operator's metrics history as the store has it (what every gateway recorded), oldest first. */
  async loadMetrics(operatorId: string, limit: number): Promise<PerformanceMetrics[]> {
    if (!this.cache.has(operatorId)) throw new CoreError('OPERATOR_NOT_FOUND', `no operator "${operatorId}"`);
    return this.guard(() => this.store.getMetrics(operatorId, limit));
  }

  status(): DINInfrastructureStatus {
    let totalStaked = 0n;
    let active = 0;
    let slashed = 0;
    let scoreSum = 0;
    for (const s of this.cache.values()) {
      totalStaked += s.active + unbondingTotal(s);
      if (this.isEligible(s)) active++;
      if (s.slashed > 0n) slashed++;
      scoreSum += s.performanceScore;
    }
    return {
      totalOperators: this.cache.size,
      totalStaked,
      activeOperators: active,
      slashedOperators: slashed,
      averagePerformanceScore: this.cache.size === 0 ? 0 : Math.round((scoreSum / this.cache.size) * 100) / 100,
      lastPerformanceCheck: this.lastCheck,
    };
  }

  // ── Beyond the seed ──────────────────────────────────────────────────────────

  events(query: { operatorId?: string; limit?: number } = {}): Promise<LedgerEvent[]> {
    return this.guard(() => this.store.listEvents(query));
  }

  /** Operators as the cache holds them (the control loop and the routing table read this). */
  states(): IterableIterator<OperatorState> {
    return this.cache.values();
  }

  state(operatorId: string): OperatorState | undefined {
    return this.cache.get(operatorId);
  }

  /** Receives traffic: enough active stake and not jailed. Probation only lowers the weight. */
  isEligible(s: OperatorState): boolean {
    return s.active > 0n && s.active >= this.minStakeWei && s.jailedUntil <= this.now();
  }

  // ── Internals ────────────────────────────────────────────────────────────────

  private view(s: OperatorState): OperatorView {
    return {
      id: s.id,
      walletAddress: s.walletAddress,
      stakedAmount: s.active,
      performanceScore: s.performanceScore,
      violations: s.violations.map(({ evidence: _evidence, id: _id, slashedWei: _slashed, ...v }) => v),
      registeredAt: s.registeredAt,
      lastPerformanceCheck: s.lastPerformanceCheck,
      url: s.url,
      chain: s.chain,
      unbondingAmount: unbondingTotal(s),
      withdrawableAmount: s.withdrawable,
      slashedAmount: s.slashed,
      jailedUntil: s.jailedUntil,
      probation: s.probation,
      eligible: this.isEligible(s),
    };
  }

  /** Slashes (and jails, for critical ones) once per violation id, whichever gateway gets there first. */
  private async applyViolation(operatorId: string, violation: ViolationRecord): Promise<void> {
    await this.mutate(operatorId, (s) => {
      if (s.violations.some((v) => v.id === violation.id)) return null;
      const bps = slashBps(violation, s.violations, this.slashing);
      const change = ledger.slash(s, {
        violationId: violation.id,
        bps,
        type: violation.type,
        severity: violation.severity,
        reason: `${violation.type}/${violation.severity}: ${violation.description}`,
        evidence: violation.evidence,
      }, this.now());
      const jail = jailUntil(violation, s.jailCount, this.slashing);
      const slashedWei = (change.events[0]?.amount ?? 0n).toString();
      const violations = [...s.violations, { ...violation, slashedWei }].slice(-this.violationsKept);
      return {
        state: {
          ...change.state,
          violations,
          jailedUntil: Math.max(s.jailedUntil, jail),
          jailCount: jail > 0 ? s.jailCount + 1 : s.jailCount,
          probation: true,
          version: s.version + 1,
        },
        events: change.events,
      };
    });
  }

  /**
   * Read-modify-write with the store's compare-and-set: reload and retry on conflict.
   * `update` returning null means nothing to do. A 'duplicate' (the same slash event
   * already recorded by another gateway) is success: reload so the cache has it.
   */
  private mutate(operatorId: string, update: (s: OperatorState) => ledger.Change | null): Promise<void> {
    const previous = this.writeQueues.get(operatorId) ?? Promise.resolve();
    const run = previous.then(() => this.commitLoop(operatorId, update), () => this.commitLoop(operatorId, update));
    const tail = run.catch(() => {});
    this.writeQueues.set(operatorId, tail);
    void tail.then(() => {
      if (this.writeQueues.get(operatorId) === tail) this.writeQueues.delete(operatorId);
    });
    return run;
  }

  private async commitLoop(operatorId: string, update: (s: OperatorState) => ledger.Change | null): Promise<void> {
    for (let attempt = 0; attempt < MAX_COMMIT_RETRIES; attempt++) {
      // Another gateway won the race: back off a little, with jitter, so we do not collide again.
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt, 50)));
      const current = await this.guard(() => this.store.getOperator(operatorId));
      if (current === undefined) throw new CoreError('OPERATOR_NOT_FOUND', `no operator "${operatorId}"`);
      const change = update(current);
      if (change === null) {
        this.cache.set(operatorId, current);
        return;
      }
      const result = await this.guard(() => this.store.commit(change.state, current.version, change.events));
      if (result === 'ok') {
        this.cache.set(operatorId, change.state);
        this.changed();
        return;
      }
      if (result === 'missing') throw new CoreError('OPERATOR_NOT_FOUND', `no operator "${operatorId}"`);
      if (result === 'duplicate') {
        const fresh = await this.guard(() => this.store.getOperator(operatorId));
        if (fresh !== undefined) this.cache.set(operatorId, fresh);
        this.changed();
        return;
      }
    }
    throw new CoreError('CONFLICT', `operator "${operatorId}" is being changed by too many writers at once; try again`);
  }

  private ledgerCall(fn: () => ledger.Change): ledger.Change {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ledger.LedgerError) {
        throw new CoreError(err.code === 'INVALID_AMOUNT' ? 'INVALID_INPUT' : err.code, err.message);
      }
      throw err;
    }
  }

  private async verifyRegistration(operatorId: string, wallet: `0x${string}`, url: string, chain: string, details?: OperatorDetails): Promise<void> {
    if (details?.signature === undefined || details.expiresAt === undefined) {
      throw new CoreError('SIGNATURE_REQUIRED', 'registration needs a signature by the wallet and its expiresAt');
    }
    const now = this.now();
    if (details.expiresAt <= now) throw new CoreError('INVALID_SIGNATURE', 'the signed registration has expired');
    if (details.expiresAt > now + MAX_SIGNATURE_VALIDITY_MS) throw new CoreError('INVALID_SIGNATURE', 'expiresAt is more than 24 h ahead');
    if (!/^0x[0-9a-fA-F]{130}$/.test(details.signature)) throw new CoreError('INVALID_SIGNATURE', 'signature must be 65 bytes of hex');
    const valid = await verifyMessage({
      address: wallet,
      message: registrationMessage(operatorId, url, chain, details.expiresAt),
      signature: details.signature as `0x${string}`,
    }).catch(() => false);
    if (!valid) throw new CoreError('INVALID_SIGNATURE', 'the signature is not by this wallet over this registration');
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        throw new CoreError(
          'STORE_UNAVAILABLE',
          'the state store is unavailable; nothing is half-written, but a write cut off mid-call may have landed: retry with the same Idempotency-Key to apply it at most once',
          { cause: err },
        );
      }
      throw err;
    }
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * The event id of a client-identified request, so a retried request is recognized. One key
 * names one request across every operator and operation, as in payment APIs: a reuse for
 * anything else is found under the same id and refused.
 */
function requestEventId(requestId: string): string {
  return `request:${requestId}`;
}

/** EIP-55: all-lowercase and all-uppercase addresses are accepted; mixed case must carry a valid checksum. */
function checksummed(address: string): `0x${string}` {
  if (!isValidAddress(address)) {
    throw new CoreError('INVALID_ADDRESS', `"${String(address)}" is not a valid address (0x + 40 hex digits, EIP-55 checksum when mixed case)`);
  }
  return checksumAddress(address);
}

function toPerformanceMetrics(m: PerformanceMetrics): PerformanceMetrics {
  return {
    serviceId: m.serviceId,
    successRate: m.successRate,
    p95Latency: m.p95Latency,
    p99Latency: m.p99Latency,
    throughput: m.throughput,
    uptime: m.uptime,
    timestamp: m.timestamp,
  };
}

/** Clock skew a reporter may have before its timestamps count as "in the future". */
const MAX_FUTURE_SKEW_MS = 5_000;

export function validateMetrics(m: PerformanceMetrics, now: number): void {
  const problems: string[] = [];
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (typeof m !== 'object' || m === null) throw new CoreError('INVALID_METRICS', 'metrics must be an object');
  if (typeof m.serviceId !== 'string' || m.serviceId.length === 0) problems.push('serviceId must be a non-empty string');
  for (const field of ['successRate', 'uptime'] as const) {
    if (!finite(m[field]) || m[field] < 0 || m[field] > 100) problems.push(`${field} must be a number from 0 to 100`);
  }
  for (const field of ['p95Latency', 'p99Latency', 'throughput'] as const) {
    if (!finite(m[field]) || m[field] < 0) problems.push(`${field} must be a finite number >= 0`);
  }
  if (finite(m.p95Latency) && finite(m.p99Latency) && m.p99Latency < m.p95Latency) problems.push('p99Latency must be >= p95Latency');
  if (!finite(m.timestamp) || m.timestamp <= 0) problems.push('timestamp must be a positive number of ms since epoch');
  else if (m.timestamp > now + MAX_FUTURE_SKEW_MS) problems.push('timestamp is in the future');
  if (problems.length > 0) throw new CoreError('INVALID_METRICS', problems.join('; '));
}
