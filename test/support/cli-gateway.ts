/**
 * `din-gateway start --config FILE` in a child process (run from the sources with tsx), so a
 * test can watch for what an in-process gateway would take the test runner down with: the
 * process exiting or aborting.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CliGateway {
  readonly child: ChildProcess;
  readonly rpcUrl: string;
  readonly adminUrl: string;
  /** Set once the process has exited: its code or signal. */
  readonly exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Everything the process wrote to stderr so far. */
  readonly stderr: string;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the CLI with `config` (ports forced to 0, info logs for the "listening" line) and
 * resolves once it listens. `nodeArgs` go before the entry (e.g. another `--import`).
 */
export function startCliGateway(config: Record<string, unknown>, nodeArgs: string[] = []): Promise<CliGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'din-cli-gateway-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...config, logLevel: 'info', rpc: { port: 0 }, admin: { port: 0 } }));
  return startCli(['start', '--config', file], {}, nodeArgs);
}

/** `din-gateway demo` with no simulated client traffic, on ephemeral ports. */
export function startCliDemo(nodeArgs: string[] = []): Promise<CliGateway> {
  return startCli(['demo', '--traffic', '0'], { DIN_RPC_PORT: '0', DIN_ADMIN_PORT: '0', DIN_LOG_LEVEL: 'info' }, nodeArgs);
}

async function startCli(args: string[], env: Record<string, string>, nodeArgs: string[]): Promise<CliGateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, 'src/cli.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let exited: CliGateway['exited'];
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  child.stderr!.on('data', (d) => (stderr += d));
  const listening = await new Promise<{ rpc: string; admin: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.includes('"gateway listening"')) continue;
        const parsed = JSON.parse(line) as { rpc: string; admin: string };
        resolve(parsed);
      }
    });
    void exit.then(() => reject(new Error(`the gateway exited before listening: ${stderr}`)));
  });
  child.stdout!.resume();
  return {
    child,
    rpcUrl: listening.rpc,
    adminUrl: listening.admin,
    get exited() {
      return exited;
    },
    get stderr() {
      return stderr;
    },
    async stop() {
      if (exited === undefined) {
        child.kill('SIGTERM');
        await exit;
      }
      return exited!.code;
    },
  };
}
