// Runs simulated operators (zero-latency honest profile) in their own process.
// Usage: node bench/sim-process.mjs [--count N]
// Prints {"pid", "urls"} as one JSON line once listening; stops on SIGTERM/SIGINT or when stdin closes.
import { parseArgs } from 'node:util';
import { SimulatedOperator, PROFILES } from '../dist/sim/index.js';
import { exitWhenParentGoes } from './lib.mjs';

const { values } = parseArgs({ options: { count: { type: 'string', default: process.env.BENCH_SIMS ?? '1' } } });
const count = Number(values.count);
const profile = { ...PROFILES.fast, latencyMs: { median: 0, p99: 0 } };

const sims = Array.from({ length: count }, (_, i) => new SimulatedOperator({ name: `sim${i}`, profile }));
const urls = await Promise.all(sims.map((s) => s.start()));
process.stdout.write(JSON.stringify({ pid: process.pid, urls }) + '\n');

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.all(sims.map((s) => s.stop()));
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
exitWhenParentGoes(stop);
