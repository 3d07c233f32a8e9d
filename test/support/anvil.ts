/**
 * Real Ethereum dev nodes for end-to-end tests: spawns anvil from the pinned npm package
 * `@foundry-rs/anvil-linux-amd64`, each on its own ephemeral port on 127.0.0.1.
 *
 * Every node started here is tracked until it has exited, and a process 'exit' hook
 * SIGKILLs whatever is still alive, so a crashed or interrupted test run leaves no
 * anvil behind. Tests should still call `stop()` (or `stopAllAnvils()`) in afterAll.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The anvil binary shipped by the npm package. */
export const ANVIL_BIN = path.join(path.dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');

/** anvil's default chain id, shared by every node so the gateway can treat them as one chain. */
export const ANVIL_CHAIN_ID = 31337;

/** A fixed genesis timestamp makes every node's genesis block (and so its hash) identical. */
export const ANVIL_GENESIS_TIMESTAMP = 1_700_000_000;

/** anvil's default mnemonic ("test test ... junk") accounts and keys, each funded with 10000 ETH. */
export const DEV_ACCOUNTS = [
  { address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', privateKey: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80' },
  { address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', privateKey: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' },
  { address: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', privateKey: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3ae0bce2a2b0b2a0' },
] as const satisfies readonly { address: `0x${string}`; privateKey: `0x${string}` }[];

/** 10000 ETH in wei: every dev account's genesis balance. */
export const DEV_BALANCE_WEI = 10_000n * 10n ** 18n;

export interface AnvilOptions {
  readonly chainId?: number;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
  /** How long to wait for the node to answer eth_chainId. */
  readonly startTimeoutMs?: number;
}

export interface AnvilNode {
  /** JSON-RPC over HTTP, e.g. http://127.0.0.1:40123/ */
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  readonly pid: number;
  /** True once the process has exited, for any reason. */
  readonly exited: boolean;
  /** One JSON-RPC call straight to this node (no gateway). Rejects on a JSON-RPC error. */
  rpc<T = unknown>(method: string, params?: readonly unknown[]): Promise<T>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill() is.
  process.on('exit', killAllNow);
  // A fatal signal skips 'exit' handlers: kill the nodes, then let the signal do what it
  // would have done (terminate) unless someone else handles it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function rpcCall<T>(url: string, method: string, params: readonly unknown[], timeoutMs = 5_000): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { result?: T; error?: { code: number; message: string } };
  if (body.error !== undefined) throw new Error(`${method} failed: ${body.error.code} ${body.error.message}`);
  return body.result as T;
}

const LISTENING = /Listening on ([0-9.]+):(\d+)/;

/**
 * Starts one anvil on a port the kernel picks (`--port 0`), read back from its
 * "Listening on" line, so two parallel test files can never race for the same port.
 * Resolves once the node answers eth_chainId with the expected id.
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilNode> {
  installExitHook();
  const chainId = options.chainId ?? ANVIL_CHAIN_ID;
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const child = spawn(
    ANVIL_BIN,
    [
      '--host', '127.0.0.1',
      '--port', '0',
      '--chain-id', String(chainId),
      '--timestamp', String(ANVIL_GENESIS_TIMESTAMP),
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));

  const stop = async (graceMs = 2_000): Promise<void> => {
    if (hasExited(child)) return;
    const exited = waitForExit(child);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  let output = '';
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`anvil did not report its port within ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = LISTENING.exec(output);
        if (match !== null) {
          clearTimeout(timer);
          resolve(Number(match[2]));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`anvil exited early (code ${code}, signal ${signal}):\n${output}`));
      });
    });
    // anvil logs every request: keep draining its pipes so it never blocks on a full one.
    child.stdout!.removeAllListeners('data');
    child.stderr!.removeAllListeners('data');
    child.stdout!.resume();
    child.stderr!.resume();

    const url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (hasExited(child)) throw new Error(`anvil exited before answering:\n${output}`);
      try {
        const id = await rpcCall<string>(url, 'eth_chainId', [], 1_000);
        if (Number(id) !== chainId) throw new Error(`anvil answered chain id ${id}, expected ${chainId}`);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`anvil on ${url} did not answer eth_chainId in time`, { cause: err });
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    return {
      url,
      wsUrl: `ws://127.0.0.1:${port}/`,
      port,
      pid: child.pid!,
      get exited() {
        return hasExited(child);
      },
      rpc: <T>(method: string, params: readonly unknown[] = []) => rpcCall<T>(url, method, params),
      stop,
    };
  } catch (err) {
    await stop(500);
    throw err;
  }
}

/** Starts `count` nodes in parallel; if any fails, stops the others before rejecting. */
export async function startAnvils(count: number, options: AnvilOptions = {}): Promise<AnvilNode[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, () => startAnvil(options)));
  const nodes = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failure.reason;
  }
  return nodes;
}

/** Stops every node this process started that is still running. */
export async function stopAllAnvils(): Promise<void> {
  await Promise.all(
    [...live].map(async (child) => {
      const exited = waitForExit(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}
