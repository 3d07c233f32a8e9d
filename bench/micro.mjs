// Micro-benchmarks of the hot functions and of the window tick, on the compiled dist/.
// Usage: npm run bench:micro   (prints a Markdown table; nothing is asserted)
// Each case runs a warm-up, then timed batches; the median batch gives ns per operation.
import { parseRequestBody } from '../dist/router/jsonrpc.js';
import { blockNeed } from '../dist/router/block-need.js';
import { ChainRoute } from '../dist/router/routing-table.js';
import { initLatencyHistograms } from '../dist/metrics/latency-histogram.js';
import { Measurement } from '../dist/metrics/measurement.js';
import { methodIndex } from '../dist/metrics/method-labels.js';
import { RateLimiter } from '../dist/router/rate-limit.js';
import uWS from 'uWebSockets.js';

await initLatencyHistograms();

// A child process timing the window tick for one operator count (see tickCase below).
const tickArg = process.argv.indexOf('--tick');
if (tickArg !== -1) {
  const r = await tickCase(Number(process.argv[tickArg + 1]), Number(process.argv[tickArg + 2] ?? 1));
  console.log(JSON.stringify(r));
  process.exit(0);
}

function timeIt(name, opsPerBatch, batch, batches = 15) {
  for (let i = 0; i < 3; i++) batch();
  const ns = [];
  for (let i = 0; i < batches; i++) {
    const t = process.hrtime.bigint();
    batch();
    ns.push(Number(process.hrtime.bigint() - t) / opsPerBatch);
  }
  ns.sort((a, b) => a - b);
  return { name, nsPerOp: ns[ns.length >> 1], best: ns[0] };
}

const rows = [];
let sink = 0;

const single = '{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x742d35cc6634c0532925a3b844bc9e7595f0beb0","latest"]}';
const batch10 = `[${Array.from({ length: 10 }, (_, i) => single.replace('"id":1', `"id":${i}`)).join(',')}]`;
// Bytes, as the gateway reads bodies (the scanning fast paths); text goes through JSON.parse.
const singleBytes = Buffer.from(single);
const batch10Bytes = Buffer.from(batch10);
rows.push(timeIt('parse + validate: single request (bytes)', 100_000, () => { for (let i = 0; i < 100_000; i++) sink += parseRequestBody(singleBytes, 100).kind.length; }));
rows.push(timeIt('parse + validate: batch of 10 (bytes)', 10_000, () => { for (let i = 0; i < 10_000; i++) sink += parseRequestBody(batch10Bytes, 100).kind.length; }));
rows.push(timeIt('parse + validate: single request (text, JSON.parse)', 100_000, () => { for (let i = 0; i < 100_000; i++) sink += parseRequestBody(single, 100).kind.length; }));
rows.push(timeIt('parse + validate: batch of 10 (text, JSON.parse)', 10_000, () => { for (let i = 0; i < 10_000; i++) sink += parseRequestBody(batch10, 100).kind.length; }));

// What block a request needs (block-need.ts), on calls read from bytes as the gateway reads them.
const singleCall = (text) => parseRequestBody(Buffer.from(text), 100).call;
const ethCallAt = singleCall('{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x742d35cc6634c0532925a3b844bc9e7595f0beb0","data":"0x70a08231000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"},"0x12a05f2"]}');
const ethCallLatest = singleCall('{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x742d35cc6634c0532925a3b844bc9e7595f0beb0","data":"0x70a08231000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"},"latest"]}');
const blockNumberCall = singleCall('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}');
rows.push(timeIt('blockNeed: eth_call at a block number', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += blockNeed(ethCallAt); }));
rows.push(timeIt('blockNeed: eth_call at latest', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += blockNeed(ethCallLatest); }));
rows.push(timeIt('blockNeed: eth_blockNumber', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += blockNeed(blockNumberCall); }));
// The set a request draws from (ChainRoute.setFor): 10 operators at 5 distinct heads, the tip set narrower than all.
{
  const entries = Array.from({ length: 10 }, (_, i) => ({ operator: { id: `op${i}`, index: i, chain: 'ethereum', upstream: null }, weight: 1 + i, head: 100 - (i % 5), atTip: i % 5 < 3 }));
  const route = new ChainRoute('ethereum', entries, 0.05, { tip: 100, safe: 90, finalized: 80, maxBlockLag: 2 });
  rows.push(timeIt('ChainRoute.setFor: a block number between levels', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += route.setFor(98).operators.length; }));
  rows.push(timeIt('ChainRoute.setFor: the tip', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += route.setFor(-2).operators.length; }));
}

// A pick is O(1) (alias table); what still grows with n is where the operator objects and the
// table sit in the caches (L1 at 100 operators, L2 at 1,000 and 10,000, beyond at 100,000).
for (const n of [10, 100, 1_000, 10_000, 100_000]) {
  const entries = Array.from({ length: n }, (_, i) => ({ operator: { id: `op${i}`, index: i, chain: 'ethereum', upstream: null }, weight: 1 + (i % 7) }));
  const route = new ChainRoute('ethereum', entries, 0.05);
  rows.push(timeIt(`select: weighted pick among ${n.toLocaleString('en-US')} operators`, 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += route.draw(Math.random).index; }));
}
// Building a chain's table (validation + alias table), done for every published routing table.
for (const n of [10_000, 100_000]) {
  const entries = Array.from({ length: n }, (_, i) => ({ operator: { id: `op${i}`, index: i, chain: 'ethereum', upstream: null }, weight: 1 + (i % 7) + Math.random() }));
  const builds = n === 10_000 ? 50 : 5;
  rows.push(timeIt(`select: build the table of ${n.toLocaleString('en-US')} operators`, builds, () => { for (let i = 0; i < builds; i++) sink += new ChainRoute('ethereum', entries, 0.05).operators.length; }));
}

{
  const m = new Measurement({ windowSeconds: 10, now: () => 0 });
  for (let i = 0; i < 16; i++) m.addOperator(i, `op${i}`, 'ethereum');
  const method = methodIndex('eth_getBalance');
  rows.push(timeIt('measure: recordAttempt (HDR + counters)', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) m.recordAttempt(i & 15, method, 'success', 200 + (i & 4095)); }));
  m.destroy();
}

// Rate limiting's admission: a method's cost and one charge to a local bucket (one client, and
// the next of 10,000 clients), and uWS's read of the client's address that precedes it.
{
  const limiter = new RateLimiter(
    { perIp: { rate: 1e9, burst: 1e9 }, costs: { default: 1, methods: { eth_getLogs: 10 }, prefixes: { debug_: 25, trace_: 25 } }, maxBuckets: 100_000, leaseTokens: 50, allowance: 500 },
    new Map(),
    undefined,
  );
  rows.push(timeIt('rate limit: cost + charge, one client', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += limiter.charge(0x7f000001, undefined, limiter.costs.of('eth_getBalance')); }));
  rows.push(timeIt('rate limit: cost + charge, 10,000 clients in turn', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += limiter.charge(0x0a000000 + (i % 10_000), undefined, limiter.costs.of('debug_traceCall')); }));
  limiter.close();
  rows.push(await new Promise((resolve) => {
    const app = uWS.App().post('/', (res) => {
      res.onAborted(() => {});
      resolve(timeIt('rate limit: uWS res.getRemoteAddress() (an ArrayBuffer per call)', 10_000, () => { for (let i = 0; i < 10_000; i++) sink += new Uint8Array(res.getRemoteAddress())[3]; }));
      res.end('');
    });
    app.listen('127.0.0.1', 0, (socket) => {
      fetch(`http://127.0.0.1:${uWS.us_socket_local_port(socket)}/`, { method: 'POST', body: '' }).then((r) => r.text()).finally(() => uWS.us_listen_socket_close(socket));
    });
  }));
}

// The window tick runs in a child process per case (`--tick N activeShare`), one after the
// other, so each reports its own RSS: memory a case frees is not reliably given back to the
// OS (WebAssembly memory never is), so sizes measured in one process would pile up. The
// 1 % active case shows what idle operators cost.
async function tickCase(n, active) {
  let now = 0;
  const rss0 = process.memoryUsage().rss;
  // The default history: 5 minutes of 10 s windows (30 closed windows per operator).
  const m = new Measurement({ windowSeconds: 10, now: () => now });
  for (let i = 0; i < n; i++) m.addOperator(i, `op${i}`, 'ethereum');
  const activeEvery = Math.round(1 / active);
  // Wall time, and CPU time of this process: on a shared machine the wall time also
  // counts waiting for a core.
  const cpuMs = [];
  const window = () => {
    for (let i = 0; i < n; i += activeEvery) for (let k = 0; k < 20; k++) m.recordAttempt(i, 2, 'success', 300 + ((k * 7919) % 20_000));
    now += 10_000;
    const c = process.cpuUsage();
    const t = performance.now();
    m.closeWindow();
    const wall = performance.now() - t;
    const d = process.cpuUsage(c);
    cpuMs.push((d.user + d.system) / 1000);
    return wall;
  };
  // Fill the ring (and one more lap of overwrites) before timing anything.
  const fill = [];
  for (let w = 0; w < m.historyWindows + 5; w++) fill.push(window());
  globalThis.gc?.();
  const mem = process.memoryUsage();
  const times = [];
  cpuMs.length = 0;
  for (let w = 0; w < 15; w++) times.push(window());
  times.sort((a, b) => a - b);
  cpuMs.sort((a, b) => a - b);
  fill.sort((a, b) => a - b);
  const view = performance.now();
  for (let i = 0; i < Math.min(n, 1000); i++) m.view(i, m.historyWindows);
  const viewUs = ((performance.now() - view) * 1000) / Math.min(n, 1000);
  m.destroy();
  return {
    n, active, history: m.historyWindows,
    medianMs: times[times.length >> 1], maxMs: times[times.length - 1],
    cpuMedianMs: cpuMs[cpuMs.length >> 1], cpuMaxMs: cpuMs[cpuMs.length - 1],
    fillMedianMs: fill[fill.length >> 1], fillMaxMs: fill[fill.length - 1],
    rssMB: mem.rss / 2 ** 20, rssBeforeMB: rss0 / 2 ** 20, heapMB: mem.heapUsed / 2 ** 20, arrayBuffersMB: mem.arrayBuffers / 2 ** 20,
    fiveMinuteViewUs: viewUs,
  };
}

const { execFileSync } = await import('node:child_process');
const { fileURLToPath } = await import('node:url');
const ticks = [];
for (const [n, active] of [[10, 1], [1_000, 1], [10_000, 1], [10_000, 0.01]]) {
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--tick', String(n), String(active)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  ticks.push(JSON.parse(out.trim().split('\n').pop()));
}

console.log(`\nMicro-benchmarks (node ${process.version}, ${new Date().toISOString()})\n`);
console.log('| operation | ns/op (median batch) | ns/op (best batch) |\n| --- | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.nsPerOp.toFixed(1)} | ${r.best.toFixed(1)} |`);
console.log('\n| window tick (measurement close, 20 attempts per active operator, 5-minute history filled) | median ms | max ms | CPU median / max ms | ticks while filling: median / max ms | RSS after filling (MB) | 5-minute view (µs) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const t of ticks) {
  const name = `${t.n.toLocaleString('en-US')} operators${t.active < 1 ? `, ${t.active * 100} % active` : ''}`;
  console.log(`| ${name} | ${t.medianMs.toFixed(1)} | ${t.maxMs.toFixed(1)} | ${t.cpuMedianMs.toFixed(1)} / ${t.cpuMaxMs.toFixed(1)} | ${t.fillMedianMs.toFixed(1)} / ${t.fillMaxMs.toFixed(1)} | ${t.rssMB.toFixed(0)} | ${t.fiveMinuteViewUs.toFixed(1)} |`);
}
if (sink === 42) console.log('');
