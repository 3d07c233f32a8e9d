/**
 * One height the gateway serves for a chain (the tip, `safe` or `finalized`): the quorum of
 * what operators report, held so that it does not go backwards on a whim.
 *
 * Quorum: the second highest of the reported heights (the only one's when one operator
 * reports). With three or more reporting, one operator can neither raise it (a claim far
 * ahead is the highest, never the second) nor hold it back (a stuck operator is below the
 * two highest others): changing any one report leaves it between the highest and the second
 * highest of the other reports.
 *
 * Hold: a quorum above the served height is taken at once; one below it is ignored until it
 * has been below at every update for `holdMs` (a reorg or a reset the operators agree on),
 * then taken. No reports (null) leave the served height as it is.
 */

/** The second highest of `heights`, the only one when there is one, null when none. */
export function quorumHeight(heights: Iterable<number>): number | null {
  let first = -Infinity;
  let second = -Infinity;
  let count = 0;
  for (const h of heights) {
    count++;
    if (h > first) {
      second = first;
      first = h;
    } else if (h > second) second = h;
  }
  if (count === 0) return null;
  return count === 1 ? first : second;
}

export class ServedHeight {
  private served: number | null = null;
  /** When the quorum first came out below the served height, in the current spell; undefined outside one. */
  private belowSince: number | undefined;

  constructor(private readonly holdMs: number) {}

  get value(): number | null {
    return this.served;
  }

  /** Takes the current quorum (null: nobody reports) at time `now` (ms). */
  update(quorum: number | null, now: number): void {
    if (quorum === null) {
      this.belowSince = undefined;
      return;
    }
    if (this.served === null || quorum >= this.served) {
      this.served = quorum;
      this.belowSince = undefined;
      return;
    }
    this.belowSince ??= now;
    if (now - this.belowSince >= this.holdMs) {
      this.served = quorum;
      this.belowSince = undefined;
    }
  }
}
