/**
 * Issue 16, finding 4: a second gateway started on ports another one holds must exit with
 * "address in use" (exit code 1, the message on stderr) instead of listening beside it
 * (SO_REUSEPORT would let the kernel split connections between the two). Checked for the
 * RPC port and the admin port, with the first gateway single-threaded and with two
 * data-plane workers, and the second one both ways. The first keeps serving.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { strangersOnPort } from '../../src/workers/shared-port-check.js';

const CWD = new URL('../../', import.meta.url).pathname;
const TOKEN = 'exclusive-ports-admin-token-0123';
const dir = mkdtempSync(join(tmpdir(), 'din-ports-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `din-gateway start` with this config to its exit; a process still running after 30 s fails the test. */
function startSecond(name: string, config: Record<string, unknown>): Promise<{ code: number | null; stderr: string }> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ logLevel: 'silent', ...config }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', file], {
    cwd: CWD,
    env: { ...process.env, DIN_CONFIG: '', DIN_REDIS_URL: '', DIN_ADMIN_TOKEN: '', DIN_RPC_PORT: '', DIN_ADMIN_PORT: '', DIN_WORKERS: '' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function expectStillServing(first: Gateway): Promise<void> {
  expect((await fetch(`${first.rpcUrl}health`)).status).toBe(200);
  // The second listener would have answered without a token; the first wants one.
  expect((await fetch(`${first.adminUrl}v1/status`)).status).toBe(401);
  expect((await fetch(`${first.adminUrl}v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
}

describe.each([1, 2])('a second gateway beside one with workers: %i', (firstWorkers) => {
  it('exits with "address in use" for the RPC port and for the admin port, and the first keeps serving', async () => {
    const first = await Gateway.start(parseConfig({ logLevel: 'silent', workers: firstWorkers, rpc: { port: 0 }, admin: { port: 0, token: TOKEN } }));
    try {
      const rpcPort = Number(new URL(first.rpcUrl).port);
      const adminPort = Number(new URL(first.adminUrl).port);
      const outcomes = await Promise.all([
        startSecond(`rpc-single-${firstWorkers}`, { workers: 1, rpc: { port: rpcPort }, admin: { port: 0 } }),
        startSecond(`rpc-workers-${firstWorkers}`, { workers: 2, rpc: { port: rpcPort }, admin: { port: 0 } }),
        startSecond(`admin-${firstWorkers}`, { workers: 1, rpc: { port: 0 }, admin: { port: adminPort } }),
      ]);
      for (const { code, stderr } of outcomes) {
        expect(code, stderr).toBe(1);
        expect(stderr).toMatch(/address in use/);
      }
      expect(outcomes[0]!.stderr).toContain(`:${rpcPort}`);
      expect(outcomes[2]!.stderr).toContain(`:${adminPort}`);
      await expectStillServing(first);
    } finally {
      await first.stop();
    }
  }, 60_000);
});

describe('the workers\' shared port, after they bind it', () => {
  it('tells a process that bound it beside them (SO_REUSEPORT) from this process\'s own sockets', async () => {
    const uWS = (await import('uWebSockets.js')).default;
    const app = uWS.App();
    // A port of its own (the kernel lets nobody join a port it picked itself), bound the way the
    // workers bind it: SO_REUSEPORT, which a process of the same user may join.
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const socket = await new Promise<Exclude<Parameters<Parameters<typeof app.listen>[2]>[0], false>>((resolve, reject) =>
      app.listen('127.0.0.1', port, (s) => (s === false ? reject(new Error('cannot listen')) : resolve(s))),
    );
    try {
      expect(strangersOnPort(port)).toBe(0);
      const stranger = spawn(
        process.execPath,
        ['-e', `const uWS = require('uWebSockets.js'); uWS.App().listen('127.0.0.1', ${port}, (s) => { console.log(s ? 'bound' : 'refused'); });`],
        { cwd: CWD, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const said = await new Promise<string>((resolve) => stranger.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
      expect(said).toBe('bound');
      expect(strangersOnPort(port)).toBe(1);
      stranger.kill('SIGKILL');
      await new Promise((resolve) => stranger.once('exit', resolve));
      expect(strangersOnPort(port)).toBe(0);
    } finally {
      uWS.us_listen_socket_close(socket);
    }
    // A port this process holds nothing on: nothing to compare with.
    expect(strangersOnPort(port)).toBeUndefined();
  });
});
