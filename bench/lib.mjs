// Small helpers shared by the bench scripts: child processes that announce themselves with
// one JSON line on stdout, CPU time from /proc, and a description of the machine.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';

/**
 * Spawns `node script ...args` and resolves with { child, info } once the child printed its
 * first stdout line (JSON). Later JSON lines go to child.lines (e.g. the final stats line).
 * stdin stays an open pipe: children exit when it closes, so a crashed parent leaves no orphans.
 */
export function spawnNode(script, args = [], env = {}, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
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
      if (first) reject(new Error(`${script} exited (code ${code}, signal ${signal}) before announcing itself`));
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
  const stat = readFileSync(path, 'utf8');
  // comm (field 2) may contain spaces; everything after its closing paren starts at field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const ticks = f[11] + f[12] + (withChildren ? f[13] + f[14] : 0);
  return ticks / clockTicks();
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
