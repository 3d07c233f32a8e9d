// Closed-loop JSON-RPC over WebSocket (the `ws` client; wrk and autocannon speak HTTP only):
// CONNECTIONS sockets, each sends a request, waits for its answer, sends the next. Latency per
// request in µs (process.hrtime), from the send to the answer's arrival; every answer is
// checked (its id, and a JSON-RPC `result`).
// Usage: node bench/ws-client.mjs --url ws://… --body JSON [--connections 64] [--duration 6] [--warmup 1]
// Prints one JSON line: {"requests", "seconds", "latencyUs": {p50, p99, p999}, "errors"}.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    body: { type: 'string' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '1' },
  },
});
if (!values.url || !values.body) throw new Error('usage: ws-client.mjs --url ws://… --body JSON');
const template = JSON.parse(values.body);
const connections = Number(values.connections);
const warmupMs = Number(values.warmup) * 1000;
const durationMs = Number(values.duration) * 1000;

const latencies = [];
let requests = 0;
let errors = 0;
let recording = false;
let stopping = false;

function client() {
  return new Promise((resolve) => {
    const ws = new WebSocket(values.url, { perMessageDeflate: false });
    let id = 0;
    let sentAt = 0n;
    const send = () => {
      if (stopping) {
        ws.close();
        return;
      }
      id++;
      sentAt = process.hrtime.bigint();
      ws.send(JSON.stringify({ ...template, id }));
    };
    ws.on('open', send);
    ws.on('message', (data) => {
      const us = Number(process.hrtime.bigint() - sentAt) / 1000;
      let answer;
      try {
        answer = JSON.parse(data.toString());
      } catch {
        answer = undefined;
      }
      const ok = answer?.id === id && typeof answer?.result === 'string';
      if (recording) {
        if (ok) {
          requests++;
          latencies.push(us);
        } else errors++;
      }
      send();
    });
    ws.on('error', () => {
      if (recording) errors++;
    });
    ws.on('close', resolve);
  });
}

const all = Array.from({ length: connections }, () => client());
await new Promise((resolve) => setTimeout(resolve, warmupMs));
recording = true;
const started = process.hrtime.bigint();
await new Promise((resolve) => setTimeout(resolve, durationMs));
recording = false;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
stopping = true;
await Promise.all(all);
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
process.stdout.write(JSON.stringify({ requests, seconds, latencyUs: { p50: at(0.5), p99: at(0.99), p999: at(0.999) }, errors }) + '\n');
