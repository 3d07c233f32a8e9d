/**
 * The package root: the seed's API (a ready, in-memory DINInfrastructureCore as the default
 * export, as in SEED-din-infrastructure-core.md), its types, and the gateway's parts.
 */
import { DINInfrastructureCore } from './staking/core.js';
import { MemoryStore } from './staking/memory-store.js';

export type { DINInfrastructureStatus, NodeOperator, PerformanceMetrics, Severity, StakingEvent, Violation, ViolationType } from './types.js';
export { CoreError, DINInfrastructureCore, registrationMessage, type CoreOptions, type OperatorDetails, type OperatorView } from './staking/core.js';
export type { LedgerEvent, OperatorState } from './staking/records.js';
export { MemoryStore } from './staking/memory-store.js';
export { RedisStore } from './staking/redis-store.js';
export { StoreUnavailableError, type Store } from './staking/store.js';
export { ConfigError, loadConfig, parseConfig, type Config } from './config.js';
export { Gateway, type GatewayOptions } from './gateway.js';

/** The seed's singleton: in memory, no unbonding delay, ready to use without awaiting anything. */
const core: DINInfrastructureCore = DINInfrastructureCore.inMemory(new MemoryStore());
export default core;
