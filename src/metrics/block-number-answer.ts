/**
 * The block number in an operator's answer to `eth_getBlockByNumber` (the `safe` and
 * `finalized` probes), read from the bytes with the router's answer readers: the answer is
 * untrusted and a block can be large, so nothing is built but the number's own text.
 */
import { blockNumberOfResult } from '../router/answer-facts.js';
import { newResponseScan, scanResponse } from '../router/response-scan.js';

const scan = newResponseScan();

/**
 * The top-level `result.number` of a JSON-RPC answer as a non-negative safe integer; null when
 * the answer is not valid JSON-RPC, its result is not a block, or the number is not a hex
 * quantity; 'error' when the operator answered with a JSON-RPC error (it refuses the tag).
 */
export function blockNumberOfAnswer(body: Buffer): number | null | 'error' {
  scanResponse(body, 0, body.length, scan);
  if (!scan.ok) return null;
  if (scan.isError) return 'error';
  const number = blockNumberOfResult(body, scan);
  return number >= 0 && number < Number.MAX_SAFE_INTEGER ? number : null;
}
