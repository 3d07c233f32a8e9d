/**
 * Active health probes: every interval, each operator gets `eth_chainId` and
 * `eth_blockNumber` (one after the other, never batched, since not every node takes
 * batches). Results feed uptime, head lag and chain identity, apart from client traffic.
 */
import { parseJsonBody } from '../router/jsonrpc.js';
import { reportInternalError } from './internal-errors.js';
import { CallBody, type Upstream } from '../router/upstream.js';

export interface ProbeTarget {
  readonly index: number;
  readonly upstream: Upstream;
}

/** `unreachable`: refused or timed out (down). `invalid`: it answered, but not with a well-formed quantity. */
export type ProbeResult = 'ok' | 'invalid' | 'unreachable';

export interface ProbeSink {
  recordProbe(operatorIndex: number, result: ProbeResult, head: number | null, chainId: string | null): void;
}

const CHAIN_ID = new CallBody('eth_chainId');
const BLOCK_NUMBER = new CallBody('eth_blockNumber');
const HEX_QUANTITY = /^0x[0-9a-fA-F]{1,16}$/;

/** An upstream failure that means the operator did answer, with something that is not an answer to the call. */
function answeredInvalidly(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UPSTREAM_INVALID_ENVELOPE' || code === 'UPSTREAM_HTTP_OTHER';
}

/** The `result` of a JSON-RPC answer (its id proven by the upstream) when it is a hex quantity, else null. */
function hexResult(body: Buffer): string | null {
  const answer = parseJsonBody(body) as { result?: unknown } | undefined;
  return typeof answer?.result === 'string' && HEX_QUANTITY.test(answer.result) ? answer.result.toLowerCase() : null;
}

export class HealthProber {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly targets: () => Iterable<ProbeTarget>,
    private readonly sink: ProbeSink,
    private readonly options: { intervalMs: number; timeoutMs: number },
    /** Called after every round, e.g. to act on a chain id at once rather than at the window. */
    private readonly onRound: () => void = () => {},
  ) {}

  /** Probes one operator: ok only when both calls answer with a well-formed quantity. */
  async probe(target: ProbeTarget): Promise<void> {
    let chainId: string | null = null;
    let head: number | null = null;
    let reached = true;
    try {
      chainId = await this.ask(target, CHAIN_ID);
      const hex = await this.ask(target, BLOCK_NUMBER);
      if (hex !== null) head = Number.parseInt(hex, 16);
    } catch {
      // An unreachable or timed-out operator is exactly what the probe records.
      reached = false;
    }
    this.sink.recordProbe(target.index, chainId !== null && head !== null ? 'ok' : reached ? 'invalid' : 'unreachable', head, chainId);
  }

  /**
   * The hex quantity one call answers with; null when the operator answered, but not with one
   * (an error, garbage, another request's id: the upstream refuses those); throws when it was
   * not reached.
   */
  private async ask(target: ProbeTarget, call: CallBody): Promise<string | null> {
    try {
      const reply = await target.upstream.send(call, this.options.timeoutMs, true);
      return reply.status === 200 ? hexResult(reply.body) : null;
    } catch (err) {
      if (answeredInvalidly(err)) return null;
      throw err;
    }
  }

  /** One round over every operator, concurrently. */
  async probeAll(): Promise<void> {
    await Promise.all(Array.from(this.targets(), (t) => this.probe(t)));
    this.onRound();
  }

  start(): void {
    if (this.timer !== undefined) return;
    const tick = () => {
      // A round that outlives the interval is not doubled up.
      this.running ??= this.probeAll()
        .catch((err: unknown) => reportInternalError('probe', err))
        .finally(() => (this.running = undefined));
      this.timer = setTimeout(tick, this.options.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
