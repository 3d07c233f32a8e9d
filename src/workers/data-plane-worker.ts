/**
 * A data-plane worker thread: its own uWS listener on the shared RPC port (the kernel
 * spreads connections over the workers), its own undici pools, forwarder and meters.
 * It owns no state that matters beyond a window: the control plane sends it routing
 * tables and collects its measurements at every window close.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initLatencyHistograms } from '../metrics/latency-histogram.js';
import { Measurement } from '../metrics/measurement.js';
import { CrossChecker } from '../router/cross-check.js';
import { Forwarder } from '../router/forward.js';
import { ChainRoute, type OperatorRef, RoutingState } from '../router/routing-table.js';
import { RpcServer } from '../router/rpc-server.js';
import { Upstream } from '../router/upstream.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';

const port = parentPort!;
const { config } = workerData as WorkerInit;
const post = (message: FromWorker) => port.postMessage(message);

await initLatencyHistograms();
const routing = new RoutingState();
const measurement = new Measurement({ windowSeconds: config.windowSeconds });
const refs = new Map<string, OperatorRef>();
const heads = new Map<string, number>();
const forwarder = new Forwarder(
  routing,
  measurement,
  {
    maxAttempts: config.upstream.maxAttempts,
    attemptTimeoutMs: config.upstream.attemptTimeoutMs,
    requestDeadlineMs: config.upstream.requestDeadlineMs,
    maxBatchSize: config.limits.maxBatchSize,
  },
  Math.random,
  (err) => post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
);
forwarder.useCrossChecker(
  new CrossChecker(
    routing,
    measurement,
    { onOutvoted: (operator, evidence) => post({ type: 'outvoted', operatorId: operator.id, evidence }) },
    (chain) => heads.get(chain) ?? null,
    { ...config.staking.crossCheck, timeoutMs: config.upstream.attemptTimeoutMs },
  ),
);
const server = new RpcServer(forwarder, routing, {
  host: config.rpc.host,
  port: config.rpc.port,
  maxBodyBytes: config.limits.maxBodyBytes,
  allowOrigin: config.cors.allowOrigin,
  defaultChain: config.defaultChain,
});

function applyRoutes(message: Extract<ToWorker, { type: 'routes' }>): void {
  for (const op of message.operators) {
    if (refs.has(op.id)) continue;
    const upstream = new Upstream(op.url, {
      connections: config.upstream.connections,
      pipelining: config.upstream.pipelining,
      keepAliveTimeoutMs: config.upstream.keepAliveTimeoutMs,
      maxResponseBytes: config.limits.maxResponseBytes,
    });
    refs.set(op.id, Object.freeze({ id: op.id, index: op.index, chain: op.chain, upstream }));
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
  await server.listen();
  post({ type: 'listening' });
} catch (err) {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  server.close();
  port.close();
}
