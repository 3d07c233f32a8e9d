import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ChainModel, deterministicHex, isAddress, toQuantity } from './chain-model.js';
import { drawLatencyMs, resolveProfile, type SimProfile } from './profiles.js';

export interface SimOptions {
  name: string;
  profile?: Partial<SimProfile>;
  host?: string;
  port?: number;
  random?: () => number;
  blockTimeMs?: number;
  genesisMs?: number;
}

export interface SimStats {
  httpRequests: number;
  /** JSON-RPC items received (a batch of 10 counts 10), faulted requests included. */
  rpcCalls: number;
  byMethod: Map<string, number>;
}

type JsonRpcId = string | number | null;

interface Envelope {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: unknown;
  error?: { code: number; message: string };
}

type Fault = 'hang' | 'error' | 'rateLimit' | 'garbage' | 'wrongId' | undefined;

/** What the body parsed to; kept so the answer can be computed after the latency delay. */
type Parsed = { kind: 'invalidJson' } | { kind: 'single'; item: unknown } | { kind: 'batch'; items: unknown[] };

const MAX_BODY_BYTES = 10 * 1024 * 1024;
// Looks like a proxy error page behind a 200: the gateway must parse, not trust status or headers.
const GARBAGE_BODY = '<html><body><h1>502 Bad Gateway</h1></body></html>';
const HEX_DATA = /^0x(?:[0-9a-fA-F]{2})*$/;
// Large enough that a lying head is obviously out of line with honest peers.
const BAD_HEAD_OFFSET = 100_000;
const ONE_ETH = 10n ** 18n;

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return value === null || typeof value === 'string' || typeof value === 'number';
}

/** Same type as the original where possible, and never equal to it. */
function wrongId(id: JsonRpcId): JsonRpcId {
  if (typeof id === 'number') return id + 1_000_000_007;
  if (typeof id === 'string') return `${id}-wrong`;
  return 'wrong';
}

/** A real JSON-RPC node operator over HTTP, with injectable latency and faults. */
export class SimulatedOperator {
  readonly name: string;
  readonly stats: SimStats = { httpRequests: 0, rpcCalls: 0, byMethod: new Map() };

  private profile: SimProfile;
  private chain: ChainModel;
  private readonly host: string;
  private boundPort: number;
  private readonly random: () => number;
  private readonly blockTimeMs: number | undefined;
  private readonly genesisMs: number | undefined;
  private server: http.Server | undefined;
  // closeAllConnections() covers sockets the http parser knows about; tracking catches the rest
  // (e.g. a connection accepted but not yet parsed) so stop() really leaves nothing open.
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: SimOptions) {
    this.name = options.name;
    this.profile = resolveProfile(options.profile);
    this.host = options.host ?? '127.0.0.1';
    this.boundPort = options.port ?? 0;
    this.random = options.random ?? Math.random;
    this.blockTimeMs = options.blockTimeMs;
    this.genesisMs = options.genesisMs;
    this.chain = this.chainFor(this.profile.chainId);
  }

  get url(): string {
    if (this.boundPort === 0) throw new Error(`simulated operator ${this.name} has not been started`);
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.boundPort}/`;
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<string> {
    if (this.server) return this.url;
    const server = http.createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as AddressInfo).port;
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Listens again on the port chosen at the first start(), so URLs held by clients stay valid. */
  async restart(): Promise<string> {
    await this.stop();
    return this.start();
  }

  setProfile(patch: Partial<SimProfile>): void {
    this.profile = resolveProfile(patch, this.profile);
    if (this.profile.chainId !== this.chain.chainId) this.chain = this.chainFor(this.profile.chainId);
  }

  resetStats(): void {
    this.stats.httpRequests = 0;
    this.stats.rpcCalls = 0;
    this.stats.byMethod.clear();
  }

  private chainFor(chainId: number): ChainModel {
    return new ChainModel({ chainId, blockTimeMs: this.blockTimeMs, genesisMs: this.genesisMs });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.stats.httpRequests++;
    // Client aborts and stop() surface here; there is nobody left to answer.
    req.on('error', () => {});
    if (req.method !== 'POST') {
      req.resume();
      this.sendText(res, 405, 'only POST is supported', { allow: 'POST' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        this.sendText(res, 413, 'request body too large', { connection: 'close' });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) this.onBody(Buffer.concat(chunks, size).toString('utf8'), res);
    });
  }

  private onBody(text: string, res: http.ServerResponse): void {
    const parsed = parseBody(text);
    this.count(parsed);
    // Captured now so setProfile() affects only requests that arrive after it.
    const profile = this.profile;
    const chain = this.chain;
    const fault = this.pickFault(profile);
    // A hung request keeps its socket open until the client gives up or stop() destroys it.
    if (fault === 'hang') return;
    const delay = drawLatencyMs(profile.latencyMs, this.random);
    const answer = (): void => this.reply(res, fault, parsed, profile, chain);
    if (delay <= 0) {
      answer();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      answer();
    }, delay);
    this.timers.add(timer);
  }

  private count(parsed: Parsed): void {
    const items = parsed.kind === 'batch' ? parsed.items : parsed.kind === 'single' ? [parsed.item] : [];
    this.stats.rpcCalls += items.length;
    for (const item of items) {
      if (isRecord(item) && typeof item.method === 'string') {
        this.stats.byMethod.set(item.method, (this.stats.byMethod.get(item.method) ?? 0) + 1);
      }
    }
  }

  /**
   * One draw per HTTP request split into consecutive bands, so each rate is exactly the share
   * of requests that get that fault (as long as the rates sum to at most 1).
   */
  private pickFault(profile: SimProfile): Fault {
    if (profile.hang) return 'hang';
    const r = this.random();
    let edge = profile.errorRate;
    if (r < edge) return 'error';
    edge += profile.rateLimitRate;
    if (r < edge) return 'rateLimit';
    edge += profile.garbageRate;
    if (r < edge) return 'garbage';
    edge += profile.wrongIdRate;
    if (r < edge) return 'wrongId';
    return undefined;
  }

  private reply(res: http.ServerResponse, fault: Fault, parsed: Parsed, profile: SimProfile, chain: ChainModel): void {
    if (res.destroyed) return;
    if (fault === 'error') return this.sendText(res, 500, 'internal server error');
    if (fault === 'rateLimit') return this.sendText(res, 429, 'too many requests', { 'retry-after': '1' });
    if (fault === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(GARBAGE_BODY) });
      res.end(GARBAGE_BODY);
      return;
    }

    const now = Date.now();
    let payload: Envelope | Envelope[] | undefined;
    if (parsed.kind === 'invalidJson') {
      payload = errorEnvelope(null, -32700, 'Parse error');
    } else if (parsed.kind === 'single') {
      payload = this.answerItem(parsed.item, profile, chain, now);
    } else if (parsed.items.length === 0) {
      payload = errorEnvelope(null, -32600, 'Invalid Request');
    } else {
      const answers: Envelope[] = [];
      for (const item of parsed.items) {
        const answer = this.answerItem(item, profile, chain, now);
        if (answer) answers.push(answer);
      }
      payload = answers.length > 0 ? answers : undefined;
    }

    if (payload === undefined) {
      res.writeHead(204);
      res.end();
      return;
    }
    if (fault === 'wrongId') {
      for (const envelope of Array.isArray(payload) ? payload : [payload]) envelope.id = wrongId(envelope.id);
    }
    const body = JSON.stringify(payload);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** undefined for notifications, which are executed but never answered. */
  private answerItem(item: unknown, profile: SimProfile, chain: ChainModel, now: number): Envelope | undefined {
    if (
      !isRecord(item) ||
      item.jsonrpc !== '2.0' ||
      typeof item.method !== 'string' ||
      ('id' in item && !isId(item.id)) ||
      (item.params !== undefined && (item.params === null || typeof item.params !== 'object'))
    ) {
      const id = isRecord(item) && isId(item.id) ? item.id : null;
      return errorEnvelope(id, -32600, 'Invalid Request');
    }
    let envelope: Envelope;
    const id = 'id' in item ? (item.id as JsonRpcId) : null;
    try {
      const lie = profile.badDataRate > 0 && (profile.lieMethods === undefined || profile.lieMethods.includes(item.method)) && this.random() < profile.badDataRate;
      envelope = { jsonrpc: '2.0', id, result: this.call(chain, item.method, item.params, now, lie) };
    } catch (err) {
      envelope =
        err instanceof RpcError
          ? errorEnvelope(id, err.code, err.message)
          : errorEnvelope(id, -32603, `Internal error: ${String(err)}`);
    }
    return 'id' in item ? envelope : undefined;
  }

  private call(chain: ChainModel, method: string, params: unknown, now: number, lie: boolean): unknown {
    switch (method) {
      case 'eth_chainId':
        return toQuantity(chain.chainId);
      case 'net_version':
        return String(chain.chainId);
      case 'eth_blockNumber': {
        const head = chain.headAt(now);
        return toQuantity(lie ? head + BAD_HEAD_OFFSET : head);
      }
      case 'eth_getBalance': {
        const [address, tag] = positional(params, 2);
        if (!isAddress(address)) throw new RpcError(-32602, 'invalid params: address must be 0x followed by 40 hex digits');
        if (tag !== undefined && chain.resolveBlockTag(tag, now) === undefined) {
          throw new RpcError(-32602, 'invalid params: bad block tag');
        }
        const balance = chain.balanceOf(address);
        return toQuantity(lie ? balance + ONE_ETH : balance);
      }
      case 'eth_getBlockByNumber': {
        const [tag, fullTx] = positional(params, 2);
        const number = chain.resolveBlockTag(tag, now);
        if (number === undefined) throw new RpcError(-32602, 'invalid params: bad block tag');
        if (fullTx !== undefined && typeof fullTx !== 'boolean') {
          throw new RpcError(-32602, 'invalid params: fullTx must be a boolean');
        }
        if (number < 0n || number > BigInt(chain.headAt(now))) return null;
        const cached = chain.block(Number(number), fullTx === true);
        // Another client writes the same block with optional fields of its own.
        const block = this.profile.client === 'nethermind' ? { ...cached, totalDifficulty: '0x0', author: cached.miner } : cached;
        // Cached blocks are shared, so the lie is a shallow copy; inverting every nibble
        // guarantees a well-formed hash that differs from the honest one.
        return lie ? { ...block, hash: invertHex(block.hash) } : block;
      }
      case 'eth_call': {
        // A 32-byte word fixed by (chain, to, data): honest sims agree at any block they have.
        const [tx, tag] = positional(params, 2);
        if (!isRecord(tx) || !isAddress(tx.to)) throw new RpcError(-32602, 'invalid params: the call needs a "to" address');
        const data = tx.data ?? tx.input ?? '0x';
        if (typeof data !== 'string' || !HEX_DATA.test(data)) throw new RpcError(-32602, 'invalid params: data must be 0x-prefixed hex');
        const number = chain.resolveBlockTag(tag ?? 'latest', now);
        if (number === undefined) throw new RpcError(-32602, 'invalid params: bad block tag');
        // What geth answers for a block it does not have.
        if (number > BigInt(chain.headAt(now))) throw new RpcError(-32000, 'header not found');
        const word = `0x${deterministicHex(`${chain.chainId}:call:${tx.to.toLowerCase()}:${data.toLowerCase()}`, 32)}`;
        return lie ? invertHex(word) : word;
      }
      default:
        throw new RpcError(-32601, 'Method not found');
    }
  }

  private sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { ...headers, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

function parseBody(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalidJson' };
  }
  return Array.isArray(value) ? { kind: 'batch', items: value } : { kind: 'single', item: value };
}

function positional(params: unknown, max: number): unknown[] {
  if (params === undefined) return [];
  if (!Array.isArray(params) || params.length > max) {
    throw new RpcError(-32602, `invalid params: expected an array of at most ${max} positional parameters`);
  }
  return params;
}

function invertHex(hex: string): string {
  return `0x${hex.slice(2).replace(/[0-9a-f]/gi, (digit) => (15 - parseInt(digit, 16)).toString(16))}`;
}

function errorEnvelope(id: JsonRpcId, code: number, message: string): Envelope {
  return { jsonrpc: '2.0', id, error: { code, message } };
}
