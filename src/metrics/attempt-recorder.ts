/**
 * What the router tells the measurement layer about every upstream attempt. Recording is
 * synchronous and must not allocate: implementations index arrays by `operatorIndex`.
 */

/** How one attempt against one operator ended. */
export type AttemptOutcome =
  /** A valid answer with a result. */
  | 'success'
  /** A valid answer carrying a JSON-RPC error (revert, unknown method, bad params): the client's answer, not the operator's fault. */
  | 'rpc_error'
  | 'timeout'
  | 'connect'
  | 'http_5xx'
  | 'http_429'
  | 'http_other'
  | 'invalid_envelope';

export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = [
  'success', 'rpc_error', 'timeout', 'connect', 'http_5xx', 'http_429', 'http_other', 'invalid_envelope',
];

/** Requests the gateway answered itself because the client sent something invalid. */
export type ClientFault = 'parse_error' | 'invalid_request' | 'batch_too_large' | 'body_too_large' | 'unknown_chain';

export interface AttemptRecorder {
  recordAttempt(operatorIndex: number, outcome: AttemptOutcome, latencyMicros: number): void;
  recordClientFault(fault: ClientFault): void;
}

/** Plain per-operator counters; the default until the HDR measurement layer takes over. */
export class OutcomeCounters implements AttemptRecorder {
  private counts: Float64Array = new Float64Array(0);
  readonly clientFaults = new Map<ClientFault, number>();

  recordAttempt(operatorIndex: number, outcome: AttemptOutcome, _latencyMicros: number): void {
    const slot = operatorIndex * ATTEMPT_OUTCOMES.length + ATTEMPT_OUTCOMES.indexOf(outcome);
    if (slot >= this.counts.length) {
      const grown = new Float64Array(Math.max(slot + 1, this.counts.length * 2));
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[slot]!++;
  }

  recordClientFault(fault: ClientFault): void {
    this.clientFaults.set(fault, (this.clientFaults.get(fault) ?? 0) + 1);
  }

  count(operatorIndex: number, outcome: AttemptOutcome): number {
    return this.counts[operatorIndex * ATTEMPT_OUTCOMES.length + ATTEMPT_OUTCOMES.indexOf(outcome)] ?? 0;
  }
}
