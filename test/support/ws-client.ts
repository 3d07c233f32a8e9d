/**
 * A WebSocket client for tests: answers are queued as they come and awaited in order.
 */
import WebSocket from 'ws';

export interface WsClient {
  readonly ws: WebSocket;
  /** The next message, parsed as JSON (typed loosely: tests read its members). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  next(): Promise<any>;
  /** Whether nothing more arrives within `ms`. */
  silentFor(ms: number): Promise<boolean>;
}

/** Opens `url` and resolves once the socket is open. */
export async function connectWs(url: string): Promise<WsClient> {
  const ws = new WebSocket(url);
  const inbox: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  ws.on('message', (data) => {
    const value = JSON.parse(String(data));
    const waiter = waiters.shift();
    if (waiter) waiter(value);
    else inbox.push(value);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    next: () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiters.push(resolve))),
    silentFor: (ms) => new Promise((resolve) => setTimeout(() => resolve(inbox.length === 0 && waiters.length === 0), ms)),
  };
}
