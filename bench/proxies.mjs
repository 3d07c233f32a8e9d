// nginx and HAProxy as baselines: plain JSON-RPC reverse proxies in front of the same simulated
// operator(s) as the gateway, from bench/nginx.conf.template and bench/haproxy.cfg.template.
// Each instance gets its own temporary directory (config, pid file, error log, temp paths), a free
// loopback port, and runs in the foreground as a child of the harness; stop() ends it and removes
// the directory. Debian's system services are not used (and must not be running for the bench).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { routingWeight } from '../dist/staking/weights.js';
import { findBinary, freePort, processTree, stopChild } from './lib.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** Every proxy process the harness started and has not stopped yet (killed on exit, see killAll). */
const live = new Set();

/** nginx / haproxy: { path, version } each, or null when the binary is not installed. */
export function proxyVersions() {
  const version = (bin, args) => {
    // nginx -v prints to stderr, haproxy -v to stdout.
    const r = spawnSync(bin, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim() || null;
  };
  const nginx = findBinary('nginx');
  const haproxy = findBinary('haproxy');
  return {
    nginx: nginx ? { path: nginx, version: version(nginx, ['-v']) } : null,
    haproxy: haproxy ? { path: haproxy, version: version(haproxy, ['-v']) } : null,
  };
}

/**
 * Integer weights for the proxies, like the gateway's routing weights (stake in ETH × (score/100)²,
 * src/staking/weights.ts), read from the gateway's admin API; scaled so the largest is 256
 * (HAProxy's maximum). Operators that get no traffic (not eligible, weight 0) are left out.
 */
export async function operatorWeights(adminUrl) {
  const res = await fetch(new URL('/v1/operators', adminUrl));
  if (!res.ok) throw new Error(`GET /v1/operators: HTTP ${res.status}`);
  const { operators } = await res.json();
  const ws = operators
    .filter((o) => o.eligible)
    .map((o) => ({ id: o.id, url: o.url, weight: routingWeight(BigInt(o.stakedAmount), o.performanceScore) }))
    .filter((o) => o.weight > 0);
  const max = Math.max(...ws.map((o) => o.weight));
  return ws.map((o) => ({ ...o, proxyWeight: Math.max(1, Math.round((256 * o.weight) / max)) }));
}

function fill(template, values) {
  return readFileSync(here(template), 'utf8').replace(/\{\{(\w+)\}\}/g, (m, k) => {
    if (!(k in values)) throw new Error(`${template}: no value for ${m}`);
    return String(values[k]);
  });
}

const hostPort = (url) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
};

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (code ${child.exitCode}, signal ${child.signalCode}) before listening`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startProxy({ name, bin, args, dir, port, expectedProcesses }) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  live.add(child);
  child.once('exit', () => live.delete(child));
  try {
    await waitForPort(port, child);
    // nginx forks its workers right after the master binds: wait until they are all there.
    const deadline = Date.now() + 5_000;
    while (processTree(child.pid).length < expectedProcesses && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${name}: ${err.message}\n${output}`);
  }
  const pids = processTree(child.pid);
  return {
    name,
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    pids,
    dir,
    output: () => output,
    async stop() {
      await stopChild(child, 5_000);
      // Workers that outlived their master (should not happen): end them by pid.
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  // nginx workers run as "nobody" when the master is root: they must reach their temp paths.
  chmodSync(dir, 0o755);
  return dir;
}

/** nginx with `workers` worker processes (a number or "auto"). upstreams: [{ url, proxyWeight }]. */
export async function startNginx({ name, workers, upstreams }) {
  const bin = findBinary('nginx');
  if (!bin) return null;
  const dir = tempDir('bench-nginx-');
  const port = await freePort();
  const servers = upstreams.map((u) => `        server ${hostPort(u.url)} weight=${u.proxyWeight};`).join('\n');
  const conf = fill('./nginx.conf.template', { PREFIX: dir, WORKERS: workers, PORT: port, SERVERS: servers });
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const args = ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')];
  execFileSync(bin, ['-t', '-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const n = workers === 'auto' ? os.availableParallelism() : Number(workers);
  const p = await startProxy({ name, bin, args, dir, port, expectedProcesses: 1 + n });
  return { ...p, kind: 'nginx', workers, config: conf };
}

/** HAProxy, one process with `threads` threads. upstreams: [{ id, url, proxyWeight }]. */
export async function startHaproxy({ name, threads, upstreams }) {
  const bin = findBinary('haproxy');
  if (!bin) return null;
  const dir = tempDir('bench-haproxy-');
  const port = await freePort();
  const servers = upstreams.map((u, i) => `    server ${u.id ?? `op${i}`} ${hostPort(u.url)} weight ${u.proxyWeight}`).join('\n');
  const conf = fill('./haproxy.cfg.template', { PREFIX: dir, THREADS: threads, PORT: port, SERVERS: servers });
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, conf);
  execFileSync(bin, ['-c', '-q', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = await startProxy({ name, bin, args: ['-db', '-f', file], dir, port, expectedProcesses: 1 });
  return { ...p, kind: 'haproxy', threads, config: conf };
}

/** Last resort on exit: SIGKILL every proxy still running (their process groups are ours). */
export function killAllProxies() {
  for (const child of live) {
    try {
      for (const pid of processTree(child.pid)) process.kill(pid, 'SIGKILL');
    } catch {}
  }
}
