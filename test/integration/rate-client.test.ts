/**
 * bench/rate-client.mjs reads answers itself (status line and Content-Length only), so its
 * counts are only as good as that reading: here a real server splits heads and bodies across
 * writes, answers some requests 503, drops some connections, and the client must account for
 * every request exactly once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

interface RateResult {
  requests: number;
  ok: number;
  errors: number;
  non2xx: number;
  wrong?: number;
  serviceUs: { p50: number | null };
}

const BODY = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}';

/**
 * One request at a time per connection (as the client sends them); `answer(n, socket)` writes
 * the answer to the n-th request the server has seen (from 0).
 */
function server(answer: (n: number, socket: net.Socket) => void): Promise<{ url: string; close: () => Promise<void>; requests: () => number }> {
  let seen = 0;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        const length = Number(/content-length: *(\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        expect(pending.slice(end + 4, end + 4 + length)).toBe(BODY);
        pending = pending.slice(end + 4 + length);
        answer(seen++, socket);
      }
    });
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        requests: () => seen,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            srv.close(() => done());
          }),
      });
    });
  });
}

function runClient(url: string, rate: number, seconds: number, extra: string[] = []): Promise<RateResult> {
  return new Promise((resolve, reject) => {
    const args = ['bench/rate-client.mjs', '--url', url, '--body', BODY, '--rate', String(rate), '--duration', String(seconds), '--warmup', '0', '--connections', '4', ...extra];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // It finishes once every request is accounted for: one it lost would keep it waiting.
    const hung = setTimeout(() => {
      child.kill();
      reject(new Error('rate-client did not finish: a request was never accounted for'));
    }, 10_000 + seconds * 1000);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(hung);
      if (code === 0) resolve(JSON.parse(out) as RateResult);
      else reject(new Error(`rate-client exited ${code}: ${err}`));
    });
  });
}

const later = (f: () => void): void => void setTimeout(f, 1);

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe('bench/rate-client.mjs', () => {
  it('accounts for every request: answers split anywhere, 503s, dropped connections', async () => {
    const answerBody = '{"jsonrpc":"2.0","id":1,"result":"0x10"}';
    const head = (status: string, length: number) => `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const s = await server((n, socket) => {
      const ok = head('200 OK', answerBody.length) + answerBody;
      if (n % 10 === 3) return socket.destroy(); // dropped: an error
      if (n % 10 === 5) return void socket.write(head('503 Service Unavailable', 2) + '{}'); // non-2xx
      // The rest in two writes, split at every point in turn: in the status line, in a header,
      // within the empty line that ends the head, in the body.
      const cut = 1 + (n % (ok.length - 1));
      socket.write(ok.slice(0, cut), 'latin1');
      later(() => socket.write(ok.slice(cut), 'latin1'));
    });
    stop = s.close;
    const r = await runClient(s.url, 200, 1.5);
    expect(r.requests).toBe(300);
    expect(s.requests()).toBe(300);
    expect(r.errors).toBe(30);
    expect(r.non2xx).toBe(30);
    expect(r.ok).toBe(240);
    expect(r.serviceUs.p50).toBeGreaterThan(0);
  });

  it('counts an answer it cannot frame (no Content-Length) or one with bytes past its end as errors', async () => {
    const s = await server((n, socket) => {
      if (n % 2 === 0) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}}');
    });
    stop = s.close;
    const r = await runClient(s.url, 100, 0.5);
    expect(r.requests).toBe(50);
    expect(r.errors).toBe(50);
    expect(r.ok).toBe(0);
  });

  it('gives up on a request unanswered after --timeout, and goes on on a fresh connection', async () => {
    const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}';
    const s = await server((n, socket) => {
      if (n % 10 !== 7) socket.write(ok);
    });
    stop = s.close;
    const r = await runClient(s.url, 100, 1, ['--timeout', '0.5']);
    expect(r.requests).toBe(100);
    expect(r.errors).toBe(10);
    expect(r.ok).toBe(90);
  });

  it('--expect counts a 200 with another body as wrong, --record gives every request its send time and outcome', async () => {
    const right = '{"jsonrpc":"2.0","id":1,"result":"0x10"}';
    const wrongBody = '{"jsonrpc":"2.0","id":1,"result":"0x11"}';
    const answer = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const s = await server((n, socket) => {
      if (n % 10 === 1) return void socket.write(answer(wrongBody));
      if (n % 10 === 2) return socket.destroy();
      if (n % 10 === 4) return void socket.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}');
      // The right answer split inside its body: the check must see the whole of it.
      const full = answer(right);
      socket.write(full.slice(0, full.length - 5));
      later(() => socket.write(full.slice(full.length - 5)));
    });
    stop = s.close;
    const dir = mkdtempSync(join(tmpdir(), 'rate-client-'));
    try {
      const file = join(dir, 'record.json');
      const before = Date.now();
      const r = await runClient(s.url, 100, 1, ['--expect', '"result":"0x10"', '--record', file]);
      expect(r.requests).toBe(100);
      expect(r.wrong).toBe(10);
      expect(r.errors).toBe(10);
      expect(r.non2xx).toBe(10);
      expect(r.ok).toBe(70);
      const record = JSON.parse(readFileSync(file, 'utf8')) as { epochMs: number; requests: [number, number, number][] };
      expect(record.epochMs).toBeGreaterThanOrEqual(before);
      expect(record.epochMs).toBeLessThanOrEqual(Date.now());
      expect(record.requests).toHaveLength(100);
      const statuses = record.requests.map(([, , status]) => status);
      expect(statuses.filter((x) => x === -1)).toHaveLength(10);
      expect(statuses.filter((x) => x === 0)).toHaveLength(10);
      expect(statuses.filter((x) => x === 503)).toHaveLength(10);
      expect(statuses.filter((x) => x === 200)).toHaveLength(70);
      for (const [sent, done] of record.requests) {
        expect(sent).toBeGreaterThanOrEqual(0);
        expect(done).toBeGreaterThanOrEqual(sent);
      }
      // Sent on the fixed schedule: the last one about a second after the first.
      expect(record.requests[99]![0] - record.requests[0]![0]).toBeGreaterThan(900);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
