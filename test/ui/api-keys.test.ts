// API keys in a real browser (Debian's chromium): sign in → user menu →
// Settings → API keys → create; the key is shown once, copies, and works for
// an upload over REST; after a reload it is not shown again; revoked, it gets
// 401; deleted, it is gone. Then sign out. And the sign-in page itself:
// wrong passwords are refused, and repeated failures are rate-limited.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { assertTwoRoundTrips, buildUi, launchBrowser, loadPage, newContext, screenshot, tableRows, userWithPassword } from '../helpers/browser.js';
import { uploadMultipart } from '../helpers/graphql.js';
import { makePackages, type MadePackage } from '../helpers/make-packages.js';
import { startServer, type TestServer } from '../helpers/server.js';

let browser: Browser;
const contexts: BrowserContext[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-ui-keys-'));

async function page(server: TestServer, opts: { clipboard?: boolean; phone?: boolean } = {}): Promise<Page> {
  const ctx = await newContext(browser, server, opts);
  contexts.push(ctx);
  return ctx.newPage();
}

before(async () => {
  buildUi();
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('API keys page', () => {
  let server: TestServer;
  let alice: { password: string };
  let pkgs: MadePackage[];

  before(async () => {
    server = await startServer();
    alice = await userWithPassword(server, 'alice');
    const user = (await server.core.repos.users.byLogin('alice'))!;
    await server.core.channels.create('alice-ch', user.id, { isPublic: true });
    await server.core.channels.create('elsewhere', user.id, { isPublic: true });
    pkgs = await makePackages(tmp, [
      { name: 'keyed', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda' },
      { name: 'keyed', version: '1.1', build: 'h0_0', subdir: 'noarch', format: 'conda' },
    ]);
  });
  after(() => server?.close());

  it('creates a key shown exactly once, which uploads until it is revoked', async () => {
    const p = await page(server, { clipboard: true });
    await loadPage(p, '/');
    await p.getByRole('link', { name: 'Sign in' }).click();
    await p.getByLabel('Username').fill('alice');
    await p.getByLabel('Password').fill(alice.password);
    await p.keyboard.press('Enter');
    await p.getByRole('heading', { level: 1, name: 'Channels' }).waitFor();

    // User icon → Settings → API keys, by keyboard.
    const menuButton = p.getByRole('button', { name: 'Account menu for alice' });
    await menuButton.focus();
    await p.keyboard.press('Enter');
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'true');
    await screenshot(p, 'user-menu', { fullPage: false });
    const keysLink = p.getByRole('list', { name: 'Settings' }).getByRole('link', { name: 'API keys' });
    assert.equal(await keysLink.evaluate((el) => el.matches(':focus')), true, 'focus moves into the menu');
    await p.keyboard.press('Enter');
    await p.waitForURL('**/settings/api-keys');
    await p.getByText('You have no API keys yet.').waitFor();

    await p.getByLabel('Name').fill('ci-upload');
    await p.getByLabel('Description').fill('GitHub Actions');
    await p.getByLabel('Expires in').selectOption({ label: '90 days' });
    await p.getByLabel('Access').selectOption('READ_WRITE');
    await p.getByLabel('Channel').selectOption('alice-ch');
    await p.getByRole('button', { name: 'Create key' }).click();

    const shown = p.getByRole('region', { name: 'Your new key “ci-upload”' });
    await shown.waitFor();
    await shown.getByText('it will not be shown again').waitFor();
    const key = await shown.getByRole('textbox', { name: 'API key' }).inputValue();
    assert.match(key, /^pfx_[0-9A-Za-z]{52}$/);
    await shown.getByRole('button', { name: 'Copy API key' }).click();
    assert.equal(await p.evaluate('navigator.clipboard.readText()'), key);
    await shown.getByText('Copied').waitFor();
    await screenshot(p, 'api-keys-created');

    const [row] = await tableRows(p, 'Your API keys');
    assert.match(row![0]!, /^ci-upload\nGitHub Actions$/);
    assert.equal(row![1], 'Read and upload\nOnly alice-ch');
    const expires = await p.locator('table.keys td[data-label=Expires] time').getAttribute('datetime');
    assert.ok(Math.abs(Date.parse(expires!) - (Date.now() + 90 * 86_400_000)) < 3_600_000, `expires ${expires}`);
    assert.equal(row![4], 'Never');
    assert.equal(row![5], 'Active');

    // The key works over REST, within its scope.
    const up = await uploadMultipart(server, 'alice-ch', pkgs[0]!.file, pkgs[0]!.filename, key);
    assert.equal(up.status, 200, await up.text());
    const outOfScope = await uploadMultipart(server, 'elsewhere', pkgs[0]!.file, pkgs[0]!.filename, key);
    assert.equal(outOfScope.status, 403);

    // Reloaded, the page lists the key but never shows it again.
    assertTwoRoundTrips(await loadPage(p, '/settings/api-keys'), '/settings/api-keys');
    assert.equal(await p.getByRole('region', { name: /Your new key/ }).count(), 0);
    assert.equal((await p.content()).includes(key), false);
    assert.equal(String(await p.evaluate('JSON.stringify(localStorage) + JSON.stringify(sessionStorage)')).includes(key), false);
    const [again] = await tableRows(p, 'Your API keys');
    assert.notEqual(again![4], 'Never', 'the upload counts as a use');
    await screenshot(p, 'api-keys');

    // Revoke (confirmed in a dialog): the key gets 401 at once.
    await p.getByRole('button', { name: 'Revoke ci-upload' }).click();
    const dialog = p.getByRole('dialog', { name: 'Revoke “ci-upload”?' });
    await screenshot(p, 'api-keys-revoke-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await p.locator('table.keys td[data-label=Status]', { hasText: 'Revoked' }).waitFor();
    assert.equal(await p.getByRole('button', { name: 'Revoke ci-upload' }).count(), 0);
    const revoked = await uploadMultipart(server, 'alice-ch', pkgs[1]!.file, pkgs[1]!.filename, key);
    assert.equal(revoked.status, 401);

    // Delete, cancelled once (Escape), then confirmed.
    await p.getByRole('button', { name: 'Delete ci-upload' }).click();
    await p.keyboard.press('Escape');
    await p.getByRole('dialog').waitFor({ state: 'detached' });
    assert.equal((await tableRows(p, 'Your API keys')).length, 1);
    await p.getByRole('button', { name: 'Delete ci-upload' }).click();
    await p.getByRole('dialog', { name: 'Delete “ci-upload”?' }).getByRole('button', { name: 'Delete key' }).click();
    await p.getByText('You have no API keys yet.').waitFor();
    assert.deepEqual((await server.core.users.listKeys((await server.core.repos.users.byLogin('alice'))!)).map((k) => k.name), []);

    // Sign out from the user menu: the session is gone on the server too.
    await p.getByRole('button', { name: 'Account menu for alice' }).click();
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.getByRole('link', { name: 'Sign in' }).waitFor();
    assert.equal(new URL(p.url()).pathname, '/');
    assert.equal((await p.request.get('/api/session')).status(), 401);
    await p.goto('/settings/api-keys');
    await p.waitForURL((u) => u.pathname === '/login' && u.searchParams.get('next') === '/settings/api-keys');
  });

  it('reads well on a phone', async () => {
    const p = await page(server, { phone: true });
    await p.goto('/login?next=%2Fsettings%2Fapi-keys');
    await p.getByLabel('Username').fill('alice');
    await p.getByLabel('Password').fill(alice.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL('**/settings/api-keys');
    await p.getByLabel('Name').fill('laptop');
    await p.getByRole('button', { name: 'Create key' }).click();
    await p.getByRole('region', { name: 'Your new key “laptop”' }).waitFor();
    // (Page code as strings: the tests are type-checked without the DOM library.)
    const overflow = await p.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    assert.equal(overflow, 0, 'no sideways scrolling');
    await screenshot(p, 'api-keys-phone');
  });

  it('keeps a name typed the moment the page moves on from signing in, however slow its data', async () => {
    const p = await page(server);
    // Hold the page's one query back, as a busy PostgreSQL can. Until its answer the sign-in
    // form is still in view under the new address; the label 'Name' also matches its
    // 'Username', so a name typed now goes to whichever page takes input.
    let queries = 0;
    await p.route('**/api/graphql', async (route) => {
      if (/query ApiKeys\b/.test(route.request().postData() ?? '')) {
        queries++;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      await route.continue();
    });
    await p.goto('/login?next=%2Fsettings%2Fapi-keys');
    await p.getByLabel('Username').fill('alice');
    await p.getByLabel('Password').fill(alice.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL('**/settings/api-keys');
    await p.getByLabel('Name').fill('slow-data');
    assert.equal(await p.getByLabel('Name', { exact: true }).inputValue(), 'slow-data', 'the name is still there');
    assert.equal(queries, 1, 'the page asked for its data once');
    await p.getByRole('button', { name: 'Create key' }).click();
    await p.getByRole('region', { name: 'Your new key “slow-data”' }).waitFor();
    assert.equal(queries, 2, 'and once more to list the new key');
  });
});

describe('sign-in page', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({ env: { CHANNELD_AUTH_FAILURES_PER_MINUTE: '3' } });
    await userWithPassword(server, 'dave', 'correct horse battery');
  });
  after(() => server?.close());

  it('refuses a wrong password, rate-limits repeated failures, still lets the right one in', async () => {
    const p = await page(server);
    const load = await loadPage(p, '/login');
    // The sign-in page asks /api/session (is a session already there?) instead of GraphQL.
    assert.deepEqual(load.requests.map((r) => `${r.method} ${r.path}`), ['GET /login', 'GET /api/session']);
    await screenshot(p, 'login');
    const attempt = async (password: string) => {
      await p.getByLabel('Username').fill('dave');
      await p.getByLabel('Password').fill(password);
      await p.getByRole('button', { name: 'Sign in' }).click();
      return p.getByRole('alert').filter({ hasText: /\S/ }).first().innerText();
    };
    assert.equal(await attempt('wrong one'), 'Wrong username or password.');
    assert.equal(await p.getByLabel('Password').evaluate((el) => el.matches(':focus')), true);
    await screenshot(p, 'login-error');
    let message = '';
    for (let i = 0; i < 5 && !message.startsWith('Too many'); i++) {
      await p.getByRole('alert').evaluate((el) => (el.textContent = ''));
      message = await attempt(`wrong ${i}`);
    }
    assert.match(message, /^Too many sign-in attempts\. Try again in \d+ s\.$/);
    // The right password is never locked out: dave signs in from the same browser.
    await p.getByLabel('Username').fill('dave');
    await p.getByLabel('Password').fill('correct horse battery');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('button', { name: 'Account menu for dave' }).waitFor();
  });
});
