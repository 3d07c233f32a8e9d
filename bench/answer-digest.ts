// Micro-benchmark: the cross-check's digest of an answer (src/router/answer-digest.ts) against
// the canonical JSON it compared before (src/router/untrusted-json.ts), on the sim's blocks.
// Usage: npx tsx bench/answer-digest.ts   (prints a Markdown table; nothing is asserted)
// Both start from the parsed result (the parse is the same either way). After a warm-up, the
// cases run in interleaved rounds; the median round gives µs per answer, the best one too.
import { answerDigest } from '../src/router/answer-digest.js';
import { canonicalJson } from '../src/router/untrusted-json.js';
import { BASE_BLOCK_NUMBER, ChainModel } from '../src/sim/chain-model.js';

const chain = new ChainModel({ chainId: 1 });
const cases: [string, unknown][] = [
  ['block, full transactions', chain.block(BASE_BLOCK_NUMBER, true)],
  ['block, transaction hashes', chain.block(BASE_BLOCK_NUMBER, false)],
];
const ROUNDS = 15;
const PER_ROUND = 200;

const time = (f: () => unknown): number => {
  const start = process.hrtime.bigint();
  for (let i = 0; i < PER_ROUND; i++) f();
  return Number(process.hrtime.bigint() - start) / PER_ROUND / 1000;
};

console.log('| answer | bytes | canonicalJson µs (median / best) | digest µs (median / best) | digest bytes |');
console.log('|---|---|---|---|---|');
for (const [name, block] of cases) {
  // What the gateway holds: the result as JSON.parse built it from the operator's bytes.
  const result = JSON.parse(JSON.stringify(block)) as unknown;
  const canonical = () => canonicalJson(result, 64);
  const digest = () => answerDigest('block', result, 64);
  for (let i = 0; i < 3; i++) (canonical(), digest());
  const rounds: [number, number][] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push([time(canonical), time(digest)]);
  const stat = (k: 0 | 1) => {
    const sorted = rounds.map((x) => x[k]).sort((a, b) => a - b);
    return `${sorted[ROUNDS >> 1]!.toFixed(0)} / ${sorted[0]!.toFixed(0)}`;
  };
  console.log(`| ${name} | ${JSON.stringify(block).length} | ${stat(0)} | ${stat(1)} | ${digest()!.length} |`);
}
