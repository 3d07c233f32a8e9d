/**
 * Writing bytes into a buffer by hand, on the request path: short copies and decimal numbers,
 * where Buffer's own methods cost more in argument handling and temporary strings than the
 * few bytes they write.
 */
import type { Buffer } from 'node:buffer';

/** from[a, b) to `to` at `at`: short spans byte by byte, cheaper than Buffer#copy's set-up. */
export function copyBytes(from: Buffer, a: number, b: number, to: Buffer, at: number): void {
  if (b - a > 64) from.copy(to, at, a, b);
  else for (let i = a; i < b; i++) to[at++] = from[i]!;
}

/** The number of decimal digits of a non-negative integer. */
export function decimalLength(n: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Writes a non-negative integer in decimal at out[at, at + digits), `digits` its decimalLength: no string made. */
export function writeDecimal(n: number, out: Buffer, at: number, digits: number): void {
  for (let i = at + digits - 1, rest = n; i >= at; i--, rest = Math.floor(rest / 10)) out[i] = 48 + (rest % 10);
}
