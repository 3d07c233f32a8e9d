/**
 * The one check of an operator's URL, used wherever a URL enters the gateway (the config
 * file, the admin API's registration). It accepts only what the upstream client
 * (src/router/upstream.ts) can build a connection and a request line from, so a URL that
 * passes here can never make the router fail later. Records that reach the store some
 * other way are contained per operator where routes are built (Gateway.rebuildRoutes, the
 * data-plane worker).
 */
import { z } from 'zod';

/** Longer URLs are refused: the request line of every forwarded request carries the path. */
export const MAX_OPERATOR_URL_LENGTH = 2048;

/** Why `url` cannot be an operator's endpoint, or undefined when it can. */
export function operatorUrlProblem(url: string): string | undefined {
  if (url.length > MAX_OPERATOR_URL_LENGTH) return `must be at most ${MAX_OPERATOR_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http:// or https:// URL';
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (host === '') return 'must name a host';
  // URL keeps "0" (it only drops the scheme's default port): nothing can be reached on port 0.
  if (parsed.port === '0') return 'must not use port 0';
  // The client sends user:password as Basic credentials, decoded.
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    return 'user and password must be valid percent-encoded UTF-8';
  }
  if (parsed.hash !== '') return 'must not carry a #fragment (it is never sent)';
  return undefined;
}

/** The zod form of operatorUrlProblem, for the config schema and the admin API's bodies. */
export const operatorUrl = z.string({ error: 'must be a string' }).superRefine((url, ctx) => {
  const problem = operatorUrlProblem(url);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
