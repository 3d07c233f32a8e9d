/**
 * The demo: four simulated operators with different profiles behind one gateway, in-memory
 * state, nothing else to install. `npm start` runs it.
 */
import { randomBytes } from 'node:crypto';
import { type Config, parseConfig } from './config.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import { ChainModel, PROFILES, SimulatedOperator } from './sim/index.js';

const ETH = 10n ** 18n;

/** Name, profile and stake of each demo operator. */
const DEMO_OPERATORS = [
  { name: 'fast', profile: PROFILES.fast, stake: 32n * ETH, wallet: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' },
  { name: 'slow', profile: PROFILES.slow, stake: 16n * ETH, wallet: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC' },
  { name: 'flaky', profile: PROFILES.flaky, stake: 16n * ETH, wallet: '0x90F79bf6EB2c4f870365E785982E1f101E93b906' },
  { name: 'bad-data', profile: PROFILES.badData, stake: 8n * ETH, wallet: '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65' },
] as const;

/** Reads a dApp might make: deterministic ones at a settled block, so the cross-check can vote on them. */
function demoRequest(i: number, head: number): string {
  const block = `0x${Math.max(0, head - 100 - (i % 50)).toString(16)}`;
  const address = `0x${(0x1000 + (i % 97)).toString(16).padStart(40, '0')}`;
  switch (i % 4) {
    case 0:
      return JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_blockNumber' });
    case 1:
      return JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_getBalance', params: [address, block] });
    case 2:
      return JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_getBlockByNumber', params: [block, false] });
    default:
      return JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_chainId' });
  }
}

/**
 * A light, steady client load so the demo's windows have something to score: without it
 * nothing is measured until someone sends requests. Stops with the demo.
 */
function startTraffic(rpcUrl: string, perSecond: number): () => Promise<void> {
  // The demo owns the simulated chain, so it knows the head without asking (and being lied to).
  const chain = new ChainModel({ chainId: 1 });
  let i = 0;
  let inflight = 0;
  const send = async () => {
    if (inflight >= 50) return; // a stalled gateway must not pile up requests
    inflight++;
    try {
      const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: demoRequest(i++, chain.headAt(Date.now())) });
      await res.arrayBuffer();
    } catch {
      // the demo's client shrugs; the gateway's metrics tell the story
    } finally {
      inflight--;
    }
  };
  const timer = setInterval(() => void send(), 1000 / perSecond);
  return async () => {
    clearInterval(timer);
    while (inflight > 0) await new Promise((r) => setTimeout(r, 10));
  };
}

export interface Demo {
  readonly gateway: Gateway;
  readonly operators: readonly SimulatedOperator[];
  readonly adminToken: string;
  readonly trafficPerSecond: number;
  stop(): Promise<void>;
}

export async function startDemo(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: GatewayOptions & { trafficPerSecond?: number } = {},
): Promise<Demo> {
  const operators = DEMO_OPERATORS.map((d) => new SimulatedOperator({ name: d.name, profile: d.profile }));
  await Promise.all(operators.map((op) => op.start()));
  const adminToken = env['DIN_ADMIN_TOKEN'] || randomBytes(24).toString('base64url');
  let config: Config;
  try {
    config = parseConfig(
      {
        operators: DEMO_OPERATORS.map((d, i) => ({ id: d.name, url: operators[i]!.url, stake: d.stake.toString(), walletAddress: d.wallet })),
        chains: { ethereum: { chainId: 1 } },
        // Short jail and unbonding so the demo shows the whole cycle within minutes.
        staking: { unbondingSeconds: 60, slashing: { jailSeconds: 60 }, crossCheck: { sampleRate: 0.1 } },
      },
      { ...env, DIN_ADMIN_TOKEN: adminToken },
    );
  } catch (err) {
    await Promise.all(operators.map((op) => op.stop()));
    throw err;
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config, options);
  } catch (err) {
    await Promise.all(operators.map((op) => op.stop()));
    throw err;
  }
  const trafficPerSecond = options.trafficPerSecond ?? 20;
  const stopTraffic = trafficPerSecond > 0 ? startTraffic(gateway.rpcUrl, trafficPerSecond) : async () => {};
  return {
    gateway,
    operators,
    adminToken,
    trafficPerSecond,
    async stop() {
      await stopTraffic();
      await gateway.stop();
      await Promise.all(operators.map((op) => op.stop()));
    },
  };
}

export function demoBanner(demo: Demo): string {
  const rpc = demo.gateway.rpcUrl;
  const lines = [
    'din-gateway demo is running',
    `  JSON-RPC   ${rpc}  (POST, or WebSocket at ${rpc.replace('http', 'ws')})`,
    `  health     ${rpc}health   ready: ${rpc}ready`,
    `  admin      ${demo.gateway.adminUrl}v1/operators  (Authorization: Bearer ${demo.adminToken})`,
    `  metrics    ${demo.gateway.adminUrl}metrics  (Prometheus)`,
    '  operators (simulated):',
    ...demo.operators.map((op, i) => `    ${op.name.padEnd(9)} ${op.url}  stake ${DEMO_OPERATORS[i]!.stake / ETH} ETH`),
    demo.trafficPerSecond > 0 ? `  a simulated client sends ${demo.trafficPerSecond} req/s; every ${demo.gateway.config.windowSeconds} s the operators are scored` : '',
    '',
    'Try:',
    `  curl -s ${rpc} -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'`,
    '',
    `  curl -s ${demo.gateway.adminUrl}v1/operators -H 'authorization: Bearer ${demo.adminToken}'   # scores, violations, slashes`,
    '',
    'Ctrl-C stops it.',
  ];
  return lines.join('\n');
}
