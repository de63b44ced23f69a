// Preloaded into a `weft run` (node --import) by the worker replacement test, to crash a worker
// the way a host bug would: worker thread 1 (not its replacement) throws an uncaught exception
// once the file WEFT_TEST_CRASH_FILE names exists.

import { existsSync } from 'node:fs';
import { isMainThread, workerData } from 'node:worker_threads';

const trigger = process.env.WEFT_TEST_CRASH_FILE;
const start = workerData as { index?: number; serving?: unknown } | undefined;
if (!isMainThread && trigger !== undefined && start?.index === 1 && start.serving === undefined) {
  const timer = setInterval(() => {
    if (!existsSync(trigger)) return;
    clearInterval(timer);
    throw new Error('a crash the test injected');
  }, 20);
  timer.unref();
}
