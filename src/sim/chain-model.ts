// Deterministic stand-in for an Ethereum chain. Everything is a pure function of
// (chainId, blockTimeMs, genesisMs, wall clock), so every honest simulated operator
// of a chain answers identically, whichever process it runs in and whenever it started.

export const DEFAULT_BLOCK_TIME_MS = 12_000;
/** Fixed (not "process start") so that sims started at different moments agree on the head. */
export const DEFAULT_GENESIS_MS = Date.UTC(2024, 0, 1);
/** Head at genesisMs; keeps numbers in the range a mainnet client would see. */
export const BASE_BLOCK_NUMBER = 19_000_000;
/** A full-transaction block then serialises to ~120 KB: the benchmarks' "large response". */
export const TXS_PER_BLOCK = 200;

export interface ChainConfig {
  chainId: number;
  blockTimeMs?: number;
  genesisMs?: number;
}

/** A legacy (EIP-155) transaction: the leanest realistic shape, so ~200 of them make ~100 KB. */
export interface RpcTransaction {
  blockHash: string;
  blockNumber: string;
  from: string;
  gas: string;
  gasPrice: string;
  hash: string;
  input: string;
  nonce: string;
  to: string;
  transactionIndex: string;
  value: string;
  type: string;
  v: string;
  r: string;
  s: string;
}

export interface RpcBlock {
  baseFeePerGas: string;
  difficulty: string;
  extraData: string;
  gasLimit: string;
  gasUsed: string;
  hash: string;
  logsBloom: string;
  miner: string;
  mixHash: string;
  nonce: string;
  number: string;
  parentHash: string;
  receiptsRoot: string;
  sha3Uncles: string;
  size: string;
  stateRoot: string;
  timestamp: string;
  transactions: string[] | RpcTransaction[];
  transactionsRoot: string;
  uncles: [];
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** 64-bit FNV-1a over UTF-16 code units; enough spread for fake balances, no crypto needed. */
export function fnv1a64(text: string): bigint {
  let h = FNV64_OFFSET;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * FNV64_PRIME) & MASK64;
  }
  return h;
}

/** 32-bit FNV-1a; the fast path used to seed the byte streams below. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * `bytes` pseudo-random bytes as hex (no 0x), derived from `seed` only.
 * A mulberry32 stream rather than BigInt hashing: a full block needs ~1,500 of these.
 */
export function deterministicHex(seed: string, bytes: number): string {
  let state = fnv1a32(seed);
  let out = '';
  for (let i = 0; i < bytes; i += 4) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out += ((t ^ (t >>> 14)) >>> 0).toString(16).padStart(8, '0');
  }
  return out.slice(0, bytes * 2);
}

export function toQuantity(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const QUANTITY_RE = /^0x[0-9a-fA-F]+$/;
const ONE_GWEI = 1_000_000_000;
const ZERO_HASH = `0x${'0'.repeat(64)}`;
const EMPTY_UNCLES_HASH = '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347';
const EMPTY_BLOOM = `0x${'0'.repeat(512)}`;
// ERC-20 transfer(address,uint256): gives a quarter of the transactions realistic calldata.
const TRANSFER_SELECTOR = 'a9059cbb';
const BLOCK_CACHE_SIZE = 16;

export function isAddress(value: unknown): value is string {
  return typeof value === 'string' && ADDRESS_RE.test(value);
}

export class ChainModel {
  readonly chainId: number;
  readonly blockTimeMs: number;
  readonly genesisMs: number;
  // The head block is re-requested constantly by benchmarks; building 200 transactions each time
  // would make the sim, not the gateway, the bottleneck. Cached blocks are shared: never mutate.
  private readonly blocks = new Map<string, RpcBlock>();

  constructor(config: ChainConfig) {
    this.chainId = config.chainId;
    this.blockTimeMs = config.blockTimeMs ?? DEFAULT_BLOCK_TIME_MS;
    this.genesisMs = config.genesisMs ?? DEFAULT_GENESIS_MS;
    if (!(this.blockTimeMs > 0)) throw new RangeError(`blockTimeMs must be > 0, got ${this.blockTimeMs}`);
  }

  headAt(nowMs: number): number {
    return BASE_BLOCK_NUMBER + Math.max(0, Math.floor((nowMs - this.genesisMs) / this.blockTimeMs));
  }

  /**
   * Resolves a block tag or hex quantity. Returns undefined when the parameter is malformed
   * (caller answers -32602); the number may exceed the head (caller answers null).
   */
  resolveBlockTag(tag: unknown, nowMs: number): bigint | undefined {
    if (typeof tag !== 'string') return undefined;
    const head = BigInt(this.headAt(nowMs));
    switch (tag) {
      case 'latest':
      case 'pending':
        return head;
      // Post-merge lag of the safe (one epoch) and finalized (two epochs) checkpoints.
      case 'safe':
        return head - 32n;
      case 'finalized':
        return head - 64n;
      case 'earliest':
        return 0n;
      default:
        return QUANTITY_RE.test(tag) ? BigInt(tag) : undefined;
    }
  }

  balanceOf(address: string): bigint {
    // Modulo 10^22 wei keeps balances at most 10,000 ETH: plausible and varied.
    return fnv1a64(`${this.chainId}:${address.toLowerCase()}`) % 10n ** 22n;
  }

  blockHash(number: number): string {
    return number < 0 ? ZERO_HASH : `0x${deterministicHex(`${this.chainId}:block:${number}`, 32)}`;
  }

  timestampOf(number: number): number {
    const ms = this.genesisMs + (number - BASE_BLOCK_NUMBER) * this.blockTimeMs;
    return Math.max(0, Math.floor(ms / 1000));
  }

  block(number: number, fullTx: boolean): RpcBlock {
    const key = `${number}:${fullTx ? 1 : 0}`;
    const cached = this.blocks.get(key);
    if (cached) return cached;
    const built = this.buildBlock(number, fullTx);
    if (this.blocks.size >= BLOCK_CACHE_SIZE) {
      const oldest = this.blocks.keys().next().value;
      if (oldest !== undefined) this.blocks.delete(oldest);
    }
    this.blocks.set(key, built);
    return built;
  }

  private buildBlock(number: number, fullTx: boolean): RpcBlock {
    const seed = `${this.chainId}:${number}`;
    const hash = this.blockHash(number);
    const baseFee = ONE_GWEI * (5 + (fnv1a32(`${seed}:basefee`) % 40));
    const txs: RpcTransaction[] = [];
    let gasUsed = 0;
    for (let i = 0; i < TXS_PER_BLOCK; i++) {
      const tx = this.transaction(number, hash, i, baseFee);
      gasUsed += Number(tx.gas);
      txs.push(tx);
    }
    return {
      baseFeePerGas: toQuantity(baseFee),
      difficulty: '0x0',
      extraData: '0x',
      gasLimit: toQuantity(30_000_000),
      gasUsed: toQuantity(gasUsed),
      hash,
      logsBloom: EMPTY_BLOOM,
      miner: `0x${deterministicHex(`${seed}:miner`, 20)}`,
      mixHash: `0x${deterministicHex(`${seed}:mix`, 32)}`,
      nonce: '0x0000000000000000',
      number: toQuantity(number),
      parentHash: this.blockHash(number - 1),
      receiptsRoot: `0x${deterministicHex(`${seed}:receipts`, 32)}`,
      sha3Uncles: EMPTY_UNCLES_HASH,
      // Approximate RLP size (~120 bytes per legacy transaction), not the JSON size.
      size: toQuantity(1_000 + 120 * TXS_PER_BLOCK),
      stateRoot: `0x${deterministicHex(`${seed}:state`, 32)}`,
      timestamp: toQuantity(this.timestampOf(number)),
      transactions: fullTx ? txs : txs.map((tx) => tx.hash),
      transactionsRoot: `0x${deterministicHex(`${seed}:txroot`, 32)}`,
      uncles: [],
    };
  }

  private transaction(number: number, blockHash: string, index: number, baseFee: number): RpcTransaction {
    const seed = `${this.chainId}:${number}:tx:${index}`;
    const n = fnv1a32(seed);
    const isTokenCall = index % 4 === 3;
    const input = isTokenCall
      ? `0x${TRANSFER_SELECTOR}${'0'.repeat(24)}${deterministicHex(`${seed}:rcpt`, 20)}${deterministicHex(`${seed}:amt`, 32)}`
      : '0x';
    return {
      blockHash,
      blockNumber: toQuantity(number),
      from: `0x${deterministicHex(`${seed}:from`, 20)}`,
      gas: toQuantity(isTokenCall ? 65_000 : 21_000),
      gasPrice: toQuantity(baseFee + ONE_GWEI * (1 + (n % 3))),
      hash: `0x${deterministicHex(`${seed}:hash`, 32)}`,
      input,
      nonce: toQuantity(n % 5_000),
      to: `0x${deterministicHex(`${seed}:to`, 20)}`,
      transactionIndex: toQuantity(index),
      value: isTokenCall ? '0x0' : toQuantity(fnv1a64(`${seed}:value`) % 10n ** 19n),
      type: '0x0',
      // EIP-155: v = chainId * 2 + 35 + recovery parity.
      v: toQuantity(this.chainId * 2 + 35 + (n & 1)),
      r: `0x${deterministicHex(`${seed}:r`, 32)}`,
      s: `0x${deterministicHex(`${seed}:s`, 32)}`,
    };
  }
}
