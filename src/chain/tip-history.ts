/**
 * How a chain's served tip has advanced: when it first reached each of its last heights (an
 * operator's lag in seconds is the time since the tip first passed its head) and the block
 * time those advances show.
 *
 * Memory is bounded: the times of the last `MAX_HEIGHTS` heights, contiguous up to the tip
 * (a jump records the heights it skipped over as reached at the same time; a height older
 * than the oldest kept one reads as the oldest kept time). A tip that goes back (an accepted
 * reset) forgets the heights above it, so they are reached anew.
 *
 * Block time: an exponential moving average of (time between two advances) / (blocks
 * advanced), from the second advance on (the first one ends a spell that began at an
 * arbitrary moment, the first sighting); null before. After a reset, likewise, the next
 * advance gives no sample; the average so far is kept.
 */

export const MAX_HEIGHTS = 1024;
/** Weight of the newest sample in the block time average. */
const BLOCK_TIME_WEIGHT = 0.2;

export class TipHistory {
  /** times[k]: when the tip first reached height `firstHeight + k`. */
  private times: number[] = [];
  private firstHeight = 0;
  /** The last advance (or the first sighting): its height and time; undefined before any. */
  private lastAdvance: { height: number; at: number } | undefined;
  private advances = 0;
  private blockTimeAverage: number | null = null;

  /** Tells it the served tip at time `now`. */
  observe(tip: number, now: number): void {
    const top = this.firstHeight + this.times.length - 1;
    if (this.times.length === 0 || tip < top) this.resetTo(tip, now);
    else if (tip > top) this.advanceTo(top, tip, now);
  }

  /** When the tip first reached `height`: the oldest kept time below what is kept, undefined above the tip or before any. */
  reachedAt(height: number): number | undefined {
    if (this.times.length === 0) return undefined;
    const k = height - this.firstHeight;
    if (k < 0) return this.times[0];
    return this.times[k];
  }

  blockTimeMs(): number | null {
    return this.blockTimeAverage;
  }

  private resetTo(tip: number, now: number): void {
    if (this.times.length > 0 && tip >= this.firstHeight) {
      this.times.length = tip - this.firstHeight + 1;
    } else {
      this.times = [now];
      this.firstHeight = tip;
    }
    this.lastAdvance = { height: tip, at: now };
    this.advances = 0;
  }

  private advanceTo(top: number, tip: number, now: number): void {
    // Only the heights that will be kept are written: a jump of a million blocks writes MAX_HEIGHTS.
    const from = Math.max(top + 1, tip - MAX_HEIGHTS + 1);
    if (from > top + 1) {
      this.times = [];
      this.firstHeight = from;
    }
    for (let h = from; h <= tip; h++) this.times.push(now);
    const excess = this.times.length - MAX_HEIGHTS;
    if (excess > 0) {
      this.times.splice(0, excess);
      this.firstHeight += excess;
    }
    const last = this.lastAdvance;
    this.lastAdvance = { height: tip, at: now };
    if (last === undefined || ++this.advances < 2) return;
    const sample = (now - last.at) / (tip - last.height);
    this.blockTimeAverage = this.blockTimeAverage === null ? sample : this.blockTimeAverage + BLOCK_TIME_WEIGHT * (sample - this.blockTimeAverage);
  }
}
