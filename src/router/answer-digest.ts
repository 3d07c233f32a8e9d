/**
 * What the cross-check compares: per method, the part of an answer that consensus fixes,
 * written one way. Honest clients (geth, Nethermind, Erigon, Besu, Reth) answer the same
 * block with different optional fields (`totalDifficulty`, `author`, `sealFields`, `size`,
 * `mixHash`), key order, hex case and leading zeros; comparing their whole JSON would outvote
 * client diversity as bad data. A digest keeps only what every honest client must agree on:
 *
 * - block (`eth_getBlockByNumber`, `eth_getBlockByHash`): `hash`, `number` and the block's
 *   transactions, in order: a hash as given, or a full transaction as the `transaction` digest;
 * - transaction (`eth_getTransactionBy*`): `hash`, `blockHash`, `from`, `to`, `nonce`, `value`, `input`;
 * - receipt (`eth_getTransactionReceipt`; `eth_getBlockReceipts` is a list of them): `status`,
 *   `gasUsed`, `cumulativeGasUsed`, `transactionHash`, `blockHash` and each log's `address`,
 *   `topics` and `data`, in order (`logIndex` is left out: a derived position that clients
 *   have numbered differently, and the order of the logs already says it);
 * - logs (`eth_getLogs`): per log `address`, `topics`, `data`, `blockHash`, `transactionHash`, in order;
 * - quantity (`eth_getBalance`, `eth_getTransactionCount`, `eth_getStorageAt`, `eth_chainId`,
 *   `eth_blockNumber`): hex digits lowercased, leading zeros dropped;
 * - data (`eth_getCode`, `eth_call`): hex digits lowercased; `0x0` (what some nodes answer for
 *   no code) is `0x`, but `0x00` (one zero byte) stays itself;
 * - decimal (`net_version`): the number in decimal, leading zeros dropped;
 * - anything else: the canonical JSON of the whole result (sorted keys).
 *
 * Inside a digest, hashes and addresses are lowercased, quantities lose their leading zeros,
 * and a field that is absent or null is `null`. Each digest is itself canonical JSON (keys
 * sorted, no spaces), so an operator can recompute it from its own answer.
 *
 * A result without its method's shape (a block that is a string, a hash that is a number, a
 * quantity with no digits) is compared whole, as its canonical JSON: it agrees only with an
 * identical answer, and never with a digest (a digest holds only well-formed values, which such
 * a result does not). Everything here is a loop over the answer's members: no recursion, work
 * linear in the answer's size, and a malformed member ends the digest at once; the whole-JSON
 * fallback is depth-capped like every other walk of untrusted JSON.
 */
import { canonicalJson } from './untrusted-json.js';

export type DigestKind = 'block' | 'transaction' | 'receipt' | 'receipts' | 'logs' | 'quantity' | 'data' | 'decimal' | 'canonical';

const KIND_OF_METHOD = new Map<string, DigestKind>([
  ['eth_getBlockByNumber', 'block'],
  ['eth_getBlockByHash', 'block'],
  ['eth_getTransactionByHash', 'transaction'],
  ['eth_getTransactionByBlockHashAndIndex', 'transaction'],
  ['eth_getTransactionByBlockNumberAndIndex', 'transaction'],
  ['eth_getTransactionReceipt', 'receipt'],
  ['eth_getBlockReceipts', 'receipts'],
  ['eth_getLogs', 'logs'],
  ['eth_getBalance', 'quantity'],
  ['eth_getTransactionCount', 'quantity'],
  ['eth_getStorageAt', 'quantity'],
  ['eth_chainId', 'quantity'],
  ['eth_blockNumber', 'quantity'],
  ['eth_getCode', 'data'],
  ['eth_call', 'data'],
  ['net_version', 'decimal'],
]);

/** How answers to `method` are compared. */
export function digestKindOf(method: string): DigestKind {
  return KIND_OF_METHOD.get(method) ?? 'canonical';
}

/**
 * The digest of a JSON-RPC `result` (as JSON.parse built it) for comparison as `kind`; undefined
 * only when the result has no digest and nests deeper than `maxDepth` (it casts no vote).
 */
export function answerDigest(kind: DigestKind, result: unknown, maxDepth: number): string | undefined {
  return (kind === 'canonical' ? undefined : DIGESTS[kind](result)) ?? canonicalJson(result, maxDepth);
}

/** A piece of digest text, or undefined: the value does not have the expected shape. */
type Text = string | undefined;
type JsonObject = Readonly<Record<string, unknown>>;

const DIGESTS: Readonly<Record<Exclude<DigestKind, 'canonical'>, (result: unknown) => Text>> = {
  block: (result) => (result === null ? 'null' : isObject(result) ? blockDigest(result) : undefined),
  transaction: (result) => (result === null ? 'null' : isObject(result) ? transactionDigest(result) : undefined),
  receipt: (result) => (result === null ? 'null' : isObject(result) ? receiptDigest(result) : undefined),
  receipts: (result) => (result === null ? 'null' : listOf(result, (r) => (isObject(r) ? receiptDigest(r) : undefined))),
  logs: (result) => listOf(result, (log) => (isObject(log) ? logDigest(log, true) : undefined)),
  quantity: (result) => (result === null ? undefined : quantity(result)),
  data: (result) => (result === null ? undefined : data(result)),
  decimal: decimal,
};

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const absent = (value: unknown) => value === undefined || value === null;

/** `[a,b,...]` of each member's digest; undefined if `value` is not an array or a member has no digest. */
function listOf(value: unknown, digest: (member: unknown) => Text): Text {
  if (!Array.isArray(value)) return undefined;
  let out = '[';
  for (let i = 0; i < value.length; i++) {
    const text = digest(value[i]);
    if (text === undefined) return undefined;
    out += i === 0 ? text : `,${text}`;
  }
  return `${out}]`;
}

/** A list member of an optional list field: an absent list is `null`. */
function optionalList(value: unknown, digest: (member: unknown) => Text): Text {
  return absent(value) ? 'null' : listOf(value, digest);
}

/** `{"k1":v1,...}` from fields already in sorted key order; undefined if any field is. */
function object(fields: ReadonlyArray<readonly [string, Text]>): Text {
  let out = '{';
  for (let i = 0; i < fields.length; i++) {
    const [key, text] = fields[i]!;
    if (text === undefined) return undefined;
    out += `${i === 0 ? '' : ','}"${key}":${text}`;
  }
  return `${out}}`;
}

const HEX = /^0x[0-9a-fA-F]*$/;
/** Most clients write lowercase: such text is checked and kept as it is, without a lowercased copy. */
const LOWER_HEX = /^0x[0-9a-f]*$/;

/** `value` as a JSON string of lowercase hex, or undefined when it is not `0x` and hex digits. */
function lowerHex(value: string): Text {
  if (LOWER_HEX.test(value)) return `"${value}"`;
  return HEX.test(value) ? `"${value.toLowerCase()}"` : undefined;
}

/** A hash or an address: hex digits in any case, lowercased; absent is null. */
function hex(value: unknown): Text {
  if (absent(value)) return 'null';
  return typeof value === 'string' && value.length >= 3 ? lowerHex(value) : undefined;
}

/** A quantity: at least one hex digit, any case; leading zeros are not significant. Absent is null. */
function quantity(value: unknown): Text {
  if (absent(value)) return 'null';
  if (typeof value !== 'string' || value.length < 3 || !HEX.test(value)) return undefined;
  let start = 2;
  while (start < value.length - 1 && value.charCodeAt(start) === 0x30) start++;
  return `"0x${value.slice(start).toLowerCase()}"`;
}

/** Bytes: whole hex bytes in any case, lowercased; `0x0` is read as no bytes. Absent is null. */
function data(value: unknown): Text {
  if (absent(value)) return 'null';
  if (typeof value !== 'string') return undefined;
  if (value === '0x0') return '"0x"';
  return value.length % 2 === 0 ? lowerHex(value) : undefined;
}

/** Digits enough for any 256-bit number, so converting one costs nothing worth counting. */
const MAX_DECIMAL_DIGITS = 78;
const MAX_HEX_DIGITS = 64;

/** A number written in decimal (as net_version is), or as a hex quantity; in decimal, without leading zeros. */
function decimal(value: unknown): Text {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? `"${value}"` : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^[0-9]+$/.test(value) && value.length <= MAX_DECIMAL_DIGITS) return `"${BigInt(value).toString()}"`;
  if (/^0x[0-9a-fA-F]+$/.test(value) && value.length <= MAX_HEX_DIGITS + 2) return `"${BigInt(value).toString()}"`;
  return undefined;
}

function blockDigest(block: JsonObject): Text {
  return object([
    ['hash', hex(block['hash'])],
    ['number', quantity(block['number'])],
    ['transactions', optionalList(block['transactions'], blockTransaction)],
  ]);
}

/** A block's transaction: its hash (the client asked for hashes) or the whole transaction's digest. */
function blockTransaction(entry: unknown): Text {
  if (typeof entry === 'string') return hex(entry);
  return isObject(entry) ? transactionDigest(entry) : undefined;
}

function transactionDigest(tx: JsonObject): Text {
  const blockHash = hex(tx['blockHash']);
  const from = hex(tx['from']);
  const hash = hex(tx['hash']);
  // `input` is the name the spec uses; `data` is what early clients called it.
  const input = data(tx['input'] !== undefined ? tx['input'] : tx['data']);
  const nonce = quantity(tx['nonce']);
  const to = hex(tx['to']);
  const value = quantity(tx['value']);
  // Written out rather than through object(): a block holds hundreds of these.
  if (blockHash === undefined || from === undefined || hash === undefined || input === undefined) return undefined;
  if (nonce === undefined || to === undefined || value === undefined) return undefined;
  return `{"blockHash":${blockHash},"from":${from},"hash":${hash},"input":${input},"nonce":${nonce},"to":${to},"value":${value}}`;
}

function receiptDigest(receipt: JsonObject): Text {
  return object([
    ['blockHash', hex(receipt['blockHash'])],
    ['cumulativeGasUsed', quantity(receipt['cumulativeGasUsed'])],
    ['gasUsed', quantity(receipt['gasUsed'])],
    ['logs', optionalList(receipt['logs'], (log) => (isObject(log) ? logDigest(log, false) : undefined))],
    ['status', quantity(receipt['status'])],
    ['transactionHash', hex(receipt['transactionHash'])],
  ]);
}

/**
 * A log: what its transaction emitted (`address`, `topics`, `data`) and, from eth_getLogs
 * (`placed`), the block and transaction it belongs to (a receipt already names them).
 */
function logDigest(log: JsonObject, placed: boolean): Text {
  const address = hex(log['address']);
  const logData = data(log['data']);
  const topics = optionalList(log['topics'], (topic) => (typeof topic === 'string' ? hex(topic) : undefined));
  if (!placed) return object([['address', address], ['data', logData], ['topics', topics]]);
  return object([
    ['address', address],
    ['blockHash', hex(log['blockHash'])],
    ['data', logData],
    ['topics', topics],
    ['transactionHash', hex(log['transactionHash'])],
  ]);
}
