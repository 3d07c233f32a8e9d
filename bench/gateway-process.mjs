// Runs the gateway in its own process, with its simulated operators in a further child process
// (so gateway, sims and load generator never share an event loop or a /proc CPU counter).
// Usage: node bench/gateway-process.mjs [--sims N] [--connections 64] [--pipelining 1]
// Prints {"pid", "rpcUrl", "adminUrl", "simPid", "simUrls"} as one JSON line once listening.
// On SIGTERM (or stdin closing) it stops, prints a second line {"outcomes": ...} and exits.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '../dist/config.js';
import { Gateway } from '../dist/gateway.js';
import * as attempts from '../dist/metrics/attempt-recorder.js';
import { exitWhenParentGoes, spawnNode, stopChild } from './lib.mjs';

const { values } = parseArgs({
  options: {
    sims: { type: 'string', default: process.env.BENCH_SIMS ?? '1' },
    connections: { type: 'string', default: process.env.BENCH_UPSTREAM_CONNECTIONS ?? '64' },
    pipelining: { type: 'string', default: process.env.BENCH_UPSTREAM_PIPELINING ?? '1' },
  },
});

const simScript = fileURLToPath(new URL('./sim-process.mjs', import.meta.url));
const sims = await spawnNode(simScript, ['--count', values.sims]);
const operators = sims.info.urls.map((url, i) => ({ id: `op${i}`, url }));
const gw = await Gateway.start(
  parseConfig({
    rpc: { port: 0 },
    admin: { port: 0 },
    logLevel: 'silent',
    upstream: { connections: Number(values.connections), pipelining: Number(values.pipelining) },
    operators,
  }),
);
process.stdout.write(
  JSON.stringify({ pid: process.pid, rpcUrl: gw.rpcUrl, adminUrl: gw.adminUrl, simPid: sims.info.pid, simUrls: sims.info.urls }) + '\n',
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // Read before stop(): stopping the gateway releases its meters. The load is over by now.
  let counts;
  try {
    counts = outcomeCounts();
  } catch (err) {
    counts = { outcomes: null, error: String(err) };
  }
  await gw.stop();
  await stopChild(sims.child);
  process.stdout.write(JSON.stringify(counts) + '\n');
  process.exit(0);
}

/**
 * Upstream attempts by outcome, per operator: shows retries and upstream failures during the run.
 * Best effort: the gateway's recorder is in flux; this needs one with count(operatorIndex, outcome).
 */
function outcomeCounts() {
  const rec = gw.measurement ?? gw.recorder;
  if (typeof rec?.count !== 'function' || !attempts.ATTEMPT_OUTCOMES) return { outcomes: null, recorder: rec?.constructor?.name ?? null };
  const outcomes = {};
  for (const [i, op] of operators.entries()) {
    outcomes[op.id] = Object.fromEntries(attempts.ATTEMPT_OUTCOMES.map((o) => [o, rec.count(i, o)]));
  }
  const faults = rec.clientFaults;
  const names = attempts.CLIENT_FAULTS;
  let clientFaults = null;
  if (faults instanceof Map) clientFaults = Object.fromEntries(faults);
  else if (faults && names) clientFaults = Object.fromEntries(names.map((n, i) => [n, faults[i]]));
  return { outcomes, clientFaults };
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
exitWhenParentGoes(stop);
