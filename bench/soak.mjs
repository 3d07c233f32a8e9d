// Soak and connection-count bench: does the gateway's memory stay flat under a steady rate, and
// what do many mostly idle client connections cost it? Two phases, each against a fresh gateway
// process (bench/gateway-process.mjs: default config, measurement on) in front of its own fresh
// zero-latency simulated operator (bench/sim-process.mjs):
//
//   soak – a fixed rate of eth_blockNumber (bench/soak-client.mjs, a child process) for --minutes;
//          the gateway's RSS, PSS, peak RSS, CPU and (from its admin /metrics) V8 heap are sampled
//          every --sample s. The first --warmup s are warm-up. Growth is reported from the end of
//          the warm-up and, separately, over the last half of the run, with a least-squares slope.
//   idle – N connections (bench/idle-conns.mjs, a child process, raw sockets) to the RPC port, two
//          variants, each with its own fresh gateway:
//            idle:   half send one keep-alive POST and then nothing, half never send a byte;
//            active: every connection sends one POST every --keepalive-interval s (below the
//                    gateway's idle timeout: uWebSockets.js closes HTTP connections idle for ~10 s).
//          RSS before / with N open / after they are closed, bytes per connection, the latency of
//          1,000 new requests (8 at a time) while they are open, and connections the gateway closed.
//
// Usage: node bench/soak.mjs [--minutes 5] [--rate 2000] [--idle 10000] [--warmup 60] [--sample 5]
//          [--phases soak,idle] [--idle-variants idle,active] [--keepalive-interval 5] [--hold 30]
//          [--connections 32] [--retries 1]
//   --retries: a phase whose sim exits without the bench stopping it is run again (fresh processes).
// or `npm run bench:soak` (builds dist/ first; `npm run bench:soak -- --minutes 1`).
// Writes bench/results/<date>-<HHMM>-soak.json and .md (Markdown also to stdout).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { cpuSeconds, gatewayNodeFlags, machineInfo, mainThreadCpuSeconds, memoryKiB, spawnNode, stopChild, systemCpuSeconds, tcpCounters } from './lib.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const { values: cli } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    rate: { type: 'string', default: '2000' },
    idle: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '60' },
    sample: { type: 'string', default: '5' },
    phases: { type: 'string', default: 'soak,idle' },
    'idle-variants': { type: 'string', default: 'idle,active' },
    'keepalive-interval': { type: 'string', default: '5' },
    hold: { type: 'string', default: '30' },
    connections: { type: 'string', default: '32' },
    retries: { type: 'string', default: '1' },
  },
});
/** A phase whose sim died under it (ended from outside the bench) is run again this many times. */
const RETRIES = Number(cli.retries);
const MINUTES = Number(cli.minutes);
const RATE = Number(cli.rate);
const IDLE_N = Number(cli.idle);
const WARMUP_S = Number(cli.warmup);
const SAMPLE_S = Number(cli.sample);
const PHASES = cli.phases.split(',').map((x) => x.trim()).filter(Boolean);
const IDLE_VARIANTS = cli['idle-variants'].split(',').map((x) => x.trim()).filter(Boolean);
const KEEPALIVE_S = Number(cli['keepalive-interval']);
const HOLD_S = Number(cli.hold);
const CLIENT_CONNECTIONS = Number(cli.connections);
for (const p of PHASES) if (!['soak', 'idle'].includes(p)) throw new Error(`unknown phase "${p}" (soak, idle)`);
for (const v of IDLE_VARIANTS) if (!['idle', 'active'].includes(v)) throw new Error(`unknown idle variant "${v}" (idle, active)`);
/** The issue's target: RSS grows by less than this over the soak, at a steady rate. */
const MAX_GROWTH_PCT = 5;
/** Requests (and concurrency) of the latency probe: new requests while the idle connections are open. */
const PROBE_REQUESTS = 1000;
const PROBE_CONCURRENCY = 8;

const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] });
const gatewayScript = here('./gateway-process.mjs');
// As `din-gateway start` runs it (the flags on dist/cli.js's first line).
const GATEWAY_NODE_FLAGS = gatewayNodeFlags(here('..'));
const log = (msg) => process.stderr.write(`[soak] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib) => (kib === null || kib === undefined ? null : +(kib / 1024).toFixed(2));
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const median = (xs) => {
  const a = xs.filter((x) => x !== null && x !== undefined).sort((p, q) => p - q);
  return a.length ? a[Math.floor((a.length - 1) / 2)] : null;
};

// ---- /proc and the gateway's own metrics ----

/** A /proc/PID/status field in KiB (VmRSS, VmHWM: the peak RSS since the process started). */
function statusKiB(pid, field) {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return null;
  }
}

function memNow(pid) {
  const { rss, pss } = memoryKiB([pid]);
  return { rssKiB: rss, pssKiB: pss, hwmKiB: statusKiB(pid, 'VmHWM') };
}

/** V8 heap and process figures from the gateway's admin GET /metrics (prom-client's default metrics). */
async function heapMetrics(adminUrl) {
  try {
    const res = await fetch(new URL('/metrics', adminUrl), { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const get = (name) => {
      const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    const mib = (b) => (b === null ? null : +(b / 2 ** 20).toFixed(2));
    return {
      heapUsedMiB: mib(get('din_nodejs_heap_size_used_bytes')),
      heapTotalMiB: mib(get('din_nodejs_heap_size_total_bytes')),
      externalMiB: mib(get('din_nodejs_external_memory_bytes')),
    };
  } catch {
    return { heapUsedMiB: null, heapTotalMiB: null, externalMiB: null };
  }
}

function safeCpu(pid, fn = cpuSeconds) {
  try {
    return fn(pid);
  } catch {
    return null;
  }
}

/** Soft and hard RLIMIT_NOFILE of this process (a shell child inherits them). */
function fdLimits() {
  const [soft, hard] = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((x) => (x.trim() === 'unlimited' ? Infinity : Number(x)));
  return { soft, hard };
}

/**
 * lib.mjs's spawnNode, with the child's open-file limit raised to `nofile` first when this
 * process's is lower: `sh -c 'ulimit -n N; exec node …'` (exec: same pid, same pipes).
 */
function spawnNodeWithFdLimit(script, args, nofile, nodeArgs = []) {
  return spawnNode(script, args, {}, nodeArgs, nofile <= fdLimits().soft ? undefined : nofile);
}

/** Sends a command line to a child speaking the idle-conns.mjs protocol and waits for its answer. */
async function command(child, cmd, timeoutMs = 120_000) {
  const seen = child.lines.length;
  child.stdin.write(JSON.stringify(cmd) + '\n');
  const deadline = Date.now() + timeoutMs;
  while (child.lines.length === seen) {
    if (Date.now() > deadline) throw new Error(`no answer to ${JSON.stringify(cmd)} within ${timeoutMs} ms`);
    if (child.exitCode !== null) throw new Error(`child exited while running ${JSON.stringify(cmd)}`);
    await sleep(20);
  }
  return child.lines[seen];
}

async function checkAnswer(url) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  const text = await res.text();
  let ok = res.status === 200;
  try {
    ok &&= /^0x[0-9a-f]+$/.test(JSON.parse(text).result);
  } catch {
    ok = false;
  }
  return { status: res.status, ok, sample: text.slice(0, 160) };
}

/**
 * `n` requests, `concurrency` at a time, over an undici Pool from this process (closed loop):
 * latency in µs from hand-over to body read; answers checked like the soak client does.
 */
async function probe(url, n = PROBE_REQUESTS, concurrency = PROBE_CONCURRENCY, pids = [process.pid]) {
  const ours = () => pids.reduce((a, p) => a + (safeCpu(p) ?? 0), 0);
  const sys0 = systemCpuSeconds().busy;
  const ours0 = ours();
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: concurrency, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const lat = [];
  let errors = 0;
  let next = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (next < n) {
      next++;
      const a = process.hrtime.bigint();
      try {
        const res = await pool.request({ path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
        const text = await res.body.text();
        const j = JSON.parse(text);
        if (res.statusCode !== 200 || typeof j.result !== 'string') errors++;
        else lat.push(Number(process.hrtime.bigint() - a) / 1000);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // CPU used meanwhile by processes outside the bench (the machine is shared): a slow probe with
  // "other" near 1 core says more about the neighbour than about the gateway.
  const otherCores = +Math.max(0, (systemCpuSeconds().busy - sys0 - (ours() - ours0)) / seconds).toFixed(2);
  await pool.close();
  lat.sort((x, y) => x - y);
  const p = (q) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.ceil((q / 100) * lat.length) - 1)]) : null);
  return { requests: n, ok: lat.length, errors, concurrency, seconds: +seconds.toFixed(2), otherCores, p50Us: p(50), p90Us: p(90), p99Us: p(99), maxUs: p(100) };
}

/** Least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

// ---- the processes under test ----

/**
 * A fresh sim (this process's child, like the proxies suite's, so its exit and the signal that
 * ended it are seen here) and a fresh gateway in front of it. `simState.exit` is set if it dies.
 */
async function startStack(nofile) {
  const sim = await spawnNode(here('./sim-process.mjs'), ['--count', '1']);
  const t0 = performance.now();
  const state = { exit: null, stopping: false };
  sim.child.once('exit', (code, signal) => {
    state.exit = { code, signal, afterS: +((performance.now() - t0) / 1000).toFixed(1), at: new Date().toISOString() };
    if (!state.stopping) log(`the sim (pid ${sim.info.pid}) exited on its own: code ${code}, signal ${signal}`);
  });
  const gwArgs = ['--upstreams', sim.info.urls.join(',')];
  let gw;
  try {
    gw = nofile ? await spawnNodeWithFdLimit(gatewayScript, gwArgs, nofile, GATEWAY_NODE_FLAGS) : await spawnNode(gatewayScript, gwArgs, {}, GATEWAY_NODE_FLAGS);
  } catch (err) {
    state.stopping = true;
    await stopChild(sim.child);
    throw err;
  }
  return {
    gw,
    sim,
    simPid: sim.info.pid,
    simState: state,
    async stop() {
      await stopChild(gw.child);
      const died = state.exit;
      state.stopping = true;
      await stopChild(sim.child);
      return { outcomes: gw.child.lines.at(-1) ?? null, simExit: died };
    },
  };
}

/** Runs `fn` again (fresh processes) when the sim died under it: something outside the bench ended it. */
async function withRetry(name, fn) {
  const discarded = [];
  for (let attempt = 0; ; attempt++) {
    const r = await fn();
    if (!r.simExit || attempt >= RETRIES) {
      r.discardedAttempts = discarded;
      return r;
    }
    log(`${name}: the sim died ${r.simExit.afterS} s in (signal ${r.simExit.signal}, code ${r.simExit.code}); running it again on fresh processes`);
    discarded.push({ simExit: r.simExit, summary: r.summary, client: r.client ?? null });
  }
}

// ---- phase 1: RSS soak at a fixed rate ----

async function soakPhase() {
  const durationS = Math.round(MINUTES * 60);
  log(`soak: ${RATE} req/s of eth_blockNumber for ${durationS} s (warm-up ${WARMUP_S} s), samples every ${SAMPLE_S} s`);
  const stack = await startStack();
  const { gw, simPid } = stack;
  const gwPid = gw.info.pid;
  log(`gateway ${gw.info.rpcUrl} (pid ${gwPid}, sim pid ${simPid})`);
  const result = { gateway: { pid: gwPid, simPid, rpcUrl: gw.info.rpcUrl, workers: gw.info.workers, record: gw.info.record, distBuiltAt: distMtime() } };
  try {
    result.check = await checkAnswer(gw.info.rpcUrl);
    if (!result.check.ok) log(`sanity check failed: ${JSON.stringify(result.check)}`);
    result.beforeLoad = { ...memNow(gwPid), ...(await heapMetrics(gw.info.adminUrl)) };

    const client = await spawnNode(here('./soak-client.mjs'), [
      '--url', gw.info.rpcUrl, '--body', BODY, '--rate', String(RATE), '--duration', String(durationS),
      '--connections', String(CLIENT_CONNECTIONS), '--report', String(SAMPLE_S),
    ]);
    const t0 = performance.now();
    const clientPid = client.info.pid;
    let exited = false;
    const exitP = new Promise((r) => client.child.once('exit', () => ((exited = true), r())));
    const samples = [];
    const takeSample = async () => {
      const t = (performance.now() - t0) / 1000;
      const sys = systemCpuSeconds();
      const s = {
        t: +t.toFixed(2),
        ...memNow(gwPid),
        gatewayCpuS: safeCpu(gwPid),
        gatewayMainCpuS: safeCpu(gwPid, mainThreadCpuSeconds),
        simCpuS: safeCpu(simPid),
        clientCpuS: safeCpu(clientPid),
        harnessCpuS: safeCpu(process.pid),
        systemBusyS: sys.busy,
        stealS: sys.steal,
        simAlive: stack.simState.exit === null,
      };
      Object.assign(s, await heapMetrics(gw.info.adminUrl));
      s.outsideHeapKiB = s.heapTotalMiB === null ? null : Math.round(s.rssKiB - s.heapTotalMiB * 1024);
      samples.push(s);
      return s;
    };
    await takeSample();
    for (let k = 1; !exited; k++) {
      const due = t0 + k * SAMPLE_S * 1000;
      await Promise.race([sleep(Math.max(0, due - performance.now())), exitP]);
      if (exited) break;
      const s = await takeSample();
      if (k % Math.max(1, Math.round(30 / SAMPLE_S)) === 0) {
        log(`t=${Math.round(s.t)} s: RSS ${MiB(s.rssKiB)} MiB, PSS ${MiB(s.pssKiB)} MiB, heap used ${s.heapUsedMiB} MiB`);
      }
    }
    await exitP;
    const lines = client.child.lines;
    result.intervals = lines.filter((l) => l.type === 'interval');
    result.client = lines.find((l) => l.type === 'final') ?? null;
    if (!result.client) throw new Error('soak client ended without its final line');
    // The last sample right after the load (the steady state's end).
    result.afterLoad = { t: +((performance.now() - t0) / 1000).toFixed(2), ...memNow(gwPid), ...(await heapMetrics(gw.info.adminUrl)) };
    result.samples = samples;
  } finally {
    const { outcomes, simExit } = await stack.stop();
    result.outcomes = outcomes;
    result.simExit = simExit;
  }
  result.summary = summarizeSoak(result, durationS);
  return result;
}

function summarizeSoak(r, durationS) {
  const samples = r.samples;
  const mem = (list, key) => {
    if (list.length < 2) return null;
    const a = list[0];
    const b = list.at(-1);
    const ts = list.map((s) => s.t / 60);
    const ys = list.map((s) => s[key] / 1024);
    const slopeMiBPerMin = slope(ts, ys);
    return {
      fromT: a.t,
      toT: b.t,
      startMiB: MiB(a[key]),
      endMiB: MiB(b[key]),
      maxMiB: MiB(Math.max(...list.map((s) => s[key]))),
      minMiB: MiB(Math.min(...list.map((s) => s[key]))),
      growthPct: +(((b[key] - a[key]) / a[key]) * 100).toFixed(2),
      slopeMiBPerMin: slopeMiBPerMin === null ? null : +slopeMiBPerMin.toFixed(3),
      // The regression line's rise over the same span, as a share of its start: less sensitive to
      // where in a GC cycle the two end samples fell.
      fittedGrowthPct: slopeMiBPerMin === null ? null : +(((slopeMiBPerMin * (b.t - a.t)) / 60 / (a[key] / 1024)) * 100).toFixed(2),
    };
  };
  const steady = samples.filter((s) => s.t >= WARMUP_S - 0.5);
  const lastHalf = samples.filter((s) => s.t >= durationS / 2 - 0.5);
  const span = (list, key) => (list.length >= 2 && list.at(-1)[key] !== null && list[0][key] !== null ? list.at(-1)[key] - list[0][key] : null);
  const steadySeconds = steady.length >= 2 ? steady.at(-1).t - steady[0].t : null;
  // Requests answered in the steady part, from the client's interval lines (their t: end of interval).
  const steadyIntervals = r.intervals.filter((l) => l.t - l.seconds >= WARMUP_S - 0.5);
  const steadyOk = steadyIntervals.reduce((a, l) => a + l.ok, 0);
  const steadyIntervalSeconds = steadyIntervals.reduce((a, l) => a + l.seconds, 0);
  const ours = ['gatewayCpuS', 'simCpuS', 'clientCpuS', 'harnessCpuS'];
  const cores = (key) => (steadySeconds && span(steady, key) !== null ? +(span(steady, key) / steadySeconds).toFixed(3) : null);
  const c = r.client;
  const errors = c.non200 + c.rpcErrors + c.transportErrors;
  const growth = mem(steady, 'rssKiB');
  const other = steadySeconds && ours.every((k) => span(steady, k) !== null)
    ? +Math.max(0, (span(steady, 'systemBusyS') - ours.reduce((a, k) => a + span(steady, k), 0)) / steadySeconds).toFixed(2)
    : null;
  return {
    durationS,
    warmupS: WARMUP_S,
    rssIdleBeforeLoadMiB: MiB(r.beforeLoad.rssKiB),
    rss: growth,
    rssLastHalf: mem(lastHalf, 'rssKiB'),
    pss: mem(steady, 'pssKiB'),
    pssLastHalf: mem(lastHalf, 'pssKiB'),
    // RSS − V8 heap total: what V8's heap sizing does not move (native: uWS, malloc, WebAssembly, code).
    outsideHeap: steady.every((x) => x.outsideHeapKiB !== null) ? mem(steady, 'outsideHeapKiB') : null,
    outsideHeapLastHalf: lastHalf.every((x) => x.outsideHeapKiB !== null) ? mem(lastHalf, 'outsideHeapKiB') : null,
    rssMaxWholeRunMiB: MiB(Math.max(...samples.map((s) => s.rssKiB))),
    rssPeakVmHWMMiB: MiB(r.afterLoad.hwmKiB),
    heapUsedMiB: { start: steady[0]?.heapUsedMiB ?? null, end: steady.at(-1)?.heapUsedMiB ?? null, max: Math.max(...steady.map((s) => s.heapUsedMiB ?? 0)) },
    heapTotalMiB: { start: steady[0]?.heapTotalMiB ?? null, end: steady.at(-1)?.heapTotalMiB ?? null },
    externalMiB: { start: steady[0]?.externalMiB ?? null, end: steady.at(-1)?.externalMiB ?? null },
    requests: { sent: c.sent, ok: c.ok, non200: c.non200, rpcErrors: c.rpcErrors, transportErrors: c.transportErrors, errors },
    targetRate: RATE,
    achievedRate: +(c.ok / c.seconds).toFixed(1),
    achievedRateSteady: steadyIntervalSeconds ? +(steadyOk / steadyIntervalSeconds).toFixed(1) : null,
    latencyUs: { service: c.serviceUs, fromSchedule: c.intendedUs },
    maxInflight: c.maxInflight,
    gatewayCores: cores('gatewayCpuS'),
    gatewayMainThreadCores: cores('gatewayMainCpuS'),
    gatewayCpuUsPerRequest: steadyOk && steadySeconds ? +(((span(steady, 'gatewayCpuS') * 1e6) / (steadyOk * (steadySeconds / steadyIntervalSeconds)))).toFixed(1) : null,
    simCores: cores('simCpuS'),
    loadgenCores: cores('clientCpuS'),
    harnessCores: cores('harnessCpuS'),
    otherCores: other,
    stealCores: cores('stealS'),
    target: growth
      ? {
          maxGrowthPct: MAX_GROWTH_PCT,
          // The issue's wording: RSS, end of warm-up to end.
          met: growth.growthPct < MAX_GROWTH_PCT && errors === 0,
          rssGrowthPct: growth.growthPct,
          // The same bar on RSS − V8 heap total: V8's heap sizing (tens of MiB either way, by itself) left out.
          outsideHeapGrowthPct: steady.every((x) => x.outsideHeapKiB !== null) ? mem(steady, 'outsideHeapKiB')?.growthPct ?? null : null,
          errors,
        }
      : null,
  };
}

// ---- phase 2: many connections ----

/**
 * RSS and PSS with the V8 heap's committed size taken right after (admin /metrics):
 * `outsideHeapKiB` = RSS − heap total, the memory V8's heap sizing does not move (uWS's sockets
 * and buffers, malloc, WebAssembly, code). V8 grows and shrinks its heap by tens of MiB on its own
 * (the memory reducer gives pages back a few seconds after the allocation rate drops), which
 * swamps a few MiB of connections in the raw RSS.
 */
async function memFull(pid, adminUrl) {
  const m = memNow(pid);
  const h = await heapMetrics(adminUrl);
  return { ...m, ...h, outsideHeapKiB: h.heapTotalMiB === null ? null : Math.round(m.rssKiB - h.heapTotalMiB * 1024) };
}

function medians(xs) {
  const out = { samples: xs.length };
  for (const k of ['rssKiB', 'pssKiB', 'outsideHeapKiB', 'heapUsedMiB', 'heapTotalMiB', 'externalMiB']) out[k] = median(xs.map((x) => x[k]));
  return out;
}

/** Samples every second until five in a row are within 1 MiB of RSS (at most `maxS` s); medians of those five. */
async function memSettled(pid, adminUrl, maxS = 30) {
  const xs = [];
  const t0 = performance.now();
  for (;;) {
    xs.push(await memFull(pid, adminUrl));
    const last = xs.slice(-5);
    const rss = last.map((x) => x.rssKiB);
    if (last.length === 5 && Math.max(...rss) - Math.min(...rss) <= 1024) return { ...medians(last), settledAfterS: +((performance.now() - t0) / 1000).toFixed(1), settled: true };
    if (performance.now() - t0 > maxS * 1000) return { ...medians(last), settledAfterS: +((performance.now() - t0) / 1000).toFixed(1), settled: false };
    await sleep(1000);
  }
}

async function idleVariant(variant) {
  const N = IDLE_N;
  const nofile = N + 1024;
  log(`connections/${variant}: ${N} connections${variant === 'active' ? `, one request each every ${KEEPALIVE_S} s` : ''}`);
  const stack = await startStack(nofile);
  const { gw } = stack;
  const gwPid = gw.info.pid;
  const url = gw.info.rpcUrl;
  /** Our processes: CPU not counted as "other load" in the probes. */
  const pids = [gwPid, stack.simPid, process.pid];
  const out = { variant, connections: N, gateway: { pid: gwPid, simPid: stack.simPid, rpcUrl: url, distBuiltAt: distMtime() }, gatewayFdLimit: null };
  let conns;
  const timeline = [];
  let sampler;
  try {
    out.gatewayFdLimit = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${gwPid}/limits`, 'utf8'))?.[1] ?? null;
    out.check = await checkAnswer(url);
    // Warm-up (JIT, pools), then the latency without the extra connections.
    await probe(url, 2000);
    out.probeBefore = await probe(url, PROBE_REQUESTS, PROBE_CONCURRENCY, pids);
    await sleep(2000);
    out.before = await memSettled(gwPid, gw.info.adminUrl);
    if (variant === 'active') {
      // The same request rate as the N connections will make, over 32 connections: what that
      // traffic alone costs in RSS, so the difference is the connections'.
      const rate = Math.round(N / KEEPALIVE_S);
      log(`connections/active: baseline at ${rate} req/s over ${CLIENT_CONNECTIONS} connections, 20 s`);
      const client = await spawnNode(here('./soak-client.mjs'), ['--url', url, '--body', BODY, '--rate', String(rate), '--duration', '20', '--connections', String(CLIENT_CONNECTIONS), '--report', '20']);
      const exitP = new Promise((r) => client.child.once('exit', r));
      const xs = [];
      pids.push(client.info.pid);
      await sleep(4000);
      // The probe under the same traffic without the N connections: what "while open" compares to.
      out.probeBaselineUnderLoad = await probe(url, PROBE_REQUESTS, PROBE_CONCURRENCY, pids);
      pids.pop();
      await sleep(Math.max(0, 10_000 - 4000 - out.probeBaselineUnderLoad.seconds * 1000));
      for (let i = 0; i < 9; i++) {
        xs.push(await memFull(gwPid, gw.info.adminUrl));
        await sleep(1000);
      }
      await exitP;
      const f = client.child.lines.find((l) => l.type === 'final');
      out.loadedBefore = { rate, ...medians(xs), errors: f ? f.non200 + f.rpcErrors + f.transportErrors : null, ok: f?.ok ?? null };
      await sleep(1000);
    }

    conns = await spawnNodeWithFdLimit(here('./idle-conns.mjs'), ['--url', url, '--body', BODY], nofile);
    pids.push(conns.info.pid);
    const t0 = performance.now();
    sampler = setInterval(() => timeline.push({ t: +((performance.now() - t0) / 1000).toFixed(1), ...memNow(gwPid) }), 500);
    const tcp0 = tcpCounters();
    const cpu0 = safeCpu(gwPid);
    const connsCpu0 = safeCpu(conns.info.pid);
    const opened = await command(conns.child, { cmd: 'open', count: N, mode: variant, interval: KEEPALIVE_S, concurrency: 200 });
    out.opened = opened;
    out.listenOverflows = tcpCounters().listenOverflows - tcp0.listenOverflows;
    out.openSeconds = +(opened.openMs / 1000).toFixed(2);
    log(`connections/${variant}: ${opened.open} open after ${out.openSeconds} s (connect failures ${opened.connectFailures})`);

    if (variant === 'idle') {
      // Three samples 1, 1.5 and 2 s after the last connect: before the first idle timeouts.
      const xs = [];
      for (let i = 0; i < 3; i++) {
        await sleep(i ? 500 : 1000);
        xs.push(await memFull(gwPid, gw.info.adminUrl));
      }
      out.withN = { t: +((performance.now() - t0) / 1000).toFixed(1), ...medians(xs) };
      out.withN.open = (await command(conns.child, { cmd: 'status' })).open;
      out.probeWhileOpen = await probe(url, PROBE_REQUESTS, PROBE_CONCURRENCY, pids);
      out.afterProbe = { t: +((performance.now() - t0) / 1000).toFixed(1), ...memNow(gwPid) };
      out.afterProbe.open = (await command(conns.child, { cmd: 'status' })).open;
      // Wait for the gateway's idle timeout (or 40 s from the first connect).
      let st;
      for (;;) {
        st = await command(conns.child, { cmd: 'status' });
        if (st.open === 0 || performance.now() - t0 > 40_000) break;
        await sleep(1000);
      }
      out.heldSeconds = +((performance.now() - t0) / 1000).toFixed(1);
      out.beforeOurClose = st;
    } else {
      // Hold: RSS every 0.5 s (the timeline); the probe at half-time; "with N" = median of the last half.
      const holdStart = performance.now();
      await sleep((HOLD_S * 1000) / 2);
      out.probeWhileOpen = await probe(url, PROBE_REQUESTS, PROBE_CONCURRENCY, pids);
      // "With N": every second over the last half of the hold (after the probe), medians.
      const xs = [];
      const tHalf = (performance.now() - t0) / 1000;
      while (performance.now() < holdStart + HOLD_S * 1000) {
        xs.push(await memFull(gwPid, gw.info.adminUrl));
        await sleep(1000);
      }
      out.withN = { fromT: +tHalf.toFixed(1), ...medians(xs) };
      out.heldSeconds = +((performance.now() - t0) / 1000).toFixed(1);
      out.beforeOurClose = await command(conns.child, { cmd: 'status' });
      out.withN.open = out.beforeOurClose.open;
    }
    out.gatewayCores = +((safeCpu(gwPid) - cpu0) / ((performance.now() - t0) / 1000)).toFixed(3);
    out.connectionHolderCores = +((safeCpu(conns.info.pid) - connsCpu0) / ((performance.now() - t0) / 1000)).toFixed(3);
    out.closed = await command(conns.child, { cmd: 'close' });
    await sleep(5000);
    clearInterval(sampler);
    sampler = null;
    out.after = await memSettled(gwPid, gw.info.adminUrl);
    out.peakSampledKiB = Math.max(...timeline.map((x) => x.rssKiB));
    out.peakSampledMiB = MiB(out.peakSampledKiB);
    out.peakVmHWMKiB = statusKiB(gwPid, 'VmHWM');
    out.peakVmHWMMiB = MiB(out.peakVmHWMKiB);
    out.probeAfter = await probe(url, PROBE_REQUESTS, PROBE_CONCURRENCY, pids);
    out.timeline = timeline;
  } finally {
    if (sampler) clearInterval(sampler);
    if (conns) await stopChild(conns.child);
    const { outcomes, simExit } = await stack.stop();
    out.outcomes = outcomes;
    out.simExit = simExit;
  }
  const st = out.beforeOurClose;
  const base = variant === 'active' ? out.loadedBefore : out.before;
  out.summary = {
    rssBeforeMiB: MiB(out.before.rssKiB),
    rssBaselineUnderLoadMiB: variant === 'active' ? MiB(out.loadedBefore.rssKiB) : null,
    rssWithNMiB: MiB(out.withN.rssKiB),
    outsideHeapBeforeMiB: MiB(out.before.outsideHeapKiB),
    outsideHeapBaselineUnderLoadMiB: variant === 'active' ? MiB(out.loadedBefore.outsideHeapKiB) : null,
    outsideHeapWithNMiB: MiB(out.withN.outsideHeapKiB),
    outsideHeapAfterMiB: MiB(out.after.outsideHeapKiB),
    heapUsedMiB: { before: base.heapUsedMiB, withN: out.withN.heapUsedMiB, after: out.after.heapUsedMiB },
    heapTotalMiB: { before: base.heapTotalMiB, withN: out.withN.heapTotalMiB, after: out.after.heapTotalMiB },
    openAtWithN: out.withN.open,
    rssPeakMiB: out.peakSampledMiB,
    rssPeakVmHWMMiB: out.peakVmHWMMiB,
    rssAfterMiB: MiB(out.after.rssKiB),
    pssBeforeMiB: MiB(out.before.pssKiB),
    pssWithNMiB: MiB(out.withN.pssKiB),
    pssAfterMiB: MiB(out.after.pssKiB),
    // Against the baseline (active: the same request rate over 32 connections), per connection open then.
    bytesPerConnection: out.withN.open ? Math.round(((out.withN.rssKiB - base.rssKiB) * 1024) / out.withN.open) : null,
    bytesPerConnectionOutsideHeap: out.withN.open && base.outsideHeapKiB !== null ? Math.round(((out.withN.outsideHeapKiB - base.outsideHeapKiB) * 1024) / out.withN.open) : null,
    bytesPerConnectionPeak: Math.round(((out.peakSampledKiB - base.rssKiB) * 1024) / N),
    openSeconds: out.openSeconds,
    connectFailures: out.opened.connectFailures,
    listenOverflows: out.listenOverflows,
    probeBefore: out.probeBefore,
    probeBaselineUnderLoad: out.probeBaselineUnderLoad ?? null,
    probeWhileOpen: out.probeWhileOpen,
    probeAfter: out.probeAfter,
    unexpectedCloses: st.unexpectedCloses,
    closeErrors: st.closeErrors,
    closeAfterIdleMs: st.closeAfterIdleMs,
    requests: out.closed.requests,
    badAnswers: out.closed.requests.bad,
    heldSeconds: out.heldSeconds,
    gatewayCores: out.gatewayCores,
    connectionHolderCores: out.connectionHolderCores,
  };
  return out;
}

// ---- report ----

function markdown(res) {
  const m = res.machine;
  const L = [
    `# din-gateway soak ${res.startedAt}`,
    '',
    `Machine: ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, Linux ${m.kernel}, ${m.memGiB} GiB. Gateway run as \`node ${[...(res.settings.gatewayNodeFlags ?? []), '…'].join(' ')}\`. Commit ${res.commit ?? '?'} ` +
      `(working tree may differ), dist/ built ${res.distBuiltAt ?? '?'}${res.srcNewerThanDist.length ? ` (**${res.srcNewerThanDist.length} file(s) under src/ newer than dist/**)` : ''}. ` +
      `Open-file limit of the harness: ${res.fdLimits.soft} (hard ${res.fdLimits.hard}).`,
    '',
  ];
  const s = res.soak?.summary;
  if (s) {
    const r = s.rss;
    const h = s.rssLastHalf;
    const o = s.outsideHeap;
    L.push(
      `## RSS soak: ${s.targetRate} req/s of eth_blockNumber for ${s.durationS / 60} min`,
      '',
      `A fresh gateway process (default config, measurement on, 1 data-plane thread) in front of a fresh zero-latency simulated ` +
        `operator; fixed-rate client \`bench/soak-client.mjs\` (undici, ${res.settings.clientConnections} connections), every answer ` +
        `checked (HTTP 200 and a JSON-RPC \`result\`). The gateway's RSS / PSS (\`/proc/PID/status\`, \`smaps_rollup\`), CPU and V8 ` +
        `heap (its admin \`/metrics\`) sampled every ${res.settings.sampleS} s. Steady state: from t = ${s.warmupS} s (the first ${s.warmupS} s are warm-up).`,
      '',
      '| | RSS | PSS | RSS − V8 heap total |',
      '| --- | ---: | ---: | ---: |',
      `| idle, before the load | ${fmt(s.rssIdleBeforeLoadMiB, 1)} MiB | | |`,
      `| start of steady state (t = ${fmt(r?.fromT)} s) | ${fmt(r?.startMiB, 1)} MiB | ${fmt(s.pss?.startMiB, 1)} MiB | ${fmt(o?.startMiB, 1)} MiB |`,
      `| end (t = ${fmt(r?.toT)} s) | ${fmt(r?.endMiB, 1)} MiB | ${fmt(s.pss?.endMiB, 1)} MiB | ${fmt(o?.endMiB, 1)} MiB |`,
      `| min / max in steady state | ${fmt(r?.minMiB, 1)} / ${fmt(r?.maxMiB, 1)} MiB | ${fmt(s.pss?.minMiB, 1)} / ${fmt(s.pss?.maxMiB, 1)} MiB | ${fmt(o?.minMiB, 1)} / ${fmt(o?.maxMiB, 1)} MiB |`,
      `| peak over the whole run (VmHWM, warm-up included) | ${fmt(s.rssPeakVmHWMMiB, 1)} MiB | | |`,
      `| **growth, end of warm-up → end** | **${fmt(r?.growthPct, 2)} %** | ${fmt(s.pss?.growthPct, 2)} % | ${fmt(o?.growthPct, 2)} % |`,
      `| slope (least squares), end of warm-up → end | ${fmt(r?.slopeMiBPerMin, 3)} MiB/min (fitted growth ${fmt(r?.fittedGrowthPct, 2)} %) | ${fmt(s.pss?.slopeMiBPerMin, 3)} MiB/min | ${fmt(o?.slopeMiBPerMin, 3)} MiB/min |`,
      `| growth over the last half (t = ${fmt(h?.fromT)} → ${fmt(h?.toT)} s) | ${fmt(h?.growthPct, 2)} % | ${fmt(s.pssLastHalf?.growthPct, 2)} % | ${fmt(s.outsideHeapLastHalf?.growthPct, 2)} % |`,
      `| slope over the last half | ${fmt(h?.slopeMiBPerMin, 3)} MiB/min (fitted growth ${fmt(h?.fittedGrowthPct, 2)} %) | ${fmt(s.pssLastHalf?.slopeMiBPerMin, 3)} MiB/min | ${fmt(s.outsideHeapLastHalf?.slopeMiBPerMin, 3)} MiB/min |`,
      '',
      'PSS splits shared pages (the node binary, libraries) among all the processes that map them, other node processes on the ' +
        'machine included, so it moves when they come and go; RSS and RSS − V8 heap total (native memory: uWS, malloc, WebAssembly, ' +
        'code) are the figures to judge.',
      '',
      `V8 heap used: ${fmt(s.heapUsedMiB.start, 1)} MiB at the start of steady state, ${fmt(s.heapUsedMiB.end, 1)} at the end (max ${fmt(s.heapUsedMiB.max, 1)}); ` +
        `heap total ${fmt(s.heapTotalMiB.start, 1)} → ${fmt(s.heapTotalMiB.end, 1)} MiB; external ${fmt(s.externalMiB.start, 1)} → ${fmt(s.externalMiB.end, 1)} MiB.`,
      '',
      `Requests: ${s.requests.sent} sent, ${s.requests.ok} answered correctly; **errors ${s.requests.errors}** (non-200 ${s.requests.non200}, ` +
        `JSON-RPC error ${s.requests.rpcErrors}, transport ${s.requests.transportErrors}). Achieved rate ${fmt(s.achievedRate, 1)} req/s ` +
        `(steady state ${fmt(s.achievedRateSteady, 1)}; target ${s.targetRate}). Latency (µs) p50 / p99 / p99.9 / max: ` +
        `${fmt(s.latencyUs.service?.p50)} / ${fmt(s.latencyUs.service?.p99)} / ${fmt(s.latencyUs.service?.p999)} / ${fmt(s.latencyUs.service?.max)}; ` +
        `from schedule p50 / p99: ${fmt(s.latencyUs.fromSchedule?.p50)} / ${fmt(s.latencyUs.fromSchedule?.p99)}.`,
      '',
      `CPU in steady state (cores): gateway ${fmt(s.gatewayCores, 3)} (event loop ${fmt(s.gatewayMainThreadCores, 3)}; ` +
        `${fmt(s.gatewayCpuUsPerRequest, 1)} µs/request), sim ${fmt(s.simCores, 3)}, load generator ${fmt(s.loadgenCores, 3)}, ` +
        `harness ${fmt(s.harnessCores, 3)}; other load on the machine ${fmt(s.otherCores, 2)}, steal ${fmt(s.stealCores, 2)}.`,
      '',
      s.target
        ? `**Target (RSS growth < ${s.target.maxGrowthPct} % over the soak at a steady rate, no errors): ${s.target.met ? 'met' : 'not met'}** ` +
          `(RSS ${fmt(s.target.rssGrowthPct, 2)} %, errors ${s.target.errors}). The same bar on RSS − V8 heap total (native memory; ` +
          `V8's heap sizing, which moves RSS by tens of MiB either way by itself, left out): ${fmt(s.target.outsideHeapGrowthPct, 2)} % ` +
          `(${s.target.outsideHeapGrowthPct !== null && s.target.outsideHeapGrowthPct < s.target.maxGrowthPct ? 'met' : 'not met'}).`
        : '**Target not judged: too few samples after the warm-up.**',
      '',
      'What "steady" means here: the gateway keeps bounded histories that are still filling during a 5-minute run. The ' +
        'measurement ring keeps 300 s of closed windows per operator (`windowSeconds` 10 → 30 windows, each its touched HDR ' +
        'buckets at 4 bytes each), full 300 s after the gateway starts; the staking core keeps ' +
        '`staking.metricsHistory` (1,000) window summaries per operator, twice (the core\'s cache and the in-memory store): full only ' +
        'after 1,000 × 10 s ≈ 2.8 h. With one operator both add tens of KB over this run, far below the 5 % bar, so they cannot hide ' +
        'or fake a leak of that size; the last-half figures are the ones least affected by warm-up.',
      '',
    );
    if (res.soak.simExit) {
      const e = res.soak.simExit;
      L.push(`**The simulated operator's process exited ${e.afterS} s after it started (signal ${e.signal}, code ${e.code}), not stopped by the bench: answers after that are the gateway's errors.**`, '');
    }
    for (const d of res.soak.discardedAttempts ?? []) {
      L.push(
        `An earlier attempt was discarded: its sim exited ${d.simExit.afterS} s in (signal ${d.simExit.signal}, code ${d.simExit.code}; ` +
          'not stopped by the bench), leaving the gateway without an operator. Its summary is in the JSON (`soak.discardedAttempts`).',
        '',
      );
    }
    const every = Math.max(1, Math.round(30 / res.settings.sampleS));
    const iv = res.soak.intervals;
    L.push('Timeline (every ' + every * res.settings.sampleS + ' s; all samples in the JSON):', '', '| t s | RSS MiB | PSS MiB | RSS − heap total MiB | heap used / total MiB | gateway cores | req/s | p99 µs |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const sm = res.soak.samples;
    for (let i = 0; i < sm.length; i += every) {
      const x = sm[i];
      const prev = sm[i - every] ?? null;
      const coresGw = prev ? (x.gatewayCpuS - prev.gatewayCpuS) / (x.t - prev.t) : null;
      const inWin = prev ? iv.filter((l) => l.t > prev.t && l.t <= x.t + 0.5) : [];
      const secs = inWin.reduce((a, l) => a + l.seconds, 0);
      const rate = secs ? inWin.reduce((a, l) => a + l.ok, 0) / secs : null;
      const p99 = inWin.length ? Math.max(...inWin.map((l) => l.serviceUs.p99 ?? 0)) : null;
      L.push(`| ${fmt(x.t)} | ${fmt(MiB(x.rssKiB), 1)} | ${fmt(MiB(x.pssKiB), 1)} | ${fmt(MiB(x.outsideHeapKiB), 1)} | ${fmt(x.heapUsedMiB, 1)} / ${fmt(x.heapTotalMiB, 1)} | ${fmt(coresGw, 3)} | ${fmt(rate)} | ${fmt(p99)} |`);
    }
    L.push('', `"p99 µs": the highest of the ${res.settings.sampleS}-s intervals' p99 in that stretch. Upstream attempts by outcome: \`${JSON.stringify(res.soak.outcomes)}\``, '');
  }
  if (res.idle?.length) {
    L.push(
      `## ${IDLE_N_LABEL(res)} connections`,
      '',
      'A fresh gateway (and sim) per variant. Raw TCP connections from one child process (`bench/idle-conns.mjs`), ' +
        `opened ${200} at a time. **idle**: half send one keep-alive POST (eth_blockNumber) and then nothing, half never send a byte. ` +
        `**active**: every connection sends one POST when it opens and then one every ${res.settings.keepaliveS} s (so none stays idle long ` +
        `enough for the gateway's idle timeout); its "before" baseline is the gateway under the same request rate over ${res.settings.clientConnections} ` +
        'connections, so the difference is the connections\' cost, not the traffic\'s. Latency probe: ' +
        `${PROBE_REQUESTS} new requests, ${PROBE_CONCURRENCY} at a time, undici, from the harness. V8 grows and shrinks its heap by ` +
        'tens of MiB by itself (its memory reducer returns pages a few seconds after the allocation rate drops), so raw RSS ' +
        'differences can even come out negative; "RSS − V8 heap total" (the heap\'s committed size, from the admin `/metrics`, read ' +
        'with each RSS sample) leaves that out: the connections\' native memory (uWS sockets, buffers) is the part that counts.',
      '',
      '| | ' + res.idle.map((v) => v.variant).join(' | ') + ' |',
      '| --- |' + res.idle.map(() => ' ---: |').join(''),
    );
    const row = (label, f) => L.push(`| ${label} | ${res.idle.map((v) => f(v.summary, v)).join(' | ')} |`);
    row('RSS before (idle gateway, warmed up)', (x) => `${fmt(x.rssBeforeMiB, 1)} MiB`);
    row('RSS baseline: same request rate, 32 connections', (x) => (x.rssBaselineUnderLoadMiB === null ? '–' : `${fmt(x.rssBaselineUnderLoadMiB, 1)} MiB`));
    row('RSS with the connections open', (x) => `${fmt(x.rssWithNMiB, 1)} MiB (${x.openAtWithN} open)`);
    row('RSS peak (sampled every 0.5 s / VmHWM)', (x) => `${fmt(x.rssPeakMiB, 1)} / ${fmt(x.rssPeakVmHWMMiB, 1)} MiB`);
    row('RSS after they were closed (+5 s)', (x) => `${fmt(x.rssAfterMiB, 1)} MiB`);
    row('PSS before / with / after', (x) => `${fmt(x.pssBeforeMiB, 1)} / ${fmt(x.pssWithNMiB, 1)} / ${fmt(x.pssAfterMiB, 1)} MiB`);
    row('**bytes per connection** (RSS with − baseline) / open', (x) => `**${fmt(x.bytesPerConnection)}**`);
    row('RSS − V8 heap total: before / baseline / with / after', (x) =>
      `${fmt(x.outsideHeapBeforeMiB, 1)} / ${fmt(x.outsideHeapBaselineUnderLoadMiB, 1)} / ${fmt(x.outsideHeapWithNMiB, 1)} / ${fmt(x.outsideHeapAfterMiB, 1)} MiB`);
    row('V8 heap used / total: baseline → with', (x) => `${fmt(x.heapUsedMiB.before, 1)} / ${fmt(x.heapTotalMiB.before, 1)} → ${fmt(x.heapUsedMiB.withN, 1)} / ${fmt(x.heapTotalMiB.withN, 1)} MiB`);
    row('**bytes per connection, outside the V8 heap**', (x) => `**${fmt(x.bytesPerConnectionOutsideHeap)}**`);
    row('bytes per connection at the sampled RSS peak (peak − baseline) / N', (x) => fmt(x.bytesPerConnectionPeak));
    row('time to open them all', (x) => `${fmt(x.openSeconds, 2)} s`);
    row('connect failures / listen overflows', (x) => `${x.connectFailures} / ${x.listenOverflows}`);
    const pr = (p) => (p ? `${fmt(p.p50Us)} / ${fmt(p.p99Us)} / ${fmt(p.maxUs)}${p.errors ? ` (**${p.errors} errors**)` : ''} [other ${fmt(p.otherCores, 2)}]` : '–');
    row('probe before: p50 / p99 / max µs [other load, cores]', (x) => pr(x.probeBefore));
    row('probe under the baseline\'s traffic (active): p50 / p99 / max µs [other load]', (x) => pr(x.probeBaselineUnderLoad));
    row('**probe while open**: p50 / p99 / max µs [other load]', (x) => pr(x.probeWhileOpen));
    row('probe after: p50 / p99 / max µs [other load]', (x) => pr(x.probeAfter));
    row('held (s from the first connect)', (x) => fmt(x.heldSeconds, 1));
    row('**closed by the gateway** before we closed them', (x) => `**${x.unexpectedCloses.total}** (with a request ${x.unexpectedCloses.withRequest}, silent ${x.unexpectedCloses.silent})`);
    row('… after this long idle: min / p50 / max ms', (x) => (x.closeAfterIdleMs ? `${x.closeAfterIdleMs.min} / ${x.closeAfterIdleMs.p50} / ${x.closeAfterIdleMs.max}` : '–'));
    row('socket errors', (x) => JSON.stringify(x.closeErrors));
    row('requests on those connections: sent / ok / bad', (x) => `${x.requests.sent} / ${x.requests.ok} / ${x.requests.bad}`);
    row('cores while held: gateway / connection holder', (x) => `${fmt(x.gatewayCores, 3)} / ${fmt(x.connectionHolderCores, 3)}`);
    L.push('');
    for (const v of res.idle) {
      if (v.simExit) L.push(`**${v.variant}: the simulated operator's process exited ${v.simExit.afterS} s after it started (signal ${v.simExit.signal}, code ${v.simExit.code}), not stopped by the bench: errors above are the gateway answering without it.**`, '');
      for (const d of v.discardedAttempts ?? []) L.push(`${v.variant}: an earlier attempt was discarded, its sim exited ${d.simExit.afterS} s in (signal ${d.simExit.signal}, code ${d.simExit.code}).`, '');
    }
    if (res.idle.some((v) => v.summary.rssPeakVmHWMMiB > v.summary.rssPeakMiB + 1)) {
      L.push(
        'VmHWM (peak RSS since the process started) is above every RSS sampled while the connections were open: that peak came ' +
          'earlier, at start-up or in the warm-up, not from the connections.',
        '',
      );
    }
    const idle = res.idle.find((v) => v.variant === 'idle');
    if (idle && idle.summary.unexpectedCloses.total > 0) {
      L.push(
        `The gateway closed ${idle.summary.unexpectedCloses.total} of the idle connections by itself, ${idle.summary.closeAfterIdleMs.min}–${idle.summary.closeAfterIdleMs.max} ms ` +
          'after their last activity: uWebSockets.js\'s HTTP idle timeout (10 s, checked on a 4 s timer tick), for connections that ' +
          'sent one request as well as for those that never sent a byte. Legitimate, not a drop; "with the connections open" for the idle ' +
          'variant is therefore measured 1–2 s after the last one opened, before the first timeouts.',
        '',
      );
    }
  }
  return L.join('\n') + '\n';
}
const IDLE_N_LABEL = (res) => res.settings.idleConnections.toLocaleString('en-US');

// ---- main ----

const started = new Date();
const pad = (n) => String(n).padStart(2, '0');
const stamp = `${started.getFullYear()}-${pad(started.getMonth() + 1)}-${pad(started.getDate())}-${pad(started.getHours())}${pad(started.getMinutes())}`;

/** The checked-out commit, read from .git (no git command). */
function commitFromGitDir() {
  try {
    const gitDir = here('../.git');
    const head = readFileSync(`${gitDir}/HEAD`, 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 7);
    const ref = head.slice(5);
    if (existsSync(`${gitDir}/${ref}`)) return readFileSync(`${gitDir}/${ref}`, 'utf8').trim().slice(0, 7);
    const packed = readFileSync(`${gitDir}/packed-refs`, 'utf8');
    return new RegExp(`^([0-9a-f]{40}) ${ref}$`, 'm').exec(packed)?.[1].slice(0, 7) ?? null;
  } catch {
    return null;
  }
}
/** When dist/ (what the gateway processes load) was built: recorded again at each gateway start. */
function distMtime() {
  try {
    return statSync(here('../dist/gateway.js')).mtime.toISOString();
  } catch {
    return null;
  }
}
const distBuiltAt = distMtime();
let srcNewerThanDist = [];
try {
  srcNewerThanDist = execFileSync('find', [here('../src'), '-name', '*.ts', '-newer', here('../dist/gateway.js')], { encoding: 'utf8' }).split('\n').filter(Boolean);
} catch {}
if (srcNewerThanDist.length) log(`warning: ${srcNewerThanDist.length} file(s) under src/ are newer than dist/ (run \`npm run build\`)`);

const limits = fdLimits();
// Node raises its own soft limit to the hard one at start-up, so `soft` here is usually the hard limit.
if (PHASES.includes('idle') && IDLE_N + 1024 > limits.soft) {
  log(
    `open-file limit ${limits.soft} (hard ${limits.hard}) < ${IDLE_N + 1024}: the gateway and the connection holder get it raised via \`ulimit -n\`` +
      (IDLE_N + 1024 > limits.hard ? ' (above the hard limit: needs root with CAP_SYS_RESOURCE, or a higher `ulimit -Hn` before starting, or a lower --idle)' : ''),
  );
}

const res = {
  startedAt: started.toISOString(),
  commit: commitFromGitDir(),
  distBuiltAt,
  srcNewerThanDist,
  machine: machineInfo(),
  fdLimits: { soft: String(limits.soft), hard: String(limits.hard) },
  settings: {
    gatewayNodeFlags: GATEWAY_NODE_FLAGS,
    phases: PHASES,
    retries: RETRIES,
    minutes: MINUTES,
    rate: RATE,
    warmupS: WARMUP_S,
    sampleS: SAMPLE_S,
    clientConnections: CLIENT_CONNECTIONS,
    idleConnections: IDLE_N,
    idleVariants: IDLE_VARIANTS,
    keepaliveS: KEEPALIVE_S,
    holdS: HOLD_S,
    probe: { requests: PROBE_REQUESTS, concurrency: PROBE_CONCURRENCY },
    maxGrowthPct: MAX_GROWTH_PCT,
  },
  soak: null,
  idle: [],
};
if (PHASES.includes('soak')) res.soak = await withRetry('soak', soakPhase);
if (PHASES.includes('idle')) for (const v of IDLE_VARIANTS) res.idle.push(await withRetry(`connections/${v}`, () => idleVariant(v)));

const md = markdown(res);
const outDir = here('./results/');
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}${stamp}-soak.json`, JSON.stringify(res, null, 2) + '\n');
writeFileSync(`${outDir}${stamp}-soak.md`, md);
process.stdout.write(md);
log(`wrote bench/results/${stamp}-soak.json and .md`);
process.exit(0);
