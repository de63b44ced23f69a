// The listener engine a test process runs its proxies on. A file that tests the proxy path
// sets WEFT_TEST_ENGINE (`uws` unless set); a file that imports it with WEFT_TEST_ENGINE=node
// (proxy-node-engine.test.ts) runs the very same tests on node:http. startWeft (weft.ts) puts
// the engine into the manifest's `listen.engine`.

import { loadUws } from '../../host/proxy/uws-loader.js';

export type TestEngine = 'uws' | 'node';

/** The engine asked for in this process, or undefined (the manifest's default, auto). */
export function requestedEngine(): TestEngine | undefined {
  const engine = process.env.WEFT_TEST_ENGINE;
  if (engine === undefined || engine === '') return undefined;
  if (engine !== 'uws' && engine !== 'node') throw new Error(`WEFT_TEST_ENGINE must be uws or node, not ${engine}`);
  return engine;
}

/** The engine this process's proxies run on: the one asked for, else what `auto` picks here. */
export function effectiveEngine(): TestEngine {
  return requestedEngine() ?? (loadUws().ok ? 'uws' : 'node');
}

/** For describe's `skip`: why the uws variant cannot run on this machine, else false. */
export function engineSkip(): string | false {
  if (requestedEngine() !== 'uws') return false;
  const load = loadUws();
  return load.ok ? false : `no uWebSockets.js binary loads here (${load.reason})`;
}

/** The start-up line the engine under test logs. */
export function engineLogLine(engine: TestEngine): string {
  return engine === 'uws' ? 'listener engine: uWebSockets.js' : 'listener engine: node:http';
}
