/**
 * The process's budget for the bytes it buffers on behalf of requests: client bodies while they
 * are answered, operator answers while they arrive and are handed on, and answers a WebSocket
 * client has not read yet. A request that would pass it is refused at once (OVERLOADED), so
 * memory stays bounded whatever clients send and operators answer. One per data-plane thread;
 * with several workers each holds its share of the configured total.
 */
export class MemoryBudget {
  /** Bytes held now. */
  used = 0;
  /** The most ever held at once. */
  peak = 0;
  /** Requests refused because the budget was spent, since start. */
  refusals = 0;

  constructor(readonly limit: number) {}

  /** Takes `bytes` when they fit; false (and counted as a refusal) when they do not. */
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.limit) {
      this.refusals++;
      return false;
    }
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  /** Takes bytes already held (written to a socket that has not taken them): they may pass the limit, and then refuse what comes next. */
  take(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }

  /** Whether a request of `bytes` could be taken now (nothing taken). */
  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }
}

/** A budget that never refuses (tests of the parts alone). */
export const UNLIMITED_BUDGET = new MemoryBudget(Number.POSITIVE_INFINITY);
