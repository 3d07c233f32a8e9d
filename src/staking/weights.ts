/**
 * Routing weight from stake and performance score. Stake buys a share of traffic, score
 * scales it: weight = stake in ETH × (score/100)². Squaring the score makes a mediocre
 * operator lose traffic faster than a linear factor would, while a perfect one keeps all.
 * The router only sees the resulting float; bigint stays on this side.
 */
const WEI_PER_GWEI = 1_000_000_000n;

export function routingWeight(stakeWei: bigint, score: number): number {
  if (stakeWei <= 0n || !(score > 0)) return 0;
  // Whole gwei keep the float exact up to ~9 million ETH; finer detail does not matter for a share.
  const stakeEth = Number(stakeWei / WEI_PER_GWEI) / 1e9;
  const s = Math.min(score, 100) / 100;
  return stakeEth * s * s;
}
