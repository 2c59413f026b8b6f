// A real browser for the web UI tests: Debian's chromium driven by
// playwright-core (no bundled browser download). Each test gets its own
// browser contexts (separate cookie jars and storage), so "anonymous",
// "owner" and "member" never share a session.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page, type Request } from 'playwright-core';
import type { User } from '../../src/types.js';
import { repoRoot } from './paths.js';
import type { TestServer } from './server.js';

export const CHROMIUM = process.env.CHANNELD_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const artifactsDir = path.join(repoRoot, 'test-artifacts/ui');

/** Builds dist/ui/index.html the way `npm run build` does (the server serves that file). */
export function buildUi(): void {
  execFileSync(process.execPath, [path.join(repoRoot, 'src/ui/build.mjs')], { cwd: repoRoot, stdio: 'pipe' });
}

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHANNELD_TEST_CHROMIUM)`);
  // playwright starts it with a fresh temporary --user-data-dir and --headless.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function newContext(browser: Browser, server: Pick<TestServer, 'url'>, opts: { phone?: boolean; clipboard?: boolean; dark?: boolean } = {}): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    colorScheme: opts.dark ? 'dark' : 'light',
    permissions: opts.clipboard ? ['clipboard-read', 'clipboard-write'] : [],
    baseURL: server.url,
    viewport: opts.phone ? PHONE : DESKTOP,
    deviceScaleFactor: 1,
    isMobile: opts.phone ?? false,
    hasTouch: opts.phone ?? false,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  // Generous: CI machines may be busy; a page that works never waits this long.
  ctx.setDefaultTimeout(30_000);
  return ctx;
}

/** A screenshot in test-artifacts/ui/<name>.png: the full page, or what is in view (for dialogs). */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: opts.fullPage ?? true });
}

/** A user who can sign in to the web UI. */
export async function userWithPassword(server: TestServer, login: string, password = `${login}-secret-pw`, isAdmin = false): Promise<{ user: User; password: string }> {
  const user = await server.core.users.create(login, isAdmin);
  await server.core.users.setPassword(user, password);
  return { user, password };
}

/** Signs in through the sign-in page, as a person would, and waits to land on `next`. */
export async function signIn(page: Page, login: string, password: string, next = '/'): Promise<void> {
  await page.goto(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname + u.search === next);
  await page.getByRole('button', { name: `Account menu for ${login}` }).waitFor();
}

export interface PageLoad {
  requests: Array<{ method: string; path: string; type: string }>;
}

/**
 * Loads `url` fresh and waits until the page has drawn its content (the
 * app's `channeld:content` mark) and the network is idle; returns every
 * request the page made. Fails on an uncaught script error or a blocked
 * script/style (Content-Security-Policy) while loading.
 */
export async function loadPage(page: Page, url: string): Promise<PageLoad> {
  const requests: PageLoad['requests'] = [];
  const problems: string[] = [];
  const onRequest = (r: Request) => requests.push({ method: r.method(), path: new URL(r.url()).pathname, type: r.resourceType() });
  const onError = (err: Error) => problems.push(`uncaught: ${err.message}`);
  const onConsole = (msg: ConsoleMessage) => {
    if (msg.type() === 'error' && /Content Security Policy|Uncaught/.test(msg.text())) problems.push(msg.text());
  };
  page.on('request', onRequest);
  page.on('pageerror', onError);
  page.on('console', onConsole);
  try {
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => performance.getEntriesByName('channeld:content').length > 0);
    await page.waitForLoadState('networkidle');
  } finally {
    page.off('request', onRequest);
    page.off('pageerror', onError);
    page.off('console', onConsole);
  }
  assert.deepEqual(problems, [], `${url}: ${problems.join('\n')}`);
  return { requests };
}

/** A fresh page load cost the document and one GraphQL request, nothing else (no waterfall). */
export function assertTwoRoundTrips(load: PageLoad, what: string): void {
  const summary = load.requests.map((r) => `${r.type} ${r.method} ${r.path}`);
  assert.equal(summary.length, 2, `${what}: ${JSON.stringify(summary)}`);
  assert.match(summary[0]!, /^document GET /, `${what}: ${JSON.stringify(summary)}`);
  assert.equal(summary[1], 'fetch POST /api/graphql', `${what}: ${JSON.stringify(summary)}`);
}

/** The visible text of every cell of the table with this caption, row by row. */
export async function tableRows(page: Page, caption: string): Promise<string[][]> {
  const table = page.locator('table').filter({ has: page.locator('caption', { hasText: caption }) });
  return table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => (c as unknown as { innerText: string }).innerText.replace(/\n+/g, '\n').trim())));
}
