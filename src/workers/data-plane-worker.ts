/**
 * A data-plane worker thread: its own uWS listener on the shared RPC port (the kernel
 * spreads connections over the workers), its own upstream pools, forwarder and meters.
 * It owns no state that matters beyond a window: the control plane sends it routing
 * tables and collects its measurements at every window close.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initLatencyHistograms } from '../metrics/latency-histogram.js';
import { operatorUrlProblem } from '../operator-url.js';
import { Measurement } from '../metrics/measurement.js';
import { createDataPlane, newOperatorRef } from '../router/data-plane.js';
import { ChainRoute, type OperatorRef, RoutingState } from '../router/routing-table.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';

const port = parentPort!;
const { config } = workerData as WorkerInit;
const post = (message: FromWorker) => port.postMessage(message);

await initLatencyHistograms();
const routing = new RoutingState();
const measurement = new Measurement({ windowSeconds: config.windowSeconds });
const refs = new Map<string, OperatorRef>();
/** Operators whose handle could not be built: never routed by this worker. */
const unroutable = new Set<string>();
const heads = new Map<string, number>();
const { forwarder, server } = createDataPlane(config, routing, measurement, {
  onOutvoted: (operatorId, evidence) => post({ type: 'outvoted', operatorId, evidence }),
  headOf: (chain) => heads.get(chain) ?? null,
  onInternalError: (err) => post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
});

function applyRoutes(message: Extract<ToWorker, { type: 'routes' }>): void {
  for (const op of message.operators) {
    if (refs.has(op.id) || unroutable.has(op.id)) continue;
    let ref: OperatorRef;
    try {
      ref = newOperatorRef(config, op);
    } catch (err) {
      // One operator whose handle cannot be built is left out (reported once); the others are served.
      unroutable.add(op.id);
      // Not the URL or the error's message: a URL may carry the operator's credentials.
      const reason = operatorUrlProblem(op.url) ?? (err instanceof Error ? err.name : 'unknown error');
      post({ type: 'error', message: `operator ${op.id} cannot be routed, skipped: ${reason}` });
      continue;
    }
    refs.set(op.id, ref);
    measurement.addOperator(op.index, op.id, op.chain);
  }
  heads.clear();
  for (const [chain, head] of Object.entries(message.heads)) heads.set(chain, head);
  routing.publish(
    message.routes.map(
      (r) => new ChainRoute(r.chain, r.entries.flatMap((e) => (refs.has(e.id) ? [{ operator: refs.get(e.id)!, weight: e.weight }] : [])), r.explorationShare),
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
  post({ type: 'stopped' });
  port.close();
}

port.on('message', (message: ToWorker) => {
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
      });
      break;
    case 'stop':
      void stop(message.graceMs);
      break;
  }
});

try {
  await server.listen(true);
  post({ type: 'listening' });
} catch (err) {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  server.close();
  port.close();
}
