/**
 * The JSON-RPC methods that get their own metric label. Anything else counts as `other`,
 * so a client cannot grow the number of series by inventing method names.
 */
export const KNOWN_METHODS = [
  'eth_blockNumber', 'eth_call', 'eth_chainId', 'eth_estimateGas', 'eth_feeHistory', 'eth_gasPrice',
  'eth_getBalance', 'eth_getBlockByHash', 'eth_getBlockByNumber', 'eth_getBlockReceipts', 'eth_getCode',
  'eth_getLogs', 'eth_getProof', 'eth_getStorageAt', 'eth_getTransactionByHash', 'eth_getTransactionCount',
  'eth_getTransactionReceipt', 'eth_maxPriorityFeePerGas', 'eth_sendRawTransaction', 'eth_syncing',
  'net_version', 'web3_clientVersion', 'debug_traceTransaction', 'trace_block', 'trace_transaction',
] as const;

/** Label values in index order: the known methods, then `other`, then `batch` (one upstream batch). */
export const METHOD_LABELS: readonly string[] = [...KNOWN_METHODS, 'other', 'batch'];
export const OTHER_METHOD = KNOWN_METHODS.length;
export const BATCH_METHOD = KNOWN_METHODS.length + 1;

const INDEX = new Map<string, number>(KNOWN_METHODS.map((m, i) => [m, i]));

export function methodIndex(method: string): number {
  return INDEX.get(method) ?? OTHER_METHOD;
}
