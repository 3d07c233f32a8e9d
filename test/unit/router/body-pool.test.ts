/** The large-body pool: what it hands out again, and what it refuses to take back. */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { POOLED_MIN_BYTES, giveBody, pooledBytes, takeBody } from '../../../src/router/body-pool.js';

/** Takes everything the pool holds free, so each test starts from an empty pool. */
function drain(): void {
  const held: Buffer[] = [];
  for (let size = POOLED_MIN_BYTES; size <= 4 * 1024 * 1024; size *= 2) {
    while (pooledBytes() > 0) {
      const before = pooledBytes();
      held.push(takeBody(size));
      if (pooledBytes() === before) break;
    }
  }
}

describe('body pool', () => {
  it('hands a buffer given back to the next body of its size class, sized to that body', () => {
    drain();
    const first = takeBody(100_000);
    expect(first.length).toBe(100_000);
    first.fill(1);
    giveBody(first);
    expect(pooledBytes()).toBe(128 * 1024);
    const second = takeBody(70_000);
    expect(second.buffer).toBe(first.buffer);
    expect(second.length).toBe(70_000);
    expect(second.byteOffset).toBe(0);
    expect(pooledBytes()).toBe(0);
    // Another class gets a buffer of its own.
    expect(takeBody(200_000).buffer).not.toBe(first.buffer);
  });

  it('leaves small and very large bodies to the allocator', () => {
    drain();
    for (const size of [1, POOLED_MIN_BYTES - 1, 4 * 1024 * 1024 + 1]) {
      const body = takeBody(size);
      expect(body.length).toBe(size);
      giveBody(body);
      expect(pooledBytes()).toBe(0);
    }
  });

  it('takes back only whole buffers it made, each once', () => {
    drain();
    giveBody(Buffer.allocUnsafe(100_000));
    giveBody(Buffer.from(new ArrayBuffer(128 * 1024), 0, 100_000));
    const mine = takeBody(100_000);
    giveBody(mine.subarray(1));
    expect(pooledBytes()).toBe(0);
    giveBody(mine);
    giveBody(mine);
    expect(pooledBytes()).toBe(128 * 1024);
    // Given twice, handed out once: two bodies never share a buffer.
    const a = takeBody(100_000);
    const b = takeBody(100_000);
    expect(a.buffer).not.toBe(b.buffer);
  });

  it('holds at most 16 MiB free', () => {
    drain();
    const bodies = Array.from({ length: 12 }, () => takeBody(2 * 1024 * 1024));
    for (const body of bodies) giveBody(body);
    expect(pooledBytes()).toBe(16 * 1024 * 1024);
  });
});
