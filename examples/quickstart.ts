// `npm start`: two demo upstreams on 127.0.0.1:3001 and :3002, and `weft run` in front of them on
// 127.0.0.1:8080 with the example filter (examples/quickstart/weft.yaml). Ctrl-C stops everything.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemoUpstream } from './demo-upstream.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const upstreams = await Promise.all([startDemoUpstream('demo-a', '127.0.0.1', 3001), startDemoUpstream('demo-b', '127.0.0.1', 3002)]);
console.log('demo upstreams on 127.0.0.1:3001 and 127.0.0.1:3002');

const weft = spawn(process.execPath, [join(root, 'bin', 'weft.js'), 'run', '-c', join(root, 'examples', 'quickstart', 'weft.yaml')], {
  stdio: 'inherit',
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => weft.kill(signal));
}

weft.on('exit', (code) => {
  for (const server of upstreams) server.close();
  process.exitCode = code ?? 1;
});
