// Side-by-side CPU cost of gateway builds: one simulated operator, then for each round a fresh
// gateway process per variant (alternating, reversed every other round), wrk -t1 -c64 for 2 s
// unrecorded then DUR s (default 6), CPU µs per request of the gateway process from /proc.
//
// Usage: node bench/ab.mjs ROUNDS NAME=DIR[ extra gateway-process args] ...
//   DIR holds a bench/ and a built dist/ (e.g. a `git archive` of the old commit, built, with
//   node_modules linked). Example:
//   node bench/ab.mjs 3 "before=/tmp/old" "after=." "after-p8=. --pipelining 8"
//   An argument --node=FLAG goes to node instead: "semi4=. --node=--max-semi-space-size=4".
//   A bare "nginx-1" or "haproxy" adds that baseline (bench/proxies.mjs) to the rotation,
//   its CPU summed over its processes: node bench/ab.mjs 5 "gw=." nginx-1 haproxy
// Needs wrk (apt-get install -y wrk). BODY overrides the JSON-RPC request. HISTORY=S first loads
// each target with single calls, then batches of 10, S seconds each (unmeasured), as a full
// `bench/run.mjs` round does before its large answers: a process's cost can depend on its past.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gatewayNodeFlags, userSystemSeconds } from './lib.mjs';
import { startHaproxy, startNginx } from './proxies.mjs';

const [rounds, ...specs] = process.argv.slice(2);
if (!rounds || specs.length === 0) {
  console.error('usage: node bench/ab.mjs ROUNDS NAME=DIR[ args] ...');
  process.exit(2);
}
const BASELINES = {
  'nginx-1': (upstreams) => startNginx({ name: 'nginx-1', workers: 1, upstreams }),
  haproxy: (upstreams) => startHaproxy({ name: 'haproxy', threads: 2, upstreams }),
};
const variants = specs.map((spec) => {
  if (BASELINES[spec]) return { name: spec, baseline: BASELINES[spec] };
  if (!spec.includes('=')) throw new Error(`"${spec}" is neither NAME=DIR nor a baseline (${Object.keys(BASELINES).join(', ')})`);
  const name = spec.slice(0, spec.indexOf('='));
  const rest = spec.slice(spec.indexOf('=') + 1);
  const [dir, ...words] = rest.split(' ').filter(Boolean);
  const nodeArgs = words.filter((w) => w.startsWith('--node=')).map((w) => w.slice('--node='.length));
  const args = words.filter((w) => !w.startsWith('--node='));
  return { name, dir: path.resolve(dir), args, nodeArgs };
});
const here = path.dirname(fileURLToPath(import.meta.url));

function startNode(script, args, cwd, nodeArgs = []) {
  // stdin stays open: the bench processes exit when it closes.
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', (line) => resolve({ child, info: JSON.parse(line) }));
    child.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited (${code}) before it was ready`)));
  });
}
/** User and system CPU time of processes, summed, µs. */
function cpuMicros(pids) {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const t = userSystemSeconds(pid);
    user += t.user * 1e6;
    system += t.system * 1e6;
  }
  return { user, system };
}
/** A fresh process (a gateway build, or a baseline proxy) to load: its URL, its pids, and how to stop it. */
async function startTarget(v, upstream) {
  if (v.baseline) {
    const p = await v.baseline([{ id: 'op0', url: upstream, proxyWeight: 1 }]);
    if (p === null) throw new Error(`${v.name}: not installed (apt-get install -y ${v.name.replace(/-\d+$/, '')})`);
    return { url: p.url, pids: p.pids, stop: () => p.stop() };
  }
  const gw = await startNode(path.join(v.dir, 'bench', 'gateway-process.mjs'), ['--upstreams', upstream, '--cross-check-rate', '0', ...v.args], v.dir, [...gatewayNodeFlags(v.dir), ...v.nodeArgs]);
  return {
    url: gw.info.rpcUrl,
    pids: [gw.info.pid],
    stop: async () => {
      gw.child.kill('SIGTERM');
      await new Promise((resolve) => gw.child.once('exit', resolve));
    },
  };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const body = process.env.BODY ?? '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';
const scratch = mkdtempSync(path.join(tmpdir(), 'din-ab-'));
function wrkScript(name, requestBody) {
  const file = path.join(scratch, `${name}.lua`);
  // A level-1 long string ([=[ ]=]): a batch's body ends in "]", which would close [[ ]] early.
  writeFileSync(file, `wrk.method="POST"\nwrk.body=[=[${requestBody}]=]\nwrk.headers["Content-Type"]="application/json"\n`);
  return file;
}
const lua = wrkScript('post', body);
const call = (id) => ({ jsonrpc: '2.0', id, method: 'eth_blockNumber', params: [] });
const history = Number(process.env.HISTORY ?? 0);
const historyScripts = history > 0 ? [wrkScript('single', JSON.stringify(call(1))), wrkScript('batch', JSON.stringify(Array.from({ length: 10 }, (_, i) => call(i + 1))))] : [];
const sim = await startNode(path.join(here, 'sim-process.mjs'), []);
const upstream = sim.info.urls[0];
const results = Object.fromEntries(variants.map((v) => [v.name, []]));
for (let round = 0; round < Number(rounds); round++) {
  for (const v of round % 2 ? [...variants].reverse() : variants) {
    const target = await startTarget(v, upstream);
    for (const script of historyScripts) execFileSync('wrk', ['-t1', '-c64', `-d${history}s`, '-s', script, target.url]);
    execFileSync('wrk', ['-t1', '-c64', '-d2s', '-s', lua, target.url]);
    const before = cpuMicros(target.pids);
    const out = execFileSync('wrk', ['-t1', '-c64', `-d${process.env.DUR ?? 6}s`, '-s', lua, target.url]).toString();
    const after = cpuMicros(target.pids);
    const user = after.user - before.user;
    const system = after.system - before.system;
    const requests = Number(/(\d+) requests in/.exec(out)[1]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
    const non2xx = Number(/Non-2xx or 3xx responses:\s*(\d+)/.exec(out)?.[1] ?? 0);
    const r = { rps, us: (user + system) / requests, user: user / requests, system: system / requests };
    results[v.name].push(r);
    console.log(`round ${round} ${v.name}: ${rps.toFixed(0)} req/s, ${r.us.toFixed(1)} CPU µs/req (user ${r.user.toFixed(1)}, system ${r.system.toFixed(1)})${non2xx ? `, ${non2xx} non-2xx` : ''}`);
    await target.stop();
  }
}
for (const v of variants) {
  const rs = results[v.name];
  console.log(`${v.name}: median ${median(rs.map((r) => r.rps)).toFixed(0)} req/s, median ${median(rs.map((r) => r.us)).toFixed(1)} CPU µs/req (user ${median(rs.map((r) => r.user)).toFixed(1)}, system ${median(rs.map((r) => r.system)).toFixed(1)})`);
}
sim.child.kill('SIGTERM');
