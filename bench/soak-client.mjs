// Fixed-rate (open-loop) load for long runs, used by bench/soak.mjs: rate-client.mjs's schedule
// (request i sent at start + i / rate from 1 ms timer ticks, no busy loop), but over an undici
// Pool (a soak measures the gateway's memory, not latency, so the client's CPU matters less), it
// keeps no per-request arrays (two HDR histograms instead), checks every answer (HTTP 200 and a
// JSON-RPC `result`: a JSON-RPC `error` counts as an error), and prints one JSON line per
// `--report` seconds so the harness can follow the run.
//
// Usage: node bench/soak-client.mjs --url URL --body JSON [--rate 2000] [--duration 300]
//          [--connections 32] [--report 5]
// stdout, one JSON object per line:
//   {"type":"start","pid"}                                            once, when sending starts;
//   {"type":"interval","t","seconds","sent","ok","non200","rpcErrors","transportErrors","inflight",
//    "serviceUs":{p50,p99,max},"intendedUs":{p50,p99,max}}           every --report s (t: s since start);
//   {"type":"final", totals, "serviceUs", "intendedUs", "errorSamples"} at the end, then it exits.
// "service": from just before the request is handed to undici until its body is read; "intended":
// from its scheduled time (corrected for coordinated omission). Latencies in µs.
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { exitWhenParentGoes } from './lib.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    body: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '300' },
    connections: { type: 'string', default: '32' },
    report: { type: 'string', default: '5' },
  },
});
const url = new URL(values.url);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const reportS = Number(values.report);
const body = values.body;
const path = url.pathname + url.search;
const headers = { 'content-type': 'application/json' };
const pool = new Pool(url.origin, {
  connections: Number(values.connections),
  pipelining: 1,
  keepAliveTimeout: 60_000,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
});

const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
const clamp = (us) => Math.min(60_000_000, Math.max(1, Math.round(us)));
const all = { service: newHist(), intended: newHist() };
const cur = { service: newHist(), intended: newHist() };
const totals = { sent: 0, ok: 0, non200: 0, rpcErrors: 0, transportErrors: 0 };
let last = { ...totals };
const errorSamples = [];
let inflight = 0;
let maxInflight = 0;

const now = () => Number(process.hrtime.bigint());
const intervalNs = 1e9 / rate;
const total = Math.round(rate * durationS);

function sample(kind, detail) {
  if (errorSamples.length < 10) errorSamples.push({ kind, detail: String(detail).slice(0, 300) });
}

function send(dueNs) {
  const t0 = now();
  totals.sent++;
  inflight++;
  if (inflight > maxInflight) maxInflight = inflight;
  pool
    .request({ path, method: 'POST', headers, body })
    .then(async (res) => {
      const text = await res.body.text();
      const t1 = now();
      if (res.statusCode !== 200) {
        totals.non200++;
        sample(`HTTP ${res.statusCode}`, text);
        return;
      }
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        totals.rpcErrors++;
        sample('not JSON', text);
        return;
      }
      if (json === null || typeof json !== 'object' || json.error !== undefined || typeof json.result !== 'string') {
        totals.rpcErrors++;
        sample('JSON-RPC error', text);
        return;
      }
      totals.ok++;
      const s = clamp((t1 - t0) / 1000);
      const i = clamp((t1 - dueNs) / 1000);
      all.service.recordValue(s);
      all.intended.recordValue(i);
      cur.service.recordValue(s);
      cur.intended.recordValue(i);
    })
    .catch((err) => {
      totals.transportErrors++;
      sample('transport', err?.code ?? err?.message ?? err);
    })
    .finally(() => {
      inflight--;
      if (next >= total && inflight === 0) finish();
    });
}

const pct = (h) => (h.totalCount ? { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue } : { p50: null, p99: null, max: null });
const pctFull = (h) =>
  h.totalCount
    ? { p50: h.getValueAtPercentile(50), p90: h.getValueAtPercentile(90), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue, mean: Math.round(h.mean) }
    : null;

const startNs = now() + 5e6;
let next = 0;
let lastReportNs = startNs;
let reportNo = 0;
function report() {
  const t = now();
  const line = { type: 'interval', t: +((t - startNs) / 1e9).toFixed(3), seconds: +((t - lastReportNs) / 1e9).toFixed(3), inflight };
  for (const k of Object.keys(totals)) line[k] = totals[k] - last[k];
  line.serviceUs = pct(cur.service);
  line.intendedUs = pct(cur.intended);
  process.stdout.write(JSON.stringify(line) + '\n');
  cur.service.reset();
  cur.intended.reset();
  last = { ...totals };
  lastReportNs = t;
}
let reportTimer;
function scheduleReport() {
  reportNo++;
  reportTimer = setTimeout(() => {
    report();
    if (next < total) scheduleReport();
  }, Math.max(0, (startNs + reportNo * reportS * 1e9 - now()) / 1e6));
}

function tick() {
  const t = now();
  while (next < total && startNs + next * intervalNs <= t) {
    send(startNs + next * intervalNs);
    next++;
  }
  if (next < total) setTimeout(tick, Math.max(0, (startNs + next * intervalNs - now()) / 1e6));
}

let finished = false;
async function finish() {
  if (finished) return;
  finished = true;
  clearTimeout(reportTimer);
  if (now() - lastReportNs > 0.5e9) report();
  process.stdout.write(
    JSON.stringify({
      type: 'final',
      seconds: +((now() - startNs) / 1e9).toFixed(3),
      scheduledSeconds: durationS,
      rate,
      ...totals,
      maxInflight,
      serviceUs: pctFull(all.service),
      intendedUs: pctFull(all.intended),
      errorSamples,
    }) + '\n',
  );
  await pool.close();
  process.exit(0);
}

process.stdout.write(JSON.stringify({ type: 'start', pid: process.pid, rate, durationS }) + '\n');
setTimeout(tick, 5);
scheduleReport();
exitWhenParentGoes(() => process.exit(0));
