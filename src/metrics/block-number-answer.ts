/**
 * The block number in an operator's answer to `eth_getBlockByNumber` (the `safe` and
 * `finalized` probes), read from the bytes: the answer is untrusted and a block can be large
 * (a hash per transaction), so nothing is built but the number's own text. The scan walks the
 * bytes once, tracking strings and nesting, and takes the `number` member of the top-level
 * `result` object (the last one, as JSON.parse would); no recursion, no allocation per member.
 */
import { newResponseScan, scanResponse } from '../router/response-scan.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const RESULT_KEY = Buffer.from('result');
const NUMBER_KEY = Buffer.from('number');
const HEX_QUANTITY = /^0x[0-9a-fA-F]{1,16}$/;

const scan = newResponseScan();

function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function keyIs(body: Buffer, start: number, end: number, key: Buffer): boolean {
  return end - start === key.length && body.compare(key, 0, key.length, start, end) === 0;
}

/**
 * The text of the string value of `result.number` in a valid JSON-RPC response object spanning
 * [start, end) of `body`; undefined when there is none (no such member, not a string, a result
 * that is not an object). Keys written with escapes are not recognised (no node writes them).
 */
function resultNumberText(body: Buffer, start: number, end: number): string | undefined {
  let depth = 0;
  /** Inside the envelope's `result` object (its members are at depth 2). */
  let inResult = false;
  /** The next value is `result.number`'s. */
  let numberValueNext = false;
  let found: string | undefined;
  let i = start;
  while (i < end) {
    const byte = body[i]!;
    if (byte === QUOTE) {
      const textStart = i + 1;
      let j = textStart;
      let escaped = false;
      while (j < end && body[j] !== QUOTE) {
        if (body[j] === BACKSLASH) {
          escaped = true;
          j += 2;
        } else j++;
      }
      const textEnd = j;
      i = j + 1;
      let k = i;
      while (isWhitespace(body[k])) k++;
      if (body[k] === COLON) {
        // A key: its value follows.
        i = k + 1;
        while (isWhitespace(body[i])) i++;
        numberValueNext = !escaped && depth === 2 && inResult && keyIs(body, textStart, textEnd, NUMBER_KEY);
        if (!escaped && depth === 1 && keyIs(body, textStart, textEnd, RESULT_KEY)) inResult = body[i] === OPEN_BRACE;
      } else if (numberValueNext) {
        // A hex quantity has no escapes and at most 18 characters: anything else is no number.
        found = escaped || textEnd - textStart > 18 ? undefined : body.toString('latin1', textStart, textEnd);
        numberValueNext = false;
      }
      continue;
    }
    if (numberValueNext && !isWhitespace(byte)) {
      // result.number is not a string.
      found = undefined;
      numberValueNext = false;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
      if (depth < 2) inResult = false;
    }
    i++;
  }
  return found;
}

/**
 * What an answer to `eth_getBlockByNumber` says: the block's number; null when it is not a
 * valid response, has no block (`result: null`) or no valid number (a hex quantity that is a
 * safe integer); 'error' when it is a JSON-RPC error (the operator does not serve the call).
 */
export function blockNumberOfAnswer(body: Buffer): number | null | 'error' {
  const answer = scanResponse(body, 0, body.length, scan);
  if (!answer.ok) return null;
  if (answer.isError) return 'error';
  const text = resultNumberText(body, answer.start, answer.end);
  if (text === undefined || !HEX_QUANTITY.test(text)) return null;
  const value = Number.parseInt(text, 16);
  return Number.isSafeInteger(value) ? value : null;
}
