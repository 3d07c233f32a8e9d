/**
 * What RFC 9112 says a server must refuse in a request head and this uWS build (v20.30)
 * lets through, checked before anything of the request is used; and the way to refuse it
 * without serving what follows on the connection.
 *
 * Measured with raw sockets against this build: it takes the FIRST of two Content-Length
 * lines and serves the bytes after that body as a second request (a proxy in front that
 * trusts the last one forwards them as one: request smuggling); it accepts two Host lines,
 * a Host with spaces, two Transfer-Encoding lines and `Transfer-Encoding: chunked, gzip`
 * (chunked not last: the body length cannot be known, RFC 9112 §6.3 says 400 and close).
 * What it refuses itself (it closes at once): Transfer-Encoding with Content-Length, a
 * non-chunked Transfer-Encoding alone, a Content-Length that is not digits, a missing Host,
 * bad chunk sizes. What it never dispatches and we cannot answer (it waits for its 10 s
 * idle timeout, no hook in this build): HTTP/1.0 and other versions, obs-fold, a space
 * before the colon, bare LF, control bytes in a value, the HTTP/2 preface.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { type Headers, writeReply } from './http-reply.js';

// Counted by a function that allocates nothing per request: the scan runs on every request.
let contentLengths = 0;
let hosts = 0;
let transferEncodings = 0;
let host = '';
let transferEncoding = '';

function countHeader(name: string, value: string): void {
  // uWS hands names lower-cased.
  switch (name) {
    case 'content-length':
      contentLengths++;
      break;
    case 'host':
      hosts++;
      host = value;
      break;
    case 'transfer-encoding':
      transferEncodings++;
      transferEncoding = value;
      break;
  }
}

/** RFC 3986 host (reg-name, IPv4 or a bracketed IP literal) with an optional port, as RFC 9112 §3.2 wants it. */
const VALID_HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.vV]+\])(?::[0-9]*)?$/;

/** Why this request head must be refused (400), or undefined. Reads every header line once. */
export function requestHeadProblem(req: HttpRequest): string | undefined {
  contentLengths = 0;
  hosts = 0;
  transferEncodings = 0;
  req.forEach(countHeader);
  if (contentLengths > 1) return 'more than one Content-Length header';
  if (hosts !== 1) return hosts === 0 ? 'no Host header' : 'more than one Host header';
  if (!VALID_HOST.test(host)) return 'the Host header is not a valid host';
  if (transferEncodings > 1) return 'more than one Transfer-Encoding header';
  // The only coding the gateway reads is chunked (uWS decodes it); chunked not last is a 400 by RFC 9112 §6.3.
  if (transferEncodings === 1 && transferEncoding.trim().toLowerCase() !== 'chunked') return 'Transfer-Encoding other than "chunked"';
  return undefined;
}

/**
 * Answers `status` with `body` and closes the connection, serving nothing that follows on it.
 *
 * uWS serves the requests it finds after this one in the same read even when the answer
 * says `Connection: close` (end(body, true)), and `res.close()` discards what was written.
 * So the answer waits for the next turn of the event loop: uWS terminates a connection on
 * which a request arrives while an answer is pending (it refuses asynchronous pipelining),
 * so a request that followed in the same read ends the connection unanswered; otherwise the
 * answer goes out with `Connection: close`, after which uWS reads nothing more.
 */
export function refuseAndClose(res: HttpResponse, status: number, headers: Headers, body: string): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  setImmediate(() => {
    if (!aborted) writeReply(res, status, headers, body, true);
  });
}
