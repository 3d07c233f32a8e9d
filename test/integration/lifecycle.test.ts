/**
 * Start and stop as a user sees them: the CLI's exit codes for bad configs, a gateway with
 * no operators that starts anyway, and a graceful stop that finishes in-flight requests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { post, rpc, startStack } from '../support/stack.js';

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code) => resolve({ code, stderr, stdout }));
  });
}

describe('din-gateway start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'din-cli-'));

  it('exits 2 and names the field when the config is invalid', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ rpc: { port: 'eighty' }, operators: [{ id: 'a', url: 'ftp://x' }] }));
    const res = await runCli(['start', '--config', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('rpc.port');
    expect(res.stderr).toContain('operators.0.url');
  });

  it('exits 2 for a bad DIN_* override, a missing file and invalid JSON', async () => {
    expect((await runCli(['start'], { DIN_RPC_PORT: 'abc' })).stderr).toContain('DIN_RPC_PORT');
    const missing = await runCli(['start', '--config', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{');
    expect((await runCli(['start', '--config', file])).code).toBe(2);
  });

  it('refuses an open admin API on a non-loopback address', async () => {
    const res = await runCli(['start'], { DIN_RPC_PORT: '0', DIN_ADMIN_PORT: '0', DIN_ADMIN_HOST: '0.0.0.0', DIN_LOG_LEVEL: 'silent' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('requires an admin token');
  });

  it('starts with no operators, reports not ready, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      env: { ...process.env, DIN_RPC_PORT: '0', DIN_ADMIN_PORT: '0', DIN_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const line = await new Promise<string>((resolve) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
    });
    const started = JSON.parse(line) as { rpc: string; ready: boolean };
    expect(started.ready).toBe(false);
    const ready = await fetch(`${started.rpc}ready`);
    expect(ready.status).toBe(503);
    const exit = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});

describe('graceful stop', () => {
  it('finishes requests in flight, then refuses new connections', async () => {
    const stack = await startStack({ operators: [{ profile: { latencyMs: { median: 1000, p99: 1000 } } }] });
    const inflight = post(stack.url, rpc('eth_chainId', 'slow'));
    // In flight once the gateway has read it. A fixed pause was not enough on a loaded machine:
    // a request still unread at stop() is on a connection that closes (ECONNRESET).
    await vi.waitFor(
      async () => expect(await (await fetch(`${stack.gateway.adminUrl}metrics`)).text()).toMatch(/^din_inflight_requests 1$/m),
      { timeout: 5_000, interval: 10 },
    );
    const stopped = stack.gateway.stop();
    const res = await inflight;
    expect(res.json).toEqual({ jsonrpc: '2.0', id: 'slow', result: '0x1' });
    await stopped;
    await expect(fetch(`${stack.url}health`)).rejects.toThrow();
    await stack.stop();
  });

  it('reports a port already in use instead of crashing', async () => {
    const first = await Gateway.start(parseConfig({ logLevel: 'silent', rpc: { port: 0 }, admin: { port: 0 } }));
    const taken = Number(new URL(first.rpcUrl).port);
    await expect(Gateway.start(parseConfig({ logLevel: 'silent', rpc: { port: taken }, admin: { port: 0 } }))).rejects.toThrow(/cannot listen/);
    await first.stop();
  });
});

describe('the demo (npm start)', () => {
  it('starts four simulated operators behind a ready gateway and stops cleanly', async () => {
    const { startDemo, demoBanner } = await import('../../src/demo.js');
    const demo = await startDemo({ DIN_RPC_PORT: '0', DIN_ADMIN_PORT: '0', DIN_LOG_LEVEL: 'silent' }, { trafficPerSecond: 0, autoMeasure: false });
    try {
      expect(demo.operators.map((o) => o.name)).toEqual(['fast', 'slow', 'flaky', 'bad-data']);
      expect((await fetch(`${demo.gateway.rpcUrl}ready`)).status).toBe(200);
      const res = await post(demo.gateway.rpcUrl, rpc('eth_chainId', 1));
      expect(res.json.result).toBe('0x1');
      const banner = demoBanner(demo);
      expect(banner).toContain(demo.gateway.rpcUrl);
      expect(banner).toContain(`Bearer ${demo.adminToken}`);
      const admin = await fetch(`${demo.gateway.adminUrl}v1/operators`, { headers: { authorization: `Bearer ${demo.adminToken}` } });
      expect(((await admin.json()) as { operators: unknown[] }).operators).toHaveLength(4);
    } finally {
      await demo.stop();
    }
  });
});
