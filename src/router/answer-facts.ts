/**
 * What one verified operator answer (its bytes and its ResponseScan, `ok`) says about blocks
 * and transactions: the quantity or block number it carries, whether its result is null, and
 * what its error means (the block is unknown to the operator, the transaction is already
 * known, a nonce error).
 *
 * Results are read from the bytes at the span the scanner recorded (resultStart/resultEnd),
 * never by JSON.parse of the body. Errors are rare: their error object alone is parsed, and
 * only in answers of at most ERROR_INSPECT_MAX_BYTES; larger error answers are not inspected
 * (every predicate then says false).
 *
 * Error phrases differ per client and are not standardised; each is listed with the client that
 * says it. Matching is on the lowercased message (and `data` when it is a string).
 */
import type { Buffer } from 'node:buffer';
import { keccak256 } from 'viem';
import { hexQuantityAt, objectMemberStart, skipValue } from './json-walk.js';
import type { ResponseScan } from './response-scan.js';

/** Error answers larger than this are not inspected. */
export const ERROR_INSPECT_MAX_BYTES = 64 * 1024;

const QUOTE = 0x22;
const LBRACE = 0x7b;
const LOWER_N = 0x6e;

/** The result as a hex quantity (an eth_blockNumber answer), Number.MAX_SAFE_INTEGER above it, or -1 (no result, not a quantity). */
export function quantityResult(body: Buffer, scan: ResponseScan): number {
  if (!scan.ok || scan.resultStart < 0 || body[scan.resultStart] !== QUOTE) return -1;
  return hexQuantityAt(body, scan.resultStart, scan.resultEnd);
}

/** The answer's result is JSON null (a block, receipt or transaction the operator does not have). */
export function resultIsNull(body: Buffer, scan: ResponseScan): boolean {
  return scan.ok && scan.resultStart >= 0 && scan.resultEnd - scan.resultStart === 4 && body[scan.resultStart] === LOWER_N;
}

/**
 * The `number` of a block object result (an eth_getBlockByNumber answer), or -1. Only the
 * result's own members are read, up to the first `number` (transactions' numbers inside are
 * never looked at): clients write `number` before `transactions` (geth sorts the keys, reth and
 * anvil put it among the header fields), so a block with full transactions is not walked.
 */
export function blockNumberOfResult(body: Buffer, scan: ResponseScan): number {
  if (!scan.ok || scan.resultStart < 0 || body[scan.resultStart] !== LBRACE) return -1;
  const at = objectMemberStart(body, scan.resultStart, scan.resultEnd, 'number');
  if (at < 0 || body[at] !== QUOTE) return -1;
  return hexQuantityAt(body, at, skipValue(body, at, scan.resultEnd));
}

/**
 * The error answer's message (and its `data` when that is a string), lowercased; undefined for
 * a result, an answer larger than ERROR_INSPECT_MAX_BYTES, or an error object without a string
 * message.
 */
export function errorText(body: Buffer, scan: ResponseScan): string | undefined {
  if (!scan.ok || !scan.isError || scan.end - scan.start > ERROR_INSPECT_MAX_BYTES) return undefined;
  const at = objectMemberStart(body, scan.start, scan.end, 'error');
  if (at < 0) return undefined;
  let error: unknown;
  try {
    error = JSON.parse(body.toString('utf8', at, skipValue(body, at, scan.end)));
  } catch {
    return undefined;
  }
  if (typeof error !== 'object' || error === null) return undefined;
  const { message, data } = error as { message?: unknown; data?: unknown };
  if (typeof message !== 'string') return undefined;
  return (typeof data === 'string' ? `${message} ${data}` : message).toLowerCase();
}

/**
 * "This block is unknown to me / beyond my head", per client. State-pruning errors (geth
 * "missing trie node", reth "pruned history unavailable", nethermind "No state available for
 * block") are not listed: the operator has the block but not its old state, another problem.
 * Nor the generic EIP-1474 "Resource not found" (anvil's answer for an unknown block hash and
 * for debug_traceBlockByNumber beyond its head, but also for unknown transactions).
 */
const BLOCK_UNKNOWN: readonly RegExp[] = [
  // geth (internal/ethapi: HeaderByNumberOrHash), erigon (since erigontech/erigon#17043),
  // execution-apis tests; reth "header range not found, start block …" (eth_getLogs).
  /header not found/,
  /header range not found/,
  // anvil (captured: eth_getLogs by unknown blockHash), geth filters (eth_getLogs by unknown
  // blockHash), nethermind "Unknown block error" (safe/finalized missing, -39001). Not reth's
  // "unknown block or tx index" (a transaction index lookup).
  /unknown block(?! or tx index)/,
  // besu "Block not found"; reth "block not found: 0x186a0" (HeaderNotFound, -32001);
  // geth "safe block not found" / "finalized block not found"; erigon.
  /block not found/,
  // erigon "block 15359722(0x…) not found" (debug_traceCall), "block 18446744073709551615 not found".
  /block \S+ not found/,
  // erigon trace_block: "could not find block 15688960".
  /could not find block/,
  // nethermind (BlockFinderExtensions.SearchForHeader/SearchForBlock): "4294967295 could not be
  // found" (NethermindEth/nethermind#11173), "Block 123 could not be found".
  /(?:^|block )(?:0x[0-9a-f]+|\d+|latest|pending|safe|finalized|earliest) could not be found/,
  // geth eth_getLogs past its head (execution-apis tests/eth_getLogs/filter-error-future-block-range.io).
  /block range extends beyond current head/,
  // anvil (captured): "BlockOutOfRangeError: block height is 0 but requested was 100".
  /blockoutofrangeerror|block height is \d+ but requested was/,
  // A provider in front of geth, as reported in NethermindEth/nethermind#11173.
  /does not have the requested block/,
];

/** The error answer says the operator does not have the block the request named (see BLOCK_UNKNOWN). */
export function saysBlockUnknown(body: Buffer, scan: ResponseScan): boolean {
  const text = errorText(body, scan);
  return text !== undefined && BLOCK_UNKNOWN.some((phrase) => phrase.test(text));
}

/** eth_sendRawTransaction: "I already have this transaction" (in the pool), per client. Not nonce errors. */
const ALREADY_KNOWN: readonly RegExp[] = [
  // geth and erigon txpool ErrAlreadyKnown, reth RpcPoolError::AlreadyKnown: "already known".
  /already known/,
  // besu "Known transaction" (-32000); geth before 1.9 "known transaction: <hash>".
  /known transaction/,
  // anvil (captured, --no-mining): "transaction already imported"; openethereum "Transaction
  // with the same hash was already imported.".
  /already imported/,
  // nethermind AcceptTxResult.AlreadyKnown (-32010, the message names the result).
  /alreadyknown/,
  // gRPC-style status some providers answer with.
  /already_exists/,
  // erigon: "INTERNAL_ERROR: existing tx with same hash" (so listed in transaction resubmitters' error
  // tables found by code search; not seen in erigon's own source).
  /existing tx with same hash/,
];

export function saysAlreadyKnown(body: Buffer, scan: ResponseScan): boolean {
  const text = errorText(body, scan);
  return text !== undefined && ALREADY_KNOWN.some((phrase) => phrase.test(text));
}

/** Nonce errors, per client (for logging: a nonce error after an attempt that may have landed). */
const NONCE_ERROR: readonly RegExp[] = [
  // geth, erigon, reth ("nonce too low: next nonce 5, tx nonce 3"), anvil (captured), besu "Nonce too low".
  /nonce too (?:low|high)/,
  // openethereum "Transaction nonce is too low. Try incrementing the nonce.".
  /nonce is too (?:low|high)/,
  // nethermind AcceptTxResult.OldNonce / NonceGap (-32010).
  /oldnonce|noncegap/,
  // reth "nonce has max value"; besu/others "invalid nonce".
  /nonce has max value|invalid nonce/,
];

export function isNonceError(body: Buffer, scan: ResponseScan): boolean {
  const text = errorText(body, scan);
  return text !== undefined && NONCE_ERROR.some((phrase) => phrase.test(text));
}

const RAW_TX = /^0x(?:[0-9a-fA-F]{2})+$/;

/** keccak256 of a raw transaction's bytes (its hash) as lowercase 0x hex; undefined for an empty, odd-length or non-hex input. */
export function transactionHash(rawTx: unknown): string | undefined {
  if (typeof rawTx !== 'string' || !RAW_TX.test(rawTx)) return undefined;
  return keccak256(rawTx as `0x${string}`);
}
