// Browsing in a real browser (Debian's chromium): an anonymous visitor sees
// a public channel and its package page with the right versions and files,
// and nothing of a private channel; the private channel's owner adds a
// member from the channel page, and that member then sees it too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { assertTwoRoundTrips, buildUi, launchBrowser, loadPage, newContext, screenshot, signIn, tableRows, userWithPassword } from '../helpers/browser.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData, uploadAll } from '../helpers/graphql.js';
import { makePackages, type MadePackage, type PackageSpec } from '../helpers/make-packages.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let browser: Browser;
let made: MadePackage[];
let bob: { password: string };
let carol: { password: string };
const contexts: BrowserContext[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-ui-browse-'));

// uitool: three versions, not every one on every platform.
const UITOOL: Array<[string, string[]]> = [['1.0', ['linux-64', 'win-64']], ['1.1', ['linux-64', 'osx-arm64', 'win-64']], ['2.0', ['linux-64', 'osx-arm64']]];
const zlib = fixturePackages().filter((p) => p.name === 'zlib');

async function page(opts: { phone?: boolean; dark?: boolean } = {}): Promise<Page> {
  const ctx = await newContext(browser, server, opts);
  contexts.push(ctx);
  return ctx.newPage();
}

before(async () => {
  buildUi();
  server = await startServer();
  bob = await userWithPassword(server, 'bob');
  carol = await userWithPassword(server, 'carol');
  const bobUser = (await server.core.repos.users.byLogin('bob'))!;
  await server.core.channels.create('tools', server.admin.id, { isPublic: true, description: 'Team tools, built nightly' });
  await server.core.channels.create('secret', bobUser.id, { isPublic: false, description: 'Bob only' });
  await server.core.channels.create('scratch', bobUser.id, { isPublic: true });
  // Builds differ by platform, as real ones do (the file names must not collide in one folder).
  const build = (subdir: string) => `h${subdir.replace(/[^a-z0-9]/g, '')}_0`;
  const specs: PackageSpec[] = UITOOL.flatMap(([version, subdirs]) => subdirs.map((subdir) => ({ name: 'uitool', version, build: build(subdir), subdir, format: 'conda' as const })));
  specs.push({ name: 'hidden-thing', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda' });
  made = await makePackages(tmp, specs);
  await uploadAll(server, 'tools', [...made.filter((m) => m.spec.name === 'uitool'), ...zlib], server.adminKey);
  await uploadAll(server, 'secret', made.filter((m) => m.spec.name === 'hidden-thing'), server.adminKey);
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('anonymous visitor', () => {
  it('sees the public channels with package counts and sizes, not the private one', async () => {
    const p = await page();
    const load = await loadPage(p, '/');
    assertTwoRoundTrips(load, '/');
    const rows = await tableRows(p, 'Channels');
    const names = rows.map((r) => r[0]!.split('\n')[0]);
    assert.deepEqual(names, ['scratch', 'tools']);
    const tools = rows.find((r) => r[0]!.startsWith('tools'))!;
    assert.match(tools[0]!, /Team tools, built nightly/);
    assert.equal(tools[1], 'Public');
    assert.equal(tools[2], '2'); // uitool and zlib: packages are names, not files
    await p.getByRole('link', { name: 'Sign in' }).waitFor();
    await screenshot(p, 'home');
    const phone = await page({ phone: true });
    await loadPage(phone, '/');
    await screenshot(phone, 'home-phone');
  });

  it('finds packages with the search box, but never private ones', async () => {
    const p = await page();
    await loadPage(p, '/');
    await p.getByRole('searchbox', { name: 'Search packages and channels' }).fill('uitool');
    await p.keyboard.press('Enter');
    await p.waitForURL((u) => u.search === '?q=uitool');
    await p.getByRole('heading', { name: 'Packages matching “uitool”' }).waitFor();
    await p.getByRole('link', { name: 'uitool', exact: true }).waitFor();
    await screenshot(p, 'home-search');
    await loadPage(p, '/?q=hidden-thing');
    await p.getByText('No packages found.').waitFor();
  });

  it('sees the channel page: packages, search, paging', async () => {
    const p = await page();
    const load = await loadPage(p, '/channels/tools');
    assertTwoRoundTrips(load, '/channels/tools');
    await p.getByRole('heading', { level: 1, name: 'tools' }).waitFor();
    const rows = await tableRows(p, 'Packages in tools');
    assert.deepEqual(rows.map((r) => r[0]!.split('\n')[0]), ['uitool', 'zlib']);
    assert.equal(rows[0]![1], '2.0');
    assert.equal(rows[0]![2], 'linux-64, osx-arm64, win-64');
    // Only owners see the members and settings tabs.
    assert.equal(await p.getByRole('navigation', { name: 'Channel sections' }).count(), 0);
    await screenshot(p, 'channel');
    await p.getByRole('searchbox', { name: 'Search packages in tools' }).fill('zli');
    await p.getByRole('button', { name: 'Search' }).click();
    await p.waitForURL((u) => u.search === '?q=zli');
    await p.getByText('1 package matching “zli”').waitFor();
    assert.deepEqual((await tableRows(p, 'Packages in tools')).map((r) => r[0]!.split('\n')[0]), ['zlib']);
    const phone = await page({ phone: true });
    await loadPage(phone, '/channels/tools');
    await screenshot(phone, 'channel-phone');
  });

  it('sees the package page with every version, platform and file', async () => {
    const p = await page();
    const load = await loadPage(p, '/channels/tools/packages/uitool');
    assertTwoRoundTrips(load, 'package page');
    await p.getByRole('heading', { level: 1, name: 'uitool' }).waitFor();

    // Versions × platforms, newest first.
    const matrix = await p.locator('table.matrix').evaluate((t) => ({
      head: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
      rows: [...t.querySelectorAll('tbody tr')].map((tr) => [tr.querySelector('th')!.textContent, ...[...tr.querySelectorAll('td')].map((td) => td.classList.contains('yes'))]),
    }));
    assert.deepEqual(matrix.head, ['Version', 'linux-64', 'osx-arm64', 'win-64']);
    assert.deepEqual(matrix.rows, [['2.0', true, true, false], ['1.1', true, true, true], ['1.0', true, false, true]]);

    // Every file, with its size and sha256, upload time and state.
    const files = await p.locator('table.files tbody tr').evaluateAll((rows) => rows.map((r) => ({
      filename: r.querySelector('td[data-label=File]')!.textContent,
      href: r.querySelector('td[data-label=File] a')!.getAttribute('href'),
      platform: r.querySelector('td[data-label=Platform]')!.textContent,
      size: r.querySelector('td[data-label=Size]')!.textContent,
      sha256: r.querySelector('td[data-label=SHA256] code')!.getAttribute('title'),
      uploaded: r.querySelector('td[data-label=Uploaded] time')!.getAttribute('datetime'),
      state: r.querySelector('td[data-label=State]')!.textContent,
    })));
    const expected = made.filter((m) => m.spec.name === 'uitool');
    assert.equal(files.length, expected.length);
    for (const m of expected) {
      const f = files.find((x) => x.filename === m.filename);
      assert.ok(f, `${m.filename} is listed`);
      assert.equal(f.sha256, m.sha256);
      assert.equal(f.platform, m.subdir);
      assert.equal(f.href, `/tools/${m.subdir}/${m.filename}`);
      assert.equal(f.state, 'Available');
      assert.ok(Math.abs(Date.parse(f.uploaded!) - Date.now()) < 10 * 60_000, `${f.uploaded} is the upload time`);
      assert.match(f.size!, /^\d+(\.\d)? (B|kB)$/);
    }
    // The download link works for an anonymous visitor of a public channel.
    const first = expected[0]!;
    const dl = await p.request.get(`/tools/${first.subdir}/${first.filename}`);
    assert.equal(dl.status(), 200);
    assert.equal((await dl.body()).length, first.sizeBytes);

    // Install lines point at this server, each with a copy button.
    for (const line of [`pixi add --channel ${server.url}/tools uitool`, `conda install -c ${server.url}/tools uitool`, `mamba install -c ${server.url}/tools uitool`]) {
      await p.getByText(line, { exact: true }).waitFor();
      assert.equal(await p.locator(`button[data-copy="${line}"]`).count(), 1, line);
    }
    await screenshot(p, 'package');
    const phone = await page({ phone: true });
    await loadPage(phone, '/channels/tools/packages/uitool');
    await screenshot(phone, 'package-phone');
    const dark = await page({ dark: true });
    await loadPage(dark, '/channels/tools/packages/uitool');
    await screenshot(dark, 'package-dark');
  });

  it('sees a real package (zlib) with its license, links and yanked state', async () => {
    await gqlData(server, `mutation { batchYankPackageVariants(channelName: "tools", entries: [{subdir: "win-64", filename: "${zlib.find((z) => z.folder === 'win-64' && z.filename.endsWith('.conda'))!.filename}"}], reason: "broken on win") }`, undefined, server.adminKey);
    const p = await page();
    await loadPage(p, '/channels/tools/packages/zlib');
    const files = await tableRows(p, 'Files of zlib');
    assert.equal(files.length, zlib.length);
    const yanked = files.filter((r) => r[6]!.startsWith('Yanked'));
    assert.equal(yanked.length, 1);
    assert.match(yanked[0]![6]!, /broken on win/);
    await screenshot(p, 'package-zlib');
  });

  it('does not see the private channel or its packages', async () => {
    const p = await page();
    await loadPage(p, '/channels/secret');
    await p.getByRole('heading', { level: 1, name: 'Channel not found' }).waitFor();
    assert.equal(await p.getByText('Bob only').count(), 0);
    await screenshot(p, 'not-found');
    await loadPage(p, '/channels/secret/packages/hidden-thing');
    await p.getByRole('heading', { level: 1, name: 'Channel not found' }).waitFor();
    await loadPage(p, '/channels/tools/packages/no-such-package');
    await p.getByRole('heading', { level: 1, name: 'Package not found' }).waitFor();
    await loadPage(p, '/settings/nothing-here');
    await p.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor();
  });
});

describe('channel owner', () => {
  it('adds a member from the channel page, who then sees the private channel', async () => {
    const p = await page();
    await signIn(p, 'bob', bob.password);
    await p.getByRole('link', { name: 'secret' }).click();
    await p.getByRole('heading', { level: 1, name: 'secret' }).waitFor();
    await p.getByRole('navigation', { name: 'Channel sections' }).getByRole('link', { name: 'Members' }).click();
    await p.waitForURL('**/channels/secret/members');
    await p.getByLabel('Username').fill('carol');
    await p.getByLabel('Role', { exact: true }).selectOption('CONTRIBUTOR');
    await p.getByRole('button', { name: 'Add member' }).click();
    await p.getByRole('cell', { name: 'carol', exact: true }).waitFor();
    const rows = await tableRows(p, 'Members of secret');
    assert.deepEqual(rows.map((r) => r[0]), ['bob', 'carol']);
    assert.equal(await p.getByLabel('Role of carol').inputValue(), 'CONTRIBUTOR');
    await screenshot(p, 'channel-members');

    const data = await gqlData(server, '{ channel(name: "secret") { channelMembers { username role } } }', undefined, server.adminKey);
    assert.deepEqual(data.channel.channelMembers, [{ username: 'bob', role: 'OWNER' }, { username: 'carol', role: 'CONTRIBUTOR' }]);

    // The same policy everywhere: carol now sees the channel, but may not manage it.
    const c = await page();
    await signIn(c, 'carol', carol.password);
    assert.ok((await tableRows(c, 'Channels')).some((r) => r[0]!.startsWith('secret')));
    await loadPage(c, '/channels/secret/packages/hidden-thing');
    await c.getByRole('heading', { level: 1, name: 'hidden-thing' }).waitFor();
    await loadPage(c, '/channels/secret/settings');
    await c.getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
    await screenshot(c, 'forbidden');

    // Changing a role, then removing the member (with confirmation).
    await p.getByLabel('Role of carol').selectOption('VIEWER');
    await p.getByRole('button', { name: 'Change role' }).click();
    await p.getByText('carol is now viewer').waitFor();
    await p.getByRole('button', { name: 'Remove carol' }).click();
    await p.getByRole('dialog', { name: 'Remove carol?' }).getByRole('button', { name: 'Remove member' }).click();
    await p.getByRole('cell', { name: 'carol', exact: true }).waitFor({ state: 'detached' });
    const after = await gqlData(server, '{ channel(name: "secret") { channelMembers { username } } }', undefined, server.adminKey);
    assert.deepEqual(after.channel.channelMembers, [{ username: 'bob' }]);
  });

  it('changes settings and deletes a channel after typing its name', async () => {
    const p = await page();
    await signIn(p, 'bob', bob.password, '/channels/scratch/settings');
    await p.getByLabel('Private').check();
    await p.getByLabel('Description').fill('Throwaway builds');
    await p.getByRole('button', { name: 'Save settings' }).click();
    await p.getByText('Throwaway builds', { exact: true }).first().waitFor();
    const data = await gqlData(server, '{ channel(name: "scratch") { isPublic description } }', undefined, server.adminKey);
    assert.deepEqual(data.channel, { isPublic: false, description: 'Throwaway builds' });
    await screenshot(p, 'channel-settings');

    await p.getByRole('button', { name: 'Delete channel…' }).click();
    const dialog = p.getByRole('dialog', { name: 'Delete scratch?' });
    const confirm = dialog.getByRole('button', { name: 'Delete channel' });
    assert.equal(await confirm.isDisabled(), true);
    await dialog.getByLabel('Type scratch to confirm').fill('scratch');
    await screenshot(p, 'channel-delete-dialog', { fullPage: false });
    await confirm.click();
    await p.waitForURL((u) => u.pathname === '/');
    await p.getByRole('heading', { level: 1, name: 'Channels' }).waitFor();
    const gone = await gqlData(server, '{ channel(name: "scratch") { name } }', undefined, server.adminKey);
    assert.equal(gone.channel, null);
  });
});
