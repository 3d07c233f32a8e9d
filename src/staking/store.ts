/**
 * Where the staking state lives. Two implementations (memory, Redis) pass one contract
 * suite (test/contract/store.contract.ts). Every write of an operator goes through
 * `commit`: a compare-and-set on the operator's version together with the events that
 * explain the change, all or nothing.
 */
import type { PerformanceMetrics } from '../types.js';
import type { LedgerEvent, OperatorState } from './records.js';

export type CommitResult =
  /** Written. */
  | 'ok'
  /** The stored version is no longer `expectedVersion` (another writer won): reload and retry. */
  | 'conflict'
  /** An event with one of these ids is already recorded (the same slash, seen twice): nothing written. */
  | 'duplicate'
  /** No operator with this id. */
  | 'missing';

/**
 * The store cannot be reached. Nothing is ever half-written (every write is atomic), but a
 * write whose connection broke mid-call may or may not have landed: reload before retrying.
 * Admin writes answer 503.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

export interface Store {
  /** Creates the operator with its first events; false when the id is taken. */
  createOperator(state: OperatorState, events: readonly LedgerEvent[]): Promise<boolean>;
  getOperator(id: string): Promise<OperatorState | undefined>;
  listOperators(): Promise<OperatorState[]>;
  commit(next: OperatorState, expectedVersion: number, events: readonly LedgerEvent[]): Promise<CommitResult>;
  /**
   * The event recorded with this id (by a create or a commit), or undefined. How a request
   * carrying an Idempotency-Key is recognized, and told apart from a different request that
   * reuses the key.
   */
  getEvent(id: string): Promise<LedgerEvent | undefined>;
  /** Events in the order they were committed; with `limit`, the last `limit` of them. */
  listEvents(query?: { operatorId?: string; limit?: number }): Promise<LedgerEvent[]>;
  /** Appends to the operator's metrics history, keeping the newest `keep` entries. */
  appendMetrics(operatorId: string, metrics: PerformanceMetrics, keep: number): Promise<void>;
  /** The newest `limit` entries, oldest first. */
  getMetrics(operatorId: string, limit: number): Promise<PerformanceMetrics[]>;
  close(): Promise<void>;
}
