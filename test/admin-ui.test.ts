// The admin page in a real headless Chromium against a real `weft run`: it loads without
// console errors, signs in, shows the chain revision and live numbers that move under load,
// puts the server's validation error at the field, explains an If-Match conflict, rolls back,
// edits the whole spec as JSON, uploads a module by drag and drop, deregisters an instance,
// shows a read-only token no edit controls, and needs no sign-in without an admin token. Screenshots go to dist/screenshots/ (WEFT_SCREENSHOT_DIR to change it).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { AdminClient } from './helpers/admin.js';
import { Browser } from './helpers/browser.js';
import { eventually } from './helpers/eventually.js';
import { header, request } from './helpers/http.js';
import { sendMany } from './helpers/load.js';
import { fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream } from './helpers/upstream.js';
import { startWeft, type WeftProcess } from './helpers/weft.js';

const TOKEN = 'page-writer-token';
const VIEWER_TOKEN = 'page-viewer-token';
const SCREENSHOTS = process.env.WEFT_SCREENSHOT_DIR ?? join(repoRoot, 'dist', 'screenshots');
/** The one error a fresh tab logs: the page asks /whoami before it has a token (401), then shows the sign-in. */
const HOSTILE = '<img src=x onerror="document.title=1">';
const SIGN_IN_PROBE = /Failed to load resource: the server responded with a status of 401/;

let upstream: EchoUpstream;
let weft: WeftProcess;
let admin: AdminClient;
let browser: Browser;
let page: Page;
const instances: string[] = [];

before(async () => {
  upstream = await EchoUpstream.start();
  weft = await startWeft({
    admin: { token: TOKEN, tokens: [{ name: 'viewer', role: 'read', token_sha256: createHash('sha256').update(VIEWER_TOKEN).digest('hex') }] },
    clusters: [
      { name: 'web', endpoints: [upstream.address] },
      { name: 'reviews', discovery: 'registry', service: 'reviews' },
    ],
    default_cluster: 'web',
    filters: [{ name: 'tag', module: fixtureModule('tag-version'), config: { version: 'v1' } }],
    access_log: 'off',
  });
  admin = new AdminClient(weft.adminUrl, TOKEN);
  for (const port of [8080, 8081]) {
    // Metadata that would be markup if the page ever parsed API data as HTML.
    const registration = { address: '10.0.0.7', port, version: 'v2', ttl_s: 60, metadata: { note: HOSTILE } };
    const reply = await admin.call('POST', '/services/reviews/instances', { body: JSON.stringify(registration), headers: { 'content-type': 'application/json' } });
    assert.equal(reply.status, 201, reply.text);
    instances.push(reply.json.id);
  }
  browser = await Browser.launch();
  page = await browser.page();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await weft?.stop();
  await upstream?.stop();
});

const servedTag = async () => header(await request(`${weft.url}/`), 'x-filter-version');
const chainRevision = () => page.getByTestId('chain-revision').textContent();
const configBox = () => page.locator('li.entry[data-filter="tag"] textarea[name="config"]');

async function open(view: string): Promise<void> {
  await page.click(`nav a[data-view="${view}"]`);
  await page.locator(`section.view.${view}`).waitFor();
}

describe('admin page', () => {
  test('is served at / and /ui/ without a token, with a strict CSP; the API it calls still needs one', async () => {
    for (const path of ['/', '/ui/']) {
      const page = await request(`${weft.adminUrl}${path}`);
      assert.equal(page.status, 200);
      assert.match(header(page, 'content-type')!, /^text\/html/);
      assert.match(page.body, /<script type="module" src="\/ui\/app.js"><\/script>/);
      assert.match(header(page, 'content-security-policy')!, /default-src 'none'; script-src 'self'; style-src 'self'/);
      assert.equal(header(page, 'x-frame-options'), 'DENY');
    }
    const script = await request(`${weft.adminUrl}/ui/app.js`);
    assert.equal(script.status, 200);
    assert.match(header(script, 'content-type')!, /^text\/javascript/);
    assert.equal((await request(`${weft.adminUrl}/ui/no-such-file.js`)).status, 404);
    assert.equal((await admin.call('GET', '/server', { token: null })).status, 401);
    assert.deepEqual((await admin.call('GET', '/whoami', { token: VIEWER_TOKEN })).json, { token: 'viewer', role: 'read', auth_required: true });
    assert.deepEqual((await admin.call('GET', '/whoami')).json, { token: 'admin', role: 'write', auth_required: true });
    const server = (await admin.call('GET', '/server')).json;
    assert.deepEqual(server.listeners, [{ address: `127.0.0.1:${weft.port}`, protocol: 'http' }]);
    // As many as the `listening` line says serve (workers: auto; one where the engine cannot share a port).
    assert.equal(server.workers, weft.workers);
  });

  test('signs in and shows the chain revision; the live numbers move under load', async () => {
    await page.goto(`${weft.adminUrl}/`);
    await page.locator('#sign-in').waitFor();
    await page.fill('#token', 'wrong token');
    await page.click('#sign-in-form button[type="submit"]');
    await page.getByText('not accepted: invalid bearer token').waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#sign-in-form button[type="submit"]');
    const { revision } = await admin.chain();
    await page.getByTestId('revision').getByText(String(revision), { exact: true }).waitFor();
    await page.getByText('admin · read-write').waitFor();

    const webNow = page.locator('tr[data-name="web"] td').nth(3);
    const deadline = Date.now() + 15_000;
    // "–" until two polls have been made, then the rate between the last two.
    while (!(Number(await webNow.textContent()) > 0)) {
      assert.ok(Date.now() < deadline, 'the req/s of cluster web never moved');
      await sendMany(weft.url, 200, () => '/');
    }
    // The sparkline has a peak: some point above the baseline (y 30 is zero).
    const line = page.locator('tr[data-name="web"] svg.sparkline polyline.line');
    await line.waitFor({ state: 'attached' });
    assert.ok((await line.getAttribute('points'))!.split(' ').some((point) => Number(point.split(',')[1]) < 30), String(await line.getAttribute('points')));
    assert.notEqual(await page.locator('tr[data-name="web"] td').nth(5).textContent(), '–', 'p50 of web');
    // A few polls more of uneven load, so the screenshot (README) shows a line rather than a blip.
    for (const count of [300, 50, 200]) {
      await sendMany(weft.url, count, () => '/');
      await sleep(2000);
    }
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-overview.png') });
    // Only the sign-in probe and the refused token: no CSP violation, no script error.
    assert.ok(browser.errors.length <= 2 && browser.errors.every((error) => SIGN_IN_PROBE.test(error)), browser.errors.join('\n'));
  });

  test('a config the filter refuses shows the server error at the config field; a good one serves', async () => {
    await open('chain');
    await configBox().fill('{"version": ""}');
    await page.getByTestId('apply').click();
    const error = page.locator('li.entry[data-filter="tag"] .field-config .field-error');
    await error.waitFor();
    assert.match((await error.textContent())!, /^filters\[0\] \(tag\): .*proxy_on_configure returned false/);
    assert.equal(await servedTag(), 'v1', 'the refused config does not serve');
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-chain-error.png') });

    const before = await chainRevision();
    await configBox().fill('{"version": "v2"}');
    await page.getByTestId('apply').click();
    await eventually(chainRevision, (text) => text !== before, 'the revision after apply');
    assert.equal(await error.count(), 0);
    assert.equal(await chainRevision(), String((await admin.chain()).revision));
    assert.equal(await servedTag(), 'v2');
  });

  test('an If-Match conflict is explained, and applying over it is one click', async () => {
    await configBox().fill('{"version": "v3"}');
    // Someone else changes the chain meanwhile.
    const current = await admin.chain();
    const theirs = await admin.putChain({ filters: [{ name: 'tag', config: { version: 'v4' } }] }, current.revision);
    assert.equal(theirs.status, 200, theirs.text);
    await page.getByTestId('apply').click();
    const conflict = page.locator('.conflict');
    await conflict.waitFor();
    assert.match((await conflict.textContent())!, /The chain changed while you were editing\. You loaded revision \d+; the server says: the chain is at revision \d+, not \d+/);
    assert.equal(await servedTag(), 'v4');
    await conflict.getByText('Apply my version over theirs').click();
    await eventually(servedTag, (tag) => tag === 'v3', 'the tag after applying over the conflict');
  });

  test('rolling back changes the revision and serves the spec before', async () => {
    // The page reloads after the previous test's apply; read `before` once it shows what serves.
    const serving = String((await admin.chain()).revision);
    await eventually(chainRevision, (text) => text === serving, 'the page showing the serving revision');
    const before = serving;
    await page.getByTestId('undo').click();
    await eventually(chainRevision, (text) => text !== before, 'the revision after rollback');
    assert.equal(await chainRevision(), String((await admin.chain()).revision));
    assert.equal(await servedTag(), 'v4');
    // The history shows the rollback and the diff of what it changed.
    const newest = page.locator('ol.revisions > li').first();
    assert.match((await newest.textContent())!, /rollback to #\d+/);
    await newest.getByText('Diff').click();
    await newest.locator('.diff .added').first().waitFor();
    assert.match((await newest.locator('.diff').textContent())!, /\+\s+"version": "v4"/);
  });

  test('the spec as JSON adds a chain and a route; a route to an unknown chain is refused with the server\'s words', async () => {
    await page.locator('details.spec-json summary').click();
    const spec = JSON.parse(await page.locator('details.spec-json textarea').inputValue());
    await page.locator('details.spec-json textarea').fill(JSON.stringify({ ...spec, routes: [{ path_prefix: '/api/', chain: 'nope' }] }));
    await page.getByTestId('apply-json').click();
    await page.locator('details.spec-json .field-error').first().waitFor();
    assert.match((await page.locator('details.spec-json').textContent())!, /routes\[0\]\.chain: .*nope/);

    const before = await chainRevision();
    const api = [{ name: 'tag', config: { version: 'api' } }];
    await page.locator('details.spec-json textarea').fill(JSON.stringify({ ...spec, chains: { api }, routes: [{ path_prefix: '/api/', chain: 'api' }] }));
    await page.getByTestId('apply-json').click();
    await eventually(chainRevision, (text) => text !== before, 'the revision after the JSON apply');
    await page.locator('.card[data-chain="api"] li.entry[data-filter="tag"]').waitFor();
    assert.match((await page.locator('table.grid', { hasText: 'path prefix' }).textContent())!, /\/api\/\s*api/);
    assert.equal(header(await request(`${weft.url}/api/x`), 'x-filter-version'), 'api');
    assert.equal(await servedTag(), 'v4');
    await page.locator('details.spec-json summary').click();
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-chain.png'), fullPage: true });
  });

  test('a .wasm dropped on the page is uploaded and shows in the registry', async () => {
    await open('filters');
    const bytes = [...readFileSync(fixtureModule('noop'))];
    // What a drop from the desktop hands the page: a DataTransfer with the file (built in the page; the test's tsconfig has no DOM types).
    const dataTransfer = await page.evaluateHandle((data) => {
      const { DataTransfer, File } = globalThis as any;
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], 'dropped.wasm', { type: 'application/wasm' }));
      return transfer;
    }, bytes);
    await page.dispatchEvent('[data-testid="drop-zone"]', 'drop', { dataTransfer });
    const row = page.locator('.filter[data-filter="dropped"] tr[data-version="1"]');
    await row.waitFor();
    assert.match((await row.textContent())!, /unused/);
    assert.equal((await admin.call('GET', '/filters/dropped')).json.versions.length, 1);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-filters.png'), fullPage: true });
  });

  test('deregistering an instance removes it', async () => {
    await open('services');
    const [gone, kept] = instances;
    const row = page.locator(`tr[data-instance="${gone}"]`);
    await row.waitFor();
    await page.locator(`tr[data-instance="${kept}"]`).waitFor();
    // API data is shown as text: the markup in the metadata is text, not an element.
    assert.equal(await row.locator('.tag').textContent(), `note=${HOSTILE}`);
    assert.equal(await page.locator('section.services img').count(), 0);
    const button = row.getByRole('button', { name: 'Deregister' });
    await button.click();
    await row.getByRole('button', { name: 'Confirm deregister' }).click();
    await row.waitFor({ state: 'detached' });
    const service = (await admin.call('GET', '/services/reviews')).json;
    assert.deepEqual(service.instances.map((instance: { id: string }) => instance.id), [kept]);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-services.png'), fullPage: true });
  });

  test('a read-only token sees the page without edit controls', async () => {
    // A new tab: sessionStorage (the token) is per tab.
    const viewer = await browser.page();
    await viewer.goto(`${weft.adminUrl}/#chain`);
    await viewer.fill('#token', VIEWER_TOKEN);
    await viewer.click('#sign-in-form button[type="submit"]');
    await viewer.getByText('viewer · read-only').waitFor();
    await viewer.locator('li.entry[data-filter="tag"] pre.config').first().waitFor();
    assert.equal(await viewer.locator('section.chain textarea, section.chain select, [data-testid="apply"], [data-testid="undo"], [data-testid^="rollback-"]').count(), 0);
    await viewer.click('nav a[data-view="filters"]');
    await viewer.locator('.filter[data-filter="tag"]').waitFor();
    assert.equal(await viewer.locator('[data-testid="drop-zone"], section.filters button').count(), 0);
    await viewer.click('nav a[data-view="services"]');
    await viewer.locator('tr[data-instance]').first().waitFor();
    assert.equal(await viewer.locator('section.services button').count(), 0);
    await viewer.close();
  });

  test('without an admin token there is no sign-in', async () => {
    const open = await startWeft({ clusters: [{ name: 'web', endpoints: [upstream.address] }], access_log: 'off' });
    try {
      const tab = await browser.page();
      await tab.goto(`${open.adminUrl}/`);
      await tab.getByText('no admin token configured').waitFor();
      const { revision } = await new AdminClient(open.adminUrl).chain();
      await tab.getByTestId('revision').getByText(String(revision), { exact: true }).waitFor();
      assert.equal(await tab.locator('#sign-in').isVisible(), false);
      assert.equal(await tab.locator('#sign-out').isVisible(), false);
      await tab.close();
    } finally {
      await open.stop();
    }
  });

  test('no script error and no CSP violation in any of it', () => {
    // Refusals the tests asked for log a failed load (401 sign-in, 400 bad route, 412 conflict, 422 refused config); nothing else may.
    const unexpected = browser.errors.filter((error) => !/Failed to load resource: the server responded with a status of (400|401|412|422)/.test(error));
    assert.deepEqual(unexpected, []);
  });
});
