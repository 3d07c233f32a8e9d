/**
 * One operator's part of a call asked of several operators at once (fan-out.ts, verified-call.ts):
 * the handler its upstream calls back. It records the attempt against that operator (an answer
 * by the operator's own time, a failure as its outcome), turns an HTTP failure into a failure,
 * hands its owner a valid answer or the failure, and gives the body back to the pool once the
 * owner is done with it (an owner copies what it keeps). A bug in the owner is the owner's to
 * answer for, never the socket callback's.
 */
import type { Buffer } from 'node:buffer';
import { GatewayError } from '../errors.js';
import { giveBody } from './body-pool.js';
import { type Forwarder, OUTCOME_OF, httpFailure } from './forward.js';
import type { ResponseScan } from './response-scan.js';
import type { OperatorRef } from './routing-table.js';
import type { UpstreamError, UpstreamHandler, VerifiedAnswer } from './upstream.js';

export interface LegOwner {
  /** A valid JSON-RPC answer (a result or an error), recorded already; `body` is the pool's once this returns. */
  onLegAnswer(leg: OperatorLeg, body: Buffer, scan: ResponseScan): void;
  /** The leg failed (unreachable, timed out, HTTP failure, no valid answer), recorded already. */
  onLegFailure(leg: OperatorLeg, failure: GatewayError): void;
  /** A bug caught in one of the two above: the client must still get an answer. */
  bug(err: unknown): void;
}

export class OperatorLeg implements UpstreamHandler {
  constructor(
    private readonly owner: LegOwner,
    private readonly forwarder: Forwarder,
    /** The method's label index, for the attempt's record. */
    private readonly method: number,
    readonly operator: OperatorRef,
    readonly started: number,
  ) {}

  onUpstreamReply(status: number, body: Buffer, _receivedAt: number, answer: VerifiedAnswer, operatorMicros: number): void {
    try {
      const scan = answer as ResponseScan | undefined;
      const failure = httpFailure(status) ?? (scan === undefined ? new GatewayError('UPSTREAM_INVALID_ENVELOPE', 'no answer') : undefined);
      if (failure !== undefined) this.fail(failure);
      else {
        this.forwarder.recordAnswer(this.operator, this.method, scan!.isError ? 'rpc_error' : 'success', operatorMicros);
        this.owner.onLegAnswer(this, body, scan!);
      }
    } catch (err) {
      this.owner.bug(err);
    } finally {
      giveBody(body);
    }
  }

  onUpstreamError(err: UpstreamError): void {
    try {
      this.fail(err);
    } catch (bug) {
      this.owner.bug(bug);
    }
  }

  private fail(failure: GatewayError): void {
    // The gateway's own overload is not the operator's attempt failing.
    if (failure.code !== 'OVERLOADED') this.forwarder.recordAttempt(this.operator, this.method, OUTCOME_OF[failure.code] ?? 'invalid_envelope', this.started);
    this.owner.onLegFailure(this, failure);
  }
}
