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
  | 'invalid_envelope'
  /** A valid answer that disagreed with the other operators on a deterministic request (cross-check). */
  | 'wrong_result'
  /** A valid answer saying the operator lacks a block it claimed to have reached (chain-aware routing sent it there). */
  | 'missing_block';

export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = [
  'success', 'rpc_error', 'timeout', 'connect', 'http_5xx', 'http_429', 'http_other', 'invalid_envelope', 'wrong_result', 'missing_block',
];

export const OUTCOME_INDEX: Readonly<Record<AttemptOutcome, number>> = Object.freeze(
  Object.fromEntries(ATTEMPT_OUTCOMES.map((o, i) => [o, i])) as Record<AttemptOutcome, number>,
);

/** Requests the gateway answered itself because the client sent something invalid, or over its rate limit, or without a valid API key. */
export const CLIENT_FAULTS = ['parse_error', 'invalid_request', 'batch_too_large', 'body_too_large', 'unknown_chain', 'rate_limited_ip', 'rate_limited_key', 'api_key_rejected'] as const;
export type ClientFault = (typeof CLIENT_FAULTS)[number];

export interface AttemptRecorder {
  /** `methodIndex` from metrics/method-labels; latency in integer microseconds. */
  recordAttempt(operatorIndex: number, methodIndex: number, outcome: AttemptOutcome, latencyMicros: number): void;
  recordClientFault(fault: ClientFault): void;
}

/** Records nothing: the baseline for measuring what measurement costs (bench/). */
export const DISCARD_RECORDER: AttemptRecorder = Object.freeze({
  recordAttempt() {},
  recordClientFault() {},
});
