export interface SimProfile {
  /** Hex-encoded in eth_chainId; net_version is the decimal string. */
  chainId: number;
  /** Per-request delay drawn from a log-normal with this median and p99 (0/0 = answer at once). */
  latencyMs: { median: number; p99: number };
  /** Share [0,1] of HTTP requests answered with HTTP 500 and a short text body. */
  errorRate: number;
  /** Share [0,1] of HTTP requests answered with HTTP 429. */
  rateLimitRate: number;
  /** Share [0,1] of eth_blockNumber / eth_getBalance / eth_getBlockByNumber answers that are wrong but well-formed. */
  badDataRate: number;
  /** Share [0,1] of HTTP requests answered HTTP 200 with a body that is not JSON. */
  garbageRate: number;
  /** Share [0,1] of HTTP requests answered with valid JSON-RPC whose id differs from the request's. */
  wrongIdRate: number;
  /** Accept the request but never answer (for timeout tests). */
  hang: boolean;
  /** Lie (at `badDataRate`) only in answers to these methods; absent: every method that can lie. */
  lieMethods?: readonly string[];
  /**
   * How the node formats a block: 'geth' (as the chain model writes it) or 'nethermind'
   * (optional fields of its own: `totalDifficulty`, `author`), the same block either way.
   */
  client?: 'geth' | 'nethermind';
}

const HONEST = {
  chainId: 1,
  errorRate: 0,
  rateLimitRate: 0,
  badDataRate: 0,
  garbageRate: 0,
  wrongIdRate: 0,
  hang: false,
} as const;

function frozen(profile: SimProfile): SimProfile {
  Object.freeze(profile.latencyMs);
  return Object.freeze(profile);
}

// Frozen because they are shared by every sim; resolveProfile() copies before use.
export const PROFILES: { fast: SimProfile; slow: SimProfile; flaky: SimProfile; badData: SimProfile } = Object.freeze({
  fast: frozen({ ...HONEST, latencyMs: { median: 2, p99: 8 } }),
  slow: frozen({ ...HONEST, latencyMs: { median: 120, p99: 400 } }),
  flaky: frozen({
    ...HONEST,
    latencyMs: { median: 5, p99: 30 },
    errorRate: 0.15,
    rateLimitRate: 0.05,
    garbageRate: 0.02,
  }),
  badData: frozen({ ...HONEST, latencyMs: { median: 5, p99: 20 }, badDataRate: 0.3 }),
});

const RATE_KEYS = ['errorRate', 'rateLimitRate', 'badDataRate', 'garbageRate', 'wrongIdRate'] as const;

/** Applies `patch` over `base` (default: fast) and rejects values that would silently misbehave. */
export function resolveProfile(patch: Partial<SimProfile> = {}, base: SimProfile = PROFILES.fast): SimProfile {
  const merged: SimProfile = { ...base, ...patch, latencyMs: { ...(patch.latencyMs ?? base.latencyMs) } };
  for (const key of RATE_KEYS) {
    const rate = merged[key];
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`${key} must be within [0, 1], got ${rate}`);
  }
  const { median, p99 } = merged.latencyMs;
  if (!(median >= 0 && p99 >= median)) {
    throw new RangeError(`latencyMs needs 0 <= median <= p99, got median ${median}, p99 ${p99}`);
  }
  if (!Number.isSafeInteger(merged.chainId) || merged.chainId <= 0) {
    throw new RangeError(`chainId must be a positive integer, got ${merged.chainId}`);
  }
  return merged;
}

/** z-score of the 99th percentile of the standard normal distribution. */
const Z_P99 = 2.3263;

/**
 * One latency sample in ms from a log-normal whose median and p99 match `latency`.
 * Box-Muller over the injected `random` so seeded tests are reproducible.
 */
export function drawLatencyMs(latency: { median: number; p99: number }, random: () => number): number {
  if (latency.median <= 0) return 0;
  const sigma = Math.log(latency.p99 / latency.median) / Z_P99;
  if (sigma <= 0) return latency.median;
  // Clamp away from 0: ln(0) would make one unlucky draw an infinite delay.
  const u1 = Math.max(random(), 1e-12);
  const u2 = random();
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return latency.median * Math.exp(sigma * z);
}

/** Small seeded PRNG (mulberry32) for reproducible fault and latency sequences. */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
