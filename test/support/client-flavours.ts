/**
 * The same settled block and account as three honest Ethereum clients format them: what
 * consensus fixes (hashes, numbers, transaction contents) is equal, what each client chooses
 * (optional fields, key order, hex case, leading zeros) is not. Shapes follow the clients'
 * real answers: geth has dropped `totalDifficulty` (v1.14.11), Nethermind still returns it
 * with an `author`, Parity-lineage clients added `sealFields`.
 */

/** A 32-byte hex word made from `seed` (deterministic, lowercase). */
export function word(seed: number, bytes = 32): string {
  let out = '';
  let x = (seed * 2654435761) >>> 0 || 1;
  while (out.length < bytes * 2) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += x.toString(16).padStart(8, '0');
  }
  return `0x${out.slice(0, bytes * 2)}`;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** A transaction object of block `number` as geth writes it. */
function transaction(number: number, index: number, blockHash: string, inputBytes: number): Record<string, unknown> {
  return {
    blockHash,
    blockNumber: hex(number),
    from: word(number * 1000 + index, 20),
    gas: '0x5208',
    gasPrice: '0x3b9aca00',
    maxFeePerGas: '0x77359400',
    maxPriorityFeePerGas: '0x3b9aca00',
    hash: word(number * 100_000 + index),
    input: word(index + 7, inputBytes),
    nonce: hex(index),
    to: index % 5 === 0 ? null : word(index + 3, 20),
    transactionIndex: hex(index),
    value: hex(index * 1_000_000_007),
    type: '0x2',
    accessList: [],
    chainId: '0x1',
    v: '0x1',
    r: word(index + 11),
    s: word(index + 13),
    yParity: '0x1',
  };
}

/** Block `number` as geth answers eth_getBlockByNumber(number, full): no totalDifficulty. */
export function gethBlock(number: number, options: { full: boolean; transactions: number; inputBytes?: number }): Record<string, unknown> {
  const hash = word(number);
  const transactions = Array.from({ length: options.transactions }, (_, i) => transaction(number, i, hash, options.inputBytes ?? 68));
  return {
    baseFeePerGas: '0x3b9aca00',
    difficulty: '0x0',
    extraData: '0x6265617665726275696c642e6f7267',
    gasLimit: '0x1c9c380',
    gasUsed: hex(21_000 * options.transactions),
    hash,
    logsBloom: `0x${'00'.repeat(256)}`,
    miner: word(3, 20),
    mixHash: word(number + 1),
    nonce: '0x0000000000000000',
    number: hex(number),
    parentHash: word(number - 1),
    receiptsRoot: word(number + 2),
    sha3Uncles: '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347',
    size: hex(600 + 120 * options.transactions),
    stateRoot: word(number + 3),
    timestamp: hex(1_700_000_000 + number * 12),
    transactions: options.full ? transactions : transactions.map((t) => t['hash']),
    transactionsRoot: word(number + 4),
    uncles: [],
    withdrawals: [],
    withdrawalsRoot: word(number + 5),
  };
}

/** Nethermind's answer for the same block: totalDifficulty and author added, keys in its own order. */
export function nethermindBlock(geth: Record<string, unknown>): Record<string, unknown> {
  const { hash, number, ...rest } = geth;
  return { number, hash, author: rest['miner'], totalDifficulty: '0xc70d815d562d3cfa955', ...rest, size: hex(Number(rest['size']) + 3) };
}

/**
 * A third client's answer: uppercase hex digits, quantities with leading zeros, keys reversed,
 * Parity's sealFields instead of mixHash/nonce. Every value still says the same thing.
 */
export function oddFormatBlock(geth: Record<string, unknown>): Record<string, unknown> {
  const shout = (v: unknown): unknown => (typeof v === 'string' && v.startsWith('0x') ? `0x${v.slice(2).toUpperCase()}` : v);
  const pad = (v: unknown): unknown => (typeof v === 'string' && /^0x[0-9a-fA-F]+$/.test(v) ? `0x00${v.slice(2)}` : v);
  const tx = (t: unknown): unknown => {
    if (typeof t !== 'object' || t === null) return shout(t);
    const o = t as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(o).reverse()) out[key] = ['nonce', 'value', 'gas', 'transactionIndex'].includes(key) ? pad(o[key]) : shout(o[key]);
    return out;
  };
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(geth).reverse()) {
    if (key === 'mixHash' || key === 'nonce') continue;
    const v = geth[key];
    out[key] = key === 'transactions' ? (v as unknown[]).map(tx) : key === 'number' || key === 'gasUsed' ? pad(v) : shout(v);
  }
  out['sealFields'] = [geth['mixHash'], geth['nonce']];
  return out;
}
