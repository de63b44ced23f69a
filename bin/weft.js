#!/usr/bin/env node
// The `weft` command: the compiled CLI lives in dist/ (built by `npm run build`).
import '../dist/host/cli.js';
