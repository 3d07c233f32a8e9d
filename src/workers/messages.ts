/**
 * What the control plane (main thread) and the data-plane workers say to each other.
 * Everything here crosses a MessagePort by structured clone: plain data only.
 */
import type { Config } from '../config.js';
import type { ThreadHealth } from '../metrics/gateway-health.js';
import type { InternalErrorSite } from '../metrics/internal-errors.js';
import type { MeterExport } from '../metrics/operator-meter.js';
import type { CrossCheckEvidence } from '../router/cross-check.js';
import type { ChainHeights } from '../router/routing-table.js';

export interface WorkerInit {
  readonly config: Config;
  readonly workerIndex: number;
}

/** One chain's routing table as the control plane computed it. */
export interface RouteSpec {
  readonly chain: string;
  readonly explorationShare: number;
  readonly entries: ReadonlyArray<{
    readonly id: string;
    readonly index: number;
    readonly url: string;
    readonly weight: number;
    readonly head?: number;
    readonly atTip?: boolean;
    readonly proven?: boolean;
  }>;
  /** The chain's served heights (chain-aware routing); absent: routing by weight alone. */
  readonly heights?: ChainHeights;
}

export type ToWorker =
  | { readonly type: 'routes'; readonly routes: readonly RouteSpec[]; readonly operators: ReadonlyArray<{ id: string; index: number; chain: string; url: string }>; readonly heads: Readonly<Record<string, number>> }
  | { readonly type: 'export'; readonly requestId: number }
  | { readonly type: 'stop'; readonly graceMs: number }
  /** The answer to a worker's `lease`: `failed` when the shared store did not answer. */
  | { readonly type: 'lease-grant'; readonly leaseId: number; readonly granted: number; readonly waitMs: number; readonly failed: boolean };

export type FromWorker =
  | { readonly type: 'listening' }
  | { readonly type: 'failed'; readonly message: string }
  | {
      readonly type: 'export';
      readonly requestId: number;
      readonly meters: readonly MeterExport[];
      readonly clientFaults: Float64Array;
      readonly inflight: number;
      /** The worker's memory budget as the export left it. */
      readonly budget: { readonly used: number; readonly limit: number; readonly refusals: number };
      /** Chain-aware routing decisions since the last export, by chain (indexed by ROUTING_REASONS). */
      readonly routing: Readonly<Record<string, readonly number[]>>;
      /** The worker's event loop and pools over the window: the gateway judges itself first. */
      readonly health: ThreadHealth;
    }
  /** An answer showed an operator at `head` (sent when it is higher than the last one sent for that operator). */
  | { readonly type: 'head'; readonly operatorId: string; readonly head: number }
  /** Something for the log (see ForwarderEvents.onNotice). */
  | { readonly type: 'notice'; readonly message: string; readonly detail: Readonly<Record<string, unknown>> }
  /** An operator still proving itself gave an answer another operator agreed with. */
  | { readonly type: 'proving'; readonly operatorId: string }
  | { readonly type: 'outvoted'; readonly operatorId: string; readonly evidence: CrossCheckEvidence }
  /** An internal error the worker caught and survived: the main thread counts it (din_internal_errors_total). */
  | { readonly type: 'error'; readonly where: InternalErrorSite; readonly message: string }
  /** An operator whose router handle this worker cannot build: left out (a bad record, not a bug). */
  | { readonly type: 'unroutable'; readonly operatorId: string; readonly reason: string }
  | { readonly type: 'stopped' }
  /** A rate-limit bucket asks the main thread's shared bucket `name` for up to `want` tokens. */
  | { readonly type: 'lease'; readonly leaseId: number; readonly name: string; readonly rate: number; readonly burst: number; readonly want: number };
