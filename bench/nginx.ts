// nginx, the upstream and one of the proxies under test, run with its own config and
// prefix in a temp folder (never the system service).
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './options.js';
import { spawnPinned, waitForPort, type Pinned } from './processes.js';

/** Where Debian's libnginx-mod-http-echo puts the module the upstream echoes POST bodies with. */
const echoModule = '/usr/lib/nginx/modules/ngx_http_echo_module.so';

/** The upstream's GET body: exactly 100 bytes. */
export const upstreamBody = 'weft-bench-upstream-'.padEnd(100, 'x');

export function upstreamNginx(tempDir: string, port: number, core: number): Promise<Pinned> {
  if (!existsSync(echoModule)) {
    throw new Error(`${echoModule} is missing: run scripts/ensure-system-deps.sh (installs libnginx-mod-http-echo)`);
  }
  return startNginx('upstream nginx', 'nginx-upstream.conf', path.join(tempDir, 'upstream-nginx'), core, port, {
    port: String(port),
    echoModule,
    body: upstreamBody,
  });
}

/** `h2c`: the listener speaks HTTP/2 by prior knowledge (nginx's `listen ... http2` without TLS). */
export function proxyNginx(prefix: string, port: number, upstreamPort: number, core: number, options: { h2c?: boolean } = {}): Promise<Pinned> {
  return startNginx('nginx proxy', 'nginx-proxy.conf', prefix, core, port, {
    port: String(port),
    listenOptions: options.h2c === true ? ' http2' : '',
    upstreamPort: String(upstreamPort),
  });
}

async function startNginx(
  name: string,
  template: string,
  prefix: string,
  core: number,
  port: number,
  vars: Record<string, string>,
): Promise<Pinned> {
  mkdirSync(prefix, { recursive: true });
  const configFile = path.join(prefix, 'nginx.conf');
  writeFileSync(configFile, render(template, { ...vars, prefix }));
  // -e: the error log nginx opens before it has read the config, so it never touches /var/log.
  const proc = spawnPinned(name, core, 'nginx', ['-p', prefix, '-c', configFile, '-e', path.join(prefix, 'error.log')], path.join(prefix, 'stdout.log'));
  await waitForPort(proc, port);
  return proc;
}

function render(template: string, vars: Record<string, string>): string {
  const text = readFileSync(path.join(repoRoot, 'bench', 'templates', template), 'utf8');
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = vars[key];
    if (value === undefined) throw new Error(`bench/templates/${template}: no value for {{${key}}}`);
    return value;
  });
}
