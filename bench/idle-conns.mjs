// Holds many TCP connections to the gateway's RPC port, for bench/soak.mjs. Raw sockets
// (node:net), one keep-alive HTTP/1.1 POST of `--body` per request, no HTTP client library: a
// connection costs this process a socket object and a few closures.
//
// Usage: node bench/idle-conns.mjs --url URL --body JSON [--sources K]
//   --sources K: spread the connections over K loopback source addresses (127.0.0.1 ... 127.0.0.K;
//     default: one per 20,000 connections). With K = 1 the kernel picks the source (no bind).
// Commands, one JSON object per line on stdin; each is answered by one JSON line on stdout:
//   {"cmd":"open","count":N,"mode":"idle"|"active","interval":5,"concurrency":200}
//      idle:   even-numbered connections send one request and then stay idle, odd-numbered ones
//              never send a byte;
//      active: every connection sends one request when it opens and then one every `interval` s
//              (first repeat at a random point of the first interval, so they are spread evenly).
//      Answered {"event":"opened", ...status, "openMs", "connectFailures"} once every connect has
//      succeeded or failed and every first request was answered (or 30 s passed).
//   {"cmd":"status"}  -> {"event":"status", ...status}
//   {"cmd":"close"}   -> closes every connection it holds, {"event":"closed", ...status}
// status: open (connections open now), opened, unexpectedCloses (closed by the other side
// before we closed them: total, withRequest, silent), closeErrors (socket errors by code),
// closeAfterIdleMs (for those: time from the connection's last activity (connect or last answer)
// to the close: min / p50 / max), requests {sent, ok, bad}, badSamples.
// Prints {"pid"} first; exits when stdin closes.
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { url: { type: 'string' }, body: { type: 'string' }, sources: { type: 'string' } } });
const url = new URL(values.url);
const port = Number(url.port);
const host = url.hostname;
const body = Buffer.from(values.body);
const request = Buffer.concat([
  Buffer.from(`POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`),
  body,
]);

const conns = new Set();
let opened = 0;
let connectFailures = 0;
const unexpected = { total: 0, withRequest: 0, silent: 0 };
const closeErrors = {};
const closeAfterIdleMs = [];
const requests = { sent: 0, ok: 0, bad: 0 };
const badSamples = [];

function bad(detail) {
  requests.bad++;
  if (badSamples.length < 10) badSamples.push(String(detail).slice(0, 300));
}

/** One connection: a socket, the bytes of the answer being read, its last activity. */
function openOne(i, mode, intervalS, sources) {
  return new Promise((resolve) => {
    const sendsRequests = mode === 'active' || i % 2 === 0;
    const opts = { host, port, noDelay: true };
    if (sources > 1) opts.localAddress = `127.0.0.${1 + (i % sources)}`;
    const s = net.connect(opts);
    const c = { s, sendsRequests, last: Date.now(), buf: '', waiting: false, timer: null, closedByUs: false, everConnected: false, resolve };
    const settle = () => {
      if (c.resolve) {
        const r = c.resolve;
        c.resolve = null;
        r();
      }
    };
    s.on('connect', () => {
      c.everConnected = true;
      opened++;
      conns.add(c);
      c.last = Date.now();
      if (sendsRequests) send(c);
      else settle();
      if (mode === 'active') {
        const repeat = () => {
          if (!c.waiting) send(c);
          c.timer = setTimeout(repeat, intervalS * 1000);
        };
        c.timer = setTimeout(repeat, Math.random() * intervalS * 1000);
      }
    });
    s.on('data', (d) => {
      c.buf += d.toString('latin1');
      // Answers are small and Content-Length framed (uWS); read whole ones off the buffer.
      for (;;) {
        const end = c.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = /\r\ncontent-length:\s*(\d+)/i.exec(c.buf.slice(0, end))?.[1];
        if (len === undefined) {
          bad(`no content-length: ${c.buf.slice(0, 200)}`);
          c.buf = '';
          return;
        }
        if (c.buf.length < end + 4 + Number(len)) return;
        const head = c.buf.slice(0, end);
        const payload = c.buf.slice(end + 4, end + 4 + Number(len));
        c.buf = c.buf.slice(end + 4 + Number(len));
        c.waiting = false;
        c.last = Date.now();
        let ok = head.startsWith('HTTP/1.1 200');
        if (ok) {
          try {
            const j = JSON.parse(payload);
            ok = typeof j?.result === 'string' && j.error === undefined;
          } catch {
            ok = false;
          }
        }
        if (ok) requests.ok++;
        else bad(`${head.split('\r\n')[0]} ${payload}`);
        settle();
      }
    });
    s.on('error', (err) => {
      closeErrors[err.code ?? 'error'] = (closeErrors[err.code ?? 'error'] ?? 0) + 1;
    });
    s.on('close', () => {
      clearTimeout(c.timer);
      if (!c.everConnected) connectFailures++;
      else if (!c.closedByUs) {
        unexpected.total++;
        if (sendsRequests) unexpected.withRequest++;
        else unexpected.silent++;
        closeAfterIdleMs.push(Date.now() - c.last);
      }
      conns.delete(c);
      settle();
    });
  });
}

function send(c) {
  c.waiting = true;
  requests.sent++;
  c.s.write(request);
}

function status() {
  const a = closeAfterIdleMs.slice().sort((x, y) => x - y);
  return {
    open: conns.size,
    opened,
    unexpectedCloses: { ...unexpected },
    closeErrors: { ...closeErrors },
    closeAfterIdleMs: a.length ? { min: a[0], p50: a[Math.floor(a.length / 2)], max: a.at(-1) } : null,
    requests: { ...requests },
    badSamples,
    connectFailures,
  };
}

async function open({ count, mode = 'idle', interval = 5, concurrency = 200, sources }) {
  const k = Number(sources ?? values.sources ?? Math.max(1, Math.ceil(count / 20_000)));
  const t0 = Date.now();
  let nextIndex = 0;
  const pending = [];
  // `concurrency` connects (and first answers) in flight at a time: a burst beyond the server's
  // listen backlog would cost SYN retries (1 s each).
  const worker = async () => {
    while (nextIndex < count) {
      const i = nextIndex++;
      await Promise.race([openOne(i, mode, interval, k), new Promise((r) => setTimeout(r, 30_000))]);
    }
  };
  for (let w = 0; w < Math.min(concurrency, count); w++) pending.push(worker());
  await Promise.all(pending);
  return { event: 'opened', ...status(), openMs: Date.now() - t0, sources: k };
}

function closeAll() {
  for (const c of conns) {
    c.closedByUs = true;
    clearTimeout(c.timer);
    c.s.destroy();
  }
  return new Promise((resolve) => {
    const check = () => (conns.size === 0 ? resolve() : setTimeout(check, 20));
    check();
  });
}

process.stdout.write(JSON.stringify({ pid: process.pid }) + '\n');
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return;
  }
  let out;
  if (cmd.cmd === 'open') out = await open(cmd);
  else if (cmd.cmd === 'status') out = { event: 'status', ...status() };
  else if (cmd.cmd === 'close') {
    await closeAll();
    out = { event: 'closed', ...status() };
  } else out = { event: 'error', message: `unknown command ${cmd.cmd}` };
  process.stdout.write(JSON.stringify(out) + '\n');
});
rl.on('close', () => process.exit(0));
