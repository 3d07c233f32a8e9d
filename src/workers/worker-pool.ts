/**
 * The control plane's side of the data-plane workers: starts N of them on the shared RPC
 * port, sends them every new routing table, collects their measurements before each
 * window close, relays cross-check verdicts, and stops them gracefully.
 */
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { isInternalErrorSite, reportInternalError } from '../metrics/internal-errors.js';
import type { Measurement } from '../metrics/measurement.js';
import type { CrossCheckEvidence } from '../router/cross-check.js';
import type { LeaseSource } from '../router/rate-limit.js';
import type { FromWorker, RouteSpec, ToWorker, WorkerInit } from './messages.js';

/** How long a window close waits for a worker's measurements before closing without them. */
const EXPORT_TIMEOUT_MS = 2_000;

interface Member {
  readonly worker: Worker;
  inflight: number;
  budget: { used: number; limit: number; refusals: number };
}

export class WorkerPool {
  private readonly members: Member[] = [];
  private nextRequestId = 1;
  private readonly pendingExports = new Map<number, { remaining: number; done: () => void }>();
  private lastRoutes: ToWorker | undefined;

  constructor(
    private readonly config: Config,
    private readonly count: number,
    private readonly measurement: Measurement,
    private readonly onOutvoted: (operatorId: string, evidence: CrossCheckEvidence) => void,
    private readonly logger: Logger,
    /** The shared rate-limit buckets the workers lease from (absent: rate limiting is off). */
    private readonly leases?: LeaseSource,
    /** Heads learned from the workers' answers, and notices for the log. */
    private readonly events: { onAnswerHead?: (operatorId: string, head: number) => void; onProvingAnswer?: (operatorId: string) => void } = {},
  ) {}

  /** Chain-aware routing decisions of every worker, by chain, as of their last exports. */
  readonly routingCounts = new Map<string, Float64Array>();

  /** Starts every worker on `port` and resolves once all listen. */
  async start(port: number): Promise<void> {
    const config: Config = { ...this.config, rpc: { ...this.config.rpc, port } };
    const started = Array.from({ length: this.count }, (_, workerIndex) => {
      const worker = spawnWorker({ config, workerIndex });
      const member: Member = { worker, inflight: 0, budget: { used: 0, limit: 0, refusals: 0 } };
      this.members.push(member);
      return new Promise<void>((resolve, reject) => {
        worker.on('message', (message: FromWorker) => {
          if (message.type === 'listening') resolve();
          else if (message.type === 'failed') reject(new Error(message.message));
          else this.onMessageOrReport(member, message);
        });
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`data-plane worker ${workerIndex} exited with code ${code} before listening`)));
      });
    });
    try {
      await Promise.all(started);
    } catch (err) {
      await this.terminate();
      throw err;
    }
    for (const m of this.members) {
      m.worker.on('error', (err) => reportInternalError('worker', err));
    }
    if (this.lastRoutes !== undefined) this.broadcast(this.lastRoutes);
  }

  get inflightRequests(): number {
    let n = 0;
    for (const m of this.members) n += m.inflight;
    return n;
  }

  /** The workers' memory budgets added up, as of their last window export. */
  get memoryBudget(): { used: number; limit: number; refusals: number } {
    const total = { used: 0, limit: 0, refusals: 0 };
    for (const m of this.members) {
      total.used += m.budget.used;
      total.limit += m.budget.limit;
      total.refusals += m.budget.refusals;
    }
    return total;
  }

  publishRoutes(routes: readonly RouteSpec[], operators: ReadonlyArray<{ id: string; index: number; chain: string; url: string }>, heads: ReadonlyMap<string, number>): void {
    this.lastRoutes = { type: 'routes', routes, operators, heads: Object.fromEntries(heads) };
    this.broadcast(this.lastRoutes);
  }

  /** Asks every worker for its part of the window and adds it into the measurement. */
  collect(): Promise<void> {
    if (this.members.length === 0) return Promise.resolve();
    const requestId = this.nextRequestId++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pendingExports.delete(requestId);
        this.logger.warn('a data-plane worker did not report its window in time');
        resolve();
      }, EXPORT_TIMEOUT_MS);
      this.pendingExports.set(requestId, {
        remaining: this.members.length,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.broadcast({ type: 'export', requestId });
    });
  }

  /** Drains and stops every worker (each closes its listen socket before exiting). */
  async stop(graceMs: number): Promise<void> {
    await Promise.all(
      this.members.map(
        (m) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void m.worker.terminate().then(() => resolve()), graceMs + 5_000);
            m.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            m.worker.postMessage({ type: 'stop', graceMs } satisfies ToWorker);
          }),
      ),
    );
    this.members.length = 0;
  }

  private async terminate(): Promise<void> {
    await Promise.all(this.members.map((m) => m.worker.terminate()));
    this.members.length = 0;
  }

  private broadcast(message: ToWorker): void {
    for (const m of this.members) m.worker.postMessage(message);
  }

  /** A message handler runs in an event listener: what it throws is counted, never left to end the process. */
  private onMessageOrReport(member: Member, message: FromWorker): void {
    try {
      this.onMessage(member, message);
    } catch (err) {
      reportInternalError('worker', err);
    }
  }

  /** Serves a worker's lease from the shared buckets, the way a fleet's instances lease from Redis. */
  private lease(member: Member, message: Extract<FromWorker, { type: 'lease' }>): void {
    const { leaseId } = message;
    const answer = (granted: number, waitMs: number, failed: boolean) =>
      member.worker.postMessage({ type: 'lease-grant', leaseId, granted, waitMs, failed } satisfies ToWorker);
    if (this.leases === undefined) return answer(0, 0, true);
    this.leases.lease(message.name, { rate: message.rate, burst: message.burst }, message.want, {
      onGrant: (granted, waitMs) => answer(granted, waitMs, false),
      onLeaseFailed: () => answer(0, 0, true),
    });
  }

  private onMessage(member: Member, message: FromWorker): void {
    switch (message.type) {
      case 'export': {
        member.inflight = message.inflight;
        member.budget = message.budget;
        for (const [chain, counts] of Object.entries(message.routing)) {
          let total = this.routingCounts.get(chain);
          if (total === undefined) this.routingCounts.set(chain, (total = new Float64Array(counts.length)));
          for (let i = 0; i < counts.length && i < total.length; i++) total[i]! += counts[i]!;
        }
        try {
          this.measurement.absorbWindows(message.meters, message.clientFaults);
          // A worker's answer to an export that timed out is counted in the next window: so is its health.
          this.measurement.absorbHealth(message.health);
        } finally {
          // Counted as in even when absorbing failed: the window close must not wait for the timeout.
          const pending = this.pendingExports.get(message.requestId);
          if (pending !== undefined && --pending.remaining === 0) {
            this.pendingExports.delete(message.requestId);
            pending.done();
          }
        }
        break;
      }
      case 'outvoted':
        this.onOutvoted(message.operatorId, message.evidence);
        break;
      case 'unroutable':
        this.logger.error({ operator: message.operatorId, reason: message.reason }, `operator ${message.operatorId} cannot be routed in a data-plane worker, skipped`);
        break;
      case 'error':
        reportInternalError(isInternalErrorSite(message.where) ? message.where : 'worker', `in a data-plane worker: ${message.message}`);
        break;
      case 'lease':
        this.lease(member, message);
        break;
      case 'head':
        this.events.onAnswerHead?.(message.operatorId, message.head);
        break;
      case 'notice':
        this.logger.warn(message.detail, message.message);
        break;
      case 'proving':
        this.events.onProvingAnswer?.(message.operatorId);
        break;
      default:
        break;
    }
  }
}

/**
 * Workers run the compiled JavaScript. Run from the TypeScript sources (the test suite),
 * the worker first registers tsx's loader, then imports the .ts entry.
 */
function spawnWorker(init: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./data-plane-worker.js', import.meta.url), { workerData: init });
  const entry = new URL('./data-plane-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}
