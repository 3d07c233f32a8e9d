/**
 * One error type for the whole gateway. Every failure carries a stable `code`; the table
 * below is the single place that says what a code means to the client (JSON-RPC code,
 * HTTP status), to failover (retryable) and to scoring (the operator's fault or not).
 */
export type GatewayErrorCode =
  | 'PARSE_ERROR'
  | 'INVALID_REQUEST'
  | 'BATCH_TOO_LARGE'
  | 'BODY_TOO_LARGE'
  | 'UNKNOWN_CHAIN'
  | 'NO_OPERATOR'
  | 'DEADLINE_EXCEEDED'
  | 'SHUTTING_DOWN'
  | 'INTERNAL_ERROR'
  | 'OVERLOADED'
  | 'UPSTREAM_CONNECT'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_HTTP_5XX'
  | 'UPSTREAM_HTTP_429'
  | 'UPSTREAM_HTTP_OTHER'
  | 'UPSTREAM_INVALID_ENVELOPE'
  | 'LIMIT_EXCEEDED'
  | 'API_KEY_REJECTED';

export interface ErrorSpec {
  /** JSON-RPC error code sent to the client. */
  readonly jsonRpcCode: number;
  /** HTTP status when the error ends the whole HTTP exchange. */
  readonly httpStatus: number;
  /** Another operator may succeed where this one failed. */
  readonly retryable: boolean;
  /** Counts against the operator that produced it. */
  readonly operatorFault: boolean;
  readonly message: string;
}

/**
 * -32000..-32099 is the server-error range JSON-RPC 2.0 reserves for implementations.
 * Ours are documented in docs/errors.md; a test fails if one is missing there.
 */
export const ERRORS: Readonly<Record<GatewayErrorCode, ErrorSpec>> = Object.freeze({
  PARSE_ERROR: { jsonRpcCode: -32700, httpStatus: 400, retryable: false, operatorFault: false, message: 'Parse error' },
  INVALID_REQUEST: { jsonRpcCode: -32600, httpStatus: 400, retryable: false, operatorFault: false, message: 'Invalid Request' },
  BATCH_TOO_LARGE: { jsonRpcCode: -32600, httpStatus: 400, retryable: false, operatorFault: false, message: 'Batch too large' },
  BODY_TOO_LARGE: { jsonRpcCode: -32600, httpStatus: 413, retryable: false, operatorFault: false, message: 'Request body too large' },
  UNKNOWN_CHAIN: { jsonRpcCode: -32602, httpStatus: 404, retryable: false, operatorFault: false, message: 'Unknown chain' },
  NO_OPERATOR: { jsonRpcCode: -32050, httpStatus: 503, retryable: false, operatorFault: false, message: 'No operator available' },
  DEADLINE_EXCEEDED: { jsonRpcCode: -32051, httpStatus: 504, retryable: false, operatorFault: false, message: 'Deadline exceeded before an operator answered' },
  SHUTTING_DOWN: { jsonRpcCode: -32052, httpStatus: 503, retryable: false, operatorFault: false, message: 'Gateway is shutting down' },
  INTERNAL_ERROR: { jsonRpcCode: -32603, httpStatus: 500, retryable: false, operatorFault: false, message: 'Internal error' },
  OVERLOADED: { jsonRpcCode: -32059, httpStatus: 503, retryable: false, operatorFault: false, message: 'Gateway overloaded: its memory budget is spent, try again shortly' },
  UPSTREAM_CONNECT: { jsonRpcCode: -32053, httpStatus: 502, retryable: true, operatorFault: true, message: 'Operator unreachable' },
  UPSTREAM_TIMEOUT: { jsonRpcCode: -32054, httpStatus: 504, retryable: true, operatorFault: true, message: 'Operator timed out' },
  UPSTREAM_HTTP_5XX: { jsonRpcCode: -32055, httpStatus: 502, retryable: true, operatorFault: true, message: 'Operator answered with a server error' },
  UPSTREAM_HTTP_429: { jsonRpcCode: -32056, httpStatus: 502, retryable: true, operatorFault: false, message: 'Operator rate-limited the request' },
  UPSTREAM_HTTP_OTHER: { jsonRpcCode: -32057, httpStatus: 502, retryable: true, operatorFault: true, message: 'Operator answered with an unexpected HTTP status' },
  UPSTREAM_INVALID_ENVELOPE: { jsonRpcCode: -32058, httpStatus: 502, retryable: true, operatorFault: true, message: 'Operator answered with an invalid JSON-RPC envelope' },
  // -32005 is what Infura and Alchemy answer over their limits; viem maps it to LimitExceededRpcError.
  LIMIT_EXCEEDED: { jsonRpcCode: -32005, httpStatus: 429, retryable: false, operatorFault: false, message: 'Limit exceeded' },
  API_KEY_REJECTED: { jsonRpcCode: -32065, httpStatus: 401, retryable: false, operatorFault: false, message: 'Unknown or missing API key' },
});

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: GatewayErrorCode;
  readonly spec: ErrorSpec;
  /** What this occurrence adds to the code's fixed message. */
  readonly detail: string | undefined;

  constructor(code: GatewayErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options);
    this.code = code;
    this.spec = spec;
    this.detail = detail;
  }
}
