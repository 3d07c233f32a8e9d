/**
 * A JSON-RPC operator as a raw `net` server: it reads HTTP/1.1 requests (Content-Length
 * bodies, keep-alive, pipelined) and answers each single call with the result text a test
 * chooses, byte for byte, so a test can send what no well-behaved node would (a result nested
 * 20,000 levels deep, a megabyte-long lie), or with a JSON-RPC error.
 */
import net from 'node:net';
import { onRequests } from './http-requests.js';

export interface RawCall {
  readonly method: string;
  readonly id: unknown;
  readonly request: Record<string, unknown>;
}

export interface RawOperator {
  readonly url: string;
  /** Every call answered so far, in arrival order. */
  readonly calls: RawCall[];
  close(): Promise<void>;
}

/** An answer's result as JSON text, or its error object as JSON text. */
export type RawAnswer = string | { readonly errorJson: string };

/** Starts an operator whose answer to `call` has `resultFor(call)` as its result (JSON text) or error. */
export async function startRawOperator(resultFor: (call: RawCall) => RawAnswer): Promise<RawOperator> {
  const calls: RawCall[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    // Head and body go out in two writes: without it, Nagle and delayed ACKs cost 40 ms an answer.
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onRequests(socket, (raw) => {
      const request = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      const call: RawCall = { method: String(request['method']), id: request['id'], request };
      calls.push(call);
      const answer = resultFor(call);
      const member = typeof answer === 'string' ? `"result":${answer}` : `"error":${answer.errorJson}`;
      const body = Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(call.id ?? null)},${member}}`);
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
      socket.write(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `depth` nested arrays around nothing: `[[[...]]]`. */
export function nestedArrays(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}
