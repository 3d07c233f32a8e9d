// Benchmark harness, with wrk, autocannon and a fixed-rate client. Three suites:
//   proxies     – the gateway against a simulated operator hit directly and against nginx (1 worker,
//                 and workers auto) and HAProxy (nbthread 2) proxying to the same operator(s):
//                 single call, batch of 10, a ~124 KB response, 1,000 connections, and 2,000 req/s
//                 fixed rate ("direct" is an alias: the suite's former name);
//   measurement – the gateway with measurement on vs. the same build with it off
//                 ("gateway-nomeasure": Gateway.start(config, { recordAttempts: false })), single call;
//   chain-aware – routing.chainAware true vs. false, same build, three operators: a single
//                 eth_blockNumber and an eth_call at a numbered block (CPU per request, on/off).
// Run with `npm run bench` (builds dist/ first; every suite), or pick suites with
// `node bench/run.mjs --suite measurement` / `BENCH_SUITE=proxies npm run bench`.
// `node bench/run.mjs --report bench/results/X.json` re-renders a saved run's tables (no load).
// Knobs (env): BENCH_DURATION (s, default 6), BENCH_ROUNDS (3: proxies suite, single call),
// BENCH_SCENARIO_ROUNDS (2: proxies suite, the other scenarios), BENCH_MEASUREMENT_ROUNDS (4),
// BENCH_CHAIN_AWARE_ROUNDS (4), BENCH_CHAIN_AWARE_SIMS (3: operators behind each chain-aware gateway),
// BENCH_CONNECTIONS (64), BENCH_WARMUP (s, 2), BENCH_TOOLS ("autocannon,wrk": measurement and chain-aware suites),
// BENCH_PROXY_TOOLS ("wrk", or "autocannon" without wrk: proxies suite, closed-loop scenarios),
// BENCH_PROXY_SCENARIOS ("single,ws,batch,large,c1000,rate"), BENCH_PROXY_TARGETS (all:
// "gateway,direct,nginx-1,nginx-auto,haproxy,gateway-auto,gateway-pipelining-1"), BENCH_RATE (2000), BENCH_RATE_DURATION (s, 5),
// BENCH_SUITE ("proxies,measurement,chain-aware"; BENCH_SCENARIOS is an alias),
// BENCH_QUIET_WAIT (s, 30: before each run, wait up to this long for the machine to be idle; 0 = don't),
// BENCH_NOISY_RETRIES (2: a run during which other load used > 0.2 cores is repeated this many times).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { cpuSeconds, gatewayNodeFlags, machineInfo, mainThreadCpuSeconds, memoryKiB, spawnNode, stopChild, systemCpuSeconds, tcpCounters, waitForQuiet } from './lib.mjs';
import { killAllProxies, operatorWeights, proxyVersions, startHaproxy, startNginx } from './proxies.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SCENARIO_ROUNDS = Number(process.env.BENCH_SCENARIO_ROUNDS ?? 2);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const RATE_DURATION = Number(process.env.BENCH_RATE_DURATION ?? 5);
const RATE_CLIENT_CONNECTIONS = 32;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const MEASUREMENT_ROUNDS = Number(process.env.BENCH_MEASUREMENT_ROUNDS ?? 4);
const CHAIN_AWARE_ROUNDS = Number(process.env.BENCH_CHAIN_AWARE_ROUNDS ?? 4);
const CHAIN_AWARE_SIMS = Number(process.env.BENCH_CHAIN_AWARE_SIMS ?? 3);
const QUIET_WAIT = Number(process.env.BENCH_QUIET_WAIT ?? 30);
const NOISY_RETRIES = Number(process.env.BENCH_NOISY_RETRIES ?? 2);
/**
 * Share of a run's requests that failed (socket errors or non-2xx) above which the run is void: it
 * measured the failure path (an operator out of routing answers 503 at once), not the proxy. Void
 * runs stay in the table of every run and out of the summaries and ratios.
 */
const VOID_SHARE = 0.1;
const isVoid = (r) => r.errors + r.non2xx > VOID_SHARE * (r.requests + r.errors);
/** Cores used by other processes (or stolen by the hypervisor) above which a run counts as noisy. */
const NOISY_CORES = 0.2;
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const SIMS = Number(process.env.BENCH_SIMS ?? 1);
const machine = machineInfo();
const TOOLS = (process.env.BENCH_TOOLS ?? 'autocannon,wrk').split(',').filter((t) => t !== 'wrk' || machine.wrk);
const PROXY_TOOLS = (process.env.BENCH_PROXY_TOOLS ?? (machine.wrk ? 'wrk' : 'autocannon')).split(',').filter((t) => t !== 'wrk' || machine.wrk);
const proxies = proxyVersions();
const ALL_SUITES = ['proxies', 'measurement', 'chain-aware'];
const SUITE_ALIASES = { direct: 'proxies' };
const { values: cli } = parseArgs({ options: { suite: { type: 'string' }, report: { type: 'string' } } });
const SUITE_NAMES = [
  ...new Set(
    (cli.suite ?? process.env.BENCH_SUITE ?? process.env.BENCH_SCENARIOS ?? ALL_SUITES.join(','))
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => SUITE_ALIASES[x] ?? x),
  ),
];
for (const name of SUITE_NAMES) {
  if (!ALL_SUITES.includes(name)) throw new Error(`unknown suite "${name}" (known: ${ALL_SUITES.join(', ')}; "direct" = "proxies")`);
}
/** Measurement on may cost at most this share of throughput (the issue's acceptance bar). */
const MIN_ON_OFF_RATIO = 0.95;
/** Chain-aware routing may cost at most this much more CPU per request than routing without it (issue 17). */
const MAX_CHAIN_AWARE_CPU_RATIO = 1.05;

const call = (id) => ({ jsonrpc: '2.0', id, method: 'eth_blockNumber', params: [] });
const hexResult = (it) => /^0x[0-9a-f]+$/.test(it?.result ?? '');
const SINGLE = { id: 'single', name: 'single eth_blockNumber', calls: 1, body: JSON.stringify(call(1)), valid: hexResult };
const BATCH = { id: 'batch', name: 'batch of 10 eth_blockNumber', calls: 10, body: JSON.stringify(Array.from({ length: 10 }, (_, i) => call(i + 1))), valid: hexResult };
// The simulated operator answers with a ~124 KB block (200 transactions with their bodies).
const LARGE = {
  id: 'large',
  name: 'large response: eth_getBlockByNumber 0x1234, full tx',
  calls: 1,
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getBlockByNumber', params: ['0x1234', true] }),
  valid: (it) => Array.isArray(it?.result?.transactions) && it.result.transactions.length > 0 && typeof it.result.transactions[0] === 'object',
};
const C1000 = { ...SINGLE, id: 'c1000', name: 'single eth_blockNumber, 1000 connections', connections: 1000, warm: false };
const FIXED_RATE = { ...SINGLE, id: 'rate', name: `single eth_blockNumber at ${RATE} req/s (fixed rate)`, rate: RATE };
// JSON-RPC over WebSocket from the client, HTTP to the operator: the gateway's own translation.
// nginx and HAProxy only tunnel a WebSocket to an operator that speaks it (the sim does not),
// so this scenario runs the gateways alone; compare it with their HTTP single call.
const WS = { ...SINGLE, id: 'ws', name: 'single eth_blockNumber over WebSocket', ws: true };
// In this order within each round: the fixed-rate run first (right after the warm-up), the large
// answers last (they grow the gateway's heap).
const PROXY_SCENARIOS = { rate: FIXED_RATE, single: SINGLE, ws: WS, batch: BATCH, c1000: C1000, large: LARGE };
// A read at an old numbered block (every operator has it): chain-aware routing must check the
// block against the operators' heads. The simulated operator answers a 32-byte word.
const CALL_AT_BLOCK = {
  id: 'call-at-block',
  name: 'eth_call at block 0x10',
  calls: 1,
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to: '0x00000000000000000000000000000000000000aa', data: '0x70a08231' }, '0x10'] }),
  valid: (it) => /^0x[0-9a-f]{64}$/.test(it?.result ?? ''),
};

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---- load generators: all return { requests, seconds, p50Ms, p99Ms, p999Ms, errors, non2xx } ----

async function runAutocannon(url, scenario, seconds) {
  const r = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: scenario.body,
    connections: scenario.connections ?? CONNECTIONS,
    pipelining: 1,
    duration: seconds,
  });
  return {
    requests: r.requests.total,
    seconds: r.duration,
    // autocannon's histogram holds whole milliseconds, and only 2xx answers.
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    p999Ms: r.latency.p99_9 ?? null,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

function runWrk(url, scenario, seconds) {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${scenario.connections ?? CONNECTIONS}`, `-d${seconds}s`, '-s', here('./post.lua'), url];
    const child = spawn('wrk', args, { env: { ...process.env, WRK_BODY: scenario.body }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk failed (exit ${code}):\n${out}`));
      const w = JSON.parse(line.slice('BENCH_JSON '.length));
      const e = w.errors;
      resolve({
        requests: w.requests,
        seconds: w.durationUs / 1e6,
        p50Ms: w.latencyUs.p50 / 1000,
        p99Ms: w.latencyUs.p99 / 1000,
        p999Ms: w.latencyUs.p999 / 1000,
        errors: e.connect + e.read + e.write + e.timeout,
        // wrk's "timeout": no answer within 2 s.
        errorKinds: { connect: e.connect, read: e.read, write: e.write, timeout: e.timeout },
        non2xx: e.status,
      });
    });
  });
}

/** Runs a client script of this folder in a child process; resolves with the JSON of its last line. */
function runClient(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)));
      } catch {
        reject(new Error(`${script} failed (exit ${code}):\n${out}`));
      }
    });
  });
}

const ms = (us) => (us === null ? null : us / 1000);

/** Fixed rate, in a child process (bench/rate-client.mjs): µs latencies, see that file. */
async function runRate(url, scenario, seconds) {
  const r = await runClient('./rate-client.mjs', ['--url', url, '--body', scenario.body, '--rate', String(scenario.rate), '--duration', String(seconds), '--warmup', '1', '--connections', String(RATE_CLIENT_CONNECTIONS)]);
  return {
    requests: r.ok,
    seconds: r.seconds,
    p50Ms: ms(r.serviceUs.p50),
    p99Ms: ms(r.serviceUs.p99),
    p999Ms: ms(r.serviceUs.p999),
    errors: r.errors,
    non2xx: r.non2xx,
    rate: { target: r.rate, serviceUs: r.serviceUs, intendedUs: r.intendedUs, maxInflight: r.maxInflight },
  };
}

/** Closed loop over WebSocket, in a child process (bench/ws-client.mjs): µs latencies. */
async function runWs(url, scenario, seconds) {
  const connections = String(scenario.connections ?? CONNECTIONS);
  const r = await runClient('./ws-client.mjs', ['--url', url.replace(/^http/, 'ws'), '--body', scenario.body, '--connections', connections, '--duration', String(seconds), '--warmup', '1']);
  return { requests: r.requests, seconds: r.seconds, p50Ms: ms(r.latencyUs.p50), p99Ms: ms(r.latencyUs.p99), p999Ms: ms(r.latencyUs.p999), errors: r.errors, non2xx: 0 };
}

const LOADERS = { autocannon: runAutocannon, wrk: runWrk, rate: runRate, ws: runWs };
const toolsFor = (suite, scenario) => (scenario.rate ? ['rate'] : scenario.ws ? ['ws'] : suite.tools);
const secondsFor = (scenario) => (scenario.rate ? RATE_DURATION : DURATION);

// ---- one measured run, with CPU time of every process involved ----

/** `pids`: { group: [pid, ...] } (an nginx master with its workers is one group). */
function groupCpuSeconds(group) {
  let s = 0;
  for (const pid of group) {
    try {
      s += cpuSeconds(pid);
    } catch {
      // gone
    }
  }
  return s;
}

function cpuSnapshot(pids, mainThreadOf) {
  // The load generator is this process (autocannon) or a waited-for child of it (wrk, rate client).
  const snap = { loadgen: cpuSeconds(process.pid, true) };
  for (const [name, group] of Object.entries(pids)) snap[name] = groupCpuSeconds(group);
  // The loaded gateway's event-loop thread alone (not added to the totals: it is part of snap[proc]).
  const main = mainThreadOf ? mainThreadCpuSeconds(pids[mainThreadOf][0]) : null;
  return { snap, main };
}

/**
 * `target`: { name, url, proc, sim, gateway } where proc / sim name the proxy's process group
 * (null for the direct baseline) and the sim behind it in `pids`; `gateway` marks a gateway
 * process (its event-loop thread is measured apart). Every process in `pids` is counted, so
 * idle ones (the other targets) are not mistaken for outside load.
 */
async function measure(tool, target, scenario, pids) {
  const loadavg = os.loadavg()[0];
  // Peak memory of the proxy's processes, sampled twice a second during the run.
  const mem = { rss: 0, pss: 0 };
  const sampleMem = () => {
    if (!target.proc) return;
    const m = memoryKiB(pids[target.proc]);
    mem.rss = Math.max(mem.rss, m.rss);
    mem.pss = Math.max(mem.pss, m.pss);
  };
  const sysBefore = systemCpuSeconds();
  const tcpBefore = tcpCounters();
  const mainOf = target.gateway ? target.proc : null;
  const { snap: before, main: mainBefore } = cpuSnapshot(pids, mainOf);
  const sampler = setInterval(sampleMem, 500);
  let r;
  try {
    r = await LOADERS[tool](target.url, scenario, secondsFor(scenario));
  } finally {
    clearInterval(sampler);
  }
  const { snap: after, main: mainAfter } = cpuSnapshot(pids, mainOf);
  const sysAfter = systemCpuSeconds();
  const tcpAfter = tcpCounters();
  sampleMem();
  const cpu = Object.fromEntries(Object.keys(before).map((k) => [k, +(after[k] - before[k]).toFixed(2)]));
  const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
  const usPerReq = (s) => (r.requests > 0 ? +((s * 1e6) / r.requests).toFixed(1) : null);
  const cpuUsPerRequest = Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, usPerReq(s)]));
  const proxyUsPerRequest = target.proc ? cpuUsPerRequest[target.proc] : null;
  return {
    tool,
    scenario: scenario.name,
    scenarioId: scenario.id ?? null,
    target: target.name,
    connections: scenario.rate ? null : (scenario.connections ?? CONNECTIONS),
    reqPerSec: Math.round(r.requests / r.seconds),
    rpcCallsPerSec: Math.round((r.requests * scenario.calls) / r.seconds),
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    p999Ms: r.p999Ms ?? null,
    requests: r.requests,
    seconds: +r.seconds.toFixed(2),
    errors: r.errors,
    errorKinds: r.errorKinds ?? null,
    non2xx: r.non2xx,
    // Machine-wide: connections dropped because a listen queue (here: the sim's, Node's default
    // backlog of 511) was full; each costs its client a 1 s SYN retry.
    listenOverflows: tcpAfter.listenOverflows - tcpBefore.listenOverflows,
    rate: r.rate ?? null,
    cpuSeconds: cpu,
    // Per request of this run, for every process group; the next ones pick the loaded target's.
    cpuUsPerRequest,
    // The proxy's processes (gateway, nginx master + workers, haproxy), summed.
    proxyUsPerRequest,
    proxyCores: target.proc ? +(cpu[target.proc] / r.seconds).toFixed(2) : null,
    proxyRssMiB: target.proc ? +(mem.rss / 1024).toFixed(1) : null,
    proxyPssMiB: target.proc ? +(mem.pss / 1024).toFixed(1) : null,
    gatewayUsPerRequest: target.gateway ? proxyUsPerRequest : null,
    gatewayCores: target.gateway ? +(cpu[target.proc] / r.seconds).toFixed(2) : null,
    // Of gatewayUsPerRequest, the event loop's share; the rest is V8's GC / compiler threads
    // (and, with data-plane workers, the workers: then "main" is the control plane alone).
    gatewayMainThreadUsPerRequest: target.gateway ? usPerReq(mainAfter - mainBefore) : null,
    simUsPerRequest: cpuUsPerRequest[target.sim],
    coresBusy: +(ours / r.seconds).toFixed(2),
    // CPU used by processes that are not part of the bench (other work on the machine), and
    // hypervisor steal: either one makes a run less comparable.
    otherCores: +Math.max(0, (sysAfter.busy - sysBefore.busy - ours) / r.seconds).toFixed(2),
    stealCores: +((sysAfter.steal - sysBefore.steal) / r.seconds).toFixed(2),
    loadavgBefore: +loadavg.toFixed(2),
  };
}

// ---- sanity: every target must give well-formed answers before we time it ----

async function check(url, scenario) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: scenario.body });
  const text = await res.text();
  const problems = [];
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    problems.push('body is not JSON');
  }
  if (res.status !== 200) problems.push(`HTTP ${res.status}`);
  const items = scenario.calls === 1 ? [json] : Array.isArray(json) ? json : (problems.push('batch answer is not an array'), []);
  if (scenario.calls > 1 && items.length !== scenario.calls) problems.push(`batch answered ${items.length} of ${scenario.calls}`);
  const ids = items.map((it) => it?.id);
  items.forEach((it, i) => {
    if (!(scenario.valid ?? hexResult)(it)) problems.push(`item ${i}: not the expected result`);
  });
  return { status: res.status, bytes: text.length, ids, sample: text.slice(0, 160), problems };
}

// ---- the suites: which processes, targets, scenarios and rounds ----

const gatewayScript = here('./gateway-process.mjs');
// As `din-gateway start` runs it (the flags on dist/cli.js's first line).
const GATEWAY_NODE_FLAGS = gatewayNodeFlags(here('..'));
const ALL_PROXY_TARGETS = ['gateway', 'direct', 'nginx-1', 'nginx-auto', 'haproxy', 'gateway-auto', 'gateway-pipelining-1'];
/** The gateway variants: the default config, data-plane workers on every core, and upstream pipelining off (one request per connection). */
const GATEWAY_VARIANTS = {
  gateway: { key: 'gateway', args: ['--workers', '1'] },
  'gateway-auto': { key: 'gatewayAuto', args: ['--workers', 'auto'] },
  'gateway-pipelining-1': { key: 'gatewayPipelining1', args: ['--workers', '1', '--pipelining', '1'] },
};
const PROXY_TARGETS = (process.env.BENCH_PROXY_TARGETS ?? ALL_PROXY_TARGETS.join(',')).split(',').map((x) => x.trim()).filter(Boolean);
for (const t of PROXY_TARGETS) if (!ALL_PROXY_TARGETS.includes(t)) throw new Error(`unknown target "${t}" (known: ${ALL_PROXY_TARGETS.join(', ')})`);
const PROXY_SCENARIO_IDS = (process.env.BENCH_PROXY_SCENARIOS ?? Object.keys(PROXY_SCENARIOS).join(',')).split(',').map((x) => x.trim()).filter(Boolean);
for (const id of PROXY_SCENARIO_IDS) if (!PROXY_SCENARIOS[id]) throw new Error(`unknown scenario "${id}" (known: ${Object.keys(PROXY_SCENARIOS).join(', ')})`);
// The fixed-rate scenario is about added latency: nginx with workers auto adds nothing there.
const RATE_TARGETS = ['gateway', 'direct', 'nginx-1', 'haproxy', 'gateway-auto', 'gateway-pipelining-1'];

const SUITES = {
  proxies: {
    title: 'Gateway vs. direct, nginx and HAProxy',
    tools: PROXY_TOOLS,
    scenarios: PROXY_SCENARIO_IDS.map((id) => {
      const s = PROXY_SCENARIOS[id];
      return {
        ...s,
        rounds: id === 'single' || id === 'rate' ? ROUNDS : SCENARIO_ROUNDS,
        targets: s.rate ? RATE_TARGETS : s.ws ? Object.keys(GATEWAY_VARIANTS) : null,
      };
    }),
    rounds: ROUNDS,
    freshPerRound: true,
    rotate: true,
    warmGatewaysOnly: true,
    async start() {
      // One set of simulated operators for every target: the gateway, nginx and HAProxy all
      // proxy to it, and "direct" hits its first operator.
      const sim = await spawnNode(here('./sim-process.mjs'), ['--count', String(SIMS)]);
      const upstreams = sim.info.urls.join(',');
      log(`sim ${sim.info.urls.join(', ')} (pid ${sim.info.pid})`);
      const started = [];
      const stops = [];
      const pids = { sim: [sim.info.pid] };
      const targets = [];
      const notes = [];
      const infos = {};
      const gateways = {};
      try {
        for (const name of PROXY_TARGETS) {
          if (GATEWAY_VARIANTS[name]) {
            // Default config (cross-check at its default rate: eth_blockNumber is never sampled anyway).
            const { key, args } = GATEWAY_VARIANTS[name];
            const gw = await spawnNode(gatewayScript, ['--upstreams', upstreams, ...args], {}, GATEWAY_NODE_FLAGS);
            pids[key] = [gw.info.pid];
            gateways[name] = gw;
            stops.push(async () => ({ [name]: (await stopChild(gw.child), gw.child.lines.at(-1) ?? null) }));
            targets.push({ name, url: gw.info.rpcUrl, proc: key, sim: 'sim', gateway: true });
            infos[name] = { pid: gw.info.pid, workers: gw.info.workers, crossCheckRate: gw.info.crossCheckRate };
            log(`${name} ${gw.info.rpcUrl} (pid ${gw.info.pid}, workers ${gw.info.workers})`);
          } else if (name === 'direct') {
            targets.push({ name, url: sim.info.urls[0], proc: null, sim: 'sim', gateway: false });
          }
        }
        // The proxies' weights: the gateway's routing weights of the same operators.
        const anyGw = gateways.gateway ?? gateways['gateway-auto'];
        const weighted = anyGw
          ? await operatorWeights(anyGw.info.adminUrl)
          : sim.info.urls.map((url, i) => ({ id: `op${i}`, url, weight: 1, proxyWeight: 1 }));
        infos.upstreamWeights = weighted;
        const proxyDefs = {
          'nginx-1': { bin: 'nginx', key: 'nginx1', start: () => startNginx({ name: 'nginx-1', workers: 1, upstreams: weighted }) },
          'nginx-auto': { bin: 'nginx', key: 'nginxAuto', start: () => startNginx({ name: 'nginx-auto', workers: 'auto', upstreams: weighted }) },
          haproxy: { bin: 'haproxy', key: 'haproxy', start: () => startHaproxy({ name: 'haproxy', threads: 2, upstreams: weighted }) },
        };
        for (const name of PROXY_TARGETS) {
          const def = proxyDefs[name];
          if (!def) continue;
          if (!proxies[def.bin]) {
            const note = `${name} skipped: \`${def.bin}\` is not installed (\`apt-get install -y ${def.bin}\`)`;
            notes.push(note);
            log(note);
            continue;
          }
          const p = await def.start();
          started.push(p);
          pids[def.key] = p.pids;
          targets.push({ name, url: p.url, proc: def.key, sim: 'sim', gateway: false });
          infos[name] = { pids: p.pids, config: p.config };
          log(`${name} ${p.url} (pids ${p.pids.join(', ')})`);
        }
      } catch (err) {
        for (const p of started) await p.stop();
        for (const s of stops) await s();
        await stopChild(sim.child);
        throw err;
      }
      // Interleaving order: as listed in BENCH_PROXY_TARGETS.
      targets.sort((a, b) => PROXY_TARGETS.indexOf(a.name) - PROXY_TARGETS.indexOf(b.name));
      return {
        targets,
        pids,
        notes,
        infos,
        async stop() {
          for (const p of started) await p.stop();
          const outcomes = {};
          for (const s of stops) Object.assign(outcomes, await s());
          await stopChild(sim.child);
          return outcomes;
        },
      };
    },
  },
  measurement: {
    title: 'Measurement on vs. off',
    tools: TOOLS,
    scenarios: [SINGLE],
    rounds: MEASUREMENT_ROUNDS,
    freshPerRound: true,
    async start() {
      // Same build, same config (cross-check off, probes default); only the recorder differs.
      const on = await spawnNode(gatewayScript, ['--sims', '1', '--record', 'true', '--cross-check-rate', '0'], {}, GATEWAY_NODE_FLAGS);
      const off = await spawnNode(gatewayScript, ['--sims', '1', '--record', 'false', '--cross-check-rate', '0'], {}, GATEWAY_NODE_FLAGS);
      for (const [name, g] of [['gateway (on)', on], ['gateway-nomeasure (off)', off]]) {
        log(`${name} ${g.info.rpcUrl} (pid ${g.info.pid}, sim pid ${g.info.simPid}, record ${g.info.record}, cross-check rate ${g.info.crossCheckRate})`);
      }
      return {
        targets: [
          { name: 'gateway', url: on.info.rpcUrl, proc: 'gateway', sim: 'gatewaySim', gateway: true },
          { name: 'gateway-nomeasure', url: off.info.rpcUrl, proc: 'nomeasure', sim: 'nomeasureSim', gateway: true },
        ],
        pids: { gateway: [on.info.pid], gatewaySim: [on.info.simPid], nomeasure: [off.info.pid], nomeasureSim: [off.info.simPid] },
        notes: [],
        infos: {},
        async stop() {
          await stopChild(off.child);
          await stopChild(on.child);
          return { gateway: on.child.lines.at(-1) ?? null, 'gateway-nomeasure': off.child.lines.at(-1) ?? null };
        },
      };
    },
  },
  'chain-aware': {
    title: 'Chain-aware routing on vs. off',
    tools: TOOLS,
    scenarios: [SINGLE, CALL_AT_BLOCK],
    rounds: CHAIN_AWARE_ROUNDS,
    freshPerRound: true,
    async start() {
      // Same build, same config (cross-check off, probes default, several operators); only routing.chainAware differs.
      const common = ['--sims', String(CHAIN_AWARE_SIMS), '--cross-check-rate', '0'];
      const on = await spawnNode(gatewayScript, [...common, '--chain-aware', 'on'], {}, GATEWAY_NODE_FLAGS);
      const off = await spawnNode(gatewayScript, [...common, '--chain-aware', 'off'], {}, GATEWAY_NODE_FLAGS);
      for (const [name, g] of [['gateway-chain-aware (on)', on], ['gateway-chain-unaware (off)', off]]) {
        log(`${name} ${g.info.rpcUrl} (pid ${g.info.pid}, sim pid ${g.info.simPid}, ${g.info.simUrls.length} operators, chainAware ${g.info.chainAware})`);
      }
      return {
        targets: [
          { name: 'gateway-chain-aware', url: on.info.rpcUrl, proc: 'chainAware', sim: 'chainAwareSim', gateway: true },
          { name: 'gateway-chain-unaware', url: off.info.rpcUrl, proc: 'chainUnaware', sim: 'chainUnawareSim', gateway: true },
        ],
        pids: { chainAware: [on.info.pid], chainAwareSim: [on.info.simPid], chainUnaware: [off.info.pid], chainUnawareSim: [off.info.simPid] },
        notes: [],
        infos: {},
        async stop() {
          await stopChild(off.child);
          await stopChild(on.child);
          return { 'gateway-chain-aware': on.child.lines.at(-1) ?? null, 'gateway-chain-unaware': off.child.lines.at(-1) ?? null };
        },
      };
    },
  },
};

/** One measured run, after waiting for the machine to be quiet; repeated when other load still got in. */
async function measureQuietly(tool, target, scenario, pids, discarded) {
  for (let attempt = 0; ; attempt++) {
    const waitedS = QUIET_WAIT > 0 ? await waitForQuiet({ maxWaitS: QUIET_WAIT }) : null;
    const r = await measure(tool, target, scenario, pids);
    r.quietWaitS = waitedS; // -1: gave up waiting
    const noisy = r.otherCores > NOISY_CORES || r.stealCores > NOISY_CORES;
    if (!noisy || attempt >= NOISY_RETRIES) {
      r.noisyRetries = attempt;
      return r;
    }
    log(`${tool} | ${scenario.name} | ${target.name}: other load ${r.otherCores} cores, steal ${r.stealCores}: repeating the run`);
    discarded.push({ ...r, discarded: 'noisy' });
  }
}

async function warmUp(url, scenario) {
  // wrk when there is one: cheaper on CPU than autocannon, which shares the cores with the target.
  if (machine.wrk) await runWrk(url, { ...scenario, connections: CONNECTIONS }, WARMUP);
  else await runAutocannon(url, { ...scenario, connections: CONNECTIONS }, WARMUP);
}

async function runSuite(name) {
  const suite = SUITES[name];
  log(`suite ${name}: ${suite.title}`);
  const runs = [];
  const discardedRuns = [];
  const checks = {};
  const checkProblems = [];
  const outcomes = {};
  let targetNames = [];
  let notes = [];
  const infos = {};

  // Fresh processes per round: a node process can settle for its whole life at a markedly
  // higher CPU cost per request than a sibling started the same way, so one process per
  // target would compare two draws of that. Round r runs the scenarios with rounds >= r.
  const roundsOf = (s) => s.rounds ?? suite.rounds;
  const maxRounds = Math.max(suite.rounds, ...suite.scenarios.map(roundsOf));
  const sets = suite.freshPerRound ? Array.from({ length: maxRounds }, (_, i) => [i + 1]) : [Array.from({ length: maxRounds }, (_, i) => i + 1)];
  for (const rounds of sets) {
    const active = suite.scenarios.filter((s) => rounds.some((r) => r <= roundsOf(s)));
    const started = await suite.start();
    const { targets, pids, stop } = started;
    targetNames = targets.map((t) => t.name);
    notes = started.notes;
    const setLabel = suite.freshPerRound ? `round ${rounds[0]}` : 'all rounds';
    infos[setLabel] = started.infos;
    const targetsOf = (s) => (s.targets ? targets.filter((t) => s.targets.includes(t.name)) : targets);
    // Proxies suite: each round starts the interleaving at a different target.
    const orderFor = (list, round) => (suite.rotate ? list.map((_, i) => list[(i + round - 1) % list.length]) : list);
    const warmed = new Set();
    try {
      for (const s of active) {
        for (const t of targetsOf(s)) {
          const c = await check(t.url, s);
          checks[`${setLabel}: ${t.name}: ${s.name}`] = c;
          for (const p of c.problems) checkProblems.push(`${setLabel} / ${t.name} / ${s.name}: ${p}`);
        }
      }
      if (checkProblems.length) log(`sanity check problems: ${checkProblems.join('; ')}`);

      // Scenario by scenario (each with every tool), round by round, the targets interleaved.
      for (const s of active) {
        // Warm-up (not recorded), once per request body and set of processes, right before the
        // first scenario that sends it: the large answers do not inflate the heap before the
        // fixed-rate run. The proxies suite warms the gateways only (JIT; nginx and HAProxy
        // have nothing to warm, and the sim is warmed through the gateways).
        if (WARMUP > 0 && s.warm !== false && !warmed.has(s.body)) {
          warmed.add(s.body);
          const ws = targetsOf(s).filter((t) => !suite.warmGatewaysOnly || t.gateway);
          log(`warm-up ${WARMUP} s: ${s.name}: ${ws.map((t) => t.name).join(', ')} (not recorded)`);
          for (const t of ws) await warmUp(t.url, s);
        }
        for (const tool of toolsFor(suite, s)) {
          for (const round of rounds) {
            if (round > roundsOf(s)) continue;
            for (const t of orderFor(targetsOf(s), round)) {
              const r = await measureQuietly(tool, t, s, pids, discardedRuns);
              r.suite = name;
              r.round = round;
              runs.push(r);
              log(`${tool} | ${s.name} | ${t.name} #${round}: ${r.reqPerSec} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
                `proxy ${r.proxyUsPerRequest} µs/req (gateway main thread ${r.gatewayMainThreadUsPerRequest}), cores busy ${r.coresBusy}, ` +
                `other ${r.otherCores}, steal ${r.stealCores}, listen overflows ${r.listenOverflows}, errors ${r.errors + r.non2xx}`);
            }
          }
        }
      }
    } finally {
      outcomes[setLabel] = await stop();
    }
  }
  return {
    name,
    title: suite.title,
    rounds: suite.rounds,
    freshPerRound: !!suite.freshPerRound,
    tools: suite.tools,
    scenarios: suite.scenarios.map(({ valid, ...s }) => ({ ...s, rounds: roundsOf(s), body: s.body.length > 200 ? `${s.body.slice(0, 200)}…` : s.body })),
    targets: targetNames,
    notes,
    infos,
    checks,
    checkProblems,
    runs,
    discardedRuns,
    outcomes,
  };
}

// ---- helpers for the report ----

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const meanOf = (rs, f, d = 1) => {
  const xs = rs.map(f).filter((x) => x !== null && x !== undefined && !Number.isNaN(x));
  return xs.length ? +mean(xs).toFixed(d) : null;
};
const ratio = (a, b, d = 2) => (a !== null && a !== undefined && b > 0 ? +(a / b).toFixed(d) : null);
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

const agg = (rs) => ({
  reqPerSec: Math.round(mean(rs.map((r) => r.reqPerSec))),
  p50Ms: +mean(rs.map((r) => r.p50Ms)).toFixed(2),
  p99Ms: +mean(rs.map((r) => r.p99Ms)).toFixed(2),
  errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
  runs: rs.length,
  maxOtherCores: Math.max(...rs.map((r) => r.otherCores + r.stealCores)),
});

const GATEWAYS = Object.keys(GATEWAY_VARIANTS);
const BASELINES = ['direct', 'nginx-1', 'nginx-auto', 'haproxy'];
const PCTS = ['p50', 'p90', 'p99', 'p999'];

function summarizeProxies(suite) {
  const groups = [];
  const combos = [];
  for (const r of suite.runs) if (!combos.some(([t, s]) => t === r.tool && s === r.scenario)) combos.push([r.tool, r.scenario]);
  for (const [tool, scenario] of combos) {
    const rsAll = suite.runs.filter((r) => r.tool === tool && r.scenario === scenario && !isVoid(r));
    const byTarget = {};
    for (const t of suite.targets) {
      const rs = rsAll.filter((r) => r.target === t);
      if (!rs.length) continue;
      byTarget[t] = {
        ...agg(rs),
        reqPerSecMin: Math.min(...rs.map((r) => r.reqPerSec)),
        reqPerSecMax: Math.max(...rs.map((r) => r.reqPerSec)),
        p50Ms: meanOf(rs, (r) => r.p50Ms, 3),
        p99Ms: meanOf(rs, (r) => r.p99Ms, 3),
        p999Ms: meanOf(rs, (r) => r.p999Ms, 3),
        proxyUsPerRequest: meanOf(rs, (r) => r.proxyUsPerRequest),
        proxyUsPerRequestMin: rs[0].proxyUsPerRequest === null ? null : Math.min(...rs.map((r) => r.proxyUsPerRequest)),
        proxyUsPerRequestMax: rs[0].proxyUsPerRequest === null ? null : Math.max(...rs.map((r) => r.proxyUsPerRequest)),
        gatewayMainThreadUsPerRequest: meanOf(rs, (r) => r.gatewayMainThreadUsPerRequest),
        proxyCores: meanOf(rs, (r) => r.proxyCores, 2),
        proxyRssMiB: rs[0].proxyRssMiB === null ? null : Math.max(...rs.map((r) => r.proxyRssMiB)),
        proxyPssMiB: rs[0].proxyPssMiB === null ? null : Math.max(...rs.map((r) => r.proxyPssMiB)),
        simUsPerRequest: meanOf(rs, (r) => r.simUsPerRequest),
        loadgenUsPerRequest: meanOf(rs, (r) => r.cpuUsPerRequest.loadgen),
        coresBusy: meanOf(rs, (r) => r.coresBusy, 2),
        listenOverflows: rs.reduce((a, r) => a + (r.listenOverflows || 0), 0),
        rate: rs[0].rate
          ? {
              target: rs[0].rate.target,
              serviceUs: Object.fromEntries(PCTS.map((p) => [p, meanOf(rs, (r) => r.rate.serviceUs[p], 0)])),
              intendedUs: Object.fromEntries(PCTS.map((p) => [p, meanOf(rs, (r) => r.rate.intendedUs[p], 0)])),
            }
          : null,
      };
    }
    const ratios = [];
    for (const gw of GATEWAYS) {
      const g = byTarget[gw];
      if (!g) continue;
      for (const base of BASELINES) {
        const b = byTarget[base];
        if (!b) continue;
        // The same round's runs: the same set of processes, minutes apart at most.
        const perRound = [];
        for (const gr of rsAll.filter((r) => r.target === gw)) {
          const br = rsAll.find((r) => r.target === base && r.round === gr.round);
          if (br) perRound.push({ round: gr.round, reqPerSec: ratio(gr.reqPerSec, br.reqPerSec), reqPerCpuSecond: ratio(br.proxyUsPerRequest, gr.proxyUsPerRequest) });
        }
        ratios.push({
          perRound,
          gateway: gw,
          baseline: base,
          reqPerSec: ratio(g.reqPerSec, b.reqPerSec),
          // Proxied requests per CPU-second of the proxy's processes, gateway / baseline
          // (= baseline CPU µs/req / gateway CPU µs/req); none for "direct" (no proxy).
          reqPerCpuSecond: ratio(b.proxyUsPerRequest, g.proxyUsPerRequest),
          gatewayUsPerRequest: g.proxyUsPerRequest,
          baselineUsPerRequest: b.proxyUsPerRequest,
        });
      }
    }
    // Fixed rate: latency each proxy adds to hitting the operator directly (service latency, µs).
    const added = [];
    const d = byTarget.direct?.rate;
    if (d) {
      for (const t of suite.targets) {
        const x = byTarget[t]?.rate;
        if (!x || t === 'direct') continue;
        // Per round too: the target and direct of one round ran back to back, on the same processes.
        const perRound = [];
        for (const tr of rsAll.filter((r) => r.target === t)) {
          const dr = rsAll.find((r) => r.target === 'direct' && r.round === tr.round);
          if (dr) perRound.push({ round: tr.round, ...Object.fromEntries(PCTS.map((p) => [`${p}Us`, tr.rate.serviceUs[p] - dr.rate.serviceUs[p]])) });
        }
        added.push({ target: t, ...Object.fromEntries(PCTS.map((p) => [`${p}Us`, x.serviceUs[p] - d.serviceUs[p]])), perRound });
      }
    }
    const first = rsAll[0];
    groups.push({ tool, scenario, scenarioId: first.scenarioId, connections: first.connections, rounds: Math.max(...rsAll.map((r) => r.round)), byTarget, ratios, added });
  }
  return groups;
}

/** The issue's targets, judged on this run: single call (wrk if it ran) and the fixed-rate run. */
function proxiesVerdicts(groups, rateLabel) {
  const single = groups.find((g) => g.scenarioId === 'single' && g.tool === 'wrk') ?? groups.find((g) => g.scenarioId === 'single');
  const rate = groups.find((g) => g.scenarioId === 'rate');
  const r = (gw, base) => single?.ratios.find((x) => x.gateway === gw && x.baseline === base) ?? null;
  const v = [];
  const cpu = (gw, base, label) => {
    const x = r(gw, base);
    if (gw !== 'gateway' && !x) return;
    const variant = gw === 'gateway' ? '' : ` (${gw === 'gateway-pipelining-1' ? 'upstream.pipelining 1' : gw})`;
    v.push({
      target: `proxied requests per CPU-second${variant}, measurement on, ≥ ${label}`,
      basis: single ? `${single.tool}, ${single.scenario}: ${gw} ${fmt(x?.gatewayUsPerRequest, 1)} vs ${base} ${fmt(x?.baselineUsPerRequest, 1)} CPU µs/req` : 'not run',
      value: x?.reqPerCpuSecond ?? null,
      met: x?.reqPerCpuSecond === null || x?.reqPerCpuSecond === undefined ? null : x.reqPerCpuSecond >= 1,
    });
  };
  for (const gw of ['gateway', 'gateway-pipelining-1']) {
    cpu(gw, 'nginx-1', "nginx's (1 worker)");
    cpu(gw, 'haproxy', "HAProxy's (nbthread 2)");
  }
  const one = r('gateway', 'nginx-auto');
  const auto = r('gateway-auto', 'nginx-auto');
  const best = auto ?? one;
  v.push({
    target: 'req/s with all cores ≥ nginx with workers auto',
    basis: single
      ? `${single.tool}, ${single.scenario}: gateway (workers 1) ${fmt(one?.reqPerSec, 2)}×, gateway (workers auto) ${fmt(auto?.reqPerSec, 2)}× nginx-auto's req/s`
      : 'not run',
    value: best?.reqPerSec ?? null,
    met: best?.reqPerSec === null || best?.reqPerSec === undefined ? null : best.reqPerSec >= 1,
  });
  const add = rate?.added.find((a) => a.target === 'gateway');
  const addAuto = rate?.added.find((a) => a.target === 'gateway-auto');
  const rounds = (a, p) => (a?.perRound?.length ? ` [per round: ${a.perRound.map((x) => fmt(x[p], 0)).join(', ')}]` : '');
  // Judged on the mean over the rounds of each round's percentile, gateway − direct.
  for (const [p, limitUs, label] of [['p50Us', 300, 'p50 ≤ 0.3 ms'], ['p99Us', 1000, 'p99 ≤ 1 ms']]) {
    v.push({
      target: `added latency at ${rateLabel} req/s: ${label}`,
      basis: add
        ? `gateway − direct, latency ${p.slice(0, 3)}: ${fmt(add[p], 0)} µs${rounds(add, p)}; workers auto: ${fmt(addAuto?.[p], 0)} µs${rounds(addAuto, p)}`
        : 'not run',
      value: add ? add[p] / 1000 : null,
      met: add ? add[p] <= limitUs : null,
    });
  }
  return v;
}

/** Two variants of one build run interleaved, per tool and scenario: each side's means, and on/off ratios overall and per round. */
function summarizeOnOff(runs, suite, onTarget, offTarget) {
  const groups = [];
  for (const tool of suite.tools) {
    for (const s of suite.scenarios) {
      const pick = (t) => runs.filter((r) => r.tool === tool && r.scenario === s.name && r.target === t);
      const on = pick(onTarget);
      const off = pick(offTarget);
      const cpuOf = (rs) => ({
        cpuUsPerRequest: +mean(rs.map((r) => r.gatewayUsPerRequest)).toFixed(1),
        mainThreadUsPerRequest: +mean(rs.map((r) => r.gatewayMainThreadUsPerRequest)).toFixed(1),
      });
      const onA = { ...agg(on), ...cpuOf(on) };
      const offA = { ...agg(off), ...cpuOf(off) };
      // The same round's on and off ran back to back: their ratio shows the spread between rounds.
      const perRound = on.map((r) => {
        const o = off.find((x) => x.round === r.round);
        return o ? { round: r.round, reqPerSec: ratio(r.reqPerSec, o.reqPerSec, 3), cpuUsPerRequest: ratio(r.gatewayUsPerRequest, o.gatewayUsPerRequest, 3) } : null;
      }).filter(Boolean);
      const medianOf = (xs) => {
        const sorted = xs.filter((x) => x !== null).sort((a, b) => a - b);
        const mid = sorted.length >> 1;
        return sorted.length ? +(sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2).toFixed(3) : null;
      };
      const cpuRatios = perRound.map((p) => p.cpuUsPerRequest).filter((x) => x !== null);
      groups.push({
        tool,
        scenario: s.name,
        on: onA,
        off: offA,
        ratioReqPerSec: ratio(onA.reqPerSec, offA.reqPerSec, 3),
        ratioCpuUsPerRequest: ratio(onA.cpuUsPerRequest, offA.cpuUsPerRequest, 3),
        ratioMainThreadUsPerRequest: ratio(onA.mainThreadUsPerRequest, offA.mainThreadUsPerRequest, 3),
        perRound,
        medianRoundRatioReqPerSec: medianOf(perRound.map((p) => p.reqPerSec)),
        medianRoundRatioCpuUsPerRequest: medianOf(perRound.map((p) => p.cpuUsPerRequest)),
        // The spread of the per-round CPU ratios: how far apart two rounds of the same comparison land.
        roundRatioCpuMin: cpuRatios.length ? Math.min(...cpuRatios) : null,
        roundRatioCpuMax: cpuRatios.length ? Math.max(...cpuRatios) : null,
      });
    }
  }
  return groups;
}

function summarizeMeasurement(runs) {
  return summarizeOnOff(runs, SUITES.measurement, 'gateway', 'gateway-nomeasure').map((g) => ({
    ...g,
    meetsTarget: g.ratioReqPerSec !== null && g.ratioReqPerSec >= MIN_ON_OFF_RATIO,
  }));
}

function summarizeChainAware(runs) {
  return summarizeOnOff(runs, SUITES['chain-aware'], 'gateway-chain-aware', 'gateway-chain-unaware').map((g) => ({
    ...g,
    meetsTarget: g.ratioCpuUsPerRequest !== null && g.ratioCpuUsPerRequest <= MAX_CHAIN_AWARE_CPU_RATIO,
  }));
}

const yesNo = (met) => (met === null ? 'not measured' : met ? '**met**' : '**not met**');

function proxiesMarkdown(suite, settings) {
  const w = Object.values(suite.infos ?? {})[0]?.upstreamWeights ?? [];
  const lines = [
    `## ${suite.title}`,
    '',
    `All targets in front of the same simulated operator process (${w.length || '?'} operator(s), zero latency; "direct" hits it ` +
      'without a proxy). Gateway: default config, measurement on, upstream pool 64 connections, pipelining 8 once the operator has passed ' +
      'the check (reads sent in the same event-loop turn share a connection and one write); "gateway-auto" is the ' +
      'same with `workers: "auto"` (data-plane worker threads, one per core); "gateway-pipelining-1" the same as "gateway" with ' +
      '`upstream.pipelining: 1` (one request per connection at a time). nginx: `worker_processes 1` ("nginx-1") or `auto` ' +
      '("nginx-auto"), upstream `keepalive 64`, HTTP/1.1 upstream, logging off. HAProxy: `nbthread 2`, `mode http`, ' +
      '`http-reuse always`, logging off. Proxy weights = the gateway\'s routing weights ' +
      `(${w.map((o) => `${o.id} ${o.proxyWeight}`).join(', ') || '–'}). Targets interleaved within each round, one process ` +
      'per target per round: every round starts all of them afresh (sim included), and starts the interleaving at a ' +
      'different target. Within a round: the fixed-rate run first, then single, batch, 1,000 connections, large; the gateways ' +
      'get an unrecorded warm-up per request body before its first scenario.',
    '',
    '"proxy CPU µs/req": CPU time of all the proxy\'s processes (gateway process with its threads; nginx master + workers; ' +
      'haproxy) over the run / requests answered. "RSS": peak over the run, summed over those processes (PSS, in brackets, ' +
      'splits pages shared between them). wrk latencies are µs-resolution, closed loop; autocannon\'s are whole ms. ' +
      '"listen overflows" (machine-wide, from /proc/net/netstat): connection attempts dropped because a listen queue was full ' +
      '(in practice the sim\'s: Node\'s default backlog of 511), each costing its client a 1 s SYN retry. nginx and HAProxy ' +
      'open a new connection to the operator for every concurrent request beyond their idle ones (nginx keeps 64 and closes ' +
      'the rest after each request), the gateway queues on its pool of 64.',
    '',
  ];
  for (const n of suite.notes ?? []) lines.push(`**${n}**`, '');
  for (const g of suite.summary) {
    const head = g.scenarioId === 'rate'
      ? `### ${g.scenario}: fixed-rate client (\`bench/rate-client.mjs\`, ${settings.rateClient ?? 'undici'}, µs), ${g.rounds} rounds × ${settings.rateDurationS} s`
      : `### ${g.scenario}: ${g.tool}, ${g.connections} connections, ${g.rounds} rounds × ${settings.durationS} s`;
    lines.push(head, '');
    if (g.scenarioId === 'rate') {
      lines.push(
        '| target | req/s | latency p50 / p90 / p99 / p99.9 µs | added vs direct p50 / p99 µs (per round) | from schedule p50 / p99 µs | proxy CPU µs/req | proxy cores | errors |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const [t, a] of Object.entries(g.byTarget)) {
        const s = a.rate.serviceUs;
        const i = a.rate.intendedUs;
        const ad = g.added.find((x) => x.target === t);
        lines.push(
          `| ${t} | ${a.reqPerSec} | ${fmt(s.p50)} / ${fmt(s.p90)} / ${fmt(s.p99)} / ${fmt(s.p999)} | ` +
            `${ad ? `${fmt(ad.p50Us)} / ${fmt(ad.p99Us)} (${ad.perRound.map((x) => `${fmt(x.p50Us)} / ${fmt(x.p99Us)}`).join('; ')})` : '–'} | ` +
            `${fmt(i.p50)} / ${fmt(i.p99)} | ${fmt(a.proxyUsPerRequest, 1)} | ${fmt(a.proxyCores, 2)} | ${a.errors} |`,
        );
      }
    } else {
      lines.push(
        '| target | req/s (min–max) | p50 / p99 / p99.9 ms | proxy CPU µs/req (min–max) | proxy cores | proxy RSS MiB (PSS) | sim µs/req | loadgen µs/req | cores busy | listen overflows | errors |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const [t, a] of Object.entries(g.byTarget)) {
        lines.push(
          `| ${t} | ${a.reqPerSec} (${a.reqPerSecMin}–${a.reqPerSecMax}) | ${fmt(a.p50Ms, 2)} / ${fmt(a.p99Ms, 2)} / ${fmt(a.p999Ms, 2)} | ` +
            `${a.proxyUsPerRequest === null ? '–' : `${fmt(a.proxyUsPerRequest, 1)} (${fmt(a.proxyUsPerRequestMin, 1)}–${fmt(a.proxyUsPerRequestMax, 1)})`} | ` +
            `${fmt(a.proxyCores, 2)} | ${a.proxyRssMiB === null ? '–' : `${fmt(a.proxyRssMiB, 1)} (${fmt(a.proxyPssMiB, 1)})`} | ${fmt(a.simUsPerRequest, 1)} | ` +
            `${fmt(a.loadgenUsPerRequest, 1)} | ${fmt(a.coresBusy, 2)} | ${a.listenOverflows} | ${a.errors} |`,
        );
      }
    }
    lines.push('');
  }
  const closed = suite.summary.filter((g) => g.scenarioId !== 'rate' && g.ratios.length);
  if (closed.length) {
    lines.push(
      '### The gateway against each baseline',
      '',
      '"req/s" = gateway req/s / baseline req/s. "req per CPU-s" = proxied requests per CPU-second of the proxy\'s processes, ' +
        'gateway / baseline (= baseline CPU µs/req / gateway CPU µs/req): above 1, the gateway does more work per CPU-second.',
      '',
      '| tool | scenario | gateway | vs | req/s (per round) | req per CPU-s (per round) | CPU µs/req gateway / baseline |',
      '| --- | --- | --- | --- | ---: | ---: | ---: |',
    );
    for (const g of closed) {
      for (const x of g.ratios) {
        lines.push(
          `| ${g.tool} | ${g.scenario} | ${x.gateway} | ${x.baseline} | ${fmt(x.reqPerSec, 2)} (${x.perRound.map((p) => fmt(p.reqPerSec, 2)).join(', ')}) | ` +
            `${x.reqPerCpuSecond === null ? '–' : `${fmt(x.reqPerCpuSecond, 2)} (${x.perRound.map((p) => fmt(p.reqPerCpuSecond, 2)).join(', ')})`} | ` +
            `${fmt(x.gatewayUsPerRequest, 1)} / ${fmt(x.baselineUsPerRequest, 1)} |`,
        );
      }
    }
    lines.push('');
  }
  if (suite.verdicts?.length) {
    lines.push('### The issue\'s targets in this run', '');
    for (const v of suite.verdicts) lines.push(`- ${v.target}: ${yesNo(v.met)} (${v.basis}).`);
    lines.push('');
  }
  return lines;
}

function measurementMarkdown(suite) {
  const lines = [
    `## ${suite.title}`,
    '',
    `Single \`eth_blockNumber\`, ${suite.rounds} rounds, on and off interleaved (on, off, on, off, …), a fresh pair of gateway ` +
      'processes (each with its own sim) per round. Same build and config (`staking.crossCheck.sampleRate: 0`, probes default); ' +
      `"off" is \`Gateway.start(config, { recordAttempts: false })\`. Target: on/off req/s ≥ ${MIN_ON_OFF_RATIO}. ` +
      'CPU µs/req is the whole gateway process; "main" is its event-loop thread alone.',
    '',
    '| tool | on req/s | off req/s | **on/off req/s** | on/off req/s per round (median) | on p50 / p99 ms | off p50 / p99 ms | on CPU µs/req (main) | off CPU µs/req (main) | on/off CPU µs/req (main) | ≥ 0.95 | errors (on / off) |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ];
  for (const g of suite.summary) {
    lines.push(
      `| ${g.tool} | ${g.on.reqPerSec} | ${g.off.reqPerSec} | **${fmt(g.ratioReqPerSec, 3)}** | ` +
        `${g.perRound.map((p) => fmt(p.reqPerSec, 3)).join(', ')} (${fmt(g.medianRoundRatioReqPerSec, 3)}) | ` +
        `${fmt(g.on.p50Ms, 2)} / ${fmt(g.on.p99Ms, 2)} | ${fmt(g.off.p50Ms, 2)} / ${fmt(g.off.p99Ms, 2)} | ` +
        `${fmt(g.on.cpuUsPerRequest, 1)} (${fmt(g.on.mainThreadUsPerRequest, 1)}) | ${fmt(g.off.cpuUsPerRequest, 1)} (${fmt(g.off.mainThreadUsPerRequest, 1)}) | ` +
        `${fmt(g.ratioCpuUsPerRequest, 3)} (${fmt(g.ratioMainThreadUsPerRequest, 3)}) | ${g.meetsTarget ? 'yes' : '**no**'} | ${g.on.errors} / ${g.off.errors} |`,
    );
  }
  return lines;
}

function chainAwareMarkdown(suite) {
  const lines = [
    `## ${suite.title}`,
    '',
    `${suite.rounds} rounds, on and off interleaved (on, off, on, off, …), a fresh pair of gateway processes per round, each with ` +
      `its own ${CHAIN_AWARE_SIMS} simulated operators (honest, zero latency). Same build and config (\`staking.crossCheck.sampleRate: 0\`, ` +
      'probes default); only `routing.chainAware` differs. Target: on/off CPU µs/req ≤ ' + MAX_CHAIN_AWARE_CPU_RATIO + ' (issue 17). ' +
      'CPU µs/req is the whole gateway process; "main" is its event-loop thread alone. The per-round ratios show the noise: ' +
      'two rounds of the same comparison differ by about their spread.',
    '',
    '| tool | scenario | on CPU µs/req (main) | off CPU µs/req (main) | **on/off CPU µs/req** (main) | on/off CPU per round (median; min–max) | on / off req/s | on/off req/s | ≤ 1.05 | errors (on / off) |',
    '| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |',
  ];
  for (const g of suite.summary) {
    lines.push(
      `| ${g.tool} | ${g.scenario} | ${fmt(g.on.cpuUsPerRequest, 1)} (${fmt(g.on.mainThreadUsPerRequest, 1)}) | ${fmt(g.off.cpuUsPerRequest, 1)} (${fmt(g.off.mainThreadUsPerRequest, 1)}) | ` +
        `**${fmt(g.ratioCpuUsPerRequest, 3)}** (${fmt(g.ratioMainThreadUsPerRequest, 3)}) | ` +
        `${g.perRound.map((p) => fmt(p.cpuUsPerRequest, 3)).join(', ')} (${fmt(g.medianRoundRatioCpuUsPerRequest, 3)}; ${fmt(g.roundRatioCpuMin, 3)}–${fmt(g.roundRatioCpuMax, 3)}) | ` +
        `${g.on.reqPerSec} / ${g.off.reqPerSec} | ${fmt(g.ratioReqPerSec, 3)} | ${g.meetsTarget ? 'yes' : '**no**'} | ${g.on.errors} / ${g.off.errors} |`,
    );
  }
  return lines;
}

const SUITE_MARKDOWN = { measurement: measurementMarkdown, 'chain-aware': chainAwareMarkdown };

function markdown(result) {
  const m = result.machine;
  const lines = [
    `# din-gateway bench ${result.startedAt}`,
    '',
    `Machine: ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, Linux ${m.kernel}; ${m.wrk ?? 'wrk not installed'}; ` +
      `${result.proxies.nginx?.version ?? 'nginx not installed'}; ${result.proxies.haproxy?.version?.replace(/ - https?:.*$/, '') ?? 'HAProxy not installed'}.`,
    `Load: ${result.settings.connections} connections unless stated, ${result.settings.durationS} s per run, after a ${result.settings.warmupS} s ` +
      `unrecorded warm-up per target. Suites: ${result.settings.suites.join(', ')}. Gateways run as \`node ${[...(result.settings.gatewayNodeFlags ?? []), '…'].join(' ')}\`. Commit ${result.commit ?? '?'} (working tree may differ), ` +
      `dist/ built ${result.distBuiltAt ?? '?'}${result.srcNewerThanDist.length ? ` (**${result.srcNewerThanDist.length} file(s) under src/ newer than dist/**)` : ''}.`,
    '',
  ];
  for (const suite of result.suites) {
    lines.push(...(SUITE_MARKDOWN[suite.name]?.(suite) ?? proxiesMarkdown(suite, result.settings)), '');
  }
  lines.push(
    'Every run (CPU µs per request for each process; "proxy" is the loaded target\'s processes (a gateway, on or off, ' +
      'with its event-loop thread in brackets; nginx master + workers; haproxy); "cores busy" = ' +
      'CPU seconds of the bench processes / wall time, of ' + m.nproc + '; "other" = CPU used by the rest of the machine, ' +
      '"steal" = taken by the hypervisor):',
    '',
    '| # | suite | round | tool | scenario | target | req/s | p50 ms | p99 ms | p99.9 ms | proxy µs/req (main) | proxy cores | proxy RSS MiB | sim µs/req | loadgen µs/req | cores busy | other / steal cores | listen overflows | errors+non2xx |',
    '| ---: | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  result.runs.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.suite} | ${r.round} | ${r.tool} | ${r.scenario} | ${r.target} | ${r.reqPerSec} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${fmt(r.p999Ms, 3)} | ` +
        `${r.proxyUsPerRequest === null ? '–' : r.gatewayMainThreadUsPerRequest === null ? fmt(r.proxyUsPerRequest, 1) : `${fmt(r.proxyUsPerRequest, 1)} (${fmt(r.gatewayMainThreadUsPerRequest, 1)})`} | ` +
        `${fmt(r.proxyCores, 2)} | ${fmt(r.proxyRssMiB, 1)} | ${fmt(r.simUsPerRequest, 1)} | ${fmt(r.cpuUsPerRequest.loadgen, 1)} | ` +
        `${fmt(r.coresBusy, 2)} | ${fmt(r.otherCores, 2)} / ${fmt(r.stealCores, 2)} | ${r.listenOverflows ?? '–'} | ${r.errors + r.non2xx} |`,
    );
  });
  const noisy = result.runs.flatMap((r, i) => (r.otherCores > NOISY_CORES || r.stealCores > NOISY_CORES ? [i + 1] : []));
  if (noisy.length) {
    lines.push('', `**Other load on the machine during runs ${noisy.join(', ')}** (> ${NOISY_CORES} cores not from the bench, after ${NOISY_RETRIES} repeats): those numbers are low.`);
  }
  const voided = result.runs.flatMap((r, i) => ((r.suite === 'proxies' || r.suite === 'direct') && isVoid(r) ? [i + 1] : []));
  if (voided.length) {
    lines.push('', `**Void runs ${voided.join(', ')}**: more than ${100 * VOID_SHARE} % of their requests failed (see the outcome lines below for why), so they are left out of the summaries and ratios above.`);
  }
  const discarded = result.suites.reduce((a, s) => a + s.discardedRuns.length, 0);
  if (discarded) lines.push('', `${discarded} run(s) were repeated because other load got in (kept in the JSON under \`suites[].discardedRuns\`).`);
  const problems = result.suites.flatMap((s) => s.checkProblems.map((p) => `${s.name}: ${p}`));
  if (problems.length) lines.push('', `**Sanity check problems:** ${problems.join('; ')}`);
  lines.push('', 'Upstream attempts by outcome, per gateway process since its start (warm-up included; the "off" gateway records nothing), each pool\'s pipelining state, and each operator\'s standing when the process stopped (an operator out of routing makes the gateway answer 503 without trying it):', '');
  for (const s of result.suites) {
    for (const [set, byTarget] of Object.entries(s.outcomes ?? {})) {
      for (const [target, o] of Object.entries(byTarget ?? {})) lines.push(`- ${s.name} / ${set} / ${target}: \`${JSON.stringify(o)}\``);
    }
  }
  lines.push('', '');
  return lines.join('\n');
}

// ---- main ----

if (cli.report) {
  // Re-renders a saved run (bench/results/*.json): recomputes the proxies suite's summary and
  // verdicts with this version of the report code, rewrites the .json's summaries and the .md.
  const file = cli.report;
  const result = JSON.parse(readFileSync(file, 'utf8'));
  for (const s of result.suites) {
    if (s.name !== 'proxies' && s.name !== 'direct') continue;
    s.summary = summarizeProxies({ ...s, runs: result.runs.filter((r) => r.suite === s.name) });
    s.verdicts = proxiesVerdicts(s.summary, result.settings.rate ?? RATE);
  }
  result.srcNewerThanDist ??= [];
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  const md = markdown(result);
  writeFileSync(file.replace(/\.json$/, '.md'), md);
  process.stdout.write(md);
  process.exit(0);
}

const started = new Date();
const pad = (n) => String(n).padStart(2, '0');
const stamp = `${started.getFullYear()}-${pad(started.getMonth() + 1)}-${pad(started.getDate())}-${pad(started.getHours())}${pad(started.getMinutes())}`;
let commit = null;
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {}

// nginx / HAProxy are children of this process: never leave them behind.
process.on('exit', killAllProxies);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllProxies();
    process.exit(130);
  });
}

// Which build ran: dist/ is what the processes load, and `npm run build` may have been skipped.
const distBuiltAt = (() => {
  try {
    return statSync(here('../dist/gateway.js')).mtime.toISOString();
  } catch {
    return null;
  }
})();
let srcNewerThanDist = [];
try {
  srcNewerThanDist = execFileSync('find', [here('../src'), '-name', '*.ts', '-newer', here('../dist/gateway.js')], { encoding: 'utf8' }).split('\n').filter(Boolean);
} catch {}
if (srcNewerThanDist.length) log(`warning: ${srcNewerThanDist.length} file(s) under src/ are newer than dist/ (run \`npm run build\`)`);

log(`machine: ${JSON.stringify(machine)}; proxies: ${JSON.stringify(proxies)}; suites: ${SUITE_NAMES.join(', ')}`);
const suites = [];
for (const name of SUITE_NAMES) {
  const s = await runSuite(name);
  if (name === 'measurement') s.summary = summarizeMeasurement(s.runs);
  else if (name === 'chain-aware') s.summary = summarizeChainAware(s.runs);
  else {
    s.summary = summarizeProxies(s);
    s.verdicts = proxiesVerdicts(s.summary, RATE);
  }
  suites.push(s);
}

const result = {
  startedAt: started.toISOString(),
  commit,
  distBuiltAt,
  srcNewerThanDist,
  machine,
  proxies,
  settings: {
    suites: SUITE_NAMES,
    gatewayNodeFlags: GATEWAY_NODE_FLAGS,
    durationS: DURATION,
    rounds: ROUNDS,
    scenarioRounds: SCENARIO_ROUNDS,
    rate: RATE,
    rateDurationS: RATE_DURATION,
    // Runs without this field used an undici Pool, whose own CPU crowded the targets' tails.
    rateClient: `net, ${RATE_CLIENT_CONNECTIONS} connections`,
    proxyTools: PROXY_TOOLS,
    proxyTargets: PROXY_TARGETS,
    proxyScenarios: PROXY_SCENARIO_IDS,
    measurementRounds: MEASUREMENT_ROUNDS,
    chainAwareRounds: CHAIN_AWARE_ROUNDS,
    chainAwareSims: CHAIN_AWARE_SIMS,
    maxChainAwareCpuRatio: MAX_CHAIN_AWARE_CPU_RATIO,
    quietWaitS: QUIET_WAIT,
    noisyRetries: NOISY_RETRIES,
    noisyCores: NOISY_CORES,
    connections: CONNECTIONS,
    warmupS: WARMUP,
    tools: TOOLS,
    upstream: {
      connections: Number(process.env.BENCH_UPSTREAM_CONNECTIONS ?? 64),
      pipelining: process.env.BENCH_UPSTREAM_PIPELINING === undefined ? 'config default' : Number(process.env.BENCH_UPSTREAM_PIPELINING),
    },
    sims: SIMS,
    minOnOffRatio: MIN_ON_OFF_RATIO,
  },
  // Per suite: title, targets, checks, checkProblems, summary, outcomes (runs are below, with `suite`).
  suites: suites.map(({ runs, ...rest }) => rest),
  runs: suites.flatMap((s) => s.runs),
};
const md = markdown(result);
const outDir = here('./results/');
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}${stamp}.json`, JSON.stringify(result, null, 2) + '\n');
writeFileSync(`${outDir}${stamp}.md`, md);
process.stdout.write(md);
log(`wrote bench/results/${stamp}.json and .md`);
