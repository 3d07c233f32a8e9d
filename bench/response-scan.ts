// Micro-benchmark: scanResponse (src/router/response-scan.ts) against what the forwarder does
// today, JSON.parse(body.toString('utf8')) + the envelope check.
// Usage: npx tsx bench/response-scan.ts   (prints a Markdown table; nothing is asserted)
// After a warm-up, all cases run in interleaved rounds (a noisy neighbour then hurts them
// alike); the median round gives ns per operation, the best one is shown too.
import { BASE_BLOCK_NUMBER, ChainModel } from '../src/sim/chain-model.js';
import { newResponseScan, scanBatchResponse, scanResponse, withId } from '../src/router/response-scan.js';

type Rec = Record<string, unknown>;

/** Copy of forwarder.ts's isResponseObject + isValidId. */
function isResponseObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const obj = value as Rec;
  const id = obj['id'];
  if (obj['jsonrpc'] !== '2.0' || !(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) || id === null)) return false;
  const hasResult = 'result' in obj;
  const error = obj['error'];
  if (error === undefined) return hasResult;
  return !hasResult && typeof error === 'object' && error !== null
    && Number.isInteger((error as Rec)['code']) && typeof (error as Rec)['message'] === 'string';
}

function parseAndCheck(buf: Buffer): boolean {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    return false;
  }
  return isResponseObject(v) && (v as Rec)['id'] === 1;
}

interface Case {
  name: string;
  ops: number;
  batch: () => void;
  ns: number[];
}
const cases: Case[] = [];
function add(name: string, ops: number, batch: () => void): void {
  cases.push({ name, ops, batch, ns: [] });
}

/** Rounds over all cases, interleaved, so that a noisy neighbour hurts them all alike. */
function run(rounds = 15): void {
  for (const c of cases) for (let i = 0; i < 3; i++) c.batch();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t = process.hrtime.bigint();
      c.batch();
      c.ns.push(Number(process.hrtime.bigint() - t) / c.ops);
    }
  }
}

const chain = new ChainModel({ chainId: 1 });
const block = chain.block(BASE_BLOCK_NUMBER, true);
const txs = block.transactions as unknown[];
const fixtures: [string, Buffer][] = [
  ['tiny (eth_blockNumber)', Buffer.from('{"jsonrpc":"2.0","id":1,"result":"0x1234"}')],
  ['~1 KB (one transaction)', Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { ...(txs[3] as Rec), accessList: [], chainId: '0x1', yParity: '0x1' } }))],
  ['~13 KB (block, tx hashes)', Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: chain.block(BASE_BLOCK_NUMBER, false) }))],
  ['~120 KB (block, full txs)', Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: block }))],
];

let sink = 0;
const mine = newResponseScan();
for (const [label, buf] of fixtures) {
  const ops = Math.max(200, Math.min(1_000_000, Math.round(4_000_000 / buf.length)));
  if (!scanResponse(buf).ok || !parseAndCheck(buf)) throw new Error(`bad fixture ${label}`);
  add(`${label}, ${buf.length} B: JSON.parse + envelope`, ops, () => {
    for (let i = 0; i < ops; i++) sink += parseAndCheck(buf) ? 1 : 0;
  });
  add(`${label}, ${buf.length} B: scanResponse (shared result)`, ops, () => {
    for (let i = 0; i < ops; i++) {
      const s = scanResponse(buf);
      sink += s.ok && s.idNumber === 1 ? 1 : 0;
    }
  });
  add(`${label}, ${buf.length} B: scanResponse (caller's result)`, ops, () => {
    for (let i = 0; i < ops; i++) {
      const s = scanResponse(buf, 0, buf.length, mine);
      sink += s.ok && s.idNumber === 1 ? 1 : 0;
    }
  });
  add(`${label}, ${buf.length} B: scanResponse (fresh result per call)`, ops, () => {
    for (let i = 0; i < ops; i++) {
      const s = scanResponse(buf, 0, buf.length, newResponseScan());
      sink += s.ok && s.idNumber === 1 ? 1 : 0;
    }
  });
}

// Batch of 10 small answers: today's parse + per-item JSON.stringify with the client's id,
// against scanBatchResponse + withId.
{
  const items = Array.from({ length: 10 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"result":"0x${(1000 + i).toString(16)}"}`);
  const buf = Buffer.from(`[${items.join(',')}]`);
  const ops = 20_000;
  add(`batch of 10, ${buf.length} B: JSON.parse + envelope + JSON.stringify items`, ops, () => {
    for (let i = 0; i < ops; i++) {
      const arr = JSON.parse(buf.toString('utf8')) as Rec[];
      const parts: string[] = [];
      for (const item of arr) {
        if (isResponseObject(item)) {
          item['id'] = `client-${item['id'] as number}`;
          parts.push(JSON.stringify(item));
        }
      }
      sink += `[${parts.join(',')}]`.length;
    }
  });
  add(`batch of 10, ${buf.length} B: scanBatchResponse + withId items`, ops, () => {
    for (let i = 0; i < ops; i++) {
      const scan = scanBatchResponse(buf);
      const parts: Buffer[] = [];
      for (const item of scan.items) if (item.ok) parts.push(withId(buf, item, `"client-${item.idNumber}"`));
      sink += parts.length;
    }
  });
}

run();
console.log('| case | ns/op (median) | best |');
console.log('|---|---:|---:|');
for (const c of cases) {
  c.ns.sort((x, y) => x - y);
  console.log(`| ${c.name} | ${c.ns[c.ns.length >> 1]!.toFixed(0)} | ${c.ns[0]!.toFixed(0)} |`);
}
if (sink === 42) console.log('');
