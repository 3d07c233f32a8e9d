// Benchmark harness, with autocannon and wrk. Two suites:
//   direct      – the gateway vs. a simulated operator hit directly (single call and batch of 10);
//   measurement – the gateway with measurement on vs. the same build with it off
//                 ("gateway-nomeasure": Gateway.start(config, { recordAttempts: false })), single call.
// Run with `npm run bench` (builds dist/ first; both suites), or pick suites with
// `node bench/run.mjs --suite measurement` / `BENCH_SUITE=measurement npm run bench`.
// Knobs (env): BENCH_DURATION (s, default 6), BENCH_ROUNDS (2, direct suite),
// BENCH_MEASUREMENT_ROUNDS (4, measurement suite), BENCH_CONNECTIONS (64), BENCH_WARMUP (s, 2),
// BENCH_TOOLS ("autocannon,wrk"), BENCH_SUITE ("direct,measurement"; BENCH_SCENARIOS is an alias),
// BENCH_QUIET_WAIT (s, 30: before each run, wait up to this long for the machine to be idle; 0 = don't),
// BENCH_NOISY_RETRIES (2: a run during which other load used > 0.2 cores is repeated this many times).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { cpuSeconds, machineInfo, mainThreadCpuSeconds, spawnNode, stopChild, systemCpuSeconds, waitForQuiet } from './lib.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const MEASUREMENT_ROUNDS = Number(process.env.BENCH_MEASUREMENT_ROUNDS ?? 4);
const QUIET_WAIT = Number(process.env.BENCH_QUIET_WAIT ?? 30);
const NOISY_RETRIES = Number(process.env.BENCH_NOISY_RETRIES ?? 2);
/** Cores used by other processes (or stolen by the hypervisor) above which a run counts as noisy. */
const NOISY_CORES = 0.2;
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const machine = machineInfo();
const TOOLS = (process.env.BENCH_TOOLS ?? 'autocannon,wrk').split(',').filter((t) => t !== 'wrk' || machine.wrk);
const ALL_SUITES = ['direct', 'measurement'];
const { values: cli } = parseArgs({ options: { suite: { type: 'string' } } });
const SUITE_NAMES = (cli.suite ?? process.env.BENCH_SUITE ?? process.env.BENCH_SCENARIOS ?? ALL_SUITES.join(','))
  .split(',')
  .map((x) => x.trim())
  .filter(Boolean);
for (const name of SUITE_NAMES) {
  if (!ALL_SUITES.includes(name)) throw new Error(`unknown suite "${name}" (known: ${ALL_SUITES.join(', ')})`);
}
/** Measurement on may cost at most this share of throughput (the issue's acceptance bar). */
const MIN_ON_OFF_RATIO = 0.95;

const call = (id) => ({ jsonrpc: '2.0', id, method: 'eth_blockNumber', params: [] });
const SINGLE = { name: 'single eth_blockNumber', calls: 1, body: JSON.stringify(call(1)) };
const BATCH = { name: 'batch of 10 eth_blockNumber', calls: 10, body: JSON.stringify(Array.from({ length: 10 }, (_, i) => call(i + 1))) };

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---- load generators: both return { requests, seconds, p50Ms, p99Ms, errors, non2xx } ----

async function runAutocannon(url, body, seconds) {
  const r = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
  });
  return {
    requests: r.requests.total,
    seconds: r.duration,
    // autocannon's histogram holds whole milliseconds, and only 2xx answers.
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

function runWrk(url, body, seconds) {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', here('./post.lua'), url];
    const child = spawn('wrk', args, { env: { ...process.env, WRK_BODY: body }, stdio: ['ignore', 'pipe', 'inherit'] });
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
        errors: e.connect + e.read + e.write + e.timeout,
        non2xx: e.status,
      });
    });
  });
}

const LOADERS = { autocannon: runAutocannon, wrk: runWrk };

// ---- one measured run, with CPU time of every process involved ----

function cpuSnapshot(pids, mainThreadOf) {
  // The load generator is this process (autocannon) or a waited-for child of it (wrk).
  const snap = { loadgen: cpuSeconds(process.pid, true) };
  for (const [name, pid] of Object.entries(pids)) snap[name] = cpuSeconds(pid);
  // The loaded gateway's event-loop thread alone (not added to the totals: it is part of snap[proc]).
  const main = mainThreadOf ? mainThreadCpuSeconds(pids[mainThreadOf]) : null;
  return { snap, main };
}

/**
 * `target`: { name, url, proc, sim } where proc / sim name the gateway process (null for the
 * direct baseline) and the sim behind it in `pids`. Every process in `pids` is counted, so
 * idle ones (the other target) are not mistaken for outside load.
 */
async function measure(tool, target, scenario, pids) {
  const loadavg = os.loadavg()[0];
  const sysBefore = systemCpuSeconds();
  const { snap: before, main: mainBefore } = cpuSnapshot(pids, target.proc);
  const r = await LOADERS[tool](target.url, scenario.body, DURATION);
  const { snap: after, main: mainAfter } = cpuSnapshot(pids, target.proc);
  const sysAfter = systemCpuSeconds();
  const cpu = Object.fromEntries(Object.keys(before).map((k) => [k, +(after[k] - before[k]).toFixed(2)]));
  const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
  const usPerReq = (s) => (r.requests > 0 ? +((s * 1e6) / r.requests).toFixed(1) : null);
  const cpuUsPerRequest = Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, usPerReq(s)]));
  return {
    tool,
    scenario: scenario.name,
    target: target.name,
    reqPerSec: Math.round(r.requests / r.seconds),
    rpcCallsPerSec: Math.round((r.requests * scenario.calls) / r.seconds),
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    requests: r.requests,
    seconds: +r.seconds.toFixed(2),
    errors: r.errors,
    non2xx: r.non2xx,
    cpuSeconds: cpu,
    // Per request of this run, for every process; the next three pick the loaded target's.
    cpuUsPerRequest,
    gatewayUsPerRequest: target.proc ? cpuUsPerRequest[target.proc] : null,
    gatewayCores: target.proc ? +(cpu[target.proc] / r.seconds).toFixed(2) : null,
    // Of gatewayUsPerRequest, the event loop's share; the rest is V8's GC / compiler threads.
    gatewayMainThreadUsPerRequest: target.proc ? usPerReq(mainAfter - mainBefore) : null,
    simUsPerRequest: cpuUsPerRequest[target.sim],
    coresBusy: +(ours / r.seconds).toFixed(2),
    // CPU used by processes that are not part of the bench (other work on the machine), and
    // hypervisor steal: either one makes a run less comparable.
    otherCores: +Math.max(0, (sysAfter.busy - sysBefore.busy - ours) / r.seconds).toFixed(2),
    stealCores: +((sysAfter.steal - sysBefore.steal) / r.seconds).toFixed(2),
    loadavgBefore: +loadavg.toFixed(2),
  };
}

// ---- sanity: both targets must give well-formed answers before we time them ----

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
    if (!/^0x[0-9a-f]+$/.test(it?.result ?? '')) problems.push(`item ${i}: no hex result`);
  });
  return { status: res.status, bytes: text.length, ids, sample: text.slice(0, 160), problems };
}

// ---- the suites: which processes, targets, scenarios and rounds ----

const gatewayScript = here('./gateway-process.mjs');
const SUITES = {
  direct: {
    title: 'Gateway vs. direct',
    scenarios: [SINGLE, BATCH],
    rounds: ROUNDS,
    async start() {
      // Default config (cross-check at its default rate: eth_blockNumber is never sampled anyway).
      const gw = await spawnNode(gatewayScript, ['--sims', '1']);
      const direct = await spawnNode(here('./sim-process.mjs'), ['--count', '1']);
      log(`gateway ${gw.info.rpcUrl} (pid ${gw.info.pid}, sim pid ${gw.info.simPid}); direct sim ${direct.info.urls[0]} (pid ${direct.info.pid})`);
      return {
        targets: [
          { name: 'gateway', url: gw.info.rpcUrl, proc: 'gateway', sim: 'gatewaySim' },
          { name: 'direct', url: direct.info.urls[0], proc: null, sim: 'directSim' },
        ],
        pids: { gateway: gw.info.pid, gatewaySim: gw.info.simPid, directSim: direct.info.pid },
        async stop() {
          await stopChild(direct.child);
          await stopChild(gw.child);
          return { gateway: gw.child.lines.at(-1) ?? null };
        },
      };
    },
  },
  measurement: {
    title: 'Measurement on vs. off',
    scenarios: [SINGLE],
    rounds: MEASUREMENT_ROUNDS,
    freshPerRound: true,
    async start() {
      // Same build, same config (cross-check off, probes default); only the recorder differs.
      const on = await spawnNode(gatewayScript, ['--sims', '1', '--record', 'true', '--cross-check-rate', '0']);
      const off = await spawnNode(gatewayScript, ['--sims', '1', '--record', 'false', '--cross-check-rate', '0']);
      for (const [name, g] of [['gateway (on)', on], ['gateway-nomeasure (off)', off]]) {
        log(`${name} ${g.info.rpcUrl} (pid ${g.info.pid}, sim pid ${g.info.simPid}, record ${g.info.record}, cross-check rate ${g.info.crossCheckRate})`);
      }
      return {
        targets: [
          { name: 'gateway', url: on.info.rpcUrl, proc: 'gateway', sim: 'gatewaySim' },
          { name: 'gateway-nomeasure', url: off.info.rpcUrl, proc: 'nomeasure', sim: 'nomeasureSim' },
        ],
        pids: { gateway: on.info.pid, gatewaySim: on.info.simPid, nomeasure: off.info.pid, nomeasureSim: off.info.simPid },
        async stop() {
          await stopChild(off.child);
          await stopChild(on.child);
          return { gateway: on.child.lines.at(-1) ?? null, 'gateway-nomeasure': off.child.lines.at(-1) ?? null };
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

async function runSuite(name) {
  const suite = SUITES[name];
  log(`suite ${name}: ${suite.title}`);
  const runs = [];
  const discardedRuns = [];
  const checks = {};
  const checkProblems = [];
  const outcomes = {};
  let targetNames = [];

  // Fresh processes per round (measurement suite): a node process can settle for its whole life
  // at a markedly higher CPU cost per request than a sibling started the same way, so one
  // process per variant would compare two draws of that, not on with off.
  const sets = suite.freshPerRound ? Array.from({ length: suite.rounds }, (_, i) => [i + 1]) : [Array.from({ length: suite.rounds }, (_, i) => i + 1)];
  for (const rounds of sets) {
    const { targets, pids, stop } = await suite.start();
    targetNames = targets.map((t) => t.name);
    const setLabel = suite.freshPerRound ? `round ${rounds[0]}` : 'all rounds';
    try {
      for (const s of suite.scenarios) {
        for (const t of targets) {
          const c = await check(t.url, s);
          checks[`${setLabel}: ${t.name}: ${s.name}`] = c;
          for (const p of c.problems) checkProblems.push(`${setLabel} / ${t.name} / ${s.name}: ${p}`);
        }
      }
      if (checkProblems.length) log(`sanity check problems: ${checkProblems.join('; ')}`);

      if (WARMUP > 0) {
        log(`warm-up ${WARMUP} s per target and scenario (not recorded)`);
        for (const s of suite.scenarios) for (const t of targets) await runAutocannon(t.url, s.body, WARMUP);
      }

      for (const tool of TOOLS) {
        for (const s of suite.scenarios) {
          for (const round of rounds) {
            for (const t of targets) {
              const r = await measureQuietly(tool, t, s, pids, discardedRuns);
              r.suite = name;
              r.round = round;
              runs.push(r);
              log(`${tool} | ${s.name} | ${t.name} #${round}: ${r.reqPerSec} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
                `gw ${r.gatewayUsPerRequest} µs/req (main thread ${r.gatewayMainThreadUsPerRequest}), cores busy ${r.coresBusy}, ` +
                `other ${r.otherCores}, steal ${r.stealCores}, errors ${r.errors + r.non2xx}`);
            }
          }
        }
      }
    } finally {
      outcomes[setLabel] = await stop();
    }
  }
  return { name, title: suite.title, rounds: suite.rounds, freshPerRound: !!suite.freshPerRound, targets: targetNames, checks, checkProblems, runs, discardedRuns, outcomes };
}

// ---- helpers for the report ----

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ratio = (a, b, d = 2) => (b > 0 ? +(a / b).toFixed(d) : null);
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

const agg = (rs) => ({
  reqPerSec: Math.round(mean(rs.map((r) => r.reqPerSec))),
  p50Ms: +mean(rs.map((r) => r.p50Ms)).toFixed(2),
  p99Ms: +mean(rs.map((r) => r.p99Ms)).toFixed(2),
  errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
  runs: rs.length,
  maxOtherCores: Math.max(...rs.map((r) => r.otherCores + r.stealCores)),
});

function summarizeDirect(runs) {
  const groups = [];
  for (const tool of TOOLS) {
    for (const s of SUITES.direct.scenarios) {
      const pick = (t) => runs.filter((r) => r.tool === tool && r.scenario === s.name && r.target === t);
      const g = pick('gateway');
      const d = pick('direct');
      const ga = agg(g);
      const da = agg(d);
      groups.push({
        tool,
        scenario: s.name,
        gateway: ga,
        direct: da,
        ratioReqPerSec: ratio(ga.reqPerSec, da.reqPerSec),
        ratioP50: ratio(ga.p50Ms, da.p50Ms),
        ratioP99: ratio(ga.p99Ms, da.p99Ms),
        gatewayCpuUsPerRequest: +mean(g.map((r) => r.gatewayUsPerRequest)).toFixed(1),
        gatewaySimCpuUsPerRequest: +mean(g.map((r) => r.simUsPerRequest)).toFixed(1),
        directSimCpuUsPerRequest: +mean(d.map((r) => r.simUsPerRequest)).toFixed(1),
      });
    }
  }
  return groups;
}

function summarizeMeasurement(runs) {
  const groups = [];
  for (const tool of TOOLS) {
    for (const s of SUITES.measurement.scenarios) {
      const pick = (t) => runs.filter((r) => r.tool === tool && r.scenario === s.name && r.target === t);
      const on = pick('gateway');
      const off = pick('gateway-nomeasure');
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
      const ratioReqPerSec = ratio(onA.reqPerSec, offA.reqPerSec, 3);
      const sorted = perRound.map((p) => p.reqPerSec).sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      groups.push({
        tool,
        scenario: s.name,
        on: onA,
        off: offA,
        ratioReqPerSec,
        ratioCpuUsPerRequest: ratio(onA.cpuUsPerRequest, offA.cpuUsPerRequest, 3),
        ratioMainThreadUsPerRequest: ratio(onA.mainThreadUsPerRequest, offA.mainThreadUsPerRequest, 3),
        perRound,
        medianRoundRatioReqPerSec: sorted.length ? +(sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2).toFixed(3) : null,
        meetsTarget: ratioReqPerSec !== null && ratioReqPerSec >= MIN_ON_OFF_RATIO,
      });
    }
  }
  return groups;
}

function directMarkdown(suite) {
  const lines = [
    `## ${suite.title}`,
    '',
    `${suite.rounds} rounds, gateway and direct interleaved, one process of each for all rounds. Gateway with the default config.`,
    '',
    '| tool | scenario | gateway req/s | direct req/s | gw/direct req/s | gateway p50 / p99 ms | direct p50 / p99 ms | gw/direct p99 | gateway CPU µs/req | errors (gw / direct) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const g of suite.summary) {
    lines.push(
      `| ${g.tool} | ${g.scenario} | ${g.gateway.reqPerSec} | ${g.direct.reqPerSec} | ${fmt(g.ratioReqPerSec, 2)} | ` +
        `${fmt(g.gateway.p50Ms, 2)} / ${fmt(g.gateway.p99Ms, 2)} | ${fmt(g.direct.p50Ms, 2)} / ${fmt(g.direct.p99Ms, 2)} | ` +
        `${fmt(g.ratioP99, 2)} | ${fmt(g.gatewayCpuUsPerRequest, 1)} | ${g.gateway.errors} / ${g.direct.errors} |`,
    );
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

function markdown(result) {
  const m = result.machine;
  const lines = [
    `# din-gateway bench ${result.startedAt}`,
    '',
    `Machine: ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, Linux ${m.kernel}; ${m.wrk ?? 'wrk not installed'}.`,
    `Load: ${result.settings.connections} connections, ${result.settings.durationS} s per run, after a ${result.settings.warmupS} s ` +
      `unrecorded warm-up per target. Suites: ${result.settings.suites.join(', ')}. Commit ${result.commit ?? '?'} (working tree may differ).`,
    '',
  ];
  for (const suite of result.suites) {
    lines.push(...(suite.name === 'measurement' ? measurementMarkdown(suite) : directMarkdown(suite)), '');
  }
  lines.push(
    'Every run (CPU µs per request for each process; "gateway" is the loaded gateway process, on or off; "cores busy" = ' +
      'CPU seconds of the bench processes / wall time, of ' + m.nproc + '; "other" = CPU used by the rest of the machine, ' +
      '"steal" = taken by the hypervisor):',
    '',
    '| # | suite | round | tool | scenario | target | req/s | p50 ms | p99 ms | gateway µs/req (main) | gateway cores | sim µs/req | loadgen µs/req | cores busy | other / steal cores | errors+non2xx |',
    '| ---: | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  result.runs.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.suite} | ${r.round} | ${r.tool} | ${r.scenario} | ${r.target} | ${r.reqPerSec} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ` +
        `${r.target === 'direct' ? '–' : `${fmt(r.gatewayUsPerRequest, 1)} (${fmt(r.gatewayMainThreadUsPerRequest, 1)})`} | ${fmt(r.gatewayCores, 2)} | ${fmt(r.simUsPerRequest, 1)} | ${fmt(r.cpuUsPerRequest.loadgen, 1)} | ` +
        `${fmt(r.coresBusy, 2)} | ${fmt(r.otherCores, 2)} / ${fmt(r.stealCores, 2)} | ${r.errors + r.non2xx} |`,
    );
  });
  const noisy = result.runs.flatMap((r, i) => (r.otherCores > NOISY_CORES || r.stealCores > NOISY_CORES ? [i + 1] : []));
  if (noisy.length) {
    lines.push('', `**Other load on the machine during runs ${noisy.join(', ')}** (> ${NOISY_CORES} cores not from the bench, after ${NOISY_RETRIES} repeats): those numbers are low.`);
  }
  const discarded = result.suites.reduce((a, s) => a + s.discardedRuns.length, 0);
  if (discarded) lines.push('', `${discarded} run(s) were repeated because other load got in (kept in the JSON under \`suites[].discardedRuns\`).`);
  const problems = result.suites.flatMap((s) => s.checkProblems.map((p) => `${s.name}: ${p}`));
  if (problems.length) lines.push('', `**Sanity check problems:** ${problems.join('; ')}`);
  lines.push('', 'Upstream attempts by outcome, per gateway process since its start (warm-up included; the "off" gateway records nothing):', '');
  for (const s of result.suites) {
    for (const [set, byTarget] of Object.entries(s.outcomes ?? {})) {
      for (const [target, o] of Object.entries(byTarget ?? {})) lines.push(`- ${s.name} / ${set} / ${target}: \`${JSON.stringify(o)}\``);
    }
  }
  lines.push('', '');
  return lines.join('\n');
}

// ---- main ----

const started = new Date();
const pad = (n) => String(n).padStart(2, '0');
const stamp = `${started.getFullYear()}-${pad(started.getMonth() + 1)}-${pad(started.getDate())}-${pad(started.getHours())}${pad(started.getMinutes())}`;
let commit = null;
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {}

log(`machine: ${JSON.stringify(machine)}; tools: ${TOOLS.join(', ')}; suites: ${SUITE_NAMES.join(', ')}`);
const suites = [];
for (const name of SUITE_NAMES) {
  const s = await runSuite(name);
  s.summary = name === 'measurement' ? summarizeMeasurement(s.runs) : summarizeDirect(s.runs);
  suites.push(s);
}

const result = {
  startedAt: started.toISOString(),
  commit,
  machine,
  settings: {
    suites: SUITE_NAMES,
    durationS: DURATION,
    rounds: ROUNDS,
    measurementRounds: MEASUREMENT_ROUNDS,
    quietWaitS: QUIET_WAIT,
    noisyRetries: NOISY_RETRIES,
    noisyCores: NOISY_CORES,
    connections: CONNECTIONS,
    warmupS: WARMUP,
    tools: TOOLS,
    upstream: {
      connections: Number(process.env.BENCH_UPSTREAM_CONNECTIONS ?? 64),
      pipelining: Number(process.env.BENCH_UPSTREAM_PIPELINING ?? 1),
    },
    sims: 1,
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
