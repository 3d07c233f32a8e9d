// Chaos under load: faults injected one at a time and combined while a fixed-rate client keeps
// sending, and what the clients, the routing and the ledger made of each. Loopback only, bounded
// in time and requests, stops by itself (a hard deadline kills everything it started).
//
// Each scenario gets a fresh setup, all started by this script:
//   - a private redis-server on a free port (append-only file, fsync always, in a temporary
//     directory: killed and restarted, it comes back with its data, as a deployment's would);
//   - simulated operators (src/sim, in this process: stopped and restarted on the same port,
//     profiles switched at run time);
//   - the gateway as a child process, `node dist/cli.js start --config FILE` (run `npm run build`
//     first), so SIGTERM and SIGKILL are real; restarted on the same ports;
//   - the load: bench/rate-client.mjs (child process) POSTing one eth_getBalance at a settled
//     block at --rate req/s, every answer checked against the honest balance (a 200 with another
//     balance is a "wrong answer"), every request's outcome recorded with its send time.
// A scenario runs `warm` seconds of steady load, then its fault steps, `fault` seconds later its
// recovery steps, then `recover` seconds more. Every SAMPLE_MS each operator's traffic is counted:
// the load's requests it received (the simulated operator counts them as they arrive; a check of
// the cross-check is one too) plus the gateway's attempts that could not connect to it (GET
// /metrics, din_upstream_requests_total{outcome="connect"}: a dead operator receives nothing, but
// is it still being tried?). Counted when sent, not when answered: a slow operator's traffic is
// not late by its latency.
//
// Measured per scenario:
//   - requests, client-visible failures (connection errors, non-200 answers, wrong answers; 429s
//     apart, they are the gateway's rate limiter), the error rate overall and from the fault until
//     the recovery steps were done (a restarted gateway: until it was ready), and how long after
//     the recovery began the last failed request was sent;
//   - "loses traffic": from the fault until the start of the first TRAFFIC_WINDOW_MS window (they
//     slide by SAMPLE_MS) in which the faulty operator got under LOST_BELOW of its fair share of
//     attempts (the load rate / operators): a sharp cut reads up to LOST_BELOW of a window early;
//     the largest over the faulty operators; "kept" if never; its share of the load from then
//     until the recovery is kept too (exploration, or traffic it won back while still faulty);
//   - "earns it back": from recovery until the end of the first window in which each faulty
//     operator got at least BACK_ABOVE of its fair share, the next window too (one lucky window
//     of exploration traffic is not traffic earned back); the largest; "no" if never in the run;
//   - the ledger check: for every operator of GET /v1/operators, its balances (active, unbonding,
//     withdrawable, slashed) equal the replay of its GET /v1/events (src/staking/ledger.ts's
//     replay); across a gateway kill, every event seen before it is still there after the restart;
//   - the gateway: exits nobody asked for, error-level log lines, the in-flight requests at a
//     SIGTERM and how many of them completed with a 200.
//
// Usage: node bench/chaos.mjs [--scenarios all|name,name] [--profile full|ci] [--rate R]
//          [--operators N] [--config-patch JSON] [--out FILE.json] [--list] [--max-minutes M]
//   --profile: timings (ci: short phases, for test/chaos/chaos.test.ts); --rate overrides its rate.
//   --config-patch: JSON merged over the gateway config below (e.g. a rate-limit budget, or
//     `{"rateLimit": {...}}` to turn one off: the load comes from one IP at --rate req/s).
//   --out: the JSON results go there (and the Markdown table next to it, .md); default
//     bench/results/<date>-<HHMM>-chaos.json and .md. The Markdown also goes to stdout.
// Exit code 0 when every scenario ran (whatever it measured), 1 when the harness itself failed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, gatewayNodeFlags, machineInfo } from './lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

// ---- What is measured and how (the lead re-runs this after merging: change data here) ----

/** The gateway's config for every scenario; ports, operators, Redis and key prefix are added per run. */
const GATEWAY_CONFIG = {
  logLevel: 'warn',
  // Short windows so a scenario takes seconds: every count below is in windows, and the
  // absolute durations (jail, downtime) are scaled down with them.
  windowSeconds: 1,
  probes: { intervalMs: 250, timeoutMs: 500 },
  staking: {
    unbondingSeconds: 0,
    thresholds: { downtimeMinSeconds: 2 },
    slashing: { jailSeconds: 5 },
  },
  shutdownGraceMs: 10_000,
  // On, as in production (one budget through Redis when it is up), with a per-IP budget ten
  // times the load: the load generator is one IP, and a refusal here would be the limiter's, not a fault's.
  rateLimit: { perIp: { rate: 2000, burst: 10000 } },
};

/** Each operator's stake: 32 ETH, so one slash cannot push it under the 1 ETH minimum. */
const STAKE_WEI = '32000000000000000000';
/** The honest operators' profile: a few ms, no faults. */
const HONEST = { latencyMs: { median: 2, p99: 8 }, errorRate: 0, rateLimitRate: 0, badDataRate: 0, garbageRate: 0, wrongIdRate: 0, hang: false };
const ADDRESS = '0x742d35cc6634c0532925a3b844bc9e7595f0beb0';
/** BASE_BLOCK_NUMBER of src/sim: settled, so the answer is deterministic and cross-checked. */
const BLOCK = '0x121eac0';
const LOAD_METHOD = 'eth_getBalance';
const LOAD_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: LOAD_METHOD, params: [ADDRESS, BLOCK] });

const SAMPLE_MS = 200;
const TRAFFIC_WINDOW_MS = 1000;
const LOST_BELOW = 0.25;
const BACK_ABOVE = 0.5;

/** Timings per profile, in seconds (per scenario, `fault` may be overridden by the scenario). */
const PROFILES = {
  full: { rate: 200, warm: 4, fault: 8, recover: 10 },
  // recover: an operator back from a fault is on probation for 6 windows (probationQuietWindows)
  // when exploration alone cannot give it enough requests to judge: 12 s leaves it room.
  ci: { rate: 100, warm: 2, fault: 3, recover: 12 },
};

/**
 * The scenarios. Steps: stopOperator / startOperator {op}, setProfile {op ('all' for every one),
 * patch}, killRedis, startRedis, signalGateway {signal}, startGateway, wait {seconds}. `faulty`:
 * the operators whose traffic is timed. `profile`: every operator's profile from the start (over
 * HONEST). `config`: merged over GATEWAY_CONFIG for this scenario. `faultSeconds`,
 * `recoverSeconds`: instead of the profile's.
 */
const SCENARIOS = [
  { name: 'baseline', what: 'no fault (the reference)', faulty: [], fault: [], recover: [] },
  {
    name: 'operator-restart',
    what: 'op0 killed (server closed, connections reset), restarted on the same port',
    faulty: ['op0'],
    fault: [{ do: 'stopOperator', op: 'op0' }],
    recover: [{ do: 'startOperator', op: 'op0' }],
  },
  {
    name: 'operator-slow',
    what: 'op0 answers after 2 s',
    faulty: ['op0'],
    // Its score climbs back window by window: it needs longer than the others to earn traffic back.
    recoverSeconds: 20,
    fault: [{ do: 'setProfile', op: 'op0', patch: { latencyMs: { median: 2000, p99: 2000 } } }],
    recover: [{ do: 'setProfile', op: 'op0', patch: HONEST }],
  },
  {
    name: 'operator-garbage',
    what: 'op0 answers HTTP 200 with an HTML error page',
    faulty: ['op0'],
    fault: [{ do: 'setProfile', op: 'op0', patch: { garbageRate: 1 } }],
    recover: [{ do: 'setProfile', op: 'op0', patch: HONEST }],
  },
  {
    name: 'operator-wrong-data',
    what: 'op0 answers every balance 1 ETH too high (well-formed, wrong)',
    faulty: ['op0'],
    fault: [{ do: 'setProfile', op: 'op0', patch: { badDataRate: 1 } }],
    recover: [{ do: 'setProfile', op: 'op0', patch: HONEST }],
  },
  {
    name: 'all-operators-down',
    what: 'every operator killed, all restarted',
    faulty: ['op0', 'op1', 'op2'],
    fault: [{ do: 'stopOperator', op: 'all' }],
    recover: [{ do: 'startOperator', op: 'all' }],
  },
  {
    name: 'redis-restart',
    what: 'Redis SIGKILLed, restarted on the same port (its append-only file)',
    faulty: [],
    fault: [{ do: 'killRedis' }],
    recover: [{ do: 'startRedis' }],
  },
  {
    name: 'gateway-sigterm',
    what: 'gateway SIGTERMed with ~300 ms requests in flight, restarted 2 s later',
    faulty: [],
    // Slow enough to have requests in flight well after the gateway read them; slow on purpose,
    // so the p95 target is raised for this scenario and no operator is blamed for it.
    profile: { latencyMs: { median: 300, p99: 400 } },
    config: { staking: { thresholds: { p95LatencyMs: 1000 } } },
    faultSeconds: 2,
    fault: [{ do: 'signalGateway', signal: 'SIGTERM' }],
    recover: [{ do: 'startGateway' }],
  },
  {
    name: 'gateway-sigkill',
    what: 'gateway SIGKILLed, restarted at once (state from Redis)',
    faulty: [],
    faultSeconds: 0,
    fault: [{ do: 'signalGateway', signal: 'SIGKILL' }],
    recover: [{ do: 'startGateway' }],
  },
  {
    name: 'combined',
    what: 'at once: op0 killed, op1 wrong data, Redis killed; all recovered together',
    faulty: ['op0', 'op1'],
    fault: [{ do: 'stopOperator', op: 'op0' }, { do: 'setProfile', op: 'op1', patch: { badDataRate: 1 } }, { do: 'killRedis' }],
    recover: [{ do: 'startRedis' }, { do: 'startOperator', op: 'op0' }, { do: 'setProfile', op: 'op1', patch: HONEST }],
  },
  {
    name: 'combined-gateway-kill',
    what: 'op0 answers garbage while Redis is killed (1 s) and restarted; 2 s later the gateway is SIGKILLed and restarted, op0 still answering garbage',
    faulty: ['op0'],
    fault: [
      { do: 'setProfile', op: 'op0', patch: { garbageRate: 1 } },
      { do: 'killRedis' },
      { do: 'wait', seconds: 1 },
      { do: 'startRedis' },
      { do: 'wait', seconds: 2 },
      { do: 'signalGateway', signal: 'SIGKILL' },
      { do: 'startGateway' },
    ],
    recover: [{ do: 'setProfile', op: 'op0', patch: HONEST }],
  },
];

// ---- Command line ----

const { values: cli } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'all' },
    profile: { type: 'string', default: 'full' },
    rate: { type: 'string' },
    operators: { type: 'string', default: '3' },
    'config-patch': { type: 'string', default: '{}' },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '15' },
  },
});
if (cli.list) {
  for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(24)} ${s.what}\n`);
  process.exit(0);
}
const timing = PROFILES[cli.profile];
if (!timing) throw new Error(`unknown --profile "${cli.profile}" (${Object.keys(PROFILES).join(', ')})`);
const RATE = Number(cli.rate ?? timing.rate);
const OPERATORS = Number(cli.operators);
const CONFIG_PATCH = JSON.parse(cli['config-patch']);
const chosen = cli.scenarios === 'all' ? SCENARIOS : cli.scenarios.split(',').map((name) => {
  const s = SCENARIOS.find((x) => x.name === name.trim());
  if (!s) throw new Error(`unknown scenario "${name}" (--list shows them)`);
  return s;
});
for (const s of chosen) {
  for (const op of s.faulty) if (Number(op.slice(2)) >= OPERATORS) throw new Error(`${s.name} needs ${op}: --operators ${OPERATORS} is too few`);
}
if (!existsSync(join(root, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');

const { SimulatedOperator, ChainModel } = await import('../dist/sim/index.js');
const { ConfigSchema, parseConfig } = await import('../dist/config.js');
// The load comes from one IP at RATE req/s: a per-IP rate limit in this build must be given room.
if (ConfigSchema.shape?.rateLimit !== undefined && CONFIG_PATCH.rateLimit === undefined && GATEWAY_CONFIG.rateLimit === undefined) {
  log('this build has a rateLimit config section and neither GATEWAY_CONFIG nor --config-patch sets it: 429s are counted apart, but set a budget above --rate (or turn it off) for comparable numbers');
}
const { replay } = await import('../dist/staking/ledger.js');
const { toQuantity } = await import('../dist/sim/chain-model.js');
const EXPECTED = `"result":"${toQuantity(new ChainModel({ chainId: 1 }).balanceOf(ADDRESS))}"`;

const log = (msg) => process.stderr.write(`[chaos] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const workDir = mkdtempSync(join(tmpdir(), 'din-chaos-'));

// Everything this script started, so an abnormal end leaves nothing running.
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', () => {
  killAll();
  rmSync(workDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const deadline = setTimeout(() => {
  log(`still running after --max-minutes ${cli['max-minutes']}: stopping everything`);
  process.exit(1);
}, Number(cli['max-minutes']) * 60_000);
deadline.unref();

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

async function until(what, fn, timeoutMs, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- Redis ----

class RedisProcess {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.child = undefined;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir];
    this.child = track(spawn('redis-server', args, { stdio: 'ignore' }));
    await until('redis-server to answer', () => this.ping(), 10_000);
  }

  ping() {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1');
      socket.setTimeout(500);
      let reply = '';
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        reply += d;
        if (reply.includes('\r\n')) {
          socket.destroy();
          resolve(reply.startsWith('+PONG'));
        }
      });
      socket.on('error', () => resolve(false));
      socket.on('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  }

  async kill() {
    this.child.kill('SIGKILL');
    await exited(this.child);
  }
}

// ---- The gateway ----

class GatewayProcess {
  constructor(configFile, rpcPort, adminPort, logFile) {
    this.configFile = configFile;
    this.rpcUrl = `http://127.0.0.1:${rpcPort}/`;
    this.adminUrl = `http://127.0.0.1:${adminPort}/`;
    this.logFile = logFile;
    this.child = undefined;
    /** Exits nobody asked for (not one of our signals). */
    this.unexpectedExits = [];
    this.starts = 0;
  }

  async start() {
    // The environment's DIN_* would override the config file: the run is defined by the file alone.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DIN_')));
    const fd = openSync(this.logFile, 'a');
    const child = track(spawn(process.execPath, [...gatewayNodeFlags(root), join(root, 'dist/cli.js'), 'start', '--config', this.configFile], { stdio: ['ignore', fd, fd], env, cwd: root }));
    closeSync(fd);
    this.child = child;
    this.starts++;
    child.expectedExit = false;
    child.once('exit', (code, signal) => {
      if (!child.expectedExit) this.unexpectedExits.push({ at: Date.now(), code, signal });
    });
    const t0 = Date.now();
    let listeningMs = null;
    await until('the gateway to be ready', async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the gateway exited while starting (code ${child.exitCode}, signal ${child.signalCode}); log: ${this.logFile}`);
      try {
        const res = await fetch(new URL('/ready', this.rpcUrl), { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        listeningMs ??= Date.now() - t0;
        return res.status === 200;
      } catch {
        return false;
      }
    }, 30_000, 25);
    /** From spawn until it answered HTTP at all, and until GET /ready said 200 (an operator admitted). */
    return { listeningMs, readyMs: Date.now() - t0 };
  }

  async signal(signal, graceMs = 30_000) {
    const child = this.child;
    child.expectedExit = true;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited(child);
    clearTimeout(timer);
    return { code: child.exitCode, signal: child.signalCode };
  }

  async json(path) {
    const res = await fetch(new URL(path, this.adminUrl), { signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** Client attempts per operator that could not connect, so far; null when /metrics does not answer. */
  async refusedAttempts() {
    try {
      const res = await fetch(new URL('/metrics', this.adminUrl), { signal: AbortSignal.timeout(1_000) });
      const text = await res.text();
      if (res.status !== 200) return null;
      const counts = {};
      for (const line of text.split('\n')) {
        if (!line.startsWith('din_upstream_requests_total{') || !line.includes('outcome="connect"')) continue;
        const op = /operator="([^"]*)"/.exec(line)?.[1];
        if (op === undefined) continue;
        counts[op] = (counts[op] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return counts;
    } catch {
      return null;
    }
  }

  /** Error- and fatal-level lines of the gateway's log (pino JSON: level 50, 60) and anything that is not JSON. */
  problems() {
    let text = '';
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return [];
    }
    const out = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        out.push(line.slice(0, 300));
        continue;
      }
      if (entry.level >= 50) out.push(`${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`.slice(0, 300));
    }
    return out;
  }
}

// ---- The ledger check ----

/** Every operator's balances against the replay of its events (through the admin API). */
async function ledgerCheck(gw) {
  const { operators } = await gw.json('/v1/operators');
  const result = { ok: true, operators: operators.length, events: 0, mismatches: [], eventIds: [], violations: [], final: {} };
  for (const op of operators) {
    const { events } = await gw.json(`/v1/events?operator=${encodeURIComponent(op.id)}&limit=1000`);
    if (events.length >= 1000) {
      result.ok = false;
      result.mismatches.push(`${op.id}: 1,000 events or more, the API cannot return them all`);
      continue;
    }
    result.events += events.length;
    for (const e of events) result.eventIds.push(e.id);
    const b = replay(events.map((e) => ({
      ...e,
      amount: BigInt(e.amount),
      ...(e.fromActive === undefined ? {} : { fromActive: BigInt(e.fromActive) }),
      ...(e.fromUnbonding === undefined ? {} : { fromUnbonding: BigInt(e.fromUnbonding) }),
    })));
    const pairs = [['active', op.stakedAmount], ['unbonding', op.unbondingAmount], ['withdrawable', op.withdrawableAmount], ['slashed', op.slashedAmount]];
    for (const [name, shown] of pairs) {
      if (BigInt(shown) !== b[name]) {
        result.ok = false;
        result.mismatches.push(`${op.id}: ${name} ${shown} wei, the events replay to ${b[name]}`);
      }
    }
    for (const v of op.violations ?? []) result.violations.push(`${op.id} ${v.type}/${v.severity}`);
    result.final[op.id] = { score: op.performanceScore, eligible: op.eligible, probation: op.probation, jailed: op.jailedUntil > Date.now(), stakeWei: op.stakedAmount, slashedWei: op.slashedAmount };
  }
  return result;
}

// ---- One scenario ----

async function runScenario(scenario, redis, index) {
  const faultS = scenario.faultSeconds ?? timing.fault;
  const recoverS = scenario.recoverSeconds ?? timing.recover;
  const totalS = timing.warm + faultS + recoverS;
  const dir = join(workDir, `${index}-${scenario.name}`);
  mkdirSync(dir);
  const profile = { ...HONEST, ...(scenario.profile ?? {}) };
  const sims = Array.from({ length: OPERATORS }, (_, i) => new SimulatedOperator({ name: `op${i}`, profile }));
  const urls = await Promise.all(sims.map((s) => s.start()));
  const [rpcPort, adminPort] = [await freePort(), await freePort()];
  const config = merge(merge(GATEWAY_CONFIG, {
    rpc: { port: rpcPort },
    admin: { port: adminPort },
    redisUrl: redis.url,
    staking: { redisKeyPrefix: `chaos-${index}-${scenario.name}:` },
    operators: urls.map((url, i) => ({ id: `op${i}`, url, stake: STAKE_WEI })),
  }), merge(scenario.config ?? {}, CONFIG_PATCH));
  parseConfig(config); // a bad patch fails here, with the field named, not as a gateway that will not start
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const gw = new GatewayProcess(configFile, rpcPort, adminPort, join(dir, 'gateway.log'));
  const firstStart = await gw.start();

  const marks = {};
  const signals = [];
  const ledgerAcrossKills = [];
  const restarts = [];
  const actions = {
    stopOperator: ({ op }) => Promise.all(pick(sims, op).map((s) => s.stop())),
    startOperator: ({ op }) => Promise.all(pick(sims, op).map((s) => s.start())),
    setProfile: ({ op, patch }) => pick(sims, op).forEach((s) => s.setProfile(patch)),
    killRedis: () => redis.kill(),
    startRedis: () => redis.start(),
    wait: ({ seconds }) => sleep(seconds * 1000),
    signalGateway: async ({ signal }) => {
      let before = null;
      try {
        before = await ledgerCheck(gw);
      } catch (err) {
        log(`${scenario.name}: ledger before ${signal} unavailable (${err.message})`);
      }
      const at = Date.now();
      const exit = await gw.signal(signal);
      signals.push({ signal, at, exitedAfterMs: Date.now() - at, exit });
      ledgerAcrossKills.push({ signal, before });
    },
    startGateway: async () => {
      const at = Date.now();
      const { listeningMs } = await gw.start();
      restarts.push({ at, listeningAfterMs: listeningMs, readyAfterMs: Date.now() - at });
      const last = ledgerAcrossKills.at(-1);
      if (last && last.before) {
        const after = await ledgerCheck(gw);
        const kept = new Set(after.eventIds);
        last.lostEvents = last.before.eventIds.filter((id) => !kept.has(id)).length;
        last.afterOk = after.ok;
      }
    },
  };
  async function runSteps(steps) {
    for (const step of steps) {
      const fn = actions[step.do];
      if (!fn) throw new Error(`${scenario.name}: unknown step "${step.do}"`);
      await fn(step);
    }
  }

  // Traffic samples: each operator's client attempts so far, every SAMPLE_MS.
  const samples = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = Date.now();
      const refused = await gw.refusedAttempts();
      const received = Object.fromEntries(sims.map((sim, i) => [`op${i}`, sim.stats.byMethod.get(LOAD_METHOD) ?? 0]));
      samples.push({ t, received, refused });
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - t)));
    }
  })();

  const recordFile = join(dir, 'requests.json');
  const client = track(spawn(process.execPath, [
    here('./rate-client.mjs'), '--url', gw.rpcUrl, '--body', LOAD_BODY, '--rate', String(RATE), '--duration', String(totalS),
    '--warmup', '0', '--connections', '256', '--timeout', '5', '--expect', EXPECTED, '--record', recordFile,
  ], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let clientOut = '';
  client.stdout.on('data', (d) => (clientOut += d));
  const loadStart = Date.now();
  const at = (s) => sleep(Math.max(0, loadStart + s * 1000 - Date.now()));

  await at(timing.warm);
  marks.fault = Date.now();
  await runSteps(scenario.fault);
  marks.faultDone = Date.now();
  await at(timing.warm + faultS);
  marks.recover = Date.now();
  await runSteps(scenario.recover);
  marks.recoverDone = Date.now();
  await exited(client);
  sampling = false;
  await sampler;

  let ledger;
  try {
    ledger = await ledgerCheck(gw);
  } catch (err) {
    ledger = { ok: false, mismatches: [`the check could not run: ${err.message}`] };
  }
  const problems = gw.problems();
  const unexpectedExits = gw.unexpectedExits;
  if (gw.child.exitCode === null && gw.child.signalCode === null) await gw.signal('SIGTERM');
  await Promise.all(sims.map((s) => s.stop()));

  const load = JSON.parse(clientOut.trim().split('\n').at(-1));
  const record = JSON.parse(readFileSync(recordFile, 'utf8'));
  const requests = record.requests.map(([sent, done, status]) => ({ sent: record.epochMs + sent, done: record.epochMs + done, status }));
  return {
    name: scenario.name,
    what: scenario.what,
    seconds: { warm: timing.warm, fault: faultS, recover: recoverS },
    rate: RATE,
    client: clientSummary(requests, marks, loadStart),
    load: { serviceUs: load.serviceUs, maxInflight: load.maxInflight },
    traffic: trafficSummary(samples, scenario.faulty, marks, recoverS),
    gateway: {
      unexpectedExits,
      errorLogLines: problems.length,
      errorLogSample: [...new Set(problems)].slice(0, 5),
      signals: signals.map((s) => ({ ...s, inflight: inflightAt(requests, s.at) })),
      firstStart,
      restarts,
    },
    ledger: {
      ok: ledger.ok && ledgerAcrossKills.every((k) => k.before !== null && k.lostEvents === 0 && k.afterOk),
      operators: ledger.operators,
      events: ledger.events,
      mismatches: ledger.mismatches,
      violations: ledger.violations,
      final: ledger.final,
      acrossKills: ledgerAcrossKills.map((k) => ({ signal: k.signal, eventsBefore: k.before?.events ?? null, lostEvents: k.lostEvents ?? null, replayOkAfterRestart: k.afterOk ?? null })),
    },
  };
}

function pick(sims, op) {
  return op === 'all' ? sims : [sims[Number(op.slice(2))]];
}

/** Plain-object merge: `patch` over `base`, recursively; arrays and scalars replace. */
function merge(base, patch) {
  const out = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object' && !Array.isArray(base[k]) ? merge(base[k], v) : v;
  }
  return out;
}

function failed(r) {
  return r.status !== 200 && r.status !== 429;
}

function clientSummary(requests, marks, loadStart) {
  // Until the recovery steps are done: a restarted gateway is down until it is ready again.
  const during = requests.filter((r) => r.sent >= marks.fault && r.sent < marks.recoverDone);
  const failures = requests.filter(failed);
  const lastFailure = failures.reduce((m, r) => Math.max(m, r.sent), -Infinity);
  const count = (pred) => requests.filter(pred).length;
  return {
    requests: requests.length,
    ok: count((r) => r.status === 200),
    connectionErrors: count((r) => r.status === 0),
    non200: count((r) => r.status > 0 && r.status !== 200 && r.status !== 429),
    byStatus: Object.fromEntries([...new Set(requests.map((r) => r.status))].sort((a, b) => a - b).map((s) => [s, count((r) => r.status === s)])),
    wrongAnswers: count((r) => r.status === -1),
    // When wrong answers were sent, in s from the fault: do they stop once the liar loses its traffic?
    wrongSentS: spanS(requests.filter((r) => r.status === -1), marks.fault),
    rateLimited: count((r) => r.status === 429),
    errorRate: failures.length / requests.length,
    duringFault: { requests: during.length, errorRate: during.length ? during.filter(failed).length / during.length : 0 },
    // Failures before the fault are a harness or baseline problem; shown apart.
    failuresBeforeFault: count((r) => failed(r) && r.sent < marks.fault),
    lastFailureAfterRecoveryS: lastFailure > marks.recover ? round((lastFailure - marks.recover) / 1000) : null,
    // Of 200s, from write to last byte; the first second (connections opening, a cold JIT) left out.
    p99Ms: percentile(requests.filter((r) => r.status === 200 && r.sent >= loadStart + 1000).map((r) => r.done - r.sent), 99),
  };
}

function spanS(requests, from) {
  if (requests.length === 0) return null;
  const sent = requests.map((r) => r.sent);
  return { first: round((Math.min(...sent) - from) / 1000), last: round((Math.max(...sent) - from) / 1000) };
}

/**
 * A request written this long before a signal has been read by the gateway (it was in flight),
 * even on a machine busy enough to stall an event loop for a while.
 */
const READ_MS = 200;

/**
 * Requests unsettled at `at`: those written at least READ_MS before (in flight in the gateway),
 * and those written just before (perhaps still in the socket, unread), with how many got a 200.
 */
function inflightAt(requests, at) {
  const open = requests.filter((r) => r.sent < at && r.done > at);
  const inflight = open.filter((r) => r.sent <= at - READ_MS);
  const justSent = open.filter((r) => r.sent > at - READ_MS);
  const ok = (xs) => xs.filter((r) => r.status === 200).length;
  return { requests: inflight.length, ok: ok(inflight), justSent: { requests: justSent.length, ok: ok(justSent) } };
}

function percentile(xs, p) {
  if (xs.length === 0) return null;
  const a = Float64Array.from(xs).sort();
  return round(a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)], 1);
}

/** Each operator's traffic (requests received + attempts refused) per second over windows of `windowMs` ending at each sample. */
function rates(samples, op, windowMs) {
  const out = [];
  const cumulative = [0];
  let lastRefused = samples[0]?.refused?.[op] ?? 0;
  for (let i = 1; i < samples.length; i++) {
    let add = samples[i].received[op] - samples[i - 1].received[op];
    // Refused attempts: none counted while /metrics is down; a count below the last one is a
    // restarted gateway counting from 0.
    const refused = samples[i].refused;
    if (refused !== null) {
      const b = refused[op] ?? 0;
      add += b >= lastRefused ? b - lastRefused : b;
      lastRefused = b;
    }
    cumulative.push(cumulative[i - 1] + add);
  }
  let j = 0;
  for (let i = 1; i < samples.length; i++) {
    while (j + 1 < i && samples[j + 1].t <= samples[i].t - windowMs) j++;
    const span = samples[i].t - samples[j].t;
    if (span < windowMs) continue;
    out.push({ start: samples[j].t, end: samples[i].t, perS: ((cumulative[i] - cumulative[j]) * 1000) / span });
  }
  return out;
}

function trafficSummary(samples, faulty, marks, recoverS) {
  const fair = RATE / OPERATORS;
  const ops = Array.from({ length: OPERATORS }, (_, i) => `op${i}`);
  const share = (from, to) =>
    Object.fromEntries(ops.map((op) => {
      const w = rates(samples, op, TRAFFIC_WINDOW_MS).filter((x) => x.start >= from && x.end <= to);
      return [op, w.length ? round(w.reduce((s, x) => s + x.perS, 0) / w.length / RATE) : null];
    }));
  const perOp = {};
  for (const op of faulty) {
    const r = rates(samples, op, TRAFFIC_WINDOW_MS);
    const inFault = r.filter((x) => x.start >= marks.fault && x.end <= marks.recover);
    const lost = inFault.findIndex((x) => x.perS < LOST_BELOW * fair);
    const lostFrom = lost === -1 ? null : inFault[lost].start;
    const afterLoss = lost === -1 ? [] : inFault.slice(lost);
    const after = r.filter((x) => x.start >= marks.recover);
    const back = after.find((x, k) => x.perS >= BACK_ABOVE * fair && after.slice(k + 1).find((y) => y.start >= x.end)?.perS >= BACK_ABOVE * fair);
    perOp[op] = {
      loseS: lostFrom === null ? null : round((lostFrom - marks.fault) / 1000),
      shareAfterLoss: afterLoss.length ? round(afterLoss.reduce((sum, x) => sum + x.perS, 0) / afterLoss.length / RATE, 3) : null,
      earnBackS: back === undefined ? null : round((back.end - marks.recover) / 1000),
    };
  }
  const worst = (key) => {
    const xs = faulty.map((op) => perOp[op][key]);
    return xs.length === 0 ? undefined : xs.includes(null) ? null : Math.max(...xs);
  };
  // Each operator's share of the load per second, from 1 s before the fault: what the table's times come from.
  const timeline = Object.fromEntries(ops.map((op) => {
    const points = [];
    let next = marks.fault - 1000;
    for (const x of rates(samples, op, TRAFFIC_WINDOW_MS)) {
      if (x.start < next) continue;
      points.push([round((x.start - marks.fault) / 1000, 1), round(x.perS / RATE)]);
      next = x.end;
    }
    return [op, points];
  }));
  return {
    samples: samples.length,
    timeline,
    shareBefore: share(-Infinity, marks.fault),
    shareDuringFault: share(marks.faultDone, marks.recover),
    shareAtEnd: share(marks.recoverDone + (recoverS * 1000) / 2, Infinity),
    perOperator: perOp,
    loseS: worst('loseS'),
    earnBackS: worst('earnBackS'),
  };
}

const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

// ---- Report ----

function pct(x) {
  return `${(x * 100).toFixed(x > 0 && x < 0.001 ? 3 : x < 0.1 ? 2 : 1)} %`;
}

function markdown(run) {
  const lines = [];
  lines.push(`Chaos run ${run.startedAt} (${run.profile} profile, ${run.rate} req/s, ${run.operators} operators, windowSeconds ${run.gatewayConfig.windowSeconds}; ${run.machine.nproc} × ${run.machine.cpuModel}, Node ${run.machine.node}; load average ${run.machine.loadAverage1mBefore} before, ${run.machine.loadAverage1mAfter} after)`);
  lines.push('');
  lines.push('| scenario | requests | failed | error rate | from fault to recovered | wrong answers | p99 ok (ms) | loses traffic (s) | earns it back (s) | last failure after recovery (s) | ledger | gateway |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of run.scenarios) {
    const c = r.client;
    const t = r.traffic;
    const time = (x, none) => (x === undefined ? '–' : x === null ? none : x.toFixed(1));
    const gwNotes = [];
    if (r.gateway.unexpectedExits.length) gwNotes.push(`**${r.gateway.unexpectedExits.length} crash(es)**`);
    for (const s of r.gateway.signals) gwNotes.push(`${s.signal}: exit after ${(s.exitedAfterMs / 1000).toFixed(1)} s, in flight ${s.inflight.ok}/${s.inflight.requests} ok (written < ${READ_MS} ms before: ${s.inflight.justSent.ok}/${s.inflight.justSent.requests})`);
    for (const s of r.gateway.restarts) gwNotes.push(`restarted: listening after ${(s.listeningAfterMs / 1000).toFixed(1)} s, ready ${(s.readyAfterMs / 1000).toFixed(1)} s`);
    if (r.gateway.errorLogLines) gwNotes.push(`${r.gateway.errorLogLines} error log lines`);
    const ledger = r.ledger.ok ? `ok (${r.ledger.events} events${r.ledger.acrossKills.length ? `, ${r.ledger.acrossKills.map((k) => `${k.eventsBefore} kept`).join(', ')} across the kill` : ''})` : `**FAIL** ${r.ledger.mismatches.join('; ')}`;
    const failedN = c.requests - c.ok - c.rateLimited;
    lines.push(`| ${r.name} | ${c.requests} | ${failedN} | ${pct(c.errorRate)} | ${r.name === 'baseline' ? '–' : pct(c.duringFault.errorRate)} | ${c.wrongAnswers} | ${c.p99Ms === null ? '–' : c.p99Ms.toFixed(0)} | ${time(t.loseS, 'kept')} | ${time(t.earnBackS, 'no')} | ${c.lastFailureAfterRecoveryS === null ? '–' : c.lastFailureAfterRecoveryS.toFixed(1)} | ${ledger} | ${gwNotes.join('; ') || 'ok'} |`);
  }
  lines.push('');
  lines.push('Per scenario: answers by status (0: connection failed or timed out, -1: wrong answer), violations recorded (operator type/severity), operators at the end (score, p: probation, j: jailed, x: not eligible):');
  lines.push('');
  for (const r of run.scenarios) {
    const final = Object.entries(r.ledger.final ?? {}).map(([id, f]) => `${id} ${f.score}${f.probation ? ' p' : ''}${f.jailed ? ' j' : ''}${f.eligible ? '' : ' x'}`).join(', ');
    const residual = Object.entries(r.traffic.perOperator).filter(([, x]) => x.shareAfterLoss !== null).map(([op, x]) => `${op} ${(x.shareAfterLoss * 100).toFixed(1)} %`);
    const kept = residual.length ? `; share of the load after losing it: ${residual.join(', ')}` : '';
    const wrong = r.client.wrongSentS ? ` (wrong answers sent ${r.client.wrongSentS.first} to ${r.client.wrongSentS.last} s after the fault)` : '';
    lines.push(`- ${r.name}: ${JSON.stringify(r.client.byStatus)}${wrong}; ${r.ledger.violations?.length ? r.ledger.violations.join(', ') : 'no violation'}; ${final}${kept}${r.client.rateLimited ? ` (${r.client.rateLimited} × 429: the rate limiter; raise its budget with --config-patch)` : ''}`);
  }
  return lines.join('\n') + '\n';
}

// ---- Main ----

const startedAt = new Date();
const loadBefore = (await import('node:os')).loadavg();
const redis = new RedisProcess(await freePort(), mkdtempSync(join(workDir, 'redis-')));
await redis.start();
const results = [];
let failure = null;
try {
  for (const [i, scenario] of chosen.entries()) {
    log(`${scenario.name}: ${scenario.what}`);
    const t = Date.now();
    if (redis.child.exitCode !== null || redis.child.signalCode !== null) await redis.start();
    const r = await runScenario(scenario, redis, i);
    results.push(r);
    log(`${scenario.name}: ${r.client.requests} requests, error rate ${pct(r.client.errorRate)}, loses ${r.traffic.loseS ?? '–'} s, back ${r.traffic.earnBackS ?? '–'} s, ledger ${r.ledger.ok ? 'ok' : 'FAIL'} (${((Date.now() - t) / 1000).toFixed(0)} s)`);
  }
} catch (err) {
  failure = err;
  log(`harness failure: ${err.stack ?? err}`);
}
await redis.kill();

const run = {
  startedAt: startedAt.toISOString(),
  profile: cli.profile,
  rate: RATE,
  operators: OPERATORS,
  timing,
  measurement: { sampleMs: SAMPLE_MS, trafficWindowMs: TRAFFIC_WINDOW_MS, lostBelow: LOST_BELOW, backAbove: BACK_ABOVE },
  gatewayConfig: merge(GATEWAY_CONFIG, CONFIG_PATCH),
  machine: { ...machineInfo(), loadAverage1mBefore: round(loadBefore[0]), loadAverage1mAfter: round((await import('node:os')).loadavg()[0]) },
  harnessError: failure === null ? null : String(failure.stack ?? failure),
  scenarios: results,
};
const stamp = `${startedAt.toISOString().slice(0, 10)}-${startedAt.toISOString().slice(11, 16).replace(':', '')}`;
const outJson = cli.out ?? join(root, 'bench/results', `${stamp}-chaos.json`);
mkdirSync(dirname(outJson), { recursive: true });
writeFileSync(outJson, JSON.stringify(run, null, 2) + '\n');
const md = markdown(run);
writeFileSync(outJson.replace(/\.json$/, '') + '.md', md);
process.stdout.write(md);
log(`results: ${outJson}`);
process.exit(failure === null ? 0 : 1);
