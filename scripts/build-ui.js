#!/usr/bin/env node
// Builds the admin page (host/admin/ui/, plain ES modules) into dist/ui/ with esbuild: one
// minified script and one stylesheet, so the browser makes three requests instead of fifteen
// and the admin listener serves only what the build produced. index.html is copied as it is
// (it names /ui/app.js and /ui/style.css). Node's own tests import the sources directly.

import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(repoRoot, 'host', 'admin', 'ui');
const out = join(repoRoot, 'dist', 'ui');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(source, 'app.js'), join(source, 'style.css')],
  outdir: out,
  bundle: true,
  format: 'esm',
  minify: true,
  // Chromium, Firefox and Safari of the last three years; the page uses nothing newer.
  target: ['es2022'],
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
copyFileSync(join(source, 'index.html'), join(out, 'index.html'));
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.log(`build-ui: ${Object.keys(result.metafile.outputs).length} files + index.html in dist/ui (${(bytes / 1024).toFixed(1)} KiB)`);
