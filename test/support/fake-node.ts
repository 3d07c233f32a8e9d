/**
 * A scripted Ethereum node over real HTTP (single calls and batches): a chain id, a head the test moves, and answers to
 * the block-sensitive methods that follow from that head (blocks above it are unknown, as a
 * real node says). A test overrides any method's answer with `answer`, and reads what the
 * node was asked in `calls` (probes included: count the methods a test sends, not probes').
 */
import { createServer, type Server } from 'node:http';

export interface FakeCall {
  readonly method: string;
  readonly params: readonly unknown[];
}

/** What `answer` returns: a result, an error, or undefined for the node's default answer. */
export type FakeAnswer = { result: unknown } | { error: { code: number; message: string } } | undefined;

export interface FakeNode {
  readonly url: string;
  chainId: number;
  head: number;
  /** Overrides the default answer of a call (return undefined to keep it). */
  answer: (call: FakeCall) => FakeAnswer;
  readonly calls: FakeCall[];
  /** How many calls of `method` the node was sent, optionally only those whose params match. */
  count(method: string, match?: (params: readonly unknown[]) => boolean): number;
  close(): Promise<void>;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** A block's number from a block parameter: a hex quantity or a tag, as this node reads it. */
function blockOf(param: unknown, head: number): number | 'unknown' {
  if (param === undefined || param === 'latest' || param === 'pending' || param === 'safe' || param === 'finalized') return head;
  if (param === 'earliest') return 0;
  if (typeof param === 'string' && /^0x[0-9a-fA-F]+$/.test(param)) return Number.parseInt(param, 16);
  return 'unknown';
}

const BLOCK_PARAM_AT: Readonly<Record<string, number>> = { eth_getBalance: 1, eth_getCode: 1, eth_call: 1, eth_getTransactionCount: 1, eth_getStorageAt: 2 };

export async function startFakeNode(options: { chainId: number; head: number }): Promise<FakeNode> {
  const calls: FakeCall[] = [];
  const node: FakeNode = {
    url: '',
    chainId: options.chainId,
    head: options.head,
    answer: () => undefined,
    calls,
    count: (method, match) => calls.filter((c) => c.method === method && (match === undefined || match(c.params))).length,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const defaultAnswer = (call: FakeCall): FakeAnswer => {
    const head = node.head;
    switch (call.method) {
      case 'eth_chainId':
        return { result: hex(node.chainId) };
      case 'eth_blockNumber':
        return { result: hex(head) };
      case 'eth_getBlockByNumber': {
        const number = blockOf(call.params[0], head);
        if (number === 'unknown') return { error: { code: -32602, message: 'invalid block number' } };
        return { result: number > head ? null : { number: hex(number), hash: `0x${number.toString(16).padStart(64, '0')}`, transactions: [] } };
      }
      default: {
        const at = BLOCK_PARAM_AT[call.method];
        if (at !== undefined) {
          const number = blockOf(call.params[at], head);
          if (number === 'unknown') return { error: { code: -32602, message: 'invalid block number' } };
          if (number > head) return { error: { code: -32000, message: 'header not found' } };
        }
        return { result: '0x0' };
      }
    }
  };

  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      type Request = { id?: unknown; method: string; params?: unknown[] };
      const answerOne = (request: Request) => {
        const call: FakeCall = { method: request.method, params: Array.isArray(request.params) ? request.params : [] };
        calls.push(call);
        return { jsonrpc: '2.0', id: request.id ?? null, ...(node.answer(call) ?? defaultAnswer(call)) };
      };
      const parsed = JSON.parse(body) as Request | Request[];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(Array.isArray(parsed) ? parsed.map(answerOne) : answerOne(parsed)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (node as { url: string }).url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  return node;
}
