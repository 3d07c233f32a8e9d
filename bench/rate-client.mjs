// Fixed-rate (open-loop) load with microsecond latencies: POSTs `--body` to `--url` at `--rate`
// requests per second for `--duration` seconds, over an undici Pool, and prints one JSON line with
// the latency percentiles in µs. Run by bench/run.mjs in its own process (its CPU counts as the
// load generator's).
//
// Sends are scheduled at start + i / rate. Node's timers have 1 ms granularity, so a timer tick
// sends every request that is due (at 2,000 req/s: about 2 per tick, back to back); no busy loop,
// which would take a core from the proxy on a 2-core machine. Two latencies per request:
//   - "service": from just before the request is handed to undici until the whole body is read;
//   - "intended": from its scheduled time (corrected for coordinated omission: includes the timer's
//     lateness and any wait for a free connection).
// The first `--warmup` seconds are sent but not recorded.
//
// Usage: node bench/rate-client.mjs --url URL --body JSON [--rate 2000] [--duration 6]
//          [--warmup 1] [--connections 32]
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    body: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '32' },
  },
});
const url = new URL(values.url);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const body = values.body;
const pool = new Pool(url.origin, { connections: Number(values.connections), pipelining: 1, keepAliveTimeout: 60_000 });

const intervalNs = 1e9 / rate;
const total = Math.round(rate * (warmupS + durationS));
const warmN = Math.round(rate * warmupS);
const service = new Float64Array(total);
const intended = new Float64Array(total);
const okFlags = new Uint8Array(total);
let done = 0;
let errors = 0;
let non2xx = 0;
let maxInflight = 0;
let inflight = 0;

const now = () => Number(process.hrtime.bigint());

function send(i, dueNs) {
  const t0 = now();
  inflight++;
  if (inflight > maxInflight) maxInflight = inflight;
  pool
    .request({ path: url.pathname + url.search, method: 'POST', headers: { 'content-type': 'application/json' }, body })
    .then(async (res) => {
      await res.body.text();
      const t1 = now();
      service[i] = (t1 - t0) / 1000;
      intended[i] = (t1 - dueNs) / 1000;
      if (res.statusCode === 200) okFlags[i] = 1;
      else non2xx++;
    })
    .catch(() => {
      errors++;
    })
    .finally(() => {
      inflight--;
      if (++done === total) finish();
    });
}

const startNs = now() + 5e6;
let next = 0;
function tick() {
  const t = now();
  while (next < total && startNs + next * intervalNs <= t) {
    send(next, startNs + next * intervalNs);
    next++;
  }
  if (next < total) {
    const waitMs = (startNs + next * intervalNs - now()) / 1e6;
    setTimeout(tick, Math.max(0, waitMs));
  }
}
setTimeout(tick, 5);

function percentiles(arr) {
  const a = Float64Array.from(arr).sort();
  const p = (q) => (a.length ? a[Math.min(a.length - 1, Math.ceil((q / 100) * a.length) - 1)] : null);
  const r = (x) => (x === null ? null : Math.round(x));
  return { p50: r(p(50)), p90: r(p(90)), p99: r(p(99)), p999: r(p(99.9)), max: r(a.at(-1) ?? null), mean: a.length ? Math.round(a.reduce((s, x) => s + x, 0) / a.length) : null };
}

async function finish() {
  const endNs = now();
  const rec = [];
  const recIntended = [];
  for (let i = warmN; i < total; i++) {
    if (okFlags[i]) {
      rec.push(service[i]);
      recIntended.push(intended[i]);
    }
  }
  const measuredStartNs = startNs + warmN * intervalNs;
  process.stdout.write(
    JSON.stringify({
      requests: total - warmN,
      ok: rec.length,
      seconds: (endNs - measuredStartNs) / 1e9,
      scheduledSeconds: durationS,
      rate,
      errors,
      non2xx,
      maxInflight,
      serviceUs: percentiles(rec),
      intendedUs: percentiles(recIntended),
    }) + '\n',
  );
  await pool.close();
  process.exit(0);
}
