/**
 * Every answer is the answer to its own request. A hostile operator (a raw `net` server that
 * frames HTTP itself) duplicates answers, writes unsolicited ones, drops, reorders, swaps
 * answers between its connections and sends a 204 with a body; 1,000 concurrent clients, each
 * asking for its own account's balance, must never receive another client's answer, with
 * distinct ids and with all ids alike, with pipelining on and off.
 */
import net from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { onRequests } from '../support/http-requests.js';

type Misbehaviour = 'duplicate' | 'unsolicited' | 'drop' | 'reorder' | 'swap' | 'no_content_with_body';
const MISBEHAVIOURS: readonly Misbehaviour[] = ['duplicate', 'unsolicited', 'drop', 'reorder', 'swap', 'no_content_with_body'];

/** The balance an honest operator reports for `address`: the client checks its answer against it. */
const balanceOf = (address: string) => `0x${address.slice(-8)}`;

function httpAnswer(body: string, status = '200 OK'): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

interface RawOperator {
  readonly url: string;
  /** Misbehaviours committed, by kind. */
  readonly committed: Map<Misbehaviour, number>;
  close(): Promise<void>;
}

/**
 * A JSON-RPC operator over raw sockets: requests framed by Content-Length, answered in order
 * (pipelining included). With `misbehaveShare` > 0 it misbehaves on that share of eth_getBalance
 * calls, cycling through every kind; the rest of its answers, and every other call's, are honest.
 */
async function rawOperator(misbehaveShare: number): Promise<RawOperator> {
  const committed = new Map<Misbehaviour, number>();
  const sockets = new Set<net.Socket>();
  /** Honest answers sent lately on any connection: what a swap passes off as another's. */
  const recent: string[] = [];
  let calls = 0;
  let misbehaved = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    /** An answer held back to be written after the next one (reorder). */
    let held: string | undefined;
    const write = (text: string) => {
      if (!socket.destroyed) socket.write(text);
    };
    onRequests(socket, (body) => {
      const call = JSON.parse(body.toString('utf8')) as { id: unknown; method: string; params?: unknown[] };
      const result = call.method === 'eth_getBalance' ? balanceOf(String(call.params?.[0])) : call.method === 'eth_chainId' ? '0x1' : '0x0';
      const honest = httpAnswer(JSON.stringify({ jsonrpc: '2.0', id: call.id, result }));
      let answer = honest;
      const n = call.method === 'eth_getBalance' ? calls++ : -1;
      if (n >= 0 && n % 10 < misbehaveShare * 10) {
        const kind = MISBEHAVIOURS[misbehaved++ % MISBEHAVIOURS.length]!;
        committed.set(kind, (committed.get(kind) ?? 0) + 1);
        switch (kind) {
          case 'duplicate':
            answer = honest + honest;
            break;
          case 'unsolicited':
            answer = (recent[0] ?? honest) + honest;
            break;
          case 'drop':
            answer = '';
            break;
          case 'reorder':
            // Held until the next request on this connection is answered; written after it.
            held = honest;
            answer = '';
            break;
          case 'swap':
            answer = recent[recent.length - 1] ?? honest;
            break;
          case 'no_content_with_body':
            answer = `HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n${JSON.stringify({ jsonrpc: '2.0', id: call.id, result })}`;
            break;
        }
      } else if (held !== undefined) {
        answer = honest + held;
        held = undefined;
      }
      if (call.method === 'eth_getBalance') {
        recent.push(honest);
        if (recent.length > 16) recent.shift();
      }
      if (answer !== '') write(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    committed,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function gatewayInFront(pipelining: number): Promise<{ url: string; hostile: RawOperator }> {
  const hostile = await rawOperator(0.3);
  const honest = [await rawOperator(0), await rawOperator(0)];
  closers.push(() => hostile.close(), ...honest.map((op) => () => op.close()));
  const config = parseConfig({
    logLevel: 'silent',
    rpc: { port: 0 },
    admin: { port: 0 },
    routing: { explorationShare: 0 },
    // A dropped answer costs its request one attempt timeout before it goes elsewhere.
    upstream: { pipelining, connections: 8, attemptTimeoutMs: 1_000, requestDeadlineMs: 10_000, maxAttempts: 3 },
    staking: { crossCheck: { sampleRate: 0 } },
    // The hostile operator holds most of the stake: it gets most first attempts.
    operators: [
      { id: 'hostile', url: hostile.url, stake: '8000000000000000000' },
      { id: 'honest-1', url: honest[0]!.url, stake: '1000000000000000000' },
      { id: 'honest-2', url: honest[1]!.url, stake: '1000000000000000000' },
    ],
  });
  const gateway = await Gateway.start(config, { autoMeasure: false });
  closers.push(() => gateway.stop());
  return { url: gateway.rpcUrl, hostile };
}

/** 1,000 clients, 100 at a time, each asking its own account's balance; counts answers that are not its own. */
async function crowd(url: string, idOf: (client: number) => number | string): Promise<{ own: number; wrong: number; errors: number }> {
  const dispatcher = new Agent({ connections: 100, pipelining: 1 });
  closers.push(() => dispatcher.close());
  let own = 0;
  let wrong = 0;
  let errors = 0;
  let next = 0;
  const client = async () => {
    for (let i = next++; i < 1_000; i = next++) {
      const address = `0x${(0xa0000000 + i).toString(16).padStart(40, '0')}`;
      const id = idOf(i);
      const res = await request(url, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'eth_getBalance', params: [address, 'latest'] }),
      });
      const answer = (await res.body.json()) as { id: unknown; result?: string; error?: unknown };
      if (answer.result === undefined) errors++;
      else if (answer.result === balanceOf(address) && answer.id === id) own++;
      else wrong++;
    }
  };
  await Promise.all(Array.from({ length: 100 }, client));
  return { own, wrong, errors };
}

describe('no client receives another client\'s answer from a hostile operator', () => {
  for (const pipelining of [8, 1]) {
    it(`pipelining ${pipelining}: distinct ids, then every id alike`, async () => {
      const { url, hostile } = await gatewayInFront(pipelining);
      const distinct = await crowd(url, (i) => i + 1);
      const alike = await crowd(url, () => 1);
      // The operator did misbehave, in every way.
      for (const kind of MISBEHAVIOURS) expect(hostile.committed.get(kind) ?? 0, kind).toBeGreaterThan(0);
      expect(distinct.wrong).toBe(0);
      expect(alike.wrong).toBe(0);
      // Failover to the honest operators answers (almost) everyone.
      expect(distinct.own + distinct.errors).toBe(1_000);
      expect(alike.own + alike.errors).toBe(1_000);
      expect(distinct.own).toBeGreaterThan(950);
      expect(alike.own).toBeGreaterThan(950);
    }, 120_000);
  }
});
