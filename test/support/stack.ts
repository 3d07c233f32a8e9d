/**
 * A gateway in front of simulated operators, all on real loopback sockets.
 */
import { type ConfigInput, parseConfig } from '../../src/config.js';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import type { Measurement } from '../../src/metrics/measurement.js';
import { PROFILES, SimulatedOperator, type SimProfile } from '../../src/sim/index.js';

/** A sim that answers at once and never misbehaves, unless told otherwise. */
export const INSTANT: SimProfile = { ...PROFILES.fast, latencyMs: { median: 0, p99: 0 } };

export interface StackOptions {
  /** One entry per operator: its profile and stake (ETH, default 1). */
  readonly operators: ReadonlyArray<{ profile?: Partial<SimProfile>; stakeEth?: number }>;
  readonly config?: ConfigInput;
  readonly random?: () => number;
  /** Run the window timer and health probes (default off: tests count sim traffic exactly). */
  readonly autoMeasure?: boolean;
  readonly now?: () => number;
  /** The rate limiter's clock (ms). */
  readonly rateLimitNow?: () => number;
  readonly logger?: GatewayOptions['logger'];
}

export interface Stack {
  readonly gateway: Gateway;
  readonly sims: SimulatedOperator[];
  readonly url: string;
  readonly recorder: Measurement;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const sims = options.operators.map((o, i) => new SimulatedOperator({ name: `op${i}`, profile: { ...INSTANT, ...o.profile } }));
  await Promise.all(sims.map((s) => s.start()));
  const config = parseConfig({
    logLevel: 'silent',
    ...options.config,
    rpc: { port: 0, ...options.config?.rpc },
    admin: { port: 0, ...options.config?.admin },
    // Tests count the requests each sim sees: no cross-check traffic unless a test asks for it,
    // nor second opinions for operators still proving themselves (tested on its own).
    staking: { provingAnswers: 0, ...options.config?.staking, crossCheck: { sampleRate: 0, ...options.config?.staking?.crossCheck } },
    // Nor admission probes: chain-aware routing (tested on its own) is off unless a test turns it on.
    // These tests script faults (hangs, 5xx, garbage) that would also keep an operator from being admitted.
    routing: { chainAware: false, ...options.config?.routing },
    operators: sims.map((s, i) => ({
      id: `op${i}`,
      url: s.url,
      stake: (BigInt(Math.round((options.operators[i]!.stakeEth ?? 1) * 1e6)) * 10n ** 12n).toString(),
    })),
  });
  const gateway = await Gateway.start(config, {
    autoMeasure: options.autoMeasure ?? false,
    ...(options.random ? { random: options.random } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.rateLimitNow ? { rateLimitNow: options.rateLimitNow } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    gateway,
    sims,
    url: gateway.rpcUrl,
    recorder: gateway.measurement,
    async stop() {
      await gateway.stop();
      await Promise.all(sims.map((s) => s.stop()));
    },
  };
}

export interface Posted {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed body, or undefined when the body is empty. */
  readonly json: any;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Posted> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text === '' ? undefined : JSON.parse(text) };
}

export function rpc(method: string, id: string | number | null = 1, params?: unknown[]): Record<string, unknown> {
  return params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
}
