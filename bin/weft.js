#!/usr/bin/env node
// The `weft` command: the compiled CLI lives in dist/ (built by `npm run build`, which `npm ci`
// runs as the `prepare` step).
await import('../dist/host/cli.js');
