/**
 * The in-process Store: one gateway, no persistence. Tests and the demo use it; it is
 * also the reference the Redis store is held to by the contract suite.
 */
import type { PerformanceMetrics } from '../types.js';
import type { LedgerEvent, OperatorState } from './records.js';
import type { CommitResult, Store } from './store.js';

export class MemoryStore implements Store {
  readonly #operators = new Map<string, OperatorState>();
  readonly #events: LedgerEvent[] = [];
  readonly #eventsById = new Map<string, LedgerEvent>();
  readonly #metrics = new Map<string, PerformanceMetrics[]>();

  async createOperator(state: OperatorState, events: readonly LedgerEvent[]): Promise<boolean> {
    checkEvents(state.id, events);
    if (this.#operators.has(state.id) || this.#anyRecorded(events)) return false;
    this.#operators.set(state.id, structuredClone(state));
    this.#record(events);
    return true;
  }

  async getOperator(id: string): Promise<OperatorState | undefined> {
    const state = this.#operators.get(id);
    return state && structuredClone(state);
  }

  async listOperators(): Promise<OperatorState[]> {
    return [...this.#operators.values()].sort((a, b) => compare(a.id, b.id)).map((s) => structuredClone(s));
  }

  async commit(next: OperatorState, expectedVersion: number, events: readonly LedgerEvent[]): Promise<CommitResult> {
    checkCommit(next, expectedVersion, events);
    const current = this.#operators.get(next.id);
    if (!current) return 'missing';
    if (current.version !== expectedVersion) return 'conflict';
    if (this.#anyRecorded(events)) return 'duplicate';
    this.#operators.set(next.id, structuredClone(next));
    this.#record(events);
    return 'ok';
  }

  async getEvent(id: string): Promise<LedgerEvent | undefined> {
    const event = this.#eventsById.get(id);
    return event && structuredClone(event);
  }

  async listEvents(query: { operatorId?: string; limit?: number } = {}): Promise<LedgerEvent[]> {
    const { operatorId, limit } = query;
    const matching = operatorId === undefined ? this.#events : this.#events.filter((e) => e.operatorId === operatorId);
    return structuredClone(lastN(matching, limit));
  }

  async appendMetrics(operatorId: string, metrics: PerformanceMetrics, keep: number): Promise<void> {
    checkKeep(keep);
    const history = this.#metrics.get(operatorId) ?? [];
    history.push(structuredClone(metrics));
    if (history.length > keep) history.splice(0, history.length - keep);
    this.#metrics.set(operatorId, history);
  }

  async getMetrics(operatorId: string, limit: number): Promise<PerformanceMetrics[]> {
    return structuredClone(lastN(this.#metrics.get(operatorId) ?? [], limit));
  }

  async close(): Promise<void> {}

  #anyRecorded(events: readonly LedgerEvent[]): boolean {
    const ids = new Set<string>();
    for (const e of events) {
      if (this.#eventsById.has(e.id) || ids.has(e.id)) return true;
      ids.add(e.id);
    }
    return false;
  }

  #record(events: readonly LedgerEvent[]): void {
    for (const e of events) {
      const copy = structuredClone(e);
      this.#events.push(copy);
      this.#eventsById.set(e.id, copy);
    }
  }
}

function lastN<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined) return [...items];
  return limit <= 0 ? [] : items.slice(Math.max(0, items.length - limit));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Argument checks shared with RedisStore. They throw: a bad argument is a caller bug, not an
// outcome a CommitResult should describe.

/** An event filed under another operator would corrupt that operator's replay. */
export function checkEvents(operatorId: string, events: readonly LedgerEvent[]): void {
  for (const e of events) {
    if (e.operatorId !== operatorId) throw new Error(`event ${e.id} belongs to ${e.operatorId}, not ${operatorId}`);
  }
}

/** A write that does not raise the version would let a second writer with the same token through. */
export function checkCommit(next: OperatorState, expectedVersion: number, events: readonly LedgerEvent[]): void {
  if (!Number.isSafeInteger(expectedVersion) || !Number.isSafeInteger(next.version) || next.version <= expectedVersion) {
    throw new Error(`commit of ${next.id}: version ${next.version} must be an integer above the expected ${expectedVersion}`);
  }
  checkEvents(next.id, events);
}

export function checkKeep(keep: number): void {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`metrics history must keep at least 1 entry, not ${keep}`);
}
