/**
 * Reads HTTP/1.1 requests off a raw socket, as a scripted operator sees them: each framed by
 * its Content-Length (keep-alive, pipelined ones too), handed over whole in order.
 */
import type net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');

/** Calls `onRequest` with each request's body, in arrival order, however the bytes were split. */
export function onRequests(socket: net.Socket, onRequest: (body: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const headEnd = pending.indexOf(HEAD_END);
      if (headEnd < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(pending.toString('latin1', 0, headEnd))?.[1] ?? 0);
      const bodyStart = headEnd + HEAD_END.length;
      if (pending.length < bodyStart + length) return;
      const body = pending.subarray(bodyStart, bodyStart + length);
      pending = pending.subarray(bodyStart + length);
      onRequest(body);
    }
  });
}
