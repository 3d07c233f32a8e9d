// Small helpers shared by the bench scripts: child processes that announce themselves with
// one JSON line on stdout, CPU time from /proc, and a description of the machine.
import { spawn, execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { createInterface } from 'node:readline';

/**
 * The node flags a gateway build runs with in production: those on the first line of its
 * `dist/cli.js` (`#!/usr/bin/env -S node FLAGS`), so the bench starts its gateways as
 * `din-gateway start` does. `root`: the directory holding that build's dist/.
 */
export function gatewayNodeFlags(root) {
  let first;
  try {
    first = readFileSync(`${root}/dist/cli.js`, 'utf8').split('\n', 1)[0];
  } catch {
    return [];
  }
  const m = /^#!\/usr\/bin\/env(?: -S)? node(.*)$/.exec(first);
  return m ? m[1].split(' ').filter(Boolean) : [];
}

/**
 * Spawns `node script ...args` and resolves with { child, info } once the child printed its
 * first stdout line (JSON). Later JSON lines go to child.lines (e.g. the final stats line).
 * stdin stays an open pipe: children exit when it closes, so a crashed parent leaves no orphans.
 * `nofile`: start it through `sh -c 'ulimit -n N'` (an open-file limit above this process's).
 */
export function spawnNode(script, args = [], env = {}, nodeArgs = [], nofile = undefined) {
  const argv = [...nodeArgs, script, ...args];
  const child = nofile === undefined
    ? spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } })
    : spawn('/bin/sh', ['-c', `ulimit -n ${nofile} || exit 97; exec "$0" "$@"`, process.execPath, ...argv], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, ...env },
      });
  child.lines = [];
  const rl = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    let first = true;
    rl.on('line', (line) => {
      let parsed;
      try {
        parsed = JSON.parse(line);
      } catch {
        process.stderr.write(`[${script}] ${line}\n`);
        return;
      }
      if (first) {
        first = false;
        resolve({ child, info: parsed });
      } else child.lines.push(parsed);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const why = code === 97 && nofile !== undefined ? ': could not raise the open-file limit' : '';
      if (first) reject(new Error(`${script} exited (code ${code}${why}, signal ${signal}) before announcing itself`));
    });
  });
}

/** Sends SIGTERM and waits for the exit (SIGKILL after `graceMs`). */
export function stopChild(child, graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Exits the calling process when its stdin closes (the parent went away). */
export function exitWhenParentGoes(onGone) {
  process.stdin.on('end', onGone);
  process.stdin.on('error', onGone);
  process.stdin.resume();
}

let ticksPerSecond;
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * CPU seconds used by `pid` so far, from /proc/PID/stat: utime + stime (fields 14, 15),
 * plus cutime + cstime (16, 17: children already waited for) when `withChildren`.
 */
export function cpuSeconds(pid, withChildren = false) {
  return statCpuSeconds(`/proc/${pid}/stat`, withChildren);
}

/**
 * CPU seconds of the process's main thread only (/proc/PID/task/PID/stat): for node, the event
 * loop. cpuSeconds(pid) minus this is V8's helper threads (concurrent GC, compiler) and libuv's pool.
 */
export function mainThreadCpuSeconds(pid) {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`, false);
}

function statCpuSeconds(path, withChildren) {
  const f = statFields(path);
  const ticks = f[11] + f[12] + (withChildren ? f[13] + f[14] : 0);
  return ticks / clockTicks();
}

/** User and system CPU seconds of a process (all its threads), apart. */
export function userSystemSeconds(pid) {
  const f = statFields(`/proc/${pid}/stat`);
  return { user: f[11] / clockTicks(), system: f[12] / clockTicks() };
}

/** The numeric fields of a /proc stat file from field 3 on (f[11] is utime, f[12] stime). */
function statFields(path) {
  const stat = readFileSync(path, 'utf8');
  // comm (field 2) may contain spaces; everything after its closing paren starts at field 3.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
}

export function machineInfo() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let nproc;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    nproc = os.availableParallelism();
  }
  let wrk = null;
  try {
    wrk = execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0];
  } catch (err) {
    // `wrk -v` exits 1 after printing its version.
    wrk = String(err.stdout ?? '').split('\n')[0] || null;
  }
  return {
    nproc,
    cpuModel: model,
    node: process.version,
    kernel: os.release(),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    wrk,
  };
}

/**
 * Whole-machine CPU seconds (all cores) from the "cpu" line of /proc/stat: `busy` (user, nice,
 * system, irq, softirq) and `steal` (time the hypervisor gave to other guests).
 */
export function systemCpuSeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const t = clockTicks();
  return { busy: (user + nice + system + irq + softirq) / t, steal: (steal ?? 0) / t };
}

/**
 * Waits until the machine is quiet: a `sampleMs` window in which all CPUs together were busy
 * less than `maxCores` (our own idle processes included). Gives up after `maxWaitS` seconds.
 * Resolves with the seconds waited beyond the first sample (0: quiet at once), or -1 when it gave up.
 */
export async function waitForQuiet({ maxWaitS, maxCores = 0.15, sampleMs = 1000 }) {
  const deadline = Date.now() + maxWaitS * 1000;
  const t0 = Date.now();
  do {
    const a = systemCpuSeconds();
    await new Promise((r) => setTimeout(r, sampleMs));
    const b = systemCpuSeconds();
    if ((b.busy - a.busy + b.steal - a.steal) / (sampleMs / 1000) < maxCores) return Math.max(0, Math.round((Date.now() - t0 - sampleMs) / 1000));
  } while (Date.now() < deadline);
  return -1;
}

/** Parent pid of `pid` (field 4 of /proc/PID/stat), or null when the process is gone. */
function parentPid(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** `pid` and all its descendants (scans /proc: e.g. an nginx master and its workers). */
export function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentPid(Number(name));
    if (ppid === null) continue;
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Resident memory of a group of processes, in KiB: `rss` sums VmRSS (pages shared between the
 * processes, e.g. nginx's master and workers, count once per process), `pss` sums the
 * proportional set size from smaps_rollup (shared pages split between their users).
 */
export function memoryKiB(pids) {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      rss += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { rss, pss };
}

/** A loopback TCP port that nobody listens on right now (small race until the caller binds it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Absolute path of an executable on PATH (or in /usr/sbin, /sbin, where Debian puts nginx and haproxy), or null. */
export function findBinary(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = `${dir}/${name}`;
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

/**
 * Machine-wide TCP counters from /proc/net/netstat: `listenOverflows` counts connection attempts
 * dropped because a listen queue was full (the client retries its SYN after 1 s, then 2 s, ...).
 */
export function tcpCounters() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = lines[i].split(' ');
    const values = lines[i + 1].split(' ');
    return { listenOverflows: Number(values[names.indexOf('ListenOverflows')]) };
  } catch {
    return { listenOverflows: NaN };
  }
}
