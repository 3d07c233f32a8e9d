/**
 * The gateway's own failures, counted by where they were caught: a bug or a poisoned value
 * that an asynchronous path (a timer, a socket callback, a worker message, a promise off the
 * request path) caught and survived. Exposed as `din_internal_errors_total{where}`; anything
 * above zero is worth a look, since no client or operator input should get here.
 *
 * The counts are per thread (a data-plane worker reports its own to the main thread, which
 * counts them again there). A leaf: the router, the workers and the composition root all
 * report here without depending on each other.
 */

/** Where an internal error was caught: the label's bounded set of values. */
export const INTERNAL_ERROR_SITES = [
  /** Answering a client request (the forwarder answered the client with an internal error). */
  'request',
  /** The sampled cross-check, after the client had its answer. */
  'cross_check',
  /** The measurement window timer. */
  'window',
  /** Scoring a closed window. */
  'control_loop',
  /** A health probe round. */
  'probe',
  /** Rebuilding the routing table. */
  'rebuild_routes',
  /** A callback of an operator's connection (its reads). */
  'upstream_socket',
  /** A message between the main thread and a data-plane worker. */
  'worker',
  /** Producing the /metrics exposition. */
  'metrics_scrape',
  /** The process's last resort: an exception nothing else caught. */
  'uncaught',
  /** The process's last resort: a rejected promise nothing handled. */
  'unhandled_rejection',
] as const;

export type InternalErrorSite = (typeof INTERNAL_ERROR_SITES)[number];

export type InternalErrorListener = (where: InternalErrorSite, err: unknown) => void;

const SITE_INDEX = new Map<string, number>(INTERNAL_ERROR_SITES.map((site, i) => [site, i]));
const counts = new Float64Array(INTERNAL_ERROR_SITES.length);
const listeners = new Set<InternalErrorListener>();

export function isInternalErrorSite(value: unknown): value is InternalErrorSite {
  return typeof value === 'string' && SITE_INDEX.has(value);
}

/**
 * Counts one internal error and tells the listeners (a logger, a worker's channel to the main
 * thread). Never throws: it is what catch blocks call. With no listener, it writes to stderr.
 */
export function reportInternalError(where: InternalErrorSite, err: unknown): void {
  counts[SITE_INDEX.get(where)!]!++;
  if (listeners.size === 0) {
    try {
      process.stderr.write(`din-gateway: internal error (${where}): ${describeError(err)}\n`);
    } catch {
      // Nowhere left to say it; the count stands.
    }
    return;
  }
  for (const listener of listeners) {
    try {
      listener(where, err);
    } catch {
      // A failing listener must not turn a survived error into a new one.
    }
  }
}

/** Internal errors counted at `where` in this thread since start. */
export function internalErrorCount(where: InternalErrorSite): number {
  return counts[SITE_INDEX.get(where)!]!;
}

/** Adds a listener; returns the function that removes it. */
export function onInternalError(listener: InternalErrorListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** An error's stack (or message), for a log line or a message to another thread. */
export function describeError(err: unknown): string {
  try {
    if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
    return String(err);
  } catch {
    return 'an unprintable value';
  }
}
