// What the request-head check (src/router/request-head.ts) costs per request, against the
// front end without it, in the same run.
// Usage: npx tsx bench/request-head.ts   (needs wrk; prints a Markdown table; nothing is asserted)
//
// 1. Micro: requestHeadProblem called 1,000 times on one live uWS request with a browser-like
//    head (9 header lines): ns per call.
// 2. Front end: a uWS app whose two POST routes do what RpcServer.rpc does before the
//    forwarder (onAborted, Content-Length, read the body, answer), one of them with the check
//    first; wrk (1 thread, 32 connections) drives each in interleaved 3 s rounds, and the
//    server's own CPU time per request is compared (its process runs nothing else).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import uWS from 'uWebSockets.js';
import { requestHeadProblem } from '../src/router/request-head.js';

const ROUNDS = 5;
const SECONDS = 3;
const BODY = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';
const ANSWER = '{"jsonrpc":"2.0","id":1,"result":"0x10"}';
/** What a browser or viem over fetch sends, besides Host and Content-Length. */
const HEADERS: Record<string, string> = {
  'Content-Type': 'application/json',
  Accept: '*/*',
  'Accept-Language': 'en-US,en;q=0.9',
  'Accept-Encoding': 'gzip, deflate, br',
  'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  Origin: 'https://app.example.com',
  'Sec-Fetch-Mode': 'cors',
};

let microNs = 0;
let floorNs = 0;
let sink = 0;
const countNothing = (): void => {
  sink++;
};

function frontEnd(res: uWS.HttpResponse, req: uWS.HttpRequest, check: boolean): void {
  if (check && requestHeadProblem(req) !== undefined) {
    res.close();
    return;
  }
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const declared = req.getHeader('content-length');
  if (declared !== '' && Number(declared) > 5_000_000) {
    res.close();
    return;
  }
  res.onData((chunk, isLast) => {
    sink += chunk.byteLength;
    if (isLast && !aborted) res.cork(() => res.writeHeader('content-type', 'application/json').end(ANSWER));
  });
}

const app = uWS.App()
  .post('/plain', (res, req) => frontEnd(res, req, false))
  .post('/checked', (res, req) => frontEnd(res, req, true))
  .post('/micro', (res, req) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 1_000; i++) sink += requestHeadProblem(req) === undefined ? 1 : 0;
    microNs = Number(process.hrtime.bigint() - start) / 1_000;
    // The floor: uWS's forEach with a callback that does nothing (a call into JS and two strings per line).
    const floorStart = process.hrtime.bigint();
    for (let i = 0; i < 1_000; i++) req.forEach(countNothing);
    floorNs = Number(process.hrtime.bigint() - floorStart) / 1_000;
    res.onAborted(() => {});
    res.onData((_c, isLast) => {
      if (isLast) res.end('{}');
    });
  });

const port = await new Promise<number>((resolve, reject) =>
  app.listen('127.0.0.1', 0, (socket) => (socket === false ? reject(new Error('cannot listen')) : resolve(uWS.us_socket_local_port(socket)))),
);

const micro: number[] = [];
const floor: number[] = [];
for (let i = 0; i < 50; i++) {
  await fetch(`http://127.0.0.1:${port}/micro`, { method: 'POST', headers: HEADERS, body: BODY });
  micro.push(microNs);
  floor.push(floorNs);
}

const lua = fileURLToPath(new URL('./request-head.lua', import.meta.url));

/** One wrk round on `path`: the server's CPU µs per request. Runs wrk in the background: the event loop must keep serving. */
async function round(path: string): Promise<number> {
  const cpu = process.cpuUsage();
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', ['-t1', '-c32', `-d${SECONDS}s`, '-s', lua, `http://127.0.0.1:${port}${path}`], {
      env: { ...process.env, WRK_BODY: BODY, WRK_HEADERS: JSON.stringify(HEADERS) },
    });
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.on('error', reject);
    p.on('exit', () => resolve(text));
  });
  const used = process.cpuUsage(cpu);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  return (used.user + used.system) / requests;
}

if (spawnSync('wrk', ['--version']).error !== undefined) {
  console.log('wrk not found: front-end comparison skipped');
} else {
  const plain: number[] = [];
  const checked: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(await round('/plain'));
    checked.push(await round('/checked'));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log('| measure | without the check | with the check | ratio |');
  console.log('|---|---|---|---|');
  console.log(`| requestHeadProblem, 9 header lines (ns per call, median of 50×1,000) | | ${median(micro).toFixed(0)} | |`);
  console.log(`| req.forEach with a no-op callback, same head (ns per call) | | ${median(floor).toFixed(0)} | |`);
  console.log(
    `| server CPU per request (µs, median of ${ROUNDS} × ${SECONDS} s, wrk -c32) | ${median(plain).toFixed(2)} | ${median(checked).toFixed(2)} | ${(median(checked) / median(plain)).toFixed(3)} |`,
  );
  console.log(`rounds: plain ${plain.map((x) => x.toFixed(2)).join(' ')}; checked ${checked.map((x) => x.toFixed(2)).join(' ')}`);
}
(app as uWS.TemplatedApp & { close(): void }).close();
if (sink < 0) console.log(sink);
