// The admin page's files: what the build makes of them and where the admin server finds them,
// that the published package carries their sources, and its pure modules (no DOM) run in Node: placing the server's chain-spec problems at
// fields, reading Prometheus text, and the history's line diff. The browser test
// (admin-ui.test.ts) drives them through the page; these pin the corner cases.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { UI_DIR } from '../host/admin/routes/ui.js';
import { WeftMetrics } from '../host/telemetry/metrics.js';
import { repoRoot } from './helpers/repo.js';

// Plain browser ES modules, served as they are: imported from the source folder (tsc does not compile them).
const uiModule = (name: string): Promise<any> => import(pathToFileURL(join(repoRoot, 'host', 'admin', 'ui', name)).href);

test('each problem of a refused chain spec is placed at its chain, entry and field', async () => {
  const { placeProblems } = await uiModule('spec-errors.js');
  const problems = placeProblems(
    [
      'filters[0].fuel: must be an integer >= 1000, not 5',
      'chains.api-v2[1] (auth): proxy_on_configure returned false (the filter logged: bad issuer)',
      'filters[2] (tag): filter tag has no version 9 (versions: 1, 2)',
      'chains.api[0].trap_cooldown.traps: must be an integer >= 1',
      'filters[3] (hog): the module does not start',
      'routes[0].chain: no chain named "x"',
    ].join('\n'),
  );
  assert.deepEqual(
    problems.map(({ chain, index, field }: { chain?: string; index?: number; field?: string }) => [chain, index, field]),
    [
      ['default', 0, 'fuel'],
      ['api-v2', 1, 'config'],
      ['default', 2, 'version'],
      ['api', 0, 'trap_cooldown'],
      ['default', 3, undefined],
      [undefined, undefined, undefined],
    ],
  );
  assert.equal(problems[1].message, 'chains.api-v2[1] (auth): proxy_on_configure returned false (the filter logged: bad issuer)');
});

test('request counters and filter phase latency are read from the real /metrics text', async () => {
  const { parseMetrics, sumBy, filterPhases } = await uiModule('prom.js');
  const metrics = new WeftMetrics({ processMetrics: false });
  metrics.cluster('web').observe(200, 0.01);
  metrics.cluster('web').observe(503, 0.01);
  metrics.cluster('api "v2"').observe(200, 0.01);
  const phase = metrics.filterPhase('auth', 'request_headers');
  for (let i = 0; i < 99; i++) phase.observe(0.000004);
  phase.observe(0.002);
  metrics.filterTrap('auth');

  const samples = parseMetrics(await metrics.text());
  assert.deepEqual(sumBy(samples, 'weft_requests_total', 'cluster'), { web: 2, 'api "v2"': 1 });
  assert.deepEqual(sumBy(samples, 'weft_filter_traps_total', 'filter'), { auth: 1 });
  const auth = filterPhases(samples).auth.request_headers;
  assert.equal(auth.calls, 100);
  assert.ok(Math.abs(auth.mean_ms - (99 * 0.004 + 2) / 100) < 1e-9, String(auth.mean_ms));
  // 99 of 100 calls are in the 5 µs bucket.
  assert.equal(auth.p99_ms, 0.005);
});

test('the history diff marks removed and added lines around the common ones', async () => {
  const { diffLines } = await uiModule('diff.js');
  const before = ['{', '  "name": "tag",', '  "version": 1,', '  "config": "v1"', '}'].join('\n');
  const after = ['{', '  "name": "tag",', '  "version": 2,', '  "config": "v1"', '}'].join('\n');
  assert.deepEqual(diffLines(before, after), [
    { op: ' ', line: '{' },
    { op: ' ', line: '  "name": "tag",' },
    { op: '-', line: '  "version": 1,' },
    { op: '+', line: '  "version": 2,' },
    { op: ' ', line: '  "config": "v1"' },
    { op: ' ', line: '}' },
  ]);
  assert.deepEqual(diffLines('', 'a\nb'), [{ op: '+', line: 'a' }, { op: '+', line: 'b' }]);
});

test('the admin server serves the page the build bundled into dist/ui, and the package carries its sources', () => {
  assert.equal(UI_DIR, join(repoRoot, 'dist', 'ui') + '/');
  // esbuild made one script and one stylesheet of the modules; index.html names exactly those.
  assert.deepEqual(readdirSync(UI_DIR).sort(), ['app.js', 'index.html', 'style.css']);
  const html = readFileSync(join(UI_DIR, 'index.html'), 'utf8');
  assert.match(html, /src="\/ui\/app\.js"/);
  assert.match(html, /href="\/ui\/style\.css"/);
  const script = readFileSync(join(UI_DIR, 'app.js'), 'utf8');
  assert.doesNotMatch(script, /^import /m, 'the bundle imports nothing: every module is inside it');
  assert.ok(script.length < 200 * 1024, `bundle ${script.length} bytes`);
  const sources = readdirSync(join(repoRoot, 'host', 'admin', 'ui')).filter((name) => /\.(html|js|css)$/.test(name));
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const packed = new Set(pack.files.map((file: { path: string }) => file.path));
  assert.deepEqual(sources.filter((name) => !packed.has(`host/admin/ui/${name}`)), []);
  assert.ok(packed.has('scripts/build-ui.js'));
});
