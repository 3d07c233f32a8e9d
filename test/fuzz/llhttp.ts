/**
 * Node's own HTTP parser (llhttp, through the binding node:http uses) as a response parser
 * for differential tests: strict mode (no lenient flags), fed one byte at a time so that the
 * end of every message is known to the byte.
 */
import { createRequire } from 'node:module';

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): Error | null | undefined;
  close(): void;
  [key: number]: unknown;
}
interface LlhttpModule {
  new (): LlhttpParser;
  RESPONSE: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnHeaders: number;
  kOnExecute: number;
  kLenientNone: number;
  kLenientSpacesAfterChunkSize: number;
}

// _http_common re-exports the binding's HTTPParser without process.binding's deprecation warning.
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: LlhttpModule };

/** Whitespace between a chunk size and its extension (`1 ;a=b`), which RFC 9112's BWS allows. */
export const LENIENT_SPACES_AFTER_CHUNK_SIZE: number = HTTPParser.kLenientSpacesAfterChunkSize;

export interface LlhttpMessage {
  status: number;
  versionMinor: number;
  body: string; // latin1
  keepAlive: boolean;
  upgrade: boolean;
  /** Offset in the stream just after the message's last byte. */
  end: number;
}

export interface LlhttpResult {
  messages: LlhttpMessage[];
  /** The offset of the byte llhttp refused (or the stream's length when finish() refused), else -1. */
  errorAt: number;
  error: string | undefined;
}

/** `lenient`: llhttp's lenient flags (LENIENT_*), none by default. */
export function llhttpParse(bytes: Buffer, finish: boolean, lenient = 0): LlhttpResult {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 0, lenient);
  const messages: LlhttpMessage[] = [];
  let current: Omit<LlhttpMessage, 'end'> | undefined;
  let at = 0;
  parser[HTTPParser.kOnHeadersComplete] = (_major: number, minor: number, _headers: unknown, _method: unknown, _url: unknown, status: number, _reason: unknown, upgrade: boolean, keepAlive: boolean) => {
    current = { status, versionMinor: minor, body: '', keepAlive, upgrade };
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    current!.body += chunk.toString('latin1');
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    messages.push({ ...current!, end: at });
    current = undefined;
  };
  parser[HTTPParser.kOnHeaders] = () => {};
  let errorAt = -1;
  let error: string | undefined;
  try {
    for (let i = 0; i < bytes.length; i++) {
      at = i + 1;
      const r = parser.execute(bytes.subarray(i, i + 1));
      if (r instanceof Error) {
        errorAt = i;
        error = (r as Error & { code?: string }).code ?? r.message;
        break;
      }
      // An upgrade (101, or Connection: upgrade) hands the rest of the stream to another protocol.
      if (messages.length > 0 && messages[messages.length - 1]!.upgrade) break;
    }
    if (finish && errorAt < 0 && !(messages.length > 0 && messages[messages.length - 1]!.upgrade)) {
      at = bytes.length;
      const r = parser.finish();
      if (r instanceof Error) {
        errorAt = bytes.length;
        error = (r as Error & { code?: string }).code ?? r.message;
      }
    }
  } finally {
    parser.close();
  }
  return { messages, errorAt, error };
}
