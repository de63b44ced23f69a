#!/usr/bin/env node
// The `weft` command: the compiled CLI lives in dist/ (built by `npm run build`).
//
// uWebSockets.js reads its header buffer size from the environment once, when it loads, and
// its default (4 KiB) drops connections whose headers arrive in several reads and exceed it.
// Weft enforces its own limit (limits.max_request_headers_kb, answered with 431), so uWS gets a
// ceiling above any limit the manifest may set.
process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(256 * 1024);
await import('../dist/host/cli.js');
