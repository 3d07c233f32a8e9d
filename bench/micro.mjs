// Micro-benchmarks of the hot functions and of the window tick, on the compiled dist/.
// Usage: npm run bench:micro   (prints a Markdown table; nothing is asserted)
// Each case runs a warm-up, then timed batches; the median batch gives ns per operation.
import { parseRequestBody } from '../dist/router/jsonrpc.js';
import { ChainRoute } from '../dist/router/routing-table.js';
import { initLatencyHistograms } from '../dist/metrics/latency-histogram.js';
import { Measurement } from '../dist/metrics/measurement.js';
import { methodIndex } from '../dist/metrics/method-labels.js';

await initLatencyHistograms();

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
rows.push(timeIt('parse + validate: single request', 100_000, () => { for (let i = 0; i < 100_000; i++) sink += parseRequestBody(single, 100).kind.length; }));
rows.push(timeIt('parse + validate: batch of 10', 10_000, () => { for (let i = 0; i < 10_000; i++) sink += parseRequestBody(batch10, 100).kind.length; }));

for (const n of [10, 100, 1_000, 10_000]) {
  const entries = Array.from({ length: n }, (_, i) => ({ operator: { id: `op${i}`, index: i, chain: 'ethereum', upstream: null }, weight: 1 + (i % 7) }));
  const route = new ChainRoute('ethereum', entries, 0.05);
  rows.push(timeIt(`select: weighted pick among ${n} operators`, 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) sink += route.draw(Math.random).index; }));
}

{
  const m = new Measurement({ windowSeconds: 10, now: () => 0 });
  for (let i = 0; i < 16; i++) m.addOperator(i, `op${i}`, 'ethereum');
  const method = methodIndex('eth_getBalance');
  rows.push(timeIt('measure: recordAttempt (HDR + counters)', 1_000_000, () => { for (let i = 0; i < 1_000_000; i++) m.recordAttempt(i & 15, method, 'success', 200 + (i & 4095)); }));
  m.destroy();
}

const ticks = [];
for (const n of [10, 1_000, 10_000]) {
  let now = 0;
  // Two windows of history keep the 10,000-operator case within this machine's memory; the
  // default (5 minutes of windows) is measured in docs/performance.md.
  const m = new Measurement({ windowSeconds: 10, historyWindows: 2, now: () => now });
  for (let i = 0; i < n; i++) m.addOperator(i, `op${i}`, 'ethereum');
  const times = [];
  for (let w = 0; w < 6; w++) {
    for (let i = 0; i < n; i++) for (let k = 0; k < 20; k++) m.recordAttempt(i, 2, 'success', 300 + ((k * 7919) % 20_000));
    now += 10_000;
    const t = performance.now();
    m.closeWindow();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  ticks.push({ n, medianMs: times[times.length >> 1], maxMs: times[times.length - 1] });
  m.destroy();
}

console.log(`\nMicro-benchmarks (node ${process.version}, ${new Date().toISOString()})\n`);
console.log('| operation | ns/op (median batch) | ns/op (best batch) |\n| --- | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.nsPerOp.toFixed(1)} | ${r.best.toFixed(1)} |`);
console.log('\n| window tick (measurement close, 20 attempts per operator) | median ms | max ms |\n| --- | ---: | ---: |');
for (const t of ticks) console.log(`| ${t.n} operators | ${t.medianMs.toFixed(1)} | ${t.maxMs.toFixed(1)} |`);
if (sink === 42) console.log('');
