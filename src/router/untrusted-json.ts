/**
 * Walking JSON that came from a client or an operator, without recursion. V8's JSON.parse is
 * iterative (a body of a million nested arrays parses), but JSON.stringify and any recursive
 * walk of what it built overflow the stack a few thousand levels down: a RangeError that a
 * 40 KB request can trigger. Everything here keeps its own stack on the heap, and the
 * canonical form gives up past a depth cap (what the gateway itself inspects), leaving such
 * values to be forwarded as the bytes they came in.
 */

/** An array or object being written: its members, the keys to write them in (objects), the next one. */
interface Frame {
  readonly array: readonly unknown[] | undefined;
  readonly object: Readonly<Record<string, unknown>> | undefined;
  readonly keys: readonly string[] | undefined;
  next: number;
  /** Members written so far (an object's left-out members are skipped, not written). */
  written: number;
}

/**
 * Serializes a value built by JSON.parse: arrays and objects nest, everything else is a leaf.
 * `sortKeys` writes object members in sorted key order; `maxDepth` bounds the nesting of
 * arrays and objects (undefined when the value nests deeper). Members whose value
 * JSON.stringify would leave out (undefined, functions) are left out the same way.
 */
function serialize(value: unknown, sortKeys: boolean, maxDepth: number): string | undefined {
  const stack: Frame[] = [];
  let out = '';
  let pending: unknown = value;
  let hasPending = true;
  for (;;) {
    if (hasPending) {
      hasPending = false;
      const v = pending;
      if (typeof v === 'object' && v !== null) {
        if (stack.length >= maxDepth) return undefined;
        if (Array.isArray(v)) {
          out += '[';
          stack.push({ array: v, object: undefined, keys: undefined, next: 0, written: 0 });
        } else {
          const object = v as Record<string, unknown>;
          const keys = Object.keys(object);
          if (sortKeys) keys.sort();
          out += '{';
          stack.push({ array: undefined, object, keys, next: 0, written: 0 });
        }
      } else {
        out += leaf(v) ?? 'null';
      }
    }
    const top = stack[stack.length - 1];
    if (top === undefined) return out;
    if (top.array !== undefined) {
      if (top.next === top.array.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (top.next > 0) out += ',';
      pending = top.array[top.next++];
      hasPending = true;
      continue;
    }
    const keys = top.keys!;
    // Skip members JSON leaves out of objects.
    while (top.next < keys.length && leavesOut(top.object![keys[top.next]!])) top.next++;
    if (top.next === keys.length) {
      out += '}';
      stack.pop();
      continue;
    }
    if (top.written++ > 0) out += ',';
    const key = keys[top.next++]!;
    out += `${JSON.stringify(key)}:`;
    pending = top.object![key];
    hasPending = true;
  }
}

/** A leaf's JSON text, as JSON.stringify writes it; undefined for what JSON has no text for. */
function leaf(value: unknown): string | undefined {
  return JSON.stringify(value) as string | undefined;
}

function leavesOut(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/**
 * Key-sorted JSON, so two honest nodes that order object fields differently still agree; undefined
 * when `value` nests arrays and objects more than `maxDepth` deep (the caller then inspects nothing).
 */
export function canonicalJson(value: unknown, maxDepth: number): string | undefined {
  return serialize(value, true, maxDepth);
}

/**
 * JSON.stringify for a value that came from JSON.parse (a client's request, an operator's
 * answer), whatever its depth: native (fast) first, the iterative walk when the native one runs
 * out of stack. The same text either way.
 */
export function stringifyParsed(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return serialize(value, false, Infinity)!;
  }
}

/** The first bytes of `text` in UTF-8, at most `maxBytes`, never cutting a character in two. */
export function utf8Prefix(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that did not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}
