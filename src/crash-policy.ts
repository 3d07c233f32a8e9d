/**
 * The process's last resort: an exception or a rejected promise that nothing caught is
 * logged and counted (`din_internal_errors_total{where="uncaught"|"unhandled_rejection"}`),
 * and the process keeps serving. Every path that a client's or an operator's bytes reach
 * handles its own failures first; this only keeps a bug that slipped through from ending
 * every client's connections at once. Installed by the CLI (`start`, `demo`) and by each
 * data-plane worker thread.
 */
import { reportInternalError } from './metrics/internal-errors.js';

/** Installs the handlers; returns the function that removes them. */
export function installCrashPolicy(): () => void {
  const onRejection = (reason: unknown) => reportInternalError('unhandled_rejection', reason);
  const onException = (err: unknown) => reportInternalError('uncaught', err);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
