/**
 * Trust before traffic: which operators are still proving themselves. An operator proves itself
 * with `required` answers to deterministic requests that another operator agreed with; until
 * then the router serves its answers to such requests only with a second opinion
 * (router/verified-call.ts). New operators start proving, and so do operators back from jail
 * and operators a cross-check outvoted. Kept per gateway process: a restart proves everyone
 * again (a few dozen doubled requests per operator).
 */
export class ProvingLedger {
  /** Agreeing answers so far, for the operators still proving themselves. */
  private readonly agreed = new Map<string, number>();

  constructor(readonly required: number) {}

  /** `id` (new, back from jail, or outvoted) proves itself again from zero. */
  start(id: string): void {
    if (this.required > 0) this.agreed.set(id, 0);
  }

  isProven(id: string): boolean {
    return !this.agreed.has(id);
  }

  /** One more agreeing answer; true when it makes `id` proven. */
  agree(id: string): boolean {
    const n = this.agreed.get(id);
    if (n === undefined) return false;
    if (n + 1 >= this.required) {
      this.agreed.delete(id);
      return true;
    }
    this.agreed.set(id, n + 1);
    return false;
  }

  /** How far `id` is: null once proven. */
  progress(id: string): { agreed: number; required: number } | null {
    const n = this.agreed.get(id);
    return n === undefined ? null : { agreed: n, required: this.required };
  }
}
