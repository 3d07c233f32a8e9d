/**
 * A data-plane worker's rate-limit leases, asked of the main thread's shared buckets over
 * the worker's port (the main thread answers from memory or from the fleet's Redis): with
 * several workers, one budget per client for the whole process, as Redis makes it one for
 * the fleet.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Budget, LeaseHandler, LeaseSource } from '../router/rate-limit.js';
import type { FromWorker, ToWorker } from './messages.js';

export class PortLeaseSource implements LeaseSource {
  private nextId = 1;
  private readonly pending = new Map<number, LeaseHandler>();

  constructor(private readonly port: MessagePort) {}

  lease(name: string, budget: Budget, want: number, handler: LeaseHandler): void {
    const leaseId = this.nextId++;
    this.pending.set(leaseId, handler);
    this.port.postMessage({ type: 'lease', leaseId, name, rate: budget.rate, burst: budget.burst, want } satisfies FromWorker);
  }

  /** The main thread's answer to one lease. */
  settle(message: Extract<ToWorker, { type: 'lease-grant' }>): void {
    const handler = this.pending.get(message.leaseId);
    if (handler === undefined) return;
    this.pending.delete(message.leaseId);
    if (message.failed) handler.onLeaseFailed();
    else handler.onGrant(message.granted, message.waitMs);
  }
}
