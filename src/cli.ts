#!/usr/bin/env -S node --min-semi-space-size=16
/**
 * `din-gateway start [--config FILE]` and `din-gateway demo`. Argument parsing and process
 * lifetime only: exit 2 for a bad configuration, 1 for a failure to start.
 *
 * The V8 flag on the first line sizes the young generation at its ceiling (16 MiB per
 * semi-space, V8's own maximum here) from the start. Left to V8, it grows 2 → 16 MiB over the
 * first minutes under a steady load, and RSS with it (+13 MiB, measured at 2,000 req/s); sized up
 * front, memory is at its working size from the first request and stays there. CPU per request
 * is the same either way; the price is that plateau from the start, in every worker isolate too
 * (V8 flags are per process; docs/performance.md, "Soak"). `npm start` passes the same flag.
 */
import { Command } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { installCrashPolicy } from './crash-policy.js';
import { demoBanner, startDemo } from './demo.js';
import { Gateway } from './gateway.js';

function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting at once\n`);
      process.exit(130);
    }
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`din-gateway: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`din-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

const program = new Command()
  .name('din-gateway')
  .description('JSON-RPC routing gateway over staked node operators')
  .showHelpAfterError();

program
  .command('start')
  .description('run the gateway from a config file (or DIN_CONFIG) and DIN_* environment overrides')
  .option('-c, --config <file>', 'JSON config file')
  .action(async (opts: { config?: string }) => {
    installCrashPolicy();
    try {
      const gateway = await Gateway.start(loadConfig(opts.config));
      stopOnSignals(() => gateway.stop());
    } catch (err) {
      fail(err);
    }
  });

program
  .command('demo')
  .description('run the gateway in front of four simulated operators (fast, slow, flaky, bad-data)')
  .option('--traffic <perSecond>', 'requests per second from a simulated client (0: none)', '20')
  .action(async (opts: { traffic: string }) => {
    installCrashPolicy();
    try {
      const trafficPerSecond = Number(opts.traffic);
      if (!Number.isFinite(trafficPerSecond) || trafficPerSecond < 0 || trafficPerSecond > 1000) {
        process.stderr.write('din-gateway: --traffic must be a number from 0 to 1000\n');
        process.exit(2);
      }
      const demo = await startDemo(process.env, { trafficPerSecond });
      process.stdout.write(`${demoBanner(demo)}\n`);
      stopOnSignals(() => demo.stop());
    } catch (err) {
      fail(err);
    }
  });

program.parseAsync(process.argv).catch(fail);
