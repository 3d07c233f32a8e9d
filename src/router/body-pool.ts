/**
 * Buffers for large answer bodies, used again once their reader is done with them.
 *
 * Why: every fresh buffer above Node's 4 KB slab is its own ArrayBuffer, memory outside V8's
 * heap that V8 counts, and as that count grows V8 starts full collections (mark-compact) to
 * find the dead ones. At 1,500 answers of 123 KB a second that is several full collections a
 * second, each costing in proportion to the live heap, not to the garbage: measured, a gateway
 * that had served other traffic first (a 20 MB heap) spent twice the CPU per large answer of a
 * fresh one. A buffer given back is taken again by the next large body instead.
 *
 * The rule is explicit hand-back: `take` hands out a buffer, and only code that knows nothing
 * else holds it (see SingleCall) calls `give`. A buffer never given back is left to the
 * garbage collector, as any other, so forgetting costs speed, never correctness; giving back a
 * buffer still in use would let the next answer overwrite it, so `give` is called sparingly.
 * One pool per thread (module state): buffers never cross threads.
 */
// Imported rather than global: Node's global Buffer is an accessor, a getter call on every use.
import { Buffer } from 'node:buffer';

/** Bodies below this are allocated as usual: V8 notices little of their churn. */
export const POOLED_MIN_BYTES = 16 * 1024;
/** Bodies above this are allocated as usual: rare, and not worth keeping memory for. */
const POOLED_MAX_BYTES = 4 * 1024 * 1024;
/** What the free lists hold at most, all sizes together. */
const POOL_BYTES = 16 * 1024 * 1024;

/** Free buffers by size class: class k holds ArrayBuffers of POOLED_MIN_BYTES << k bytes. */
const free: ArrayBuffer[][] = [];
for (let size = POOLED_MIN_BYTES; size <= POOLED_MAX_BYTES; size *= 2) free.push([]);
let freeBytes = 0;
/** Every ArrayBuffer this pool made: `give` takes back nothing else. */
const ours = new WeakSet<ArrayBuffer>();

function classOf(bytes: number): number {
  // The smallest k with POOLED_MIN_BYTES << k >= bytes.
  return Math.max(0, 32 - Math.clz32(Math.ceil(bytes / POOLED_MIN_BYTES) - 1));
}

/** A buffer of `bytes` bytes, contents unspecified: from the pool when it is large enough to be. */
export function takeBody(bytes: number): Buffer {
  if (bytes < POOLED_MIN_BYTES || bytes > POOLED_MAX_BYTES) return Buffer.allocUnsafe(bytes);
  const k = classOf(bytes);
  let store = free[k]!.pop();
  if (store === undefined) {
    store = new ArrayBuffer(POOLED_MIN_BYTES << k);
    ours.add(store);
  } else freeBytes -= store.byteLength;
  return Buffer.from(store, 0, bytes);
}

/**
 * Hands `body` back for a later `takeBody`. Only for a buffer from `takeBody` that nothing
 * will read again; anything else (a slice, a buffer from elsewhere, one already given) is
 * ignored, and a full pool lets the buffer go to the garbage collector.
 */
export function giveBody(body: Buffer): void {
  if (body.length < POOLED_MIN_BYTES) return;
  const store = body.buffer;
  if (body.byteOffset !== 0 || !(store instanceof ArrayBuffer) || !ours.has(store)) return;
  if (freeBytes + store.byteLength > POOL_BYTES) return;
  const list = free[classOf(store.byteLength)]!;
  if (list.includes(store)) return;
  list.push(store);
  freeBytes += store.byteLength;
}

/** Bytes the pool holds free (for tests and the soak). */
export function pooledBytes(): number {
  return freeBytes;
}
