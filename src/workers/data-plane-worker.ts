/**
 * A data-plane worker thread: its own uWS listener on the shared RPC port (the kernel
 * spreads connections over the workers), its own upstream pools, forwarder and meters.
 * It owns no state that matters beyond a window: the control plane sends it routing
 * tables and collects its measurements at every window close.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initLatencyHistograms } from '../metrics/latency-histogram.js';
import { Measurement } from '../metrics/measurement.js';
import { createDataPlane, newOperatorRef } from '../router/data-plane.js';
import { ChainRoute, type OperatorRef, RoutingState } from '../router/routing-table.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { PortLeaseSource } from './port-lease-source.js';

const port = parentPort!;
const { config } = workerData as WorkerInit;
const post = (message: FromWorker) => port.postMessage(message);

await initLatencyHistograms();
const routing = new RoutingState();
const measurement = new Measurement({ windowSeconds: config.windowSeconds });
const refs = new Map<string, OperatorRef>();
const heads = new Map<string, number>();
// Every worker's buckets lease from the main thread, so a client's budget holds for the whole process.
const leases = new PortLeaseSource(port);
const { forwarder, server } = createDataPlane(config, routing, measurement, {
  onOutvoted: (operatorId, evidence) => post({ type: 'outvoted', operatorId, evidence }),
  headOf: (chain) => heads.get(chain) ?? null,
  onInternalError: (err) => post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  leases,
});

function applyRoutes(message: Extract<ToWorker, { type: 'routes' }>): void {
  for (const op of message.operators) {
    if (refs.has(op.id)) continue;
    refs.set(op.id, newOperatorRef(config, op));
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
    case 'lease-grant':
      leases.settle(message);
      break;
  }
});

try {
  await server.listen();
  post({ type: 'listening' });
} catch (err) {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  server.close();
  port.close();
}
