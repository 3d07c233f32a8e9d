import { MemoryStore } from '../../src/staking/memory-store.js';
import { storeContract } from './store.contract.js';

storeContract('MemoryStore', async () => new MemoryStore());
