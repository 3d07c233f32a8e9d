/** Blocks this thread's event loop for `blockMs` every `everyMs` (the gateway's own saturation, in-process); returns the stop. */
export function saturateEventLoop(blockMs: number, everyMs: number): () => void {
  const timer = setInterval(() => {
    const end = performance.now() + blockMs;
    while (performance.now() < end) {
      // busy: the loop can do nothing else
    }
  }, everyMs);
  return () => clearInterval(timer);
}
