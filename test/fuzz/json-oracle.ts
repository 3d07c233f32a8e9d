/**
 * The oracle of the JSON fuzz suites: JSON.parse, and checks written on top of it from the
 * JSON-RPC 2.0 specification (not from the scanner), all iterative so that inputs nested
 * 100,000 levels deep can be judged too.
 */
type Rec = Record<string, unknown>;
export type Id = string | number | null;

/** JSON.parse of the bytes as the gateway decodes them (UTF-8, invalid sequences as U+FFFD). */
export function parseBytes(bytes: Buffer): { json: true; value: unknown } | { json: false } {
  try {
    return { json: true, value: JSON.parse(bytes.toString('utf8')) };
  } catch {
    return { json: false };
  }
}

export function isValidId(id: unknown): id is Id {
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) || id === null;
}

/** A JSON-RPC 2.0 response object (specification section 5), as JSON.parse read it. */
export function isResponseObject(value: unknown): value is Rec & { id: Id } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const obj = value as Rec;
  if (obj['jsonrpc'] !== '2.0' || !('id' in obj) || !isValidId(obj['id'])) return false;
  const hasResult = 'result' in obj;
  const hasError = 'error' in obj;
  if (hasResult === hasError) return false;
  if (hasResult) return true;
  const error = obj['error'];
  if (typeof error !== 'object' || error === null || Array.isArray(error)) return false;
  return Number.isInteger((error as Rec)['code']) && typeof (error as Rec)['message'] === 'string';
}

/**
 * For a text JSON.parse accepted whose value is an object: whether that object names one of
 * jsonrpc, id, result, error twice, or its `error` member (an object) names code or message
 * twice. JSON.parse keeps the last of each; the scanner refuses them (documented in
 * src/router/response-scan.ts), so the reference does too. Keys are compared decoded.
 */
export function hasEnvelopeDuplicates(text: string): boolean {
  // Each open container: whether it is an object, whether a key comes next, its keys so far.
  const objects: boolean[] = [];
  const expectKey: boolean[] = [];
  const keys: string[][] = [];
  // The key of the depth-1 member being read, to know when its value is the `error` object.
  let topKey: string | undefined;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const depth = objects.length;
      if (depth > 0 && objects[depth - 1] && expectKey[depth - 1]) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        keys[depth - 1]!.push(key);
        expectKey[depth - 1] = false;
        if (depth === 1) topKey = key;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      objects.push(c === 0x7b);
      expectKey.push(c === 0x7b);
      keys.push([]);
    } else if (c === 0x7d || c === 0x5d) {
      const depth = objects.length;
      const wasObject = objects.pop()!;
      expectKey.pop();
      const own = keys.pop()!;
      if (wasObject && depth === 1 && repeats(own, TOP)) return true;
      if (wasObject && depth === 2 && topKey === 'error' && repeats(own, ERROR)) return true;
    } else if (c === 0x2c) {
      const depth = objects.length;
      if (depth > 0 && objects[depth - 1]) expectKey[depth - 1] = true;
    }
    i++;
  }
  return false;
}

const TOP = ['jsonrpc', 'id', 'result', 'error'];
const ERROR = ['code', 'message'];

function repeats(keys: readonly string[], watched: readonly string[]): boolean {
  return watched.some((k) => keys.indexOf(k) !== keys.lastIndexOf(k));
}

export interface ResponseVerdict {
  json: boolean;
  ok: boolean;
  value?: unknown;
}

/** What the scanner must say of `bytes` as one answer. */
export function referenceResponse(bytes: Buffer): ResponseVerdict {
  const parsed = parseBytes(bytes);
  if (!parsed.json) return { json: false, ok: false };
  const ok = isResponseObject(parsed.value) && !hasEnvelopeDuplicates(bytes.toString('utf8'));
  return { json: true, ok, value: parsed.value };
}

/** Depth of nesting of a JSON text (valid or not): the deepest run of open brackets outside strings. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
