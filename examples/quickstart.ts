// `npm start`: three demo instances of the service "demo" (two v1, one v2) on 127.0.0.1:3001-3003,
// and `weft run` in front of them on 127.0.0.1:8080 (examples/quickstart/weft.yaml). Each
// instance registers itself through the admin API and heartbeats, the way a real service would
// (examples/register.sh is the same in curl), with the admin token `weft run` keeps in the state
// folder (.weft/admin.token, made on the first start). Ctrl-C stops everything.

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAdminTokenSync } from '../host/admin/token-file.js';
import { startDemoUpstream } from './demo-upstream.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN = 'http://127.0.0.1:9901';
const TOKEN_FILE = join(root, '.weft', 'admin.token');
const HEARTBEAT_MS = 2000;
const instances = [
  { name: 'demo-a', port: 3001, version: 'v1' },
  { name: 'demo-b', port: 3002, version: 'v1' },
  { name: 'demo-c', port: 3003, version: 'v2' },
];

// A fresh start: the quickstart's state (chain, registrations) is not kept between runs.
rmSync(join(root, '.weft', 'quickstart-state.json'), { force: true });
const servers = await Promise.all(instances.map((i) => startDemoUpstream(`${i.name} (${i.version})`, '127.0.0.1', i.port)));
console.log('demo instances on 127.0.0.1:3001 (v1), :3002 (v1), :3003 (v2)');

const weft = spawn(process.execPath, [join(root, 'bin', 'weft.js'), 'run', '-c', join(root, 'examples', 'quickstart', 'weft.yaml')], { stdio: 'inherit' });

async function register(): Promise<{ ids: string[]; authorization: string }> {
  for (;;) {
    try {
      const token = readAdminTokenSync(TOKEN_FILE);
      if (token === undefined) throw new Error('weft has not made its admin token yet');
      const authorization = `Bearer ${token}`;
      const ids: string[] = [];
      for (const i of instances) {
        const res = await fetch(`${ADMIN}/services/demo/instances`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ address: '127.0.0.1', port: i.port, version: i.version, ttl_s: 6 }),
        });
        if (!res.ok) throw new Error(`registration refused: ${res.status} ${await res.text()}`);
        ids.push(((await res.json()) as { id: string }).id);
      }
      return { ids, authorization };
    } catch {
      await new Promise((r) => setTimeout(r, 200)); // weft is still starting
    }
  }
}

const { ids, authorization } = await register();
console.log('registered demo-a, demo-b, demo-c with the service registry; try: curl -i http://127.0.0.1:8080/hello');
const heartbeat = setInterval(() => {
  for (const id of ids) void fetch(`${ADMIN}/services/demo/instances/${id}/heartbeat`, { method: 'PUT', headers: { authorization } }).catch(() => {});
}, HEARTBEAT_MS);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => weft.kill(signal));
}

weft.on('exit', (code) => {
  clearInterval(heartbeat);
  for (const server of servers) server.close();
  process.exitCode = code ?? 1;
});
