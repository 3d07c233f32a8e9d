// Benchmark harness: gateway vs. a simulated operator hit directly, with autocannon and wrk.
// Run with `npm run bench` (builds dist/ first). Knobs (env): BENCH_DURATION (s, default 6),
// BENCH_ROUNDS (2), BENCH_CONNECTIONS (64), BENCH_WARMUP (s, 2), BENCH_TOOLS ("autocannon,wrk").
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { cpuSeconds, machineInfo, spawnNode, stopChild, systemCpuSeconds } from './lib.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const machine = machineInfo();
const TOOLS = (process.env.BENCH_TOOLS ?? 'autocannon,wrk').split(',').filter((t) => t !== 'wrk' || machine.wrk);

const call = (id) => ({ jsonrpc: '2.0', id, method: 'eth_blockNumber', params: [] });
const SCENARIOS = [
  { name: 'single eth_blockNumber', calls: 1, body: JSON.stringify(call(1)) },
  { name: 'batch of 10 eth_blockNumber', calls: 10, body: JSON.stringify(Array.from({ length: 10 }, (_, i) => call(i + 1))) },
];

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

function cpuSnapshot(pids) {
  // The load generator is this process (autocannon) or a waited-for child of it (wrk).
  const snap = { loadgen: cpuSeconds(process.pid, true) };
  for (const [name, pid] of Object.entries(pids)) snap[name] = cpuSeconds(pid);
  return snap;
}

async function measure(tool, target, scenario, pids) {
  const loadavg = os.loadavg()[0];
  const sysBefore = systemCpuSeconds();
  const before = cpuSnapshot(pids);
  const r = await LOADERS[tool](target.url, scenario.body, DURATION);
  const after = cpuSnapshot(pids);
  const sysAfter = systemCpuSeconds();
  const cpu = Object.fromEntries(Object.keys(before).map((k) => [k, +(after[k] - before[k]).toFixed(2)]));
  const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
  const usPerReq = (s) => (r.requests > 0 ? +((s * 1e6) / r.requests).toFixed(1) : null);
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
    // Per request of this run; the gateway's number is the one the brief asks for.
    cpuUsPerRequest: Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, usPerReq(s)])),
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

// ---- helpers for the report ----

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ratio = (a, b) => (b > 0 ? +(a / b).toFixed(2) : null);
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

function summarize(runs) {
  const groups = [];
  for (const tool of TOOLS) {
    for (const s of SCENARIOS) {
      const pick = (t) => runs.filter((r) => r.tool === tool && r.scenario === s.name && r.target === t);
      const g = pick('gateway');
      const d = pick('direct');
      const agg = (rs) => ({
        reqPerSec: Math.round(mean(rs.map((r) => r.reqPerSec))),
        p50Ms: +mean(rs.map((r) => r.p50Ms)).toFixed(2),
        p99Ms: +mean(rs.map((r) => r.p99Ms)).toFixed(2),
        errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
      });
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
        gatewayCpuUsPerRequest: +mean(g.map((r) => r.cpuUsPerRequest.gateway)).toFixed(1),
        gatewaySimCpuUsPerRequest: +mean(g.map((r) => r.cpuUsPerRequest.gatewaySim)).toFixed(1),
        directSimCpuUsPerRequest: +mean(d.map((r) => r.cpuUsPerRequest.directSim)).toFixed(1),
      });
    }
  }
  return groups;
}

function markdown(result) {
  const m = result.machine;
  const lines = [
    `# din-gateway bench ${result.startedAt}`,
    '',
    `Machine: ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, Linux ${m.kernel}; ${m.wrk ?? 'wrk not installed'}.`,
    `Load: ${result.settings.connections} connections, ${result.settings.durationS} s per run, ${result.settings.rounds} rounds, ` +
      `gateway and direct interleaved. Commit ${result.commit ?? '?'} (working tree may differ).`,
    '',
    '| tool | scenario | gateway req/s | direct req/s | gw/direct req/s | gateway p50 / p99 ms | direct p50 / p99 ms | gw/direct p99 | gateway CPU µs/req | errors (gw / direct) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const g of result.summary) {
    lines.push(
      `| ${g.tool} | ${g.scenario} | ${g.gateway.reqPerSec} | ${g.direct.reqPerSec} | ${fmt(g.ratioReqPerSec, 2)} | ` +
        `${fmt(g.gateway.p50Ms, 2)} / ${fmt(g.gateway.p99Ms, 2)} | ${fmt(g.direct.p50Ms, 2)} / ${fmt(g.direct.p99Ms, 2)} | ` +
        `${fmt(g.ratioP99, 2)} | ${fmt(g.gatewayCpuUsPerRequest, 1)} | ${g.gateway.errors} / ${g.direct.errors} |`,
    );
  }
  lines.push(
    '',
    'Every run (CPU µs per request for each process; "cores busy" = CPU seconds of the bench processes / wall time, of ' +
      m.nproc + '; "other" = CPU used by the rest of the machine, "steal" = taken by the hypervisor):',
    '',
    '| # | tool | scenario | target | req/s | p50 ms | p99 ms | gateway µs/req | gateway cores | sim µs/req | loadgen µs/req | cores busy | other / steal cores | errors+non2xx |',
    '| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  result.runs.forEach((r, i) => {
    const u = r.cpuUsPerRequest;
    const sim = r.target === 'gateway' ? u.gatewaySim : u.directSim;
    lines.push(
      `| ${i + 1} | ${r.tool} | ${r.scenario} | ${r.target} | ${r.reqPerSec} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ` +
        `${r.target === 'gateway' ? fmt(u.gateway, 1) : '–'} | ${r.target === 'gateway' ? fmt(r.cpuSeconds.gateway / r.seconds, 2) : '–'} | ${fmt(sim, 1)} | ${fmt(u.loadgen, 1)} | ${fmt(r.coresBusy, 2)} | ${fmt(r.otherCores, 2)} / ${fmt(r.stealCores, 2)} | ${r.errors + r.non2xx} |`,
    );
  });
  const noisy = result.runs.flatMap((r, i) => (r.otherCores > 0.2 || r.stealCores > 0.2 ? [i + 1] : []));
  if (noisy.length) {
    lines.push('', `**Other load on the machine during runs ${noisy.join(', ')}** (> 0.2 cores not from the bench): those numbers are low.`);
  }
  if (result.checkProblems.length) lines.push('', `**Sanity check problems:** ${result.checkProblems.join('; ')}`);
  lines.push('', `Gateway upstream attempts by outcome: \`${JSON.stringify(result.gatewayOutcomes)}\``, '', '');
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

log(`machine: ${JSON.stringify(machine)}; tools: ${TOOLS.join(', ')}`);
const gw = await spawnNode(here('./gateway-process.mjs'), ['--sims', '1']);
const direct = await spawnNode(here('./sim-process.mjs'), ['--count', '1']);
const targets = [
  { name: 'gateway', url: gw.info.rpcUrl },
  { name: 'direct', url: direct.info.urls[0] },
];
const pids = { gateway: gw.info.pid, gatewaySim: gw.info.simPid, directSim: direct.info.pid };
log(`gateway ${gw.info.rpcUrl} (pid ${gw.info.pid}, sim pid ${gw.info.simPid}); direct sim ${direct.info.urls[0]} (pid ${direct.info.pid})`);

const runs = [];
const checks = {};
const checkProblems = [];
let gatewayOutcomes = null;
try {
  for (const s of SCENARIOS) {
    for (const t of targets) {
      const c = await check(t.url, s);
      checks[`${t.name}: ${s.name}`] = c;
      for (const p of c.problems) checkProblems.push(`${t.name} / ${s.name}: ${p}`);
    }
  }
  if (checkProblems.length) log(`sanity check problems: ${checkProblems.join('; ')}`);

  if (WARMUP > 0) {
    log(`warm-up ${WARMUP} s per target and scenario (not recorded)`);
    for (const s of SCENARIOS) for (const t of targets) await runAutocannon(t.url, s.body, WARMUP);
  }

  for (const tool of TOOLS) {
    for (const s of SCENARIOS) {
      for (let round = 1; round <= ROUNDS; round++) {
        for (const t of targets) {
          const r = await measure(tool, t, s, pids);
          r.round = round;
          runs.push(r);
          log(`${tool} | ${s.name} | ${t.name} #${round}: ${r.reqPerSec} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
            `gw ${r.cpuUsPerRequest.gateway} µs/req, cores busy ${r.coresBusy}, other ${r.otherCores}, steal ${r.stealCores}, errors ${r.errors + r.non2xx}`);
        }
      }
    }
  }
} finally {
  await stopChild(direct.child);
  await stopChild(gw.child);
  gatewayOutcomes = gw.child.lines.at(-1) ?? null;
}

const result = {
  startedAt: started.toISOString(),
  commit,
  machine,
  settings: {
    durationS: DURATION,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    warmupS: WARMUP,
    tools: TOOLS,
    upstream: {
      connections: Number(process.env.BENCH_UPSTREAM_CONNECTIONS ?? 64),
      pipelining: Number(process.env.BENCH_UPSTREAM_PIPELINING ?? 1),
    },
    sims: 1,
  },
  checks,
  checkProblems,
  summary: summarize(runs),
  runs,
  gatewayOutcomes,
};
const md = markdown(result);
const outDir = here('./results/');
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}${stamp}.json`, JSON.stringify(result, null, 2) + '\n');
writeFileSync(`${outDir}${stamp}.md`, md);
process.stdout.write(md);
log(`wrote bench/results/${stamp}.json and .md`);
