export { SimulatedOperator, type SimOptions, type SimStats } from './simulated-operator.js';
export { PROFILES, drawLatencyMs, resolveProfile, seededRandom, type SimProfile } from './profiles.js';
export {
  BASE_BLOCK_NUMBER,
  ChainModel,
  DEFAULT_BLOCK_TIME_MS,
  DEFAULT_GENESIS_MS,
  TXS_PER_BLOCK,
  type ChainConfig,
  type RpcBlock,
  type RpcTransaction,
} from './chain-model.js';
