// Runs the gateway in its own process, with its simulated operators in a further child process
// (so gateway, sims and load generator never share an event loop or a /proc CPU counter).
// Usage: node bench/gateway-process.mjs [--sims N | --upstreams URL,URL...] [--connections 64]
//          [--pipelining N] [--record true|false] [--cross-check-rate R] [--workers N|auto]
//   --upstreams: operators already running elsewhere (e.g. a sim-process.mjs the harness shares
//     with nginx and HAProxy); no sim child then, and "simPid" is null.
//   --workers N|auto (env BENCH_WORKERS): the config's `workers` (default 1: the main thread serves RPC).
//   --record false (env BENCH_RECORD=false): Gateway.start(config, { recordAttempts: false }), the
//     router records nothing (the "gateway-nomeasure" variant: measurement off).
//   --rate-limit off|ip|refuse (env BENCH_RATE_LIMIT, default off: a load generator is one IP far over
//     any per-IP default): "ip" limits per IP at a rate never reached (the admission cost, every request
//     charged); "refuse" at 1 unit/s, so nearly every request is a 429 (what a refusal costs).
//   --cross-check-rate R (env BENCH_CROSS_CHECK_RATE): staking.crossCheck.sampleRate; unset = the
//     config default. The measurement on/off comparison passes 0 to both variants.
//   --chain-aware on|off (env BENCH_CHAIN_AWARE): routing.chainAware; unset = the config default.
// Whatever the config, the ready line waits until the gateway answers an eth_blockNumber (with
// chain-aware routing no operator gets traffic before a probe has admitted it).
// Prints {"pid", "rpcUrl", "adminUrl", "simPid", "simUrls", "record", "workers", "crossCheckRate", "chainAware"} as one JSON
// line once listening. On SIGTERM (or stdin closing) it stops, prints a second line
// {"outcomes", "clientFaults", "pipelining", "standing" (each operator's eligibility, probation, jail, wrong-chain flag)} and exits. Errors are logged to stderr.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '../dist/config.js';
import pino from 'pino';
import { Gateway } from '../dist/gateway.js';
import { createLogger } from '../dist/log.js';
import * as attempts from '../dist/metrics/attempt-recorder.js';
import { exitWhenParentGoes, spawnNode, stopChild } from './lib.mjs';

const { values } = parseArgs({
  options: {
    sims: { type: 'string', default: process.env.BENCH_SIMS ?? '1' },
    connections: { type: 'string', default: process.env.BENCH_UPSTREAM_CONNECTIONS ?? '64' },
    // Unset: the config's default (upstream.pipelining 8, each operator checked first).
    pipelining: { type: 'string', default: process.env.BENCH_UPSTREAM_PIPELINING },
    record: { type: 'string', default: process.env.BENCH_RECORD ?? 'true' },
    'cross-check-rate': { type: 'string', default: process.env.BENCH_CROSS_CHECK_RATE },
    upstreams: { type: 'string' },
    workers: { type: 'string', default: process.env.BENCH_WORKERS ?? '1' },
    'rate-limit': { type: 'string', default: process.env.BENCH_RATE_LIMIT ?? 'off' },
    'chain-aware': { type: 'string', default: process.env.BENCH_CHAIN_AWARE },
  },
});
const CHAIN_AWARE = { on: true, off: false };
const chainAware = values['chain-aware'] === undefined ? undefined : CHAIN_AWARE[values['chain-aware']];
if (values['chain-aware'] !== undefined && chainAware === undefined) throw new Error(`--chain-aware must be on or off, not ${values['chain-aware']}`);
const RATE_LIMITS = {
  off: { enabled: false },
  ip: { enabled: true, perIp: { rate: 1e9, burst: 1e9 } },
  refuse: { enabled: true, perIp: { rate: 1, burst: 1 } },
};
const rateLimit = RATE_LIMITS[values['rate-limit']];
if (rateLimit === undefined) throw new Error(`--rate-limit must be one of ${Object.keys(RATE_LIMITS).join(', ')}, not ${values['rate-limit']}`);
if (!['true', 'false'].includes(values.record)) throw new Error(`--record must be true or false, not ${values.record}`);
const record = values.record === 'true';
const crossCheckRate = values['cross-check-rate'] === undefined ? undefined : Number(values['cross-check-rate']);

const simScript = fileURLToPath(new URL('./sim-process.mjs', import.meta.url));
const sims = values.upstreams ? null : await spawnNode(simScript, ['--count', values.sims]);
const operatorUrls = values.upstreams ? values.upstreams.split(',').filter(Boolean) : sims.info.urls;
// 32 ETH each, above the 1 ETH minimum: one slash for a violation the load itself may cause (a slow
// window under 123 KB answers) cannot take a lone operator out of routing for the rest of the run.
const operators = operatorUrls.map((url, i) => ({ id: `op${i}`, url, stake: '32000000000000000000' }));
const workers = values.workers === 'auto' ? 'auto' : Number(values.workers);
const config = parseConfig({
  rpc: { port: 0 },
  workers,
  admin: { port: 0 },
  logLevel: 'silent',
  upstream: { connections: Number(values.connections), ...(values.pipelining === undefined ? {} : { pipelining: Number(values.pipelining) }) },
  ...(crossCheckRate === undefined ? {} : { staking: { crossCheck: { sampleRate: crossCheckRate } } }),
  rateLimit,
  ...(chainAware === undefined ? {} : { routing: { chainAware } }),
  operators,
});
// Errors (an internal error answering a request, the control loop failing) go to stderr, which the harness shows.
const gw = await Gateway.start(config, { recordAttempts: record, logger: createLogger('error', pino.destination({ fd: 2, sync: false })) });
await answering(gw.rpcUrl, 15_000);
process.stdout.write(
  JSON.stringify({
    pid: process.pid,
    rpcUrl: gw.rpcUrl,
    adminUrl: gw.adminUrl,
    simPid: sims?.info.pid ?? null,
    simUrls: operatorUrls,
    record,
    workers,
    crossCheckRate: config.staking.crossCheck.sampleRate,
    chainAware: config.routing.chainAware,
  }) + '\n',
);

/** Resolves once the gateway answers an eth_blockNumber with a result; throws after `timeoutMs`. */
async function answering(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' });
      const text = await res.text();
      if (res.status === 200 && /"result":"0x[0-9a-f]+"/.test(text)) return;
      last = `HTTP ${res.status} ${text.slice(0, 200)}`;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`the gateway did not answer eth_blockNumber within ${timeoutMs} ms: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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
  if (sims) await stopChild(sims.child);
  process.stdout.write(JSON.stringify(counts) + '\n');
  process.exit(0);
}

/**
 * Upstream attempts by outcome, per operator (since start, warm-up and sanity checks included):
 * shows retries and upstream failures during the run. With --record false the router recorded
 * nothing, so only the health probes' share (if any) shows. Best effort: needs a recorder with
 * count(operatorIndex, outcome).
 */
function outcomeCounts() {
  const rec = gw.measurement;
  if (typeof rec?.count !== 'function' || !attempts.ATTEMPT_OUTCOMES) return { record, outcomes: null, recorder: rec?.constructor?.name ?? null };
  const outcomes = {};
  for (const op of operators) {
    // The router's index, not the config position: the gateway numbers operators as it meets them.
    const index = gw.operatorRef?.(op.id)?.index;
    if (index === undefined) {
      outcomes[op.id] = null;
      continue;
    }
    const counts = {};
    for (const o of attempts.ATTEMPT_OUTCOMES) {
      const n = rec.count(index, o);
      if (n) counts[o] = n;
    }
    outcomes[op.id] = counts;
  }
  let clientFaults = null;
  const faults = rec.clientFaults;
  const names = attempts.CLIENT_FAULTS;
  if (faults && names) clientFaults = Object.fromEntries(names.map((n, i) => [n, Number(faults[i] ?? 0)]).filter(([, v]) => v > 0));
  // Whether each operator's pool (this thread's) passed the pipelining check: "on", "refused", "off", ...
  const pipelining = Object.fromEntries(operators.map((op) => [op.id, gw.operatorRef?.(op.id)?.upstream.pipeliningState ?? null]));
  // Why the gateway might answer without trying an operator (NO_OPERATOR): each operator's standing at the end.
  const standing = Object.fromEntries(
    operators.map((op) => {
      const s = gw.core.state(op.id);
      if (s === undefined) return [op.id, null];
      return [op.id, { eligible: gw.core.isEligible(s), probation: s.probation, jailedUntil: s.jailedUntil, wrongChain: gw.controlLoop.isOnWrongChain(op.id), score: s.performanceScore, stake: s.active.toString(),
        violations: s.violations.map((v) => ({ type: v.type, severity: v.severity, description: v.description, slashedWei: v.slashedWei ?? '0' })) }];
    }),
  );
  return { record, outcomes, clientFaults, pipelining, standing };
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
exitWhenParentGoes(stop);
