/**
 * A data-plane worker thread: its own uWS listener on the shared RPC port (the kernel
 * spreads connections over the workers), its own upstream pools, forwarder and meters.
 * It owns no state that matters beyond a window: the control plane sends it routing
 * tables and collects its measurements at every window close.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { installCrashPolicy } from '../crash-policy.js';
import { ThreadHealthMeter } from '../metrics/gateway-health.js';
import { describeError, onInternalError, reportInternalError } from '../metrics/internal-errors.js';
import { initLatencyHistograms } from '../metrics/latency-histogram.js';
import { Measurement } from '../metrics/measurement.js';
import { createDataPlane, operatorRefOrReason } from '../router/data-plane.js';
import { ChainRoute, type OperatorRef, RoutingState } from '../router/routing-table.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { PortLeaseSource } from './port-lease-source.js';

const port = parentPort!;
const { config, workerIndex } = workerData as WorkerInit;
const post = (message: FromWorker) => port.postMessage(message);

// Nothing a client or an operator sends may end this thread (a dying worker aborts the process:
// its listen socket is still open): failures are reported to the main thread, which counts them.
installCrashPolicy();
onInternalError((where, err) => post({ type: 'error', where, message: describeError(err) }));

await initLatencyHistograms();
const routing = new RoutingState();
const measurement = new Measurement({ windowSeconds: config.windowSeconds });
const refs = new Map<string, OperatorRef>();
/** Operators whose handle could not be built: never routed by this worker. */
const unroutable = new Set<string>();
const heads = new Map<string, number>();
const health = new ThreadHealthMeter(`worker-${workerIndex}`, () => Array.from(refs.values(), (r) => r.upstream));
// Every worker's buckets lease from the main thread, so a client's budget holds for the whole process.
const leases = new PortLeaseSource(port);
const { forwarder, server, budget } = createDataPlane(config, routing, measurement, {
  onOutvoted: (operatorId, evidence) => post({ type: 'outvoted', operatorId, evidence }),
  headOf: (chain) => heads.get(chain) ?? null,
  onInternalError: (err) => reportInternalError('request', err),
  leases,
  // One message per operator per new block at most (the forwarder tells only a higher head): the main thread's chain state decides what it means.
  onAnswerHead: (operator, head) => post({ type: 'head', operatorId: operator.id, head }),
  onNotice: (message, detail) => post({ type: 'notice', message, detail }),
  onProvingAnswer: (operator) => post({ type: 'proving', operatorId: operator.id }),
});

function applyRoutes(message: Extract<ToWorker, { type: 'routes' }>): void {
  for (const op of message.operators) {
    if (refs.has(op.id) || unroutable.has(op.id)) continue;
    const ref = operatorRefOrReason(config, op, budget);
    if (typeof ref === 'string') {
      // One operator whose handle cannot be built is left out (reported once); the others are served.
      unroutable.add(op.id);
      post({ type: 'unroutable', operatorId: op.id, reason: ref });
      continue;
    }
    refs.set(op.id, ref);
    measurement.addOperator(op.index, op.id, op.chain);
  }
  heads.clear();
  for (const [chain, head] of Object.entries(message.heads)) heads.set(chain, head);
  routing.publish(
    message.routes.map(
      (r) =>
        new ChainRoute(
          r.chain,
          r.entries.flatMap((e) => {
            const operator = refs.get(e.id);
            if (operator === undefined) return [];
            const { weight, head, atTip, proven } = e;
            return [{ operator, weight, ...(head === undefined ? {} : { head }), ...(atTip === undefined ? {} : { atTip }), ...(proven === undefined ? {} : { proven }) }];
          }),
          r.explorationShare,
          r.heights,
        ),
    ),
  );
}

async function stop(graceMs: number): Promise<void> {
  server.stopAccepting();
  await forwarder.drain(graceMs);
  // Every listen socket must be closed before the thread exits, or Node aborts on uv_loop_close().
  server.close();
  await Promise.all([...refs.values()].map((r) => r.upstream.close()));
  measurement.destroy();
  health.stop();
  post({ type: 'stopped' });
  port.close();
}

port.on('message', (message: ToWorker) => {
  try {
    onMessage(message);
  } catch (err) {
    reportInternalError('worker', err);
  }
});

function onMessage(message: ToWorker): void {
  switch (message.type) {
    case 'routes':
      applyRoutes(message);
      break;
    case 'export':
      post({
        type: 'export',
        requestId: message.requestId,
        meters: measurement.exportWindows(),
        clientFaults: measurement.takeClientFaults(),
        inflight: forwarder.inflightRequests,
        budget: { used: budget.used, limit: budget.limit, refusals: budget.refusals },
        routing: forwarder.chainReads.takeCounts(),
        health: health.take(),
      });
      break;
    case 'stop':
      stop(message.graceMs).catch((err: unknown) => reportInternalError('worker', err));
      break;
    case 'lease-grant':
      leases.settle(message);
      break;
  }
}

try {
  await server.listen(true);
  post({ type: 'listening' });
} catch (err) {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  server.close();
  port.close();
}
