// A real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core, which never
// downloads a browser of its own), with a fresh profile per launch and every console error
// and page error kept for assertions.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** No network of its own (updates, sync, QUIC probes): the page talks to the admin port only. */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export class Browser {
  /** `console.error` lines and uncaught page errors, in order. */
  readonly errors: string[] = [];

  private constructor(
    private readonly context: BrowserContext,
    private readonly profile: string,
  ) {}

  static async launch(): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'weft-chromium-'));
    // A persistent context is how a profile folder of our own is given (launch() makes its own).
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 } });
    return new Browser(context, profile);
  }

  async page(): Promise<Page> {
    const page = await this.context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => this.errors.push(`page error: ${error.message}`));
    return page;
  }

  async close(): Promise<void> {
    await this.context.close();
    rmSync(this.profile, { recursive: true, force: true });
  }
}
