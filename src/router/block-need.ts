/**
 * What block a request needs its operator to have: a number, so the hot path carries no object.
 *
 * The block parameter's position per method follows the execution-apis specification
 * (ethereum/execution-apis, src/eth/*.yaml) and the clients' own namespaces (geth debug_*,
 * erigon/reth trace_*, otterscan ots_*). Values, as the nodes read them:
 * - a hex quantity "0x…" → that block. Leading zeros are accepted (anvil accepts them, geth
 *   refuses them: the operator judges the request, this only tells where to send it); above
 *   2^53 - 1 (up to 64 bits) → Number.MAX_SAFE_INTEGER, which no operator has; longer → invalid.
 * - 'latest', 'pending' → NEED_TIP; 'safe' → NEED_SAFE; 'finalized' → NEED_FINALIZED;
 *   'earliest' → NEED_ANY (block 0, which every operator has). Tags in other cases ("LATEST")
 *   read the same: anvil accepts them (geth refuses them, and then where it goes is moot).
 * - EIP-1898 objects: {blockHash, requireCanonical?} → NEED_ANY (a hash names no height);
 *   {blockNumber} → as its value; both or neither → NEED_ANY (invalid).
 * - missing (params shorter, or named params) or null → NEED_TIP: nodes default an optional
 *   block to 'latest' (anvil answers eth_getBalance(addr, null) at latest; geth reads a null
 *   optional argument as absent).
 * - anything else (a JSON number, "0xzz", "", "0x", an array, another object) → NEED_ANY: the
 *   operator answers with its own error. Nethermind also reads a JSON number as a block; such
 *   a request still goes to any operator, and one that lacks the block says so (answer-facts).
 * Never throws: a parameter the scanner cannot decode counts as invalid.
 */
import type { RpcCall } from './jsonrpc.js';
import { hexQuantity } from './json-walk.js';

/** Any admitted operator: not head-sensitive, a block by hash, 'earliest', or an invalid block. */
export const NEED_ANY = -1;
/** An operator at the served tip: 'latest', 'pending', head-sensitive methods, a missing optional block. */
export const NEED_TIP = -2;
/** The chain's safe block. */
export const NEED_SAFE = -3;
/** The chain's finalized block. */
export const NEED_FINALIZED = -4;

/** Rule: params[0] is a log filter ({fromBlock, toBlock} or {blockHash}); what matters is toBlock. */
const FILTER_AT_0 = -10;

/**
 * Per method: the position (>= 0) of its block parameter, NEED_TIP for head-sensitive methods
 * without one, FILTER_AT_0. Methods not listed need any operator.
 */
const RULES: ReadonlyMap<string, number> = new Map<string, number>([
  // The block at params[0].
  ['eth_getBlockByNumber', 0],
  ['eth_getBlockTransactionCountByNumber', 0],
  ['eth_getUncleCountByBlockNumber', 0],
  ['eth_getTransactionByBlockNumberAndIndex', 0],
  ['eth_getRawTransactionByBlockNumberAndIndex', 0],
  ['eth_getUncleByBlockNumberAndIndex', 0],
  ['eth_getBlockReceipts', 0],
  ['eth_getHeaderByNumber', 0],
  ['debug_traceBlockByNumber', 0],
  ['debug_getRawBlock', 0],
  ['debug_getRawHeader', 0],
  ['debug_getRawReceipts', 0],
  ['trace_block', 0],
  ['trace_replayBlockTransactions', 0],
  ['ots_getBlockDetails', 0],
  ['ots_getBlockTransactions', 0],
  // params[1].
  ['eth_getBalance', 1],
  ['eth_getCode', 1],
  ['eth_getTransactionCount', 1],
  ['eth_call', 1],
  ['eth_estimateGas', 1],
  ['eth_createAccessList', 1],
  ['eth_feeHistory', 1], // newestBlock
  ['eth_simulateV1', 1],
  ['eth_getAccount', 1],
  ['eth_getAccountInfo', 1],
  ['debug_traceCall', 1],
  ['trace_callMany', 1],
  ['ots_hasCode', 1],
  // params[2].
  ['eth_getStorageAt', 2],
  ['eth_getProof', 2],
  ['trace_call', 2],
  // A log filter.
  ['eth_getLogs', FILTER_AT_0],
  ['trace_filter', FILTER_AT_0],
  // Head-sensitive without a block parameter: what they answer depends on how far the node is.
  ['eth_blockNumber', NEED_TIP],
  ['eth_syncing', NEED_TIP],
  ['eth_getTransactionReceipt', NEED_TIP],
  ['eth_getTransactionByHash', NEED_TIP],
  ['eth_getRawTransactionByHash', NEED_TIP],
  ['eth_getTransactionBySenderAndNonce', NEED_TIP],
  ['debug_traceTransaction', NEED_TIP],
  ['trace_transaction', NEED_TIP],
  ['trace_replayTransaction', NEED_TIP],
  ['trace_get', NEED_TIP],
  ['eth_newFilter', NEED_TIP],
  ['eth_newBlockFilter', NEED_TIP],
  ['eth_newPendingTransactionFilter', NEED_TIP],
  ['eth_getFilterChanges', NEED_TIP],
  ['eth_getFilterLogs', NEED_TIP],
  ['eth_uninstallFilter', NEED_TIP],
  ['eth_subscribe', NEED_TIP],
  ['eth_gasPrice', NEED_TIP],
  ['eth_maxPriorityFeePerGas', NEED_TIP],
  ['eth_blobBaseFee', NEED_TIP],
  ['eth_sendRawTransaction', NEED_TIP],
  ['eth_sendRawTransactionConditional', NEED_TIP],
  ['eth_sendRawTransactionSync', NEED_TIP],
  ['eth_sendTransaction', NEED_TIP],
  ['eth_pendingTransactions', NEED_TIP],
]);

/** What `call` needs: NEED_ANY, NEED_TIP, NEED_SAFE, NEED_FINALIZED, or a block number (>= 0). */
export function blockNeed(call: RpcCall): number {
  const rule = RULES.get(call.method);
  if (rule === undefined) return NEED_ANY;
  if (rule === NEED_TIP) return NEED_TIP;
  // The common case, a block number as a hex string, read from the bytes without building it.
  if (rule !== FILTER_AT_0) {
    const number = call.quantityParam(rule);
    if (number >= 0) return number;
  }
  let value: unknown;
  try {
    value = call.param(rule === FILTER_AT_0 ? 0 : rule);
  } catch {
    return NEED_ANY;
  }
  return rule === FILTER_AT_0 ? filterNeed(value) : blockValueNeed(value);
}

/**
 * A log filter: by block hash → NEED_ANY; else its toBlock (absent or null: latest). fromBlock
 * does not tell whether an operator has reached the range's end.
 */
function filterNeed(filter: unknown): number {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) return NEED_ANY;
  const { blockHash, toBlock } = filter as { blockHash?: unknown; toBlock?: unknown };
  if (blockHash !== undefined && blockHash !== null) return NEED_ANY;
  return blockValueNeed(toBlock);
}

/** A block parameter's value (see the module comment). */
export function blockValueNeed(value: unknown): number {
  if (typeof value === 'string') return blockStringNeed(value);
  if (value === undefined || value === null) return NEED_TIP;
  if (typeof value !== 'object' || Array.isArray(value)) return NEED_ANY;
  // EIP-1898.
  const { blockHash, blockNumber } = value as { blockHash?: unknown; blockNumber?: unknown };
  if (blockHash !== undefined) return NEED_ANY;
  return typeof blockNumber === 'string' ? blockStringNeed(blockNumber) : NEED_ANY;
}

function blockStringNeed(s: string): number {
  const n = hexQuantity(s);
  if (n >= 0) return n;
  switch (s) {
    case 'latest':
    case 'pending':
      return NEED_TIP;
    case 'safe':
      return NEED_SAFE;
    case 'finalized':
      return NEED_FINALIZED;
    case 'earliest':
      return NEED_ANY;
    default:
      // Tags in other cases; anything else is invalid.
      return s.length <= 9 && s.length >= 4 && s !== s.toLowerCase() ? blockStringNeed(s.toLowerCase()) : NEED_ANY;
  }
}
