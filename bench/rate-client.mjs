// Fixed-rate (open-loop) load with microsecond latencies: POSTs `--body` to `--url` at `--rate`
// requests per second for `--duration` seconds, and prints one JSON line with the latency
// percentiles in µs. Run by bench/run.mjs in its own process (its CPU counts as the load
// generator's).
//
// The client is a few lines over `net` rather than an HTTP library: keep-alive connections
// with one request at a time each, the request encoded once, answers read through one static
// buffer and only their head parsed (status, Content-Length). On these 2-vCPU machines the
// load generator shares the cores with the proxy and the operator it measures; undici's Pool
// cost 160–300 µs of CPU per request here at 2,000 req/s, more than the gateway and the
// operator together, taken from the cores they run on.
//
// Sends are scheduled at start + i / rate. Node's timers have 1 ms granularity, so a timer tick
// sends every request that is due (at 2,000 req/s: about 2 per tick, back to back); no busy loop,
// which would take a core from the proxy on a 2-core machine. A request due while every
// connection is busy waits for the first to free up. Two latencies per request:
//   - "service": from just before the request is written until the last byte of its answer;
//   - "intended": from its scheduled time (corrected for coordinated omission: includes the timer's
//     lateness and any wait for a free connection).
// The first `--warmup` seconds are sent but not recorded. A request unanswered after `--timeout`
// seconds is an error, and its connection is closed.
//
// Two options for bench/chaos.mjs, off unless given (the bench's own runs pay nothing for them):
//   --expect TEXT: a 200 whose body does not contain TEXT is counted as "wrong" (an answer the
//     client got, but not the right one), not as "ok";
//   --record FILE: every request's outcome is written to FILE at the end, as JSON
//     {"epochMs", "requests": [[sentMs, doneMs, status], ...]}: times in ms since epochMs (a
//     Date.now() value, so another process can line them up with its own events), status the
//     HTTP status, 0 for a connection that failed or timed out, -1 for a wrong answer.
//
// Usage: node bench/rate-client.mjs --url URL --body JSON [--rate 2000] [--duration 6]
//          [--warmup 1] [--connections 32] [--timeout 10] [--expect TEXT] [--record FILE]
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    body: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '32' },
    timeout: { type: 'string', default: '10' },
    expect: { type: 'string' },
    record: { type: 'string' },
  },
});
const url = new URL(values.url);
if (url.protocol !== 'http:') throw new Error(`rate-client: only http: URLs, not ${url.protocol}`);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const maxConnections = Number(values.connections);
const timeoutNs = Number(values.timeout) * 1e9;
const body = Buffer.from(values.body);
const expected = values.expect;
const recordFile = values.record;
const request = Buffer.concat([
  Buffer.from(
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    'latin1',
  ),
  body,
]);

const intervalNs = 1e9 / rate;
const total = Math.round(rate * (warmupS + durationS));
const warmN = Math.round(rate * warmupS);
const service = new Float64Array(total);
const intended = new Float64Array(total);
const okFlags = new Uint8Array(total);
// Per request for --record: when it was written and settled (ns) and its status.
const sentAt = recordFile ? new Float64Array(total) : null;
const doneAt = recordFile ? new Float64Array(total) : null;
const statuses = recordFile ? new Int16Array(total) : null;
let done = 0;
let errors = 0;
let non2xx = 0;
let wrong = 0;
let maxInflight = 0;
let inflight = 0;

const now = () => Number(process.hrtime.bigint());

// Every connection reads into this buffer: answers are consumed within the read callback.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 16 * 1024;

/** Status and Content-Length of a response head (latin1 text up to, not including, its empty line). */
function parseHead(head) {
  const status = Number(head.slice(9, 12));
  if (!head.startsWith('HTTP/1.') || !(status >= 100 && status <= 599)) return null;
  const at = head.toLowerCase().indexOf('\r\ncontent-length:');
  if (at === -1) return null;
  const end = head.indexOf('\r\n', at + 2);
  const length = Number(head.slice(at + 17, end === -1 ? undefined : end).trim());
  return Number.isSafeInteger(length) && length >= 0 ? { status, length } : null;
}

const busy = new Set();
const idle = [];
const waiting = []; // indices of due requests no connection was free for, oldest first
let open = 0;

class Connection {
  constructor() {
    this.index = -1; // the request in flight, -1 when idle
    this.t0 = 0;
    this.head = ''; // a head split across reads, so far
    this.status = 0;
    this.left = -1; // body bytes still to come; -1 while reading the head
    this.body = ''; // with --expect: the answer's body so far
    this.socket = net.connect({
      host: url.hostname,
      port: Number(url.port || 80),
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n, buf) => this.onData(n, buf) },
    });
    this.socket.on('error', () => {}); // 'close' follows and accounts for the request
    this.socket.on('close', () => this.onClose());
    open++;
  }

  send(i) {
    busy.add(this);
    this.index = i;
    this.left = -1;
    this.head = '';
    this.body = '';
    this.t0 = now();
    if (sentAt !== null) sentAt[i] = this.t0;
    this.socket.write(request);
  }

  onData(n, buf) {
    if (this.index === -1) return this.fail(); // bytes nobody asked for
    let pos = 0;
    if (this.left === -1) {
      let head;
      if (this.head.length === 0) {
        const end = buf.subarray(0, n).indexOf(HEAD_END);
        if (end !== -1) {
          head = buf.latin1Slice(0, end);
          pos = end + 4;
        }
      }
      if (head === undefined) {
        // The head spans reads: keep it as text until its end arrives.
        this.head += buf.latin1Slice(0, n);
        const end = this.head.indexOf('\r\n\r\n');
        if (end === -1) return this.head.length > MAX_HEAD ? this.fail() : undefined;
        head = this.head.slice(0, end);
        pos = n - (this.head.length - end - 4); // where this read's body bytes start
        this.head = '';
      }
      const parsed = parseHead(head);
      if (parsed === null) return this.fail();
      this.status = parsed.status;
      this.left = parsed.length;
    }
    this.left -= n - pos;
    if (this.left < 0) return this.fail(); // more than the answer: not ours to read
    if (expected !== undefined) this.body += buf.latin1Slice(pos, n);
    if (this.left === 0) this.complete();
  }

  complete() {
    const i = this.index;
    const t1 = now();
    service[i] = (t1 - this.t0) / 1000;
    intended[i] = (t1 - (startNs + i * intervalNs)) / 1000;
    let status = this.status;
    if (status === 200 && expected !== undefined && !this.body.includes(expected)) status = -1;
    if (status === 200) okFlags[i] = 1;
    else if (status === -1) wrong++;
    else non2xx++;
    if (doneAt !== null) {
      doneAt[i] = t1;
      statuses[i] = status;
    }
    this.index = -1;
    busy.delete(this);
    settled();
    const next = waiting.shift();
    if (next !== undefined) this.send(next);
    else idle.push(this);
  }

  fail() {
    this.socket.destroy();
  }

  onClose() {
    open--;
    const at = idle.indexOf(this);
    if (at !== -1) idle.splice(at, 1);
    busy.delete(this);
    if (this.index !== -1) {
      if (doneAt !== null) doneAt[this.index] = now();
      this.index = -1;
      errors++;
      settled();
    }
    // Whoever waits gets a fresh connection.
    const next = waiting.shift();
    if (next !== undefined) place(next);
  }
}

function settled() {
  inflight--;
  if (++done === total) finish();
}

/** Request `i` is due. */
function dispatch(i) {
  inflight++;
  if (inflight > maxInflight) maxInflight = inflight;
  place(i);
}

function place(i) {
  const conn = idle.pop() ?? (open < maxConnections ? new Connection() : undefined);
  if (conn === undefined) waiting.push(i);
  else conn.send(i);
}

const startNs = now() + 5e6;
// startNs as a wall-clock time, for --record.
const epochMs = Date.now() + (startNs - now()) / 1e6;
let next = 0;
function tick() {
  const t = now();
  while (next < total && startNs + next * intervalNs <= t) dispatch(next++);
  if (next < total) {
    const waitMs = (startNs + next * intervalNs - now()) / 1e6;
    setTimeout(tick, Math.max(0, waitMs));
  }
}
setTimeout(tick, 5);
setInterval(() => {
  const t = now();
  for (const conn of busy) if (t - conn.t0 > timeoutNs) conn.fail();
}, 1000).unref();

function percentiles(arr) {
  const a = Float64Array.from(arr).sort();
  const p = (q) => (a.length ? a[Math.min(a.length - 1, Math.ceil((q / 100) * a.length) - 1)] : null);
  const r = (x) => (x === null ? null : Math.round(x));
  return { p50: r(p(50)), p90: r(p(90)), p99: r(p(99)), p999: r(p(99.9)), max: r(a.at(-1) ?? null), mean: a.length ? Math.round(a.reduce((s, x) => s + x, 0) / a.length) : null };
}

function finish() {
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
  if (recordFile) writeRecord();
  process.stdout.write(
    JSON.stringify({
      requests: total - warmN,
      ok: rec.length,
      seconds: (endNs - measuredStartNs) / 1e9,
      scheduledSeconds: durationS,
      rate,
      errors,
      non2xx,
      ...(expected === undefined ? {} : { wrong }),
      maxInflight,
      serviceUs: percentiles(rec),
      intendedUs: percentiles(recIntended),
    }) + '\n',
    () => process.exit(0),
  );
}

/** --record: every request (warm-up included), times in ms since epochMs. */
function writeRecord() {
  const ms = (ns) => Math.round((ns - startNs) / 1e4) / 100;
  const requests = [];
  for (let i = 0; i < total; i++) requests.push([ms(sentAt[i]), ms(doneAt[i]), statuses[i]]);
  writeFileSync(recordFile, JSON.stringify({ epochMs, requests }));
}
