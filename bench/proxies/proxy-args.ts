// The command line every reference proxy takes, and the ready line it prints (the same
// `"msg":"listening"` JSON line Weft logs).

export function parseProxyArgs(name: string): { port: number; upstream: string } {
  const [port, upstream] = process.argv.slice(2);
  if (!port || !/^\d+$/.test(port) || !upstream || !/^[\w.-]+:\d+$/.test(upstream)) {
    console.error(`usage: node dist/bench/proxies/${name}.js PORT UPSTREAM_HOST:PORT`);
    process.exit(2);
  }
  return { port: Number(port), upstream };
}

export function announceListening(port: number): void {
  console.log(JSON.stringify({ msg: 'listening', port }));
}
