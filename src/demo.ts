/**
 * The demo: four simulated operators with different profiles behind one gateway, in-memory
 * state, nothing else to install. `npm start` runs it.
 */
import { randomBytes } from 'node:crypto';
import { type Config, parseConfig } from './config.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import { PROFILES, SimulatedOperator } from './sim/index.js';

const ETH = 10n ** 18n;

/** Name, profile and stake of each demo operator. */
const DEMO_OPERATORS = [
  { name: 'fast', profile: PROFILES.fast, stake: 32n * ETH },
  { name: 'slow', profile: PROFILES.slow, stake: 16n * ETH },
  { name: 'flaky', profile: PROFILES.flaky, stake: 16n * ETH },
  { name: 'bad-data', profile: PROFILES.badData, stake: 8n * ETH },
] as const;

export interface Demo {
  readonly gateway: Gateway;
  readonly operators: readonly SimulatedOperator[];
  readonly adminToken: string;
  stop(): Promise<void>;
}

export async function startDemo(env: Readonly<Record<string, string | undefined>> = process.env, options: GatewayOptions = {}): Promise<Demo> {
  const operators = DEMO_OPERATORS.map((d) => new SimulatedOperator({ name: d.name, profile: d.profile }));
  await Promise.all(operators.map((op) => op.start()));
  const adminToken = env['DIN_ADMIN_TOKEN'] || randomBytes(24).toString('base64url');
  let config: Config;
  try {
    config = parseConfig(
      {
        operators: DEMO_OPERATORS.map((d, i) => ({ id: d.name, url: operators[i]!.url, stake: d.stake.toString() })),
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
  return {
    gateway,
    operators,
    adminToken,
    async stop() {
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
    `  admin      ${demo.gateway.adminUrl}v1/status  (Authorization: Bearer ${demo.adminToken})`,
    '  operators (simulated):',
    ...demo.operators.map((op, i) => `    ${op.name.padEnd(9)} ${op.url}  stake ${DEMO_OPERATORS[i]!.stake / ETH} ETH`),
    '',
    'Try:',
    `  curl -s ${rpc} -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'`,
    '',
    'Ctrl-C stops it.',
  ];
  return lines.join('\n');
}
