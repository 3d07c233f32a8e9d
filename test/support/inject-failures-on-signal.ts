/**
 * Loaded with `--import` into a gateway process under test: on SIGUSR2 it throws an
 * exception and rejects a promise that nothing catches, as a bug on some callback would.
 */
process.on('SIGUSR2', () => {
  void Promise.reject(new Error('injected unhandled rejection'));
  setImmediate(() => {
    throw new Error('injected uncaught exception');
  });
});
